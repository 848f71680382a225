"""Issue 9, failures 1-10: Stripe is the ledger. Every refund, payout and reversal is decided from what Stripe
says already moved (refunds made in the Dashboard included), once, whatever runs at the same time.

Each test names the failure of issue 9 it guards against. Races are reproduced deterministically: a hook on the
Stripe HTTP transport (the real `stripe` client's requests) or on PynamoDB's `Connection.dispatch` (every DynamoDB
call) holds one invocation at the exact point where the other must happen, with timeouts so a product that never
reaches that point only waits, never hangs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import MONDAY, iso, local, next_weekday, product_now, scan_table, travel_to
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    Worker,
    alerts,
    booking,
    deliver_cal,
    deliver_stripe,
    owner_headers,
    run_job,
    stripe_client,
    stripe_event,
)

CLEANUP = "ExpireHoldsFunction"
PAYOUTS = "PayoutsCronFunction"
OWNER = owner_headers()
ATTENDEE_EMAIL = "ada@example.com"

# signature-facial: 16500 usd, 50% deposit (8250), free until 24 h, then a fee of 50% of the price
FACIAL_PRICE = 16500
FACIAL_DEPOSIT = 8250
FACIAL_LATE_FEE = FACIAL_PRICE * 50 // 100  # 8250

BROW = "brow-lamination"  # 8999 usd, 50% deposit, provider acct_1LocalBrowArtist gets 80% 72 h after payment
BROW_DEPOSIT = 4500
PROVIDER = "acct_1LocalBrowArtist"
PROVIDER_PERCENT = 80


def provider_share(captured: int, returned: int) -> int:
    """The contract's rule: provider_share_percent * (captured - returned) // 100."""
    return PROVIDER_PERCENT * (captured - returned) // 100


# --- the owner's view and Stripe's objects ---------------------------------------------------------------------


def owner_view(api: ApiClient, booking_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/admin/bookings/{booking_id}", headers=OWNER)
    assert response.status == 200, response.body
    return response.body


def flag_codes(view: dict[str, Any]) -> set[str]:
    return {flag["code"] for flag in view["flags"]}


def recorded_refund_ids(view: dict[str, Any]) -> list[str]:
    return [refund["refund_id"] for refund in view["refunds"]]


def stripe_refunds(payment_intent_id: str) -> list[Any]:
    return stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100}).data


def refunded_amounts(payment_intent_id: str) -> list[int]:
    """Amounts of the refunds that count as money returned (succeeded or pending), sorted."""
    return sorted(r.amount for r in stripe_refunds(payment_intent_id) if r.status in ("succeeded", "pending"))


def transfers(booking_id: str) -> list[Any]:
    return stripe_client().v1.transfers.list(params={"transfer_group": f"booking_{booking_id}", "limit": 100}).data


def net_transferred(booking_id: str) -> int:
    """What the provider keeps: every transfer of the booking net of its reversals, as Stripe has it."""
    return sum(t.amount - t.amount_reversed for t in transfers(booking_id))


def dashboard_refund(payment_intent_id: str, amount: int) -> Any:
    """A person refunds in the Stripe Dashboard: no metadata of ours, no Idempotency-Key of ours."""
    return stripe_client().v1.refunds.create(params={"payment_intent": payment_intent_id, "amount": amount})


def charge_events(stripe_double: StripeDouble, event_type: str, charge_id: str) -> list[dict[str, Any]]:
    return [e for e in stripe_double.events if e["type"] == event_type and e["data"]["object"]["id"] == charge_id]


def inbox_items(event_type: str) -> list[dict[str, Any]]:
    """The webhook inbox items (DynamoDB JSON) of one event type."""
    return [
        item
        for item in scan_table()
        if item["pk"]["S"].startswith("EVENT#") and item.get("event_type", {}).get("S") == event_type
    ]


def inbox_state(item: dict[str, Any]) -> str | None:
    return item.get("inbox_state", {}).get("S")


def attempts(item: dict[str, Any]) -> int:
    return int(item["attempts"]["N"])


def set_aside(item: dict[str, Any]) -> bool:
    """Off the pending queue and marked failed (inbox state FAILED, or the time it was set aside)."""
    return inbox_state(item) != "PENDING" and (inbox_state(item) == "FAILED" or "failed_at" in item)


# --- time, bookings ----------------------------------------------------------------------------------------------


def monday_at(clock: Clock, hour: int) -> date:
    """Travel to a coming Monday at `hour`:00 business time; the week's weekdays are open 9-17."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, hour))
    return monday


def cancel_in_cal(cal_double: CalDouble, uid: str) -> None:
    """The client cancels in Cal.com's UI (Cal.com then posts BOOKING_CANCELLED once, when the test says so)."""
    cal_double.cancel_booking(uid, "cannot make it", ATTENDEE_EMAIL)


def later(clock: Clock, minutes: float = 5) -> None:
    clock.advance(minutes=minutes)


# --- deterministic interleavings -------------------------------------------------------------------------------


StripeHook = Callable[[Callable[[], requests.Response], str, str, str, str], requests.Response]
DynamoHook = Callable[[Callable[[], dict[str, Any]], str, dict[str, Any]], dict[str, Any]]


def on_stripe_http(patched: pytest.MonkeyPatch, hook: StripeHook) -> None:
    """Route every HTTP call to the Stripe double through hook(send, method, path, url, body)."""
    base = os.environ["STRIPE_API_BASE"]
    real = requests.Session.request

    def request(self: requests.Session, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        def send() -> requests.Response:
            return real(self, method, url, *args, **kwargs)

        if not str(url).startswith(base):
            return send()
        body = kwargs.get("data")
        text = body.decode() if isinstance(body, bytes) else str(body or "")
        return hook(send, method.upper(), urlsplit(str(url)).path, str(url), text)

    patched.setattr(requests.Session, "request", request)


def on_dynamodb(patched: pytest.MonkeyPatch, hook: DynamoHook) -> None:
    """Route every DynamoDB call of the product (PynamoDB) through hook(call, operation, kwargs)."""
    from pynamodb.connection.base import Connection

    real = Connection.dispatch

    def dispatch(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        return hook(lambda: real(self, operation_name, operation_kwargs), operation_name, operation_kwargs)

    patched.setattr(Connection, "dispatch", dispatch)


def item_key(operation_kwargs: dict[str, Any]) -> str:
    return str(operation_kwargs.get("Key", {}).get("pk", {}).get("S", ""))


def unreachable_for(patched: pytest.MonkeyPatch, *needles: str) -> None:
    """Every Stripe call about these objects (in its URL or body) fails: the connection is refused."""

    def hook(send: Callable[[], requests.Response], method: str, path: str, url: str, body: str) -> requests.Response:
        if any(needle in url or needle in body for needle in needles):
            raise requests.exceptions.ConnectionError(f"Stripe unreachable for {needles} (test fault)")
        return send()

    on_stripe_http(patched, hook)


# === failure 1 =================================================================================================


def test_failure_1_a_dashboard_refund_counts_against_a_late_cancellation(
    api: ApiClient, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 1 (late case): the refund cap ignored refunds made outside our code.

    Given a signature facial paid in full (16500) and 8250 refunded by the owner in the Stripe Dashboard
      (no metadata of ours; its charge.refunded not delivered yet: Stripe, not our cache, is the ledger)
    When the client cancels in Cal.com 2 h before the start (late: the business keeps 50% of 16500 = 8250)
    Then we refund nothing more: Stripe holds only the Dashboard refund, and the business keeps its fee
    """
    monday = monday_at(clock, 8)
    start = local(monday + timedelta(days=1), 10)
    confirmed = api.confirmed_booking(payment_type="full", start=iso(start))
    pi, uid = confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    assert owner_view(api, confirmed["booking_id"])["payment"]["amount_paid"] == FACIAL_PRICE
    by_owner = dashboard_refund(pi, FACIAL_PRICE - FACIAL_LATE_FEE)

    travel_to(clock, start - timedelta(hours=2))
    cancel_in_cal(cal_double, uid)
    response = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid)

    assert response.status == 200, response.body
    assert refunded_amounts(pi) == [FACIAL_PRICE - FACIAL_LATE_FEE]
    assert sum(refunded_amounts(pi)) == FACIAL_PRICE - FACIAL_LATE_FEE  # the 8250 fee stays with the business
    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert set(recorded_refund_ids(view)) <= {by_owner.id}  # no refund of ours was made


def test_failure_1_b_an_early_cancellation_refunds_what_the_dashboard_left(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 1 (early case): 5000 refunded in the Dashboard made every cancellation refund 502 amount_too_large.

    Given a signature facial paid in full (16500) of which the owner refunded 5000 in the Stripe Dashboard
      (its charge.refunded delivered)
    When the client cancels in Cal.com 3 days before the start (free: everything paid goes back)
    Then the webhook succeeds and we refund exactly the 11500 the Dashboard left, once, recorded on the booking
    """
    monday = monday_at(clock, 8)
    confirmed = api.confirmed_booking(payment_type="full", start=iso(local(monday + timedelta(days=3), 10)))
    pi, uid = confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    charge = owner_view(api, confirmed["booking_id"])["payment"]["charge_id"]
    by_owner = dashboard_refund(pi, 5000)
    assert (
        deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.refunded", charge)["id"]).status == 200
    )

    cancel_in_cal(cal_double, uid)
    response = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid)

    assert response.status == 200, response.body
    assert refunded_amounts(pi) == [5000, FACIAL_PRICE - 5000]
    ours = [r for r in stripe_refunds(pi) if r.id != by_owner.id]
    assert [r.amount for r in ours] == [11500]
    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert recorded_refund_ids(view).count(ours[0].id) == 1


# === failure 2 =================================================================================================


def test_failure_2_a_refund_whose_answer_was_lost_is_adopted_25_hours_later(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 2: a refund whose DynamoDB record was lost was made a second time after Stripe's 24 h key window.

    Given a signature facial paid in full (16500), cancelled by the client 2 h before the start (refund 8250 owed)
      and Stripe making our refund while its answer never reaches us (both tries time out): nothing recorded
    When the cleanup job handles the cancellation again 25 h later (Stripe has forgotten the Idempotency-Key)
    Then Stripe still holds one refund of 8250: the earlier one was found by its purpose and recorded once
    """
    monday = monday_at(clock, 8)
    start = local(monday + timedelta(days=1), 10)
    confirmed = api.confirmed_booking(payment_type="full", start=iso(start))
    pi, uid = confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    travel_to(clock, start - timedelta(hours=2))
    cancel_in_cal(cal_double, uid)

    def answer_lost(send: Callable[[], requests.Response], method: str, path: str, url: str, body: str) -> Any:
        response = send()  # Stripe executes the call ...
        if method == "POST" and path == "/v1/refunds":
            raise requests.exceptions.ReadTimeout("the answer was lost (test fault)")  # ... the caller never hears
        return response

    with monkeypatch.context() as patched:
        on_stripe_http(patched, answer_lost)
        deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid)
    [made] = stripe_refunds(pi)
    assert made.amount == FACIAL_PRICE - FACIAL_LATE_FEE

    clock.advance(hours=25)
    run_job(lam, CLEANUP)
    later(clock, 30)
    run_job(lam, CLEANUP)

    assert [(r.id, r.amount) for r in stripe_refunds(pi)] == [(made.id, 8250)]
    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert recorded_refund_ids(view) == [made.id]


# === failure 3 =================================================================================================


@pytest.mark.parametrize("landing", ["dispute", "refund"])
def test_failure_3_money_landing_while_the_payout_run_reads_its_queue_is_seen(
    api: ApiClient,
    lam: LocalLambda,
    stripe_double: StripeDouble,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    landing: str,
) -> None:
    """Failure 3: payouts were decided on the index copy; a dispute or refund landing meanwhile was ignored.

    Given a brow lamination deposit (4500) whose provider payout is due (72 h passed)
    When a dispute (or a refund of 500 in the Dashboard) lands and its webhook is handled just after the payout run
      has read its queue (the PayoutIndex copy) and before it decides
    Then the provider is paid from the truth: nothing while the dispute is open (payout BLOCKED, flagged), or
      80% of (4500 - 500) = 3200, never 3600
    """
    confirmed = api.confirmed_booking(service_id=BROW)
    booking_id = confirmed["booking_id"]
    view = owner_view(api, booking_id)
    assert view["payment"]["amount_paid"] == BROW_DEPOSIT
    charge = view["payment"]["charge_id"]
    clock.advance(hours=73)

    def money_lands() -> None:
        if landing == "dispute":
            dispute = stripe_double.create_dispute(charge)
            event = stripe_event(stripe_double, "charge.dispute.created", dispute["id"])
        else:
            dashboard_refund(confirmed["payment_intent_id"], 500)
            event = stripe_event(stripe_double, "charge.refunded", charge)
        assert deliver_stripe(api, stripe_double, event["id"]).status == 200

    job_thread = threading.get_ident()
    landed = threading.Event()
    interferers: list[Worker] = []

    def after_queue_read(call: Callable[[], dict[str, Any]], operation: str, kwargs: dict[str, Any]) -> Any:
        result = call()
        if (
            operation == "Query"
            and threading.get_ident() == job_thread
            and not landed.is_set()
            and any(item.get("pk", {}).get("S") == f"BOOKING#{booking_id}" for item in result.get("Items", []))
        ):
            landed.set()
            worker = Worker(money_lands)
            interferers.append(worker)
            worker.start()
            worker.join(60)
        return result

    with monkeypatch.context() as patched:
        on_dynamodb(patched, after_queue_read)
        run_job(lam, PAYOUTS)
    assert landed.is_set(), "the payout run never read a queue holding the booking"
    assert [w.error for w in interferers] == [None]
    clock.advance(hours=1)
    run_job(lam, PAYOUTS)

    if landing == "dispute":
        assert net_transferred(booking_id) == 0
        assert booking(booking_id).payout_state == "BLOCKED"
        assert "disputed" in flag_codes(owner_view(api, booking_id))
    else:
        assert net_transferred(booking_id) == provider_share(BROW_DEPOSIT, 500) == 3200


# === failure 4 =================================================================================================


def test_failure_4_a_reversal_after_an_earlier_refund_takes_the_share_of_what_is_left(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock
) -> None:
    """Failure 4: a reversal after a refund made before the payout took the wrong share (933 instead of 400).

    Given a brow lamination deposit (4500), 1000 refunded in the Dashboard before the payout, and the provider
      paid 80% of 3500 = 2800
    When a further 500 is refunded in the Dashboard (charge.refunded delivered)
    Then the transfer is reversed by 400, down to 80% of (4500 - 1500) = 2400
    """
    confirmed = api.confirmed_booking(service_id=BROW)
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    charge = owner_view(api, booking_id)["payment"]["charge_id"]
    dashboard_refund(pi, 1000)
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.refunded", charge)["id"])
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    [transfer] = transfers(booking_id)
    assert (transfer.amount, transfer.destination) == (provider_share(BROW_DEPOSIT, 1000), PROVIDER)  # 2800

    dashboard_refund(pi, 500)
    response = deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.refunded", charge)["id"])
    later(clock)
    run_job(lam, CLEANUP)

    assert response.status == 200, response.body
    [transfer] = transfers(booking_id)
    assert transfer.amount_reversed == provider_share(BROW_DEPOSIT, 1000) - provider_share(BROW_DEPOSIT, 1500) == 400
    assert net_transferred(booking_id) == provider_share(BROW_DEPOSIT, 1500) == 2400


# === failure 5 =================================================================================================


def test_failure_5_two_refunds_handled_at_once_reverse_the_share_once(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 5: two refunds handled at once reversed too much (2400 instead of 1600).

    Given a brow lamination deposit (4500) whose provider was paid 3600, then two refunds of 1000 in the Dashboard
    When their two charge.refunded events are handled at once (the second arrives while the first one's reversal
      is on its way to Stripe)
    Then the transfers net of reversals come down to 80% of (4500 - 2000) = 2000: 1600 reversed in all
    """
    confirmed = api.confirmed_booking(service_id=BROW)
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    charge = owner_view(api, booking_id)["payment"]["charge_id"]
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    assert net_transferred(booking_id) == provider_share(BROW_DEPOSIT, 0) == 3600
    dashboard_refund(pi, 1000)
    dashboard_refund(pi, 1000)
    first, second = charge_events(stripe_double, "charge.refunded", charge)[-2:]

    reversal_posts: list[int] = []
    lock = threading.Lock()
    first_waiting, second_sent = threading.Event(), threading.Event()

    def reversals_cross(send: Callable[[], requests.Response], method: str, path: str, url: str, body: str) -> Any:
        if method == "POST" and path.endswith("/reversals"):
            with lock:
                reversal_posts.append(threading.get_ident())
                number = len(reversal_posts)
            if number == 1:
                first_waiting.set()
                second_sent.wait(3)  # hold the first reversal until the second one is sent (or 3 s)
            else:
                second_sent.set()
        return send()

    with monkeypatch.context() as patched:
        on_stripe_http(patched, reversals_cross)
        worker = Worker(lambda: deliver_stripe(api, stripe_double, first["id"]))
        worker.start()
        first_waiting.wait(10)
        deliver_stripe(api, stripe_double, second["id"])
        worker.join(60)
    for event in (first, second):  # Stripe redelivers whatever was not answered 2xx
        deliver_stripe(api, stripe_double, event["id"])
    later(clock)
    run_job(lam, CLEANUP)

    [transfer] = transfers(booking_id)
    assert transfer.amount_reversed == provider_share(BROW_DEPOSIT, 0) - provider_share(BROW_DEPOSIT, 2000) == 1600
    assert net_transferred(booking_id) == provider_share(BROW_DEPOSIT, 2000) == 2000


# === failure 6 =================================================================================================


def test_failure_6_one_stripe_refund_recorded_by_two_workers_is_recorded_once(
    api: ApiClient,
    lam: LocalLambda,
    stripe_double: StripeDouble,
    cal_double: CalDouble,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Failure 6: one Stripe refund was recorded twice when two workers recorded it.

    Given a signature facial paid in full (16500) cancelled 2 h before the start (refund 8250 owed), and its
      BOOKING_CANCELLED handled by two workers at once; Stripe's charge.refunded is handled after both sent the
      refund, and both read the booking before either records it
    When both record the refund
    Then Stripe holds one refund of 8250 and the booking lists it once
    """
    monday = monday_at(clock, 8)
    start = local(monday + timedelta(days=1), 10)
    confirmed = api.confirmed_booking(payment_type="full", start=iso(start))
    booking_id, pi, uid = confirmed["booking_id"], confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    charge = owner_view(api, booking_id)["payment"]["charge_id"]
    travel_to(clock, start - timedelta(hours=2))
    cancel_in_cal(cal_double, uid)
    raw, headers = cal_double.build_webhook("BOOKING_CANCELLED", uid, secret=os.environ["CAL_WEBHOOK_SECRET"])

    workers: set[int] = set()
    refund_posts: list[int] = []
    posted = threading.Condition()
    go = threading.Event()
    both_read = threading.Barrier(2)
    read_after_go: set[int] = set()

    def deliver() -> ApiResponse:
        workers.add(threading.get_ident())
        return api.request("POST", "/webhooks/cal", raw=raw, headers=headers)

    def refund_sent(send: Callable[[], requests.Response], method: str, path: str, url: str, body: str) -> Any:
        response = send()
        if method == "POST" and path == "/v1/refunds" and threading.get_ident() in workers:
            with posted:
                refund_posts.append(threading.get_ident())
                posted.notify_all()
            go.wait(15)
        return response

    def reads_meet(call: Callable[[], dict[str, Any]], operation: str, kwargs: dict[str, Any]) -> Any:
        result = call()
        ident = threading.get_ident()
        if (
            go.is_set()
            and ident in workers
            and ident not in read_after_go
            and operation == "GetItem"
            and item_key(kwargs) == f"BOOKING#{booking_id}"
        ):
            read_after_go.add(ident)
            with suppress(threading.BrokenBarrierError):
                both_read.wait(2)  # both workers have read the booking before either writes
        return result

    with monkeypatch.context() as patched:
        on_stripe_http(patched, refund_sent)
        on_dynamodb(patched, reads_meet)
        pair = [Worker(deliver), Worker(deliver)]
        for worker in pair:
            worker.start()
        with posted:
            posted.wait_for(lambda: len(refund_posts) >= 2, timeout=3)
        refunded = charge_events(stripe_double, "charge.refunded", charge)
        if refunded:
            deliver_stripe(api, stripe_double, refunded[-1]["id"])
        go.set()
        for worker in pair:
            worker.join(60)
    api.request("POST", "/webhooks/cal", raw=raw, headers=headers)  # had one failed, its retry changes nothing
    later(clock)
    run_job(lam, CLEANUP)

    [made] = stripe_refunds(pi)
    assert made.amount == FACIAL_PRICE - FACIAL_LATE_FEE
    view = owner_view(api, booking_id)
    assert recorded_refund_ids(view) == [made.id]
    assert view["payment"]["amount_refunded"] == 8250


# === failure 7 =================================================================================================


def test_failure_7_a_poisoned_event_is_set_aside_after_8_attempts_and_its_booking_flagged(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 7 (attempts): nothing capped the attempts of a failing event or flagged its booking.

    Given a cancellation whose handling keeps failing (every Stripe call about its payment is refused)
    When the cleanup job runs every 2 h for up to 6 days
    Then after 8 attempts the event is set aside (inbox state FAILED, off the pending queue), its booking is
      flagged webhook_failed, and later runs no longer retry the event
    """
    monday = monday_at(clock, 8)
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=3), 10)))
    booking_id, pi, uid = confirmed["booking_id"], confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    charge = owner_view(api, booking_id)["payment"]["charge_id"]
    cancel_in_cal(cal_double, uid)

    with monkeypatch.context() as patched:
        unreachable_for(patched, pi, charge)
        deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid)
        for _ in range(72):
            clock.advance(hours=2)
            run_job(lam, CLEANUP)
            if "webhook_failed" in flag_codes(owner_view(api, booking_id)):
                break
        [event] = inbox_items("BOOKING_CANCELLED")
        clock.advance(hours=12)
        run_job(lam, CLEANUP)
        run_job(lam, CLEANUP)
        [still] = inbox_items("BOOKING_CANCELLED")

    assert "webhook_failed" in flag_codes(owner_view(api, booking_id))
    assert (set_aside(event), attempts(event)) == (True, 8)
    assert (set_aside(still), attempts(still)) == (True, 8)  # never retried again


STUCK_EVENTS_PER_BOOKING = 10


def test_failure_7_events_failing_forever_never_starve_a_newer_one(
    api: ApiClient,
    lam: LocalLambda,
    stripe_double: StripeDouble,
    cal_double: CalDouble,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Failure 7 (starvation): the job took the oldest 100 pending events, so stuck ones starved newer ones.

    Given 100 cancellation events that keep failing (10 bookings, 10 events each; Stripe refuses every call about
      their payments) and, after them, the cancellation of another booking that failed once (Stripe was down for
      a moment)
    When the cleanup job runs a few times, minutes apart
    Then the other booking gets its refund of 8250 all the same
    """
    monday_at(clock, 8)
    starts = [slot["start"] for slot in api.free_slots()][:11]
    assert len(starts) == 11
    *stuck, other = [api.confirmed_booking(start=start) for start in starts]
    needles = [
        needle
        for confirmed in stuck
        for needle in (confirmed["payment_intent_id"], owner_view(api, confirmed["booking_id"])["payment"]["charge_id"])
    ]
    for confirmed in [*stuck, other]:
        cancel_in_cal(cal_double, confirmed["cal_booking_uid"])

    with monkeypatch.context() as patched:
        unreachable_for(patched, *needles)
        sent = product_now()
        for n in range(STUCK_EVENTS_PER_BOOKING):
            for confirmed in stuck:
                uid = confirmed["cal_booking_uid"]
                deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=sent - timedelta(seconds=n))
        assert len(inbox_items("BOOKING_CANCELLED")) == 100
        stripe_double.set_down(True)
        failed = deliver_cal(api, cal_double, "BOOKING_CANCELLED", other["cal_booking_uid"])
        stripe_double.set_down(False)
        assert failed.status >= 500  # the premise: the newer event failed once and waits in the inbox
        for _ in range(4):
            later(clock, 10)
            run_job(lam, CLEANUP)
            if refunded_amounts(other["payment_intent_id"]):
                break

    assert refunded_amounts(other["payment_intent_id"]) == [FACIAL_DEPOSIT]
    assert owner_view(api, other["booking_id"])["status"] == "CANCELLED"


def test_failure_7_an_event_too_old_to_handle_is_marked_processed_and_the_owed_refund_swept(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 7 (ignored events, owed refunds): an aged Cal.com event was "ignored" but stayed pending forever,
    and the refund its cancellation owed silently never happened.

    Given a cancellation 3 days before the start whose handling failed (Stripe down): the booking is cancelled,
      its refund of 8250 owed, the event pending
    When the cleanup job next runs 8 days later (the event is now too old to be told apart from a replay)
    Then the event leaves the pending queue (marked processed) and the job's sweep makes the owed refund, once
    """
    monday = monday_at(clock, 8)
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=3), 10)))
    pi, uid = confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    cancel_in_cal(cal_double, uid)
    stripe_double.set_down(True)
    failed = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid)
    stripe_double.set_down(False)
    assert failed.status >= 500

    clock.advance(days=8)
    run_job(lam, CLEANUP)
    later(clock, 10)
    run_job(lam, CLEANUP)

    [event] = inbox_items("BOOKING_CANCELLED")
    assert inbox_state(event) != "PENDING"
    assert refunded_amounts(pi) == [FACIAL_DEPOSIT]
    assert owner_view(api, confirmed["booking_id"])["status"] == "CANCELLED"


# === failure 8 =================================================================================================


def _cancelled_and_refunded(api: ApiClient, cal_double: CalDouble, clock: Clock) -> dict[str, Any]:
    """A signature facial deposit (8250) cancelled 3 days ahead: our refund of 8250 made."""
    monday = monday_at(clock, 8)
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=3), 10)))
    cancel_in_cal(cal_double, confirmed["cal_booking_uid"])
    assert deliver_cal(api, cal_double, "BOOKING_CANCELLED", confirmed["cal_booking_uid"]).status == 200
    assert refunded_amounts(confirmed["payment_intent_id"]) == [FACIAL_DEPOSIT]
    return confirmed


def _refund_fails_at_the_bank(api: ApiClient, stripe_double: StripeDouble, refund_id: str) -> None:
    stripe_double.fail_refund(refund_id, "expired_or_canceled_card")
    for event_type in ("charge.refund.updated", "refund.updated", "refund.failed"):
        response = deliver_stripe(api, stripe_double, stripe_event(stripe_double, event_type, refund_id)["id"])
        assert response.status == 200, (event_type, response.body)


def test_failure_8_a_refund_failing_later_is_flagged_alerted_and_retried_once(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 8: a refund that failed later (charge.refund.updated -> failed) still counted as paid back.

    Given a cancelled signature facial deposit whose refund of 8250 was made
    When the refund fails at the bank (charge.refund.updated, refund.updated and refund.failed delivered)
    Then the booking is flagged refund_failed, the owner is alerted, and a new refund of 8250 is made, once
    """
    confirmed = _cancelled_and_refunded(api, cal_double, clock)
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    [first] = stripe_refunds(pi)
    alerts_before = len(alerts())

    _refund_fails_at_the_bank(api, stripe_double, first.id)
    later(clock)
    run_job(lam, CLEANUP)
    later(clock)
    run_job(lam, CLEANUP)

    view = owner_view(api, booking_id)
    assert "refund_failed" in flag_codes(view)
    told = [a for a in alerts()[alerts_before:] if booking_id in a["subject"]]
    assert any("fail" in (a["subject"] + a["message"]).lower() for a in told), told
    assert sorted((r.amount, r.status) for r in stripe_refunds(pi)) == [(8250, "failed"), (8250, "succeeded")]


def test_failure_8_a_retried_refund_that_fails_again_is_not_retried_again(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 8 (the one retry): after the retry fails too, no more automatic refunds; the flag stays.

    Given a cancelled signature facial deposit whose refund of 8250 failed at the bank and was retried once
    When the retry fails at the bank as well
    Then no third refund is made, however often the jobs run, and the booking stays flagged refund_failed
    """
    confirmed = _cancelled_and_refunded(api, cal_double, clock)
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    [first] = stripe_refunds(pi)
    _refund_fails_at_the_bank(api, stripe_double, first.id)
    later(clock)
    run_job(lam, CLEANUP)
    retries = [r for r in stripe_refunds(pi) if r.id != first.id]
    assert [(r.amount, r.status) for r in retries] == [(8250, "succeeded")], "the failed refund was not retried"
    [retry] = retries

    _refund_fails_at_the_bank(api, stripe_double, retry.id)
    for _ in range(3):
        later(clock, 30)
        run_job(lam, CLEANUP)

    assert sorted((r.amount, r.status) for r in stripe_refunds(pi)) == [(8250, "failed"), (8250, "failed")]
    assert "refund_failed" in flag_codes(owner_view(api, booking_id))


# === failure 9 =================================================================================================


def test_failure_9_non_ascii_credentials_are_refused_with_401_not_500(api: ApiClient, cal_double: CalDouble) -> None:
    """Failure 9: a non-ASCII admin token or Cal.com signature answered 500 (hmac.compare_digest on str).

    Given a confirmed booking and a genuine Cal.com event about it
    When the admin API gets a non-ASCII bearer token, and /webhooks/cal a non-ASCII signature
    Then both answer 401 and nothing changes
    """
    confirmed = api.confirmed_booking()
    booking_id, uid = confirmed["booking_id"], confirmed["cal_booking_uid"]
    raw, _ = cal_double.build_webhook("BOOKING_CANCELLED", uid, secret=os.environ["CAL_WEBHOOK_SECRET"])

    one = api.request("GET", f"/admin/bookings/{booking_id}", headers={"Authorization": "Bearer admin_suite_tökén"})
    listing = api.request("GET", "/admin/bookings", headers={"Authorization": "Bearer ¿quién soy?"})
    webhook = api.request("POST", "/webhooks/cal", raw=raw, headers={"X-Cal-Signature-256": "é" * 64})

    assert (one.status, one.body) == (401, {"message": "Unauthorized"})  # API Gateway's own answer
    assert (listing.status, listing.body) == (401, {"message": "Unauthorized"})
    assert (webhook.status, webhook.error_code) == (401, "invalid_signature")
    assert owner_view(api, booking_id)["status"] == "CONFIRMED"


# === failure 10 ================================================================================================


def test_failure_10_a_dispute_won_lifts_the_payout_block(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock
) -> None:
    """Failure 10 (won): a dispute's payout block was never lifted (charge.dispute.closed unhandled).

    Given a brow lamination deposit (4500) disputed before its payout, the payout BLOCKED after 72 h
    When the dispute is closed won (charge.dispute.closed delivered)
    Then the next payout run pays the provider 80% of 4500 = 3600, once
    """
    confirmed = api.confirmed_booking(service_id=BROW)
    booking_id = confirmed["booking_id"]
    charge = owner_view(api, booking_id)["payment"]["charge_id"]
    dispute = stripe_double.create_dispute(charge)
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"])
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    assert not transfers(booking_id) and booking(booking_id).payout_state == "BLOCKED"

    stripe_double.close_dispute(dispute["id"], "won")
    closed = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.closed", dispute["id"])["id"]
    )
    clock.advance(hours=1)
    run_job(lam, PAYOUTS)
    clock.advance(hours=1)
    run_job(lam, PAYOUTS)

    assert closed.status == 200, closed.body
    assert [(t.amount, t.destination) for t in transfers(booking_id)] == [(provider_share(BROW_DEPOSIT, 0), PROVIDER)]
    assert net_transferred(booking_id) == 3600
    assert booking(booking_id).payout_state == "PAID"


def test_failure_10_a_dispute_lost_after_the_payout_reverses_the_providers_share(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock
) -> None:
    """Failure 10 (lost): a dispute after the payout was only flagged; the provider kept the share.

    Given a brow lamination deposit (4500) whose provider was paid 3600
    When the client disputes the charge and the dispute is closed lost (both webhooks delivered)
    Then the provider's transfer is reversed to 0 and the booking is flagged dispute_lost
    """
    confirmed = api.confirmed_booking(service_id=BROW)
    booking_id = confirmed["booking_id"]
    charge = owner_view(api, booking_id)["payment"]["charge_id"]
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    assert net_transferred(booking_id) == 3600

    dispute = stripe_double.create_dispute(charge)
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"])
    stripe_double.close_dispute(dispute["id"], "lost")
    closed = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.closed", dispute["id"])["id"]
    )
    later(clock, 10)
    run_job(lam, CLEANUP)
    clock.advance(hours=1)
    run_job(lam, PAYOUTS)

    assert closed.status == 200, closed.body
    [transfer] = transfers(booking_id)
    assert transfer.amount_reversed == transfer.amount == 3600
    assert net_transferred(booking_id) == 0
    assert "dispute_lost" in flag_codes(owner_view(api, booking_id))
