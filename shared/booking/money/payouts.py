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

from booking.clock import now as clock_now
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import PaymentProviderError, PaymentProviderUnavailable
from booking.money.ledger import Held, Ledger
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers import payments
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


SETTLED_STATUSES = frozenset({S.CONFIRMED, S.COMPLETED, S.CANCELLED})  # the booking keeps (part of) the payment


def payout_step(
    held: Held, ledger: Ledger, *, still_owed: int
) -> tuple[str, dict[str, Any], payments.TransferView | None]:
    """Under the money lease, with Stripe read: the payout decision for a booking whose hold period is over.
    Returns (outcome, fields to write as the lease ends, the transfer made now); a transfer is recorded at once."""
    booking = held.booking
    if booking.payout_state not in (DUE, FAILED):
        return f"skipped: payout already {booking.payout_state}", {}, None
    if ledger.transfers:  # made by an earlier run whose record was lost (even after Stripe forgot its key)
        transfer = ledger.transfers[0]
        held.update(_paid_fields(transfer))
        return f"paid {transfer.amount} ({transfer.transfer_id}, found in Stripe)", {}, None
    dispute = ledger.open_dispute
    if dispute is not None:
        error = f"disputed ({dispute.dispute_id}, {dispute.status})"
        return "blocked: disputed", {"payout_state": BLOCKED, "payout_error": error}, None
    if booking.status not in SETTLED_STATUSES:
        return "waiting: not confirmed yet", {}, None
    amount = target_transferred(booking, ledger, still_owed=still_owed)
    destination = booking.provider_account or ""
    if amount <= 0 or not destination:
        error = f"booking {booking.status.value}: captured {ledger.captured}, returned {ledger.returned}"
        return "skipped: nothing to transfer", {"payout_state": SKIPPED, "payout_error": error}, None
    try:
        transfer = payments.create_transfer(booking, amount, destination)
    except PaymentProviderUnavailable as exc:
        fields = _failed_fields(booking, str(exc), definitive=False)
        return "failed: Stripe unavailable; retried next run", fields, None
    except PaymentProviderError as exc:
        fields = _failed_fields(booking, str(exc), definitive=True)
        return "failed: Stripe refused; retried next run", fields, None
    metrics.add_metric(name="ProviderPaid", unit="Count", value=1)
    logger.info("provider paid", extra={"transfer_id": transfer.transfer_id, "amount": transfer.amount})
    held.update(_paid_fields(transfer))
    return f"paid {transfer.amount} ({transfer.transfer_id})", {}, transfer


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
    already = sum(transfer.amount_reversed for transfer in ledger.transfers)
    held.update({"transfer_reversed": already + reversed_total})
