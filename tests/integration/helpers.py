"""Helpers for the core-flow integration tests: move to a known business day, look into the table and the doubles.

The product's clock is real time plus LOCAL_CLOCK_OFFSET_SECONDS (the `clock` fixture). Tests that depend on the
weekday or the hour (minimum notice, slots on a given day) first travel to a fixed local time, so they pass
whatever day the suite runs.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from tests.support import Clock

BUSINESS_TZ = ZoneInfo("America/Los_Angeles")  # the shipped catalog's business time zone (Cal double schedule)
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
FACIAL = "signature-facial"  # 60 min, 16500 usd, 50%, 720 min notice, capacity 1
FACIAL_EVENT_TYPE = 3815418
CONSULT = "skin-consultation"  # 30 min, 5000 usd, 100%, 60 min notice, capacity 2
CONSULT_EVENT_TYPE = 3815420


def product_now() -> datetime:
    from booking.clock import now

    return now()


def travel_to(clock: Clock, moment: datetime) -> None:
    """Move the product's clock (and the doubles') forward to `moment`."""
    delta = moment - product_now()
    assert delta > timedelta(0), f"cannot travel back to {moment}"
    clock.advance(seconds=delta.total_seconds())


def next_weekday(weekday: int, *, days_ahead: int = 2) -> date:
    """The first `weekday` at least `days_ahead` days after today (business time zone)."""
    day = product_now().astimezone(BUSINESS_TZ).date() + timedelta(days=days_ahead)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BUSINESS_TZ)


def travel_to_morning_before(clock: Clock, day: date, hour: int = 6) -> None:
    """Travel to `hour`:00 business time on `day` (before the 9:00 opening by default)."""
    travel_to(clock, local(day, hour))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the table -----------------------------------------------------------------------------------------------


def scan_table() -> list[dict[str, Any]]:
    """Every item of the booking table, in DynamoDB JSON."""
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": os.environ["TABLE_NAME"], "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stored_state() -> list[dict[str, Any]]:
    """Every item but the availability cache's weeks (dal/availability_cache.py): a copy of Cal.com's slots that
    any GET /availability may write (a test's own search for a slot too), not a booking's state."""
    return [item for item in scan_table() if not item["pk"]["S"].startswith("AVAIL#")]


def items_with_prefix(prefix: str) -> list[dict[str, Any]]:
    return [item for item in scan_table() if item["pk"]["S"].startswith(prefix)]


def live_seats_per_slot(now: datetime | None = None) -> Counter[str]:
    """Seat items that hold their slot now (paid for good, or a hold that has not lapsed), per slot key."""
    from booking.dal.items import SeatItem

    moment = now or product_now()
    counts: Counter[str] = Counter()
    for seat in SeatItem.scan(SeatItem.pk.startswith("SLOT#")):
        if seat.hold_expires_at is None or seat.hold_expires_at > moment:
            counts[seat.pk] += 1
    return counts


# --- the doubles -----------------------------------------------------------------------------------------------


def stripe_posts(stripe_double: Any, path_prefix: str) -> list[Any]:
    """POSTs our code (or the test) sent to the Stripe double under `path_prefix`, as the double logged them."""
    return [r for r in stripe_double.requests if r.method == "POST" and r.path.startswith(path_prefix)]


def payment_intent_creates(stripe_double: Any) -> list[Any]:
    return [r for r in stripe_double.requests if r.method == "POST" and r.path == "/v1/payment_intents"]


def cal_booking_posts(cal_double: Any) -> list[Any]:
    return [r for r in cal_double.request_log if r.method == "POST" and r.path == "/v2/bookings"]


def live_cal_bookings(cal_double: Any) -> list[dict[str, Any]]:
    return [b for b in cal_double.bookings() if b["status"] != "cancelled"]
