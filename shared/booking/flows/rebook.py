"""Another time on the same payment after the slot was lost (POST /bookings/rebook; issue 10, item 4).

Within the service's rebook window (`lost_slot.py`) the client picks another free start of the same service: no new
charge (the same PaymentIntent and amount). The new seat is taken with the same conditional write as a payment's
(a race for it is 409 slot_taken and changes nothing) and the booking goes SLOT_UNAVAILABLE -> PAID at the new start
in that one transaction, so of two rebooks at once exactly one wins. Then the booking is confirmed in Cal.com with
the code /bookings/verify uses; if Cal.com is down it stays PAID ("confirmation pending") and the cleanup job
finishes it. The same rebook again answers the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import computed_field

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    CalendarUnavailable,
    ConfirmationInProgress,
    Conflict,
    SlotTaken,
)
from booking.flows.availability import check_bookable
from booking.flows.confirmation import Confirmation, confirm_booking
from booking.flows.lost_slot import rebook_until
from booking.flows.tokens import redeem_for_rebook
from booking.money import collections
from booking.observability import logger, metrics

S = BookingStatus


class RebookWindowClosed(Conflict):
    code = "rebook_window_closed"

    def __init__(self, booking_id: str) -> None:
        super().__init__(
            "The time to pick another slot has passed; your payment is being refunded in full.", booking_id=booking_id
        )


class AlreadyRebooked(Conflict):
    code = "already_rebooked"

    def __init__(self, booking: Booking) -> None:
        super().__init__(
            "This booking has already moved to another time.",
            booking_id=booking.booking_id,
            start=booking.slot_start.isoformat(),
        )


class Rebooked(Confirmation):
    """The booking at its new time, as /bookings/verify answers it; no Cal.com uid while the confirmation is pending
    (Cal.com did not answer: the booking is PAID at the new time and the cleanup job confirms it)."""

    cal_booking_uid: str | None  # type: ignore[assignment]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def confirmation_pending(self) -> bool:
        return self.cal_booking_uid is None


def rebook(token: str, start: datetime) -> Rebooked:
    """POST /bookings/rebook: the token create-token or verify gave out when the slot was lost."""
    return rebook_booking(redeem_for_rebook(token), start)


def rebook_booking(booking_id: str, start: datetime) -> Rebooked:
    """Move the lost booking to `start` on the same payment, once, within its rebook window (also reached through
    the booking's manage link: `flows/manage.reschedule`)."""
    requested = start.astimezone(UTC)
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if _rebooked_to(booking, requested):
            return _confirm(booking)  # the same rebook again
        if booking.status != S.SLOT_UNAVAILABLE:
            if _rebooked_to(booking, booking.slot_start):
                raise AlreadyRebooked(booking)
            raise BookingClosed(booking.booking_id, booking.status.value)
        now = clock_now()
        until = rebook_until(booking)
        if until is None or until <= now:
            raise RebookWindowClosed(booking.booking_id)
        service = get_catalog().service(booking.service_id)
        new_start = check_bookable(service, start, now)
        try:
            moved = store.move_to_slot(
                booking,
                S.PAID,
                start=new_start,
                end=new_start + timedelta(minutes=service.duration_minutes),
                capacity=service.capacity,
                actor="client",
                reason=f"rebooked from {booking.slot_start.isoformat()} on the same payment",
                now=now,
                fields=fresh_calendar_fields(booking, now),
            )
        except store.SeatTaken:
            metrics.add_metric(name="SlotTaken", unit="Count", value=1)
            raise SlotTaken from None
        except store.StaleBooking:
            continue
        metrics.add_metric(name="Rebooked", unit="Count", value=1)
        logger.info("rebooked on the same payment", extra={"start": new_start.isoformat()})
        return _confirm(moved)
    raise store.StaleBooking(booking_id)


def _rebooked_to(booking: Booking, start: datetime) -> bool:
    """The booking was rebooked (SLOT_UNAVAILABLE -> PAID in its history) and is now at `start`."""
    rebooked = any(r.source == S.SLOT_UNAVAILABLE.value and r.target == S.PAID.value for r in booking.history)
    live = booking.status in (S.PAID, S.CONFIRMED, S.COMPLETED)
    return rebooked and live and booking.slot_start == start


def fresh_calendar_fields(booking: Booking, now: datetime) -> dict[str, object]:
    """The new time is a new Cal.com booking: nothing of the lost slot's attempts carries over. The payout is
    scheduled from the payment (a late payment that lost its slot had none scheduled)."""
    payout = {} if booking.payout_state else collections.after_payment_fields(booking, booking.paid_at or now)
    return {
        "cal_booking_uid": None,
        "cal_seat_uid": None,
        "cal_attempts": 0,
        "cal_lease_until": None,
        "cal_last_error": None,
        "token_expires_at": None,  # the client acted: no "link expired unconfirmed" alert for the new time
        **payout,
    }


def _confirm(booking: Booking) -> Rebooked:
    try:
        return Rebooked.model_validate(confirm_booking(booking.booking_id, actor="client").model_dump())
    except (CalendarUnavailable, ConfirmationInProgress):
        return Rebooked.of(store.get_booking(booking.booking_id) or booking)  # PAID: the cleanup job confirms it
