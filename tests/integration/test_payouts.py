"""PayoutsCronFunction (hourly): one Stripe Connect transfer per payment, 72 h after it, to the service's
provider; never for cancelled, refunded or disputed bookings; reversed by the refunded share after."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.support import ApiClient, alerts, booking, deliver_cal, deliver_stripe, run_job, stripe_client, stripe_event

PAYOUTS = "PayoutsCronFunction"
PROVIDER_SERVICE = "brow-lamination"  # 8999 USD, 50% deposit 4500, provider acct_1LocalBrowArtist gets 80%


def _transfers(booking_id: str) -> list[Any]:
    return stripe_client().v1.transfers.list(params={"transfer_group": f"booking_{booking_id}"}).data


def test_provider_is_paid_once_after_the_hold_period(api: ApiClient, lam: LocalLambda, clock: Any) -> None:
    # Given a confirmed deposit booking of a service with a provider account
    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    stored = booking(confirmed["booking_id"])
    assert stored.payout_state == "DUE" and stored.payout_due_at == stored.paid_at + timedelta(hours=72)
    # When the hourly job runs before 72 h
    clock.advance(hours=71)
    assert run_job(lam, PAYOUTS)["paid"] == 0 and not _transfers(confirmed["booking_id"])
    # And after 72 h, twice
    clock.advance(hours=2)
    first, second = run_job(lam, PAYOUTS), run_job(lam, PAYOUTS)
    # Then exactly one transfer of the provider's share, from this charge, recorded on the booking
    assert first["paid"] == 1 and second["paid"] == 0
    [transfer] = _transfers(confirmed["booking_id"])
    paid = booking(confirmed["booking_id"])
    assert (transfer.amount, transfer.destination) == (3600, "acct_1LocalBrowArtist")
    assert transfer.source_transaction == paid.charge_id
    assert paid.payout_state == "PAID" and paid.transfer_id == transfer.id and paid.transferred_at is not None


def test_single_business_services_pay_no_one(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Any
) -> None:
    confirmed = api.confirmed_booking()  # signature-facial: no provider account
    assert booking(confirmed["booking_id"]).payout_state is None
    clock.advance(hours=73)
    assert run_job(lam, PAYOUTS) == {
        "paid": 0,
        "failed": 0,
        "skipped": 0,
        "blocked": 0,
        "waiting": 0,
        "stopped_early": False,
    }
    assert not [r for r in stripe_double.requests if r.path.startswith("/v1/transfers")]


def test_cancelled_booking_is_not_paid_out(api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Any) -> None:
    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    uid = confirmed["cal_booking_uid"]
    cal_double.cancel_booking(uid, "", "ada@example.com")
    start = datetime.fromisoformat(confirmed["start"])
    deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=48))
    clock.advance(hours=73)
    assert run_job(lam, PAYOUTS)["skipped"] == 1
    assert booking(confirmed["booking_id"]).payout_state == "SKIPPED" and not _transfers(confirmed["booking_id"])


def test_disputed_booking_payout_is_blocked(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Any
) -> None:
    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    dispute = stripe_double.create_dispute(booking(confirmed["booking_id"]).charge_id)
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"])
    clock.advance(hours=73)
    assert run_job(lam, PAYOUTS)["blocked"] == 1
    assert booking(confirmed["booking_id"]).payout_state == "BLOCKED" and not _transfers(confirmed["booking_id"])


def test_failed_transfer_is_recorded_alerted_and_retried(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Any
) -> None:
    # Given Stripe refusing the transfer (the platform's balance cannot cover it)
    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    clock.advance(hours=73)
    stripe_double.refuse_next("/v1/transfers", "balance_insufficient")
    # When the job runs
    assert run_job(lam, PAYOUTS)["failed"] == 1
    # Then the failure is on the booking and the owner is told
    failed = booking(confirmed["booking_id"])
    assert failed.payout_state == "FAILED" and failed.payout_error and failed.has_flag("payout_failed")
    assert any("payout failed" in a["subject"].lower() for a in alerts())
    # And the next run pays, once
    assert run_job(lam, PAYOUTS)["paid"] == 1
    assert len(_transfers(confirmed["booking_id"])) == 1 and booking(confirmed["booking_id"]).payout_state == "PAID"


def test_a_transfer_whose_answer_was_lost_is_not_made_twice(
    api: ApiClient, lam: LocalLambda, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from booking.errors import PaymentProviderUnavailable
    from booking.money import payouts

    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    clock.advance(hours=73)
    real = payouts.payments.create_transfer

    def lands_but_times_out(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise PaymentProviderUnavailable("read timeout")

    with monkeypatch.context() as patched:
        patched.setattr(payouts.payments, "create_transfer", lands_but_times_out)
        assert run_job(lam, PAYOUTS)["failed"] == 1
    assert run_job(lam, PAYOUTS)["paid"] == 1
    assert len(_transfers(confirmed["booking_id"])) == 1


def test_two_runs_at_once_make_one_transfer(api: ApiClient, lam: LocalLambda, clock: Any) -> None:
    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    clock.advance(hours=73)
    reports: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: reports.append(run_job(lam, PAYOUTS))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_transfers(confirmed["booking_id"])) == 1
    assert booking(confirmed["booking_id"]).payout_state == "PAID"


def test_a_run_out_of_time_leaves_the_rest_for_the_next(api: ApiClient, clock: Any) -> None:
    from booking.jobs import payouts as payout_job
    from booking.jobs.handler import Budget

    slots = api.free_slots(PROVIDER_SERVICE)[:2]
    ids = [api.confirmed_booking(service_id=PROVIDER_SERVICE, start=s["start"])["booking_id"] for s in slots]
    clock.advance(hours=73)
    calls = iter([60.0])
    first = payout_job.run(Budget(lambda: next(calls, 1.0)))
    assert first.paid == 1 and first.stopped_early
    second = payout_job.run(Budget(lambda: 60.0))
    assert second.paid == 1
    assert [len(_transfers(i)) for i in ids] == [1, 1]


@pytest.mark.parametrize(("refund", "reversed_amount"), [(4500, 3600), (2250, 1800)])
def test_refund_after_payout_reverses_the_transfer_by_the_refunded_share(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Any, refund: int, reversed_amount: int
) -> None:
    # Given a booking whose provider was paid 3600 of the 4500 deposit
    confirmed = api.confirmed_booking(service_id=PROVIDER_SERVICE)
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    charge = booking(confirmed["booking_id"]).charge_id
    # When part of the payment is refunded in Stripe (and charge.refunded arrives, twice)
    stripe_client().v1.refunds.create(params={"charge": charge, "amount": refund})
    event = stripe_event(stripe_double, "charge.refunded", charge)
    deliver_stripe(api, stripe_double, event["id"])
    # Then the transfer is reversed by the same share, once
    [transfer] = _transfers(confirmed["booking_id"])
    assert transfer.amount_reversed == reversed_amount
    assert booking(confirmed["booking_id"]).transfer_reversed == reversed_amount
    reversals = [r for r in stripe_double.requests if r.path.endswith("/reversals") and r.status == 200]
    assert len(reversals) == 1
