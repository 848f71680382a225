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
from booking.domain.models import Booking
from booking.errors import BookingClosed, CalendarError, CalendarUnavailable, DomainError
from booking.flows.cancellation import cancel
from booking.money import collections
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers.calcom import CLOSED_STATUSES, CalBooking, CalendarDown, CalendarRejected, calendar

S = BookingStatus
MAX_RESCHEDULE_HOPS = 5  # a booking moved again and again: follow rescheduledToUid this far


def move_to(booking_id: str, *, uid: str, start: datetime, end: datetime, actor: str, reason: str) -> str:
    """Follow a reschedule: free the old seat and hold the new slot in one transaction (a webhook or a check)."""
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
    """Cancel the booking in Cal.com (only our seat in a seated one), following a reschedule we may have missed.
    Already cancelled there (the client was first, its webhook not here yet) is done, not an error."""
    uid = booking.cal_booking_uid
    if not uid:
        return
    try:
        current = _current(uid)
        if current.status in CLOSED_STATUSES or _our_seat_cancelled(booking, current):
            return
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
