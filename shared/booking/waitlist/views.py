"""What the waitlist's HTTP routes take and answer: the client's join and leave, the owner's list of lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, Field

from booking.api_models import AttendeeIn, CurrencyIn, NotifyIn, RequestBody
from booking.dal.waitlist import EntryStatus, WaitlistEntry
from booking.domain.pricing import PaymentType
from booking.errors import InvalidRequest


class JoinRequest(RequestBody):
    service_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime = Field(description="A full slot's start, as /availability lists it (waitlist: true)")
    attendee: AttendeeIn
    participants: int = Field(default=1, ge=1, le=50, description="Seats the party needs (at most the party limit)")
    payment_type: PaymentType = Field(default="deposit", description="How the offer is paid: deposit or full")
    currency: CurrencyIn | None = Field(default=None, description="One of the service's currencies; default its first")
    notify: NotifyIn = Field(default_factory=NotifyIn, description="How the offer reaches the client")


class WaitlistAnswer(BaseModel):
    entry_id: str
    status: EntryStatus
    position: int | None = Field(description="1 = next in line (parties waiting ahead + 1); none once out of line")
    participants: int
    service_id: str
    start: datetime
    joined_at: datetime
    joined_now: bool = Field(description="False: this email was already in the slot's line; that entry is answered")
    secret: str | None = Field(
        description="Given once, when joining: DELETE /waitlist/{entry_id} with it (header X-Waitlist-Secret) leaves"
    )
    booking_id: str | None = Field(default=None, description="Offered: the held booking, paid through the pay link")


class OwnerEntry(BaseModel):
    entry_id: str
    status: EntryStatus
    name: str
    email: str
    participants: int
    payment_type: str
    joined_at: datetime
    offers: int
    booking_id: str | None
    offered_at: datetime | None
    hold_expires_at: datetime | None = Field(description="Offered: until when the client may pay")
    pay_url: str | None = Field(description="Offered and open: the link to pass on when no email can be sent")

    @classmethod
    def of(cls, entry: WaitlistEntry, hold_expires_at: datetime | None, pay_url: str | None) -> OwnerEntry:
        return cls(
            entry_id=entry.entry_id,
            status=entry.status,
            name=entry.attendee.name,
            email=entry.attendee.email,
            participants=entry.participants,
            payment_type=entry.payment_type,
            joined_at=entry.created_at,
            offers=entry.offers,
            booking_id=entry.booking_id,
            offered_at=entry.offered_at,
            hold_expires_at=hold_expires_at,
            pay_url=pay_url,
        )


class OwnerLine(BaseModel):
    service_id: str
    start: datetime
    waiting: int = Field(description="Parties waiting now")
    entries: list[OwnerEntry] = Field(description="Everyone who joined, in line order")


class OwnerWaitlist(BaseModel):
    lines: list[OwnerLine]


MAX_RANGE = timedelta(days=366)


def _instant(text: str, name: str, *, day_end: bool) -> datetime:
    """An ISO date (the business's day: its start, or for `to` its end) or date-time (UTC without an offset)."""
    from booking.domain.catalog import get_catalog

    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if day_end else 0)
            return datetime.combine(day, time.min, ZoneInfo(get_catalog().business.time_zone))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{name} is not an ISO date or date-time.", fields={name: "ISO date or date-time"}
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def owner_lines(service_id: str, start_from: str | None, start_to: str | None, now: datetime) -> OwnerWaitlist:
    """The lines of one waitlist service's slots starting in [from, to) (default: from now, a year ahead), with
    everyone who joined and the open offers' pay links (for the owner to pass on when no email can be sent)."""
    from booking.dal import bookings as store
    from booking.dal import waitlist as line_store
    from booking.domain.catalog import get_catalog
    from booking.domain.lifecycle import BookingStatus
    from booking.flows.pay_links import pay_url

    service = get_catalog().service(service_id)
    if not service.waitlist:
        raise InvalidRequest(f"{service.name} has no waitlist.", fields={"service_id": "no waitlist for this service"})
    first = _instant(start_from, "from", day_end=False) if start_from else now
    last = _instant(start_to, "to", day_end=True) if start_to else first + MAX_RANGE
    if not timedelta(0) < last - first <= MAX_RANGE:
        raise InvalidRequest("to must be after from, at most 366 days later.", fields={"to": "outside the range"})
    lines: list[OwnerLine] = []
    for line in line_store.lines(service.cal_event_type_id, first, last - timedelta(microseconds=1)):
        listed: list[OwnerEntry] = []
        for entry in line_store.entries(service.cal_event_type_id, line.start):
            hold_until = link = None
            if entry.status == EntryStatus.OFFERED and entry.booking_id:
                booking = store.get_booking(entry.booking_id)
                if booking is not None and booking.status == BookingStatus.HELD:
                    hold_until = booking.hold_expires_at
                    link = pay_url(booking.payment_intent_id) if booking.payment_intent_id else None
            listed.append(OwnerEntry.of(entry, hold_until, link))
        lines.append(OwnerLine(service_id=service.id, start=line.start, waiting=line.waiting, entries=listed))
    return OwnerWaitlist(lines=lines)
