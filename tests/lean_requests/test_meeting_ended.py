"""MEETING_ENDED in one DynamoDB request (issue 15): a conditional update (status CONFIRMED) straight from the
booking id in the event's metadata, writing what store.transition writes and returning the booking; a failed
condition's copy of the booking says why nothing changed. Events without our metadata keep the uid lookup."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from local.cal_double import CalDouble
from tests.integration.helpers import product_now
from tests.support import ApiClient, ApiResponse, booking, deliver_cal

Requests = list[tuple[str, str]]


def ended(api: ApiClient, cal_double: CalDouble, uid: str, minutes_ago: int = 0, **extra: Any) -> ApiResponse:
    """A MEETING_ENDED delivery (a different createdAt: another delivery, not the inbox's duplicate)."""
    created_at = product_now() - timedelta(minutes=minutes_ago)
    response = deliver_cal(api, cal_double, "MEETING_ENDED", uid, created_at=created_at, extra=extra or None)
    assert response.status == 200, response.body
    return response


def completions(booking_id: str) -> list[Any]:
    return [entry for entry in booking(booking_id).history if entry.target == "COMPLETED"]


def test_a_confirmed_booking_is_completed_in_one_request_with_its_history_entry(
    api: ApiClient, cal_double: CalDouble, dynamodb_requests: Requests
) -> None:
    confirmed = api.confirmed_booking()
    before = booking(confirmed["booking_id"])
    dynamodb_requests.clear()
    response = ended(api, cal_double, confirmed["cal_booking_uid"])
    assert response.body["outcome"] == "completed"
    assert dynamodb_requests == [("UpdateItem", f"BOOKING#{confirmed['booking_id']}")]
    after = booking(confirmed["booking_id"])
    assert after.status.value == "COMPLETED"
    assert after.history[:-1] == before.history
    (entry,) = completions(confirmed["booking_id"])
    assert (entry.actor, entry.source, entry.reason) == ("cal.com", "CONFIRMED", "meeting ended")
    assert after.updated_at == entry.at and after.updated_at > before.updated_at
    from booking.dal.items import BookingItem

    item = BookingItem.get(f"BOOKING#{confirmed['booking_id']}", "BOOKING", consistent_read=True)
    assert item.due_at == entry.at  # what transition sets for COMPLETED


def test_a_copy_changes_nothing_and_says_what_the_booking_is(
    api: ApiClient, cal_double: CalDouble, dynamodb_requests: Requests
) -> None:
    confirmed = api.confirmed_booking()
    assert ended(api, cal_double, confirmed["cal_booking_uid"], minutes_ago=1).body["outcome"] == "completed"
    dynamodb_requests.clear()
    again = ended(api, cal_double, confirmed["cal_booking_uid"])
    assert again.body["outcome"] == "ignored: booking is COMPLETED"
    assert [operation for operation, _ in dynamodb_requests] == ["UpdateItem"]  # refused, nothing written
    assert len(completions(confirmed["booking_id"])) == 1


def test_copies_at_once_complete_the_booking_once(api: ApiClient, cal_double: CalDouble) -> None:
    confirmed = api.confirmed_booking()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(lambda n: ended(api, cal_double, confirmed["cal_booking_uid"], minutes_ago=n).body, range(4))
        )
    assert sorted(outcome["outcome"] for outcome in outcomes) == ["completed"] + ["ignored: booking is COMPLETED"] * 3
    assert len(completions(confirmed["booking_id"])) == 1


def test_a_booking_not_confirmed_is_left_as_it_is(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a hold (its payment not recorded yet, not in Cal.com) and an event naming it from a Cal.com booking
    held = api.create_intent()
    assert held.status == 201, held.body
    outside = cal_double.take_slot(3815418, api.first_slot())
    response = ended(api, cal_double, outside["uid"], metadata={"booking_id": held.body["booking_id"]})
    assert response.body["outcome"] == "ignored: booking is HELD"
    assert booking(held.body["booking_id"]).status.value == "HELD"
    assert completions(held.body["booking_id"]) == []


def test_an_unknown_booking_id_or_no_metadata(api: ApiClient, cal_double: CalDouble) -> None:
    confirmed = api.confirmed_booking()
    # An id we never made (and a uid we do not know): not ours
    outside = cal_double.take_slot(3815418, api.first_slot())
    unknown = ended(api, cal_double, outside["uid"], metadata={"booking_id": "bk_000000000000000000000000"})
    assert unknown.body["outcome"] == "ignored: not made through our flow"
    # Our booking's event without metadata: found by its uid, completed as before
    plain = ended(api, cal_double, confirmed["cal_booking_uid"], metadata={})
    assert plain.body["outcome"] == "completed"
    assert len(completions(confirmed["booking_id"])) == 1
