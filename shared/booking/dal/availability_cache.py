"""Cal.com's slots of one event type and week, shared by every GET /availability (one item per week).

| item | pk                                  | sk    | indexes                                              |
|------|-------------------------------------|-------|------------------------------------------------------|
| week | AVAIL#{event_type_id}#{Monday, UTC} | AVAIL | Slot (EVENT_TYPE#{id}, the week's start without "#") |

A week is [Monday 00:00 UTC, next Monday 00:00 UTC). The item sits in SlotIndex beside the event type's seats:
its `slot_start` is the week's start as `2026-11-23T00:00:00Z`, which sorts just before any seat at that instant
(`...Z#0`), so the one Query that reads the held seats of a window also returns the cached weeks when its lower
bound is widened to the first week's start (`read`). A cache hit costs no request of its own.

Life of a week:
- `take_lease`: one conditional update; only a caller that finds no live lease (and no fresh copy) refreshes the
  week, so concurrent callers never stampede Cal.com. The item is created by the first lease.
- `fill`: Cal.com's answer, stored only while the caller still holds its lease (conditional), with the business
  dates blocked in the week (`blocked`, read after the Cal.com call started: a block written later marks the week
  stale, see flows/blocked_dates.py), so a hit needs no Query of the blocks.
- `fail`: Cal.com throttled or is down: the lease becomes a back-off (until Cal.com's Retry-After, or a few
  seconds) and `failure` says why, so callers without a copy answer that at once instead of calling Cal.com.
- `mark_stale`: something changed the week at Cal.com (a booking that is not ours): the next request refreshes.
  A mark at or after the moment a fill started asked Cal.com also makes that fill's copy stale.
- `expires_ttl`: a day after the last write, so weeks nobody asks for leave the table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PynamoDBException, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from booking.clock import iso_z
from booking.dal.items import TableMeta

SORT_KEY = "AVAIL"
WEEK = timedelta(days=7)
LEASE = timedelta(seconds=20)  # a refresh's Cal.com call: 5 s timeout x 3 attempts and their pauses, with margin
KEEP = timedelta(days=1)  # TTL after the last write
THROTTLED = "throttled"
DOWN = "down"


class _SlotIndex(GlobalSecondaryIndex["WeekItem"]):
    """The table's SlotIndex (dal/items.SlotIndex) read with this module's model: seats and weeks together."""

    class Meta:
        index_name = "SlotIndex"
        projection = AllProjection()

    slot_event_type = UnicodeAttribute(hash_key=True)
    slot_start = UnicodeAttribute(range_key=True)


class WeekItem(Model):
    """A cached week; the SlotIndex Query also yields the event type's seats through this model (`booking_id`,
    `hold_expires_at` are theirs, see dal/items.SeatItem)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SORT_KEY)
    slot_event_type = UnicodeAttribute()
    slot_start = UnicodeAttribute()
    slot_index = _SlotIndex()
    # Cal.com's slots as last listed: JSON [[start, length], ...] in seconds from the week's start (~14 bytes a
    # slot, a fifth of ISO instants: the Query that reads them on every request is billed by size)
    slots = UnicodeAttribute(null=True)
    fetched_at = UTCDateTimeAttribute(null=True)  # when that Cal.com call was made
    # the business dates blocked in the week as read after that call started: JSON ["2026-11-24", ...]; absent on
    # a copy written before it was kept (its reader queries the blocks)
    blocked = UnicodeAttribute(null=True)
    stale_at = UTCDateTimeAttribute(null=True)  # mark_stale's last mark
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    failure = UnicodeAttribute(null=True)  # THROTTLED or DOWN while the lease is a back-off
    expires_ttl = TTLAttribute(null=True)
    # seats (read only): a seat holds its slot for good without hold_expires_at
    booking_id = UnicodeAttribute(null=True)
    hold_expires_at = UTCDateTimeAttribute(null=True)


Slot = tuple[datetime, datetime]


@dataclass(frozen=True)
class Week:
    """One cached week as read."""

    start: datetime
    slots: tuple[Slot, ...] | None
    fetched_at: datetime | None
    blocked: frozenset[date] | None
    stale_at: datetime | None
    lease_until: datetime | None
    failure: str | None

    def fresh(self, now: datetime, fresh_for: timedelta) -> bool:
        """Listed by Cal.com less than `fresh_for` ago, and nothing marked it stale since that call."""
        if self.slots is None or self.fetched_at is None or now >= self.fetched_at + fresh_for:
            return False
        return self.stale_at is None or self.stale_at < self.fetched_at

    def usable(self, now: datetime, stale_for: timedelta) -> bool:
        """A copy young enough to serve while a refresh is in flight or Cal.com fails."""
        return self.slots is not None and self.fetched_at is not None and now < self.fetched_at + stale_for

    def backing_off(self, now: datetime) -> str | None:
        """THROTTLED or DOWN while the last refresh's failure holds the week back, else None."""
        return self.failure if self.failure and self.lease_until is not None and now < self.lease_until else None


@dataclass(frozen=True)
class SeatRow:
    start: datetime
    hold_expires_at: datetime | None


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    day = moment.astimezone(UTC).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time.min, UTC)


def weeks_covering(start: datetime, end: datetime) -> list[datetime]:
    """The weeks overlapping [start, end)."""
    first, weeks = week_start(start), []
    while first < end:
        weeks.append(first)
        first += WEEK
    return weeks


def _pk(event_type_id: int, week: datetime) -> str:
    return f"AVAIL#{event_type_id}#{week.date().isoformat()}"


def _week(item: WeekItem) -> Week:
    start = _instant(item.slot_start)
    slots = None
    if item.slots is not None:
        slots = tuple(
            (start + timedelta(seconds=offset), start + timedelta(seconds=offset + length))
            for offset, length in json.loads(item.slots)
        )
    return Week(
        start=start,
        slots=slots,
        fetched_at=item.fetched_at,
        blocked=frozenset(map(date.fromisoformat, json.loads(item.blocked))) if item.blocked is not None else None,
        stale_at=item.stale_at,
        lease_until=item.lease_until,
        failure=item.failure,
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read(event_type_id: int, low: datetime, high: datetime) -> tuple[dict[datetime, Week], list[SeatRow]]:
    """The cached weeks starting in [low, high] and the seats (live or not) with a start in [low, high): one
    SlotIndex Query (eventually consistent, like the seat query it replaces)."""
    weeks: dict[datetime, Week] = {}
    seats: list[SeatRow] = []
    condition = WeekItem.slot_start.between(iso_z(low), iso_z(high))
    for item in WeekItem.slot_index.query(f"EVENT_TYPE#{event_type_id}", condition):
        if item.sk == SORT_KEY:
            week = _week(item)
            weeks[week.start] = week
        else:
            seats.append(SeatRow(_instant(item.slot_start.split("#")[0]), item.hold_expires_at))
    return weeks, seats


def get_week(event_type_id: int, week: datetime) -> Week | None:
    """The week's item as it is now (a consistent GetItem: a waiter re-reading what the refresher wrote)."""
    try:
        return _week(WeekItem.get(_pk(event_type_id, week), SORT_KEY, consistent_read=True))
    except DoesNotExist:
        return None


def take_lease(event_type_id: int, week: datetime, now: datetime, fresh_for: timedelta) -> str | None:
    """The lease to refresh the week (its owner token), or None when another caller holds one (or backs off after
    a failure) or the week was refreshed since the caller read it."""
    owner = os.urandom(8).hex()
    item = WeekItem(_pk(event_type_id, week), SORT_KEY)
    lease_free = WeekItem.lease_until.does_not_exist() | (WeekItem.lease_until <= now)
    not_fresh = (
        WeekItem.fetched_at.does_not_exist()
        | (WeekItem.fetched_at <= now - fresh_for)
        | (WeekItem.stale_at >= WeekItem.fetched_at)
    )
    try:
        item.update(
            actions=[
                WeekItem.slot_event_type.set(f"EVENT_TYPE#{event_type_id}"),
                WeekItem.slot_start.set(iso_z(week)),
                WeekItem.lease_owner.set(owner),
                WeekItem.lease_until.set(now + LEASE),
                WeekItem.failure.remove(),  # a refresh in flight again, not a back-off: callers wait for it
                WeekItem.expires_ttl.set(now + KEEP),
            ],
            condition=lease_free & not_fresh,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return owner


def fill(
    event_type_id: int, week: datetime, owner: str, slots: list[Slot], fetched_at: datetime, blocked: frozenset[date]
) -> Week:
    """Store Cal.com's answer and the week's blocked dates and end the lease, if the caller still holds it (else
    the answer is only served)."""
    encoded = json.dumps(
        [[int((start - week).total_seconds()), int((end - start).total_seconds())] for start, end in slots],
        separators=(",", ":"),
    )
    item = WeekItem(_pk(event_type_id, week), SORT_KEY)
    try:
        item.update(
            actions=[
                WeekItem.slots.set(encoded),
                WeekItem.fetched_at.set(fetched_at),
                WeekItem.blocked.set(json.dumps(sorted(day.isoformat() for day in blocked), separators=(",", ":"))),
                WeekItem.lease_owner.remove(),
                WeekItem.lease_until.remove(),
                WeekItem.failure.remove(),
                WeekItem.expires_ttl.set(fetched_at + KEEP),
            ],
            condition=WeekItem.lease_owner == owner,
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
    return Week(week, tuple(slots), fetched_at, blocked, None, None, None)


def fail(event_type_id: int, week: datetime, owner: str, failure: str | None, until: datetime) -> None:
    """Cal.com failed the refresh: the lease becomes a back-off until `until` (a failure of another kind, None,
    just ends it), if the caller still holds it. The copy the week had is kept."""
    item = WeekItem(_pk(event_type_id, week), SORT_KEY)
    actions = [WeekItem.lease_until.set(until), WeekItem.lease_owner.remove()]
    actions.append(WeekItem.failure.set(failure) if failure else WeekItem.failure.remove())
    try:
        item.update(actions=actions, condition=WeekItem.lease_owner == owner)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def mark_stale(event_type_id: int, start: datetime, now: datetime | None = None) -> None:
    """The week holding `start` changed at Cal.com (a booking made, moved or cancelled there) or here (dates
    blocked or unblocked, flows/blocked_dates.py): the next GET /availability of it asks Cal.com again. One
    conditional update; a week nobody cached is left alone, and a failed write is only logged (the copy goes stale
    within the freshness anyway; a hold on a blocked date is refused by its own transaction)."""
    from booking.clock import now as clock_now

    moment = now or clock_now()
    item = WeekItem(_pk(event_type_id, week_start(start)), SORT_KEY)
    try:
        item.update(actions=[WeekItem.stale_at.set(moment)], condition=WeekItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return
        _log_unmarked(event_type_id, start, exc)
    except PynamoDBException as exc:
        _log_unmarked(event_type_id, start, exc)


def _log_unmarked(event_type_id: int, start: datetime, exc: Exception) -> None:
    from booking.observability import logger

    logger.warning(
        "availability cache not marked stale",
        extra={"event_type_id": event_type_id, "start": iso_z(start), "error": type(exc).__name__},
    )
