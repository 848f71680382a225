"""The notifier's two entry points: a batch of the table's stream records (as bookings, packages and alerts
change) and the 5-minute sweep (reminders whose time came, retries whose backoff ran out, leases that ran out).

A stream record that cannot be planned (DynamoDB throttled, say) is reported as the batch's first failure:
Lambda retries from it (ReportBatchItemFailures), so nothing after it is skipped and nothing before it repeats
more than the once-only record allows; after the mapping's retries it goes to the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal.alerts import AlertItem, to_alert
from booking.dal.bookings import to_booking
from booking.dal.items import BookingItem, PackageItem
from booking.dal.packages import to_record
from booking.notify import outbox
from booking.notify.events import Plan, alert_inserted, booking_changed, package_changed
from booking.notify.sender import SendReport, apply, deliver_due
from booking.observability import logger

SWEEP_BATCH = 100


class StreamRecord(BaseModel):
    """What the notifier reads of a DynamoDB stream record (Lambda's event shape)."""

    eventName: str
    dynamodb: dict[str, Any]


def plan_for(record: StreamRecord) -> Plan:
    change = record.dynamodb
    sort_key = change.get("Keys", {}).get("sk", {}).get("S", "")
    old, new = change.get("OldImage"), change.get("NewImage")
    now = clock_now()
    if sort_key == "BOOKING":
        return booking_changed(
            to_booking(BookingItem.from_raw_data(old)) if old else None,
            to_booking(BookingItem.from_raw_data(new)) if new else None,
            now,
        )
    if sort_key == "PACKAGE":
        return package_changed(
            to_record(PackageItem.from_raw_data(old)) if old else None,
            to_record(PackageItem.from_raw_data(new)) if new else None,
            now,
        )
    if sort_key == "ALERT" and record.eventName == "INSERT" and new:
        item = AlertItem.from_raw_data(new)
        return alert_inserted(to_alert(item), item.pk, now)
    return Plan()


def handle_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    report = SendReport()
    for raw in records:
        try:
            report.add(apply(plan_for(StreamRecord.model_validate(raw)), clock_now()))
        except Exception:
            sequence = raw.get("dynamodb", {}).get("SequenceNumber", "")
            logger.exception("stream record not planned; retried from here", extra={"sequence": sequence})
            return {"batchItemFailures": [{"itemIdentifier": sequence}], "report": report.model_dump()}
    logger.info("stream batch planned", extra={"report": report.model_dump()})
    return {"batchItemFailures": [], "report": report.model_dump()}


def sweep(more_time: Callable[[], bool]) -> SendReport:
    """Send every message that is due, a page at a time, while the run has time."""
    report = SendReport()
    while more_time():
        page = outbox.due(clock_now(), SWEEP_BATCH)
        for item in page:
            if not more_time():
                break
            report.add(deliver_due(item, clock_now()))
        if len(page) < SWEEP_BATCH:
            break
    return report
