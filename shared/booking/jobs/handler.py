"""What the scheduled functions share: the EventBridge Scheduler input, a time budget, the entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from booking.observability import logger, metrics

STOP_WITH_SECONDS_LEFT = 15.0


class ScheduledRun(BaseModel):
    """The schedule's Input (template) or the default payload; nothing in it is required."""

    model_config = ConfigDict(extra="allow")

    job: str | None = None


class Budget:
    """Bounded work per run: say stop before the Lambda timeout, and remember that we stopped."""

    def __init__(self, seconds_left: Callable[[], float]) -> None:
        self._seconds_left = seconds_left
        self.exhausted = False

    def __call__(self) -> bool:
        if self._seconds_left() < STOP_WITH_SECONDS_LEFT:
            self.exhausted = True
        return not self.exhausted


def scheduled_handler(job: Callable[[Budget], BaseModel]) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        ScheduledRun.model_validate(event or {})
        report = job(Budget(lambda: context.get_remaining_time_in_millis() / 1000))
        logger.info("scheduled run finished", extra={"report": report.model_dump()})
        return report.model_dump()

    return lambda_handler
