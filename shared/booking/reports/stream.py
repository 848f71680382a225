"""The report aggregates kept from the table's stream: each booking or webhook-inbox change (the inbox keeps only
events whose handling failed on delivery) moves the days it touches by the difference of the item's contributions
(new image - old image), once per stream record.

A record that cannot be applied (DynamoDB throttled, say) is reported as the batch's first failure: Lambda retries
from it (ReportBatchItemFailures), records before it are not repeated, and those it redelivers anyway are skipped
by their markers. After the mapping's retries the batch goes to the dead-letter queue (docs/decisions.md: how to
rebuild the days it missed).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal.bookings import to_booking
from booking.dal.items import BookingItem, InboxItem
from booking.observability import logger, metrics
from booking.reports import contribution, store
from booking.reports.contribution import Contribution


class StreamRecord(BaseModel):
    """What the reports read of a DynamoDB stream record (Lambda's event shape)."""

    eventID: str
    eventName: str
    dynamodb: dict[str, Any]
    userIdentity: dict[str, Any] | None = None

    @property
    def expired_by_ttl(self) -> bool:
        """DynamoDB's TTL deleting an item: garbage collection, not a business change (the inbox's events expire)."""
        identity = self.userIdentity or {}
        return identity.get("type") == "Service" and identity.get("principalId") == "dynamodb.amazonaws.com"


def _contribution(sort_key: str, image: dict[str, Any] | None) -> Contribution:
    if not image:
        return {}
    if sort_key == "BOOKING":
        return contribution.of_booking(to_booking(BookingItem.from_raw_data(image)))
    item = InboxItem.from_raw_data(image)
    return contribution.of_webhook(item.received_at, item.processed_at)


def delta_of(record: StreamRecord) -> Contribution:
    keys = record.dynamodb.get("Keys", {})
    sort_key = keys.get("sk", {}).get("S", "")
    partition = keys.get("pk", {}).get("S", "")
    reported = (sort_key == "BOOKING" and partition.startswith("BOOKING#")) or (
        sort_key == "EVENT" and partition.startswith("EVENT#")
    )
    if not reported or record.expired_by_ttl:
        return {}
    return contribution.difference(
        _contribution(sort_key, record.dynamodb.get("NewImage")),
        _contribution(sort_key, record.dynamodb.get("OldImage")),
    )


def apply(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply a batch in order, consecutive records together in as few transactions as fit (a booking's flow is
    several changes in one batch); the first record of a group that fails is reported, so Lambda retries from it."""
    applied = duplicates = 0
    group: list[tuple[str, str, Contribution]] = []  # (sequence, event id, delta) not applied yet

    def flush() -> None:
        nonlocal applied, duplicates
        if group:
            done = store.apply_together([(event_id, delta) for _, event_id, delta in group], clock_now())
            applied, duplicates = applied + done, duplicates + len(group) - done
            group.clear()

    def failed(sequence: str) -> dict[str, Any]:
        logger.exception("report record not applied; retried from here", extra={"sequence": sequence})
        metrics.add_metric(name="ReportRecordFailed", unit="Count", value=1)
        return {"batchItemFailures": [{"itemIdentifier": sequence}], "applied": applied, "duplicates": duplicates}

    for raw in records:
        sequence = raw.get("dynamodb", {}).get("SequenceNumber", "")
        try:
            record = StreamRecord.model_validate(raw)
            delta = delta_of(record)
        except Exception:
            first = group[0][0] if group else sequence
            try:
                flush()
            except Exception:
                return failed(first)
            return failed(sequence)
        if not delta:
            continue
        if group and not store.fits_together([*(d for _, _, d in group), delta]):
            first = group[0][0]
            try:
                flush()
            except Exception:
                return failed(first)
        group.append((sequence, record.eventID, delta))
    if group:
        first = group[0][0]
        try:
            flush()
        except Exception:
            return failed(first)
    if duplicates:
        metrics.add_metric(name="ReportRecordDuplicate", unit="Count", value=duplicates)
    return {"batchItemFailures": [], "applied": applied, "duplicates": duplicates}
