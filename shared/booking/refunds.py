"""Refunds: what a booking's state says is owed, executed once per purpose (deterministic Idempotency-Key)
and recorded on the booking. `settle` is called after every event that can complete the picture, so the
refund does not depend on the order events arrive in, and a refund that failed is made by the next attempt.
"""

from __future__ import annotations

from booking import payments
from booking.catalog import get_catalog
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.lifecycle import BookingStatus
from booking.models import Booking, RefundRecord
from booking.observability import logger, metrics
from booking.payouts import reverse_for_refunds
from booking.policy import cancellation_terms


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
        RefundRecord(
            refund_id=created.refund_id, amount=created.amount, purpose=purpose, reason=reason, at=clock_now()
        ),
    )
    return recorded or booking


def owed(booking: Booking) -> tuple[int, str, str] | None:
    """(amount, purpose, reason) the booking's state says must be refunded, if any."""
    if not booking.amount_paid:
        return None
    if booking.status == BookingStatus.CANCELLED and booking.cancelled_at is not None:
        terms = cancellation_terms(
            amount_paid=booking.amount_paid,
            total=booking.total,
            slot_start=booking.slot_start,
            cancelled_at=booking.cancelled_at,
            by_business=booking.cancelled_by == "business",
            policy=get_catalog().service(booking.service_id).cancellation,
        )
        return terms.refund, "cancellation", terms.reason
    if booking.auto_refund_reason:
        return booking.amount_paid, "full_refund", booking.auto_refund_reason
    return None


def settle(booking: Booking) -> Booking:
    """Make the refund the booking's state owes, then take the provider's share of refunds back."""
    due = owed(booking)
    if due is not None:
        amount, purpose, reason = due
        booking = refund(booking, amount, purpose=purpose, reason=reason)
    return reverse_for_refunds(booking)
