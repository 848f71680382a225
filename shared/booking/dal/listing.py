"""The owner's list of bookings, ordered by start: a date range, filters, and a key to resume from. Never a scan.

StartIndex (hash: the item's sort key, range: slot_start) holds every booking item in its "BOOKING" partition
from the moment it is written, with nothing to maintain or backfill. It projects only what the list filters on
(status, balance_due): DynamoDB writes an index entry only when a projected attribute changes, so the many
updates of a booking's payment, calendar and history fields cost the index nothing; the page's bookings are
then read from the table (BatchGetItem, strongly consistent). Seat items carry a slot_start too and land in
"SEAT#n" partitions that no query reads. One partition for all bookings suits a single business: it writes
far below a partition's 1,000 writes per second.

Bookings with open flags are read from the sparse AttentionIndex instead (a handful, whatever the date range),
and sorted by start here, so "flagged" never walks the whole calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition

from booking.dal.bookings import booking_pk, to_booking
from booking.dal.items import BookingItem
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking

BOOKINGS_PARTITION = "BOOKING"  # the booking item's sort key: StartIndex's partition of bookings
FILTERED_READ_PAGE = 200  # items DynamoDB evaluates per request when a filter may drop some of them
MAX_READS = 10  # index pages one list page reads at most; it then answers what it found and a key to go on
# A balance is still to collect only once the deposit is in and the booking keeps its slot.
BALANCE_COLLECTABLE = (BookingStatus.PAID, BookingStatus.CONFIRMED, BookingStatus.COMPLETED)
_ONE_TICK = timedelta(microseconds=1)  # slot_start's resolution: turns an exclusive end into BETWEEN's inclusive one


class ListingFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: BookingStatus | None = None
    flagged: bool = False  # only bookings with open flags
    balance_due: bool = False  # only bookings whose balance is still to collect
    start_from: datetime | None = None  # inclusive
    start_before: datetime | None = None  # exclusive

    def admits_start(self, start: datetime) -> bool:
        return (self.start_from is None or start >= self.start_from) and (
            self.start_before is None or start < self.start_before
        )


class ResumeKey(BaseModel):
    """The last booking a page listed: the next page starts after it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    booking_id: str = Field(pattern=r"^bk_[0-9a-f]{24}$")
    slot_start: datetime

    @classmethod
    def after(cls, booking: Booking) -> ResumeKey:
        return cls(booking_id=booking.booking_id, slot_start=booking.slot_start)

    def exclusive_start_key(self) -> dict[str, dict[str, Any]]:
        """The StartIndex key DynamoDB resumes after (the table's key and the index's)."""
        return {
            "pk": {"S": booking_pk(self.booking_id)},
            "sk": {"S": BOOKINGS_PARTITION},
            "slot_start": {"S": UTCDateTimeAttribute().serialize(self.slot_start)},
        }


class ListingPage(BaseModel):
    bookings: list[Booking]
    resume: ResumeKey | None  # None: nothing after this page


def list_bookings(filters: ListingFilter, limit: int, resume: ResumeKey | None) -> ListingPage:
    if filters.flagged:
        return _flagged(filters, limit, resume)
    return _by_start(filters, limit, resume)


def _all(conditions: list[Condition | None]) -> Condition | None:
    result: Condition | None = None
    for condition in conditions:
        if condition is not None:
            result = condition if result is None else result & condition
    return result


def _matching(filters: ListingFilter) -> Condition | None:
    """The filters DynamoDB applies to the items it reads (not part of the index key)."""
    return _all(
        [
            BookingItem.status == filters.status.value if filters.status is not None else None,
            BookingItem.status.is_in(*(s.value for s in BALANCE_COLLECTABLE)) & (BookingItem.balance_due > 0)
            if filters.balance_due
            else None,
        ]
    )


def _start_range(filters: ListingFilter) -> Condition | None:
    start, before = filters.start_from, filters.start_before
    if start is not None and before is not None:
        return BookingItem.slot_start.between(start, before - _ONE_TICK)
    if start is not None:
        return BookingItem.slot_start >= start
    if before is not None:
        return BookingItem.slot_start < before
    return None


def _by_start(filters: ListingFilter, limit: int, resume: ResumeKey | None) -> ListingPage:
    matching = _matching(filters)
    pages = BookingItem.start_index.query(
        BOOKINGS_PARTITION,
        _start_range(filters),
        filter_condition=matching,
        last_evaluated_key=resume.exclusive_start_key() if resume else None,
        page_size=limit if matching is None else max(limit, FILTERED_READ_PAGE),
    ).page_iter
    keys: list[str] = []
    for _, page in zip(range(MAX_READS), pages, strict=False):
        items = page.get("Items") or []
        for position, raw in enumerate(items):
            keys.append(raw["pk"]["S"])
            if len(keys) == limit:
                found = _read(keys)
                more = position < len(items) - 1 or pages.last_evaluated_key is not None
                return ListingPage(bookings=found, resume=ResumeKey.after(found[-1]) if more else None)
    key = pages.last_evaluated_key
    resume_at = None
    if key is not None:
        resume_at = ResumeKey(
            booking_id=key["pk"]["S"].removeprefix("BOOKING#"),
            slot_start=UTCDateTimeAttribute().deserialize(key["slot_start"]["S"]),
        )
    return ListingPage(bookings=_read(keys), resume=resume_at)


def _read(pks: list[str]) -> list[Booking]:
    """The bookings behind index entries, in the index's order (BatchGetItem answers in any order)."""
    items = {
        item.pk: item for item in BookingItem.batch_get([(pk, BOOKINGS_PARTITION) for pk in pks], consistent_read=True)
    }
    return [to_booking(items[pk]) for pk in pks if pk in items]


def _flagged(filters: ListingFilter, limit: int, resume: ResumeKey | None) -> ListingPage:
    """Every booking with open flags (sparse index), those that match in start order, after `resume`."""
    condition = _all([_start_range(filters), _matching(filters)])
    found = sorted(
        (to_booking(item) for item in BookingItem.attention_index.query("OPEN", filter_condition=condition)),
        key=lambda booking: (booking.slot_start, booking.booking_id),
    )
    if resume is not None:
        found = [b for b in found if (b.slot_start, b.booking_id) > (resume.slot_start, resume.booking_id)]
    page = found[:limit]
    return ListingPage(bookings=page, resume=ResumeKey.after(page[-1]) if len(found) > limit else None)


MAX_SUMMARY_BOOKINGS = 5000  # a summary reads every booking of its range; beyond this, ask for a shorter range


class RangeTooLarge(Exception):
    """The filtered range holds more bookings than one summary reads."""


def all_matching(filters: ListingFilter) -> list[Booking]:
    """Every booking the filters select, in start order, for totals: the listing's own index queries (StartIndex
    over the date range, or the sparse AttentionIndex when flagged), each booking then read by key. The cost is
    the range's bookings, never the table's; past MAX_SUMMARY_BOOKINGS it stops with RangeTooLarge."""
    if filters.flagged:
        found = _flagged(filters, MAX_SUMMARY_BOOKINGS, None)
        if found.resume is not None:
            raise RangeTooLarge
        return found.bookings
    keys: list[str] = []
    pages = BookingItem.start_index.query(
        BOOKINGS_PARTITION, _start_range(filters), filter_condition=_matching(filters), page_size=1000
    ).page_iter
    for page in pages:
        keys.extend(raw["pk"]["S"] for raw in page.get("Items") or [])
        if len(keys) > MAX_SUMMARY_BOOKINGS:
            raise RangeTooLarge
    return _read(keys)  # PynamoDB's batch_get asks for 100 keys per request
