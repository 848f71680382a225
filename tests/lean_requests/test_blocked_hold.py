"""create-intent's blocked-date check is the hold's own transaction (issue 15): one ConditionCheck on the day item
the block writes per date (dal/blocks.py), no Query of the blocks before the hold. Refused as before (422,
reason blocked_date); a block written while a hold is being made either refuses it or finds it among the date's
bookings; two overlapping blocks keep their shared dates blocked until both are gone; blocks written before day
items existed get theirs from the cleanup job."""

from __future__ import annotations

from datetime import date, timedelta

from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    FACIAL,
    iso,
    items_with_prefix,
    local,
    payment_intent_creates,
)
from tests.integration.test_blocked_dates import block
from tests.support import ATTENDEE, ApiClient, ApiResponse, booking, owner_headers, run_job

Requests = list[tuple[str, str]]


def hold(api: ApiClient, day: date, hour: int = 10) -> ApiResponse:
    body = {"service_id": FACIAL, "start": iso(local(day, hour)), "attendee": ATTENDEE, "payment_type": "deposit"}
    return api.post("/payments/create-intent", body)


def refused_as_blocked(response: ApiResponse) -> bool:
    return response.status == 422 and response.body["error"]["reason"] == "blocked_date"


def day_items() -> dict[str, set[str]]:
    """The day items: date -> the blocks covering it (empty once none does)."""
    return {
        item["pk"]["S"].removeprefix("BLOCKED#"): set(item.get("blocked_by", {}).get("SS", []))
        for item in items_with_prefix("BLOCKED#")
    }


def unblock(api: ApiClient, block_id: str) -> None:
    removed = api.request("DELETE", f"/admin/blocked-dates/{block_id}", headers=owner_headers())
    assert removed.status == 200, removed.body


def test_create_intent_is_the_hold_and_the_payment_intent_update_no_query_of_the_blocks(
    api: ApiClient, tuesday: date, dynamodb_requests: Requests
) -> None:
    dynamodb_requests.clear()
    made = hold(api, tuesday)
    assert made.status == 201, made.body
    assert [operation for operation, _ in dynamodb_requests] == ["TransactWriteItems", "UpdateItem"]


def test_a_hold_on_a_blocked_date_is_refused_by_its_transaction_and_nothing_is_written(
    api: ApiClient, stripe_double: StripeDouble, tuesday: date, dynamodb_requests: Requests
) -> None:
    # Given the owner blocked Tuesday: its day item names the block
    blocked = block(api, {"date": tuesday.isoformat()})
    assert blocked.status == 201, blocked.body
    assert day_items() == {tuesday.isoformat(): {blocked.body["block"]["block_id"]}}
    intents_before = len(payment_intent_creates(stripe_double))
    # When a client asks to hold Tuesday 10:00
    dynamodb_requests.clear()
    refused = hold(api, tuesday)
    # Then it is refused as before, in the one transaction (no Query of the blocks), with nothing held or opened
    assert refused_as_blocked(refused), refused.body
    assert refused.body["error"]["code"] == "slot_not_offered"
    assert [operation for operation, _ in dynamodb_requests] == ["TransactWriteItems"]
    assert items_with_prefix("BOOKING#") == [] and items_with_prefix("SLOT#") == []
    assert len(payment_intent_creates(stripe_double)) == intents_before
    # And Wednesday is still bookable
    assert hold(api, tuesday + timedelta(days=1)).status == 201


def test_a_block_written_while_a_hold_is_on_its_way_refuses_it_before_its_run_ends(
    api: ApiClient, tuesday: date
) -> None:
    # Given a block whose item and day items are written, its run over the date's bookings not started yet
    from booking.clock import now
    from booking.dal import blocks

    written = blocks.Block(
        block_id="blk_in_flight",
        from_date=tuesday,
        to_date=tuesday,
        reason="",
        notify=False,
        created_at=now(),
        created_by="owner@example.com",
    )
    assert blocks.put(written)
    # When a hold of that date reaches its transaction
    refused = hold(api, tuesday, 14)
    # Then it is refused: the run will not have to find it
    assert refused_as_blocked(refused), refused.body


def test_a_date_blocked_after_the_hold_cancels_the_hold_as_before(api: ApiClient, tuesday: date) -> None:
    made = hold(api, tuesday)
    assert made.status == 201, made.body
    blocked = block(api, {"date": tuesday.isoformat(), "notify": False})
    assert blocked.status == 201 and blocked.body["cancelled"] == 1, blocked.body
    assert booking(made.body["booking_id"]).status.value == "CANCELLED"
    assert refused_as_blocked(hold(api, tuesday, 14))


def test_overlapping_blocks_keep_their_shared_date_blocked_until_both_are_deleted(
    api: ApiClient, tuesday: date
) -> None:
    wednesday, thursday = tuesday + timedelta(days=1), tuesday + timedelta(days=2)
    # Given one block from Tuesday to Thursday and another of Wednesday alone
    long = block(api, {"from": tuesday.isoformat(), "to": thursday.isoformat()})
    short = block(api, {"date": wednesday.isoformat()})
    assert long.status == 201 and short.status == 201
    long_id, short_id = long.body["block"]["block_id"], short.body["block"]["block_id"]
    assert day_items() == {
        tuesday.isoformat(): {long_id},
        wednesday.isoformat(): {long_id, short_id},
        thursday.isoformat(): {long_id},
    }
    # When the long one is deleted
    unblock(api, long_id)
    # Then Tuesday and Thursday take holds again, Wednesday (the short block's) does not
    assert day_items() == {tuesday.isoformat(): set(), wednesday.isoformat(): {short_id}, thursday.isoformat(): set()}
    assert hold(api, tuesday).status == 201
    assert hold(api, thursday).status == 201
    assert refused_as_blocked(hold(api, wednesday))
    # And once the short one is deleted too, Wednesday does
    unblock(api, short_id)
    assert hold(api, wednesday).status == 201


def test_a_block_written_before_day_items_gets_them_from_the_cleanup_job_once(
    api: ApiClient, lam: LocalLambda, tuesday: date, dynamodb_requests: Requests
) -> None:
    # Given a block as the product wrote it before this change: its item only
    from booking.clock import now
    from booking.dal.items import BlockItem

    BlockItem(
        "BLOCKED",
        f"BLOCK#{tuesday.isoformat()}#blk_legacy",
        block_id="blk_legacy",
        from_date=tuesday.isoformat(),
        to_date=(tuesday + timedelta(days=1)).isoformat(),
        created_at=now(),
        created_by="owner@example.com",
    ).save()
    assert day_items() == {}
    # When the cleanup job runs
    run_job(lam, "ExpireHoldsFunction")
    # Then its dates have their day items and holds on them are refused
    assert day_items() == {
        tuesday.isoformat(): {"blk_legacy"},
        (tuesday + timedelta(days=1)).isoformat(): {"blk_legacy"},
    }
    assert refused_as_blocked(hold(api, tuesday))
    # And the next run finds nothing to do: no transaction writes day items again
    dynamodb_requests.clear()
    run_job(lam, "ExpireHoldsFunction")
    assert ("TransactWriteItems", "table") not in dynamodb_requests
    assert ("Query", "table") in dynamodb_requests  # the blocks' partition, read once a run


def test_a_block_longer_than_one_transaction_holds_is_refused_naming_the_field(api: ApiClient, tuesday: date) -> None:
    response = block(api, {"from": tuesday.isoformat(), "to": (tuesday + timedelta(days=90)).isoformat()})
    assert response.status == 422 and "to" in response.error_fields, response.body
    assert day_items() == {} and items_with_prefix("BLOCKED") == []
