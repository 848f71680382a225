"""The cleanup job (ExpireHoldsFunction, every 5 minutes): abandoned holds, vanished clients, expired tokens,
failed webhook events and missed webhooks all end where they should."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.support import ApiClient, alerts, booking, deliver_cal, owner_headers, pay, run_job

CLEANUP = "ExpireHoldsFunction"
OTHER_CLIENT = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "UTC"}


def _stripe_posts(stripe_double: StripeDouble, path_end: str) -> list[Any]:
    return [r for r in stripe_double.requests if r.method == "POST" and r.path.endswith(path_end)]


def test_abandoned_hold_is_cancelled_in_stripe_and_frees_its_slot(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Any
) -> None:
    # Given a hold nobody paid for, past its 15 minutes
    intent = api.create_intent().body
    start = booking(intent["booking_id"]).slot_start.isoformat()
    clock.advance(minutes=16)
    # When the cleanup job runs
    report = run_job(lam, CLEANUP)
    # Then the PaymentIntent is cancelled (idempotently), the booking EXPIRED, the slot bookable again
    assert report["holds_expired"] == 1
    cancels = _stripe_posts(stripe_double, f"{intent['payment_intent_id']}/cancel")
    assert [c.idempotency_key for c in cancels] == [f"booking:{intent['booking_id']}:cancel"]
    assert stripe_double.get_object(intent["payment_intent_id"])["status"] == "canceled"
    expired = booking(intent["booking_id"])
    assert expired.status == "EXPIRED" and expired.history[-1].actor == "cleanup"
    assert api.create_intent(start=start, attendee=OTHER_CLIENT).status == 201


def test_live_holds_are_left_alone(api: ApiClient, lam: LocalLambda, clock: Any) -> None:
    intent = api.create_intent().body
    clock.advance(minutes=10)
    assert run_job(lam, CLEANUP)["holds_expired"] == 0
    assert booking(intent["booking_id"]).status == "HELD"


def test_expired_hold_that_stripe_says_was_paid_is_treated_as_paid(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, cal_double: CalDouble, clock: Any
) -> None:
    # Given a client who paid just before the hold expired, and the webhook never arrived
    intent = api.paid_booking()
    clock.advance(minutes=16)
    # When the cleanup job finds the lapsed hold
    report = run_job(lam, CLEANUP)
    # Then it is not cancelled but paid and confirmed
    assert report["late_payments_recorded"] == 1 and report["holds_expired"] == 0
    assert not _stripe_posts(stripe_double, f"{intent['payment_intent_id']}/cancel")
    assert booking(intent["booking_id"]).status == "CONFIRMED"
    assert len(cal_double.bookings()) == 1


def test_paid_booking_whose_client_vanished_is_confirmed(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Any
) -> None:
    # Given a paid booking (create-token ran) whose client never opened the verify link
    intent = api.paid_booking()
    assert api.create_token(intent).status == 201
    # When the job runs a few minutes later
    assert run_job(lam, CLEANUP)["bookings_confirmed"] == 0  # too early: the client may still verify
    clock.advance(minutes=4)
    report = run_job(lam, CLEANUP)
    # Then the booking is confirmed in Cal.com with the same code as /bookings/verify
    assert report["bookings_confirmed"] == 1
    stored = booking(intent["booking_id"])
    assert stored.status == "CONFIRMED" and stored.cal_booking_uid == cal_double.bookings()[0]["uid"]


def test_paid_booking_whose_slot_was_lost_is_flagged_and_the_owner_alerted(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Any
) -> None:
    # Given a paid booking whose slot someone took directly in Cal.com
    intent = api.paid_booking()
    assert api.create_token(intent).status == 201
    stored = booking(intent["booking_id"])
    cal_double.take_slot(stored.event_type_id, stored.slot_start)
    clock.advance(minutes=4)
    # When the job tries to confirm it
    run_job(lam, CLEANUP)
    # Then SLOT_UNAVAILABLE, flagged, and one alert with a clear subject
    lost = booking(intent["booking_id"])
    assert lost.status == "SLOT_UNAVAILABLE" and lost.has_flag("slot_unavailable_after_payment")
    sent = [a for a in alerts() if intent["booking_id"] in a["subject"]]
    assert len(sent) == 1 and "Cal.com refused the slot" in sent[0]["subject"]


def test_calendar_down_defers_then_the_next_run_confirms(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Any
) -> None:
    intent = api.paid_booking()
    assert api.create_token(intent).status == 201
    clock.advance(minutes=4)
    cal_double.set_mode("down")
    assert run_job(lam, CLEANUP)["confirmations_deferred"] == 1
    assert booking(intent["booking_id"]).status == "PAID"
    cal_double.set_mode("normal")
    assert run_job(lam, CLEANUP)["bookings_confirmed"] == 1
    assert booking(intent["booking_id"]).status == "CONFIRMED" and len(cal_double.bookings()) == 1


def test_expired_token_of_an_unconfirmed_booking_alerts_the_owner_once(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Any
) -> None:
    # Given a paid booking whose token expired while Cal.com was down
    intent = api.paid_booking()
    assert api.create_token(intent).status == 201
    cal_double.set_mode("down")
    clock.advance(minutes=31)
    # When the job runs twice
    first = run_job(lam, CLEANUP)
    second = run_job(lam, CLEANUP)
    # Then one alert, and the booking is findable as flagged
    assert first["tokens_expired_alerted"] == 1 and second["tokens_expired_alerted"] == 0
    assert booking(intent["booking_id"]).has_flag("token_expired_unconfirmed")
    assert len([a for a in alerts() if "link expired" in a["subject"]]) == 1
    flagged = api.request("GET", "/admin/bookings", query={"flagged": "true"}, headers=owner_headers())
    assert [b["booking_id"] for b in flagged.body["bookings"]] == [intent["booking_id"]]


def test_reconciliation_repairs_a_missed_webhook_and_tells_the_owner(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble
) -> None:
    # Given a payment that succeeded while its hold is still live, and no webhook ever arrived
    intent = api.paid_booking()
    # When the job reconciles with Stripe
    report = run_job(lam, CLEANUP)
    # Then the payment is recorded, the booking confirmed, and the owner told
    assert report["payments_repaired"] == 1
    repaired = booking(intent["booking_id"])
    assert repaired.status == "CONFIRMED" and repaired.amount_paid == 8250
    assert repaired.has_flag("reconciliation_repair") and repaired.history[1].actor == "reconciliation"
    assert any("Missed payment webhook repaired" in a["subject"] for a in alerts())
    # And a second run finds nothing more to repair
    assert run_job(lam, CLEANUP)["payments_repaired"] == 0


def test_failed_cal_event_is_reprocessed_from_the_inbox(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, stripe_double: StripeDouble, clock: Any
) -> None:
    # Given a cancellation whose refund failed (Stripe down): Cal.com will not send it again
    confirmed = api.confirmed_booking()
    uid = confirmed["cal_booking_uid"]
    cal_double.cancel_booking(uid, "", "ada@example.com")
    start = datetime.fromisoformat(confirmed["start"])
    stripe_double.set_down(True)
    assert deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=48)).status == 503
    stripe_double.set_down(False)
    # When the job runs a few minutes later
    clock.advance(minutes=3)
    report = run_job(lam, CLEANUP)
    # Then the event is processed: cancelled and refunded by the policy, once
    assert report["events_reprocessed"] == 1
    stored = booking(confirmed["booking_id"])
    assert stored.status == "CANCELLED" and stored.amount_refunded == 8250
    assert run_job(lam, CLEANUP)["events_reprocessed"] == 0


def test_a_run_interrupted_half_way_is_finished_by_the_next(
    api: ApiClient, stripe_double: StripeDouble, clock: Any
) -> None:
    from booking.jobs import cleanup
    from booking.jobs.handler import Budget

    # Given three abandoned holds
    slots = api.free_slots()[:3]
    ids = [api.create_intent(start=slot["start"]).body["booking_id"] for slot in slots]
    clock.advance(minutes=16)
    # When a run has time for one hold only (it stops before the Lambda timeout)
    calls = iter([60.0])  # time for one item, then the Lambda is about to time out
    first = cleanup.run(Budget(lambda: next(calls, 1.0)))
    # Then it stops early, leaving consistent state, and the next run finishes the rest
    assert first.stopped_early and first.holds_expired == 1
    assert sorted(booking(i).status for i in ids) == ["EXPIRED", "HELD", "HELD"]
    second = cleanup.run(Budget(lambda: 60.0))
    assert second.holds_expired == 2 and not second.stopped_early
    assert {booking(i).status for i in ids} == {"EXPIRED"}


def test_a_run_that_crashes_half_way_is_finished_by_the_next(
    api: ApiClient, lam: LocalLambda, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from booking.jobs import cleanup

    slots = api.free_slots()[:2]
    ids = [api.create_intent(start=slot["start"]).body["booking_id"] for slot in slots]
    clock.advance(minutes=16)
    real = cleanup.payments.cancel_payment_intent
    calls = {"n": 0}

    def dies_on_second(booking_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("Lambda killed mid-run")
        return real(booking_)

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(cleanup.payments, "cancel_payment_intent", dies_on_second)
        run_job(lam, CLEANUP)
    assert sorted(booking(i).status for i in ids) == ["EXPIRED", "HELD"]
    run_job(lam, CLEANUP)
    assert {booking(i).status for i in ids} == {"EXPIRED"}


def test_two_runs_at_once_do_no_harm(api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Any) -> None:
    # Given four abandoned holds and one paid-but-unverified booking
    slots = api.free_slots()[:5]
    held = [api.create_intent(start=slot["start"]).body for slot in slots[:4]]
    paid = api.paid_booking(start=slots[4]["start"])
    assert api.create_token(paid).status == 201
    clock.advance(minutes=16)
    # When two runs overlap
    reports: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: reports.append(run_job(lam, CLEANUP))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every hold expired exactly once, the paid booking is confirmed once, nothing failed
    assert sum(r["holds_expired"] for r in reports) == 4
    assert {booking(h["booking_id"]).status for h in held} == {"EXPIRED"}
    for hold in held:
        assert [h.target for h in booking(hold["booking_id"]).history].count("EXPIRED") == 1
    assert booking(paid["booking_id"]).status == "CONFIRMED"


def test_runs_query_indexes_never_scan(
    api: ApiClient, lam: LocalLambda, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    from pynamodb.connection.base import Connection

    def no_scans(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a scheduled job scanned the table")

    api.create_intent()
    monkeypatch.setattr(Connection, "scan", no_scans)
    clock.advance(minutes=16)
    assert run_job(lam, CLEANUP)["holds_expired"] == 1
    assert run_job(lam, "PayoutsCronFunction")["paid"] == 0


def test_paid_before_expiry_but_confirmed_later_is_not_expired(api: ApiClient, lam: LocalLambda, clock: Any) -> None:
    intent = api.create_intent().body
    pay(intent["payment_intent_id"])
    assert api.create_token(intent).status == 201
    clock.advance(minutes=16)
    run_job(lam, CLEANUP)
    assert booking(intent["booking_id"]).status == "CONFIRMED"
