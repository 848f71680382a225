"""Provider payouts (Stripe Connect, separate charges and transfers; seed 001).

Each payment is held for PAYOUT_HOLD_HOURS (72 h) after it succeeds. Then, unless it is disputed, the service's
provider gets one transfer (`source_transaction` = the charge, `transfer_group` = the booking) of their share of
what the business keeps: captured, less what was returned (refunds, ours or the Dashboard's; a lost dispute) and
what is still owed back. Any later return brings the transfers, net of reversals, down to that share again. Every
figure is read from Stripe under the booking's money lease (`ledger.py`). A service without `provider_account`
pays no one (single-business mode).
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
from booking.errors import DomainError, PaymentProviderError, PaymentProviderUnavailable
from booking.jobs import Budget
from booking.ledger import Held, Ledger, owed_refund, read_ledger, under_money_lease
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


def share_of(booking: Booking, kept: int) -> int:
    """The provider's share of what the business keeps (rounded down: a cent's doubt stays with the business)."""
    percent = get_catalog().service(booking.service_id).provider_share_percent
    return max(kept, 0) * percent // 100


def target_transferred(booking: Booking, ledger: Ledger, *, still_owed: int) -> int:
    """What the provider's transfers should add up to, net of reversals: their share of what was captured and
    not returned (refunds, a lost dispute) nor still owed back to the client."""
    return share_of(booking, ledger.captured - ledger.returned - still_owed)


def pay_provider(booking: Booking) -> str:
    """One payout decision for a booking whose hold period is over (it was found on the payout index, an
    eventually consistent copy: the decision is taken on the booking and Stripe as they are now, under the
    booking's money lease, so a refund or a dispute landing meanwhile is seen, or sees the transfer)."""
    outcome = ["waiting: not decided"]

    def decide(held: Held) -> dict[str, Any]:
        current = held.booking
        if current.payout_state not in (DUE, FAILED):
            outcome[0] = f"skipped: payout already {current.payout_state}"
            return {}
        ledger = read_ledger(current)
        held.sync(ledger)
        current = held.booking
        if ledger.transfers:  # made by an earlier run whose record was lost (even after Stripe forgot its key)
            transfer = ledger.transfers[0]
            outcome[0] = f"paid {transfer.amount} ({transfer.transfer_id}, found in Stripe)"
            fields = _paid_fields(transfer)
            held.update(fields)
            reverse_excess(held, ledger, still_owed=_still_owed(held.booking, ledger))
            return {}
        dispute = ledger.open_dispute
        if dispute is not None:
            outcome[0] = "blocked: disputed"
            return {"payout_state": BLOCKED, "payout_error": f"disputed ({dispute.dispute_id}, {dispute.status})"}
        if current.status not in SETTLED_STATUSES:
            outcome[0] = "waiting: not confirmed yet"
            return {}
        amount = target_transferred(current, ledger, still_owed=_still_owed(current, ledger))
        destination = current.provider_account or ""
        if amount <= 0 or not destination:
            outcome[0] = "skipped: nothing to transfer"
            return {
                "payout_state": SKIPPED,
                "payout_error": f"booking {current.status.value}: captured {ledger.captured}, "
                f"returned {ledger.returned}, nothing to transfer",
            }
        try:
            transfer = payments.create_transfer(current, amount, destination)
        except PaymentProviderUnavailable as exc:
            outcome[0] = "failed: Stripe unavailable; retried next run"
            return _failed_fields(current, str(exc), definitive=False)
        except PaymentProviderError as exc:
            outcome[0] = "failed: Stripe refused; retried next run"
            return _failed_fields(current, str(exc), definitive=True)
        metrics.add_metric(name="ProviderPaid", unit="Count", value=1)
        logger.info("provider paid", extra={"transfer_id": transfer.transfer_id, "amount": transfer.amount})
        outcome[0] = f"paid {transfer.amount} ({transfer.transfer_id})"
        held.update(_paid_fields(transfer))
        return {}

    paid = under_money_lease(booking.booking_id, decide)
    if outcome[0].startswith("failed"):
        flag(paid, "payout_failed", f"transfer to {paid.provider_account} failed: {paid.payout_error}")
    if outcome[0].startswith("blocked"):
        flag(paid, "disputed", f"{paid.payout_error}; payout blocked until the dispute is closed")
    return outcome[0]


SETTLED_STATUSES = frozenset({S.CONFIRMED, S.COMPLETED, S.CANCELLED})  # the booking keeps (part of) the payment


def _still_owed(booking: Booking, ledger: Ledger) -> int:
    owed = owed_refund(booking, ledger)
    return owed.amount if owed else 0


def _paid_fields(transfer: payments.TransferView) -> dict[str, Any]:
    return {
        "payout_state": PAID,
        "transfer_id": transfer.transfer_id,
        "transfer_amount": transfer.amount,
        "transfer_reversed": transfer.amount_reversed,
        "transferred_at": clock_now(),
        "payout_error": None,
    }


def _failed_fields(booking: Booking, error: str, *, definitive: bool) -> dict[str, Any]:
    metrics.add_metric(name="ProviderPayoutFailed", unit="Count", value=1)
    attempts = booking.payout_attempts + 1 if definitive else booking.payout_attempts
    return {"payout_state": FAILED, "payout_error": error, "payout_attempts": attempts}


def reverse_excess(held: Held, ledger: Ledger, *, still_owed: int) -> None:
    """Under the money lease: bring the provider's transfers (net of reversals, as Stripe reports them) down to
    their share of what the business keeps. Each reversal's key names the transfer and its reversed total."""
    booking = held.booking
    excess = ledger.transferred - target_transferred(booking, ledger, still_owed=still_owed)
    if excess <= 0:
        return
    reversed_total = 0
    for transfer in ledger.transfers:
        take = min(excess, transfer.net)
        if take <= 0:
            continue
        try:
            payments.reverse_transfer(booking, transfer, take)
        except (PaymentProviderError, PaymentProviderUnavailable) as exc:
            flag(booking, "transfer_reversal_failed", f"could not reverse {take} of {transfer.transfer_id}: {exc}")
            raise
        metrics.add_metric(name="TransferReversed", unit="Count", value=1)
        excess -= take
        reversed_total += take
    held.update({"transfer_reversed": booking.transfer_reversed + reversed_total})


class PayoutReport(BaseModel):
    paid: int = 0
    failed: int = 0
    skipped: int = 0
    blocked: int = 0
    waiting: int = 0
    stopped_early: bool = False


def run(budget: Budget) -> PayoutReport:
    """Pay every provider payout that is due (and retry failed ones), within the run's time budget. Each booking
    is first checked against its Cal.com booking: a cancellation whose webhook was lost is applied (and refunded)
    before anyone is paid for it."""
    from booking.calendar_sync import reconcile  # here: calendar_sync -> cancellation -> refunds -> payouts

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
                reconcile(booking)
                outcome = pay_provider(booking)
            except store.StaleBooking:
                continue  # another run decided this one first
            except DomainError as exc:  # Stripe down, or another worker moving this booking's money: next run
                logger.warning("payout deferred", extra={"error": f"{type(exc).__name__}: {exc}"})
                outcome = "waiting: deferred"
            field = outcome.split(maxsplit=1)[0].rstrip(":")  # each outcome starts with its report field
            setattr(report, field, getattr(report, field) + 1)
    return report
