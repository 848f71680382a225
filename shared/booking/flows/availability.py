"""Availability: Cal.com's slots minus our live holds, outside the minimum notice, never on a date the owner
blocked (dates in the business's time zone, whatever Cal.com offers: one Query of the blocks per call)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from booking.dal import blocks
from booking.dal import bookings as store
from booking.dal import waitlist as waitlist_store
from booking.domain.catalog import Service, get_catalog
from booking.errors import CalendarError, CalendarRateLimited, CalendarUnavailable, InvalidRequest, InvalidSlot
from booking.providers.calcom import CalendarDown, CalendarRejected, CalendarThrottled, calendar

BOOKING_WINDOW_DAYS = 365


class SlotView(BaseModel):
    start: datetime
    end: datetime
    seats_left: int = Field(description="Seats free now (1 for a one-to-one service); a party books at most this")
    waitlist: bool = Field(
        default=False, description="Full (or people wait for it): POST /waitlist joins its line (waitlist services)"
    )


class DayView(BaseModel):
    date: date
    slots: list[SlotView]


class AvailabilityView(BaseModel):
    service_id: str
    time_zone: str
    days: list[DayView]


def _calendar_slots(
    service: Service, start: datetime, end: datetime, time_zone: str
) -> list[tuple[datetime, datetime]]:
    try:
        slots = calendar().slots(service.cal_event_type_id, start, end, time_zone)
    except CalendarThrottled as exc:
        raise CalendarRateLimited(exc.retry_after_seconds) from exc
    except CalendarDown as exc:
        raise CalendarUnavailable("The calendar is not answering; please try again in a moment.") from exc
    except CalendarRejected as exc:
        raise CalendarError(f"The calendar refused the availability request: {exc.message}") from exc
    duration = timedelta(minutes=service.duration_minutes)
    return [(slot.start, slot.end or slot.start + duration) for slot in slots]


def _business_zone() -> ZoneInfo:
    return ZoneInfo(get_catalog().business.time_zone)


def _blocked_days(window_start: datetime, window_end: datetime) -> set[date]:
    """The business's dates blocked in [window_start, window_end)."""
    business = _business_zone()
    first = window_start.astimezone(business).date()
    last = (window_end - timedelta(microseconds=1)).astimezone(business).date()
    days: set[date] = set()
    for block in blocks.overlapping(first, last):
        day = max(block.from_date, first)
        while day <= min(block.to_date, last):
            days.add(day)
            day += timedelta(days=1)
    return days


def is_blocked(start: datetime) -> bool:
    """Whether the owner blocked the business's date of this start."""
    day = start.astimezone(_business_zone()).date()
    return bool(blocks.overlapping(day, day))


def bookable_slots(service: Service, first_day: date, days: int, time_zone: str, now: datetime) -> AvailabilityView:
    zone = ZoneInfo(time_zone)
    business = _business_zone()
    window_start = datetime.combine(first_day, time.min, zone)
    window_end = datetime.combine(first_day + timedelta(days=days), time.min, zone)
    reach = buffer_reach(service)  # the same Query, widened: holds just outside the window buffer slots inside it
    held = store.live_seat_counts(service.cal_event_type_id, window_start - reach, window_end + reach, now)
    blocked = _blocked_days(window_start, window_end)
    earliest = now + timedelta(minutes=service.minimum_notice_minutes)
    by_day: dict[date, list[SlotView]] = defaultdict(list)
    waiting = _waiting(service, window_start, window_end)
    for start, end in _listed_slots(service, window_start, window_end, time_zone, held):
        full = held[start] >= service.capacity
        if start < earliest or (full and not service.waitlist) or not window_start <= start < window_end:
            continue
        if reach and inside_buffer(start, held, reach):
            continue
        if start.astimezone(business).date() in blocked:
            continue
        local_start = start.astimezone(zone)
        seats_left = 0 if full or waiting.get(start) else service.capacity - held[start]  # freed seats: theirs
        by_day[local_start.date()].append(
            SlotView(
                start=local_start,
                end=end.astimezone(zone),
                seats_left=seats_left,
                waitlist=service.waitlist and seats_left == 0,
            )
        )
    return AvailabilityView(
        service_id=service.id,
        time_zone=time_zone,
        days=[
            DayView(date=day, slots=sorted(by_day[day], key=lambda slot: slot.start))
            for day in (first_day + timedelta(days=offset) for offset in range(days))
        ],
    )


def _listed_slots(
    service: Service, window_start: datetime, window_end: datetime, time_zone: str, held: Counter[datetime]
) -> list[tuple[datetime, datetime]]:
    """Cal.com's slots; for a waitlist service also those our own bookings fill (Cal.com no longer lists a seated
    slot once full, and its waitlist is what a client wants then)."""
    slots = _calendar_slots(service, window_start, window_end, time_zone)
    if not service.waitlist:
        return slots
    offered = {start for start, _ in slots}
    length = timedelta(minutes=service.duration_minutes)
    full = [(start, start + length) for start, count in held.items() if count >= service.capacity]
    return sorted(slots + [slot for slot in full if slot[0] not in offered])


def _waiting(service: Service, window_start: datetime, window_end: datetime) -> dict[datetime, int]:
    """Parties waiting per slot start (a waitlist service: one Query of its lines)."""
    if not service.waitlist:
        return {}
    lines = waitlist_store.lines(service.cal_event_type_id, window_start, window_end)
    return {line.start: line.waiting for line in lines}


def check_window(first_day: date, today: date) -> None:
    """Availability is asked for this year's weeks, not for any date a client can type (422 naming start)."""
    if not today - timedelta(days=7) <= first_day <= today + timedelta(days=BOOKING_WINDOW_DAYS):
        raise InvalidRequest(
            f"start must be within a week before and {BOOKING_WINDOW_DAYS} days after today.",
            fields={"start": "outside the booking window"},
        )


def check_bookable(service: Service, start: datetime, now: datetime, *, buffers: bool = False) -> datetime:
    """The requested start as a UTC instant, if the client may book it; else InvalidSlot naming why. `buffers`
    (create-intent): also refused inside the buffer of another live hold of the service (check_buffers)."""
    try:
        start = start.astimezone(UTC)
    except OverflowError:  # a start at the very ends of the calendar (year 1 or 9999) has no UTC instant
        if start.year < now.year:
            raise InvalidSlot("This time is in the past.", reason="in_past") from None
        raise InvalidSlot(
            f"Bookings open {BOOKING_WINDOW_DAYS} days ahead at most.", reason="beyond_booking_window"
        ) from None
    if start > now + timedelta(days=BOOKING_WINDOW_DAYS):
        raise InvalidSlot(f"Bookings open {BOOKING_WINDOW_DAYS} days ahead at most.", reason="beyond_booking_window")
    if start <= now:
        raise InvalidSlot("This time is in the past.", reason="in_past")
    if start < now + timedelta(minutes=service.minimum_notice_minutes):
        hours = service.minimum_notice_minutes / 60
        raise InvalidSlot(
            f"This service must be booked at least {hours:g} hours ahead.", reason="inside_minimum_notice"
        )
    if is_blocked(start):  # before asking Cal.com: it knows nothing of our blocks
        raise InvalidSlot("The business is closed on this date; pick another day.", reason="blocked_date")
    if buffers and buffer_reach(service):  # before asking Cal.com: our holds are not in it yet
        check_buffers(service, start, now)
    day_start = datetime.combine(start.date(), time.min, UTC)
    offered = _calendar_slots(service, day_start, day_start + timedelta(days=1), "UTC")
    if not any(slot_start == start for slot_start, _ in offered):
        raise InvalidSlot(
            "The calendar does not offer this time; pick one of the available slots.", reason="not_offered"
        )
    return start


def buffer_reach(service: Service) -> timedelta:
    """How far apart two starts of the service must be unless they share the slot: its length plus the gap
    between two bookings, which Cal.com keeps at before + after buffer (getBusyTimes pads each booking by its own
    before buffer and the asked type's after buffer, and the other way round). Zero without buffers."""
    gap = service.buffer_before_minutes + service.buffer_after_minutes
    return timedelta(minutes=service.duration_minutes + gap) if gap else timedelta(0)


def inside_buffer(start: datetime, held: Iterable[datetime], reach: timedelta) -> bool:
    """Whether a booking at `start` would overlap the buffer of a held start (or hold one inside its own)."""
    return any(other != start and abs(other - start) < reach for other in held)


def check_buffers(service: Service, start: datetime, now: datetime) -> None:
    """InvalidSlot (buffer_conflict) when a live hold or booking of the service sits inside the buffer of `start`
    (one Query of the held seats around it). Holds of ours are not in Cal.com until paid and confirmed; two holds
    inside each other's buffers at once are settled by Cal.com at confirmation (the later is refused there)."""
    reach = buffer_reach(service)
    held = store.live_seat_counts(service.cal_event_type_id, start - reach, start + reach, now)
    if inside_buffer(start, held, reach):
        gap = service.buffer_before_minutes + service.buffer_after_minutes
        raise InvalidSlot(
            f"This time is too close to another booking of {service.name} ({gap} minutes are kept between them); "
            "pick another slot.",
            reason="buffer_conflict",
        )
