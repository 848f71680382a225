"""Refunds: the one the booking's state owes (`ledger.owed_refund`), made once, by the holder of the booking's
money lease, after reading every refund Stripe already has for it (`money.py` runs this step).
"""

from __future__ import annotations

from booking.errors import PaymentProviderError
from booking.money.ledger import Held, Ledger, OwedRefund
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers import payments
from booking.providers.payments import RefundView

MAX_REFUND_FAILURES = 2  # a refund that failed at the bank is made once more, then left to the owner


def note_failures(held: Held, ledger: Ledger) -> None:
    """Refunds Stripe now reports failed (after the fact, at the bank): flag once, tell the owner."""
    for refund in ledger.refunds:
        if refund.status == "failed" and refund.refund_id not in held.booking.failed_refund_ids:
            metrics.add_metric(name="RefundFailed", unit="Count", value=1)
            flag(held.booking, "refund_failed", f"refund {refund.refund_id} of {refund.amount} failed at the bank")


def given_up(ledger: Ledger, owed: OwedRefund) -> bool:
    return ledger.failed_attempts(owed.purpose) >= MAX_REFUND_FAILURES


def make_refund(held: Held, ledger: Ledger, owed: OwedRefund) -> list[RefundView]:
    """Make the owed refund unless Stripe cannot take it now: the refunds as Stripe answered (none, or one per
    payment it was spread over)."""
    booking = held.booking
    if given_up(ledger, owed):
        return []  # flagged when Stripe reported each failure: the owner takes it from here
    dispute = ledger.open_dispute
    if dispute is not None:
        flag(booking, "refund_blocked_by_dispute", f"{owed.amount} owed, but {dispute.dispute_id} is open")
        return []
    attempt = sum(1 for refund in ledger.refunds if refund.purpose == owed.purpose)
    try:
        made = refund_across_payments(
            held, ledger, owed.amount, purpose=owed.purpose, reason=owed.reason, key=f"{owed.purpose}:{attempt}"
        )
    except PaymentProviderError as exc:
        if exc.details.get("provider_code") == "charge_disputed":
            flag(booking, "refund_blocked_by_dispute", f"{owed.amount} owed; Stripe: the charge is disputed")
            return []
        raise
    return made


def refund_plan(ledger: Ledger, amount: int) -> list[tuple[str, int]]:
    """Which payments a refund of `amount` comes from: the latest first (a fee, then the balance, then the
    deposit), each never more than Stripe can still refund of it; a reschedule fee last (a client's cancellation
    keeps it: `ledger.with_reschedule_fees`)."""
    plan: list[tuple[str, int]] = []
    left = amount
    latest_first = list(reversed(ledger.succeeded))
    for intent in sorted(latest_first, key=lambda intent: intent.purpose == "reschedule_fee"):
        take = min(left, ledger.refundable_of(intent.id))
        if take > 0:
            plan.append((intent.id, take))
            left -= take
    return plan


def refund_across_payments(
    held: Held, ledger: Ledger, amount: int, *, purpose: str, reason: str, key: str, request: str = ""
) -> list[RefundView]:
    """Refund `amount` (under the money lease, Stripe read) per `refund_plan`. Each Stripe refund's key is
    `key` and the payment it comes from: the same decision, retried, gets the same refunds."""
    booking = held.booking
    made: list[RefundView] = []
    for payment_intent_id, take in refund_plan(ledger, amount):
        created = payments.create_refund(
            booking,
            payment_intent_id,
            take,
            purpose=purpose,
            reason=reason,
            key=payments.idempotency_key(booking.booking_id, f"refund:{key}:{payment_intent_id}"),
            request=request,
        )
        made.append(created)
        metrics.add_metric(name="RefundIssued", unit="Count", value=1)
        logger.info(
            "refund issued", extra={"purpose": purpose, "amount": created.amount, "refund_id": created.refund_id}
        )
    return made
