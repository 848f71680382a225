"""Messages to clients and the owner (booking.notify): planned from the table's stream, swept every 5 minutes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from booking.jobs.handler import Budget, ScheduledRun
from booking.notify.stream import handle_records, sweep
from booking.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return handle_records(event["Records"])
    ScheduledRun.model_validate(event or {})
    report = sweep(Budget(lambda: context.get_remaining_time_in_millis() / 1000))
    logger.info("notification sweep finished", extra={"report": report.model_dump()})
    return report.model_dump()
