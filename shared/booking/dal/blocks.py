"""Blocked dates: one item per block the owner made, all in the "BLOCKED" partition (a handful of items).

| item  | pk                   | sk                           |
|-------|----------------------|------------------------------|
| block | BLOCKED              | BLOCK#{from date}#{block_id} |
| day   | BLOCKED#{yyyy-mm-dd} | DAY                          |

The sort key starts with the first blocked date, so "the blocks that may touch these days" is one Query: every
block starting on or before the last day, filtered to those ending on or after the first (an availability cache
fill reads it, and GET /availability when it serves a week from a stale copy). Dates are ISO dates in the
business's time zone, both ends inclusive.

A day item per blocked date, written in the block's own transaction (MAX_DAYS + 1 items: within DynamoDB's 100 a
transaction) and taken off with it: `blocked_by` is the set of the blocks covering the date, so deleting one of two
overlapping blocks leaves the date blocked. A hold's transaction checks `blocked_by` absent on its date's item
(`check_open`): no Query before the hold, and a hold racing a block's write either lands before it (the block's
run finds it among the date's bookings) or is refused. An emptied day item stays until its TTL (two days after
its date). Blocks written before day items existed are given theirs by `backfill_days` (the cleanup job's runs;
idempotent, `days_written` on the block says it is done).

`outcome` is the JSON record of what blocking did to the bookings it hit (flows/blocked_dates.py). It is written
only by compare-and-set on its previous value, so two runs of the same block never both decide a booking: the run
that lost the race sees its write refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict
from pynamodb.attributes import BooleanAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from booking.dal.items import BlockItem, TableMeta
from booking.dal.transaction import Transaction, TransactionCancelled

PARTITION = "BLOCKED"
DAY_SK = "DAY"
MAX_DAYS = 90  # the day items and the block fit one transaction (100 items); flows/blocked_dates refuses longer
DAY_KEEP = timedelta(days=2)  # a day item's TTL after its date: a date gone by is bookable by nobody anyway
_AFTER_ANY_ID = "~"  # sorts after every block id ("blk_" + hex), so a range ending on a date includes its blocks


class DayItem(Model):
    """One blocked date: the blocks covering it (absent once none does)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # BLOCKED#{yyyy-mm-dd}
    sk = UnicodeAttribute(range_key=True, default=DAY_SK)
    blocked_by = UnicodeSetAttribute(null=True)
    expires_ttl = TTLAttribute(null=True)


class _BlockDays(BlockItem):
    """The block item with the flag `backfill_days` sets (a block written with its day items has it too)."""

    days_written = BooleanAttribute(null=True)


class Block(BaseModel):
    model_config = ConfigDict(frozen=True)

    block_id: str
    from_date: date
    to_date: date
    reason: str
    notify: bool
    created_at: datetime
    created_by: str
    outcome: str | None = None  # JSON, see flows/blocked_dates.BlockOutcome

    @property
    def days(self) -> int:
        return (self.to_date - self.from_date).days + 1

    def covers(self, day: date) -> bool:
        return self.from_date <= day <= self.to_date


class OutcomeChanged(Exception):
    """The block's outcome is no longer the one the caller read (another run wrote it, or the block is gone)."""


def block_sk(from_date: date, block_id: str) -> str:
    return f"BLOCK#{from_date.isoformat()}#{block_id}"


def _block(item: BlockItem) -> Block:
    return Block(
        block_id=item.block_id,
        from_date=date.fromisoformat(item.from_date),
        to_date=date.fromisoformat(item.to_date),
        reason=item.reason,
        notify=item.notify,
        created_at=item.created_at,
        created_by=item.created_by,
        outcome=item.outcome,
    )


def day_pk(day: date) -> str:
    return f"BLOCKED#{day.isoformat()}"


def dates_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def check_open(tx: Transaction, day: date, *, label: str = "blocked") -> None:
    """A hold's transaction: refused (label failed) when a block covers the business's date `day`."""
    tx.check(label, DayItem, day_pk(day), DAY_SK, DayItem.blocked_by.does_not_exist())


def _day_ttl(day: date) -> datetime:
    return datetime.combine(day + DAY_KEEP, time.min, UTC)


def _add_days(tx: Transaction, block_id: str, first: date, last: date) -> None:
    for day in dates_of(first, last):
        tx.update(
            f"day:{day.isoformat()}",
            DayItem(day_pk(day), DAY_SK),
            [
                DayItem.blocked_by.add({block_id}),
                DayItem.expires_ttl.set(_day_ttl(day)),
            ],
            # once per block: a second add would change nothing, and every write here says what it expects
            DayItem.blocked_by.does_not_exist() | ~DayItem.blocked_by.contains(block_id),
        )


def put(block: Block) -> bool:
    """Write the block once, with its day items (one transaction). False when a block with this id and first day
    exists already (a retry)."""
    if block.days > MAX_DAYS:
        raise ValueError(f"a block covers at most {MAX_DAYS} days")  # flows/blocked_dates refuses it first (422)
    item = _BlockDays(
        PARTITION,
        block_sk(block.from_date, block.block_id),
        block_id=block.block_id,
        from_date=block.from_date.isoformat(),
        to_date=block.to_date.isoformat(),
        reason=block.reason,
        notify=block.notify,
        created_at=block.created_at,
        created_by=block.created_by,
        outcome=block.outcome,
        days_written=True,
    )
    tx = Transaction()
    tx.put("block", item, BlockItem.sk.does_not_exist())
    _add_days(tx, block.block_id, block.from_date, block.to_date)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "block" in exc.failed or "block" in exc.conflicted:
            return False
        raise
    return True


def list_blocks() -> list[Block]:
    """Every block, by first day."""
    return [_block(item) for item in BlockItem.query(PARTITION, consistent_read=True)]


def get(block_id: str) -> Block | None:
    """The block with this id (its sort key starts with a date the caller does not know: a filtered query of
    the small partition)."""
    found = BlockItem.query(PARTITION, filter_condition=BlockItem.block_id == block_id, consistent_read=True)
    return next((_block(item) for item in found), None)


def overlapping(first: date, last: date) -> list[Block]:
    """Blocks covering any day of [first, last]: one Query (those starting by `last`, ending from `first`)."""
    return [
        _block(item)
        for item in BlockItem.query(
            PARTITION,
            BlockItem.sk <= f"BLOCK#{last.isoformat()}#{_AFTER_ANY_ID}",
            filter_condition=BlockItem.to_date >= first.isoformat(),
            consistent_read=True,  # a block just written closes its dates at once
        )
    ]


def save_outcome(block: Block, outcome: str, *, expected: str | None) -> Block:
    """Replace the block's outcome if it is still `expected` (None: none written yet). Raises OutcomeChanged."""
    item = BlockItem(PARTITION, block_sk(block.from_date, block.block_id))
    unchanged = BlockItem.outcome.does_not_exist() if expected is None else BlockItem.outcome == expected
    try:
        item.update(actions=[BlockItem.outcome.set(outcome)], condition=BlockItem.sk.exists() & unchanged)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise OutcomeChanged(block.block_id) from exc
        raise
    return block.model_copy(update={"outcome": outcome})


def delete(block: Block) -> bool:
    """Remove the block and take it off its days (one transaction; a date another block covers stays blocked).
    False when it was gone already."""
    tx = Transaction()
    tx.delete("block", BlockItem(PARTITION, block_sk(block.from_date, block.block_id)), BlockItem.sk.exists())
    for day in dates_of(block.from_date, block.to_date):
        # unconditional on the day: a block written before day items has none to take off (DELETE of an absent
        # set element changes nothing; the keys-only item it leaves expires), the block's own delete is the condition
        tx.update(
            f"day:{day.isoformat()}",
            DayItem(day_pk(day), DAY_SK),
            [DayItem.blocked_by.delete({block.block_id}), DayItem.expires_ttl.set(_day_ttl(day))],
        )
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "block" in exc.failed:
            return False
        raise
    return True


def backfill_days(today: date) -> int:
    """Give the blocks written before day items existed theirs (those not over yet): one Query of the small
    partition, and per block one transaction that also sets its `days_written` (so it is done once). Returns the
    blocks backfilled. Idempotent: run by every cleanup run; a block deleted meanwhile fails its condition."""
    done = 0
    for item in _BlockDays.query(
        PARTITION, filter_condition=_BlockDays.days_written.does_not_exist(), consistent_read=True
    ):
        last = date.fromisoformat(item.to_date)
        first = max(date.fromisoformat(item.from_date), today)
        tx = Transaction()
        tx.update(
            "block",
            _BlockDays(PARTITION, item.sk),
            [_BlockDays.days_written.set(True)],
            _BlockDays.sk.exists() & _BlockDays.days_written.does_not_exist(),
        )
        if first <= last:
            _add_days(tx, item.block_id, first, last)
        try:
            tx.commit()
        except TransactionCancelled:
            continue  # deleted, or another run did it: nothing left to do for this block
        done += 1
    return done
