"""Issue 14, bullet 4: recurring bookings. A series is held in one transaction (all or nothing, or the free subset
the preview showed), paid with one PaymentIntent, confirmed as one Cal.com booking per occurrence, and cancelled
one occurrence or "this and the rest" at a time, each refunded by the policy on its own start and share of the
one charge, with Stripe as the ledger (a Dashboard refund respected, a refund made once whatever the races).

Given / When / Then, through the handlers' entry points with moto and the Stripe and Cal.com doubles.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    BUSINESS_TZ,
    MONDAY,
    instant,
    iso,
    live_cal_bookings,
    local,
    next_weekday,
    payment_intent_creates,
    scan_table,
    travel_to,
)
from tests.integration.test_stripe_truth import on_dynamodb, on_stripe_http
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    Worker,
    booking,
    deliver_cal,
    deliver_stripe,
    owner_headers,
    pay,
    run_job,
    stripe_client,
    stripe_event,
)

COACHING = "skin-coaching"  # 20000 usd, 50% deposit, phone needed; free until 24 h, then 50%; per_occurrence
COACHING_PRICE, COACHING_DEPOSIT = 20000, 10000
CERAMICS = "ceramics-workshop"  # 5000 usd a seat, capacity 12; free until 48 h, then 50%; the series paid in full
CERAMICS_PRICE, CERAMICS_LATE_FEE = 5000, 2500
ATTENDEE = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "time_zone": "America/Los_Angeles",
    "phone": "+14155550100",
}
OTHER = {
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "time_zone": "America/Los_Angeles",
    "phone": "+14155550111",
}
CLEANUP = "ExpireHoldsFunction"


# --- given ---------------------------------------------------------------------------------------------------


@pytest.fixture
def monday(clock: Clock) -> date:
    """Monday 08:00 business time: the series start on the next day, Tuesday."""
    day = next_weekday(MONDAY)
    travel_to(clock, local(day, 8))
    return day


def slot_on(api: ApiClient, service_id: str, day: date, hour: int) -> datetime:
    """The first slot the calendar offers on `day` at or after `hour`:00 business time."""
    response = api.get("/availability", service_id=service_id, start=day.isoformat(), days=1)
    assert response.status == 200, response.body
    starts = [instant(slot["start"]) for day_view in response.body["days"] for slot in day_view["slots"]]
    found = [s for s in starts if s >= local(day, hour)]
    assert found, f"no {service_id} slot on {day} after {hour}:00"
    return found[0].astimezone(BUSINESS_TZ)


def series_intent(
    api: ApiClient, service_id: str, start: datetime, count: int, *, attendee: dict[str, Any] = ATTENDEE, **more: Any
) -> ApiResponse:
    recurrence = {"every_weeks": 1, "count": count} | more.pop("recurrence", {})
    body = {"service_id": service_id, "start": iso(start), "attendee": attendee, "payment_type": "deposit"}
    return api.post("/payments/create-intent", body | more | {"recurrence": recurrence})


def occurrence_ids(intent: dict[str, Any]) -> list[str]:
    return [o["booking_id"] for o in intent["series"]["occurrences"]]


def paid_by_webhook(api: ApiClient, stripe_double: StripeDouble, intent: dict[str, Any]) -> ApiResponse:
    pi = intent["payment_intent_id"]
    pay(pi)
    return deliver_stripe(api, stripe_double, stripe_event(stripe_double, "payment_intent.succeeded", pi)["id"])


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def manage_tokens(api: ApiClient, intent: dict[str, Any]) -> list[str]:
    """Each occurrence's manage token, as the client finds them: verify gives the first's link, the series view
    lists every occurrence's."""
    token = api.create_token(intent)
    assert token.status == 201, token.body
    verified = api.verify(token.body["token"])
    assert verified.status == 200, verified.body
    series = api.post("/bookings/manage/series", {"token": token_of(verified.body["manage_url"])})
    assert series.status == 200, series.body
    return [token_of(o["manage_url"]) for o in series.body["occurrences"]]


def refunds_on(payment_intent_id: str) -> list[dict[str, Any]]:
    """Stripe's refunds of the series charge that count: amount, booking_id (None: the Dashboard's)."""
    found = stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100}).data
    return [
        {"amount": r.amount, "booking_id": (r.to_dict().get("metadata") or {}).get("booking_id")}
        for r in found
        if r.status in ("succeeded", "pending")
    ]


def booking_items() -> list[dict[str, Any]]:
    return [item for item in scan_table() if item["pk"]["S"].startswith("BOOKING#")]


# --- dates and the catalog -----------------------------------------------------------------------------------


def test_a_series_keeps_the_wall_clock_time_across_a_dst_change() -> None:
    from booking.flows.series import pattern

    first = datetime(2026, 10, 27, 10, 0, tzinfo=BUSINESS_TZ)  # DST ends on Sunday 1 November 2026
    starts = pattern(first, 1, 3)
    assert [s.astimezone(BUSINESS_TZ).hour for s in starts] == [10, 10, 10]
    assert [s.hour for s in starts] == [17, 18, 18]  # UTC moves by the hour the clocks moved


def test_the_catalog_bounds_the_series_and_nothing_is_held(api: ApiClient, monday: date) -> None:
    start = slot_on(api, CERAMICS, monday + timedelta(days=1), 10)

    fortnightly = series_intent(api, CERAMICS, start, 3, recurrence={"every_weeks": 2})
    too_many = series_intent(api, CERAMICS, start, 7)
    facial = slot_on(api, "signature-facial", monday + timedelta(days=1), 10)
    not_recurring = series_intent(api, "signature-facial", facial, 2)
    first_skipped = series_intent(api, CERAMICS, start, 3, recurrence={"skip": [start.date().isoformat()]})

    assert (fortnightly.status, fortnightly.error_fields) == (422, {"recurrence.every_weeks"})
    assert (too_many.status, too_many.error_fields) == (422, {"recurrence.count"})
    assert (not_recurring.status, not_recurring.error_fields) == (422, {"recurrence"})
    assert (first_skipped.status, first_skipped.error_fields) == (422, {"recurrence.skip"})
    assert booking_items() == []


# --- holding -------------------------------------------------------------------------------------------------


def test_a_weekly_series_of_four_is_held_in_one_transaction_and_paid_with_one_deposit_each(
    api: ApiClient, stripe_double: StripeDouble, monday: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = slot_on(api, COACHING, monday + timedelta(days=1), 10)
    transactions: list[dict[str, Any]] = []

    def spy(call: Any, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if operation == "TransactWriteItems":
            transactions.append(kwargs)
        return call()

    with monkeypatch.context() as patched:
        on_dynamodb(patched, spy)
        created = series_intent(api, COACHING, start, 4)

    assert created.status == 201, created.body
    body = created.body
    occurrences = body["series"]["occurrences"]
    assert [o["occurrence"] for o in occurrences] == [1, 2, 3, 4]
    assert [instant(o["start"]) for o in occurrences] == [start + timedelta(weeks=k) for k in range(4)]
    assert [o["amount_due_now"] for o in occurrences] == [COACHING_DEPOSIT] * 4
    assert (body["amount_due_now"], body["total"], body["balance_due"]) == (
        4 * COACHING_DEPOSIT,
        4 * COACHING_PRICE,
        4 * COACHING_DEPOSIT,
    )
    assert body["booking_id"] == occurrences[0]["booking_id"]
    puts = [[e["Put"]["Item"]["pk"]["S"] for e in t["TransactItems"] if "Put" in e] for t in transactions]
    holds = [keys for keys in puts if any(pk.startswith("BOOKING#") for pk in keys)]
    assert len(holds) == 1  # every occurrence, its seat and the series: one transaction
    assert (
        sum(pk.startswith("BOOKING#") for pk in holds[0]) == 4 and sum(pk.startswith("SLOT#") for pk in holds[0]) == 4
    )
    assert sum(pk.startswith("SERIES#") for pk in holds[0]) == 1
    # one PaymentIntent for the series, the card saved for the balances
    (create,) = payment_intent_creates(stripe_double)
    intent = stripe_client().v1.payment_intents.retrieve(body["payment_intent_id"]).to_dict()
    assert intent["amount"] == 4 * COACHING_DEPOSIT and intent["setup_future_usage"] == "off_session"
    assert intent["metadata"]["series_id"] == body["series"]["series_id"]
    assert intent["metadata"]["booking_id"] == occurrences[0]["booking_id"]
    assert create.idempotency_key == f"series:{body['series']['series_id']}:payment_intent"
    for number, bid in enumerate(occurrence_ids(body), start=1):
        held = booking(bid)
        assert (held.status.value, held.series_id, held.occurrence) == ("HELD", body["series"]["series_id"], number)
        assert held.payment_intent_id == body["payment_intent_id"] and held.customer_id == intent["customer"]


def test_a_taken_date_refuses_the_whole_series_naming_it_and_nothing_is_held(api: ApiClient, monday: date) -> None:
    start = slot_on(api, COACHING, monday + timedelta(days=1), 10)
    third = start + timedelta(weeks=2)
    taken = api.post(
        "/payments/create-intent",
        {"service_id": COACHING, "start": iso(third), "attendee": OTHER, "payment_type": "deposit"},
    )
    assert taken.status == 201, taken.body
    before = len(booking_items())

    refused = series_intent(api, COACHING, start, 4)

    assert refused.status == 409 and refused.error_code == "series_dates_unavailable", refused.body
    unavailable = refused.body["error"]["unavailable"]
    assert [(u["date"], u["reason"]) for u in unavailable] == [(third.date().isoformat(), "taken")]
    assert third.date().isoformat() in refused.body["error"]["message"]
    assert len(booking_items()) == before  # nothing held


def test_the_preview_shows_the_free_dates_and_the_client_books_the_subset(api: ApiClient, monday: date) -> None:
    start = slot_on(api, COACHING, monday + timedelta(days=1), 10)
    third = start + timedelta(weeks=2)
    assert series_intent(api, COACHING, third, 2, attendee=OTHER).status == 201  # weeks 3 and 4 of ours taken

    preview = api.get("/availability/series", service_id=COACHING, start=iso(start), every_weeks=1, count=5)

    assert preview.status == 200, preview.body
    assert [(d["free"], d["reason"]) for d in preview.body["dates"]] == [
        (True, None),
        (True, None),
        (False, "taken"),
        (False, "taken"),
        (True, None),
    ]
    assert preview.body["free"] == 3 and preview.body["payment"] == "per_occurrence"
    skip = [d["date"] for d in preview.body["dates"] if not d["free"]]
    created = series_intent(api, COACHING, start, 5, recurrence={"skip": skip}, payment_type="full")
    assert created.status == 201, created.body
    occurrences = created.body["series"]["occurrences"]
    assert [instant(o["start"]) for o in occurrences] == [start, start + timedelta(weeks=1), start + timedelta(weeks=4)]
    assert [o["occurrence"] for o in occurrences] == [1, 2, 3]
    assert created.body["amount_due_now"] == 3 * COACHING_PRICE and created.body["balance_due"] == 0


def test_a_series_paid_as_a_series_is_charged_in_full_whatever_the_client_asked(api: ApiClient, monday: date) -> None:
    start = slot_on(api, CERAMICS, monday + timedelta(days=1), 10)

    created = series_intent(api, CERAMICS, start, 4)  # asks for a deposit

    assert created.status == 201, created.body
    assert created.body["payment_type"] == "full" and created.body["series"]["payment"] == "series"
    assert created.body["amount_due_now"] == 4 * CERAMICS_PRICE and created.body["balance_due"] == 0
    intent = stripe_client().v1.payment_intents.retrieve(created.body["payment_intent_id"]).to_dict()
    assert intent["amount"] == 4 * CERAMICS_PRICE and not intent.get("setup_future_usage")


# --- paying --------------------------------------------------------------------------------------------------


def test_the_webhook_makes_every_occurrence_paid_each_with_its_own_cal_com_booking(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, monday: date
) -> None:
    start = slot_on(api, COACHING, monday + timedelta(days=1), 10)
    created = series_intent(api, COACHING, start, 4)
    assert created.status == 201, created.body

    delivered = paid_by_webhook(api, stripe_double, created.body)

    assert delivered.status == 200, delivered.body
    occurrences = [booking(bid) for bid in occurrence_ids(created.body)]
    assert [b.status.value for b in occurrences] == ["CONFIRMED"] * 4
    assert [b.amount_paid for b in occurrences] == [COACHING_DEPOSIT] * 4
    assert [b.balance_due for b in occurrences] == [COACHING_DEPOSIT] * 4
    uids = {b.cal_booking_uid for b in occurrences}
    assert len(uids) == 4 and None not in uids
    assert {b["uid"] for b in live_cal_bookings(cal_double)} == uids
    view = api.request("GET", f"/admin/bookings/{occurrences[1].booking_id}", headers=owner_headers())
    assert view.status == 200, view.body
    series = view.body["series"]
    assert (series["occurrence"], series["of"]) == (2, 4)
    assert [o["booking_id"] for o in series["occurrences"]] == occurrence_ids(created.body)


def test_create_token_pays_every_occurrence_verify_confirms_the_first_and_the_cleanup_job_the_rest(
    api: ApiClient, lam: LocalLambda, clock: Clock, monday: date
) -> None:
    start = slot_on(api, CERAMICS, monday + timedelta(days=1), 10)
    created = series_intent(api, CERAMICS, start, 3)
    pay(created.body["payment_intent_id"])

    token = api.create_token(created.body)
    assert token.status == 201, token.body
    assert [booking(b).status.value for b in occurrence_ids(created.body)] == ["PAID"] * 3
    assert api.verify(token.body["token"]).status == 200
    clock.advance(minutes=5)
    run_job(lam, CLEANUP)

    assert [booking(b).status.value for b in occurrence_ids(created.body)] == ["CONFIRMED"] * 3


# --- cancelling: the series half cancelled ---------------------------------------------------------------------


def confirmed_ceramics_series(
    api: ApiClient, stripe_double: StripeDouble, monday: date
) -> tuple[dict[str, Any], list[str]]:
    """Four weekly ceramics workshops from next week's Tuesday, paid in full as a series, confirmed."""
    start = slot_on(api, CERAMICS, monday + timedelta(days=8), 10)
    created = series_intent(api, CERAMICS, start, 4)
    assert created.status == 201, created.body
    assert paid_by_webhook(api, stripe_double, created.body).status == 200
    return created.body, manage_tokens(api, created.body)


def test_a_series_half_cancelled_refunds_each_occurrence_by_the_policy_around_a_dashboard_refund(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, monday: date
) -> None:
    intent, tokens = confirmed_ceramics_series(api, stripe_double, monday)
    pi, ids = intent["payment_intent_id"], occurrence_ids(intent)

    # Occurrence 2, 8 days ahead: free cancellation, its whole share back.
    early = api.post("/bookings/manage/cancel", {"token": tokens[1]})
    assert early.status == 200, early.body
    # A person refunds 30.00 in the Stripe Dashboard; its webhook settles the series.
    stripe_double.dashboard_refund(payment_intent=pi, amount=3000)
    refunded = stripe_event(stripe_double, "charge.refunded", booking(ids[0]).charge_id)
    assert deliver_stripe(api, stripe_double, refunded["id"]).status == 200
    # A day before occurrence 3 (inside its 48 h): "this and the rest" from occurrence 3.
    travel_to(clock, instant(intent["series"]["occurrences"][2]["start"]) - timedelta(hours=24))
    rest = api.post("/bookings/manage/series/cancel", {"token": tokens[2]})  # from its own link's occurrence

    assert rest.status == 200, rest.body
    assert [o["status"] for o in rest.body["occurrences"]] == ["confirmed", "cancelled", "cancelled", "cancelled"]
    assert sorted(refunds_on(pi), key=lambda r: ids.index(r["booking_id"]) if r["booking_id"] else -1) == [
        {"amount": 3000, "booking_id": None},  # the Dashboard's: allocated to occurrence 4 (latest first)
        {"amount": CERAMICS_PRICE, "booking_id": ids[1]},  # occurrence 2: early, its full share
        {"amount": CERAMICS_PRICE - CERAMICS_LATE_FEE, "booking_id": ids[2]},  # occurrence 3: late, share less fee
        {"amount": CERAMICS_PRICE - 3000, "booking_id": ids[3]},  # occurrence 4: early, less the Dashboard's
    ]
    assert [booking(b).amount_refunded for b in ids] == [
        0,
        CERAMICS_PRICE,
        CERAMICS_PRICE - CERAMICS_LATE_FEE,
        CERAMICS_PRICE,
    ]
    assert booking(ids[0]).status.value == "CONFIRMED"
    # Settled again (the money sweep, another webhook): nothing more moves.
    for bid in ids:
        assert api.request("GET", f"/admin/bookings/{bid}", headers=owner_headers()).status == 200
    stripe_double.dashboard_refund(payment_intent=pi, amount=100)  # one more: allocated, never refunded again
    again = stripe_event(stripe_double, "charge.refunded", booking(ids[0]).charge_id)
    assert deliver_stripe(api, stripe_double, again["id"]).status == 200
    assert len(refunds_on(pi)) == 5
    assert sum(booking(b).amount_refunded for b in ids) == 4 * CERAMICS_PRICE - CERAMICS_PRICE - CERAMICS_LATE_FEE + 100


def test_concurrent_cancellations_of_one_occurrence_refund_it_once(
    api: ApiClient, stripe_double: StripeDouble, monday: date
) -> None:
    intent, tokens = confirmed_ceramics_series(api, stripe_double, monday)
    barrier = threading.Barrier(3)

    def cancel(path: str, body: dict[str, Any]) -> ApiResponse:
        barrier.wait(timeout=10)
        return api.post(path, body)

    workers = [
        Worker(lambda: cancel("/bookings/manage/cancel", {"token": tokens[1]})),
        Worker(lambda: cancel("/bookings/manage/cancel", {"token": tokens[1]})),
        Worker(lambda: cancel("/bookings/manage/series/cancel", {"token": tokens[0], "from_occurrence": 2})),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert all(w.error is None for w in workers), [w.error for w in workers]
    assert any(w.result.status == 200 for w in workers), [w.result.body for w in workers]
    ids = occurrence_ids(intent)
    refunds = refunds_on(intent["payment_intent_id"])
    assert [r for r in refunds if r["booking_id"] == ids[1]] == [{"amount": CERAMICS_PRICE, "booking_id": ids[1]}]
    assert booking(ids[1]).amount_refunded == CERAMICS_PRICE


def test_a_refund_whose_answer_was_lost_is_not_made_again_after_stripe_forgot_its_key(
    api: ApiClient,
    stripe_double: StripeDouble,
    lam: LocalLambda,
    clock: Clock,
    monday: date,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intent, tokens = confirmed_ceramics_series(api, stripe_double, monday)
    ids = occurrence_ids(intent)

    def answer_lost(send: Any, method: str, path: str, url: str, body: str) -> Any:
        response = send()
        if method == "POST" and path == "/v1/refunds":
            raise requests.exceptions.ReadTimeout("the answer was lost (test fault)")
        return response

    with monkeypatch.context() as patched:
        on_stripe_http(patched, answer_lost)
        lost = api.post("/bookings/manage/cancel", {"token": tokens[1]})
    assert lost.status == 503, lost.body  # cancelled; the refund's answer never came: owed, for the sweep
    assert booking(ids[1]).status.value == "CANCELLED"
    clock.advance(hours=25)  # Stripe has forgotten the Idempotency-Key
    run_job(lam, CLEANUP)  # the money sweep settles the occurrence again

    refunds = refunds_on(intent["payment_intent_id"])
    assert refunds == [{"amount": CERAMICS_PRICE, "booking_id": ids[1]}]
    assert booking(ids[1]).amount_refunded == CERAMICS_PRICE
    assert booking(ids[1]).money_state is None


def test_a_retried_request_answers_the_same_series_and_one_payment(
    api: ApiClient, stripe_double: StripeDouble, monday: date
) -> None:
    start = slot_on(api, CERAMICS, monday + timedelta(days=1), 10)
    body = {
        "service_id": CERAMICS,
        "start": iso(start),
        "attendee": ATTENDEE,
        "payment_type": "full",
        "recurrence": {"every_weeks": 1, "count": 3},
    }
    key = {"Idempotency-Key": "series-retry-1"}

    first = api.post("/payments/create-intent", body, headers=key)
    again = api.post("/payments/create-intent", body, headers=key)

    assert first.status == 201 and again.status == 201, (first.body, again.body)
    assert again.body["series"] == first.body["series"]
    assert again.body["payment_intent_id"] == first.body["payment_intent_id"]
    assert len(payment_intent_creates(stripe_double)) == 1
    assert len(booking_items()) == 3


def test_each_occurrence_collects_its_own_balance_from_the_card_saved_with_the_series(
    api: ApiClient, stripe_double: StripeDouble, monday: date
) -> None:
    start = slot_on(api, COACHING, monday + timedelta(days=1), 10)
    created = series_intent(api, COACHING, start, 3)
    assert paid_by_webhook(api, stripe_double, created.body).status == 200
    second = occurrence_ids(created.body)[1]

    collected = api.post(
        f"/admin/bookings/{second}/collect-balance",
        {"method": "card_on_file"},
        headers=owner_headers() | {"Idempotency-Key": "balance-of-2"},
    )

    assert collected.status == 200, collected.body
    assert collected.body["collection"]["outcome"] == "paid"
    assert collected.body["booking"]["payment"]["amount_paid"] == COACHING_PRICE
    balances = [
        i.to_dict()
        for i in stripe_client().v1.payment_intents.list(params={"limit": 100}).data
        if (i.to_dict().get("metadata") or {}).get("purpose") == "balance"
    ]
    assert [(b["amount"], b["metadata"]["booking_id"]) for b in balances] == [(COACHING_DEPOSIT, second)]
    assert [booking(b).balance_due for b in occurrence_ids(created.body)] == [COACHING_DEPOSIT, 0, COACHING_DEPOSIT]


def test_the_owner_cancels_the_rest_of_a_series_each_occurrence_refunded_as_chosen(
    api: ApiClient, stripe_double: StripeDouble, monday: date
) -> None:
    intent, _ = confirmed_ceramics_series(api, stripe_double, monday)
    ids = occurrence_ids(intent)

    response = api.post(
        f"/admin/bookings/{ids[2]}/cancel",
        {"reason": "the studio closes for the season", "refund": "full", "series": "rest"},
        headers=owner_headers() | {"Idempotency-Key": "close-season"},
    )

    assert response.status == 200, response.body
    assert response.body["refunded"] == 2 * CERAMICS_PRICE
    assert [booking(b).status.value for b in ids] == ["CONFIRMED", "CONFIRMED", "CANCELLED", "CANCELLED"]
    assert sorted(refunds_on(intent["payment_intent_id"]), key=lambda r: ids.index(r["booking_id"])) == [
        {"amount": CERAMICS_PRICE, "booking_id": ids[2]},
        {"amount": CERAMICS_PRICE, "booking_id": ids[3]},
    ]


def test_the_preview_reads_calcom_from_the_shared_cache_not_once_per_date(
    api: ApiClient, cal_double: CalDouble, monday: date
) -> None:
    from booking.domain.catalog import get_catalog

    def slots_calls() -> int:
        return sum(1 for entry in cal_double.request_log if entry.path == "/v2/slots")

    # Given a weekly series of six dates
    start = slot_on(api, COACHING, monday + timedelta(days=1), 10)
    before = slots_calls()

    # When five visitors preview it
    previews = [
        api.get("/availability/series", service_id=COACHING, start=iso(start), every_weeks=1, count=6) for _ in range(5)
    ]

    # Then every date is free for each, and Cal.com was asked once at most for all of them (the weeks not yet cached)
    assert all(p.status == 200 and p.body["free"] == 6 for p in previews), previews[0].body
    assert slots_calls() - before <= 1

    # And a date taken at Cal.com since shows as not offered once its webhook marked the week stale
    taken = start + timedelta(weeks=3)
    event_type = get_catalog().service(COACHING).cal_event_type_id
    uid = str(cal_double.take_slot(event_type, taken, emit_webhook=False)["uid"])
    assert deliver_cal(api, cal_double, "BOOKING_CREATED", uid).status == 200
    again = api.get("/availability/series", service_id=COACHING, start=iso(start), every_weeks=1, count=6)
    assert [(d["free"], d["reason"]) for d in again.body["dates"]][3] == (False, "not_offered")
