"""Join a full slot's waitlist (POST /waitlist) and leave it (DELETE /waitlist/{entry_id}).

A party may join only a waitlist service's slot that the calendar offers (or that our own bookings fill, which the
calendar then hides) and that is full for it: fewer seats free than it needs, or people already waiting (their
claim comes first). Otherwise the answer is 409 `slot_available`: book it. One entry per attendee email and slot:
joining again answers that entry. The leave secret is given once, when joining (only its SHA-256 is stored).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import waitlist as line_store
from booking.dal.waitlist import EntryChanged, EntryStatus, WaitlistEntry
from booking.digests import digest
from booking.domain.catalog import Service, get_catalog
from booking.domain.models import check_phone
from booking.errors import Conflict, InvalidRequest, InvalidSlot, NotFound
from booking.flows.availability import check_bookable
from booking.observability import logger, metrics
from booking.waitlist.views import JoinRequest, WaitlistAnswer


class SlotAvailable(Conflict):
    code = "slot_available"

    def __init__(self, seats_left: int) -> None:
        super().__init__(
            f"{seats_left} seat(s) are free for this time: book it (POST /payments/create-intent).",
            seats_left=seats_left,
        )


class LineBusy(Conflict):
    code = "waitlist_busy"

    def __init__(self) -> None:
        super().__init__("The waitlist changed while we were writing; please try again.")


class EntryNotFound(NotFound):
    code = "waitlist_entry_not_found"

    def __init__(self) -> None:
        super().__init__("No waitlist entry with this id and secret.")


class EntryNotWaiting(Conflict):
    code = "waitlist_entry_not_waiting"

    def __init__(self, status: EntryStatus) -> None:
        what = {
            EntryStatus.OFFERED: "a hold is offered to you: pay it through the link you were sent, or let it lapse",
            EntryStatus.BOOKED: "the offer was paid: manage the booking through its manage link",
            EntryStatus.LAPSED: "the offer lapsed unpaid; you are no longer in line",
        }.get(status, status.value)
        super().__init__(f"This entry is no longer waiting: {what}.", status=status.value)


def _checked(service: Service, request: JoinRequest) -> None:
    """The request's own faults, before anything is read (422 naming the field)."""
    if not service.waitlist:
        raise InvalidRequest(
            f"{service.name} has no waitlist; book one of its free slots instead.",
            fields={"service_id": "no waitlist for this service"},
        )
    if request.participants > service.party_limit:
        raise InvalidRequest(
            f"{service.name} takes parties of at most {service.party_limit}.",
            fields={"participants": f"at most {service.party_limit}"},
        )
    check_phone(service, request.attendee.to_domain(), request.notify.sms)
    service.price_in(request.currency)  # a currency the service is not sold in: 422 naming `currency`


def _offered_or_full(service: Service, start: datetime, now: datetime) -> datetime:
    """The start, if the calendar offers it, or if our own live bookings fill it (a seated event full in the
    calendar is no longer listed there, and its waitlist is exactly what is wanted then)."""
    try:
        return check_bookable(service, start, now)
    except InvalidSlot as exc:
        instant = start.astimezone(UTC)
        full = not store.free_seat_numbers(service.cal_event_type_id, instant, service.capacity, now)
        if exc.details.get("reason") != "not_offered" or not full:
            raise
        return instant


def position(entry: WaitlistEntry) -> int | None:
    """1 + the parties waiting ahead of this one (None once it is out of line)."""
    if entry.status != EntryStatus.WAITING:
        return None
    ahead = [
        other
        for other in line_store.entries(entry.event_type_id, entry.start)
        if other.status == EntryStatus.WAITING and other.keys[1] < entry.keys[1]
    ]
    return len(ahead) + 1


def answer(entry: WaitlistEntry, *, joined_now: bool, secret: str | None) -> WaitlistAnswer:
    return WaitlistAnswer(
        entry_id=entry.entry_id,
        status=entry.status,
        position=position(entry),
        participants=entry.participants,
        service_id=entry.service_id,
        start=entry.start,
        joined_at=entry.created_at,
        joined_now=joined_now,
        secret=secret,
        booking_id=entry.booking_id if entry.status != EntryStatus.WAITING else None,
    )


def join(request: JoinRequest) -> WaitlistAnswer:
    now = clock_now()
    service = get_catalog().service(request.service_id)
    _checked(service, request)
    currency = service.price_in(request.currency).currency
    start = _offered_or_full(service, request.start, now)
    known = line_store.claimed_entry(service.cal_event_type_id, start, str(request.attendee.email))
    if known is not None:
        return answer(known, joined_now=False, secret=None)
    free = store.free_seat_numbers(service.cal_event_type_id, start, service.capacity, now)
    if len(free) >= request.participants and line_store.waiting(service.cal_event_type_id, start) == 0:
        raise SlotAvailable(len(free))
    secret = secrets.token_urlsafe(32)
    draft = WaitlistEntry(
        entry_id=f"wl_{secrets.token_hex(12)}",
        service_id=service.id,
        event_type_id=service.cal_event_type_id,
        start=start,
        attendee=request.attendee.to_domain(),
        participants=request.participants,
        payment_type=request.payment_type,
        currency=currency,
        notify_email=request.notify.email,
        notify_sms=request.notify.sms,
        status=EntryStatus.WAITING,
        secret_hash=digest(secret),
        created_at=now,
        updated_at=now,
    )
    try:
        entry, created = line_store.join(draft, now)
    except EntryChanged:
        raise LineBusy from None
    logger.append_keys(waitlist_entry_id=entry.entry_id)
    if not created:
        return answer(entry, joined_now=False, secret=None)
    metrics.add_metric(name="WaitlistJoined", unit="Count", value=1)
    joined = answer(entry, joined_now=True, secret=secret)
    _plan_joined_email(entry, joined.position, now)
    return joined


def _plan_joined_email(entry: WaitlistEntry, place: int | None, now: datetime) -> None:
    """The "you're on the waitlist" email, recorded once and due now: the notifier's sweep sends it (within its 5
    minutes), so joining never waits on email. None when the client or the business's settings say no email."""
    from booking.notify import outbox
    from booking.notify.preferences import client_email_kind

    if not (entry.notify_email and client_email_kind("waitlist_joined")):
        return
    outbox.plan(
        pk=f"WAITLIST#{entry.entry_id}",
        subject_id=entry.entry_id,
        message_key="joined",
        kind="waitlist_joined",
        channel="email",
        recipient=entry.attendee.email,
        context={"position": place},
        send_at=now,
        now=now,
    )


def _opened(entry_id: str, secret: str | None) -> WaitlistEntry:
    entry = line_store.entry(entry_id)
    # The same 404 for an unknown id and a wrong secret: entry ids cannot be probed.
    if entry is None or not secret or not hmac.compare_digest(entry.secret_hash, digest(secret)):
        raise EntryNotFound
    return entry


def leave(entry_id: str, secret: str | None) -> WaitlistAnswer:
    """Leave the line: WAITING -> LEFT (once; leaving again answers the same)."""
    for _attempt in range(3):
        entry = _opened(entry_id, secret)
        if entry.status == EntryStatus.LEFT:
            return answer(entry, joined_now=False, secret=None)
        if entry.status != EntryStatus.WAITING:
            raise EntryNotWaiting(entry.status)
        try:
            line_store.leave(entry, clock_now())
        except EntryChanged:
            continue  # offered meanwhile, say: decide again on what it is now
        metrics.add_metric(name="WaitlistLeft", unit="Count", value=1)
        return answer(_opened(entry_id, secret), joined_now=False, secret=None)
    raise LineBusy
