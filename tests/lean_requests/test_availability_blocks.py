"""GET /availability in one request on a cache hit (issue 15): the cached weeks carry the business dates blocked
in them (read by their fill after its Cal.com call started), and blocking or unblocking dates marks every cached
week they touch stale for every service, so a date blocked is not offered at the next request."""

from __future__ import annotations

import os
from datetime import date, timedelta

import boto3

from local.cal_double import CalDouble
from tests.availability_cache.test_availability_cache import slots_calls
from tests.integration.helpers import CONSULT, FACIAL, FACIAL_EVENT_TYPE, items_with_prefix
from tests.integration.test_blocked_dates import block
from tests.support import ApiClient, owner_headers

Requests = list[tuple[str, str]]


def offered_days(api: ApiClient, first: date, service_id: str = FACIAL) -> set[str]:
    response = api.get("/availability", service_id=service_id, start=first.isoformat(), days=4)
    assert response.status == 200, response.body
    return {day["date"] for day in response.body["days"] if day["slots"]}


def test_a_hit_is_one_query_and_a_date_blocked_is_not_offered_at_the_next_request(
    api: ApiClient, cal_double: CalDouble, tuesday: date, dynamodb_requests: Requests
) -> None:
    wednesday = tuesday + timedelta(days=1)
    # Given the weeks cached for both services, Wednesday offered
    assert wednesday.isoformat() in offered_days(api, tuesday)
    assert wednesday.isoformat() in offered_days(api, tuesday, CONSULT)
    dynamodb_requests.clear()
    assert wednesday.isoformat() in offered_days(api, tuesday)
    assert dynamodb_requests == [("Query", "SlotIndex")]  # a hit: seats, weeks and their blocked dates
    calls = len(slots_calls(cal_double))

    # When the owner blocks Wednesday
    blocked = block(api, {"date": wednesday.isoformat(), "notify": False})
    assert blocked.status == 201, blocked.body

    # Then the next request of either service leaves it out (their weeks were refreshed)...
    assert wednesday.isoformat() not in offered_days(api, tuesday)
    assert wednesday.isoformat() not in offered_days(api, tuesday, CONSULT)
    assert len(slots_calls(cal_double)) > calls
    # ... and the refreshed copy keeps it out in one request
    dynamodb_requests.clear()
    assert offered_days(api, tuesday) == {
        tuesday.isoformat(),
        (tuesday + timedelta(days=2)).isoformat(),
        (tuesday + timedelta(days=3)).isoformat(),
    }
    assert dynamodb_requests == [("Query", "SlotIndex")]
    weeks = items_with_prefix(f"AVAIL#{FACIAL_EVENT_TYPE}#")
    assert any(wednesday.isoformat() in item.get("blocked", {}).get("S", "") for item in weeks)

    # When the block is deleted, the next request offers Wednesday again
    block_id = blocked.body["block"]["block_id"]
    assert api.request("DELETE", f"/admin/blocked-dates/{block_id}", headers=owner_headers()).status == 200
    assert wednesday.isoformat() in offered_days(api, tuesday)
    assert wednesday.isoformat() in offered_days(api, tuesday, CONSULT)


def test_a_copy_kept_without_its_blocked_dates_queries_the_blocks(
    api: ApiClient, tuesday: date, dynamodb_requests: Requests
) -> None:
    wednesday = tuesday + timedelta(days=1)
    assert wednesday.isoformat() in offered_days(api, tuesday)
    # Given the block's item written as it is, and the cached weeks as a fill before this change left them
    # (no blocked dates) and not marked stale: a block written without the flow's marks
    from booking.clock import now
    from booking.dal import blocks

    assert blocks.put(
        blocks.Block(
            block_id="blk_unmarked",
            from_date=wednesday,
            to_date=wednesday,
            reason="",
            notify=False,
            created_at=now(),
            created_by="owner@example.com",
        )
    )
    client = boto3.client("dynamodb")
    for item in items_with_prefix(f"AVAIL#{FACIAL_EVENT_TYPE}#"):
        key = {"pk": item["pk"], "sk": item["sk"]}
        client.update_item(TableName=os.environ["TABLE_NAME"], Key=key, UpdateExpression="REMOVE blocked")
    # When a visitor asks (a fresh copy, but without blocked dates)
    dynamodb_requests.clear()
    days = offered_days(api, tuesday)
    # Then the blocks are queried live and Wednesday is not offered
    assert wednesday.isoformat() not in days
    assert dynamodb_requests == [("Query", "SlotIndex"), ("Query", "table")]
