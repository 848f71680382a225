"""Cancelling a booking (by the client or the business, from Cal.com or the owner) and the refund it owes; a
session booked with a package credit gets the credit back, by policy, in the cancellation's own transaction."""

from __future__ import annotations

from datetime import datetime

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import packages as package_store
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.domain.policy import package_credit_returned
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
        give_back = _credit_returned(booking, cancelled_at, cancelled_start, by_business=by_business)
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
                give_back_credit=give_back,
            )
        except store.StaleBooking:
            continue
        metrics.add_metric(name="BookingCancelled", unit="Count", value=1)
        logger.info(
            "booking cancelled", extra={"by": cancelled.cancelled_by, "reason": reason, "credit_returned": give_back}
        )
        return settle(cancelled)
    raise store.StaleBooking(booking_id)


def _credit_returned(
    booking: Booking, cancelled_at: datetime, cancelled_start: datetime | None, *, by_business: bool
) -> bool:
    """Give the package credit back if the booking still holds it and the policy says so: by the business, or inside
    the free window; an owner's cancellation by its refund choice, as for money (`none` keeps the credit spent,
    `policy` prices it as if the client cancelled now). The give-back's own condition makes it once only."""
    if booking.package_id is None or booking.cancel_refund == "none":
        return False
    package = package_store.get(booking.package_id)
    if package is None or booking.booking_id not in (package.booking_ids or set()):
        return False
    return package_credit_returned(
        slot_start=cancelled_start or booking.slot_start,
        cancelled_at=cancelled_at,
        by_business=booking.cancel_refund == "full" or (by_business and booking.cancel_refund is None),
        policy=get_catalog().service(booking.service_id).cancellation,
    )
