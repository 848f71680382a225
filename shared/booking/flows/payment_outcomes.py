"""What a succeeded payment does to its booking, whoever reports it (create-token, webhook, reconciliation).

No lost payment (DESIGN.md §3): a succeeded PaymentIntent ends in a PAID booking that keeps its slot, or in
a lost slot (`lost_slot.py`: another time on the same payment, or a refund with the reason recorded, flagged), or
(amount differs from the price) flagged.
"""

from __future__ import annotations

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import BookingNotFound, PaymentAmountMismatch, PaymentIntentMismatch, PaymentNotSucceeded
from booking.flows import lost_slot
from booking.money import collections
from booking.money.ledger import owed_now
from booking.money.settlement import settle
from booking.observability import metrics
from booking.owner.alerts import flag
from booking.providers.payments import PaymentIntentView

S = BookingStatus
MAX_ATTEMPTS = 5


def record_payment(
    booking_id: str,
    intent: PaymentIntentView,
    *,
    actor: str,
    read: Booking | None = None,
    fields: dict[str, object] | None = None,
) -> Booking:
    """Record a succeeded PaymentIntent on its booking: HELD/EXPIRED -> PAID with the slot kept for good. `read`:
    the booking as the caller just read it (tried first; a stale one costs a failed write, then a read). `fields`:
    more for the same write (create-token's token)."""
    if intent.status != "succeeded":
        raise PaymentNotSucceeded(intent.status, intent.last_payment_error_message)
    for attempt in range(MAX_ATTEMPTS):
        booking = read if attempt == 0 and read is not None else store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.payment_intent_id and booking.payment_intent_id != intent.id:
            raise PaymentIntentMismatch
        if booking.amount_paid:
            return settle(booking)  # recorded already; finish a refund an earlier attempt could not make
        if intent.amount_received != booking.amount_due_now or intent.currency != booking.currency:
            received = f"{intent.amount_received} {intent.currency}"
            expected = f"{booking.amount_due_now} {booking.currency}"
            flag(booking, "amount_mismatch", f"received {received}, expected {expected}")
            raise PaymentAmountMismatch(booking.amount_due_now, intent.amount_received, intent.currency)
        try:
            return _apply_payment(booking, intent, actor=actor, extra=fields or {})
        except store.StaleBooking:
            continue
    raise store.StaleBooking(booking_id)


def _apply_payment(
    booking: Booking, intent: PaymentIntentView, *, actor: str, extra: dict[str, object] | None = None
) -> Booking:
    now = clock_now()
    fields: dict[str, object] = {
        "amount_paid": intent.amount_received,
        "payment_intent_id": intent.id,
        "charge_id": intent.latest_charge,
        "payment_status": intent.status,
        "payment_error": None,
        "paid_at": now,
        **(extra or {}),
    }
    if booking.status in (S.HELD, S.EXPIRED):
        late = booking.status == S.EXPIRED or not booking.hold_is_live(now)
        try:
            paid = store.take_seat_for_good(
                booking,
                S.PAID,
                actor=actor,
                reason="payment succeeded after the hold lapsed; slot still free" if late else "payment succeeded",
                now=now,
                fields=fields | collections.after_payment_fields(booking, now),
            )
        except store.SeatTaken:
            metrics.add_metric(name="LatePaymentSlotLost", unit="Count", value=1)
            return lost_slot.lose_slot(
                booking,
                actor=actor,
                reason="payment succeeded after the hold lapsed and someone else took the slot",
                cause="late payment: the slot was taken after the hold expired",
                flag_code="late_payment_slot_lost",
                fields=fields,
            )
        metrics.add_metric(name="PaymentRecorded", unit="Count", value=1)
        return paid
    # Paid for a booking that can no longer take its slot: keep the money visible on the booking, then refund
    # it: by the cancellation policy if it was cancelled, in full otherwise.
    closed = store.update_fields(booking.booking_id, fields | owed_now(), condition=store.status_is(booking.status))
    if closed.status != S.CANCELLED:
        reason = f"payment arrived for a {closed.status.value} booking; refunded in full"
        closed = flag(
            store.update_fields(closed.booking_id, {"auto_refund_reason": reason}),  # OWED since the line above
            "unexpected_payment",
            reason,
        )
    return settle(closed)
