"""Cal.com is the truth for the calendar: follow its reschedules, and reconcile with it when a webhook may have
been lost (Cal.com posts each webhook once). The cleanup job checks CONFIRMED bookings starting soon (and those
whose end has passed), a bounded number per run within Cal.com's rate limit, and the payout job checks every
booking before paying its provider: a booking cancelled there is cancelled here and refunded by the policy,
priced on the Cal.com booking's own start; a moved one is moved; an ended one is completed.
"""

from __future__ import annotations

from datetime import datetime

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Seat
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    CalendarError,
    CalendarUnavailable,
    ConfirmationInProgress,
    Conflict,
    DomainError,
    SlotTaken,
)
from booking.flows.availability import check_bookable
from booking.flows.cancellation import cancel
from booking.money import collections
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers.calcom import (
    CLOSED_STATUSES,
    CalBooking,
    CalendarDown,
    CalendarRejected,
    CalendarSlotTaken,
    calendar,
)

S = BookingStatus
MAX_RESCHEDULE_HOPS = 5  # a booking moved again and again: follow rescheduledToUid this far


def move_to(
    booking_id: str,
    *,
    uid: str,
    start: datetime,
    end: datetime,
    actor: str,
    reason: str,
    count_reschedule: bool = True,
) -> str:
    """Follow a reschedule: free the old seat and hold the new slot in one transaction (a webhook, a check, or a
    reschedule made here: `reschedule`)."""
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None or booking.status not in (S.CONFIRMED, S.PAID):
            return f"ignored: booking is {booking.status.value if booking else 'unknown'}"
        if booking.cal_booking_uid == uid:
            return "already moved"
        capacity = get_catalog().service(booking.service_id).capacity
        try:
            moved = store.move_booking(
                booking,
                start=start,
                end=end,
                cal_uid=uid,
                capacity=capacity,
                actor=actor,
                reason=reason,
                now=clock_now(),
                count_reschedule=count_reschedule,
            )
        except store.SeatTaken:
            flag(booking, "reschedule_conflict", f"Cal.com moved it to {start}, a slot another booking holds here")
            return "flagged: the new slot is held by another booking"
        except store.StaleBooking:
            continue
        due = collections.collect_at(moved)
        if moved.money_state == "COLLECT" and due is not None:
            store.move_collection(booking_id, due)
        metrics.add_metric(name="BookingRescheduled", unit="Count", value=1)
        return "moved"
    raise store.StaleBooking(booking_id)


class RescheduleNotSupported(Conflict):
    code = "reschedule_not_supported"

    def __init__(self, booking_id: str, why: str) -> None:
        super().__init__(f"This booking cannot be moved here: {why}.", booking_id=booking_id)


def reschedule(booking_id: str, start: datetime, *, actor: str, reason: str, by_client: bool = True) -> Booking:
    """Move a CONFIRMED booking to another offered start of its service, on the same payment.

    It is rescheduled in Cal.com first (Cal.com creates the new booking), then moved here with `move_to`, the code
    Cal.com's BOOKING_RESCHEDULED webhook runs, so the webhook that follows finds it moved already. A PAID booking
    is being confirmed (its calendar lease may be held): the caller tries again once it is confirmed (the blocked
    dates' own move of a PAID booking takes that lease: flows/blocked_dates.py). `by_client`: counts toward the
    service's reschedule cap. Raises SlotTaken, CalendarUnavailable, CalendarError, BookingClosed.
    """
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    if booking.status == S.PAID:
        raise ConfirmationInProgress("This booking is being confirmed in the calendar; try again in a moment.")
    if booking.status != S.CONFIRMED or not booking.cal_booking_uid:
        raise BookingClosed(booking_id, booking.status.value)
    service = get_catalog().service(booking.service_id)
    if service.capacity > 1:
        raise RescheduleNotSupported(booking_id, "Cal.com cannot move one seat of a shared session")
    now = clock_now()
    new_start = check_bookable(service, start, now)
    if new_start == booking.slot_start:
        return booking
    if store.seat_holder(Seat(event_type_id=booking.event_type_id, start=new_start), now) not in (None, booking_id):
        raise SlotTaken
    moved = _reschedule_there(booking, new_start, reason)
    outcome = move_to(
        booking_id,
        uid=moved.uid,
        start=moved.start,
        end=moved.end,
        actor=actor,
        reason=f"{reason} (Cal.com booking {moved.uid})",
        count_reschedule=by_client,
    )
    logger.info("rescheduled", extra={"outcome": outcome, "start": moved.start.isoformat()})
    after = store.get_booking(booking_id)
    assert after is not None
    return after


def _reschedule_there(booking: Booking, start: datetime, reason: str) -> CalBooking:
    """Reschedule in Cal.com, following a move that already happened (an earlier attempt whose answer was lost)."""
    assert booking.cal_booking_uid
    try:
        current = _current(booking.cal_booking_uid)
        if current.start == start and current.status not in CLOSED_STATUSES:
            return current  # moved already
        if current.status in CLOSED_STATUSES:
            raise CalendarError(f"The Cal.com booking {current.uid} is {current.status}; it cannot be moved.")
        try:
            return calendar().reschedule_booking(current.uid, start, reason)
        except CalendarDown:
            after = _current(current.uid)  # did it land before the answer was lost?
            if after.uid != current.uid and after.start == start:
                return after
            raise
    except CalendarSlotTaken:
        raise SlotTaken from None
    except CalendarDown as exc:
        raise CalendarUnavailable("Cal.com did not answer; nothing was moved. Try again in a moment.") from exc
    except CalendarRejected as exc:
        raise CalendarError(f"Cal.com refused to move booking {booking.cal_booking_uid}: {exc.message}") from exc


def reconcile(booking: Booking) -> str:
    """Bring a CONFIRMED booking in line with its Cal.com booking. Raises CalendarUnavailable if Cal.com is down."""
    if booking.status != S.CONFIRMED or not booking.cal_booking_uid:
        return "nothing to check"
    try:
        current = _current(booking.cal_booking_uid)
    except CalendarDown as exc:
        raise CalendarUnavailable("Cal.com did not answer; the booking is checked again later.") from exc
    except CalendarRejected as exc:
        logger.warning("Cal.com refused the check", extra={"error": str(exc)})
        return "unchecked: Cal.com refused"
    now = clock_now()
    outcome = "in line"
    if current.uid != booking.cal_booking_uid and current.status not in CLOSED_STATUSES:
        outcome = move_to(
            booking.booking_id,
            uid=current.uid,
            start=current.start,
            end=current.end,
            actor="reconciliation",
            reason=f"rescheduled in Cal.com to {current.uid} at {current.start.isoformat()} (no webhook reached us)",
        )
        flag(booking, "calendar_reconciled", f"moved in Cal.com to {current.start.isoformat()}; no webhook came")
    elif current.status in CLOSED_STATUSES or _our_seat_cancelled(booking, current):
        outcome = _cancelled_there(booking, current)
    elif current.end <= now:
        try:
            store.transition(booking, S.COMPLETED, actor="reconciliation", reason="meeting ended", now=now)
            outcome = "completed"
        except store.StaleBooking:
            outcome = "changed meanwhile"
    store.update_fields(booking.booking_id, {"cal_checked_at": now})
    metrics.add_metric(name="CalendarChecked", unit="Count", value=1)
    return outcome


def cancel_there(booking: Booking, reason: str) -> None:
    """Cancel the booking in Cal.com (only our seats in a seated one: the payer's and the party's), following a
    reschedule we may have missed. Already cancelled there (the client was first, its webhook not here yet) is
    done, not an error."""
    uid = booking.cal_booking_uid
    if not uid:
        return
    try:
        current = _current(uid)
        if current.status in CLOSED_STATUSES:
            return
        if not _our_seat_cancelled(booking, current):
            try:
                calendar().cancel_booking(current.uid, reason, seat_uid=booking.cal_seat_uid)
            except CalendarRejected:
                current = _current(current.uid)  # cancelled between our read and our request?
                if current.status not in CLOSED_STATUSES and not _our_seat_cancelled(booking, current):
                    raise
    except CalendarDown as exc:
        raise CalendarUnavailable("Cal.com did not answer; nothing was cancelled. Try again in a moment.") from exc
    except CalendarRejected as exc:
        raise CalendarError(f"Cal.com refused to cancel booking {uid}: {exc.message}") from exc
    if booking.party:
        from booking.flows.party import give_back_seats  # a group booking's members' seats go with it

        give_back_seats(booking, booking.party, reason)


def _current(uid: str) -> CalBooking:
    """The Cal.com booking as it is now, following reschedules from the uid we know."""
    cal = calendar()
    found = cal.get_booking(uid)
    for _ in range(MAX_RESCHEDULE_HOPS):
        if not found.rescheduled_to_uid:
            break
        found = cal.get_booking(found.rescheduled_to_uid)
    return found


def superseded(uid: str) -> bool:
    """Whether Cal.com's booking `uid` is no longer the live one (rescheduled to another, or cancelled)."""
    try:
        found = calendar().get_booking(uid)
    except CalendarDown as exc:
        raise CalendarUnavailable("Cal.com did not answer; the event is handled again later.") from exc
    except CalendarRejected:
        return False
    return found.status in CLOSED_STATUSES or bool(found.rescheduled_to_uid)


def _our_seat_cancelled(booking: Booking, current: CalBooking) -> bool:
    """A seated booking stays accepted while other seats remain: ours is gone when its seat uid is."""
    return bool(booking.cal_seat_uid) and booking.cal_seat_uid not in current.seat_uids


def _cancelled_there(booking: Booking, current: CalBooking) -> str:
    """Cancelled in Cal.com and we missed the webhook. Who cancelled decides the fee: the host declining or
    cancelling refunds everything. When Cal.com does not say (its seated bookings never carry `cancelledByEmail`),
    the policy is applied as for the client, the reversible choice (a fee kept can still be refunded; a refund
    cannot be taken back), and the owner's flag says so."""
    canceller = current.cancelled_by_email
    by_business = current.status == "rejected" or (canceller is not None and canceller != booking.attendee.email)
    unknown = current.status != "rejected" and canceller is None
    why = f"{current.status} in Cal.com; no webhook came"
    if unknown:
        why += "; Cal.com does not say who cancelled: priced as the client's cancellation (refund the rest if the "
        why += "business cancelled)"
    try:
        cancelled = cancel(
            booking.booking_id,
            cancelled_at=current.updated_at or clock_now(),
            by_business=by_business,
            actor="reconciliation",
            reason=f"{current.status} in Cal.com (no webhook reached us): {current.cancellation_reason or 'no reason'}",
            cal_uid=current.uid,
            cancelled_start=current.start,
        )
    except BookingClosed as exc:
        return f"ignored: booking is {exc.details.get('booking_status')}"
    except DomainError:  # cancelled here, but the refund could not be made now: the money sweep makes it
        flag(booking, "calendar_reconciled", f"{why}; cancelled, the refund is retried")
        raise
    flag(cancelled, "calendar_reconciled", f"{why}; cancelled, refunded {cancelled.amount_refunded}")
    return f"cancelled; refunded {cancelled.amount_refunded} of {cancelled.amount_paid}"
