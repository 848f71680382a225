"""Cost per booking: every flow through the real handlers in this process (the local runner's world: DynamoDB
in moto server mode, the Stripe and Cal.com doubles, the tests' client for the site's steps), counting what
AWS bills for, priced at list prices.

    python -m bench.cost [--repeat 3] [--bookings 1000]

Counted per step: Lambda invocations and how long each took here, DynamoDB requests by operation and the
capacity units they consume, Stripe and Cal.com calls (the doubles' request logs) and any other AWS call.

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

Durations are this machine's, in this process, warm (each flow runs once before it is measured); they stand
in for warm Lambda durations at 512 MB. A cold invocation also pays its function's import and first event:
taken from bench/results/cold_start.json (make bench-coldstart) when it exists. Lambda bills the INIT phase
of managed runtimes since 2025-08-01, so the cold column counts it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import botocore.client
import stripe
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from bench.world import RESULTS, World, local_world
from booking.settings import get_settings
from local.template import functions, tables
from tests.support import (
    ATTENDEE,
    booking,
    deliver_cal,
    deliver_stripe,
    pay,
    run_job,
    stripe_client,
    stripe_event,
    unique_key,
)

# us-east-1 list prices, read on 2026-11-22 (aws.amazon.com/lambda/pricing, /api-gateway/pricing,
# /dynamodb/pricing/on-demand): Lambda arm64 first 7.5 billion GB-s a month; HTTP API first 300 million
# requests a month; DynamoDB on-demand standard table class (prices halved on 2024-11-01).
PRICE_LAMBDA_GB_SECOND = 0.0000133334
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_HTTP_API_REQUEST = 1.00 / 1_000_000
PRICE_WRU = 0.625 / 1_000_000
PRICE_RRU = 0.125 / 1_000_000

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
SERVICE = "signature-facial"  # 165.00 USD, 50% deposit, one client per slot, no provider payout
PROVIDER_SERVICE = "brow-lamination"  # paid out to a Connect account 72 h after payment
SHORT_OPERATIONS = {
    "GetItem": "Get",
    "Query": "Query",
    "PutItem": "Put",
    "UpdateItem": "Update",
    "DeleteItem": "Delete",
    "TransactWriteItems": "Tx",
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
    projection: str  # ALL or KEYS_ONLY (the template uses no INCLUDE)


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
        return {name: item[name] for name in {*index.keys, *self.keys}}


def table_schema() -> TableSchema:
    (props,) = tables().values()
    return TableSchema(
        keys=tuple(key["AttributeName"] for key in props["KeySchema"]),
        indexes=tuple(
            Index(
                index["IndexName"],
                tuple(key["AttributeName"] for key in index["KeySchema"]),
                index["Projection"]["ProjectionType"],
            )
            for index in props.get("GlobalSecondaryIndexes", [])
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


# --- what one step uses ----------------------------------------------------------------------------------


@dataclass
class Usage:
    invocations: list[tuple[str, float]] = field(default_factory=list)  # (function, seconds)
    dynamodb: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    stripe: Counter[str] = field(default_factory=Counter)
    cal: Counter[str] = field(default_factory=Counter)
    other_aws: Counter[str] = field(default_factory=Counter)

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

    def __init__(self, world: World) -> None:
        self.world = world
        self.schema = table_schema()
        self.api_functions = {name for name, spec in functions().items() if spec.routes}
        self._usage: Usage | None = None
        self._in_handler = False
        lam = world.env.lam
        assert lam is not None
        self._invoke = lam.invoke
        lam.invoke = self._measured_invoke  # type: ignore[method-assign]
        self._api_call = botocore.client.BaseClient._make_api_call
        meter = self

        def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if not meter._in_handler or meter._usage is None:
                return meter._api_call(client, operation, params)
            return meter._aws_call(client, operation, params)

        botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]

    def close(self) -> None:
        botocore.client.BaseClient._make_api_call = self._api_call  # type: ignore[method-assign]

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
            return self._invoke(logical_id, event)
        stripe_seen, cal_seen = len(self.world.stripe.requests), len(self.world.cal.request_log)
        self._in_handler = True
        started = time.perf_counter()
        try:
            return self._invoke(logical_id, event)
        finally:
            usage.invocations.append((logical_id, time.perf_counter() - started))
            self._in_handler = False
            usage.stripe.update(_route(r.method, r.path) for r in self.world.stripe.requests[stripe_seen:])
            usage.cal.update(_route(r.method, r.path) for r in self.world.cal.request_log[cal_seen:])

    # --- AWS calls ---

    def _aws_call(self, client: Any, operation: str, params: dict[str, Any]) -> Any:
        usage = self._usage
        assert usage is not None
        service = client.meta.service_model.service_name
        if service != "dynamodb":
            usage.other_aws[f"{service} {operation}"] += 1
            return self._api_call(client, operation, params)
        usage.dynamodb[operation] += 1
        writes = self._writes(operation, params)
        before = [self._item(table, key) for table, key, _ in writes]
        try:
            answer = self._api_call(client, operation, params)
        except Exception:
            # A condition that failed (or a cancelled transaction) still costs the writes of the items as they are.
            usage.wru += sum(
                _write_units(item_size(item)) * (2 if transactional else 1)
                for item, (_, _, transactional) in zip(before, writes, strict=True)
            )
            raise
        for item, (table, key, transactional) in zip(before, writes, strict=True):
            usage.wru += write_units(self.schema, item, self._item(table, key), transactional=transactional)
        usage.rru += self._reads(operation, params, answer)
        return answer

    def _key(self, item: Item) -> Item:
        return {name: item[name] for name in self.schema.keys}

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, Item, bool]]:
        """(table, key, transactional) of every item the request writes."""
        if operation == "PutItem":
            return [(params["TableName"], self._key(params["Item"]), False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], False)]
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                ((kind, write),) = entry.items()
                key = write["Item"] if kind == "Put" else write["Key"]
                found.append((write["TableName"], self._key(key), True))
            return found
        if operation in ("GetItem", "Query", "Scan"):
            return []
        raise NotImplementedError(f"no capacity rule for DynamoDB {operation}")

    def _item(self, table: str, key: Item) -> Item | None:
        """The item as moto holds it now (the benchmark's moto server runs in this process)."""
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
        return 0.0


# --- the flows -------------------------------------------------------------------------------------------

Steps = list[tuple[str, Usage]]


class Flows:
    """Each flow is a list of measured steps; what only prepares a step (paying, moving the clock) is not."""

    def __init__(self, world: World, meter: Meter) -> None:
        self.world, self.api, self.meter = world, world.api, meter

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
        return next(slot["start"] for day in body["days"] for slot in day["slots"])

    def _hold(self, steps: Steps, service_id: str) -> dict[str, Any]:
        start = self._browse(steps, service_id)
        return self._step(
            steps,
            "POST /payments/create-intent",
            lambda: self._expect(
                self.api.create_intent(service_id=service_id, start=start, idempotency_key=unique_key()), 201
            ),
        )

    def _succeeded_webhook(self, steps: Steps, intent: dict[str, Any], label: str) -> None:
        event = stripe_event(self.world.stripe, "payment_intent.succeeded", intent["payment_intent_id"])
        self._step(steps, label, lambda: self._expect(deliver_stripe(self.api, self.world.stripe, event["id"]), 200))

    def _cal_webhook(self, steps: Steps, trigger: str, uid: str, label: str | None = None) -> None:
        self._step(
            steps,
            label or f"webhook {trigger}",
            lambda: self._expect(deliver_cal(self.api, self.world.cal, trigger, uid), 200),
        )

    def _end(self, steps: Steps, uid: str) -> None:
        """The meeting happens: Cal.com says it ended (the booking is COMPLETED)."""
        self._cal_webhook(steps, "MEETING_ENDED", uid)

    def site(self, service_id: str = SERVICE) -> Steps:
        """The site's flow: create-intent -> pay -> create-token -> verify; then what Stripe and Cal.com send."""
        steps: Steps = []
        intent = self._hold(steps, service_id)
        pay(intent["payment_intent_id"])
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
        pay(intent["payment_intent_id"])
        self._succeeded_webhook(steps, intent, "webhook payment_intent.succeeded (confirms)")
        uid = self._confirmed_uid(intent["booking_id"])
        self._cal_webhook(steps, "BOOKING_CREATED", uid, "webhook BOOKING_CREATED (link)")
        self._end(steps, uid)
        return steps

    def _confirmed_uid(self, booking_id: str) -> str:
        found = booking(booking_id)
        assert found is not None and found.cal_booking_uid, found
        return str(found.cal_booking_uid)

    def _confirmed(self, service_id: str = SERVICE) -> dict[str, Any]:
        start = self.api.first_slot(service_id)
        return self.api.confirmed_booking(service_id=service_id, start=start)

    def stripe_webhooks(self) -> Steps:
        """The Stripe events besides a payment: a declined card, an abandoned payment, a refund and a dispute
        made in Stripe's dashboard."""
        steps: Steps = []
        declined = self.api.create_intent(service_id=SERVICE, start=self.api.first_slot())
        with contextlib.suppress(stripe.CardError):  # the decline is the point: it emits payment_failed
            pay(declined.body["payment_intent_id"], card="pm_card_chargeDeclined")
        event = stripe_event(self.world.stripe, "payment_intent.payment_failed", declined.body["payment_intent_id"])
        self._deliver(steps, "webhook payment_intent.payment_failed", event["id"])
        client = stripe_client()
        client.v1.payment_intents.cancel(declined.body["payment_intent_id"])
        event = stripe_event(self.world.stripe, "payment_intent.canceled", declined.body["payment_intent_id"])
        self._deliver(steps, "webhook payment_intent.canceled (hold released)", event["id"])
        confirmed = self._confirmed()
        charge = client.v1.payment_intents.retrieve(confirmed["payment_intent_id"]).latest_charge
        client.v1.refunds.create(params={"charge": str(charge), "amount": 1000})
        event = stripe_event(self.world.stripe, "charge.refunded", str(charge))
        self._deliver(steps, "webhook charge.refunded", event["id"])
        dispute = self.world.stripe.create_dispute(str(charge))
        event = stripe_event(self.world.stripe, "charge.dispute.created", str(dispute["id"]))
        self._deliver(steps, "webhook charge.dispute.created (flagged)", event["id"])
        return steps

    def _deliver(self, steps: Steps, label: str, event_id: str) -> None:
        self._step(steps, label, lambda: self._expect(deliver_stripe(self.api, self.world.stripe, event_id), 200))

    def cal_webhooks(self) -> Steps:
        """What Cal.com sends besides a creation: cancellations, a reschedule, a decline, a no-show."""
        steps: Steps = []
        cancelled = self._confirmed()["cal_booking_uid"]
        self.world.cal.cancel_booking(cancelled, "cannot make it", by=ATTENDEE["email"])
        self._cal_webhook(steps, "BOOKING_CANCELLED", cancelled, "webhook BOOKING_CANCELLED (refund)")
        moved = self._confirmed()
        new = self.world.cal.reschedule_booking(moved["cal_booking_uid"], self.api.first_slot(), by=ATTENDEE["email"])
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
        self._step(steps, label, lambda: run_job(self.world.api.lam, logical_id))


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


# --- cost ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    lambda_requests: int
    gb_seconds: float
    http_requests: int
    rru: float
    wru: float

    @property
    def dollars(self) -> dict[str, float]:
        return {
            "Lambda": self.lambda_requests * PRICE_LAMBDA_REQUEST + self.gb_seconds * PRICE_LAMBDA_GB_SECOND,
            "HTTP API": self.http_requests * PRICE_HTTP_API_REQUEST,
            "DynamoDB": self.rru * PRICE_RRU + self.wru * PRICE_WRU,
        }

    @property
    def total(self) -> float:
        return sum(self.dollars.values())


def cost(usages: list[Usage], durations: list[list[float]], cold_ms: Mapping[str, float] | None) -> Cost:
    """What the steps cost: billed duration rounded up to the ms at each function's memory; `cold_ms`: every
    invocation is a cold start and bills its function's import and first event instead."""
    specs = functions()
    gb_seconds = 0.0
    for usage, seconds in zip(usages, durations, strict=True):
        for (name, _), warm in zip(usage.invocations, seconds, strict=True):
            billed_ms = math.ceil(cold_ms[name] if cold_ms is not None else warm * 1000)
            gb_seconds += specs[name].memory_mb / 1024 * billed_ms / 1000
    invocations = [name for usage in usages for name, _ in usage.invocations]
    return Cost(
        lambda_requests=len(invocations),
        gb_seconds=gb_seconds,
        http_requests=sum(1 for name in invocations if functions()[name].routes),
        rru=sum(usage.rru for usage in usages),
        wru=sum(usage.wru for usage in usages),
    )


def cold_start_ms() -> dict[str, float] | None:
    """Import + first event per function from the latest cold-start run (with bytecode, as `make build` ships)."""
    found = RESULTS / "cold_start.json"
    if not found.exists():
        return None
    report = json.loads(found.read_text(encoding="utf-8"))["functions"]
    cold = {name: row["import_ms"] + row["first_event_ms"] for name, row in report.items()}
    return cold if set(functions()) <= set(cold) else None


# --- the report ------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    label: str
    usage: Usage  # counts of the last repetition
    durations: list[list[float]]  # per repetition, per invocation
    varies: bool

    def median_durations(self) -> list[float]:
        return [statistics.median(values) for values in zip(*self.durations, strict=True)]


def combine(repetitions: list[Steps]) -> list[StepResult]:
    results = []
    for index, (label, usage) in enumerate(repetitions[-1]):
        same = [steps[index] for steps in repetitions]
        assert all(other_label == label for other_label, _ in same), "a flow changed its steps between runs"
        results.append(
            StepResult(
                label,
                usage,
                [[seconds for _, seconds in other.invocations] for _, other in same],
                varies=any(other.counts() != usage.counts() for _, other in same),
            )
        )
    return results


def _ops(counter: Counter[str]) -> str:
    return ", ".join(f"{SHORT_OPERATIONS.get(op, op)} {n}" for op, n in sorted(counter.items())) or "-"


def print_flow(title: str, results: list[StepResult]) -> None:
    print(f"\n{title}")
    for result in results:
        usage, ms = result.usage, sum(result.median_durations()) * 1000
        mark = "*" if result.varies else " "
        print(
            f"  {result.label[:50]:<50}{mark} {len(usage.invocations):>3} {ms:>6.0f} {_ops(usage.dynamodb):<32} "
            f"{usage.rru:>5.1f} {usage.wru:>5.0f} {sum(usage.stripe.values()):>6} {sum(usage.cal.values()):>4}"
        )
    total = Usage()
    for result in results:
        total.invocations += result.usage.invocations
        total.dynamodb += result.usage.dynamodb
        total.rru += result.usage.rru
        total.wru += result.usage.wru
        total.stripe += result.usage.stripe
        total.cal += result.usage.cal
        total.other_aws += result.usage.other_aws
    ms = sum(sum(result.median_durations()) for result in results) * 1000
    print(
        f"  {'total':<51} {len(total.invocations):>3} {ms:>6.0f} {_ops(total.dynamodb):<32} "
        f"{total.rru:>5.1f} {total.wru:>5.0f} {sum(total.stripe.values()):>6} {sum(total.cal.values()):>4}"
    )
    calls = [f"Stripe {route} x{n}" for route, n in sorted(total.stripe.items())]
    calls += [f"Cal.com {route} x{n}" for route, n in sorted(total.cal.items())]
    calls += [f"AWS {call} x{n}" for call, n in sorted(total.other_aws.items())]
    if calls:
        print("  calls: " + "; ".join(calls))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="measured repetitions of every flow (after one warm-up)")
    parser.add_argument("--bookings", type=int, default=1000, help="how many bookings the cost table is for")
    args = parser.parse_args(argv)

    groups: dict[str, list[Steps]] = {}
    with local_world() as world:
        meter = Meter(world)
        flows = Flows(world, meter)
        plan: dict[str, Callable[[], Steps]] = {
            "booking, the site's flow (deposit)": flows.site,
            "booking, the client pays and closes the tab": flows.close_tab,
            "booking with a provider payout (site's flow)": lambda: flows.site(PROVIDER_SERVICE),
            "Stripe webhooks": flows.stripe_webhooks,
            "Cal.com webhooks": flows.cal_webhooks,
            "scheduled runs": flows.jobs,
        }
        try:
            for repetition in range(args.repeat + 1):
                for title, flow in plan.items():
                    steps = flow()
                    if repetition:  # the first repetition warms every function up
                        groups.setdefault(title, []).append(steps)
                print("." if repetition else "warm ", end="", file=sys.stderr, flush=True)
        finally:
            meter.close()
    print(file=sys.stderr)

    results = {title: combine(repetitions) for title, repetitions in groups.items()}
    cold = cold_start_ms()
    print(
        f"Cost per booking: us-east-1 list prices read 2026-11-22, {args.repeat} repetitions after a warm-up, "
        "durations warm and in-process on this machine"
    )
    columns = f"{'fn':>3} {'ms':>6} {'DynamoDB requests':<32} {'RRU':>5} {'WRU':>5} {'Stripe':>6} {'Cal':>4}"
    print(f"\n  {'step':<51} {columns}")
    for title, flow_results in results.items():
        print_flow(title, flow_results)
    print("\n* counts vary between repetitions: they grow with the data (the cleanup run reconciles every")
    print("  PaymentIntent of the last 3 days; availability reads the week's held seats)")

    n = args.bookings
    print(f"\nAWS cost of {n:,} of each (Lambda arm64 $0.0000133334/GB-s + $0.20/M requests, HTTP API $1.00/M,")
    print("DynamoDB on-demand $0.625/M WRU + $0.125/M RRU); cold = every invocation a cold start")
    print(f"{'flow':<46} {'Lambda':>8} {'HTTP API':>9} {'DynamoDB':>9} {'total':>8} {'all cold':>9}")
    for title, flow_results in results.items():
        usages = [result.usage for result in flow_results]
        durations = [result.median_durations() for result in flow_results]
        warm = cost(usages, durations, None)
        dollars = {name: value * n for name, value in warm.dollars.items()}
        cold_total = f"{cost(usages, durations, cold).total * n:>9.4f}" if cold else f"{'-':>9}"
        print(
            f"{title:<46} {dollars['Lambda']:>8.4f} {dollars['HTTP API']:>9.4f} {dollars['DynamoDB']:>9.4f} "
            f"{warm.total * n:>8.4f} {cold_total}"
        )
    if cold is None:
        print("(run `make bench-coldstart` first for the all-cold column)")
    idle = [r for r in results["scheduled runs"] if "nothing due" in r.label]
    per_month = sum(
        cost([r.usage], [r.median_durations()], None).total * _runs_per_month(r.usage.invocations[0][0]) for r in idle
    )
    print(f"\nscheduled runs with nothing due, per month (cleanup every 5 min, payouts hourly): ${per_month:.4f}")
    return 0


def _runs_per_month(logical_id: str) -> float:
    from local.runner import rate_seconds

    schedule = functions()[logical_id].schedules[0]
    return 30 * 24 * 3600 / rate_seconds(schedule.expression)


if __name__ == "__main__":
    sys.exit(main())
