"""Blocked dates: one item per block the owner made, all in the "BLOCKED" partition (a handful of items).

| item  | pk      | sk                                  |
|-------|---------|-------------------------------------|
| block | BLOCKED | BLOCK#{from date}#{block_id}        |

The sort key starts with the first blocked date, so "the blocks that may touch these days" is one Query: every
block starting on or before the last day, filtered to those ending on or after the first (availability makes this
one extra query per call). Dates are ISO dates in the business's time zone, both ends inclusive.

`outcome` is the JSON record of what blocking did to the bookings it hit (flows/blocked_dates.py). It is written
only by compare-and-set on its previous value, so two runs of the same block never both decide a booking: the run
that lost the race sees its write refused.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from booking.dal.items import BlockItem

PARTITION = "BLOCKED"
_AFTER_ANY_ID = "~"  # sorts after every block id ("blk_" + hex), so a range ending on a date includes its blocks


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


def put(block: Block) -> bool:
    """Write the block once. False when a block with this id and first day exists already (a retry)."""
    item = BlockItem(
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
    )
    try:
        item.save(condition=BlockItem.sk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
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
    """Remove the block (its dates are offered again). False when it was gone already."""
    try:
        BlockItem(PARTITION, block_sk(block.from_date, block.block_id)).delete(condition=BlockItem.sk.exists())
    except DeleteError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
