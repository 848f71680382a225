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


def make_refund(held: Held, ledger: Ledger, owed: OwedRefund) -> RefundView | None:
    """Make the owed refund unless Stripe cannot take it now: the refund as Stripe answered, or None."""
    booking = held.booking
    if given_up(ledger, owed):
        return None  # flagged when Stripe reported each failure: the owner takes it from here
    dispute = ledger.open_dispute
    if dispute is not None:
        flag(booking, "refund_blocked_by_dispute", f"{owed.amount} owed, but {dispute.dispute_id} is open")
        return None
    attempt = sum(1 for refund in ledger.refunds if refund.purpose == owed.purpose)
    try:
        created = payments.create_refund(
            booking,
            booking.payment_intent_ids[-1],
            owed.amount,
            purpose=owed.purpose,
            reason=owed.reason,
            attempt=attempt,
        )
    except PaymentProviderError as exc:
        if exc.details.get("provider_code") == "charge_disputed":
            flag(booking, "refund_blocked_by_dispute", f"{owed.amount} owed; Stripe: the charge is disputed")
            return None
        raise
    metrics.add_metric(name="RefundIssued", unit="Count", value=1)
    logger.info(
        "refund issued", extra={"purpose": owed.purpose, "amount": created.amount, "refund_id": created.refund_id}
    )
    return created
