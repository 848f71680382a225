"""The table's stream, read a second way (DynamoDB Streams allow two readers per shard; the notifier is the other):
the owner's report aggregates (booking.reports.stream) and the waitlist's promotions when seats free up
(booking.waitlist.promote). Both are safe to repeat: Lambda retries from the earliest record either reports failed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from booking.observability import logger, metrics
from booking.reports import stream as reports
from booking.waitlist import promote as waitlist


def _first_failure(records: list[dict[str, Any]], *results: dict[str, Any]) -> list[dict[str, str]]:
    """The earliest record any consumer failed on (Lambda retries the batch from it)."""
    order = [record.get("dynamodb", {}).get("SequenceNumber", "") for record in records]
    failed = {
        str(failure.get("itemIdentifier"))
        for result in results
        for failure in (result or {}).get("batchItemFailures", [])
    }
    if not failed:
        return []
    known = [sequence for sequence in order if sequence in failed]
    return [{"itemIdentifier": known[0] if known else order[0]}]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    report = reports.apply(records)
    promoted = waitlist.on_records(records)
    logger.info("table changes applied", extra={"reports": report})
    return {"batchItemFailures": _first_failure(records, report, promoted)}
