"""Refunds: executed once per purpose (deterministic Idempotency-Key) and recorded on the booking."""

from __future__ import annotations

from booking import payments
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.models import Booking, RefundRecord
from booking.observability import logger, metrics


def refundable(booking: Booking) -> int:
    return max(booking.amount_paid - booking.amount_refunded, 0)


def refund(booking: Booking, amount: int, *, purpose: str, reason: str) -> Booking:
    """Refund `amount` (capped at what is left) for `purpose`; the same purpose never refunds twice."""
    amount = min(amount, refundable(booking))
    if amount <= 0 or not booking.payment_intent_id:
        return booking
    created = payments.create_refund(booking, amount, purpose=purpose, reason=reason)
    metrics.add_metric(name="RefundIssued", unit="Count", value=1)
    logger.info("refund issued", extra={"purpose": purpose, "amount": created.amount, "refund_id": created.refund_id})
    recorded = store.record_refund(
        booking.booking_id,
        RefundRecord(refund_id=created.refund_id, amount=created.amount, purpose=purpose, at=clock_now()),
    )
    return recorded or booking
