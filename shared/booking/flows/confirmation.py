"""Confirm a paid booking in Cal.com: the one code path for /bookings/verify, the webhooks and the cleanup job.

Exactly one Cal.com booking per our booking, however many callers race:
- a lease on the booking item (conditional write) lets one worker talk to Cal.com at a time; the others
  wait for its result;
- if an earlier attempt may have reached Cal.com (a timeout, a crash), we first look for a Cal.com booking
  carrying our booking_id in its metadata before creating one;
- the PAID -> CONFIRMED transition is conditional, so a webhook that linked the uid first simply wins.

A service with capacity > 1 is a seated Cal.com event type: our booking is one seat of the Cal.com booking at
that start (shared uid), so we record `cal_seat_uid` beside `cal_booking_uid` and recognise our seat by the
booking_id in its per-seat metadata.

Kept simple on purpose: a `pending` Cal.com booking (an event type that requires the host's confirmation) is
recorded as our CONFIRMED with its uid. If the host later declines, Cal.com sends BOOKING_REJECTED, which the
webhook handler already turns into a cancellation by the business with a full refund.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import NoReturn, Self

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import manage_tokens
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    CalendarBookingCancelled,
    CalendarError,
    CalendarUnavailable,
    ConfirmationInProgress,
    TokenNotFound,
)
from booking.flows import lost_slot
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers.calcom import (
    CLOSED_STATUSES,
    CalBooking,
    CalClient,
    CalendarDown,
    CalendarRejected,
    CalendarSlotTaken,
    NewCalBooking,
    calendar,
)
from booking.settings import get_settings

S = BookingStatus
WAIT_STEP_SECONDS = 0.2


class Confirmation(BaseModel):
    booking_id: str
    service_id: str
    status: str
    cal_booking_uid: str
    start: datetime
    end: datetime
    amount_paid: int
    balance_due: int
    currency: str
    payment_type: str
    promo_code: str | None = None
    package_id: str | None = None  # paid with one of this package's credits
    manage_url: str | None = None  # the client's link to see, cancel or reschedule the booking (flows/manage.py)

    @classmethod
    def of(cls, booking: Booking) -> Self:
        # cal_booking_uid: a Confirmation's type refuses None (a subclass may allow it: flows/rebook.py)
        return cls(
            booking_id=booking.booking_id,
            service_id=booking.service_id,
            status="confirmed" if booking.status == S.CONFIRMED else booking.status.value.lower(),
            cal_booking_uid=booking.cal_booking_uid,
            start=booking.slot_start,
            end=booking.slot_end,
            amount_paid=booking.amount_paid,
            balance_due=booking.balance_due,
            currency=booking.currency,
            payment_type=booking.payment_type,
            promo_code=booking.promo_code,
            package_id=booking.package_id,
        )


def confirm_booking(booking_id: str, *, actor: str, wait: bool = True, token_hash: str | None = None) -> Confirmation:
    """Confirm (or return the confirmation). `wait=False`: if another worker is on it, do not wait for it.

    `token_hash` (/bookings/verify): the booking must have issued that token (else 404 token_not_found), checked in
    the write that takes the calendar lease, so the common case reads nothing first; a failed condition returns the
    booking as it is, which says why (confirmed already, lost, another worker on it)."""
    settings = get_settings()
    deadline = time.monotonic() + settings.confirm_deadline_seconds
    unchecked = token_hash
    while True:
        now = clock_now()
        until = now + timedelta(seconds=settings.confirm_lease_seconds)
        if unchecked is not None:
            booking, leased = store.lease_for_token(booking_id, unchecked, now=now, until=until)
            if booking is None or unchecked not in booking.token_hashes:
                raise TokenNotFound
            unchecked = None  # the booking issued it: a later round reads and leases as any caller does
            if leased:
                return _book_in_calendar(booking, actor=actor, deadline=deadline)
        else:
            booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.status in (S.CONFIRMED, S.COMPLETED) and booking.cal_booking_uid:
            return Confirmation.of(booking)
        if booking.status == S.SLOT_UNAVAILABLE:
            raise lost_slot.unavailable(booking)
        if booking.status != S.PAID:
            raise BookingClosed(booking_id, booking.status.value)
        if booking.cal_lease_until is None or booking.cal_lease_until <= now:
            leased_booking = store.acquire_calendar_lease(booking, now=now, until=until)
            if leased_booking is not None:
                return _book_in_calendar(leased_booking, actor=actor, deadline=deadline)
        if not wait or time.monotonic() >= deadline:
            raise ConfirmationInProgress("Your booking is being confirmed; try again in a moment.")
        time.sleep(WAIT_STEP_SECONDS)


def _new_cal_booking(booking: Booking) -> NewCalBooking:
    return NewCalBooking(
        event_type_id=booking.event_type_id,
        start=booking.slot_start,
        attendee_name=booking.attendee.name,
        attendee_email=booking.attendee.email,
        attendee_time_zone=booking.attendee.time_zone,
        attendee_phone=booking.attendee.phone,
        metadata={
            "booking_id": booking.booking_id,
            "payment_intent_id": booking.payment_intent_id or "",
            "payment_type": booking.payment_type,
            "amount_paid": str(booking.amount_paid),
            "balance_due": str(booking.balance_due),
            "currency": booking.currency,
        },
    )


def _find_ours(cal: CalClient, booking: Booking) -> CalBooking | None:
    return cal.find_booking(
        event_type_id=booking.event_type_id,
        attendee_email=booking.attendee.email,
        start=booking.slot_start,
        booking_id=booking.booking_id,
    )


def _linked(cal: CalClient, booking: Booking) -> CalBooking | None:
    """The Cal.com booking a BOOKING_CREATED webhook linked before the payment was recorded (our seat of it)."""
    if not booking.cal_booking_uid:
        return None
    linked = cal.get_booking(booking.cal_booking_uid)
    if not linked.seat_uids:
        return linked  # one-to-one, or a seated booking cancelled as a whole (it lists no attendees)
    ours = linked.ours(booking.booking_id)
    if ours is None:
        # The webhook proved our seat existed; gone from a booking others still attend, it was cancelled.
        _cancelled_in_calendar(booking, linked)
    return ours


def _book_in_calendar(booking: Booking, *, actor: str, deadline: float) -> Confirmation:
    """Holding the lease: create the Cal.com booking (or find the one an earlier attempt made)."""
    cal = calendar()
    attempt = 0
    # cal_attempts counts leases taken, this one included: more than one means an earlier try may have landed.
    maybe_landed = booking.cal_attempts > 1
    while True:
        attempt += 1
        try:
            existing = _linked(cal, booking) or (_find_ours(cal, booking) if maybe_landed else None)
            if existing is not None and existing.status in CLOSED_STATUSES:
                return _cancelled_in_calendar(booking, existing)
            created = existing or cal.create_booking(_new_cal_booking(booking))
            return _record_confirmation(booking, created, actor=actor)
        except CalendarSlotTaken as exc:
            return _slot_taken(cal, booking, actor=actor, message=str(exc))
        except CalendarDown as exc:
            maybe_landed = True
            if attempt >= get_settings().cal_max_attempts or time.monotonic() >= deadline:
                store.release_calendar_lease(booking.booking_id, error=str(exc))
                metrics.add_metric(name="CalendarUnavailable", unit="Count", value=1)
                logger.warning("Cal.com unavailable; booking stays PAID", extra={"error": str(exc)})
                raise CalendarUnavailable(
                    "The calendar is not answering. Your payment is safe and your booking will be completed; "
                    "try again in a moment."
                ) from exc
            time.sleep(min(0.25 * attempt, 1.0))
        except CalendarRejected as exc:
            store.release_calendar_lease(booking.booking_id, error=str(exc))
            flag(booking, "calendar_rejected", exc.message)
            raise CalendarError(f"The calendar refused the booking: {exc.message}") from exc


def _slot_taken(cal: CalClient, booking: Booking, *, actor: str, message: str) -> Confirmation:
    """Cal.com says the time is taken. If the booking there is ours (an earlier attempt), adopt it."""
    try:
        ours = _find_ours(cal, booking)
    except (CalendarDown, CalendarRejected):
        ours = None
    if ours is not None and ours.status in CLOSED_STATUSES:
        return _cancelled_in_calendar(booking, ours)
    if ours is not None:
        return _record_confirmation(booking, ours, actor=actor)
    try:
        lost = lost_slot.lose_slot(
            booking,
            actor=actor,
            reason=f"Cal.com refused the slot after payment: {message}",
            cause=f"Cal.com refused the slot: {message}",
            flag_code="slot_unavailable_after_payment",
            fields={"cal_lease_until": None, "cal_last_error": message},
        )
    except store.StaleBooking:
        return confirm_booking(booking.booking_id, actor=actor)
    metrics.add_metric(name="SlotUnavailableAfterPayment", unit="Count", value=1)
    raise lost_slot.unavailable(lost)


def _cancelled_in_calendar(booking: Booking, cancelled: CalBooking) -> NoReturn:
    """Our Cal.com booking (or seat) exists but was cancelled or declined there: never book again. Its
    BOOKING_CANCELLED / BOOKING_REJECTED event cancels and refunds by the policy; the cleanup job flags the
    booking if that event never comes."""
    store.release_calendar_lease(booking.booking_id, error=f"Cal.com booking {cancelled.uid} is {cancelled.status}")
    raise CalendarBookingCancelled(booking.booking_id)


def _record_confirmation(booking: Booking, created: CalBooking, *, actor: str) -> Confirmation:
    """CONFIRMED with the Cal.com uid (and our seat's uid in a seated booking), whether Cal.com answered it
    `accepted` or `pending` (see the module docstring)."""
    seat = f", seat {created.seat_uid}" if created.seat_uid else ""
    fields: dict[str, object] = {
        "cal_booking_uid": created.uid,
        "cal_seat_uid": created.seat_uid,
        "cal_lease_until": None,
        "cal_last_error": None,
    }
    reason = f"Cal.com booking {created.uid} created ({created.status}{seat})"
    try:
        confirmed, manage_url = _confirm_with_link(booking, actor=actor, reason=reason, fields=fields)
    except store.StaleBooking:
        current = store.get_booking(booking.booking_id)
        if current is not None and current.status in (S.CONFIRMED, S.COMPLETED) and current.cal_booking_uid:
            return Confirmation.of(current)  # a webhook linked it first
        raise
    metrics.add_metric(name="BookingConfirmed", unit="Count", value=1)
    logger.info("booking confirmed in Cal.com", extra={"cal_booking_uid": created.uid})
    if confirmed.party:
        from booking.flows.party import seat_party  # a group booking's members: seats of the same Cal.com booking

        confirmed = seat_party(confirmed, actor=actor)
    return Confirmation.of(confirmed).model_copy(update={"manage_url": manage_url})


def _confirm_with_link(
    booking: Booking, *, actor: str, reason: str, fields: dict[str, object]
) -> tuple[Booking, str | None]:
    """PAID -> CONFIRMED, issuing the client's manage link in the same write when the booking has none (the
    confirmation then carries it: /bookings/verify writes nothing more). A link issued or revoked meanwhile: the
    transition alone, the link as `flows/manage.issue_link` gives it."""
    now = clock_now()
    if booking.manage_token_hash is None:
        from booking.flows.manage import link_of  # manage builds on this module

        link = link_of(booking)
        try:
            confirmed = store.transition(
                booking,
                S.CONFIRMED,
                actor=actor,
                reason=reason,
                now=now,
                fields=fields | {"manage_token_hash": link.token_hash},
                condition=manage_tokens.unlinked_condition(booking),
            )
        except store.StaleBooking:
            pass  # decided again below on the booking as it is (a failed write on a booking that moved on: rare)
        else:
            metrics.add_metric(name="ManageLinkIssued", unit="Count", value=1)
            return confirmed, link.url
    return store.transition(booking, S.CONFIRMED, actor=actor, reason=reason, now=now, fields=fields), None
