"""GET /admin/reports: the figures checked against the bookings that produced them.

A day of business is made through the real handlers (deposits and full payments, a balance collected, an owner's
refund, a late cancellation with its fee, a no-show with its fee, an expired hold, a declined card, webhooks), the
table's stream is delivered to TableChangesFunction, and every figure of the report is compared with what the test
computes on its own from the booking items in the table and from the Stripe double's PaymentIntents and refunds.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import stripe
from botocore.client import BaseClient

from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from local.stripe_double import StripeDouble
from tests.integration.helpers import BUSINESS_TZ, FACIAL, MONDAY, iso, local, next_weekday, scan_table, travel_to
from tests.reports.conftest import deliver, reports
from tests.support import (
    ApiClient,
    Clock,
    deliver_stripe,
    owner_headers,
    pay,
    run_job,
    stripe_client,
    stripe_event,
    unique_key,
)

CLEANUP = "ExpireHoldsFunction"
WEBHOOK_BOUNDS_MS = (100, 250, 500, 1000, 2000, 3000, 5000, 10000, 30000, 60000, 300000, 3600000)


def act(api: ApiClient, booking_id: str, action: str, body: Any = None) -> dict[str, Any]:
    headers = owner_headers(email="owner@example.com") | {"Idempotency-Key": unique_key()}
    response = api.post(f"/admin/bookings/{booking_id}/{action}", body, headers=headers)
    assert response.status == 200, response.body
    return response.body


def business_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TZ).date()


def bookings_in_table() -> list[Any]:
    from booking.dal.bookings import to_booking
    from booking.dal.items import BookingItem

    return [to_booking(BookingItem.from_raw_data(i)) for i in scan_table() if i["sk"]["S"] == "BOOKING"]


def stripe_intents(booking_id: str) -> list[dict[str, Any]]:
    found = stripe_client().v1.payment_intents.list(params={"limit": 100}).data
    return [i.to_dict() for i in found if i.to_dict().get("metadata", {}).get("booking_id") == booking_id]


def stripe_refunded(booking_id: str) -> int:
    total = 0
    for intent in stripe_intents(booking_id):
        refunds = stripe_client().v1.refunds.list(params={"payment_intent": intent["id"], "limit": 100}).data
        total += sum(r.amount for r in refunds if r.status in ("succeeded", "pending"))
    return total


@pytest.fixture
def business(api: ApiClient, lam: LocalLambda, clock: Clock, stripe_double: StripeDouble) -> Iterator[dict[str, Any]]:
    """Monday 08:00: facials for Tuesday 10:00 (A: deposit, balance collected), 11:00 (B: paid in full, the owner
    refunds 20.00), 12:00 (C: deposit, cancelled late on Tuesday 09:00), 13:00 (D: deposit, no-show), 15:00 (G: deposit,
    balance outstanding); E: a hold never paid (16:00), F: a declined card (14:00, its webhook delivered): expired.
    A's balance webhook fails on delivery (Stripe down) and the cleanup run 20 minutes later processes it."""
    monday = next_weekday(MONDAY)
    tuesday = monday + timedelta(days=1)
    travel_to(clock, local(monday, 8))
    a = api.confirmed_booking(start=iso(local(tuesday, 10)))["booking_id"]
    b = api.confirmed_booking(start=iso(local(tuesday, 11)), payment_type="full")["booking_id"]
    c = api.confirmed_booking(start=iso(local(tuesday, 12)))["booking_id"]
    d = api.confirmed_booking(start=iso(local(tuesday, 13)))["booking_id"]
    g = api.confirmed_booking(start=iso(local(tuesday, 15)))["booking_id"]
    e = api.create_intent(start=iso(local(tuesday, 16))).body["booking_id"]
    f_intent = api.create_intent(start=iso(local(tuesday, 14))).body
    with pytest.raises(stripe.CardError):
        pay(f_intent["payment_intent_id"], card="pm_card_chargeDeclined")
    failed = stripe_event(stripe_double, "payment_intent.payment_failed", f_intent["payment_intent_id"])
    assert deliver_stripe(api, stripe_double, failed["id"]).status == 200
    collected = act(api, a, "collect-balance", {"method": "card_on_file"})
    assert collected["collection"]["outcome"] == "paid"
    balance = next(i for i in stripe_intents(a) if i["metadata"]["purpose"] == "balance")
    succeeded = stripe_event(stripe_double, "payment_intent.succeeded", balance["id"])
    stripe_double.set_down(True)  # its webhook fails on delivery: kept in the inbox, the cleanup run retries it
    assert deliver_stripe(api, stripe_double, succeeded["id"]).status == 503
    stripe_double.set_down(False)
    act(api, b, "refund", {"amount": 2000, "reason": "late start"})
    clock.advance(minutes=20)
    run_job(lam, CLEANUP)  # E and F expire
    travel_to(clock, local(tuesday, 9))
    act(api, c, "cancel", {"reason": "client called", "refund": "policy"})
    travel_to(clock, local(tuesday, 15))
    act(api, d, "no-show", {"note": "did not come"})
    deliver(lam)
    yield {
        "monday": monday,
        "tuesday": tuesday,
        "ids": {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f_intent["booking_id"], "G": g},
    }


def expected_from_the_bookings(first: date, last: date) -> dict[str, Any]:
    """The report's figures for [first, last], computed from the booking items and Stripe, not from the aggregates."""
    found: dict[str, Any] = Counter()
    money: dict[str, int] = Counter()
    by_status: Counter[str] = Counter()
    inside = lambda moment: moment is not None and first <= business_day(moment) <= last  # noqa: E731
    for booking in bookings_in_table():
        if inside(booking.created_at):
            found["holds"] += 1
            found["holds_paid"] += booking.paid_at is not None
        if inside(booking.slot_start):
            by_status[booking.status.value] += 1
            if booking.status.value in ("PAID", "CONFIRMED", "COMPLETED"):
                money["balance_outstanding"] += booking.balance_due
            if booking.cancelled_at is not None:  # the facial is free to cancel until 24 h before
                as_client = booking.cancel_refund == "policy" or (
                    booking.cancel_refund is None and booking.cancelled_by == "client"
                )
                found["late_cancellations"] += as_client and booking.slot_start - booking.cancelled_at < timedelta(
                    hours=24
                )
        for intent in stripe_intents(booking.booking_id):  # Stripe is the ledger: what moved, by purpose
            metadata = intent["metadata"]  # the first payment has no purpose, only the booking's payment type
            purpose = metadata.get("purpose") or metadata["payment_type"]
            if intent["status"] == "succeeded":
                found["payments_succeeded"] += 1
                kind = {"deposit": "deposits", "full": "full_payments", "balance": "balances"}.get(purpose, "fees")
                money[kind] += intent["amount_received"]
            elif intent.get("last_payment_error"):
                found["payments_failed"] += 1
        money["refunded"] += stripe_refunded(booking.booking_id)
    money["collected"] = money["deposits"] + money["full_payments"] + money["balances"] + money["fees"]
    return {"counts": found, "money": money, "by_status": dict(by_status)}


def webhook_times_ms() -> list[float]:
    from booking.dal.items import InboxItem

    items = [InboxItem.from_raw_data(i) for i in scan_table() if i["sk"]["S"] == "EVENT"]
    return sorted((i.processed_at - i.received_at).total_seconds() * 1000 for i in items if i.processed_at)


def bucket_of(times: list[float], share: float) -> int:
    """The histogram bound the report must give: the bucket holding the ceil(share * n)-th fastest time."""
    index = max(int(-(-share * len(times) // 1)) - 1, 0)
    return next(bound for bound in WEBHOOK_BOUNDS_MS if times[index] <= bound)


def test_the_report_matches_the_bookings_and_stripe(api: ApiClient, business: dict[str, Any]) -> None:
    # Given the day of business delivered to the aggregates (business fixture)
    monday, tuesday = business["monday"], business["tuesday"]
    # When staff read the report of Monday and Tuesday
    response = reports(api, **{"from": monday.isoformat(), "to": tuesday.isoformat()})
    # Then every figure of the facial's totals is what the bookings and Stripe say
    assert response.status == 200, response.body
    body = response.body
    assert body["from"] == monday.isoformat() and body["to"] == tuesday.isoformat() and body["group"] == "day"
    facial = next(s for s in body["services"] if s["service_id"] == FACIAL)
    totals = facial["totals"]
    expected = expected_from_the_bookings(monday, tuesday)
    counts, money = expected["counts"], expected["money"]
    assert totals["by_status"] == expected["by_status"]
    assert expected["by_status"] == {"CONFIRMED": 3, "CANCELLED": 1, "NO_SHOW": 1, "EXPIRED": 2}
    assert totals["bookings"] == 7 and totals["no_shows"] == 1
    assert totals["late_cancellations"] == counts["late_cancellations"] == 1
    assert (totals["holds"], totals["holds_paid"]) == (counts["holds"], counts["holds_paid"]) == (7, 5)
    assert totals["conversion_rate"] == round(5 / 7, 4)
    assert totals["payments_succeeded"] == counts["payments_succeeded"]  # 5 first payments, a balance, two fees
    assert totals["payments_failed"] == counts["payments_failed"] == 1
    ok, failed = counts["payments_succeeded"], counts["payments_failed"]
    assert totals["payment_failure_rate"] == round(failed / (ok + failed), 4)
    [usd] = totals["money"]
    assert usd["currency"] == "usd"
    for name in ("deposits", "full_payments", "balances", "fees", "collected", "refunded", "balance_outstanding"):
        assert usd[name] == money[name], name
    assert usd["refunded"] == 2000 and usd["balance_outstanding"] == 8250  # G's balance (D's no-show fee took its)
    assert usd["refund_rate"] == round(money["refunded"] / money["collected"], 4)
    # ... the days each fact belongs to: bookings made and paid Monday, appointments and the fees Tuesday
    by_day = {p["period"]: p for p in facial["periods"]}
    monday_figures, tuesday_figures = by_day[monday.isoformat()], by_day[tuesday.isoformat()]
    assert monday_figures["holds"] == 7 and tuesday_figures["holds"] == 0
    assert monday_figures["bookings"] == 0 and tuesday_figures["bookings"] == 7
    assert monday_figures["money"][0]["fees"] == 0 and tuesday_figures["money"][0]["fees"] == money["fees"] > 0
    assert monday_figures["money"][0]["refunded"] == 2000
    # ... `all` sums the services (only facials here) and the webhook times come from the inbox's records: only
    # the event that failed on delivery was kept (received -> processed by the retry); the others wrote nothing
    assert next(s for s in body["services"] if s["service_id"] == "all")["totals"] == totals
    times = webhook_times_ms()
    assert body["webhooks_total"]["processed"] == len(times) == 1 and times[0] >= 20 * 60 * 1000
    assert body["webhooks_total"]["p50_ms"] == bucket_of(times, 0.5)
    assert body["webhooks_total"]["p95_ms"] == bucket_of(times, 0.95)
    assert body["targets"] == {"refund_rate": 0.05, "payment_success_rate": 0.99, "webhook_p95_ms": 5000}


def test_delivering_the_same_stream_records_again_changes_nothing(
    api: ApiClient, lam: LocalLambda, business: dict[str, Any]
) -> None:
    # Given the report after the stream was delivered once
    query = {"from": business["monday"].isoformat(), "to": business["tuesday"].isoformat()}
    before = reports(api, **query).body
    # When every record of the stream is delivered again, in other batches (Lambda's at-least-once)
    again = StreamPump(os.environ["TABLE_NAME"], "TableChangesFunction").events(batch_size=7)
    answers = deliver(lam, again)
    # Then each record is recognised as applied and no figure moves
    assert sum(a.get("batchItemFailures") == [] for a in answers) == len(answers)
    assert reports(api, **query).body == before


def test_a_booking_change_that_moves_no_figure_writes_nothing(
    api: ApiClient, lam: LocalLambda, business: dict[str, Any]
) -> None:
    # Given a confirmed booking whose change touches no counter (its Cal.com check time)
    from booking.dal.bookings import update_fields

    update_fields(business["ids"]["G"], {"cal_checked_at": datetime.now(BUSINESS_TZ)})
    # When the change is delivered, the function writes no marker and no day
    with dynamodb_requests() as calls:
        deliver(lam)
    assert [op for op in calls if op in ("TransactWriteItems", "UpdateItem", "PutItem")] == []


def test_weeks_sum_their_days_and_a_week_is_cut_at_the_range(api: ApiClient, business: dict[str, Any]) -> None:
    monday, tuesday = business["monday"], business["tuesday"]
    first = monday - timedelta(days=3)  # the Friday before: two ISO weeks, the first one cut
    days = reports(api, **{"from": first.isoformat(), "to": tuesday.isoformat()}).body
    weeks = reports(api, **{"from": first.isoformat(), "to": tuesday.isoformat(), "group": "week"}).body
    facial_days = next(s for s in days["services"] if s["service_id"] == FACIAL)
    facial_weeks = next(s for s in weeks["services"] if s["service_id"] == FACIAL)
    previous, this = facial_weeks["periods"]
    year, week, _ = monday.isocalendar()
    assert this["period"] == f"{year}-W{week:02d}" and this["start"] == monday.isoformat()
    assert this["end"] == tuesday.isoformat()  # cut at the range's last day
    assert previous["start"] == first.isoformat() and previous["bookings"] == previous["holds"] == 0
    assert this["holds"] == sum(p["holds"] for p in facial_days["periods"]) == 7
    assert this["money"] == facial_weeks["totals"]["money"] == facial_days["totals"]["money"]
    assert weeks["webhooks"][1]["processed"] == days["webhooks_total"]["processed"]


def test_the_report_as_csv_has_a_header_and_a_row_per_service_and_day(api: ApiClient, business: dict[str, Any]) -> None:
    monday, tuesday = business["monday"], business["tuesday"]
    query = {"from": monday.isoformat(), "to": tuesday.isoformat()}
    as_json = reports(api, **query).body
    by_format = reports(api, role="owner", **query, format="csv")
    by_accept = reports(api, headers={"Accept": "text/csv"}, **query)
    assert by_format.status == 200 and by_format.headers["content-type"].startswith("text/csv")
    assert "attachment" in by_format.headers["content-disposition"]
    assert by_accept.body == by_format.body
    rows = list(csv.DictReader(io.StringIO(by_format.body)))
    assert len(rows) == 2 * len(as_json["services"])  # two days per service, then `all`
    facial_tuesday = next(r for r in rows if r["service_id"] == FACIAL and r["period"] == tuesday.isoformat())
    figures = next(p for s in as_json["services"] if s["service_id"] == FACIAL for p in s["periods"])
    tuesday_json = next(s for s in as_json["services"] if s["service_id"] == FACIAL)["periods"][1]
    assert figures["period"] == monday.isoformat()
    assert int(facial_tuesday["bookings"]) == tuesday_json["bookings"] == 7
    assert int(facial_tuesday["status_no_show"]) == 1
    assert int(facial_tuesday["fees_usd"]) == tuesday_json["money"][0]["fees"]
    all_monday = next(r for r in rows if r["service_id"] == "all" and r["period"] == monday.isoformat())
    assert int(all_monday["webhooks_processed"]) == as_json["webhooks"][0]["processed"]
    assert facial_tuesday["webhooks_processed"] == ""  # business-wide: on the `all` rows only


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"service_id": "no-such-service"}, "service_id"),
        ({"group": "month"}, "group"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: ApiClient, query: dict[str, str], field: str) -> None:
    response = reports(api, **query)
    assert response.status == 422, response.body
    assert field in response.error_fields


def test_clients_cannot_read_reports(api: ApiClient) -> None:
    assert api.request("GET", "/admin/reports").status == 401


@contextmanager
def dynamodb_requests() -> Iterator[list[str]]:
    """Every DynamoDB operation any code makes meanwhile (the handlers run in this process)."""
    calls: list[str] = []
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
        return original(client, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def test_a_reports_cost_does_not_grow_with_the_bookings(api: ApiClient, lam: LocalLambda, clock: Clock) -> None:
    from booking.domain.catalog import get_catalog

    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    query = {"from": (monday - timedelta(days=300)).isoformat(), "to": (monday + timedelta(days=60)).isoformat()}
    costs = []
    for hour in (10, 11, 12, 13):  # one more booking each time, on a day of its own
        api.confirmed_booking(start=iso(local(monday + timedelta(days=hour - 9), hour)))
        deliver(lam)
        with dynamodb_requests() as calls:
            assert reports(api, **query).status == 200
        costs.append(Counter(calls))
    # one Query per service and one for the webhooks, whatever the bookings; never a scan
    assert costs == [Counter({"Query": len(get_catalog().services) + 1})] * 4
