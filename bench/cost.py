"""Cost per booking: every flow through the real handlers (the local runner's world: DynamoDB in moto server mode,
the Stripe and Cal.com doubles, the tests' client for the site's steps), counting what AWS bills for, priced at
list prices, for this tree ("after") and an earlier commit ("before", `--before REF`) in the same run.

    python -m bench.cost [--repeat 3] [--before perf-round2-before] [--stripe-ms 300] [--cal-ms 300] [--aws-ms 10]

Each tree is measured in a child process (`--code-root PATH --json OUT`) whose imports are that tree's (its
shared/, functions, local/ and tests/) while the meter is this file; this process only prints and saves.

Counted per step and per invocation: DynamoDB requests by operation and the capacity units they consume, Stripe
and Cal.com calls (the doubles' request logs), other AWS calls, the bytes the handlers write to stdout/stderr at
the template's log level (their logger's lines and Powertools' EMF metric lines: what CloudWatch Logs ingests),
the custom metrics those EMF lines define, and every item written (its size, for the item size table).

Capacity units are computed from the items' sizes by DynamoDB's rules, because moto's ReturnConsumedCapacity
is a constant, not a measure (docs.aws.amazon.com/amazondynamodb/latest/developerguide/
CapacityUnitCalculations.html, .../GSI.html#GSI.ThroughputConsiderations, .../transaction-apis.html):
- a read unit per 4 KB read, all items of a query together, half for an eventually consistent read (every
  index query); at least one (half) unit per request, found or not;
- a write unit per KB of the larger of the item before and after, two for an item written in a transaction,
  at least one per item; a write whose condition failed costs the same as if it had written the item as it is;
- per global secondary index a write touches: one index write to add, remove or update an entry (its size is
  that of the index's projection of the item), two when the entry's key changes, none when the index
  neither holds the item before nor after; index writes are counted at the standard rate in transactions too.

Lambda is billed for the time a function waits, not only for the time it computes here: billed milliseconds of an
invocation = its compute here + the stated latency of each call it makes (`--stripe-ms`/`--cal-ms` per provider
call, `--aws-ms` per DynamoDB or other AWS request), rounded up to 1 ms, at its memory (512 MB arm64). "All cold"
replaces the compute with the function's import + first event from bench/results/cold_start.json (make
bench-coldstart); Lambda bills the INIT phase of managed runtimes since 2025-08-01.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.tables import ROOT, Table, print_table, save, target

# --- prices ------------------------------------------------------------------------------------------------
# us-east-1 list prices. "read" = the date the page was read; "not verified here" = a list price this benchmark's
# author could not read from the page on that date (the search index held the page without the paid tier).


@dataclass(frozen=True)
class Price:
    what: str
    dollars: float
    per: str
    source: str
    read: str


PRICES = {
    "lambda_gb_s": Price(
        "Lambda arm64 duration", 0.0000133334, "GB-second", "https://aws.amazon.com/lambda/pricing/", "2026-11-22"
    ),
    "lambda_request": Price("Lambda requests", 0.20, "million", "https://aws.amazon.com/lambda/pricing/", "2026-11-22"),
    "http_api": Price(
        "API Gateway HTTP API", 1.00, "million requests", "https://aws.amazon.com/api-gateway/pricing/", "2026-11-22"
    ),
    "wru": Price(
        "DynamoDB on-demand writes",
        0.625,
        "million WRU",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "2026-11-22",
    ),
    "rru": Price(
        "DynamoDB on-demand reads",
        0.125,
        "million RRU",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "2026-11-22",
    ),
    "xray_trace": Price(
        "X-Ray traces recorded", 5.00, "million traces", "https://aws.amazon.com/xray/pricing/", "2026-11-30"
    ),
    "logs_gb": Price(
        "CloudWatch Logs ingestion (Lambda's vended logs, first tier)",
        0.50,
        "GB",
        "https://aws.amazon.com/cloudwatch/pricing/",
        "list price as of 2026-11-30, not verified here",
    ),
    "metric_month": Price(
        "CloudWatch custom metric (prorated by the hour it receives data)",
        0.30,
        "metric-month",
        "https://aws.amazon.com/cloudwatch/pricing/",
        "list price as of 2026-11-30, not verified here",
    ),
    "alarm_month": Price(
        "CloudWatch standard-resolution alarm",
        0.10,
        "alarm-month",
        "https://aws.amazon.com/cloudwatch/pricing/",
        "list price as of 2026-11-30, not verified here",
    ),
    "secret_month": Price(
        "Secrets Manager secret",
        0.40,
        "secret-month",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "2026-11-30",
    ),
    "secret_calls": Price(
        "Secrets Manager API calls",
        0.05,
        "10,000 calls",
        "https://aws.amazon.com/secrets-manager/pricing/",
        "2026-11-30",
    ),
}
# Kept for bench/reminders.py, which prices with the same figures.
PRICE_LAMBDA_GB_SECOND = PRICES["lambda_gb_s"].dollars
PRICE_LAMBDA_REQUEST = PRICES["lambda_request"].dollars / 1_000_000
PRICE_HTTP_API_REQUEST = PRICES["http_api"].dollars / 1_000_000
PRICE_WRU = PRICES["wru"].dollars / 1_000_000
PRICE_RRU = PRICES["rru"].dollars / 1_000_000
PRICE_XRAY_TRACE = PRICES["xray_trace"].dollars / 1_000_000
PRICE_LOG_BYTE = PRICES["logs_gb"].dollars / 1024**3
PRICE_METRIC_MONTH = PRICES["metric_month"].dollars
PRICE_ALARM_MONTH = PRICES["alarm_month"].dollars
PRICE_SECRET_MONTH = PRICES["secret_month"].dollars
PRICE_SECRET_CALL = PRICES["secret_calls"].dollars / 10_000

# X-Ray's default sampling, which Lambda's Active tracing applies to an invocation that arrives without a trace
# header (an HTTP API sends none: only REST APIs trace): the first request each second and 5 % of the others
# (docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html, read 2026-11-30).
XRAY_RESERVOIR_PER_SECOND = 1
XRAY_FIXED_RATE = 0.05
SECRET_CACHE_SECONDS = 300  # shared/booking/secrets.py: a warm container reads a secret again after 5 minutes
MONTH_SECONDS = 30 * 24 * 3600
MONTH_HOURS = 30 * 24
VOLUMES = (100, 1_000, 100_000)

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
SERVICE = "signature-facial"  # 165.00 USD, 50% deposit, one client per slot, no provider payout
PROVIDER_SERVICE = "brow-lamination"  # paid out to a Connect account 72 h after payment
SITE_FLOW = "booking, the site's flow (deposit)"
JOBS_FLOW = "scheduled runs"
SHORT_OPERATIONS = {
    "GetItem": "Get",
    "Query": "Query",
    "PutItem": "Put",
    "UpdateItem": "Update",
    "DeleteItem": "Delete",
    "TransactWriteItems": "Tx",
    "BatchGetItem": "BatchGet",
    "BatchWriteItem": "BatchWrite",
    "TransactGetItems": "TxGet",
}
# Names for the item size table, by the first segment of the item's pk (any other item is shown by its keys).
ITEM_NAMES = {
    "BOOKING": "booking",
    "SLOT": "seat",
    "TOKEN": "token",
    "IDEMPOTENCY": "idempotency record",
    "EVENT": "inbox event",
    "AVAILABILITY": "availability cache",
    "AVAIL": "availability cache",
    "PAYLINK": "pay link",
    "MANAGE": "manage link",
    "ALERT": "owner alert",
    "REPORT": "report day",
    "STREAM": "stream marker",
    "WAITLIST": "waitlist",
}


# --- DynamoDB capacity units -----------------------------------------------------------------------------

Item = Mapping[str, Any]  # an item as DynamoDB's JSON: {"name": {"S": "..."}, ...}


def _number_size(text: str) -> int:
    digits = re.sub(r"[eE].*$", "", text).lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def attribute_size(value: Mapping[str, Any]) -> int:
    ((kind, data),) = value.items()
    sizes: dict[str, Callable[[Any], int]] = {
        "S": lambda text: len(text.encode()),
        "N": _number_size,
        "B": len,
        "BOOL": lambda _: 1,
        "NULL": lambda _: 1,
        "SS": lambda texts: sum(len(text.encode()) for text in texts),
        "NS": lambda numbers: sum(_number_size(number) for number in numbers),
        "BS": lambda blobs: sum(len(blob) for blob in blobs),
        "L": lambda values: 3 + sum(1 + attribute_size(entry) for entry in values),
        "M": lambda values: 3 + sum(1 + len(name.encode()) + attribute_size(entry) for name, entry in values.items()),
    }
    return sizes[kind](data)


def item_size(item: Item | None) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()  # INCLUDE's NonKeyAttributes


@dataclass(frozen=True)
class TableSchema:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def entry(self, index: Index, item: Item | None) -> Item | None:
        """The item's entry in the index, or None when the index does not hold it (a sparse index)."""
        if item is None or any(key not in item for key in index.keys):
            return None
        if index.projection == "ALL":
            return item
        return {name: item[name] for name in {*index.keys, *self.keys, *index.included} if name in item}


def table_schema() -> TableSchema:
    from local.template import tables  # the measured tree's (the before commit's for the before column)

    (props,) = tables().values()
    return TableSchema(
        keys=tuple(key["AttributeName"] for key in props["KeySchema"]),
        indexes=tuple(
            Index(
                index["IndexName"],
                tuple(key["AttributeName"] for key in index["KeySchema"]),
                index["Projection"]["ProjectionType"],
                tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            # An index behind a condition (`!If`) exists only while an older stack upgrades: not a new stack's
            for index in props.get("GlobalSecondaryIndexes", [])
            if "IndexName" in index
        ),
    )


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def write_units(schema: TableSchema, before: Item | None, after: Item | None, *, transactional: bool) -> float:
    units = _write_units(max(item_size(before), item_size(after))) * (2 if transactional else 1)
    for index in schema.indexes:
        old, new = schema.entry(index, before), schema.entry(index, after)
        if old is None and new is None:
            continue
        if old is None or new is None:
            units += _write_units(item_size(old or new))
        elif any(old[key] != new[key] for key in index.keys):
            units += _write_units(item_size(old)) + _write_units(item_size(new))
        elif old != new:
            units += _write_units(item_size(new))
    return units


def read_units(size: int, *, consistent: bool) -> float:
    return max(1, math.ceil(size / READ_UNIT_BYTES)) * (1.0 if consistent else 0.5)


# --- what the handlers write to their logs -------------------------------------------------------------------


class LogTap(io.TextIOBase):
    """Stands for sys.stdout and sys.stderr: what a thread writes while it runs a measured invocation is counted
    (and swallowed); anything else goes to the real stream. Installed before any handler module is imported, so
    the loggers that keep a reference to sys.stdout (Powertools' Logger does) write here too."""

    _local = threading.local()  # shared by the stdout and the stderr tap: one buffer per thread

    def __init__(self, real: Any) -> None:
        super().__init__()
        self.real = real

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        self._local.buffer = buffer = []
        try:
            yield buffer
        finally:
            self._local.buffer = None

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            return self.real.write(text)
        buffer.append(text)
        return len(text)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")


def log_lines(written: list[str]) -> list[str]:
    """The log events a Lambda function's output becomes: one per line."""
    return [line for line in "".join(written).splitlines() if line.strip()]


def emf_metrics(line: str) -> list[str]:
    """The custom metrics an EMF line defines, each as `namespace/name {dimension=value,...}` (CloudWatch bills
    one metric per namespace, name and set of dimension values)."""
    if not line.startswith("{") or '"_aws"' not in line:
        return []
    try:
        document = json.loads(line)
    except ValueError:
        return []
    found = []
    for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
        namespace = directive.get("Namespace", "")
        for dimensions in directive.get("Dimensions", []) or [[]]:
            labels = ",".join(f"{name}={document.get(name)}" for name in sorted(dimensions))
            found += [f"{namespace}/{metric['Name']} {{{labels}}}" for metric in directive.get("Metrics", [])]
    return found


# --- what one step uses ----------------------------------------------------------------------------------


@dataclass
class Invocation:
    """What one invocation did (its counts, for billing its waits, and its log output)."""

    function: str
    seconds: float
    dynamodb: int = 0
    other_aws: int = 0
    stripe: int = 0
    cal: int = 0
    log_bytes: int = 0
    log_events: int = 0
    metrics: list[str] = field(default_factory=list)


@dataclass
class Usage:
    invocations: list[tuple[str, float]] = field(default_factory=list)  # (function, seconds)
    dynamodb: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    stripe: Counter[str] = field(default_factory=Counter)
    cal: Counter[str] = field(default_factory=Counter)
    other_aws: Counter[str] = field(default_factory=Counter)
    calls: list[Invocation] = field(default_factory=list)  # per invocation, in order
    written: list[tuple[str, str, str, int]] = field(default_factory=list)  # (pk, sk, status, bytes after)

    def counts(self) -> tuple[Any, ...]:
        """Everything but the durations: identical from one repetition to the next, or the flow is not stable."""
        return (
            [name for name, _ in self.invocations],
            self.dynamodb,
            self.rru,
            self.wru,
            self.stripe,
            self.cal,
            self.other_aws,
        )


_ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_-]{8,}$")  # pi_3Nx..., a Cal.com uid, a booking id


def _route(method: str, path: str) -> str:
    return f"{method} " + "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


class Meter:
    """Counts what the handlers do while a step runs: wraps the runner's invoke and botocore's API call."""

    def __init__(self, world: Any, tap: LogTap | None = None) -> None:
        import botocore.client

        from local.template import functions

        self.world = world
        self.tap = tap
        self.schema = table_schema()
        self.api_functions = {name for name, spec in functions().items() if spec.routes}
        self._usage: Usage | None = None
        self._in_handler = False
        self._invocation: Invocation | None = None
        self.prepared: list[tuple[str, str, str, str, int]] = []  # (function, pk, sk, status, bytes)
        lam = world.env.lam
        assert lam is not None
        self._invoke = lam.invoke
        lam.invoke = self._measured_invoke
        self._client_class = botocore.client.BaseClient
        self._api_call = botocore.client.BaseClient._make_api_call
        meter = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if not meter._in_handler or meter._usage is None:
                return meter._api_call(client, operation, params)
            return meter._aws_call(client, operation, params)

        botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]

    def close(self) -> None:
        self._client_class._make_api_call = self._api_call  # type: ignore[method-assign]

    @contextmanager
    def step(self) -> Iterator[Usage]:
        self._usage = usage = Usage()
        try:
            yield usage
        finally:
            self._usage = None

    def _measured_invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        usage = self._usage
        if usage is None:
            if self.tap is None:  # bench/reminders.py's meter: preparations are not looked at
                return self._invoke(logical_id, event)
            return self._preparation(logical_id, event)
        stripe_seen, cal_seen = len(self.world.stripe.requests), len(self.world.cal.request_log)
        self._invocation = invocation = Invocation(logical_id, 0.0)
        capture = self.tap.capture() if self.tap is not None else contextlib.nullcontext([])
        self._in_handler = True
        started = time.perf_counter()
        try:
            with capture as written:
                return self._invoke(logical_id, event)
        finally:
            invocation.seconds = time.perf_counter() - started
            self._in_handler = False
            self._invocation = None
            usage.invocations.append((logical_id, invocation.seconds))
            stripe_calls = [_route(r.method, r.path) for r in self.world.stripe.requests[stripe_seen:]]
            cal_calls = [_route(r.method, r.path) for r in self.world.cal.request_log[cal_seen:]]
            usage.stripe.update(stripe_calls)
            usage.cal.update(cal_calls)
            invocation.stripe, invocation.cal = len(stripe_calls), len(cal_calls)
            lines = log_lines(written)
            invocation.log_events = len(lines)
            invocation.log_bytes = sum(len(line.encode()) for line in lines)
            invocation.metrics = [metric for line in lines for metric in emf_metrics(line)]
            usage.calls.append(invocation)

    def _preparation(self, logical_id: str, event: dict[str, Any]) -> Any:
        """A step's preparation (finding a free slot, a booking to cancel): not counted; the items it writes are
        kept for the size table (an availability week cached while looking for a free slot, ...), its output
        off the tables."""
        self._usage = shadow = Usage()
        self._in_handler = True
        try:
            with self.tap.capture() if self.tap is not None else contextlib.nullcontext([]):
                return self._invoke(logical_id, event)
        finally:
            self._in_handler = False
            self._usage = None
            self.prepared.extend((logical_id, *written) for written in shadow.written)

    # --- AWS calls ---

    def _aws_call(self, client: Any, operation: str, params: dict[str, Any]) -> Any:
        usage = self._usage
        assert usage is not None
        service = client.meta.service_model.service_name
        if service != "dynamodb":
            usage.other_aws[f"{service} {operation}"] += 1
            if self._invocation is not None:
                self._invocation.other_aws += 1
            return self._api_call(client, operation, params)
        usage.dynamodb[operation] += 1
        if self._invocation is not None:
            self._invocation.dynamodb += 1
        writes = self._writes(operation, params)
        before = [self._item(table, key) for table, key, _, _ in writes]
        try:
            answer = self._api_call(client, operation, params)
        except Exception:
            # A condition that failed (or a cancelled transaction) still costs the writes of the items as they are.
            usage.wru += sum(
                _write_units(item_size(item)) * (2 if transactional else 1)
                for item, (_, _, transactional, _) in zip(before, writes, strict=True)
            )
            raise
        for item, (table, key, transactional, changes) in zip(before, writes, strict=True):
            after = self._item(table, key)
            usage.wru += write_units(self.schema, item, after, transactional=transactional)
            if after is not None and changes:
                usage.written.append(
                    (
                        _text(after.get(self.schema.keys[0])),
                        _text(after.get(self.schema.keys[-1])),
                        _text(after.get("status")),
                        item_size(after),
                    )
                )
        usage.rru += self._reads(operation, params, answer)
        return answer

    def _key(self, item: Item) -> Item:
        return {name: item[name] for name in self.schema.keys}

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, Item, bool, bool]]:
        """(table, key, transactional, changes it) of every item the request writes or checks."""
        if operation == "PutItem":
            return [(params["TableName"], self._key(params["Item"]), False, True)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], False, True)]
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                ((kind, write),) = entry.items()
                # A ConditionCheck is billed like a transactional write of the item it checks (unchanged).
                key = write["Item"] if kind == "Put" else write["Key"]
                found.append((write["TableName"], self._key(key), True, kind != "ConditionCheck"))
            return found
        if operation == "BatchWriteItem":
            found = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    put = request.get("PutRequest")
                    key = self._key(put["Item"]) if put else request["DeleteRequest"]["Key"]
                    found.append((table, key, False, True))
            return found
        if operation in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems", "DescribeTable"):
            return []
        raise NotImplementedError(f"no capacity rule for DynamoDB {operation}")

    def _item(self, table: str, key: Item) -> Item | None:
        """The item as moto holds it now (the benchmark's moto server runs in this process)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_REGION", "us-east-1")]
        found = backend.get_table(table).get_item(*(DynamoType(key[name]) for name in self.schema.keys))
        return None if found is None else found.to_json()["Attributes"]

    @staticmethod
    def _reads(operation: str, params: dict[str, Any], answer: dict[str, Any]) -> float:
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        if operation == "GetItem":
            return read_units(item_size(answer.get("Item")), consistent=consistent)
        if operation in ("Query", "Scan"):
            return read_units(sum(item_size(item) for item in answer.get("Items", [])), consistent=consistent)
        if operation == "BatchGetItem":
            return sum(
                read_units(item_size(item), consistent=False)
                for items in answer.get("Responses", {}).values()
                for item in items
            )
        if operation == "TransactGetItems":
            return sum(
                2 * read_units(item_size(entry.get("Item")), consistent=True) for entry in answer.get("Responses", [])
            )
        return 0.0


def _text(value: Mapping[str, Any] | None) -> str:
    if not value:
        return ""
    ((_, data),) = value.items()
    return str(data)


# --- the flows -------------------------------------------------------------------------------------------

Steps = list[tuple[str, Usage]]


class Flows:
    """Each flow is a list of measured steps; what only prepares a step (paying, moving the clock) is not."""

    def __init__(self, world: Any, meter: Meter) -> None:
        import tests.support as support

        self.world, self.api, self.meter, self.support = world, world.api, meter, support

    def _step(self, steps: Steps, label: str, action: Callable[[], Any]) -> Any:
        with self.meter.step() as usage:
            result = action()
        steps.append((label, usage))
        return result

    def _expect(self, response: Any, status: int) -> Any:
        assert response.status == status, response.body
        return response.body

    def _browse(self, steps: Steps, service_id: str) -> str:
        """GET /services, then one GET /availability of a week with a free slot: the slot the client picks."""
        week = date.fromisoformat(self.api.free_slots(service_id)[0]["start"][:10]) - timedelta(days=1)
        self._step(steps, "GET /services", lambda: self._expect(self.api.get("/services"), 200))
        body = self._step(
            steps,
            "GET /availability",
            lambda: self._expect(
                self.api.get("/availability", service_id=service_id, days=7, start=week.isoformat()), 200
            ),
        )
        return next(slot["start"] for day in body["days"] for slot in day["slots"] if slot.get("seats_left", 1) > 0)

    def _hold(self, steps: Steps, service_id: str) -> dict[str, Any]:
        start = self._browse(steps, service_id)
        return self._step(
            steps,
            "POST /payments/create-intent",
            lambda: self._expect(
                self.api.create_intent(service_id=service_id, start=start, idempotency_key=self.support.unique_key()),
                201,
            ),
        )

    def _succeeded_webhook(self, steps: Steps, intent: dict[str, Any], label: str) -> None:
        event = self.support.stripe_event(self.world.stripe, "payment_intent.succeeded", intent["payment_intent_id"])
        self._deliver(steps, label, event["id"])

    def _cal_webhook(self, steps: Steps, trigger: str, uid: str, label: str | None = None) -> None:
        self._step(
            steps,
            label or f"webhook {trigger}",
            lambda: self._expect(self.support.deliver_cal(self.api, self.world.cal, trigger, uid), 200),
        )

    def _end(self, steps: Steps, uid: str) -> None:
        """The meeting happens: Cal.com says it ended (the booking is COMPLETED)."""
        self._cal_webhook(steps, "MEETING_ENDED", uid)

    def site(self, service_id: str = SERVICE) -> Steps:
        """The site's flow: create-intent -> pay -> create-token -> verify; then what Stripe and Cal.com send."""
        steps: Steps = []
        intent = self._hold(steps, service_id)
        self.support.pay(intent["payment_intent_id"])
        token = self._step(
            steps, "POST /bookings/create-token", lambda: self._expect(self.api.create_token(intent), 201)
        )
        confirmed = self._step(
            steps, "POST /bookings/verify", lambda: self._expect(self.api.verify(token["token"]), 200)
        )
        self._succeeded_webhook(steps, intent, "webhook payment_intent.succeeded (late)")
        self._cal_webhook(steps, "BOOKING_CREATED", confirmed["cal_booking_uid"], "webhook BOOKING_CREATED (link)")
        self._end(steps, confirmed["cal_booking_uid"])
        return steps

    def close_tab(self) -> Steps:
        """The client pays and closes the tab: Stripe's webhook records the payment and confirms in Cal.com."""
        steps: Steps = []
        intent = self._hold(steps, SERVICE)
        self.support.pay(intent["payment_intent_id"])
        self._succeeded_webhook(steps, intent, "webhook payment_intent.succeeded (confirms)")
        uid = self._confirmed_uid(intent["booking_id"])
        self._cal_webhook(steps, "BOOKING_CREATED", uid, "webhook BOOKING_CREATED (link)")
        self._end(steps, uid)
        return steps

    def _confirmed_uid(self, booking_id: str) -> str:
        found = self.support.booking(booking_id)
        assert found is not None and found.cal_booking_uid, found
        return str(found.cal_booking_uid)

    def _confirmed(self, service_id: str = SERVICE) -> dict[str, Any]:
        start = self.api.first_slot(service_id)
        return self.api.confirmed_booking(service_id=service_id, start=start)

    def stripe_webhooks(self) -> Steps:
        """The Stripe events besides a payment: a declined card, an abandoned payment, a refund and a dispute
        made in Stripe's dashboard."""
        import stripe

        support = self.support
        steps: Steps = []
        declined = self.api.create_intent(service_id=SERVICE, start=self.api.first_slot())
        with contextlib.suppress(stripe.CardError):  # the decline is the point: it emits payment_failed
            support.pay(declined.body["payment_intent_id"], card="pm_card_chargeDeclined")
        event = support.stripe_event(
            self.world.stripe, "payment_intent.payment_failed", declined.body["payment_intent_id"]
        )
        self._deliver(steps, "webhook payment_intent.payment_failed", event["id"])
        client = support.stripe_client()
        client.v1.payment_intents.cancel(declined.body["payment_intent_id"])
        event = support.stripe_event(self.world.stripe, "payment_intent.canceled", declined.body["payment_intent_id"])
        self._deliver(steps, "webhook payment_intent.canceled (hold released)", event["id"])
        confirmed = self._confirmed()
        charge = client.v1.payment_intents.retrieve(confirmed["payment_intent_id"]).latest_charge
        client.v1.refunds.create(params={"charge": str(charge), "amount": 1000})
        event = support.stripe_event(self.world.stripe, "charge.refunded", str(charge))
        self._deliver(steps, "webhook charge.refunded", event["id"])
        dispute = self.world.stripe.create_dispute(str(charge))
        event = support.stripe_event(self.world.stripe, "charge.dispute.created", str(dispute["id"]))
        self._deliver(steps, "webhook charge.dispute.created (flagged)", event["id"])
        return steps

    def _deliver(self, steps: Steps, label: str, event_id: str) -> None:
        self._step(
            steps,
            label,
            lambda: self._expect(self.support.deliver_stripe(self.api, self.world.stripe, event_id), 200),
        )

    def cal_webhooks(self) -> Steps:
        """What Cal.com sends besides a creation: cancellations, a reschedule, a decline, a no-show."""
        steps: Steps = []
        attendee = self.support.ATTENDEE["email"]
        cancelled = self._confirmed()["cal_booking_uid"]
        self.world.cal.cancel_booking(cancelled, "cannot make it", by=attendee)
        self._cal_webhook(steps, "BOOKING_CANCELLED", cancelled, "webhook BOOKING_CANCELLED (refund)")
        moved = self._confirmed()
        new = self.world.cal.reschedule_booking(moved["cal_booking_uid"], self.api.first_slot(), by=attendee)
        self._cal_webhook(steps, "BOOKING_RESCHEDULED", new["uid"])
        rejected = self._confirmed()["cal_booking_uid"]
        self.world.cal.emit_booking_rejected(rejected, "fully booked")
        self._cal_webhook(steps, "BOOKING_REJECTED", rejected, "webhook BOOKING_REJECTED (refund)")
        absent = self._confirmed()["cal_booking_uid"]
        self.world.cal.emit_no_show_updated(absent)
        self._cal_webhook(steps, "BOOKING_NO_SHOW_UPDATED", absent)
        return steps

    def jobs(self) -> Steps:
        """The scheduled runs: idle, then with work (an abandoned hold to expire; a provider to pay)."""
        from booking.settings import get_settings

        steps: Steps = []
        self._job(steps, "cleanup run, nothing due", "ExpireHoldsFunction")
        self._job(steps, "payouts run, nothing due", "PayoutsCronFunction")
        self.api.create_intent(service_id=SERVICE, start=self.api.first_slot())
        self._confirmed(PROVIDER_SERVICE)
        with _clock_ahead(timedelta(minutes=get_settings().hold_minutes + 1)):
            self._job(steps, "cleanup run, one hold expired", "ExpireHoldsFunction")
        with _clock_ahead(timedelta(hours=get_settings().payout_hold_hours + 1)):
            self._job(steps, "payouts run, one provider paid", "PayoutsCronFunction")
        return steps

    def _job(self, steps: Steps, label: str, logical_id: str) -> None:
        self._step(steps, label, lambda: self.support.run_job(self.world.api.lam, logical_id))


@contextmanager
def _clock_ahead(delta: timedelta) -> Iterator[None]:
    """Move the product's clock (and the doubles', which read it) forward, as the runner's /_local/clock does."""
    previous = os.environ.get("LOCAL_CLOCK_OFFSET_SECONDS")
    os.environ["LOCAL_CLOCK_OFFSET_SECONDS"] = str(float(previous or 0) + delta.total_seconds())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("LOCAL_CLOCK_OFFSET_SECONDS", None)
        else:
            os.environ["LOCAL_CLOCK_OFFSET_SECONDS"] = previous


# --- measuring one tree (the child process) ----------------------------------------------------------------


def _use_code_root(code_root: Path) -> None:
    """Make `code_root`'s shared/, functions, local/ and tests/ the ones imported (this file stays the meter)."""
    mine = {str(ROOT), str(ROOT / "shared"), "", "."}
    sys.path[:] = [str(code_root)] + [entry for entry in sys.path if entry not in mine]
    for name in list(sys.modules):
        if name.split(".")[0] in ("local", "tests", "booking"):
            del sys.modules[name]


def _template_log_level(code_root: Path) -> str:
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((code_root / "template.yaml").read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    return str(template["Parameters"].get("LogLevel", {}).get("Default", "INFO"))


def _step_record(label: str, repetitions: list[Usage]) -> dict[str, Any]:
    last = repetitions[-1]
    durations = [[seconds for _, seconds in usage.invocations] for usage in repetitions]
    medians = [statistics.median(values) * 1000 for values in zip(*durations, strict=True)]
    return {
        "label": label,
        "varies": any(usage.counts() != last.counts() for usage in repetitions),
        "dynamodb": dict(last.dynamodb),
        "rru": last.rru,
        "wru": last.wru,
        "stripe": dict(last.stripe),
        "cal": dict(last.cal),
        "other_aws": dict(last.other_aws),
        "invocations": [
            {
                "function": call.function,
                "compute_ms": ms,
                "dynamodb": call.dynamodb,
                "other_aws": call.other_aws,
                "stripe": call.stripe,
                "cal": call.cal,
                "log_bytes": call.log_bytes,
                "log_events": call.log_events,
                "metrics": call.metrics,
            }
            for call, ms in zip(last.calls, medians, strict=True)
        ],
        "written": [list(entry) for entry in last.written],
    }


def measure(code_root: Path, repeat: int) -> dict[str, Any]:
    """Run every flow `repeat` times after a warm-up in this process, with `code_root`'s code."""
    tap = LogTap(sys.stdout)
    sys.stdout, sys.stderr = tap, LogTap(sys.stderr)  # before any handler module (and its logger) is imported
    _use_code_root(code_root)
    log_level = _template_log_level(code_root)
    # Powertools writes the metrics of an invocation as one EMF line on stdout: on here, as deployed.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    # This tree's world.py (bench/ is a namespace package: `import bench.world` would find code_root's).
    spec = importlib.util.spec_from_file_location("_cost_world", ROOT / "bench" / "world.py")
    assert spec is not None and spec.loader is not None
    world_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = world_module
    spec.loader.exec_module(world_module)
    local_world = world_module.local_world
    from local.template import functions, load_template

    groups: dict[str, list[Steps]] = {}
    with local_world(log_level) as world:
        meter = Meter(world, tap)
        flows = Flows(world, meter)
        plan: dict[str, Callable[[], Steps]] = {
            SITE_FLOW: flows.site,
            "booking, the client pays and closes the tab": flows.close_tab,
            "booking with a provider payout (site's flow)": lambda: flows.site(PROVIDER_SERVICE),
            "Stripe webhooks": flows.stripe_webhooks,
            "Cal.com webhooks": flows.cal_webhooks,
            JOBS_FLOW: flows.jobs,
        }
        try:
            for repetition in range(repeat + 1):
                for title, flow in plan.items():
                    steps = flow()
                    if repetition:  # the first repetition warms every function up
                        groups.setdefault(title, []).append(steps)
                print("." if repetition else "warm ", end="", file=sys.__stderr__, flush=True)
        finally:
            meter.close()
    print(file=sys.__stderr__)
    resources = load_template()["Resources"]
    secrets = {name for name, resource in resources.items() if resource["Type"] == "AWS::SecretsManager::Secret"}
    specs = {}
    for name, spec in functions().items():
        refs = [value.get("Ref") for value in spec.environment.values() if isinstance(value, dict)]
        specs[name] = {
            "memory_mb": spec.memory_mb,
            "api": bool(spec.routes),
            "schedules": [schedule.expression for schedule in spec.schedules],
            "secrets": sum(1 for ref in refs if ref in secrets),
        }
    return {
        "code_root": str(code_root),
        "log_level": log_level,
        "repeat": repeat,
        "flows": {
            title: [
                _step_record(label, [steps[index][1] for steps in repetitions])
                for index, (label, _) in enumerate(repetitions[-1])
            ]
            for title, repetitions in groups.items()
        },
        "functions": specs,
        "prepared": [list(entry) for entry in meter.prepared],
        "alarms": sum(1 for resource in resources.values() if resource["Type"] == "AWS::CloudWatch::Alarm"),
        "secrets": len(secrets),
        "metric_sites": _metric_sites(code_root),
    }


def _metric_sites(code_root: Path) -> dict[str, int]:
    """The metric names the code can emit: literal `add_metric(name="...")` and names built at run time."""
    literal, built = set(), 0
    for path in (code_root / "shared").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        literal |= set(re.findall(r"add_metric\(\s*name=\"([A-Za-z0-9_]+)\"", text))
        built += len(re.findall(r"add_metric\(\s*name=f\"", text))
    return {"literal_names": len(literal), "built_names": built}


RAW = ROOT / "bench" / ".cache"


def measure_tree(code_root: Path, repeat: int, name: str, *, reuse: bool = False) -> dict[str, Any]:
    """`measure` in a child process, so that the tree's modules are the only ones imported. The raw figures are
    kept in bench/.cache/cost-{name}.json (`--reuse` reports them again without measuring)."""
    raw = RAW / f"cost-{name}.json"
    if reuse and raw.exists():
        return json.loads(raw.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cost.json"
        command = [
            sys.executable,
            "-m",
            "bench.cost",
            "--code-root",
            str(code_root),
            "--json",
            str(out),
            "--repeat",
            str(repeat),
        ]
        subprocess.run(command, cwd=ROOT, check=True)
        RAW.mkdir(parents=True, exist_ok=True)
        raw.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
        return json.loads(out.read_text(encoding="utf-8"))


# --- cost ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    stripe_ms: float
    cal_ms: float
    aws_ms: float

    def waits(self, call: Mapping[str, Any]) -> float:
        return (
            call["stripe"] * self.stripe_ms
            + call["cal"] * self.cal_ms
            + (call["dynamodb"] + call["other_aws"]) * self.aws_ms
        )


def cold_start_ms(tree: str) -> dict[str, float] | None:
    """Import + first event per function from the latest cold-start run (with bytecode, as `make build` ships):
    the tree's own figures when the run kept them (`before`), else None."""
    found = ROOT / "bench" / "results" / "cold_start.json"
    if not found.exists():
        return None
    report = json.loads(found.read_text(encoding="utf-8"))
    rows = report.get("functions")
    if tree == "before":
        # {"before": {"functions": {...}}} or {"before": {"before (ref)": {...}}}
        before = report.get("before") or {}
        rows = before.get("functions") or next(iter(before.values()), None) if isinstance(before, dict) else None
    if not isinstance(rows, dict):
        return None
    try:
        return {name: float(row["import_ms"]) + float(row["first_event_ms"]) for name, row in rows.items()}
    except (KeyError, TypeError, ValueError):
        return None


def _covers(cold: Mapping[str, float] | None, report: Mapping[str, Any]) -> Mapping[str, float] | None:
    """`cold` when it has a figure for every function the flows invoke (else no all-cold column)."""
    used = {call["function"] for steps in report["flows"].values() for step in steps for call in step["invocations"]}
    return cold if cold is not None and used <= set(cold) else None


def billed_ms(call: Mapping[str, Any], latency: Latency, cold: Mapping[str, float] | None) -> int:
    compute = cold[call["function"]] if cold is not None else call["compute_ms"]
    return math.ceil(compute + latency.waits(call))


def platform_log_bytes(billed: int, *, cold: bool) -> int:
    """START, END and REPORT (with its XRAY line) that Lambda writes per invocation, by their text format."""
    request = "8f5e7a2b-1c3d-4e5f-9a8b-7c6d5e4f3a2b"
    init = "Init Duration: 512.34 ms\t" if cold else ""
    text = (
        f"START RequestId: {request} Version: $LATEST\n"
        f"END RequestId: {request}\n"
        f"REPORT RequestId: {request}\tDuration: {billed - 0.5:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: 512 MB\tMax Memory Used: 128 MB\t{init}\n"
        "XRAY TraceId: 1-6752a1b3-4e5f6a7b8c9d0e1f2a3b4c5d\tSegmentId: 0a1b2c3d4e5f6a7b\tSampled: true\t\n"
    )
    return len(text.encode())


def sampled_fraction(per_second: float) -> float:
    """The share of invocations X-Ray records at `per_second` (Poisson arrivals): each second's first one (the
    reservoir) and 5 % of the others."""
    if per_second <= 0:
        return 1.0
    first = 1 - math.exp(-per_second)  # a second with at least one request spends its reservoir on one
    sampled = min(first, XRAY_RESERVOIR_PER_SECOND) + XRAY_FIXED_RATE * max(0.0, per_second - first)
    return min(1.0, sampled / per_second)


def metric_hours(events_per_month: float) -> float:
    """Hours of a month a metric receives data when `events_per_month` arrive at random: what CloudWatch bills."""
    if events_per_month <= 0:
        return 0.0
    return MONTH_HOURS * (1 - (1 - 1 / MONTH_HOURS) ** events_per_month)


def _runs_per_month(expression: str) -> float:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return 0.0
    seconds = int(match.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return MONTH_SECONDS / seconds


@dataclass
class FlowFigures:
    """Per one run of a flow (or per month, for fixed costs): counts and dollars by service."""

    requests: int = 0
    rru: float = 0.0
    wru: float = 0.0
    stripe: int = 0
    cal: int = 0
    invocations: int = 0
    http: int = 0
    billed_ms: float = 0.0
    gb_s: float = 0.0
    log_bytes: float = 0.0  # with Lambda's own lines
    handler_log_bytes: float = 0.0
    log_events: int = 0
    secret_reads: float = 0.0  # when every invocation reads its function's secrets
    metrics: Counter[str] = field(default_factory=Counter)
    by_function: Counter[str] = field(default_factory=Counter)

    def dollars(self, *, traced: float = 1.0) -> dict[str, float]:
        return {
            "Lambda": self.invocations * PRICE_LAMBDA_REQUEST + self.gb_s * PRICE_LAMBDA_GB_SECOND,
            "HTTP API": self.http * PRICE_HTTP_API_REQUEST,
            "DynamoDB": self.rru * PRICE_RRU + self.wru * PRICE_WRU,
            "X-Ray": self.invocations * traced * PRICE_XRAY_TRACE,
            "Logs": self.log_bytes * PRICE_LOG_BYTE,
            "Secrets calls": self.secret_reads * PRICE_SECRET_CALL,
        }


def figures(
    steps: list[dict[str, Any]], functions: Mapping[str, Any], latency: Latency, cold: Mapping[str, float] | None
) -> FlowFigures:
    found = FlowFigures()
    for step in steps:
        found.requests += sum(step["dynamodb"].values())
        found.rru += step["rru"]
        found.wru += step["wru"]
        found.stripe += sum(step["stripe"].values())
        found.cal += sum(step["cal"].values())
        for call in step["invocations"]:
            spec = functions[call["function"]]
            billed = billed_ms(call, latency, cold)
            found.invocations += 1
            found.http += 1 if spec["api"] else 0
            found.billed_ms += billed
            found.gb_s += spec["memory_mb"] / 1024 * billed / 1000
            found.log_bytes += call["log_bytes"] + platform_log_bytes(billed, cold=cold is not None)
            found.handler_log_bytes += call["log_bytes"]
            found.log_events += call["log_events"] + 4
            found.secret_reads += spec["secrets"]
            found.metrics.update(call["metrics"])
            found.by_function[call["function"]] += 1
    return found


@dataclass
class Month:
    bookings: int
    per_booking: dict[str, float]  # dollars by service, variable costs
    fixed: dict[str, float]  # dollars a month

    @property
    def per_thousand(self) -> dict[str, float]:
        return {
            name: self.per_booking.get(name, 0.0) * 1000 + self.fixed.get(name, 0.0) / self.bookings * 1000
            for name in {*self.per_booking, *self.fixed}
        }


COST_COLUMNS = ("Lambda", "HTTP API", "DynamoDB", "X-Ray", "Logs", "Metrics", "Alarms", "Secrets", "Scheduled runs")


def month(bookings: int, report: Mapping[str, Any], latency: Latency, cold: Mapping[str, float] | None) -> Month:
    functions = report["functions"]
    booking = figures(report["flows"][SITE_FLOW], functions, latency, cold)
    per_second = booking.invocations * bookings / MONTH_SECONDS / max(1, len(booking.by_function))
    per_booking = booking.dollars(traced=sampled_fraction(per_second))
    # A cold container reads each secret it is given once; a warm one again when its 5-minute cache ran out: at
    # most once per 5 minutes per function (one container each), at least once per cold start.
    per_booking.pop("Secrets calls")
    reads = 0.0
    for name, count in booking.by_function.items():
        invocations = count * bookings
        kept = invocations if cold is not None else min(invocations, MONTH_SECONDS / SECRET_CACHE_SECONDS)
        reads += functions[name]["secrets"] * kept
    per_booking["Secrets"] = reads / bookings * PRICE_SECRET_CALL
    # The scheduled runs with nothing to do, every one of the month (its own sampling: ~1 run per 5 minutes).
    idle = [step for step in report["flows"][JOBS_FLOW] if "nothing due" in step["label"]]
    scheduled = 0.0
    metric_events: Counter[str] = Counter({name: n * bookings for name, n in booking.metrics.items()})
    for step in idle:
        runs = sum(
            _runs_per_month(expression)
            for call in step["invocations"][:1]
            for expression in functions[call["function"]]["schedules"]
        )
        run = figures([step], functions, latency, cold)
        scheduled += runs * sum(run.dollars().values())
        metric_events.update({name: n * runs for name, n in run.metrics.items()})
    metrics = sum(metric_hours(events) for events in metric_events.values()) / MONTH_HOURS * PRICE_METRIC_MONTH
    fixed = {
        "Metrics": metrics,
        "Alarms": report["alarms"] * PRICE_ALARM_MONTH,
        "Secrets": report["secrets"] * PRICE_SECRET_MONTH,
        "Scheduled runs": scheduled,
    }
    return Month(bookings, per_booking, fixed)


# --- the report (this process) -------------------------------------------------------------------------------


def _ops(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{SHORT_OPERATIONS.get(op, op)} {n}" for op, n in sorted(counter.items())) or "-"


def _money(value: float) -> str:
    return f"{value:.4f}" if value < 10 else f"{value:,.2f}"


def _key_pattern(key: str) -> str:
    head, sep, _ = key.partition("#")
    return f"{head}#…" if sep else key


def item_kind(pk: str, sk: str) -> str:
    pattern = f"`{_key_pattern(pk)}` / `{_key_pattern(sk)}`"
    head = pk.partition("#")[0]
    if head == "BOOKING" and sk.startswith("MSG#"):
        return f"message {pattern}"
    name = ITEM_NAMES.get(head)
    return f"{name} {pattern}" if name else pattern


def size_table(report: Mapping[str, Any]) -> Table:
    table = Table(
        "cost-item-sizes",
        "Items the flows write, as measured (DynamoDB's size rules: attribute names + values)",
        ["item", "state (`status`)", "bytes", "first written by"],
        note="The largest size seen of each (item, state) over every flow; a booking's size grows with its "
        "history and the fields each step adds. Write units are per started KB of the larger of before and after.",
    )
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    order: list[tuple[str, str]] = []

    def note(pk: str, sk: str, status: str | None, size: int, where: str) -> None:
        """The largest size of each (item, state), and where it was first written."""
        key = (item_kind(pk, sk), status or "-")
        if key not in seen:
            order.append(key)
            seen[key] = (size, where)
        elif size > seen[key][0]:
            seen[key] = (size, seen[key][1])

    for title, steps in report["flows"].items():
        for step in steps:
            for pk, sk, status, size in step["written"]:
                note(pk, sk, status, size, f"{title}: {step['label']}")
    for function, pk, sk, status, size in report.get("prepared", []):
        note(pk, sk, status, size, f"{function}, outside the measured steps")
    for kind, status in sorted(order, key=lambda key: (not key[0].startswith("booking"), order.index(key))):
        size, where = seen[(kind, status)]
        table.add(kind, status, f"{size:,}", where)
    return table


def steps_table(report: Mapping[str, Any], latency: Latency) -> Table:
    table = Table(
        "cost-booking-steps",
        "A deposit booking, the site's flow, step by step (after; Stripe and Cal.com calls from the doubles' logs)",
        ["step", "DynamoDB requests", "RRU", "WRU", "Stripe", "Cal.com", "log bytes", "billed ms (warm)"],
        note="Billed ms: compute measured here + "
        f"{latency.aws_ms:g} ms per AWS request + {latency.stripe_ms:g} ms per Stripe and {latency.cal_ms:g} ms "
        "per Cal.com call, rounded up per invocation. Log bytes: the handlers' own lines (logger and EMF), "
        "without Lambda's START/END/REPORT lines.",
    )
    functions = report["functions"]
    for step in report["flows"][SITE_FLOW]:
        found = figures([step], functions, latency, None)
        logs = sum(call["log_bytes"] for call in step["invocations"])
        table.add(
            f"`{step['label']}`" + (" *" if step["varies"] else ""),
            _ops(step["dynamodb"]),
            f"{step['rru']:g}",
            f"{step['wru']:g}",
            found.stripe,
            found.cal,
            f"{logs:,}",
            f"{found.billed_ms:,.0f}",
        )
    total = figures(report["flows"][SITE_FLOW], functions, latency, None)
    merged: Counter[str] = Counter()
    for step in report["flows"][SITE_FLOW]:
        merged.update(step["dynamodb"])
    logs = sum(call["log_bytes"] for step in report["flows"][SITE_FLOW] for call in step["invocations"])
    table.add(
        f"**booking** ({total.invocations} invocations)",
        f"**{total.requests}** ({_ops(merged)})",
        f"**{total.rru:g}**",
        f"**{total.wru:g}**",
        total.stripe,
        total.cal,
        f"{logs:,}",
        f"{total.billed_ms:,.0f}",
    )
    return table


def per_booking_table(after: Mapping[str, Any], before: Mapping[str, Any] | None, before_ref: str) -> Table:
    table = Table(
        "cost-per-booking",
        "Per deposit booking (the site's flow, webhooks included), before and after, measured in the same run",
        ["per booking", f"before (`{before_ref}`)", "after", "target (issue 15)"],
        note="Every DynamoDB request of the flow's invocations, and the capacity units by DynamoDB's rules from "
        "the items' measured sizes (bench/cost.py).",
    )
    latency = Latency(0, 0, 0)
    new = figures(after["flows"][SITE_FLOW], after["functions"], latency, None)
    old = figures(before["flows"][SITE_FLOW], before["functions"], latency, None) if before else None
    rows: list[tuple[str, Callable[[FlowFigures], float], float | None]] = [
        ("DynamoDB requests", lambda f: f.requests, 10),
        ("write units (WRU)", lambda f: f.wru, 36),
        ("read units (RRU)", lambda f: f.rru, None),
        ("Stripe calls", lambda f: f.stripe, None),
        ("Cal.com calls", lambda f: f.cal, None),
        ("Lambda invocations", lambda f: f.invocations, None),
        ("HTTP API requests", lambda f: f.http, None),
        ("log bytes (handlers' lines)", lambda f: f.handler_log_bytes, None),
    ]
    for label, value, limit in rows:
        shown = value(new)
        table.add(
            label,
            f"{value(old):g}" if old else "-",
            target(shown, limit) if limit is not None else f"{shown:g}",
            f"≤ {limit:g}" if limit is not None else "-",
        )
    return table


def flows_table(after: Mapping[str, Any], before: Mapping[str, Any] | None) -> Table:
    table = Table(
        "cost-flows",
        "Every flow measured (after; before in parentheses)",
        ["flow", "invocations", "DynamoDB requests", "RRU", "WRU", "Stripe", "Cal.com"],
        note="* counts vary between repetitions: they grow with the data (the cleanup run reconciles every "
        "PaymentIntent of the last 3 days; availability reads the week's held seats).",
    )
    latency = Latency(0, 0, 0)
    for title, steps in after["flows"].items():
        new = figures(steps, after["functions"], latency, None)
        old_steps = (before or {}).get("flows", {}).get(title)
        old = figures(old_steps, before["functions"], latency, None) if old_steps and before else None

        def pair(attribute: str, new: FlowFigures = new, old: FlowFigures | None = old) -> str:
            value = getattr(new, attribute)
            return f"{value:g}" + (f" ({getattr(old, attribute):g})" if old else "")

        mark = " *" if any(step["varies"] for step in steps) else ""
        table.add(
            title + mark, pair("invocations"), pair("requests"), pair("rru"), pair("wru"), pair("stripe"), pair("cal")
        )
    return table


def cost_table(
    after: Mapping[str, Any], before: Mapping[str, Any] | None, latency: Latency
) -> tuple[Table, dict[str, Any]]:
    cold_after = _covers(cold_start_ms("after"), after)
    cold_before = _covers(cold_start_ms("before"), before) if before else None
    if cold_before is None and before:
        cold_before = _covers(cold_after, before)  # the cold-start run kept no "before": the same import costs
    table = Table(
        "cost-per-1000",
        "AWS cost per 1,000 deposit bookings (dollars; fixed monthly costs spread over the month's bookings)",
        ["bookings a month", "billing", *COST_COLUMNS, "**total after**", "total before"],
        note=f"Lambda billed for its waits ({latency.aws_ms:g} ms per AWS request, {latency.stripe_ms:g} ms per "
        f"Stripe and {latency.cal_ms:g} ms per Cal.com call); all cold = every invocation also pays its "
        "function's import and first event (bench/results/cold_start.json). X-Ray: every invocation is a "
        "trace (an HTTP API passes no trace header), recorded at the default sampling. Logs: the handlers' lines "
        "at the template's log level + Lambda's START/END/REPORT. Metrics: the EMF metrics the flows emit, "
        "billed per hour they receive data, the scheduled runs' every hour. Alarms and secrets: the template's. "
        "Scheduled runs: the cleanup (every 5 min) and payouts (hourly) runs with nothing due. Free tiers not "
        "deducted.",
    )
    extra: dict[str, Any] = {}
    for bookings in VOLUMES:
        for billing, cold_new, cold_old in (("warm", None, None), ("all cold", cold_after, cold_before)):
            if billing == "all cold" and cold_new is None:
                table.add(f"{bookings:,}", billing, *["-"] * len(COST_COLUMNS), "run `make bench-coldstart`", "-")
                continue
            new = month(bookings, after, latency, cold_new).per_thousand
            old = month(bookings, before, latency, cold_old).per_thousand if before else None
            table.add(
                f"{bookings:,}",
                billing,
                *(_money(new.get(name, 0.0)) for name in COST_COLUMNS),
                f"**{_money(sum(new.values()))}**",
                _money(sum(old.values())) if old else "-",
            )
            extra[f"{bookings}:{billing}"] = {
                "after": new,
                "after_total": sum(new.values()),
                "before": old,
                "before_total": sum(old.values()) if old else None,
            }
    return table, extra


def lambda_table(after: Mapping[str, Any], latency: Latency) -> Table:
    table = Table(
        "cost-lambda-billing",
        "What Lambda bills per invocation of a deposit booking (after, milliseconds)",
        [
            "invocation",
            "compute here (warm)",
            "waits",
            "billed warm",
            "cold start (import + first event)",
            "billed all cold",
        ],
        note="Waits: stated latencies times calls (AWS requests, Stripe and Cal.com calls) of that invocation.",
    )
    cold = _covers(cold_start_ms("after"), after)
    for step in after["flows"][SITE_FLOW]:
        for call in step["invocations"]:
            waits = latency.waits(call)
            table.add(
                f"{step['label']} ({call['function']})",
                f"{call['compute_ms']:.0f}",
                f"{waits:,.0f} ({call['dynamodb'] + call['other_aws']} AWS, {call['stripe']} Stripe, "
                f"{call['cal']} Cal.com)",
                f"{billed_ms(call, latency, None):,}",
                f"{cold[call['function']]:.0f}" if cold else "-",
                f"{billed_ms(call, latency, cold):,}" if cold else "-",
            )
    return table


def fixed_table(after: Mapping[str, Any], latency: Latency) -> Table:
    table = Table(
        "cost-fixed-monthly",
        "What the stack costs a month whatever the bookings (after)",
        ["what", "quantity", "price", "dollars a month"],
        note="Custom metrics: the distinct metrics (namespace, name, dimension values) the measured flows emitted; "
        f"the code names {after['metric_sites']['literal_names']} metrics literally and builds "
        f"{after['metric_sites']['built_names']} names at run time (one per kind of message or outcome), each "
        "billed only for the hours it receives data.",
    )
    functions = after["functions"]
    emitted: set[str] = set()
    for steps in after["flows"].values():
        for step in steps:
            for call in step["invocations"]:
                emitted.update(call["metrics"])
    table.add(
        "alarms (template)",
        after["alarms"],
        f"${PRICE_ALARM_MONTH:.2f} an alarm-month",
        _money(after["alarms"] * PRICE_ALARM_MONTH),
    )
    table.add(
        "secrets (template)",
        after["secrets"],
        f"${PRICE_SECRET_MONTH:.2f} a secret-month",
        _money(after["secrets"] * PRICE_SECRET_MONTH),
    )
    for step in after["flows"][JOBS_FLOW]:
        if "nothing due" not in step["label"]:
            continue
        runs = sum(
            _runs_per_month(expression)
            for call in step["invocations"][:1]
            for expression in functions[call["function"]]["schedules"]
        )
        run = figures([step], functions, latency, None)
        table.add(
            f"{step['label']} (a run: {run.requests} DynamoDB requests, Stripe {run.stripe}, Cal.com {run.cal})",
            f"{runs:,.0f} runs",
            "Lambda, DynamoDB, X-Ray, logs, secrets",
            _money(runs * sum(run.dollars().values())),
        )
    always = Counter()
    for step in after["flows"][JOBS_FLOW]:
        if "nothing due" in step["label"]:
            for call in step["invocations"]:
                always.update(set(call["metrics"]))
    table.add(
        "custom metrics emitted every hour (the scheduled runs')",
        len(always),
        f"${PRICE_METRIC_MONTH:.2f} a metric-month",
        _money(len(always) * PRICE_METRIC_MONTH),
    )
    table.add(
        "custom metrics the measured flows emit (all flows)", len(emitted), "prorated by the hour", "see the cost table"
    )
    return table


def prices_table() -> Table:
    table = Table(
        "cost-prices",
        "Prices used (us-east-1 list prices)",
        ["what", "price", "source", "read"],
        note="Free tiers are not deducted (Lambda 1 M requests and 400,000 GB-s, X-Ray 100,000 traces, "
        "CloudWatch 5 GB of logs, 10 metrics and 10 alarms a month).",
    )
    for price in PRICES.values():
        amount = f"${price.dollars:.10f}".rstrip("0") if price.dollars < 0.01 else f"${price.dollars:.3f}"
        table.add(price.what, f"{amount} per {price.per}", price.source, price.read)
    table.add(
        "X-Ray sampling (Lambda, Active)",
        "1 request a second + 5 % of the others",
        "https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html",
        "2026-11-30",
    )
    return table


def _machine_figures(report: Mapping[str, Any], latency: Latency) -> dict[str, Any]:
    functions = report["functions"]

    def one(steps: list[dict[str, Any]]) -> dict[str, Any]:
        found = figures(steps, functions, latency, None)
        return {
            "requests": found.requests,
            "rru": found.rru,
            "wru": found.wru,
            "stripe": found.stripe,
            "cal": found.cal,
            "invocations": found.invocations,
            "billed_ms_warm": found.billed_ms,
            "log_bytes": found.log_bytes,
        }

    return {
        "per_booking": one(report["flows"][SITE_FLOW]),
        "per_step": {step["label"]: one([step]) for step in report["flows"][SITE_FLOW]},
        "flows": {title: one(steps) for title, steps in report["flows"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="measured repetitions of every flow (after one warm-up)")
    parser.add_argument("--before", default="perf-round2-before", help="the commit of the 'before' column; 'none'")
    parser.add_argument("--stripe-ms", type=float, default=300.0, help="billed wait per Stripe call")
    parser.add_argument("--cal-ms", type=float, default=300.0, help="billed wait per Cal.com call")
    parser.add_argument("--aws-ms", type=float, default=10.0, help="billed wait per DynamoDB (or other AWS) request")
    parser.add_argument("--reuse", action="store_true", help="report the last run's raw figures (bench/.cache)")
    parser.add_argument("--code-root", type=Path, help=argparse.SUPPRESS)  # the child: measure this tree ...
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # ... and write its figures here
    args = parser.parse_args(argv)

    if args.code_root is not None:
        report = measure(args.code_root.resolve(), args.repeat)
        args.json.write_text(json.dumps(report), encoding="utf-8")
        return 0

    latency = Latency(args.stripe_ms, args.cal_ms, args.aws_ms)
    before = None
    if args.before.lower() != "none":
        from bench.baseline import checkout

        with checkout(args.before) as path:
            print(f"before: {args.before} ({path})", file=sys.stderr)
            before = measure_tree(path, args.repeat, "before", reuse=args.reuse)
    print("after: this tree", file=sys.stderr)
    after = measure_tree(ROOT, args.repeat, "after", reuse=args.reuse)

    cost, cost_figures = cost_table(after, before, latency)
    tables = [
        per_booking_table(after, before, args.before),
        steps_table(after, latency),
        flows_table(after, before),
        size_table(after),
        lambda_table(after, latency),
        cost,
        fixed_table(after, latency),
        prices_table(),
    ]
    print(
        f"Cost per booking: {args.repeat} repetitions after a warm-up; handlers' logs at {after['log_level']} "
        "(the template's default)"
    )
    for table in tables:
        print_table(table)
    extra = {
        "latency_ms": {"stripe": latency.stripe_ms, "cal": latency.cal_ms, "aws": latency.aws_ms},
        "before_ref": args.before,
        "after": _machine_figures(after, latency),
        "before": _machine_figures(before, latency) if before else None,
        "cost_per_1000": cost_figures,
        "targets": {"requests": 10, "wru": 36},
    }
    save("cost", tables, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
