"""Availability: Cal.com's slots minus our live holds, outside the minimum notice, never on a date the owner
blocked (dates in the business's time zone, whatever Cal.com offers).

Cal.com's slots come from a shared cache of weeks (dal/availability_cache.py), read by the same SlotIndex Query
that reads our held seats: a week Cal.com listed less than AVAILABILITY_FRESH_SECONDS ago is used as it is; an
older one is refreshed by one caller at a time (a lease), while the others serve the copy they have for up to
AVAILABILITY_STALE_SECONDS after its Cal.com call (also while Cal.com throttles or is down); past that, the
calendar's 503. Our holds, notice, buffers and waitlist lines are applied live on every request, so a cached copy
never offers a slot we hold. The blocked dates come with the weeks: a fill stores those of its week, read after
its Cal.com call started, and blocking dates marks their weeks stale (flows/blocked_dates.py), so a fresh copy's
dates are current and a cache hit is the one Query; when a week is served from a stale copy (or a copy kept
before it had them) the blocks are queried live. create-intent's check_bookable still asks Cal.com itself; its
blocked-date check is the hold's own transaction (dal/blocks.check_open).
"""

from __future__ import annotations

import math
import time as monotonic_time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from booking.clock import now as clock_now
from booking.dal import availability_cache as cache
from booking.dal import blocks
from booking.dal import bookings as store
from booking.dal import waitlist as waitlist_store
from booking.domain.catalog import Service, get_catalog
from booking.errors import CalendarError, CalendarRateLimited, CalendarUnavailable, InvalidRequest, InvalidSlot
from booking.providers.calcom import CalendarDown, CalendarRejected, CalendarThrottled, calendar
from booking.settings import get_settings

BOOKING_WINDOW_DAYS = 365
# A caller finding a week with no copy while another refreshes it re-reads it this often, this long at most.
COLD_WAIT_SECONDS = 8.0
COLD_POLL_SECONDS = (0.05, 0.1, 0.2, 0.4)  # then every 0.4 s: many waiters must not load the table themselves
DOWN_BACKOFF = timedelta(seconds=5)  # Cal.com not answering: callers without a copy are told so this long


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


def _business_dates(window_start: datetime, window_end: datetime) -> tuple[date, date]:
    """The first and last business dates touching [window_start, window_end)."""
    business = _business_zone()
    last = (window_end - timedelta(microseconds=1)).astimezone(business).date()
    return window_start.astimezone(business).date(), last


def _blocked_days(window_start: datetime, window_end: datetime) -> set[date]:
    """The business's dates blocked in [window_start, window_end) (one Query of the blocks)."""
    first, last = _business_dates(window_start, window_end)
    days: set[date] = set()
    for block in blocks.overlapping(first, last):
        day = max(block.from_date, first)
        while day <= min(block.to_date, last):
            days.add(day)
            day += timedelta(days=1)
    return days


def is_blocked(start: datetime) -> bool:
    """Whether the owner blocked the business's date of this start (one Query of the blocks)."""
    day = start.astimezone(_business_zone()).date()
    return bool(blocks.overlapping(day, day))


def bookable_slots(service: Service, first_day: date, days: int, time_zone: str, now: datetime) -> AvailabilityView:
    zone = ZoneInfo(time_zone)
    business = _business_zone()
    window_start = datetime.combine(first_day, time.min, zone)
    window_end = datetime.combine(first_day + timedelta(days=days), time.min, zone)
    reach = buffer_reach(service)  # the same Query, widened: holds just outside the window buffer slots inside it
    weeks = cache.weeks_covering(window_start, window_end)
    # One Query: the seats of [window_start - reach, window_end + reach) and, widened down to the first week's
    # start, the cached weeks of the window.
    cached, seats = cache.read(service.cal_event_type_id, min(weeks[0], window_start - reach), window_end + reach)
    held: Counter[datetime] = Counter(
        seat.start
        for seat in seats
        if window_start - reach <= seat.start < window_end + reach
        and (seat.hold_expires_at is None or seat.hold_expires_at > now)
    )
    earliest = now + timedelta(minutes=service.minimum_notice_minutes)
    by_day: dict[date, list[SlotView]] = defaultdict(list)
    waiting = _waiting(service, window_start, window_end)
    listed, known_blocked = _cached_slots(service, weeks, cached, now)
    blocked = known_blocked if known_blocked is not None else _blocked_days(window_start, window_end)
    for start, end in _listed_slots(service, listed, held):
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


def _cached_slots(
    service: Service, weeks: list[datetime], cached: dict[datetime, cache.Week], now: datetime
) -> tuple[list[tuple[datetime, datetime]], set[date] | None]:
    """Cal.com's slots of these weeks: fresh copies as they are; stale or missing weeks refreshed by this caller
    if it gets their lease (one Cal.com call for all it got), else served from the copy there is, else waited for
    (re-read) while another caller refreshes them. Raises the calendar's errors when a week has no usable copy.
    With them the blocked dates of the weeks, or None when a week was served from a copy whose dates may be out
    of date (stale, or kept without them): the caller queries the blocks then."""
    settings = get_settings()
    fresh_for = timedelta(seconds=settings.availability_fresh_seconds)
    stale_for = timedelta(seconds=settings.availability_stale_seconds)
    event_type = service.cal_event_type_id
    found: dict[datetime, tuple[cache.Slot, ...]] = {}
    blocked: dict[datetime, frozenset[date] | None] = {}  # per week found: its blocked dates, None if unknown
    deadline = monotonic_time.monotonic() + COLD_WAIT_SECONDS
    waits = 0
    while True:
        for week in weeks:
            copy = cached.get(week)
            if week not in found and copy is not None and copy.slots is not None and copy.fresh(now, fresh_for):
                found[week], blocked[week] = copy.slots, copy.blocked
        stale = [week for week in weeks if week not in found]
        if not stale:
            break
        failure: CalendarUnavailable | CalendarError | None = None
        leases = _take_leases(event_type, stale, now, fresh_for, first_pass=not waits)
        if leases:
            try:
                for week, (listed, listed_blocked) in _refresh(service, sorted(leases), leases, now).items():
                    found[week], blocked[week] = listed, listed_blocked
            except (CalendarUnavailable, CalendarError) as exc:
                failure = exc
        for week in stale:
            copy = cached.get(week)
            if week not in found and copy is not None and copy.slots is not None and copy.usable(now, stale_for):
                # stale, while another caller refreshes it or Cal.com fails: its blocked dates too
                found[week], blocked[week] = copy.slots, None
        missing = [week for week in weeks if week not in found]
        if not missing:
            break
        if failure is not None:
            raise failure
        for week in missing:  # another caller is refreshing it, or backs off after Cal.com failed
            copy = cached.get(week)
            if copy is not None and (backing_off := copy.backing_off(now)):
                raise _backing_off_error(backing_off, copy, now)
        if monotonic_time.monotonic() >= deadline:
            raise CalendarUnavailable("The calendar is not answering; please try again in a moment.")
        monotonic_time.sleep(COLD_POLL_SECONDS[min(waits, len(COLD_POLL_SECONDS) - 1)])
        waits += 1
        now = clock_now()
        for week in missing:
            reread = cache.get_week(event_type, week)
            if reread is not None:
                cached[week] = reread
    slots = sorted(slot for week in weeks for slot in found[week])
    blocked_days: set[date] = set()
    for week in weeks:
        week_blocked = blocked[week]
        if week_blocked is None:
            return slots, None
        blocked_days |= week_blocked
    return slots, blocked_days


def _take_leases(
    event_type: int, weeks: list[datetime], now: datetime, fresh_for: timedelta, *, first_pass: bool
) -> dict[datetime, str]:
    """The refresh leases this caller gets of these weeks (in order). On the first pass it stops at the first
    week another caller holds: that caller, asking for the same weeks in the same order, takes the next ones too,
    so concurrent visitors of a window make one Cal.com call, not one per week."""
    leases: dict[datetime, str] = {}
    for week in weeks:
        owner = cache.take_lease(event_type, week, now, fresh_for)
        if owner is None and first_pass:
            break
        if owner is not None:
            leases[week] = owner
    return leases


def _refresh(
    service: Service, leased: list[datetime], leases: dict[datetime, str], now: datetime
) -> dict[datetime, tuple[tuple[cache.Slot, ...], frozenset[date]]]:
    """One Cal.com call from the first leased week to the end of the last; each leased week stored with its
    blocked dates (the weeks in between, leased by others, are only served). On a failure the leases become a
    back-off and it is raised.

    The blocks are read after the Cal.com call started (`now`, the fill's fetched_at, is before it): a block
    written after this read marks the week stale at a later moment, which keeps this copy stale."""
    event_type = service.cal_event_type_id
    span_end = leased[-1] + cache.WEEK
    try:
        slots = _calendar_slots(service, leased[0], span_end, "UTC")
    except CalendarRateLimited as exc:
        until = now + timedelta(seconds=exc.retry_after_seconds)
        for week, owner in leases.items():
            cache.fail(event_type, week, owner, cache.THROTTLED, until)
        raise
    except CalendarUnavailable:
        for week, owner in leases.items():
            cache.fail(event_type, week, owner, cache.DOWN, now + DOWN_BACKOFF)
        raise
    except CalendarError:
        for week, owner in leases.items():
            cache.fail(event_type, week, owner, None, now)
        raise
    blocked_days = _blocked_days(leased[0], span_end)
    by_week: dict[datetime, list[cache.Slot]] = defaultdict(list)
    for start, end in slots:
        by_week[cache.week_start(start)].append((start, end))
    answer: dict[datetime, tuple[tuple[cache.Slot, ...], frozenset[date]]] = {}
    week = leased[0]
    while week < span_end:
        listed = sorted(by_week.get(week, []))
        first, last = _business_dates(week, week + cache.WEEK)
        days = frozenset(day for day in blocked_days if first <= day <= last)
        if week in leases:
            cache.fill(event_type, week, leases[week], listed, now, days)
        answer[week] = (tuple(listed), days)
        week += cache.WEEK
    return answer


def _backing_off_error(failure: str, copy: cache.Week, now: datetime) -> CalendarUnavailable:
    if failure == cache.THROTTLED and copy.lease_until is not None:
        return CalendarRateLimited(math.ceil((copy.lease_until - now).total_seconds()))
    return CalendarUnavailable("The calendar is not answering; please try again in a moment.")


def _listed_slots(
    service: Service, slots: list[tuple[datetime, datetime]], held: Counter[datetime]
) -> list[tuple[datetime, datetime]]:
    """Cal.com's slots; for a waitlist service also those our own bookings fill (Cal.com no longer lists a seated
    slot once full, and its waitlist is what a client wants then)."""
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


def calendar_starts(service: Service, starts: Collection[datetime], now: datetime) -> frozenset[datetime]:
    """Cal.com's slot starts in the weeks of `starts`, from the shared cache (one Query; the weeks that need it
    refreshed as GET /availability refreshes them): what a series preview shows without asking Cal.com per date.
    Booking itself still asks Cal.com (check_bookable without `listed`)."""
    weeks = sorted({cache.week_start(start) for start in starts})
    cached, _ = cache.read(service.cal_event_type_id, weeks[0], weeks[-1])
    slots, _ = _cached_slots(service, weeks, cached, now)
    return frozenset(slot_start for slot_start, _ in slots)


def check_bookable(
    service: Service,
    start: datetime,
    now: datetime,
    *,
    buffers: bool = False,
    check_blocks: bool = True,
    listed: Collection[datetime] | None = None,
) -> datetime:
    """The requested start as a UTC instant, if the client may book it; else InvalidSlot naming why. `buffers`
    (create-intent): also refused inside the buffer of another live hold of the service (check_buffers).
    `check_blocks=False`: the caller's hold transaction checks the blocked date itself (dal/blocks.check_open, refused
    as BLOCKED_DATE below), so no Query of the blocks here. `listed`: Cal.com's starts as a preview may know them
    (calendar_starts), instead of asking Cal.com."""
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
    if check_blocks and is_blocked(start):  # before asking Cal.com: it knows nothing of our blocks
        raise blocked_date()
    if buffers and buffer_reach(service):  # before asking Cal.com: our holds are not in it yet
        check_buffers(service, start, now)
    if listed is None:
        day_start = datetime.combine(start.date(), time.min, UTC)
        offered = _calendar_slots(service, day_start, day_start + timedelta(days=1), "UTC")
        listed = {slot_start for slot_start, _ in offered}
    if start not in listed:
        raise InvalidSlot(
            "The calendar does not offer this time; pick one of the available slots.", reason="not_offered"
        )
    return start


def blocked_date() -> InvalidSlot:
    """The answer to a start on a date the owner blocked (422 slot_not_offered, reason blocked_date)."""
    return InvalidSlot("The business is closed on this date; pick another day.", reason="blocked_date")


def business_date(start: datetime) -> date:
    """The business's date of a start (the date a block closes)."""
    return start.astimezone(_business_zone()).date()


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
