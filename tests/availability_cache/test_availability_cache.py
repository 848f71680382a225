"""GET /availability from the shared cache of Cal.com's weeks (shared/booking/dal/availability_cache.py), through the
catalog handler with moto and the Cal.com double: one Cal.com call per week for many visitors, one caller filling a
cold week, stale copies served within their bound, mark_stale, our holds applied live on a cached copy, and Cal.com
throttling or down with and without a copy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient

from local.cal_double import CalDouble
from tests.integration.helpers import (
    FACIAL,
    FACIAL_EVENT_TYPE,
    WEDNESDAY,
    instant,
    items_with_prefix,
    local,
    next_weekday,
    travel_to_morning_before,
)
from tests.support import ApiClient, Clock, pay

FRESH = 60  # AVAILABILITY_FRESH_SECONDS' default
STALE = 300  # AVAILABILITY_STALE_SECONDS' default


def slots_calls(cal_double: CalDouble) -> list[int]:
    """The statuses of the /v2/slots calls Cal.com answered (or refused)."""
    return [entry.status for entry in cal_double.request_log if entry.path == "/v2/slots"]


def starts(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [slot["start"] for day in response.body["days"] for slot in day["slots"] if slot["seats_left"] > 0]


@pytest.fixture
def wednesday(clock: Clock) -> date:
    """A Wednesday a few days ahead, the clock at 06:00 business time two days before it (outside any notice)."""
    day = next_weekday(WEDNESDAY, days_ahead=4)
    travel_to_morning_before(clock, day - timedelta(days=2))
    return day


def week_of(api: ApiClient, day: date, **query: Any) -> Any:
    return api.get("/availability", service_id=FACIAL, start=day.isoformat(), days=7, **query)


@pytest.fixture
def dynamodb_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every DynamoDB request made while the test runs: (operation, partition key or index)."""
    seen: list[tuple[str, str]] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            key = params.get("IndexName") or str(params.get("Key", {}).get("pk", {}).get("S", "table"))
            seen.append((operation, key))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    yield seen


def test_many_visitors_of_a_week_cost_one_calcom_call_and_a_hit_is_one_query(
    api: ApiClient, cal_double: CalDouble, wednesday: date, dynamodb_requests: list[tuple[str, str]]
) -> None:
    # Given one visitor asked for the week (its 7 local days touch two UTC weeks: one Cal.com call for both)
    first = week_of(api, wednesday)
    assert slots_calls(cal_double) == [200]

    # When twenty more visitors ask for the same week within the freshness
    dynamodb_requests.clear()
    answers = [week_of(api, wednesday) for _ in range(20)]

    # Then each gets the same slots and Cal.com was not asked again
    assert starts(first) and all(starts(answer) == starts(first) for answer in answers)
    assert slots_calls(cal_double) == [200]
    # And a cache hit is the SlotIndex Query that reads the held seats (the weeks and their blocked dates come
    # with it): nothing written
    assert dynamodb_requests == [("Query", "SlotIndex")] * 20
    weeks = items_with_prefix(f"AVAIL#{FACIAL_EVENT_TYPE}#")
    assert len(weeks) == 2 and all("expires_ttl" in item and "lease_owner" not in item for item in weeks)


def test_concurrent_cold_visitors_make_one_calcom_call(api: ApiClient, cal_double: CalDouble, wednesday: date) -> None:
    # Given Cal.com takes a while to answer, and nobody asked for the week yet
    cal_double.set_mode("slow", 0.3)
    barrier = threading.Barrier(8)

    def visitor() -> Any:
        barrier.wait()
        return week_of(api, wednesday)

    # When eight visitors ask for it at the same moment
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: visitor(), range(8)))

    # Then one of them asked Cal.com, the others waited for its answer and got the same slots
    assert slots_calls(cal_double) == [200]
    assert starts(answers[0]) and all(starts(answer) == starts(answers[0]) for answer in answers)


def test_a_stale_week_is_served_while_another_caller_refreshes_it(
    api: ApiClient, cal_double: CalDouble, clock: Clock, wednesday: date
) -> None:
    from booking.clock import now
    from booking.dal import availability_cache as cache

    # Given a cached week, and a booking made at Cal.com since (no webhook reached us)
    before = starts(week_of(api, wednesday))
    taken = local(wednesday, 10)
    cal_double.take_slot(FACIAL_EVENT_TYPE, taken, emit_webhook=False)
    assert taken.isoformat() in before

    # When the copy is older than its freshness while another caller holds the refresh lease of its weeks
    clock.advance(seconds=FRESH + 1)
    weeks = cache.weeks_covering(local(wednesday, 0), local(wednesday + timedelta(days=7), 0))
    assert all(cache.take_lease(FACIAL_EVENT_TYPE, week, now(), timedelta(seconds=FRESH)) for week in weeks)
    during = starts(week_of(api, wednesday))

    # Then the visitor is served the copy without calling Cal.com (the taken slot still listed: bounded staleness)
    assert during == before
    assert slots_calls(cal_double) == [200]

    # When that refresh never finishes and its lease lapses
    clock.advance(seconds=21)
    after = starts(week_of(api, wednesday))

    # Then the next visitor refreshes the week and the taken slot is gone
    assert taken.isoformat() not in after
    assert slots_calls(cal_double) == [200, 200]


def test_a_copy_is_served_while_calcom_is_down_until_the_staleness_bound(
    api: ApiClient, cal_double: CalDouble, clock: Clock, wednesday: date
) -> None:
    # Given a cached week, then Cal.com down
    before = starts(week_of(api, wednesday))
    cal_double.set_mode("down")

    # When the copy is stale and a visitor asks: its refresh fails
    clock.advance(seconds=FRESH + 1)
    stale = week_of(api, wednesday)
    attempts = len(slots_calls(cal_double))
    # and another visitor asks right after: the week backs off, Cal.com is not asked again
    again = week_of(api, wednesday)

    # Then both are served the copy
    assert starts(stale) == before and starts(again) == before
    assert attempts > 1 and len(slots_calls(cal_double)) == attempts

    # When the copy is older than the staleness bound and Cal.com is still down
    clock.advance(seconds=STALE - FRESH)
    expired = week_of(api, wednesday)

    # Then the visitor gets the calendar's 503, not slots from five minutes ago
    assert (expired.status, expired.error_code) == (503, "calendar_unavailable"), expired.body


def test_calcom_down_without_a_copy_is_a_503_and_the_week_backs_off(
    api: ApiClient, cal_double: CalDouble, wednesday: date
) -> None:
    # Given Cal.com down and nothing cached
    cal_double.set_mode("down")

    # When two visitors ask for the week one after the other
    first = week_of(api, wednesday)
    attempts = len(slots_calls(cal_double))
    second = week_of(api, wednesday)

    # Then both are told the calendar is not answering; only the first asked Cal.com
    assert (first.status, first.error_code) == (503, "calendar_unavailable"), first.body
    assert (second.status, second.error_code) == (503, "calendar_unavailable"), second.body
    assert len(slots_calls(cal_double)) == attempts


def test_calcom_throttling_serves_a_stale_copy_and_refuses_a_week_without_one(
    api: ApiClient, cal_double: CalDouble, clock: Clock, wednesday: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cached week, then Cal.com throttling our key after one more call this minute
    before = starts(week_of(api, wednesday))
    clock.advance(seconds=FRESH + 1)
    monkeypatch.setattr(cal_double, "rate_limit_per_minute", 1)
    assert week_of(api, wednesday + timedelta(days=28)).status == 200  # spends the allowance
    calls = len(slots_calls(cal_double))

    # When a visitor asks for the stale week, and another for a week nobody cached
    stale = week_of(api, wednesday)
    cold = week_of(api, wednesday + timedelta(days=42))

    # Then the first is served the copy, the second gets the rate-limited 503 with Cal.com's wait
    assert starts(stale) == before
    assert (cold.status, cold.error_code) == (503, "calendar_rate_limited"), cold.body
    assert 1 <= int(cold.headers["retry-after"]) <= 60
    assert slots_calls(cal_double)[calls:] == [429, 429]

    # And while Cal.com's block lasts, asking again is answered from the table without calling Cal.com
    assert starts(week_of(api, wednesday)) == before
    assert week_of(api, wednesday + timedelta(days=42)).error_code == "calendar_rate_limited"
    assert len(slots_calls(cal_double)) == calls + 2


def test_mark_stale_makes_the_next_visitor_refill_the_week(
    api: ApiClient, cal_double: CalDouble, wednesday: date
) -> None:
    from booking.dal.availability_cache import mark_stale

    # Given a cached week and a booking made at Cal.com since
    taken = local(wednesday, 11)
    assert taken.isoformat() in starts(week_of(api, wednesday))
    cal_double.take_slot(FACIAL_EVENT_TYPE, taken, emit_webhook=False)
    assert taken.isoformat() in starts(week_of(api, wednesday))  # fresh copy: Cal.com not asked

    # When the Cal.com webhook of that booking marks its week stale
    mark_stale(FACIAL_EVENT_TYPE, taken)

    # Then the next visitor refills the week and no longer sees the slot
    assert taken.isoformat() not in starts(week_of(api, wednesday))
    assert slots_calls(cal_double) == [200, 200]


def test_mark_stale_of_a_week_nobody_cached_writes_nothing(api: ApiClient) -> None:
    from booking.dal.availability_cache import mark_stale

    # When a webhook marks a week nobody asked for
    mark_stale(FACIAL_EVENT_TYPE, datetime.fromisoformat("2031-03-05T17:00:00+00:00"))

    # Then nothing was raised and no item was created
    assert items_with_prefix("AVAIL#") == []


def test_a_held_then_paid_slot_is_never_offered_from_a_copy_that_still_lists_it(
    api: ApiClient, cal_double: CalDouble, wednesday: date
) -> None:
    from booking.dal import availability_cache as cache

    # Given a cached week
    offered = starts(week_of(api, wednesday))
    chosen = offered[1]

    # When a client holds a slot of it, then pays
    intent = api.create_intent(service_id=FACIAL, start=chosen)
    assert intent.status == 201, intent.body
    held = starts(week_of(api, wednesday))
    pay(intent.body["payment_intent_id"])
    paid = starts(week_of(api, wednesday))

    # Then the slot is gone from the answer at once, held and paid, though the cached copy still lists it
    assert chosen not in held and chosen not in paid
    assert held == paid == [start for start in offered if start != chosen]
    weeks, _ = cache.read(
        FACIAL_EVENT_TYPE, cache.week_start(instant(chosen)), cache.week_start(instant(chosen)) + timedelta(days=1)
    )
    copy = weeks[cache.week_start(instant(chosen))]
    assert copy.slots is not None and instant(chosen) in {start for start, _ in copy.slots}
    # And GET /availability asked Cal.com once for that week (create-intent's own check is live: the second call)
    assert len(slots_calls(cal_double)) == 2


@pytest.mark.parametrize("trigger", ["BOOKING_CREATED", "BOOKING_CANCELLED"])
def test_a_calcom_webhook_about_a_booking_not_ours_makes_the_next_visitor_refill_the_week(
    api: ApiClient, cal_double: CalDouble, wednesday: date, trigger: str
) -> None:
    from tests.support import deliver_cal

    # Given a cached week, and a booking made at Cal.com since (cancelled there too, for the second case)
    taken = local(wednesday, 11)
    assert taken.isoformat() in starts(week_of(api, wednesday))
    uid = str(cal_double.take_slot(FACIAL_EVENT_TYPE, taken, emit_webhook=False)["uid"])
    if trigger == "BOOKING_CANCELLED":
        cal_double.cancel_booking(uid)

    # When Cal.com's webhook about it arrives
    answer = deliver_cal(api, cal_double, trigger, uid)
    assert answer.status == 200, answer.body

    # Then the next visitor asks Cal.com again (the webhook, not the freshness, ended the copy)
    shown = starts(week_of(api, wednesday))
    assert slots_calls(cal_double) == [200, 200]
    assert (taken.isoformat() in shown) is (trigger == "BOOKING_CANCELLED")
