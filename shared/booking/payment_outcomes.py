"""What a succeeded payment does to its booking, whoever reports it (create-token, webhook, reconciliation).

No lost payment (DESIGN.md §3): a succeeded PaymentIntent ends in a PAID booking that keeps its slot, or in
a refund with the reason recorded and the booking flagged, or (amount differs from the price) flagged.
"""

from __future__ import annotations

from booking.cancellation import settle_refund
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.errors import BookingNotFound, PaymentAmountMismatch, PaymentIntentMismatch, PaymentNotSucceeded
from booking.lifecycle import BookingStatus
from booking.models import Booking, Flag
from booking.observability import logger, metrics
from booking.payments import PaymentIntentView
from booking.refunds import refund

S = BookingStatus
MAX_ATTEMPTS = 5


def flag(booking: Booking, code: str, reason: str) -> Booking:
    logger.warning("booking flagged for the owner", extra={"flag": code, "reason": reason})
    metrics.add_metric(name=f"Flagged_{code}", unit="Count", value=1)
    return store.add_flag(booking.booking_id, Flag(code=code, reason=reason, at=clock_now())) or booking


def record_payment(booking_id: str, intent: PaymentIntentView, *, actor: str) -> Booking:
    """Record a succeeded PaymentIntent on its booking: HELD/EXPIRED -> PAID with the slot kept for good."""
    if intent.status != "succeeded":
        raise PaymentNotSucceeded(intent.status, intent.last_payment_error_message)
    for _ in range(MAX_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.payment_intent_id and booking.payment_intent_id != intent.id:
            raise PaymentIntentMismatch
        if booking.amount_paid:
            return booking  # recorded already
        if intent.amount_received != booking.amount_due_now or intent.currency != booking.currency:
            received = f"{intent.amount_received} {intent.currency}"
            flag(
                booking, "amount_mismatch", f"received {received}, expected {booking.amount_due_now} {booking.currency}"
            )
            raise PaymentAmountMismatch(booking.amount_due_now, intent.amount_received, intent.currency)
        now = clock_now()
        fields = {
            "amount_paid": intent.amount_received,
            "payment_intent_id": intent.id,
            "charge_id": intent.latest_charge,
            "payment_status": intent.status,
            "payment_error": None,
            "paid_at": now,
        }
        try:
            if booking.status in (S.HELD, S.EXPIRED):
                late = booking.status == S.EXPIRED or not booking.hold_is_live(now)
                paid = store.take_seat_for_good(
                    booking,
                    S.PAID,
                    actor=actor,
                    reason="payment succeeded after the hold lapsed; slot still free" if late else "payment succeeded",
                    now=now,
                    fields=fields,
                )
                metrics.add_metric(name="PaymentRecorded", unit="Count", value=1)
                return paid
            # Paid for a booking that can no longer take its slot: keep the money visible on the booking, then
            # refund it: by the cancellation policy if it was cancelled, in full otherwise.
            closed = store.update_fields(booking_id, fields, condition=store.status_is(booking.status))
            if closed.status == S.CANCELLED:
                return settle_refund(closed)
            return _refund_unusable_payment(closed, f"payment arrived for a {booking.status.value} booking")
        except store.SeatTaken:
            lost = store.transition(
                booking,
                S.SLOT_UNAVAILABLE,
                actor=actor,
                reason="payment succeeded after the hold lapsed and someone else took the slot",
                now=now,
                fields=fields,
            )
            return _refund_unusable_payment(lost, "late payment: the slot was taken after the hold expired")
        except store.StaleBooking:
            continue
    raise store.StaleBooking(booking_id)


def _refund_unusable_payment(booking: Booking, reason: str) -> Booking:
    metrics.add_metric(name="LatePaymentRefunded", unit="Count", value=1)
    booking = flag(booking, "payment_refunded_slot_lost", reason)
    return refund(booking, booking.amount_paid, purpose="slot_lost", reason=reason)
