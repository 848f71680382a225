"""Cancelling a booking (by the client or the business, from Cal.com or the owner) and the refund it owes."""

from __future__ import annotations

from datetime import datetime

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import BookingClosed, BookingNotFound
from booking.money.ledger import owed_now
from booking.money.settlement import settle
from booking.observability import logger, metrics

S = BookingStatus
CANCELLABLE = frozenset({S.HELD, S.PAID, S.CONFIRMED, S.SLOT_UNAVAILABLE})


def cancel(
    booking_id: str,
    *,
    cancelled_at: datetime,
    by_business: bool,
    actor: str,
    reason: str,
    cal_uid: str | None = None,
    cancelled_start: datetime | None = None,
) -> Booking:
    """Cancel (once) and refund what the policy says (once). A second cancellation changes nothing.

    `cancelled_start` is the start of the Cal.com booking that was cancelled, when Cal.com says it: a
    cancellation is priced on it, whether or not the reschedule that moved it there reached us first.
    """
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.status == S.CANCELLED:
            return settle(booking)
        if booking.status not in CANCELLABLE:
            raise BookingClosed(booking_id, booking.status.value)
        try:
            cancelled = store.release_seat(
                booking,
                S.CANCELLED,
                actor=actor,
                reason=reason,
                now=clock_now(),
                fields={
                    "cancelled_at": cancelled_at,
                    "cancelled_by": "business" if by_business else "client",
                    "cancelled_slot_start": cancelled_start or booking.slot_start,
                    "cal_booking_uid": cal_uid or booking.cal_booking_uid,
                    "cal_lease_until": None,
                    **(owed_now() if booking.payment_intent_id else {}),
                },
            )
        except store.StaleBooking:
            continue
        metrics.add_metric(name="BookingCancelled", unit="Count", value=1)
        logger.info("booking cancelled", extra={"by": cancelled.cancelled_by, "reason": reason})
        return settle(cancelled)
    raise store.StaleBooking(booking_id)
