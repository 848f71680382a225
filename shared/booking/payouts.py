"""Provider payouts (Stripe Connect, separate charges and transfers; seed 001).

Each payment is held for PAYOUT_HOLD_HOURS (72 h) after it succeeds. Then, if its booking was not cancelled,
refunded or disputed, the service's provider gets one transfer of their share (`source_transaction` = the
charge, `transfer_group` = the booking). A refund after the payout reverses the transfer by the refunded share.
A service without `provider_account` pays no one (single-business mode).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from booking import payments
from booking.alerts import flag
from booking.catalog import get_catalog
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.errors import PaymentProviderError, PaymentProviderUnavailable
from booking.jobs import Budget
from booking.lifecycle import BookingStatus
from booking.models import Booking
from booking.observability import logger, metrics
from booking.settings import get_settings

S = BookingStatus
DUE, FAILED, PAID, BLOCKED, SKIPPED = "DUE", "FAILED", "PAID", "BLOCKED", "SKIPPED"
PAGE = 100  # payouts per state per run


def schedule_fields(booking: Booking, paid_at: datetime) -> dict[str, Any]:
    """Fields that put a just-paid booking in the payout queue (none without a provider account)."""
    if not booking.provider_account:
        return {}
    return {"payout_state": DUE, "payout_due_at": paid_at + timedelta(hours=get_settings().payout_hold_hours)}


def provider_share(booking: Booking) -> int:
    percent = get_catalog().service(booking.service_id).provider_share_percent
    return max(booking.amount_paid - booking.amount_refunded, 0) * percent // 100


def _set_state(booking: Booking, state: str, fields: dict[str, Any] | None = None) -> Booking:
    """Change the payout state only if it is still the one we read (two runs at once: one wins)."""
    return store.update_fields(
        booking.booking_id,
        {"payout_state": state, **(fields or {})},
        condition=store.payout_state_is(booking.payout_state),
    )


def pay_provider(booking: Booking) -> str:
    """One payout decision for a booking whose hold period is over. Returns what happened."""
    if booking.dispute_id:
        _set_state(booking, BLOCKED, {"payout_error": f"disputed ({booking.dispute_id})"})
        return "blocked: disputed"
    if booking.status in (S.CANCELLED, S.SLOT_UNAVAILABLE, S.EXPIRED) or booking.amount_refunded >= booking.amount_paid:
        _set_state(
            booking, SKIPPED, {"payout_error": f"booking {booking.status.value}, refunded {booking.amount_refunded}"}
        )
        return "skipped: cancelled or refunded"
    if booking.status not in (S.CONFIRMED, S.COMPLETED):
        return "waiting: not confirmed yet"
    amount = provider_share(booking)
    destination = booking.provider_account or ""
    if amount <= 0 or not destination:
        _set_state(booking, SKIPPED, {"payout_error": "nothing to transfer"})
        return "skipped: nothing to transfer"
    try:
        transfer = payments.existing_transfer(booking) or payments.create_transfer(booking, amount, destination)
    except PaymentProviderUnavailable as exc:
        _payout_failed(booking, str(exc), definitive=False)
        return "failed: Stripe unavailable; retried next run"
    except PaymentProviderError as exc:
        _payout_failed(booking, str(exc), definitive=True)
        return "failed: Stripe refused; retried next run"
    _set_state(
        booking,
        PAID,
        {
            "transfer_id": transfer.transfer_id,
            "transfer_amount": transfer.amount,
            "transferred_at": clock_now(),
            "payout_error": None,
        },
    )
    metrics.add_metric(name="ProviderPaid", unit="Count", value=1)
    logger.info("provider paid", extra={"transfer_id": transfer.transfer_id, "amount": transfer.amount})
    return f"paid {transfer.amount} ({transfer.transfer_id})"


def _payout_failed(booking: Booking, error: str, *, definitive: bool) -> None:
    metrics.add_metric(name="ProviderPayoutFailed", unit="Count", value=1)
    attempts = booking.payout_attempts + 1 if definitive else booking.payout_attempts
    failed = _set_state(booking, FAILED, {"payout_error": error, "payout_attempts": attempts})
    flag(failed, "payout_failed", f"transfer to {booking.provider_account} failed: {error}")


def reverse_for_refunds(booking: Booking) -> Booking:
    """After a refund, take back the provider's share of it from a transfer already made (once per total)."""
    if booking.payout_state != PAID or not booking.transfer_id or not booking.amount_paid:
        return booking
    target = booking.transfer_amount * min(booking.amount_refunded, booking.amount_paid) // booking.amount_paid
    missing = target - booking.transfer_reversed
    if missing <= 0:
        return booking
    try:
        payments.reverse_transfer(booking, missing, target)
    except (PaymentProviderError, PaymentProviderUnavailable) as exc:
        flag(booking, "transfer_reversal_failed", f"could not reverse {missing} of {booking.transfer_id}: {exc}")
        raise
    metrics.add_metric(name="TransferReversed", unit="Count", value=1)
    return store.update_fields(
        booking.booking_id,
        {"transfer_reversed": target},
        condition=store.transfer_reversed_is(booking.transfer_reversed),
    )


class PayoutReport(BaseModel):
    paid: int = 0
    failed: int = 0
    skipped: int = 0
    blocked: int = 0
    waiting: int = 0
    stopped_early: bool = False


def run(budget: Budget) -> PayoutReport:
    """Pay every provider payout that is due (and retry failed ones), within the run's time budget."""
    report = PayoutReport()
    now = clock_now()
    seen: set[str] = set()  # a payout that fails in this run waits for the next one
    for state in (DUE, FAILED):
        for booking in store.payouts_due(state, now, PAGE):
            if booking.booking_id in seen:
                continue
            seen.add(booking.booking_id)
            if not budget():
                report.stopped_early = True
                return report
            logger.append_keys(booking_id=booking.booking_id)
            try:
                outcome = pay_provider(booking)
            except store.StaleBooking:
                continue  # another run decided this one first
            field = outcome.split(maxsplit=1)[0].rstrip(":")  # each outcome starts with its report field
            setattr(report, field, getattr(report, field) + 1)
    return report
