"""No inbox dedupes events any more: a redelivered or concurrent copy of an event must find the booking already
where the event puts it. Every money event, delivered twice and at once on several threads, moves money once,
flags and alerts the owner once and writes its history once."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import MONDAY, iso, local, next_weekday, travel_to
from tests.support import (
    ApiClient,
    Clock,
    alerts,
    booking,
    deliver_cal,
    deliver_stripe,
    owner_headers,
    run_job,
    stripe_client,
    stripe_event,
    unique_key,
)
from tests.webhooks_lean.support import inbox_items, stripe_posts

CLEANUP = "ExpireHoldsFunction"
PAYOUTS = "PayoutsCronFunction"
BROW = "brow-lamination"  # 8999 usd, 50% deposit (4500), provider acct_1LocalBrowArtist gets 80% after 72 h


def at_once(*works: Callable[[], Any]) -> list[Any]:
    """Run each on its own thread (as separate Lambda containers would), released together; their answers."""
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)
    errors: list[BaseException] = []

    def run(index: int, work: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, w), daemon=True) for i, w in enumerate(works)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def deliver_copies(api: ApiClient, stripe_double: StripeDouble, event_id: str) -> list[Any]:
    """The event delivered, then three copies at once, then once more: every answer."""
    first = deliver_stripe(api, stripe_double, event_id)
    concurrent = at_once(*[lambda: deliver_stripe(api, stripe_double, event_id)] * 3)
    last = deliver_stripe(api, stripe_double, event_id)
    return [first, *concurrent, last]


def flags_raised(booking_id: str, code: str) -> int:
    return len([f for f in booking(booking_id).flags if f.code == code])


def alerts_about(booking_id: str) -> list[dict[str, str]]:
    return [a for a in alerts() if booking_id in a["subject"]]


def test_a_dashboard_refunds_charge_refunded_delivered_again_and_at_once_is_recorded_once(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a booking paid in full (16500), refunded 5000 by a person in the Stripe Dashboard
    confirmed = api.confirmed_booking(payment_type="full")
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    refund = stripe_client().v1.refunds.create(params={"payment_intent": pi, "amount": 5000})
    event = stripe_event(stripe_double, "charge.refunded", booking(booking_id).charge_id)
    posts = stripe_posts(monkeypatch)
    # When charge.refunded is delivered five times, three of them at once (then the jobs run)
    answers = deliver_copies(api, stripe_double, event["id"])
    clock.advance(minutes=10)
    run_job(lam, CLEANUP)
    # Then every answer is 200; the booking records that one refund once; we moved no money ourselves
    assert [a.status for a in answers] == [200] * 5, [a.body for a in answers]
    stored = booking(booking_id)
    assert stored.amount_refunded == 5000 and [r.refund_id for r in stored.refunds] == [refund.id]
    assert stored.payment_status == "partially_refunded" and stored.money_state is None
    assert posts == []
    assert [r.amount for r in stripe_client().v1.refunds.list(params={"payment_intent": pi}).data] == [5000]
    assert inbox_items() == []


def test_a_refund_failing_at_the_bank_reported_twice_and_at_once_is_made_again_once(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, cal_double: CalDouble, clock: Clock
) -> None:
    # Given a deposit (8250) cancelled in Cal.com 3 days ahead and refunded in full
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=3), 10)))
    booking_id, pi, uid = confirmed["booking_id"], confirmed["payment_intent_id"], confirmed["cal_booking_uid"]
    cal_double.cancel_booking(uid, "cannot make it", "ada@example.com")
    assert deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid).status == 200
    [made] = stripe_client().v1.refunds.list(params={"payment_intent": pi}).data
    assert made.amount == 8250
    alerts_before = len(alerts_about(booking_id))
    history_before = len(booking(booking_id).history)
    # When the refund fails at the bank and each of its three events comes five times, three at once
    stripe_double.fail_refund(made.id, "expired_or_canceled_card")
    answers = []
    for event_type in ("charge.refund.updated", "refund.updated", "refund.failed"):
        answers += deliver_copies(api, stripe_double, stripe_event(stripe_double, event_type, made.id)["id"])
    for _ in range(2):
        clock.advance(minutes=10)
        run_job(lam, CLEANUP)
    # Then one new refund of 8250 is made, the booking is flagged once and the owner told once
    assert all(a.status == 200 for a in answers), [a.body for a in answers]
    refunds = stripe_client().v1.refunds.list(params={"payment_intent": pi}).data
    assert sorted((r.amount, r.status) for r in refunds) == [(8250, "failed"), (8250, "succeeded")]
    stored = booking(booking_id)
    assert flags_raised(booking_id, "refund_failed") == 1
    assert len(alerts_about(booking_id)) == alerts_before + 1
    assert stored.amount_refunded == 8250 and stored.failed_refund_ids == frozenset({made.id})
    assert len(stored.history) - history_before <= 2  # the failure and the refund made again, each once
    assert inbox_items() == []


def test_a_dispute_opened_and_lost_each_delivered_again_and_at_once_reverses_the_share_once(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a brow lamination deposit (4500) whose provider was paid 80% (3600) after 72 h
    confirmed = api.confirmed_booking(service_id=BROW)
    booking_id = confirmed["booking_id"]
    charge = booking(booking_id).charge_id
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    [transfer] = stripe_client().v1.transfers.list(params={"transfer_group": f"booking_{booking_id}"}).data
    assert transfer.amount == 3600
    # When the client disputes the charge: charge.dispute.created five times, three of them at once
    dispute = stripe_double.create_dispute(charge)
    opened = deliver_copies(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"]
    )
    # Then one disputed flag and one alert about it
    assert all(a.status == 200 for a in opened), [a.body for a in opened]
    assert flags_raised(booking_id, "disputed") == 1
    disputed_alerts = [a for a in alerts_about(booking_id) if "disput" in (a["subject"] + a["message"]).lower()]
    assert len(disputed_alerts) == 1
    # When the owner closes the flag and Stripe delivers the event once more
    resolved = api.request(
        "POST",
        f"/admin/bookings/{booking_id}/flags/disputed/resolve",
        json_body={"note": "evidence sent"},
        headers={"Idempotency-Key": unique_key(), **owner_headers()},
    )
    assert resolved.status == 200, resolved.body
    late_copy = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"]
    )
    # Then it is recognised as recorded: the flag stays closed, no new alert
    assert late_copy.status == 200 and late_copy.body["outcome"].startswith("already recorded")
    assert [f.is_open for f in booking(booking_id).flags if f.code == "disputed"] == [False]
    # When the dispute is lost and charge.dispute.closed comes five times, three at once (then the jobs run)
    posts = stripe_posts(monkeypatch)
    stripe_double.close_dispute(dispute["id"], "lost")
    closed = deliver_copies(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.closed", dispute["id"])["id"]
    )
    clock.advance(minutes=10)
    run_job(lam, CLEANUP)
    clock.advance(hours=1)
    run_job(lam, PAYOUTS)
    # Then the provider's share is reversed once, the booking flagged dispute_lost once
    assert all(a.status == 200 for a in closed), [a.body for a in closed]
    assert len([p for p in posts if p.endswith("/reversals")]) == 1, posts
    assert stripe_client().v1.transfers.retrieve(transfer.id).amount_reversed == 3600
    assert flags_raised(booking_id, "dispute_lost") == 1
    stored = booking(booking_id)
    assert stored.dispute_status == "lost" and stored.transfer_reversed == 3600
    assert inbox_items() == []


def test_payment_succeeded_delivered_at_once_records_the_payment_and_books_cal_com_once(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, lam: LocalLambda, clock: Clock
) -> None:
    # Given a client who paid and closed the tab (no create-token, no verify)
    intent = api.paid_booking()
    booking_id = intent["booking_id"]
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    # When payment_intent.succeeded comes five times, three of them at once (then the cleanup job runs)
    answers = deliver_copies(api, stripe_double, event["id"])
    clock.advance(minutes=10)
    run_job(lam, CLEANUP)
    # Then the booking is paid once and confirmed with one Cal.com booking; its history says each step once
    assert all(a.status == 200 for a in answers), [a.body for a in answers]
    stored = booking(booking_id)
    assert stored.status == "CONFIRMED" and stored.amount_paid == 8250
    assert len([b for b in cal_double.bookings() if b["metadata"].get("booking_id") == booking_id]) == 1
    targets = [h.target for h in stored.history]
    assert targets.count("PAID") == 1 and targets.count("CONFIRMED") == 1, targets
    assert inbox_items() == []


def test_a_no_show_update_delivered_again_writes_its_history_once(
    api: ApiClient, cal_double: CalDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a confirmed booking whose attendee did not come
    confirmed = api.confirmed_booking()
    booking_id, uid = confirmed["booking_id"], confirmed["cal_booking_uid"]
    extra = {"attendees": [{"email": "ada@example.com", "name": "Ada", "noShow": True}]}
    before = len(booking(booking_id).history)
    # When BOOKING_NO_SHOW_UPDATED comes twice
    first = deliver_cal(api, cal_double, "BOOKING_NO_SHOW_UPDATED", uid, extra=extra)
    second = deliver_cal(api, cal_double, "BOOKING_NO_SHOW_UPDATED", uid, extra=extra)
    # Then it is recorded once
    assert (first.body["outcome"], second.body["outcome"]) == ("recorded", "already recorded"), second.body
    stored = booking(booking_id)
    assert stored.no_show == "no-show: ada@example.com" and len(stored.history) == before + 1
    assert os.environ["CAL_WEBHOOK_SECRET"]  # signed like Cal.com signs (tests/support.deliver_cal)


def test_a_copy_of_an_earlier_reschedule_never_moves_the_booking_back(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a booking moved in Cal.com from A to B, then from B to C, each BOOKING_RESCHEDULED delivered
    confirmed = api.confirmed_booking()
    booking_id = confirmed["booking_id"]
    starts = [slot["start"] for slot in api.free_slots() if slot["start"] != confirmed["start"]][:2]
    to_b = cal_double.reschedule_booking(confirmed["cal_booking_uid"], starts[0], by="ada@example.com")
    first_move = deliver_cal(api, cal_double, "BOOKING_RESCHEDULED", to_b["uid"])
    assert first_move.body["outcome"] == "moved", first_move.body
    to_c = cal_double.reschedule_booking(to_b["uid"], starts[1], by="ada@example.com")
    assert deliver_cal(api, cal_double, "BOOKING_RESCHEDULED", to_c["uid"]).body["outcome"] == "moved"
    # When a copy of the first event (A -> B) arrives
    copy = deliver_cal(api, cal_double, "BOOKING_RESCHEDULED", to_b["uid"])
    # Then it is ignored (Cal.com says B was rescheduled since): the booking stays at C
    assert copy.status == 200 and copy.body["outcome"] == f"ignored: {to_b['uid']} was rescheduled or cancelled since"
    stored = booking(booking_id)
    assert stored.cal_booking_uid == to_c["uid"] and stored.slot_start == datetime.fromisoformat(starts[1])
    assert stored.reschedule_count == 2
