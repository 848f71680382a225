"""Cal.com webhooks: verify the HMAC and keep our bookings true to the calendar.

Cal.com signs the raw body with no timestamp and sends once, without retry. Each handler compares the event with
the booking as it is and changes it only if the event says something new, so a copy (a replay within the 7 days we
accept) changes nothing; an event whose handling fails is kept in the inbox (identity: trigger, uid, createdAt)
for the cleanup job instead of being lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import BookingClosed, BookingNotFound, InvalidEvent, InvalidSignature
from booking.flows.calendar_sync import move_to, superseded
from booking.flows.cancellation import cancel
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers.calcom import is_attendee_of
from booking.secrets import provider_secret, same_secret
from booking.webhooks.inbox import process

S = BookingStatus
MAX_EVENT_AGE = timedelta(days=7)  # older events cannot be told apart from replays: ignored


class CalBookingFields(BaseModel):
    """The payload fields our handlers read, with their types (everything else passes through)."""

    model_config = ConfigDict(extra="allow")

    uid: str | None = None
    bookingUid: str | None = None
    rescheduleUid: str | None = None
    metadata: dict[str, Any] | None = None
    organizer: dict[str, Any] | None = None
    attendees: list[dict[str, Any]] | None = None
    startTime: AwareDatetime | None = None
    endTime: AwareDatetime | None = None
    cancelledBy: str | None = None
    cancellationReason: str | None = None
    rejectionReason: str | None = None


class CalEvent(BaseModel):
    """`{triggerEvent, createdAt, payload}`; MEETING_STARTED/ENDED send the booking flat, without `payload`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    trigger: str = ""
    created_at: AwareDatetime
    payload: dict[str, Any] | None = None

    @classmethod
    def parse(cls, raw: bytes) -> CalEvent:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        event = cls.model_validate(
            {**document, "trigger": document.get("triggerEvent", ""), "created_at": document.get("createdAt")}
        )
        CalBookingFields.model_validate(event.body)  # the fields handlers read have the types they expect
        return event

    @property
    def body(self) -> dict[str, Any]:
        return self.payload if self.payload is not None else dict(self.model_extra or {})

    @property
    def uid(self) -> str:
        return str(self.body.get("uid") or self.body.get("bookingUid") or "")

    @property
    def identity(self) -> str:
        key = f"{self.trigger}|{self.uid}|{self.created_at.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:40]


def verify(raw: bytes, signature: str | None) -> CalEvent:
    if not signature:
        raise InvalidSignature("Missing X-Cal-Signature-256 header.")
    expected = hmac.new(provider_secret("cal_webhook_secret").encode(), raw, hashlib.sha256).hexdigest()
    if not same_secret(signature.strip().lower(), expected):
        raise InvalidSignature("X-Cal-Signature-256 does not match this body.", status=401)
    try:
        return CalEvent.parse(raw)
    except (ValueError, ValidationError, RecursionError) as exc:
        raise InvalidEvent.from_validation("Cal.com", exc) from exc


def handle(event: CalEvent, raw: bytes, *, stored: bool = False) -> str:
    """`stored`: the cleanup job retrying an event we verified and kept when it arrived, however old it is now
    (its age only matters for a delivery from outside, which could be a replay)."""
    handler = HANDLERS.get(event.trigger)
    if handler is None:
        return "ignored"
    if clock_now() - event.created_at > MAX_EVENT_AGE and not stored:
        metrics.add_metric(name="WebhookStale", unit="Count", value=1)
        return "ignored: too old to be told apart from a replay"
    return process(
        "cal",
        event.identity,
        event.trigger,
        raw.decode("utf-8"),
        lambda: handler(event),
        lambda: next(iter(_our_bookings(event, event.uid, str(event.body.get("rescheduleUid") or ""))), None),
        stored=stored,
    )


def _our_bookings(event: CalEvent, *uids: str) -> list[Booking]:
    """Our bookings this event is about: by the booking_id we put in its metadata, else by a known uid. A seated
    Cal.com booking holds several of ours under one uid and its seat events carry no metadata: the event's
    attendees (the seat cancelled, or every seat) say which of them."""
    metadata = event.body.get("metadata") or {}
    if metadata.get("booking_id"):
        booking = store.get_booking(str(metadata["booking_id"]))
        if booking is not None:
            logger.append_keys(booking_id=booking.booking_id)
            return [booking]
    for uid in uids:  # looked up only when the metadata did not lead to a booking: each is an index query
        found = [b for b in (store.get_booking(i) for i in store.booking_ids_by_cal_uid(uid)) if b] if uid else []
        emails = {str(a.get("email") or "").lower() for a in event.body.get("attendees") or []}
        # A party's member seats (flows/party.py) share the uid too: an event naming only them is not the payer's.
        if len(found) > 1 or (emails and any(b.party for b in found)):
            found = [b for b in found if any(is_attendee_of(b.booking_id, b.attendee.email, e) for e in emails)]
        if found:
            logger.append_keys(booking_id=found[0].booking_id)
            return found
    return []


def _our_booking(event: CalEvent, *uids: str) -> Booking | None:
    """The one booking of ours this event is about (None if none, or if the event cannot tell seats apart)."""
    found = _our_bookings(event, *uids)
    return found[0] if len(found) == 1 else None


def _calendar_changed(event: CalEvent) -> None:
    """Cal.com's slots of the event's week (and a reschedule's old week) changed: the availability cache asks
    Cal.com again at the next visitor instead of within its freshness. Not for our own bookings being created:
    our seats already hide those slots, and that event is on every booking's path."""
    from booking.dal.availability_cache import mark_stale

    try:
        event_type_id = int(event.body.get("eventTypeId") or 0)
    except (TypeError, ValueError):
        return
    for key in ("startTime", "rescheduleStartTime"):
        if event_type_id and event.body.get(key):
            try:
                start = datetime.fromisoformat(str(event.body[key]))
            except ValueError:
                continue
            mark_stale(event_type_id, start if start.tzinfo else start.replace(tzinfo=UTC))


def booking_created(event: CalEvent) -> str:
    """Link the Cal.com uid and confirm the booking if our side had not yet (seed 000 step 8)."""
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = _our_booking(event, event.uid)
        if booking is None:
            _calendar_changed(event)
            return "ignored: not made through our flow"
        try:
            if booking.status in (S.PAID, S.SLOT_UNAVAILABLE):
                confirmed = store.transition(
                    booking,
                    S.CONFIRMED,
                    actor="cal.com",
                    reason=f"Cal.com booking {event.uid} created",
                    now=clock_now(),
                    fields={"cal_booking_uid": event.uid, "cal_lease_until": None, "cal_last_error": None},
                )
                metrics.add_metric(name="BookingConfirmed", unit="Count", value=1)
                if confirmed.party:
                    from booking.flows.party import seat_party  # a group's members: seats of the same booking

                    seat_party(confirmed, actor="cal.com")
                return "confirmed"
            if booking.cal_booking_uid in (None, event.uid):
                if booking.cal_booking_uid is None:
                    store.update_fields(booking.booking_id, {"cal_booking_uid": event.uid})
                return f"linked ({booking.status.value})"
            if superseded(event.uid):  # a late BOOKING_CREATED of the booking before a reschedule moved it
                return f"ignored: {event.uid} was rescheduled or cancelled since"
            flag(booking, "duplicate_calendar_booking", f"Cal.com has {event.uid} besides {booking.cal_booking_uid}")
            return "flagged: a second Cal.com booking"
        except store.StaleBooking:
            continue
    raise store.StaleBooking(event.uid)


def booking_cancelled(event: CalEvent) -> str:
    _calendar_changed(event)
    bookings = _our_bookings(event, event.uid)
    if not bookings:
        return _members_left(event) or "ignored: not made through our flow"
    organizer = (event.body.get("organizer") or {}).get("email")
    cancelled_by = event.body.get("cancelledBy")
    by_business = bool(organizer) and cancelled_by == organizer
    reason = event.body.get("cancellationReason") or "no reason given"
    return "; ".join(
        _cancel(b, event, by_business=by_business, reason=f"cancelled in Cal.com: {reason}") for b in bookings
    )


def _members_left(event: CalEvent) -> str | None:
    """Members of a party who cancelled their own seats in Cal.com (the event names only them): their seats are
    given back and their share refunded by the policy, as when the payer cancels them through the manage link."""
    from booking.domain.models import member_key
    from booking.flows.party import cancel_seats

    emails = {str(a.get("email") or "").lower() for a in event.body.get("attendees") or []} - {""}
    if not emails or not event.uid:
        return None
    for booking in (b for b in map(store.get_booking, store.booking_ids_by_cal_uid(event.uid)) if b and b.party):
        leaving = [
            member.email
            for member in booking.party
            if member.email
            and (
                member.email.lower() in emails
                or any(f"+{booking.booking_id}-{member_key(member.email)}@" in email for email in emails)
            )
        ]
        if not leaving:
            continue
        logger.append_keys(booking_id=booking.booking_id)
        if booking.status != S.CONFIRMED:
            return f"ignored: booking is {booking.status.value}"
        cancel_seats(booking, len(leaving), leaving, actor="cal.com", why="cancelled by the member in Cal.com")
        return f"{len(leaving)} member seat(s) of the party cancelled; their share refunded by the policy"
    return None


def booking_rejected(event: CalEvent) -> str:
    _calendar_changed(event)
    bookings = _our_bookings(event, event.uid)
    if not bookings:
        return "ignored: not made through our flow"
    reason = event.body.get("rejectionReason") or "no reason given"
    return "; ".join(_cancel(b, event, by_business=True, reason=f"declined by the host: {reason}") for b in bookings)


def _cancel(booking: Booking, event: CalEvent, *, by_business: bool, reason: str) -> str:
    """Priced on the start of the Cal.com booking that was cancelled (its own `startTime`), not on ours: a
    reschedule that moved it may arrive later, or never."""
    start = event.body.get("startTime")
    try:
        cancelled = cancel(
            booking.booking_id,
            cancelled_at=event.created_at,
            by_business=by_business,
            actor="cal.com",
            reason=reason,
            cal_uid=event.uid or None,
            cancelled_start=datetime.fromisoformat(str(start)) if start else None,
        )
    except BookingClosed as exc:
        return f"ignored: booking is {exc.details.get('booking_status')}"
    return f"cancelled; refunded {cancelled.amount_refunded} of {cancelled.amount_paid}"


def booking_rescheduled(event: CalEvent) -> str:
    """The booking moved in Cal.com: new uid and time; the old slot is freed and the new one held."""
    _calendar_changed(event)
    old_uid = str(event.body.get("rescheduleUid") or "")
    start, end = event.body.get("startTime"), event.body.get("endTime")
    booking = _our_booking(event, old_uid, event.uid)
    if booking is None:
        return "ignored: not made through our flow"
    if not start or not end:
        return "ignored: no new time in the event"
    if booking.cal_booking_uid not in (None, old_uid, event.uid) and superseded(event.uid):
        # A copy or a late event of an earlier move: the booking followed a later one since (Cal.com says so).
        return f"ignored: {event.uid} was rescheduled or cancelled since"
    return move_to(
        booking.booking_id,
        uid=event.uid,
        start=datetime.fromisoformat(str(start)),
        end=datetime.fromisoformat(str(end)),
        actor="cal.com",
        reason=f"rescheduled in Cal.com from {old_uid} to {event.uid} at {start}",
    )


def meeting_ended(event: CalEvent) -> str:
    """CONFIRMED -> COMPLETED. With our booking id in the metadata: one conditional update straight from it (the
    booking as the failed condition found it says why not); else the booking found by its uid, then the update."""
    booking_id = str((event.body.get("metadata") or {}).get("booking_id") or "")
    if booking_id:
        found, completed = store.transition_by_id(
            booking_id, S.CONFIRMED, S.COMPLETED, actor="cal.com", reason="meeting ended", now=clock_now()
        )
        if found is not None:
            logger.append_keys(booking_id=found.booking_id)
            return "completed" if completed else f"ignored: booking is {found.status.value}"
        # no booking with that id: the uid may still name one of ours (as _our_bookings does)
    booking = _our_booking(event, event.uid)
    if booking is None:
        return "ignored: not made through our flow"
    if booking.status != S.CONFIRMED:
        return f"ignored: booking is {booking.status.value}"
    try:
        store.transition(booking, S.COMPLETED, actor="cal.com", reason="meeting ended", now=clock_now())
    except store.StaleBooking:
        return "already moved"
    return "completed"


def no_show_updated(event: CalEvent) -> str:
    booking = _our_booking(event, event.uid)
    if booking is None:
        return "ignored: not made through our flow"
    absent = [str(a.get("email")) for a in event.body.get("attendees") or [] if a.get("noShow")]
    summary = ("no-show: " + ", ".join(absent)) if absent else "attendance confirmed"
    if booking.no_show == summary:
        return "already recorded"  # a copy: no second history line
    try:
        store.transition(
            booking, booking.status, actor="cal.com", reason=summary, now=clock_now(), fields={"no_show": summary}
        )
    except (store.StaleBooking, BookingNotFound):
        return "already changed"
    return "recorded"


HANDLERS: dict[str, Callable[[CalEvent], str]] = {
    "BOOKING_CREATED": booking_created,
    "BOOKING_CANCELLED": booking_cancelled,
    "BOOKING_REJECTED": booking_rejected,
    "BOOKING_RESCHEDULED": booking_rescheduled,
    "MEETING_ENDED": meeting_ended,
    "BOOKING_NO_SHOW_UPDATED": no_show_updated,
}
