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


def due_again_fields(booking: Booking, paid_at: datetime) -> dict[str, Any]:
    """A later payment (a balance, a fee) arrived: the provider's share of it is due after its own hold period
    (a blocked payout stays blocked until its dispute closes)."""
    if not booking.provider_account or booking.payout_state == BLOCKED:
        return {}
    due = paid_at + timedelta(hours=get_settings().payout_hold_hours)
    if booking.payout_state in (DUE, FAILED) and booking.payout_due_at is not None:
        due = max(due, booking.payout_due_at)
    return {"payout_state": DUE, "payout_due_at": due}


def share_of(booking: Booking, kept: int) -> int:
    """The provider's share of what the business keeps (rounded down: a cent's doubt stays with the business)."""
    percent = get_catalog().service(booking.service_id).provider_share_percent
    return max(kept, 0) * percent // 100


def target_transferred(booking: Booking, ledger: Ledger, *, still_owed: int) -> int:
    """What the provider's transfers should add up to, net of reversals: their share of what was captured and
    not returned (refunds, a lost dispute) nor still owed back to the client."""
    return share_of(booking, ledger.captured - ledger.returned - still_owed)


# The booking keeps (part of) the payment.
SETTLED_STATUSES = frozenset({S.CONFIRMED, S.COMPLETED, S.NO_SHOW, S.CANCELLED})


def payout_step(
    held: Held, ledger: Ledger, *, still_owed: int
) -> tuple[str, dict[str, Any], list[payments.TransferView]]:
    """Under the money lease, with Stripe read: the payout decision for a booking whose hold period is over.
    Returns (outcome, fields to write as the lease ends, the transfers made now); transfers are recorded at once.

    The provider is owed their share of everything the booking kept; what Stripe shows transferred already
    (made by an earlier run whose record was lost, even after Stripe forgot its key, or before a balance was
    paid) counts, so only the difference moves, drawn from the charges' own funds, latest charge first."""
    booking = held.booking
    if booking.payout_state not in (DUE, FAILED):
        return f"skipped: payout already {booking.payout_state}", {}, []
    dispute = ledger.open_dispute
    if dispute is not None:
        error = f"disputed ({dispute.dispute_id}, {dispute.status})"
        return "blocked: disputed", {"payout_state": BLOCKED, "payout_error": error}, []
    if booking.status not in SETTLED_STATUSES:
        return "waiting: not confirmed yet", {}, []
    owed = target_transferred(booking, ledger, still_owed=still_owed) - ledger.transferred
    destination = booking.provider_account or ""
    if owed <= 0 or not destination:
        if ledger.transfers:
            held.update(_paid_fields(ledger.transfers))
            return f"paid {ledger.transferred} (found in Stripe)", {}, []
        error = f"booking {booking.status.value}: captured {ledger.captured}, returned {ledger.returned}"
        return "skipped: nothing to transfer", {"payout_state": SKIPPED, "payout_error": error}, []
    made: list[payments.TransferView] = []
    try:
        for charge_id, amount in _draw(ledger, owed):
            key = f"transfer:{len(ledger.transfers) + len(made)}:{booking.payout_attempts}"
            made.append(payments.create_transfer(booking, amount, destination, source_charge=charge_id, key=key))
    except PaymentProviderUnavailable as exc:
        fields = _failed_fields(booking, str(exc), definitive=False)
        return "failed: Stripe unavailable; retried next run", _recorded(held, ledger, made) | fields, made
    except PaymentProviderError as exc:
        fields = _failed_fields(booking, str(exc), definitive=True)
        return "failed: Stripe refused; retried next run", _recorded(held, ledger, made) | fields, made
    metrics.add_metric(name="ProviderPaid", unit="Count", value=len(made))
    logger.info("provider paid", extra={"transfers": [t.transfer_id for t in made], "amount": owed})
    held.update(_paid_fields([*ledger.transfers, *made]))
    return f"paid {owed} ({', '.join(t.transfer_id for t in made)})", {}, made


def _draw(ledger: Ledger, amount: int) -> list[tuple[str, int]]:
    """Which charges a transfer of `amount` draws on (Stripe refuses to transfer more of a charge than it
    brought in, less its refunds): the latest first (the money that arrived since the last payout), each less what
    was already transferred from it."""
    plan: list[tuple[str, int]] = []
    left = amount
    for intent in reversed(ledger.succeeded):
        if not intent.latest_charge or left <= 0:
            continue
        used = sum(t.amount for t in ledger.transfers if t.source_transaction == intent.latest_charge)
        take = min(left, ledger.refundable_of(intent.id) - used)  # what is left of the charge after refunds
        if take > 0:
            plan.append((intent.latest_charge, take))
            left -= take
    return plan


def _recorded(held: Held, ledger: Ledger, made: list[payments.TransferView]) -> dict[str, Any]:
    """Transfers made before a later one failed are on record at once (the next run counts them anyway)."""
    if made:
        held.update(_paid_fields([*ledger.transfers, *made]) | {"payout_state": FAILED})
    return {}


def _paid_fields(transfers: list[payments.TransferView]) -> dict[str, Any]:
    return {
        "payout_state": PAID,
        "transfer_id": transfers[-1].transfer_id,
        "transfer_amount": sum(transfer.amount for transfer in transfers),
        "transfer_reversed": sum(transfer.amount_reversed for transfer in transfers),
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
