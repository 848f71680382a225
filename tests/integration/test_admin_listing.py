"""GET /admin/bookings in start order: a date range, status, flags and balance due as filters, and a cursor to
page through the list (StartIndex, never a scan)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support import ApiClient, ApiResponse, booking, owner_headers


def listing(api: ApiClient, **query: Any) -> ApiResponse:
    return api.request(
        "GET",
        "/admin/bookings",
        query={name.rstrip("_"): str(value) for name, value in query.items()},
        headers=owner_headers(),
    )


def page_ids(response: ApiResponse) -> list[str]:
    assert response.status == 200, response.body
    return [b["booking_id"] for b in response.body["bookings"]]


def starts_on_distinct_days(api: ApiClient, days: int) -> list[str]:
    """Free slot starts on `days` different UTC dates, earliest first (the list's dates are UTC)."""
    by_day: dict[Any, str] = {}
    for slot in api.free_slots(weeks=2):
        by_day.setdefault(datetime.fromisoformat(slot["start"]).astimezone(UTC).date(), slot["start"])
    assert len(by_day) >= days, f"only {len(by_day)} days with free slots"
    return [by_day[day] for day in sorted(by_day)[:days]]


def utc(start: str) -> datetime:
    return datetime.fromisoformat(start).astimezone(UTC)


def held_bookings(api: ApiClient, starts: list[str]) -> list[str]:
    ids = []
    for start in starts:
        intent = api.create_intent(start=start)
        assert intent.status == 201, intent.body
        ids.append(intent.body["booking_id"])
    return ids


def test_owner_pages_through_every_booking_in_start_order_with_a_cursor(api: ApiClient) -> None:
    # Given seven bookings, created in an order that is not their start order
    starts = [slot["start"] for slot in api.free_slots()[:7]]
    created = held_bookings(api, [starts[i] for i in (3, 0, 6, 1, 5, 2, 4)])
    in_start_order = [created[i] for i in (1, 3, 5, 0, 6, 4, 2)]
    # When the owner lists three at a time, following next_cursor
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        response = listing(api, limit=3, **({"cursor": cursor} if cursor else {}))
        pages.append(page_ids(response))
        cursor = response.body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "the cursor never ends"
    # Then three pages hold every booking once, in start order, and the last one says there is no more
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [booking_id for page in pages for booking_id in page] == in_start_order
    # And each booking carries its payment state
    first = listing(api, limit=1).body["bookings"][0]
    assert (first["status"], first["payment"]["balance_due"]) == ("HELD", 8250)


def test_a_date_range_selects_by_start(api: ApiClient) -> None:
    # Given bookings on three different days
    starts = starts_on_distinct_days(api, 3)
    first, second, third = held_bookings(api, starts)
    second_day = utc(starts[1]).date().isoformat()
    # When the owner asks for the second day (dates: the whole day, UTC)
    assert page_ids(listing(api, from_=second_day, to=second_day)) == [second]
    # And for date-times: `from` inclusive, `to` exclusive, with an offset or in UTC without one
    assert page_ids(listing(api, from_=starts[1], to=starts[2])) == [second]
    naive_utc = utc(starts[1]).replace(tzinfo=None).isoformat()
    assert page_ids(listing(api, from_=naive_utc)) == [second, third]
    assert page_ids(listing(api, to=starts[1])) == [first]
    # And a range combines with the other filters
    assert page_ids(listing(api, from_=starts[0], to=second_day, status="HELD")) == [first, second]
    assert page_ids(listing(api, from_=starts[0], status="CONFIRMED")) == []


def test_paging_within_a_range_and_a_status(api: ApiClient) -> None:
    # Given five bookings, one of them expired
    starts = [slot["start"] for slot in api.free_slots()[:5]]
    ids = held_bookings(api, starts)
    from booking.dal.bookings import release_seat
    from booking.domain.lifecycle import BookingStatus
    from tests.integration.helpers import product_now

    release_seat(booking(ids[2]), BookingStatus.EXPIRED, actor="test", reason="lapsed", now=product_now())
    # When the owner pages through the HELD ones after the first start, two at a time
    first = listing(api, from_=starts[1], status="HELD", limit=2)
    second = listing(api, from_=starts[1], status="HELD", limit=2, cursor=first.body["next_cursor"])
    # Then the expired one and the one before the range are left out, and the pages join up
    assert page_ids(first) + page_ids(second) == [ids[1], ids[3], ids[4]]
    assert second.body["next_cursor"] is None


def test_balance_due_lists_what_is_still_to_collect(api: ApiClient) -> None:
    # Given a confirmed deposit booking, a booking paid in full and an unpaid hold
    slots = [slot["start"] for slot in api.free_slots()[:3]]
    deposit = api.confirmed_booking(start=slots[0])["booking_id"]
    paid_in_full = api.confirmed_booking(start=slots[1], payment_type="full")["booking_id"]
    unpaid = held_bookings(api, [slots[2]])[0]
    # When the owner asks for bookings with a balance due
    response = listing(api, balance_due="true")
    # Then only the deposit booking is there, with its balance
    assert page_ids(response) == [deposit]
    assert response.body["bookings"][0]["payment"]["balance_due"] == 8250
    assert response.body["next_cursor"] is None
    # And without the filter all three are listed
    assert set(page_ids(listing(api))) == {deposit, paid_in_full, unpaid}


def test_flagged_bookings_in_start_order_a_page_at_a_time(api: ApiClient) -> None:
    from booking.owner.alerts import flag

    # Given three flagged bookings (flagged latest start first) and one without a flag
    slots = [slot["start"] for slot in api.free_slots()[:4]]
    ids = held_bookings(api, slots)
    for booking_id in (ids[3], ids[2], ids[0]):
        flag(booking(booking_id), "amount_mismatch", "for the test")
    # When the owner pages through the flagged ones, two at a time
    first = listing(api, flagged="true", limit=2)
    second = listing(api, flagged="true", limit=2, cursor=first.body["next_cursor"])
    # Then they come in start order, across pages, and the list ends
    assert page_ids(first) + page_ids(second) == [ids[0], ids[2], ids[3]]
    assert second.body["next_cursor"] is None
    # And a date range narrows them
    assert page_ids(listing(api, flagged="true", from_=slots[1], to=slots[3])) == [ids[2]]


def tampered(cursor: str, **changes: Any) -> str:
    document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return base64.urlsafe_b64encode(json.dumps(document | changes).encode()).decode()


def test_a_bad_range_or_cursor_is_refused_naming_the_field(api: ApiClient) -> None:
    starts = [slot["start"] for slot in api.free_slots()[:3]]
    held_bookings(api, starts)
    cursor = listing(api, limit=1).body["next_cursor"]
    assert cursor and page_ids(listing(api, limit=1, cursor=cursor))
    day = utc(starts[0]).date()
    refused: list[tuple[dict[str, Any], str]] = [
        ({"from_": day.isoformat(), "to": (day - timedelta(days=1)).isoformat()}, "to"),
        ({"from_": starts[1], "to": starts[0]}, "to"),
        ({"from_": day.isoformat(), "to": (day + timedelta(days=366)).isoformat()}, "to"),
        ({"from_": "next tuesday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"to": "9999-12-31"}, "to"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"[1, 2]").decode()}, "cursor"),
        ({"cursor": tampered(cursor, booking_id="bk_x")}, "cursor"),
        ({"cursor": tampered(cursor, slot_start="2026-01-01T00:00:00")}, "cursor"),
        ({"cursor": tampered(cursor, admin=True)}, "cursor"),
        ({"cursor": cursor, "from_": starts[2]}, "cursor"),  # a cursor from before the range asked for
        ({"limit": 0}, "limit"),
    ]
    for query, field in refused:
        response = listing(api, **query)
        assert response.status == 422, (query, response.body)
        assert response.error_fields == {field}, (query, response.body)
    # And the longest range allowed (366 days, `to` day included) is answered
    assert listing(api, from_=day.isoformat(), to=(day + timedelta(days=365)).isoformat()).status == 200


@pytest.mark.parametrize("role", ["staff", "none"])
def test_staff_may_list_and_a_user_in_no_group_may_not(api: ApiClient, role: str) -> None:
    held_bookings(api, [api.first_slot()])
    response = api.request("GET", "/admin/bookings", query={"balance_due": "false"}, headers=owner_headers(role))
    assert response.status == (200 if role == "staff" else 403), response.body
