"""What the fuzz tests share: their budget, the owner's token, and the error shape every 4xx/5xx must have."""

from __future__ import annotations

import os
from typing import Any

from local.dev_auth import DevSigner

# Examples per operation and phase (schemathesis) and half those per webhook property (hypothesis). The default
# keeps the whole fuzz well under two minutes on two cores, for CI; `make fuzz FUZZ_EXAMPLES=300` digs deeper.
CI_EXAMPLES = 50
EXAMPLES = max(CI_EXAMPLES, int(os.environ.get("FUZZ_EXAMPLES") or 0))
# One seed for everything: a failure in CI replays identically on a laptop.
SEED = 20261122

# An owner signed in to the spawned runner: a dev token of its key in .local/ (what `make token` prints); it
# lives an hour, far longer than a fuzz run.
OWNER = {"Authorization": f"Bearer {DevSigner.local().token('owner', 'fuzz-owner@example.com')}"}
# What API Gateway answers itself when the JWT authorizer refuses a request: not our shape, and no function ran.
GATEWAY_UNAUTHORIZED = {"message": "Unauthorized"}


def error_shape_problems(status: int, body: Any) -> list[str]:
    """Why `body` is not our error shape `{"error": {"code", "message", "fields"?: [{"field", "message"}]}}`.

    A 422 must also name at least one field: the client has to know which input to fix.
    """
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return [f"HTTP {status} body is not {{'error': {{...}}}}: {str(body)[:300]}"]
    error = body["error"]
    problems = [
        f"error.{key} is not a non-empty string: {error.get(key)!r}"
        for key in ("code", "message")
        if not isinstance(error.get(key), str) or not error.get(key)
    ]
    fields = error.get("fields")
    if fields is not None:
        if not isinstance(fields, list) or not fields:
            problems.append(f"error.fields is not a non-empty list: {fields!r}")
        else:
            problems += [
                f"error.fields item is not {{'field', 'message'}} strings: {item!r}"
                for item in fields
                if not isinstance(item, dict)
                or not (isinstance(item.get("field"), str) and item.get("field"))
                or not isinstance(item.get("message"), str)
            ]
    if status == 422 and not fields:
        problems.append(f"HTTP 422 names no field: {error!r}")
    return problems


class RequestTally:
    """Requests the fuzzers sent, per operation, for the summary at the end of the run."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, operation: str, count: int = 1) -> None:
        self.counts[operation] = self.counts.get(operation, 0) + count


TALLY = RequestTally()
