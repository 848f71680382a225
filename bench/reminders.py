"""Reminders: the 5-minute sweep (ours) or EventBridge Scheduler one-time schedules, measured and priced.

    python -m bench.reminders [--repeat 3]

Both designs run here on the local runner's world (DynamoDB in moto server mode, the doubles, every handler in
this process), counted and priced with bench.cost's meter, capacity rules and list prices:

(a) ours: the stream plans the reminder as a MessageItem (PENDING, send_at in the OutboxIndex); the sweep that
    runs every 5 minutes finds it due, leases it, renders it from the booking, sends it, marks it SENT; a
    reschedule withdraws it and plans the new one, a cancellation withdraws it. Counted per booking: the
    DynamoDB requests on the reminder's records (sort key MSG#reminder:...) in the stream deliveries, and what a
    sweep with one reminder due costs over an idle sweep (requests, units, milliseconds).
(b) one-time schedules: the booking path creates a schedule `at(start - 24 h)` (UpdateSchedule on a reschedule,
    DeleteSchedule on a cancellation; moto's `scheduler` takes the calls and they are timed); the schedule
    invokes a function that writes the same once-only record already leased, renders, sends and marks it SENT
    (the notifier's own due-now path, `sender.apply`, run here as that invocation).

The sweep runs in both: it also retries failed sends and recovers leases of workers that died, so its fixed
cost (8,640 runs a month, each an invocation and one OutboxIndex query) is paid whatever the reminder design;
the reminder's marginal cost is what decides. Emails (SES) are the same in both and left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench.cost import (
    PRICE_LAMBDA_GB_SECOND,
    PRICE_LAMBDA_REQUEST,
    PRICE_RRU,
    PRICE_WRU,
    Meter,
    Usage,
    _clock_ahead,
)
from bench.tables import Table, print_table, save
from bench.world import World, local_world
from local.template import functions
from tests.support import run_job

# us-east-1, read 2026-11-22 (aws.amazon.com/eventbridge/pricing, "Scheduler"): $1.00 per million scheduled
# invocations after the first 14 million of each month, which are free; Scheduler's API calls (CreateSchedule,
# UpdateSchedule, DeleteSchedule) are not billed. The sweep's own schedule (ScheduleV2) counts in the same tier.
PRICE_SCHEDULER_INVOCATION = 1.00 / 1_000_000
SCHEDULER_FREE_INVOCATIONS = 14_000_000

# The month assumed (per booking): every booking made more than 24 h ahead (so each gets its one 24 h reminder,
# the catalog's default), 10 % rescheduled once, 8 % cancelled before the reminder (disjoint).
RESCHEDULED = 0.10
CANCELLED = 0.08
REMINDER_HOURS = 24
SWEEPS_PER_MONTH = 30 * 24 * 12  # every 5 minutes: 8,640
VOLUMES = (1_000, 10_000, 100_000)
SERVICE = "signature-facial"
FUNCTION = "NotificationsFunction"
REMINDER_SK = "MSG#reminder:"


# --- counting ----------------------------------------------------------------------------------------------


def _about_reminder(params: dict[str, Any]) -> bool:
    """A DynamoDB request on a reminder's record: its key names one, or a query asks for a booking's reminders."""
    key = params.get("Key") or params.get("Item") or {}
    if str(key.get("sk", {}).get("S", "")).startswith(REMINDER_SK):
        return True
    values = params.get("ExpressionAttributeValues") or {}
    return "IndexName" not in params and any(str(v.get("S", "")).startswith(REMINDER_SK) for v in values.values())


class ReminderMeter(Meter):
    """bench.cost's meter, with the requests on reminder records set apart (and the time they took)."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.reminder = Usage()
        self.reminder_seconds = 0.0

    @contextmanager
    def measured(self) -> Iterator[tuple[Usage, Usage]]:
        """(everything else, the reminder's) of what runs inside."""
        self.reminder, self.reminder_seconds = Usage(), 0.0
        with self.step() as usage:
            yield usage, self.reminder

    def _aws_call(self, client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb" or not _about_reminder(params):
            return super()._aws_call(client, operation, params)
        usage, self._usage = self._usage, self.reminder
        started = time.perf_counter()
        try:
            return super()._aws_call(client, operation, params)
        finally:
            self._usage = usage
            self.reminder_seconds += time.perf_counter() - started

    @contextmanager
    def invocation(self, name: str) -> Iterator[None]:
        """Count a call made here as a handler's (the schedule-invoked function of design b)."""
        assert self._usage is not None
        self._in_handler = True
        started = time.perf_counter()
        try:
            yield
        finally:
            self._usage.invocations.append((name, time.perf_counter() - started))
            self._in_handler = False


@dataclass
class Sample:
    """One design's per-event figures from one repetition: DynamoDB units and requests, Lambda milliseconds."""

    wru: float = 0.0
    rru: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    ms: float = 0.0


def sample(usage: Usage, ms: float) -> Sample:
    return Sample(usage.wru, usage.rru, dict(usage.dynamodb), ms)


def minus(a: Sample, b: Sample) -> Sample:
    requests = {op: a.requests.get(op, 0) - b.requests.get(op, 0) for op in {*a.requests, *b.requests}}
    return Sample(a.wru - b.wru, a.rru - b.rru, {op: n for op, n in requests.items() if n}, a.ms - b.ms)


def median(samples: list[Sample]) -> Sample:
    last = samples[-1]
    return Sample(
        statistics.median(s.wru for s in samples),
        statistics.median(s.rru for s in samples),
        last.requests,
        statistics.median(s.ms for s in samples),
    )


# --- the flows -----------------------------------------------------------------------------------------------


class Flows:
    def __init__(self, world: World, meter: ReminderMeter) -> None:
        from local.streams import StreamPump

        self.world, self.api, self.meter = world, world.api, meter
        self.lam = world.env.lam
        self.pump = StreamPump(_table())
        self.pump.records()  # what came before is not ours
        self.scheduler = boto3.client("scheduler")
        self.role = "arn:aws:iam::123456789012:role/booking-deposits-reminders"  # the role (b) would need
        self.target = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
        self.samples: dict[str, list[Sample]] = {}

    def add(self, name: str, value: Sample) -> None:
        self.samples.setdefault(name, []).append(value)

    def _slot(self, after: datetime, skip: frozenset[str] = frozenset()) -> str:
        for slot in self.api.free_slots(SERVICE, weeks=6):
            if datetime.fromisoformat(slot["start"].replace("Z", "+00:00")) > after and slot["start"] not in skip:
                return str(slot["start"])
        raise SystemExit("no free slot far enough ahead")

    def _confirmed(self) -> dict[str, Any]:
        from booking.clock import now

        start = self._slot(now() + timedelta(hours=REMINDER_HOURS + 2))
        confirmed = self.api.confirmed_booking(service_id=SERVICE, start=start)
        return confirmed | {"start": start}

    def _deliver(self) -> float:
        """The stream's new records to the notifier, as the event source mapping would: seconds it took."""
        seconds = 0.0
        for event in self.pump.events():
            started = time.perf_counter()
            result = self.lam.invoke(FUNCTION, event)
            seconds += time.perf_counter() - started
            assert not result.get("batchItemFailures"), result
        return seconds

    def _deliver_reminder_part(self) -> Sample:
        with self.meter.measured() as (_, reminder):
            self._deliver()
        return sample(reminder, self.meter.reminder_seconds * 1000)

    def _sweep(self) -> tuple[Sample, dict[str, Any]]:
        with self.meter.measured() as (usage, reminder):
            answer = run_job(self.lam, FUNCTION)
        total = Usage(invocations=usage.invocations, dynamodb=usage.dynamodb + reminder.dynamodb)
        total.wru, total.rru = usage.wru + reminder.wru, usage.rru + reminder.rru
        return sample(total, sum(seconds for _, seconds in usage.invocations) * 1000), answer

    def ours(self) -> None:
        """(a): plan on confirmation, the sweep sends it; another booking rescheduled, then cancelled."""
        from booking.clock import now

        idle, answer = self._sweep()
        assert answer["sent"] == 0, answer
        self.add("sweep, nothing due", idle)
        first = self._confirmed()
        self.add("a: planned on confirmation", self._deliver_reminder_part())
        due = datetime.fromisoformat(first["start"].replace("Z", "+00:00")) - timedelta(hours=REMINDER_HOURS)
        with _clock_ahead(due - now() + timedelta(minutes=1)):
            busy, answer = self._sweep()
        assert answer["sent"] == 1, answer  # the reminder, nothing else
        self.add("sweep, one reminder due", busy)
        self.add("a: sent by the sweep", minus(busy, idle))

        from tests.integration.test_manage_link import manage, token_of

        moved = self._confirmed()
        self._deliver()
        token = token_of(moved["manage_url"])
        later = self._slot(now() + timedelta(hours=REMINDER_HOURS + 2), frozenset({moved["start"]}))
        answer = manage(self.api, token, "reschedule", start=later)
        assert answer.status == 200, answer.body
        self.add("a: withdrawn + planned on a reschedule", self._deliver_reminder_part())
        assert manage(self.api, token, "cancel").status == 200
        self.add("a: withdrawn on a cancellation", self._deliver_reminder_part())

    def schedules(self) -> None:
        """(b): the Scheduler calls of the booking path, and the invocation the schedule makes."""
        from booking.clock import now
        from booking.dal.bookings import get_booking
        from booking.dal.items import MessageItem
        from booking.notify import events, outbox
        from booking.notify.events import Plan
        from booking.notify.sender import apply

        confirmed = self._confirmed()
        self._deliver()
        booking = get_booking(confirmed["booking_id"])
        assert booking is not None
        (planned,) = events.reminders(booking, now())
        # Design (b) has no reminder record until its schedule fires: remove the one (a) planned.
        MessageItem(planned.pk, outbox.sort_key(planned.message_key, planned.channel)).delete()
        name = f"reminder-{booking.booking_id}"
        at = planned.send_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        target = {"Arn": self.target, "RoleArn": self.role, "Input": planned.model_dump_json()}
        calls = {
            "create": lambda: self.scheduler.create_schedule(
                Name=name,
                ScheduleExpression=f"at({at})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target=target,
                ActionAfterCompletion="DELETE",
            ),
            "update": lambda: self.scheduler.update_schedule(
                Name=name,
                ScheduleExpression=f"at({at})",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target=target,
                ActionAfterCompletion="DELETE",
            ),
            "delete": lambda: self.scheduler.delete_schedule(Name=name),
        }
        for label, call in calls.items():
            started = time.perf_counter()
            call()
            self.add(f"b: {label} schedule", Sample(ms=(time.perf_counter() - started) * 1000))
        with (
            _clock_ahead(planned.send_at - now() + timedelta(minutes=1)),
            self.meter.measured() as (usage, reminder),
            self.meter.invocation("reminder schedule"),
        ):
            report = apply(Plan(messages=[planned]), now())
        assert report.sent == 1, report
        total = Usage(dynamodb=usage.dynamodb + reminder.dynamodb)
        total.wru, total.rru = usage.wru + reminder.wru, usage.rru + reminder.rru
        self.add("b: the schedule's invocation", sample(total, usage.invocations[0][1] * 1000))


def _table() -> str:
    import os

    return os.environ["TABLE_NAME"]


# --- cost ----------------------------------------------------------------------------------------------------


def lambda_dollars(invocations: float, ms: float) -> float:
    memory_gb = functions()[FUNCTION].memory_mb / 1024
    return invocations * PRICE_LAMBDA_REQUEST + invocations * memory_gb * ms / 1000 * PRICE_LAMBDA_GB_SECOND


def dynamodb_dollars(count: float, figures: Sample) -> float:
    return count * (figures.wru * PRICE_WRU + figures.rru * PRICE_RRU)


@dataclass(frozen=True)
class Month:
    sweep: float  # the sweep's fixed cost: in both designs
    ours: float  # (a)'s reminder cost on top of it
    schedules: float  # (b)'s reminder cost on top of it
    schedules_no_free_tier: float  # (b)'s, were every scheduled invocation billed


def month(bookings: int, m: dict[str, Sample]) -> Month:
    reminders = bookings * (1 - CANCELLED)
    moved, cancelled = bookings * RESCHEDULED, bookings * CANCELLED
    idle = m["sweep, nothing due"]
    sweep = lambda_dollars(SWEEPS_PER_MONTH, idle.ms) + dynamodb_dollars(SWEEPS_PER_MONTH, idle)
    sent = m["a: sent by the sweep"]
    ours = (
        dynamodb_dollars(bookings, m["a: planned on confirmation"])
        + dynamodb_dollars(moved, m["a: withdrawn + planned on a reschedule"])
        + dynamodb_dollars(cancelled, m["a: withdrawn on a cancellation"])
        + dynamodb_dollars(reminders, sent)
        # the sweep runs anyway: a reminder adds its milliseconds, not an invocation; the stream invocations
        # that plan and withdraw happen for the confirmation, reschedule and cancellation messages anyway
        + _ms_dollars(reminders, sent.ms)
        + _ms_dollars(bookings, m["a: planned on confirmation"].ms)
        + _ms_dollars(moved, m["a: withdrawn + planned on a reschedule"].ms)
        + _ms_dollars(cancelled, m["a: withdrawn on a cancellation"].ms)
    )
    fired = m["b: the schedule's invocation"]
    scheduled_invocations = SWEEPS_PER_MONTH + reminders  # the sweep's schedule shares the free tier
    billed = max(0.0, scheduled_invocations - SCHEDULER_FREE_INVOCATIONS) - max(
        0.0, SWEEPS_PER_MONTH - SCHEDULER_FREE_INVOCATIONS
    )
    schedule_calls = (
        _ms_dollars(bookings, m["b: create schedule"].ms)
        + _ms_dollars(moved, m["b: update schedule"].ms)
        + _ms_dollars(cancelled, m["b: delete schedule"].ms)
    )
    invoked = lambda_dollars(reminders, fired.ms) + dynamodb_dollars(reminders, fired) + schedule_calls
    return Month(
        sweep=sweep,
        ours=ours,
        schedules=invoked + billed * PRICE_SCHEDULER_INVOCATION,
        schedules_no_free_tier=invoked + reminders * PRICE_SCHEDULER_INVOCATION,
    )


def _ms_dollars(count: float, ms: float) -> float:
    """Milliseconds added to an invocation that happens anyway (billed duration, no extra request)."""
    return count * functions()[FUNCTION].memory_mb / 1024 * ms / 1000 * PRICE_LAMBDA_GB_SECOND


# --- the report ----------------------------------------------------------------------------------------------


def _second(pair: tuple[str, float]) -> float:
    return pair[1]


def _requests(figures: Sample) -> str:
    return ", ".join(f"{op} {n:+d}" if n < 0 else f"{op} {n}" for op, n in sorted(figures.requests.items())) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="measured repetitions (after one warm-up)")
    args = parser.parse_args(argv)

    with local_world() as world:
        # The runner's own stream mappings would deliver the records on their thread while a step is measured:
        # this benchmark delivers them itself, inside the step they belong to.
        world.env.streams.clear()
        meter = ReminderMeter(world)
        try:
            flows = Flows(world, meter)
            for repetition in range(args.repeat + 1):
                if repetition == 1:  # the first repetition warms every function up
                    flows.samples.clear()
                flows.ours()
                flows.schedules()
                print("." if repetition else "warm ", end="", file=sys.stderr, flush=True)
        finally:
            meter.close()
    print(file=sys.stderr)
    measured = {name: median(values) for name, values in flows.samples.items()}

    memory = functions()[FUNCTION].memory_mb
    print(f"Reminders: the sweep (a) or one-time schedules (b). {args.repeat} repetitions after a warm-up, medians")
    events = Table(
        "reminders-events",
        "Reminders: what each event costs, measured (medians; durations warm, in-process on this machine)",
        ["per event", "DynamoDB requests", "WRU", "RRU", "ms"],
        note="b's schedule calls are timed against moto on loopback: a lower bound of what they add to the booking "
        "step in AWS.",
    )
    for name, figures in measured.items():
        events.add(name, _requests(figures), f"{figures.wru:.1f}", f"{figures.rru:.1f}", f"{figures.ms:.2f}")
    months = Table(
        "reminders-month",
        "Reminders: dollars a month, the sweep (a) against one-time EventBridge schedules (b)",
        [
            "bookings a month",
            "sweep (both)",
            "a: reminders",
            "a: total",
            "b: reminders",
            "b: total",
            "b, no free tier",
            "cheaper",
        ],
        note=f"Assumed per month: each booking made > {REMINDER_HOURS} h ahead (one {REMINDER_HOURS} h reminder), "
        f"{RESCHEDULED:.0%} rescheduled once, {CANCELLED:.0%} cancelled before the reminder; sweep every 5 min = "
        f"{SWEEPS_PER_MONTH:,} runs. Prices (bench/cost.py): Lambda arm64 at {memory} MB, DynamoDB on-demand; "
        "EventBridge Scheduler $1.00 per million scheduled invocations after 14 million free a month, API calls "
        "not billed (aws.amazon.com/eventbridge/pricing, read 2026-11-22); SES the same in both (left out).",
    )
    by_volume: dict[str, Any] = {}
    for bookings in VOLUMES:
        cost = month(bookings, measured)
        months.add(
            f"{bookings:,}",
            f"{cost.sweep:.4f}",
            f"{cost.ours:.5f}",
            f"{cost.sweep + cost.ours:.4f}",
            f"{cost.schedules:.5f}",
            f"{cost.sweep + cost.schedules:.4f}",
            f"{cost.sweep + cost.schedules_no_free_tier:.4f}",
            "a" if cost.ours < cost.schedules else "b",
        )
        by_volume[str(bookings)] = asdict(cost)
    for table in (events, months):
        print_table(table)
    cost = month(1_000, measured)
    cheaper, dearer = sorted([("the sweep (a)", cost.ours), ("one-time schedules (b)", cost.schedules)], key=_second)
    print(
        f"\nAt 1,000 bookings a month the reminders add ${cost.ours:.5f} with the sweep (a) and ${cost.schedules:.5f} "
        f"with one-time schedules (b): {cheaper[0]} costs ${dearer[1] - cheaper[1]:.5f} a month less. The sweep "
        f"itself, ${cost.sweep:.4f}, runs in both (retries, leases of workers that died)."
    )
    save(
        "reminders",
        [events, months],
        {"events": {name: asdict(figures) for name, figures in measured.items()}, "month": by_volume},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
