"""The reports' tests: bookings made through the real handlers, the table's stream handed to TableChangesFunction
as Lambda's event source mapping would (`deliver`), and GET /admin/reports read with a staff or owner token."""

from __future__ import annotations

import os
from typing import Any

from local.dev_auth import DevRole
from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from tests.support import ApiClient, ApiResponse, owner_headers

FUNCTION = "TableChangesFunction"
_PUMPS: dict[str, StreamPump] = {}


def stream_events(batch_size: int = 100) -> list[dict[str, Any]]:
    """Every stream record written since the last call, filtered as the template's FilterCriteria say."""
    pump = _PUMPS.setdefault("pump", StreamPump(os.environ["TABLE_NAME"], FUNCTION))
    return pump.events(batch_size)


def deliver(lam: LocalLambda, events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Hand the stream's new records (or `events` again) to the function; every batch must succeed."""
    answers = [lam.invoke(FUNCTION, event) for event in (stream_events() if events is None else events)]
    assert all(not answer["batchItemFailures"] for answer in answers), answers
    return answers


def reports(
    api: ApiClient, role: DevRole = "staff", headers: dict[str, str] | None = None, **query: Any
) -> ApiResponse:
    return api.request(
        "GET",
        "/admin/reports",
        query={k: str(v) for k, v in query.items()},
        headers=owner_headers(role) | (headers or {}),
    )
