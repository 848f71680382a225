"""GET /admin/summary: the totals of what GET /admin/bookings lists with the same filters (count, deposits taken,
paid, refunded, balance due, by status), computed by the API from the listing's index queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.dev_auth import DevRole
from tests.integration.helpers import MONDAY, iso, local, next_weekday, travel_to
from tests.support import ApiClient, ApiResponse, Clock, owner_headers, unique_key

FACIAL_PRICE, FACIAL_DEPOSIT = 16500, 8250


def summary(api: ApiClient, role: DevRole = "owner", **query: Any) -> ApiResponse:
    query_text = {name: str(value) for name, value in query.items()}
    return api.request("GET", "/admin/summary", query=query_text, headers=owner_headers(role))


def act(api: ApiClient, booking_id: str, action: str, body: dict[str, Any]) -> None:
    headers = owner_headers() | {"Idempotency-Key": unique_key()}
    response = api.post(f"/admin/bookings/{booking_id}/{action}", body, headers=headers)
    assert response.status == 200, response.body


def listed(api: ApiClient, **query: Any) -> list[dict[str, Any]]:
    """Every booking GET /admin/bookings pages through with these filters."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {k: str(v) for k, v in query.items()} | ({"cursor": cursor} if cursor else {}) | {"limit": "2"}
        response = api.request("GET", "/admin/bookings", query=params, headers=owner_headers())
        assert response.status == 200, response.body
        found += response.body["bookings"]
        cursor = response.body["next_cursor"]
        if cursor is None:
            return found


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


@pytest.fixture
def week(api: ApiClient, clock: Clock) -> Iterator[dict[str, Any]]:
    """Monday 08:00 business time. Tuesday: a deposit partly refunded (A), one paid in full (B), a hold (C);
    Wednesday: a deposit whose balance was charged to the saved card (D); Thursday: a deposit (E)."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    tuesday, wednesday, thursday = (monday + timedelta(days=n) for n in (1, 2, 3))
    a = api.confirmed_booking(start=iso(local(tuesday, 10)))["booking_id"]
    b = api.confirmed_booking(start=iso(local(tuesday, 12)), payment_type="full")["booking_id"]
    held = api.create_intent(start=iso(local(tuesday, 14)))
    assert held.status == 201, held.body
    d = api.confirmed_booking(start=iso(local(wednesday, 11)))["booking_id"]
    e = api.confirmed_booking(start=iso(local(thursday, 10)))["booking_id"]
    act(api, a, "refund", {"amount": 2000, "reason": "started late"})
    act(api, d, "collect-balance", {"method": "card_on_file"})
    yield {
        "A": a,
        "B": b,
        "C": held.body["booking_id"],
        "D": d,
        "E": e,
        "from": utc_day(local(tuesday, 10)),
        "to": utc_day(local(wednesday, 11)),
    }


def test_the_summary_totals_the_bookings_of_a_date_range(api: ApiClient, week: dict[str, Any]) -> None:
    # When the owner asks for the totals of Tuesday and Wednesday
    response = summary(api, **{"from": week["from"], "to": week["to"]})
    # Then A, B, C and D count (not Thursday's E), with the money Stripe moved for them
    assert response.status == 200, response.body
    body = response.body
    assert body["count"] == 4
    assert body["by_status"] == {"CONFIRMED": 3, "HELD": 1}
    assert body["currency"] == "usd"
    assert body["deposits_taken"] == FACIAL_DEPOSIT + FACIAL_PRICE + FACIAL_DEPOSIT  # A, B up front, D
    assert body["paid_total"] == FACIAL_DEPOSIT + FACIAL_PRICE + FACIAL_PRICE  # D's balance too
    assert body["refunded_total"] == 2000
    # Only A's balance is due: B paid in full, D's balance was charged, C's hold is not paid yet
    assert body["balance_due"] == FACIAL_PRICE - FACIAL_DEPOSIT
    assert body["by_currency"]["usd"]["paid_total"] == body["paid_total"]


def test_the_summary_agrees_with_the_listing_for_every_filter(api: ApiClient, week: dict[str, Any]) -> None:
    for query in (
        {},
        {"from": week["from"], "to": week["to"]},
        {"status": "CONFIRMED"},
        {"status": "HELD", "from": week["from"]},
        {"balance_due": "true"},
    ):
        # When the summary and the listing get the same filters
        body = summary(api, **query).body
        bookings = listed(api, **query)
        # Then the summary counts and adds up exactly the bookings the listing pages through
        assert body["count"] == len(bookings), query
        assert body["paid_total"] == sum(b["payment"]["amount_paid"] for b in bookings), query
        assert body["refunded_total"] == sum(b["payment"]["amount_refunded"] for b in bookings), query
        statuses: dict[str, int] = {}
        for b in bookings:
            statuses[b["status"]] = statuses.get(b["status"], 0) + 1
        assert body["by_status"] == statuses, query
    assert summary(api, balance_due="true").body["count"] == 2  # A and Thursday's E
    held = summary(api, status="HELD").body
    assert (held["count"], held["deposits_taken"], held["paid_total"], held["balance_due"]) == (1, 0, 0, 0)


def test_an_empty_range_sums_to_zero_in_the_catalogs_currency(api: ApiClient, week: dict[str, Any]) -> None:
    body = summary(api, **{"from": "2099-01-01", "to": "2099-01-31"}).body
    assert body == {
        "count": 0,
        "currency": "usd",
        "deposits_taken": 0,
        "paid_total": 0,
        "refunded_total": 0,
        "balance_due": 0,
        "by_status": {},
        "by_currency": {},
    }


def test_staff_may_read_the_summary_and_bad_ranges_are_422s(api: ApiClient) -> None:
    assert summary(api, role="staff").status == 200
    assert summary(api, role="none").status == 403
    assert api.request("GET", "/admin/summary").status == 401
    backwards = summary(api, **{"from": "2026-03-02", "to": "2026-03-01"})
    assert (backwards.status, backwards.error_fields) == (422, {"to"})
    too_long = summary(api, **{"from": "2026-01-01", "to": "2027-06-01"})
    assert (too_long.status, too_long.error_fields) == (422, {"to"})
    not_a_date = summary(api, **{"from": "last tuesday"})
    assert (not_a_date.status, not_a_date.error_fields) == (422, {"from"})
    assert summary(api, status="LOST").status == 422
