"""Refunds: executed once per purpose (deterministic Idempotency-Key) and recorded on the booking."""

from __future__ import annotations

from booking import payments
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.models import Booking, RefundRecord
from booking.observability import logger, metrics


def refund(booking: Booking, amount: int, *, purpose: str, reason: str) -> Booking:
    """Refund `amount` for `purpose`, once: a purpose already refunded is never refunded again.

    The amount is capped by what our other refunds left, computed from our own records only, so a retry after
    a crash sends Stripe the same parameters under the same Idempotency-Key and gets the first refund back.
    """
    if any(existing.purpose == purpose for existing in booking.refunds):
        return booking
    others = sum(existing.amount for existing in booking.refunds)
    amount = min(amount, booking.amount_paid - others)
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
