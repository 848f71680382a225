"""The chaos world: one scenario is a seeded, bounded interleaving of what happens around a few bookings.

A scenario (seed `s`, its own `random.Random(s)` and its own point in time) starts from `reset_world` and runs
16-28 actions chosen at random among those that apply:

- client steps: create-intent (retried with the same Idempotency-Key), pay with the real `stripe` client (a first
  decline sometimes), create-token and verify (twice sometimes); a closed tab never calls create-token/verify;
- webhooks: every Stripe event and every Cal.com webhook is collected from the doubles and given a fate: delivered
  at once, duplicated, held for a few actions (so it arrives after later ones), late (after the next clock jump) or
  lost (a lost Cal.com webhook is never delivered, `drop_next_webhooks`; Stripe redelivers, so a "lost" Stripe event
  comes at the end); a non-2xx answer to Stripe is retried later, as Stripe does; two events at once (a
  reschedule and a cancellation, both copies of one event), or a job while a webhook, a Dashboard refund or a
  dispute lands;
- Cal.com: the client or the host cancels (one seat, or a whole seated booking) or reschedules (mostly across the
  free window, so a cancellation priced on the wrong start shows), a cancellation follows a reschedule closely,
  someone else takes a held slot, the clock jumps to just before or after a booking's free window;
- Stripe without our code: refunds in the Dashboard, a refund of ours failing at the bank, disputes opened and
  closed won or lost;
- jobs (cleanup, payouts) and clock jumps of minutes, hours and 3+ days;
- provider faults: Stripe `fail_next` (also after processing: the object exists, the answer is lost), latency,
  refusals; Cal.com down, connection resets, `fail_next`;
- the owner (issue 10) through the admin API with a signed owner token: refunds (all, part, or more than Stripe can
  still refund), cancellations with a refund by policy, in full or none, balance collection on the saved card or
  offline, no-shows, closing a flag; some retried with the same Idempotency-Key, some two at once on threads (the
  same balance collected twice, a refund and a cancellation racing); a deposit paid with a card that asks for
  authentication every time (so the balance needs the client), and the client opening the pay link and paying now,
  later or never.

Then the drain: every fault healed, every Stripe event still undelivered delivered, and at most 10 rounds of clock
jumps (5 min, 40 min, 2 h; doubling from 4 h while events wait in the inbox; then beyond every 72 h payout window), each
running both jobs and delivering the webhooks they caused, so that everything the product owes is settled.
`tests/chaos/invariants.py` then checks the doubles' objects.

Everything is bounded (actions, deliveries per event, drain rounds) and reproducible: the product's clock is pinned
to the scenario's virtual time before each action (it only moves by the real time an action takes, and never back).
"""

from __future__ import annotations

import inspect
import json
import os
import random
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stripe
from werkzeug.datastructures import MultiDict

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.conftest import reset_world
from tests.support import ApiClient, ApiResponse, deliver_stripe, owner_headers, pay, run_job


def product_now() -> datetime:
    from booking.clock import now

    return now()


CLOCK_ENV = "LOCAL_CLOCK_OFFSET_SECONDS"
CLEANUP, PAYOUTS = "ExpireHoldsFunction", "PayoutsCronFunction"
CAL_WEBHOOK_URL = "http://127.0.0.1:9/chaos-never-called"  # webhooks are kept (manual mode) and posted by us
BASE_TIME = datetime(2030, 4, 1, 13, 0, tzinfo=UTC)  # a Monday, 06:00 in Los Angeles; no DST change in 5 weeks
ACTION_STEP = timedelta(seconds=3)  # virtual time per action (more if the action took longer for real)
DRAIN_JUMPS = [timedelta(minutes=5), timedelta(minutes=40), timedelta(hours=2)]
# Then, while events wait in the inbox (or bookings are still HELD/PAID), jumps doubling from 4 h (the job must get a
# run inside every backoff interval, as the every-5-minutes schedule would give it), then beyond every 72 h payout
# window and at least 50 h after the last event (the inbox deadline is 48 h), then one more round.
MORE_DRAIN_JUMPS = [timedelta(hours=4 * 2**n) for n in range(5)]
AVAILABILITY_CHECK_ROUND = 1  # after ~45 min of drain: events settled, most slots still ahead
PAYOUT_HOLD = timedelta(hours=72)
MAX_STRIPE_ATTEMPTS = 4  # deliveries of one event during the actions; the drain retries the rest
LIVE_CAL = ("accepted", "pending")
OWNER_ANSWERS = (200, 409, 422, 503)  # what an owner action may answer (502: only while a provider fault is on)
PAY_TOKEN = re.compile(r"/book/pay\?token=([A-Za-z0-9_-]+)")
PI_OPEN = ("requires_payment_method", "requires_confirmation", "requires_action")
SHIPPED_CATALOG = Path(__file__).resolve().parents[2] / "shared" / "booking" / "domain" / "catalog.json"


def chaos_catalog() -> dict[str, Any]:
    """The catalog the scenarios play: the shipped one (which has no scheduled money) with the schedule's money
    moments on, so they are played too: the facial collects its balance 24 h before the start (its free window's
    edge too); the brows (the most booked, paid out to a provider) at the meeting's end, and charge the part of a
    75 % late fee their 50 % deposit does not cover. Nothing else changes, so every other check reads the same."""
    catalog = json.loads(SHIPPED_CATALOG.read_text(encoding="utf-8"))
    by_id = {service["id"]: service for service in catalog["services"]}
    by_id["signature-facial"]["balance_collection"] = {"hours_before_start": 24}
    brow = by_id["brow-lamination"]
    brow["balance_collection"] = "at_meeting_end"
    brow["cancellation"] = brow["cancellation"] | {"late_fee_percent": 75, "charge_uncovered_fee": True}
    return catalog


# ------------------------------------------------------------------------------------------------------ the clock


class VirtualClock:
    """Pins the product's clock (and the doubles', which share it) to the scenario's virtual time."""

    def __init__(self, setenv: Callable[[str, str], None], start: datetime) -> None:
        self._setenv = setenv
        self.start = start
        self.now = start
        self._pinned_at = 0.0
        self._pin()

    def _pin(self) -> None:
        self._setenv(CLOCK_ENV, str((self.now - datetime.now(UTC)).total_seconds()))
        self._pinned_at = time.monotonic()

    def tick(self) -> None:
        """Before an action: a fixed step, or the real time the last action took if that was longer."""
        elapsed = timedelta(seconds=time.monotonic() - self._pinned_at + 0.2)
        self.now += max(ACTION_STEP, elapsed)
        self._pin()

    def advance(self, delta: timedelta) -> None:
        self.tick()
        self.now += delta
        self._pin()

    def hours(self) -> float:
        return (self.now - self.start).total_seconds() / 3600


# ------------------------------------------------------------------------------------------------------ the world


@dataclass
class Env:
    lam: LocalLambda
    api: ApiClient
    stripe: StripeDouble
    cal: CalDouble
    setenv: Callable[[str, str], None]


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    event_type: int
    price: int
    deposit_percent: int
    min_notice: timedelta
    duration: timedelta
    capacity: int
    free_until_hours: int
    late_fee_percent: int
    provider_share_percent: int | None  # None: no provider account (nobody is paid out)
    charge_uncovered_fee: bool = False  # a late cancellation charges the part of the fee the payment did not cover
    collect_hours: int | None = None  # the balance is charged this many hours before the start
    collect_at_end: bool = False  # the balance is charged at the meeting's end

    @property
    def scheduled_balance(self) -> bool:
        return self.collect_hours is not None or self.collect_at_end

    def collection_due(self, start: datetime) -> datetime | None:
        """When the schedule may charge the balance of a booking starting at `start`."""
        if self.collect_hours is not None:
            return start - timedelta(hours=self.collect_hours)
        return start + self.duration if self.collect_at_end else None


def services() -> dict[str, ServiceInfo]:
    from booking.domain.catalog import get_catalog  # the configuration under test (data only)

    return {
        s.id: ServiceInfo(
            id=s.id,
            event_type=s.cal_event_type_id,
            price=s.price.amount,
            deposit_percent=s.deposit_percent,
            min_notice=timedelta(minutes=s.minimum_notice_minutes),
            duration=timedelta(minutes=s.duration_minutes),
            capacity=s.capacity,
            free_until_hours=s.cancellation.free_until_hours,
            late_fee_percent=s.cancellation.late_fee_percent,
            provider_share_percent=s.provider_share_percent if s.provider_account else None,
            charge_uncovered_fee=s.cancellation.charge_uncovered_fee,
            collect_hours=getattr(s.balance_collection, "hours_before_start", None),
            collect_at_end=s.balance_collection == "at_meeting_end",
        )
        for s in get_catalog().services
    }


@dataclass
class CalCancel:
    """A cancellation the scenario made in Cal.com: which booking, when, by whom, and the start it had."""

    uid: str
    at: datetime
    by_host: bool
    start: datetime
    seated: bool = False  # a whole seated booking: Cal.com's read of it never says who cancelled
    webhook_lost: bool = False


@dataclass
class OwnerCall:
    """One owner action as sent and answered (a repeat of an earlier one reuses its key and body)."""

    track: str
    action: str
    body: dict[str, Any] | None
    key: str
    at: datetime
    status: int = 0
    answer: Any = None
    repeat_of: OwnerCall | None = None
    concurrent: bool = False
    cal_start: datetime | None = None  # cancel: the start of the live Cal.com booking when the owner sent it

    @property
    def code(self) -> str | None:
        error = self.answer.get("error") if isinstance(self.answer, dict) else None
        return error.get("code") if isinstance(error, dict) else None

    def line(self) -> str:
        again = " (same key)" if self.repeat_of else ""
        together = " [two at once]" if self.concurrent else ""
        return f"owner {self.action} {json.dumps(self.body)}{again}{together} -> {self.status} {_short(self.answer)}"


@dataclass
class Track:
    """One client's booking attempt, as the harness knows it (the product's ids once create-intent answered)."""

    name: str
    service: ServiceInfo
    payment_type: str
    start: datetime
    key: str
    attendee: dict[str, str]
    closed_tab: bool
    verify_twice: bool
    decline_first: bool
    booking_id: str | None = None
    pi: str | None = None
    state: str = "new"  # new -> held -> (refused | gave_up | dead)
    intent_attempts: int = 0
    pay_attempts: int = 0
    paid: bool = False
    token: str | None = None
    token_attempts: int = 0
    verifies: int = 0
    cancel: CalCancel | None = None
    seat: tuple[str, str] | None = None  # (Cal.com uid, seatUid) of a seated booking
    moved_at: int | None = None  # the action that last rescheduled it in Cal.com
    dispute_id: str | None = None
    dispute_closed: str | None = None
    auth_card: bool = False  # the deposit's card asks for authentication every time (an off-session charge fails)
    owner_calls: list[OwnerCall] = field(default_factory=list)
    pay_tokens: list[str] = field(default_factory=list)  # pay links the owner's answers carried
    pay_later: list[str] = field(default_factory=list)  # PaymentIntents the client saw on a pay page, not yet paid

    @property
    def intent(self) -> dict[str, str]:
        return {"booking_id": self.booking_id or "", "payment_intent_id": self.pi or ""}


@dataclass(eq=False)  # compared and hashed by identity: two copies of one event are two deliveries
class Delivery:
    """One webhook on its way: a Stripe event (by id) or a Cal.com webhook (its signed bytes)."""

    source: str  # "stripe" | "cal"
    label: str
    due: int  # the action index from which it may be delivered
    event_id: str = ""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    late: bool = False  # waits for the next clock jump
    lost: bool = False  # Stripe: only in the drain; Cal.com: never
    copies: int = 1  # 2 = duplicated
    attempts: int = 0


@dataclass
class Outcome:
    seed: int
    figures: Counter[str]
    trace: list[str]
    availability: list[tuple[str, str, str]]  # (check, booking, text) found mid-drain
    crashes: list[tuple[str, str]]  # (booking or "-", text) after faults were healed
    harness_error: str | None = None


def _supports(obj: object, name: str, parameter: str | None = None) -> bool:
    method = getattr(obj, name, None)
    if method is None:
        return False
    return parameter is None or parameter in inspect.signature(method).parameters


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _short(body: Any, limit: int = 90) -> str:
    if isinstance(body, dict) and "error" in body and isinstance(body["error"], dict):
        text = f"{body['error'].get('code')}: {body['error'].get('message')}"
    elif isinstance(body, dict):
        text = json.dumps({k: v for k, v in body.items() if not isinstance(v, dict | list)}, default=str)
    else:
        text = str(body)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Scenario:
    """One seeded scenario: `run()` plays the actions and the drain and returns what happened."""

    def __init__(self, seed: int, env: Env) -> None:
        self.seed = seed
        self.env = env
        self.rng = random.Random(seed)
        self.services = services()
        self.figures: Counter[str] = Counter()
        self.trace: list[str] = []
        self.tracks: list[Track] = []
        self.queue: list[Delivery] = []
        self.seen_events: set[str] = set()
        self.step = 0
        self.jumps = 0
        self.healed = False
        self.cal_heal_at: int | None = None
        self.drop_cal: list[tuple[str, str]] = []  # (trigger, uid) to drop when collected (no drop_next_webhooks)
        self.crashes: list[tuple[str, str]] = []
        self.availability: list[tuple[str, str, str]] = []
        self.harness_error: str | None = None
        self.owner_serial = 0
        self.pay_pages: list[tuple[str, int, str]] = []  # (booking, status, answer) of each pay page opened
        anchor = BASE_TIME + timedelta(days=self.rng.randrange(35), minutes=self.rng.randrange(24 * 60))
        self.clock = VirtualClock(env.setenv, anchor)
        self.planned = self.rng.choice([1, 2, 2, 2, 3, 3])
        self.actions = self.rng.randint(16, 28)

    # ------------------------------------------------------------------------------------------------ running

    def run(self) -> Outcome:
        began = time.monotonic()
        reset_world(self.env.stripe, self.env.cal)
        self.figures["ms.reset_world"] += int((time.monotonic() - began) * 1000)
        self.log(f"seed {self.seed}: start {_iso(self.clock.now)}, {self.planned} bookings, {self.actions} actions")
        self.new_booking()
        while self.step < self.actions:
            self.step += 1
            self.clock.tick()
            if self.cal_heal_at is not None and self.step >= self.cal_heal_at:
                self.env.cal.set_mode("normal")
                self.cal_heal_at = None
                self.log("Cal.com answers again")
            name, action = self.choose()
            self.figures["actions"] += 1
            self.figures[f"action.{name}"] += 1
            began = time.monotonic()
            try:
                action()
            except Exception as exc:  # a harness bug: the scenario stops, is reported apart, never as a finding
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.harness_error = f"{name}: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
                self.log(f"HARNESS ERROR in {self.harness_error}")
                return Outcome(self.seed, self.figures, self.trace, [], [], harness_error=self.harness_error)
            self.collect()
            if self.rng.random() < 0.4:
                self.deliver_ready(limit=None)
            self.figures[f"ms.{name}"] += int((time.monotonic() - began) * 1000)
        began = time.monotonic()
        self.drain()
        self.figures["ms.drain"] += int((time.monotonic() - began) * 1000)
        return Outcome(self.seed, self.figures, self.trace, self.availability, self.crashes)

    def log(self, text: str) -> None:
        self.trace.append(f"{self.step:02d} {self.clock.hours():+7.2f}h {text}")

    def choose(self) -> tuple[str, Callable[[], None]]:
        options: list[tuple[float, str, Callable[[], None]]] = []

        def add(weight: float, name: str, action: Callable[[], None]) -> None:
            if weight > 0:
                options.append((weight, name, action))

        tracks = self.tracks
        if len(tracks) < self.planned:
            add(3 if self.step < 8 else 1, "new_booking", self.new_booking)
        for t in tracks:
            if t.state == "new":
                add(4, "create_intent", lambda t=t: self.create_intent(t))
            if t.state == "held":
                add(0.5, "create_intent_retry", lambda t=t: self.create_intent(t))
                if not t.paid and t.pay_attempts < 4:
                    add(4, "pay", lambda t=t: self.pay(t))
                if t.paid and not t.closed_tab and t.token is None and t.token_attempts < 3:
                    add(4, "create_token", lambda t=t: self.create_token(t))
                if t.token and t.verifies < (2 if t.verify_twice else 1):
                    add(4 if t.verifies == 0 else 1, "verify", lambda t=t: self.verify(t))
            live = self.live_cal(t)
            if self.live_cal(t, upcoming=True) is not None and t.cancel is None:
                # Right after a reschedule, a cancellation is likely (the reschedule-then-cancel races).
                just_moved = t.moved_at is not None and self.step - t.moved_at <= 3
                add(6 if just_moved else 1.5, "cal_cancel", lambda t=t: self.cal_cancel(t))
                add(1.2, "cal_reschedule", lambda t=t: self.cal_reschedule(t))
                add(1.0, "jump_to_free_window_edge", lambda t=t: self.jump_to_window_edge(t))
            if t.paid and t.payment_type == "deposit" and t.service.scheduled_balance and live is not None:
                add(1.0, "jump_to_balance_collection", lambda t=t: self.jump_to_collection(t))
            if t.paid:
                add(0.6, "dashboard_refund", lambda t=t: self.dashboard_refund(t))
                if t.dispute_id is None:
                    add(0.4, "dispute_open", lambda t=t: self.dispute_open(t))
                elif t.dispute_closed is None:
                    add(1.2, "dispute_close", lambda t=t: self.dispute_close(t))
            if t.state == "held" and not t.paid and live is None:
                add(0.2, "someone_else_takes_slot", lambda t=t: self.someone_else_takes_slot(t))
            self.owner_options(t, add)
        if self.ready():
            add(4, "deliver", lambda: self.deliver_ready(limit=self.rng.randint(1, 4)))
        if len(self.ready()) >= 2:
            triggers = {d.label.split()[1] for d in self.ready() if d.source == "cal"}
            related = {"BOOKING_RESCHEDULED", "BOOKING_CANCELLED"} <= triggers
            add(3 if related else 1, "deliver_two_at_once", self.deliver_two_at_once)
        if self.our_refunds(("succeeded", "pending")):
            add(1.0, "fail_refund", self.fail_refund)
        add(1.5, "jump", self.jump)
        add(1.5, "run_cleanup", lambda: self.run_job(CLEANUP))
        add(1.0, "job_during_change", self.job_during_change)
        add(1.0, "run_payouts", lambda: self.run_job(PAYOUTS))
        add(0.8, "stripe_fault", self.stripe_fault)
        add(0.3, "stripe_latency", self.stripe_latency)
        add(0.2, "stripe_refusal", self.stripe_refusal)
        add(0.7, "cal_fault", self.cal_fault)
        total = sum(weight for weight, _, _ in options)
        pick = self.rng.uniform(0, total)
        for weight, name, action in options:
            pick -= weight
            if pick <= 0:
                return name, action
        return options[-1][1], options[-1][2]

    # --------------------------------------------------------------------------------------------- client steps

    def new_booking(self) -> None:
        n = len(self.tracks) + 1
        weights = {"brow-lamination": 6, "signature-facial": 2, "skin-consultation": 2}
        service = self.services[self.rng.choices(list(weights), list(weights.values()))[0]]
        start = self.pick_start(service)
        if start is None:
            self.log(f"b{n}: no free {service.id} slot in Cal.com; no booking")
            self.planned -= 1
            return
        track = Track(
            name=f"b{n}",
            service=service,
            payment_type="full" if self.rng.random() < 0.3 else "deposit",
            start=start,
            key=f"chaos-{self.seed}-{n}",
            attendee={"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "America/New_York"},
            closed_tab=self.rng.random() < 0.25,
            verify_twice=self.rng.random() < 0.2,
            decline_first=self.rng.random() < 0.1,
            auth_card=self.rng.random() < 0.3,
        )
        self.tracks.append(track)
        self.figures["bookings"] += 1
        hours = (start - self.clock.now).total_seconds() / 3600
        self.log(
            f"{track.name}: {service.id} {track.payment_type} at {_iso(start)} ({hours:.1f} h ahead)"
            + (", closed tab" if track.closed_tab else "")
        )
        self.create_intent(track)

    def pick_start(self, service: ServiceInfo) -> datetime | None:
        earliest = self.clock.now + service.min_notice + timedelta(minutes=20)
        free = self.cal_free_slots(service.event_type, earliest, self.clock.now + timedelta(days=4))
        ours = [t.start for t in self.tracks if t.service.id == service.id and t.state in ("new", "held")]
        if ours and self.rng.random() < (0.5 if service.capacity > 1 else 0.15):
            return self.rng.choice(ours)  # the same slot as another client (capacity, or a race for it)
        if not free:
            return None
        if self.rng.random() < 0.5:
            return self.rng.choice(free[:8])  # soon: inside or near the free-cancellation window
        return self.rng.choice(free)

    def cal_free_slots(self, event_type: int, start: datetime, end: datetime) -> list[datetime]:
        """What Cal.com would offer (read from the double's calendar, so no fault or rate limit applies)."""
        args = MultiDict({"start": _iso(start), "end": _iso(end), "eventTypeId": str(event_type)})
        days = self.env.cal.calendar.available_slots(args)
        slots = [datetime.fromisoformat(s["start"].replace("Z", "+00:00")) for day in days.values() for s in day]
        return sorted(s for s in slots if start <= s <= end)

    def cal_offers(self, service: ServiceInfo, start: datetime) -> bool:
        """Whether Cal.com offers this slot now (a slot is offered only if it fits whole in the asked range)."""
        window_end = start + service.duration + timedelta(minutes=1)
        return start in self.cal_free_slots(service.event_type, start - timedelta(minutes=1), window_end)

    def create_intent(self, t: Track) -> None:
        t.intent_attempts += 1
        r = self.env.api.create_intent(
            service_id=t.service.id,
            start=_iso(t.start),
            payment_type=t.payment_type,
            attendee=t.attendee,
            idempotency_key=t.key,
        )
        again = " (same Idempotency-Key)" if t.booking_id else ""
        if r.status in (200, 201) and isinstance(r.body, dict) and r.body.get("booking_id"):
            if t.booking_id and r.body["booking_id"] != t.booking_id:
                self.figures["idempotency.different_booking"] += 1
                self.log(f"{t.name}: create-intent{again} answered ANOTHER booking {r.body['booking_id']}")
                return
            t.booking_id, t.pi, t.state = r.body["booking_id"], r.body["payment_intent_id"], "held"
            self.log(f"{t.name}: create-intent{again} -> {r.status} {t.booking_id} {t.pi}")
            return
        self.log(f"{t.name}: create-intent{again} -> {r.status} {_short(r.body)}")
        if t.booking_id:
            return
        if 400 <= r.status < 500 and r.status != 429:
            t.state = "refused"
        elif t.intent_attempts >= 3:
            t.state = "gave_up"

    def pay(self, t: Track) -> None:
        assert t.pi is not None
        card = "pm_card_authenticationRequired" if t.auth_card else "pm_card_visa"
        card = "pm_card_chargeDeclined" if t.decline_first and t.pay_attempts == 0 else card
        t.pay_attempts += 1
        try:
            pay(t.pi, card)
            result = "ok"
        except stripe.StripeError as exc:
            result = f"{type(exc).__name__} {getattr(exc, 'code', '') or ''}".strip()
        status = (self.env.stripe.get_object(t.pi) or {}).get("status")
        if status == "requires_action" and card == "pm_card_authenticationRequired":
            # The client passes 3-D Secure on-session: the card is saved, but every off-session charge needs them.
            self.env.stripe.succeed_payment_intent(t.pi)
            status = (self.env.stripe.get_object(t.pi) or {}).get("status")
            result += ", authenticated"
            self.figures["deposits_with_authentication"] += 1
        t.paid = status == "succeeded"
        if status == "canceled":
            t.state = "dead"
        self.log(f"{t.name}: pay with {card} -> {result}; PaymentIntent {status}")

    def create_token(self, t: Track) -> None:
        t.token_attempts += 1
        r = self.env.api.create_token(t.intent)
        if r.status == 201 and isinstance(r.body, dict):
            t.token = r.body.get("token")
        self.log(f"{t.name}: create-token -> {r.status}" + ("" if r.status == 201 else f" {_short(r.body)}"))

    def verify(self, t: Track) -> None:
        assert t.token is not None
        t.verifies += 1
        r = self.env.api.verify(t.token)
        self.log(f"{t.name}: verify #{t.verifies} -> {r.status} {_short(r.body)}")

    # --------------------------------------------------------------------------------------------- Cal.com side

    def seated(self, service: ServiceInfo) -> bool:
        event_type = self.env.cal.event_types.get(service.event_type)
        return getattr(event_type, "seats_per_time_slot", None) is not None

    def cal_chain(self, t: Track) -> list[dict[str, Any]]:
        """The Cal.com bookings of this booking, oldest first: the original and every rescheduled one (their
        `metadata` is ours), or for a seated event type the booking our seat is (or was) in."""
        if not t.booking_id:
            return []
        chain = []
        for booking in self.env.cal.bookings():
            if (booking.get("metadata") or {}).get("booking_id") == t.booking_id:
                chain.append(booking)
                continue
            for attendee in booking.get("attendees") or []:
                if (attendee.get("metadata") or {}).get("booking_id") == t.booking_id and attendee.get("seatUid"):
                    t.seat = (booking["uid"], attendee["seatUid"])
            if t.seat and t.seat[0] == booking["uid"]:
                chain.append(booking)
        return sorted(chain, key=lambda b: b["id"])

    def holds_seat(self, t: Track, booking: dict[str, Any]) -> bool:
        """Whether this Cal.com booking is live for this client (for a seated one: with its seat still in it)."""
        if booking["status"] not in LIVE_CAL:
            return False
        if not self.seated(t.service):
            return True
        return t.seat is not None and any(a.get("seatUid") == t.seat[1] for a in booking.get("attendees") or [])

    def live_cal(self, t: Track, *, upcoming: bool = False) -> dict[str, Any] | None:
        """The Cal.com booking this booking holds now; `upcoming`: only if it has not started (a client cancels or
        reschedules an appointment before it, not after)."""
        live = [b for b in self.cal_chain(t) if self.holds_seat(t, b)]
        if not live:
            return None
        if upcoming and _instant(live[-1]["start"]) <= self.clock.now + timedelta(minutes=5):
            return None
        return live[-1]

    def lose_next_cal(self, trigger: str, uid: str) -> bool:
        """Decide before a Cal.com change whether its webhook is lost (Cal.com posts once and never again)."""
        if self.rng.random() >= 0.12:
            return False
        if _supports(self.env.cal, "drop_next_webhooks"):
            self.env.cal.drop_next_webhooks(1, trigger)
        else:
            self.figures["unsupported.cal.drop_next_webhooks"] += 1
            self.drop_cal.append((trigger, uid))
        self.figures["dropped.cal"] += 1
        return True

    def cal_cancel(self, t: Track) -> None:
        booking = self.live_cal(t, upcoming=True)
        assert booking is not None
        by_host = self.rng.random() < 0.2
        by = self.env.cal.host.email if by_host else t.attendee["email"]
        lost = self.lose_next_cal("BOOKING_CANCELLED", booking["uid"])
        start = _instant(booking["start"])
        at = product_now()
        seated = self.seated(t.service)
        if seated and not by_host:
            assert t.seat is not None
            self.env.cal.cancel_seat(booking["uid"], t.seat[1], "chaos: plans changed", by)
            cancelled = [t]
        else:  # the host cancelling a seated booking cancels every seat in it
            cancelled = [
                o for o in self.tracks if o.cancel is None and (self.live_cal(o) or {}).get("uid") == booking["uid"]
            ]
            self.env.cal.cancel_booking(booking["uid"], "chaos: plans changed", by)
        for track in cancelled:
            track.cancel = CalCancel(booking["uid"], at, by_host, start, seated=seated, webhook_lost=lost)
        ahead = (start - at).total_seconds() / 3600
        what = f"seat {t.seat[1] if t.seat else ''} of " if seated and not by_host else ""
        self.log(
            f"{'/'.join(o.name for o in cancelled)}: {what}{booking['uid']} cancelled in Cal.com by the "
            f"{'host' if by_host else 'client'} {ahead:.1f} h before {_iso(start)}"
            + (" [webhook lost]" if lost else "")
        )

    def cal_reschedule(self, t: Track) -> None:
        booking = self.live_cal(t, upcoming=True)
        assert booking is not None
        service = t.service
        if self.seated(service):
            self.log(f"{t.name}: a seated booking cannot be rescheduled in Cal.com; cancelled instead")
            self.cal_cancel(t)
            return
        now = self.clock.now
        free = [
            s
            for s in self.cal_free_slots(service.event_type, now + timedelta(hours=1), now + timedelta(days=5))
            if s != _instant(booking["start"])
        ]
        window = timedelta(hours=service.free_until_hours)
        near = [s for s in free if s - now < window - timedelta(minutes=30)]
        far = [s for s in free if s - now > window + timedelta(hours=2)]
        # Mostly to the other side of the free window than the old start: then a cancellation is priced differently
        # on the old and the new start, which is what a wrong order of events would show.
        old_inside = _instant(booking["start"]) - now < window
        want_near = (not old_inside) if self.rng.random() < 0.75 else old_inside
        pool = (near if want_near else far) or free
        if not pool:
            self.log(f"{t.name}: no free slot to reschedule to")
            return
        new_start = self.rng.choice(pool[:10])
        by_host = self.rng.random() < 0.2
        by = self.env.cal.host.email if by_host else t.attendee["email"]
        try:
            moved = self.env.cal.reschedule_booking(booking["uid"], new_start, by=by)
        except Exception as exc:  # the double refuses a slot it considers taken: say so, it is not a finding
            self.log(f"{t.name}: reschedule refused by Cal.com: {exc}")
            return
        # Lost on the way: decided after the fact (a drop queued in the double would stay if the move were refused).
        lost = self.rng.random() < 0.12
        if lost:
            self.drop_cal.append(("BOOKING_RESCHEDULED", moved["uid"]))
            self.figures["dropped.cal"] += 1
        t.moved_at = self.step
        hours = (new_start - now).total_seconds() / 3600
        self.log(
            f"{t.name}: rescheduled in Cal.com by the {'host' if by_host else 'client'} to {_iso(new_start)} "
            f"({hours:.1f} h ahead) "
            f"{booking['uid']} -> {moved['uid']}" + (" [webhook lost]" if lost else "")
        )

    def someone_else_takes_slot(self, t: Track) -> None:
        if not self.cal_offers(t.service, t.start):
            self.log(f"{t.name}: its slot is not free in Cal.com; nobody else takes it")
            return
        self.env.cal.take_slot(t.service.event_type, t.start, attendee_email="walk.in@example.com")
        self.log(f"{t.name}: someone else booked {_iso(t.start)} directly in Cal.com")

    def jump_to_window_edge(self, t: Track) -> None:
        booking = self.live_cal(t, upcoming=True)
        assert booking is not None
        start = _instant(booking["start"])
        edge = start - timedelta(hours=t.service.free_until_hours)
        side = self.rng.choice([-1, 1])
        target = edge + side * timedelta(minutes=self.rng.randint(5, 90))
        if target <= self.clock.now + timedelta(minutes=1):
            self.log(f"{t.name}: the free window's edge ({_iso(edge)}) is behind us; no jump")
            return
        self.advance(target - self.clock.now, f"to {'before' if side < 0 else 'after'} {t.name}'s free window edge")

    def jump_to_collection(self, t: Track) -> None:
        """Just before or just after the balance's collection time (on Cal.com's start), then the cleanup job: the
        schedule must not charge a minute early, and charges at its first run after."""
        booking = self.live_cal(t)
        assert booking is not None
        due = t.service.collection_due(_instant(booking["start"]))
        assert due is not None
        side = self.rng.choice([-1, 1])
        target = due + side * timedelta(minutes=self.rng.randint(1, 30))
        if target <= self.clock.now + timedelta(minutes=1):
            self.log(f"{t.name}: its balance's collection time ({_iso(due)}) is behind us; no jump")
            return
        self.figures[f"balance_collection_jumps.{'before' if side < 0 else 'after'}"] += 1
        self.advance(target - self.clock.now, f"to {'before' if side < 0 else 'after'} {t.name}'s balance collection")
        self.run_job(CLEANUP)

    # ------------------------------------------------------------------------------------------------ Stripe side

    def charge_of(self, t: Track) -> dict[str, Any] | None:
        intent = self.env.stripe.get_object(t.pi) if t.pi else None
        charge_id = (intent or {}).get("latest_charge")
        return self.env.stripe.get_object(charge_id) if charge_id else None

    def dashboard_refund(self, t: Track) -> None:
        if not _supports(self.env.stripe, "dashboard_refund"):
            self.figures["unsupported.stripe.dashboard_refund"] += 1
            self.log(f"{t.name}: (no dashboard_refund in the Stripe double yet)")
            return
        # Mostly the first payment; a balance or a fee paid later sometimes (several payments per booking).
        paid = [i for i in self.booking_intents(t) if i.get("status") == "succeeded"]
        later = [i for i in paid if i["id"] != t.pi]
        pi = self.rng.choice(later)["id"] if later and self.rng.random() < 0.4 else t.pi
        intent = self.env.stripe.get_object(pi) if pi else None
        charge = self.env.stripe.get_object(intent["latest_charge"]) if intent and intent.get("latest_charge") else None
        if charge is None:
            return
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            self.log(f"{t.name}: nothing left to refund in the Dashboard")
            return
        amount = self.rng.choice(
            [remaining, max(1, remaining // 2), min(1000, remaining), self.rng.randint(1, remaining)]
        )
        try:
            refund = self.env.stripe.dashboard_refund(payment_intent=pi, amount=amount)
            result = f"{refund['id']} {refund.get('status')}"
        except Exception as exc:
            result = f"refused: {exc}"
        self.figures["dashboard_refunds"] += 1
        which = "" if pi == t.pi else f" of {(intent.get('metadata') or {}).get('purpose')} {pi}"
        self.log(f"{t.name}: the owner refunds {amount}{which} in the Stripe Dashboard -> {result}")

    def our_refunds(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        refunds = []
        for event in self.env.stripe.events:
            obj = event["data"]["object"]
            if event["type"] == "refund.created" and (obj.get("metadata") or {}).get("booking_id"):
                current = self.env.stripe.get_object(obj["id"]) or obj
                if current.get("status") in statuses and current not in refunds:
                    refunds.append(current)
        return refunds

    def fail_refund(self) -> None:
        if not _supports(self.env.stripe, "fail_refund"):
            self.figures["unsupported.stripe.fail_refund"] += 1
            self.log("(no fail_refund in the Stripe double yet)")
            return
        refund = self.rng.choice(self.our_refunds(("succeeded", "pending")))
        self.env.stripe.fail_refund(refund["id"])
        self.figures["faults"] += 1
        self.figures["fault.refund_failed_at_bank"] += 1
        owner = self.track_by_booking((refund.get("metadata") or {}).get("booking_id"))
        self.log(f"{owner.name if owner else '?'}: our refund {refund['id']} of {refund['amount']} fails at the bank")

    def dispute_open(self, t: Track) -> None:
        charge = self.charge_of(t)
        if charge is None or charge.get("status") != "succeeded":
            return
        dispute = self.env.stripe.create_dispute(charge["id"])
        t.dispute_id = dispute["id"]
        self.figures["disputes"] += 1
        self.log(f"{t.name}: the client disputes {charge['id']} ({dispute['amount']}) {dispute['id']}")

    def dispute_close(self, t: Track) -> None:
        if not _supports(self.env.stripe, "close_dispute"):
            self.figures["unsupported.stripe.close_dispute"] += 1
            t.dispute_closed = "open"
            self.log(f"{t.name}: (no close_dispute in the Stripe double yet)")
            return
        status = self.rng.choice(["won", "lost"])
        self.env.stripe.close_dispute(t.dispute_id, status)
        t.dispute_closed = status
        self.figures[f"disputes.{status}"] += 1
        self.log(f"{t.name}: dispute {t.dispute_id} closed: {status}")

    # ------------------------------------------------------------------------------------------------- the owner

    def owner_options(self, t: Track, add: Callable[[float, str, Callable[[], None]], None]) -> None:
        """The owner's actions on a booking (issue 10), at modest weights: mostly on paid bookings, sometimes where
        the state refuses them (the answer must then be a clear 409/422, never a 5xx)."""
        if not t.booking_id:
            return
        if not t.paid:
            add(0.1, "owner_refund", lambda t=t: self.owner_refund(t))
            return
        started = self.clock.now >= t.start
        add(0.5, "owner_refund", lambda t=t: self.owner_refund(t))
        add(0.35, "owner_cancel", lambda t=t: self.owner_cancel(t))
        collect = (1.0 if t.auth_card else 0.6) if t.payment_type == "deposit" else 0.1  # a card needing the client
        add(collect, "owner_collect_balance", lambda t=t: self.owner_collect(t))
        add(0.4 if started else 0.05, "owner_no_show", lambda t=t: self.owner_no_show(t))
        add(0.2, "owner_resolve_flag", lambda t=t: self.owner_resolve_flag(t))
        add(0.35, "owner_two_at_once", lambda t=t: self.owner_two_at_once(t))
        if any(c.status for c in t.owner_calls):
            add(0.4, "owner_repeat", lambda t=t: self.owner_repeat(t))
        if t.pay_tokens:
            add(2.0, "client_opens_pay_link", lambda t=t: self.client_opens_pay_link(t))
        if t.pay_later:
            add(0.8, "client_pays_later", lambda t=t: self.client_pays_later(t))

    def booking_intents(self, t: Track) -> list[dict[str, Any]]:
        """Every PaymentIntent of the booking in the Stripe double (the first, and the balance and fees on its
        Customer, which carry our booking id), oldest first."""
        ids: dict[str, None] = {t.pi: None} if t.pi else {}
        for event in self.env.stripe.events:
            obj = event["data"]["object"]
            if obj.get("object") == "payment_intent" and (obj.get("metadata") or {}).get("booking_id") == t.booking_id:
                ids.setdefault(obj["id"], None)
        found = [self.env.stripe.get_object(pi) for pi in ids]
        return [intent for intent in found if intent]

    def refundable(self, t: Track) -> int:
        """What Stripe could still refund over the booking's payments (a lost dispute aside)."""
        total = 0
        for intent in self.booking_intents(t):
            charge = self.env.stripe.get_object(intent["latest_charge"]) if intent.get("latest_charge") else None
            if intent.get("status") == "succeeded" and charge:
                total += charge["amount_captured"] - charge["amount_refunded"]
        return total

    def owner_call(self, t: Track, action: str, body: dict[str, Any] | None, **kwargs: Any) -> OwnerCall:
        self.owner_serial += 1
        call = OwnerCall(t.name, action, body, f"chaos-{self.seed}-owner-{self.owner_serial}", product_now(), **kwargs)
        if action == "cancel":
            live = self.live_cal(t)
            call.cal_start = _instant(live["start"]) if live else None
        return call

    def send(self, t: Track, call: OwnerCall) -> OwnerCall:
        assert t.booking_id is not None
        headers = owner_headers() | {"Idempotency-Key": call.key}
        r = self.env.api.post(f"/admin/bookings/{t.booking_id}/{call.action}", call.body, headers=headers)
        call.status, call.answer = r.status, r.body
        return call

    def note_owner(self, t: Track, call: OwnerCall) -> None:
        """Keep the answer (the invariants read every one) and any pay link it carries."""
        t.owner_calls.append(call)
        self.figures["owner_actions"] += 1
        self.figures[f"owner.{call.action.split('/')[0]}.{call.status}"] += 1
        for token in PAY_TOKEN.findall(json.dumps(call.answer, default=str)):
            if token not in t.pay_tokens:
                t.pay_tokens.append(token)
        self.log(f"{t.name}: {call.line()}")

    def owner_do(self, t: Track, action: str, body: dict[str, Any] | None) -> OwnerCall:
        call = self.send(t, self.owner_call(t, action, body))
        self.note_owner(t, call)
        return call

    def refund_body(self, t: Track) -> dict[str, Any]:
        refundable = self.refundable(t)
        kind = self.rng.choices(["all", "part", "over"], [3, 4, 2])[0]
        if refundable <= 0 or kind == "over":
            # More than Stripe can still refund: a 422 naming `amount` (or a 409 when nothing is left).
            self.figures["owner.over_refund_attempts"] += 1
            return {"amount": refundable + self.rng.choice([1, 100, refundable or 500]), "reason": "chaos: too much"}
        if kind == "all":
            return {"reason": "chaos: refund everything"}
        return {"amount": self.rng.randint(1, refundable), "reason": "chaos: goodwill"}

    def cancel_body(self) -> dict[str, Any]:
        return {"reason": "chaos: the owner cancels", "refund": self.rng.choice(["policy", "full", "none"])}

    def collect_body(self) -> dict[str, Any]:
        return {"method": "offline" if self.rng.random() < 0.25 else "card_on_file"}

    def owner_refund(self, t: Track) -> None:
        self.owner_do(t, "refund", self.refund_body(t))

    def owner_cancel(self, t: Track) -> None:
        self.owner_do(t, "cancel", self.cancel_body())

    def owner_collect(self, t: Track) -> None:
        self.owner_do(t, "collect-balance", self.collect_body())

    def owner_no_show(self, t: Track) -> None:
        self.owner_do(t, "no-show", self.rng.choice([None, {"note": "chaos: did not come"}]))

    def owner_resolve_flag(self, t: Track) -> None:
        assert t.booking_id is not None
        flags = [f["code"] for f in (self.admin_booking(t.booking_id) or {}).get("flags") or [] if f.get("open")]
        if not flags:
            self.log(f"{t.name}: the owner finds no open flag to close")
            return
        self.owner_do(t, f"flags/{self.rng.choice(flags)}/resolve", {"note": "chaos: handled with the client"})

    def owner_repeat(self, t: Track) -> None:
        """The same request again, with its Idempotency-Key (a retry after a timeout, a double click)."""
        first = self.rng.choice([c for c in t.owner_calls if c.status and c.repeat_of is None])
        call = OwnerCall(t.name, first.action, first.body, first.key, product_now(), repeat_of=first)
        call.cal_start = first.cal_start
        self.note_owner(t, self.send(t, call))
        self.figures["owner.repeated_with_same_key"] += 1

    def owner_two_at_once(self, t: Track) -> None:
        """Two owner requests handled at the same time: the balance collected twice (two keys, or one key twice),
        the same refund twice, or a refund, a collection or a no-show racing a cancellation."""
        kind = self.rng.choice(
            [
                "collect_twice",
                "collect_same_key",
                "refund_same_key",
                "refund_and_cancel",
                "collect_and_cancel",
                "collect_card_and_offline",
                "refund_twice",
            ]
        )
        if kind in ("collect_twice", "collect_same_key"):
            pair = [self.owner_call(t, "collect-balance", {"method": "card_on_file"}, concurrent=True) for _ in "ab"]
        elif kind == "collect_card_and_offline":
            pair = [
                self.owner_call(t, "collect-balance", {"method": m}, concurrent=True)
                for m in ("card_on_file", "offline")
            ]
        elif kind in ("refund_same_key", "refund_twice"):
            body = self.refund_body(t)
            pair = [self.owner_call(t, "refund", body, concurrent=True) for _ in "ab"]
        else:
            first = (
                ("refund", self.refund_body(t))
                if kind == "refund_and_cancel"
                else ("collect-balance", self.collect_body())
            )
            pair = [
                self.owner_call(t, *first, concurrent=True),
                self.owner_call(t, "cancel", self.cancel_body(), concurrent=True),
            ]
        if kind.endswith("same_key"):
            pair[1].key, pair[1].repeat_of = pair[0].key, pair[0]
        self.log(f"{t.name}: two owner requests at once ({kind.replace('_', ' ')})")
        self.figures[f"owner.two_at_once.{kind}"] += 1
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = list(pool.map(lambda call: self.send(t, call), pair))
        for call in done:
            self.note_owner(t, call)

    def client_opens_pay_link(self, t: Track) -> None:
        """The client opens a pay link the owner sent: pays at once with Stripe.js, later, or never."""
        token = self.rng.choice(t.pay_tokens)
        r = self.env.api.post("/bookings/pay", {"token": token})
        self.figures[f"pay_page.{r.status}"] += 1
        self.pay_pages.append((t.name, r.status, _short(r.body)))
        self.log(f"{t.name}: the client opens the pay link -> {r.status} {_short(r.body)}")
        if r.status != 200 or not isinstance(r.body, dict) or r.body.get("status") != "requires_payment":
            return
        pi = str(r.body.get("client_secret") or "").split("_secret_")[0]
        if not pi:
            return
        if self.rng.random() < 0.6:
            self.client_pays(t, pi)
        elif pi not in t.pay_later:
            t.pay_later.append(pi)

    def client_pays_later(self, t: Track) -> None:
        self.client_pays(t, t.pay_later.pop(self.rng.randrange(len(t.pay_later))))

    def client_pays(self, t: Track, pi: str) -> None:
        """The client confirms the PaymentIntent with Stripe.js on the pay page (outside our code)."""
        try:
            self.env.stripe.succeed_payment_intent(pi)
            result = "paid"
            self.figures["pay_link.paid"] += 1
        except Exception as exc:  # Stripe refuses a PaymentIntent the business closed meanwhile
            result = f"refused by Stripe: {_short(str(exc), 70)}"
        self.log(f"{t.name}: the client pays {pi} on the pay page -> {result}")

    # ----------------------------------------------------------------------------------------------------- faults

    def stripe_fault(self) -> None:
        path = self.rng.choice([None, "/v1/refunds", "/v1/refunds", "/v1/transfers", "/v1/payment_intents"])
        status: int | str = self.rng.choice([500, 503, 429, "connection"])
        n = self.rng.choice([1, 1, 2])
        after = status != 429 and self.rng.random() < 0.4
        if after and not _supports(self.env.stripe, "fail_next", "after_processing"):
            self.figures["unsupported.stripe.fail_next_after_processing"] += 1
            after = False
        if after:
            self.env.stripe.fail_next(n, status, path, after_processing=True)
        else:
            self.env.stripe.fail_next(n, status, path)
        self.figures["faults"] += 1
        self.figures["fault.stripe_fail_next" + ("_after_processing" if after else "")] += 1
        self.log(
            f"Stripe: the next {n} call(s) to {path or 'any path'} fail with {status}"
            + (" after processing" if after else "")
        )

    def stripe_latency(self) -> None:
        if not _supports(self.env.stripe, "set_latency"):
            self.figures["unsupported.stripe.set_latency"] += 1
            return
        seconds = self.rng.choice([0.02, 0.05, 0.1])
        path = self.rng.choice([None, "/v1/refunds", "/v1/transfers"])
        self.env.stripe.set_latency(seconds, path)
        self.figures["faults"] += 1
        self.figures["fault.stripe_latency"] += 1
        self.log(f"Stripe: answers {path or 'every call'} {seconds} s late from now on")

    def stripe_refusal(self) -> None:
        if not _supports(self.env.stripe, "refuse_next"):
            self.figures["unsupported.stripe.refuse_next"] += 1
            return
        self.env.stripe.refuse_next("/v1/transfers", "balance_insufficient")
        self.figures["faults"] += 1
        self.figures["fault.stripe_refusal"] += 1
        self.log("Stripe: the next transfer is refused (balance_insufficient)")

    def cal_fault(self) -> None:
        kind = self.rng.choice(["down", "reset", "fail", "fail"])
        if kind == "fail":
            n, status = self.rng.choice([1, 1, 2]), self.rng.choice([500, 503, 429])
            after = self.rng.random() < 0.3
            self.env.cal.fail_next(n, status, after_processing=after)
            self.log(f"Cal.com: the next {n} call(s) fail with {status}" + (" after processing" if after else ""))
        else:
            self.env.cal.set_mode("down" if kind == "down" else "connection_reset")
            self.cal_heal_at = self.step + self.rng.randint(1, 3)
            self.log(f"Cal.com: {'down' if kind == 'down' else 'resets connections'} for a few actions")
        self.figures["faults"] += 1
        self.figures[f"fault.cal_{kind}"] += 1

    def heal(self) -> None:
        """Every fault off: what the drain starts from (Stripe redelivers, Cal.com is back)."""
        stripe_double, cal = self.env.stripe, self.env.cal
        stripe_double.set_down(False)
        if _supports(stripe_double, "set_latency"):
            stripe_double.set_latency(0)
        with stripe_double._lock:  # queued faults and refusals have no public "clear" (reset() would forget all)
            outages = stripe_double._outages
            outages.queued.clear()
            if hasattr(outages, "refusals"):
                outages.refusals.clear()
        cal.set_mode("normal")
        with cal._lock:
            cal._state.failures.clear()
        self.cal_heal_at = None
        self.healed = True
        self.log("heal: every Stripe and Cal.com fault off")

    # ------------------------------------------------------------------------------------------ time and jobs

    def jump(self) -> None:
        kind = self.rng.choices(["minutes", "hours", "days"], [5, 4, 1.5])[0]
        if kind == "minutes":
            delta = timedelta(minutes=self.rng.randint(1, 20))
        elif kind == "hours":
            delta = timedelta(minutes=self.rng.randint(60, 30 * 60))
        else:
            delta = timedelta(hours=self.rng.uniform(72, 100))
        self.advance(delta, f"{kind}")

    def advance(self, delta: timedelta, why: str) -> None:
        if delta >= timedelta(days=2):
            # Cal.com posts a webhook once, right away: none is realistically days late.
            pending = [d for d in self.queue if d.source == "cal" and not d.lost]
            if pending:
                self.log(
                    f"before a {delta.total_seconds() / 3600:.0f} h jump: "
                    f"the {len(pending)} Cal.com webhook(s) on their way arrive"
                )
                for delivery in pending:
                    self.deliver(delivery)
        self.clock.advance(delta)
        self.jumps += 1
        self.figures["jumps"] += 1
        if delta >= timedelta(minutes=30):
            for delivery in self.queue:
                delivery.late = False
        self.log(f"clock +{delta.total_seconds() / 3600:.2f} h ({why}) -> {_iso(self.clock.now)}")

    def run_job(self, logical_id: str) -> None:
        label = "cleanup" if logical_id == CLEANUP else "payouts"
        self.figures["jobs"] += 1
        try:
            report = run_job(self.env.lam, logical_id)
        except Exception as exc:
            self.figures["job.crashed"] += 1
            text = f"{label} job raised {type(exc).__name__}: {exc}"
            self.log(text)
            if self.healed:
                self.crashes.append(("-", text + " | " + _last_frame(exc)))
            return
        shown = {k: v for k, v in (report or {}).items() if v} if isinstance(report, dict) else report
        self.log(f"{label} job -> {_short(shown, 160)}")

    # ------------------------------------------------------------------------------------------------- webhooks

    def collect(self) -> None:
        """Take the new Stripe events and Cal.com webhooks from the doubles and give each a fate."""
        for event in self.env.stripe.events:
            if event["id"] in self.seen_events:
                continue
            self.seen_events.add(event["id"])
            self.figures["events.stripe"] += 1
            obj = event["data"]["object"]
            label = f"stripe {event['type']} {obj.get('id')}"
            self.plan(Delivery("stripe", label, self.step, event_id=event["id"]))
        for webhook in self.env.cal.pending_webhooks(clear=True):
            self.figures["events.cal"] += 1
            label = f"cal {webhook.trigger} {webhook.booking_uid}"
            if (webhook.trigger, webhook.booking_uid) in self.drop_cal:
                self.drop_cal.remove((webhook.trigger, webhook.booking_uid))
                self.log(f"lost: {label}")
                continue
            delivery = Delivery("cal", label, self.step, body=webhook.body, headers=dict(webhook.headers))
            if webhook.trigger == "BOOKING_CREATED" and self.rng.random() < 0.08:
                self.figures["dropped.cal"] += 1
                self.log(f"lost: {label}")
                continue
            self.plan(delivery)

    def plan(self, delivery: Delivery) -> None:
        # A reschedule's webhook is held back more often: a cancellation overtaking it is the race of issue 9 (#11).
        weights = [35, 15, 30, 15, 5] if "BOOKING_RESCHEDULED" in delivery.label else [55, 15, 15, 10, 5]
        fate = self.rng.choices(["now", "duplicate", "held", "late", "lost"], weights)[0]
        if fate == "duplicate":
            delivery.copies = 2
            self.figures["duplicated"] += 1
        elif fate == "held":
            delivery.due = self.step + self.rng.randint(2, 5)
            self.figures["reordered"] += 1
        elif fate == "late":
            delivery.late = True
            self.figures["late"] += 1
        elif fate == "lost":
            if delivery.source == "cal":
                self.figures["dropped.cal"] += 1
                self.log(f"lost: {delivery.label}")
                return
            delivery.lost = True
            self.figures["lost.stripe_redelivered_late"] += 1
        self.queue.append(delivery)

    def ready(self) -> list[Delivery]:
        return [d for d in self.queue if not d.lost and not d.late and d.due <= self.step]

    def deliver_ready(self, limit: int | None) -> None:
        ready = self.ready()
        self.rng.shuffle(ready)
        for delivery in ready[:limit]:
            self.deliver(delivery)

    def deliver(self, delivery: Delivery) -> ApiResponse:
        """POST one webhook; a duplicated one stays queued for its second copy, a refused Stripe event is retried."""
        if delivery in self.queue:
            self.queue.remove(delivery)
        response = self._post(delivery)
        self.record(delivery, response)
        return response

    def _post(self, delivery: Delivery) -> ApiResponse:
        delivery.attempts += 1
        if delivery.source == "stripe":
            return deliver_stripe(self.env.api, self.env.stripe, delivery.event_id)
        return self.env.api.request("POST", "/webhooks/cal", raw=delivery.body, headers=delivery.headers)

    def record(self, delivery: Delivery, response: ApiResponse) -> None:
        self.figures["delivered"] += 1
        outcome = response.body.get("outcome") if isinstance(response.body, dict) else None
        self.log(f"-> {delivery.label}: {response.status} {outcome or _short(response.body, 70)}")
        ok = 200 <= response.status < 300
        if not ok:
            self.figures["webhook.non_2xx"] += 1
            if self.healed and response.status >= 500:
                self.crashes.append(("-", f"{delivery.label} answered {response.status} {_short(response.body)}"))
        if delivery.copies > 1:
            delivery.copies -= 1
            delivery.due = self.step + self.rng.randint(0, 3)
            self.queue.append(delivery)
        elif not ok and delivery.source == "stripe":
            # Stripe retries a non-2xx answer with backoff, for days; the drain delivers what is left.
            self.figures["redelivered.after_non_2xx"] += 1
            delivery.due = self.step + self.rng.randint(1, 3)
            delivery.lost = delivery.attempts >= MAX_STRIPE_ATTEMPTS
            self.queue.append(delivery)

    def deliver_two_at_once(self) -> None:
        """Two webhooks handled at the same time: a reschedule and a cancellation of one booking when both are on
        their way (issue 9, #12), both copies of a duplicated event (#6), or any two."""
        ready = self.ready()
        self.rng.shuffle(ready)
        pair = ready[:2]
        cal = [
            d for d in ready if d.source == "cal" and d.label.split()[1] in ("BOOKING_RESCHEDULED", "BOOKING_CANCELLED")
        ]
        triggers = {d.label.split()[1] for d in cal}
        doubled = [d for d in ready if d.copies > 1]
        if len(triggers) == 2 and self.rng.random() < 0.7:
            pair = [next(d for d in cal if "RESCHEDULED" in d.label), next(d for d in cal if "CANCELLED" in d.label)]
        elif doubled and self.rng.random() < 0.4:
            pair = [doubled[0], doubled[0]]
        for delivery in dict.fromkeys(pair):
            self.queue.remove(delivery)
        self.log(f"two at once: {pair[0].label} | {pair[1].label}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(self._post, pair))
        self.figures["delivered.concurrently"] += 2
        if pair[0] is pair[1]:
            pair[0].copies = 1
            self.figures["delivered"] += 1
            self.log(f"-> {pair[0].label} (copy): {responses[0].status}")
            pair = [pair[0]]
            responses = responses[1:]
        for delivery, response in zip(pair, responses, strict=True):
            self.record(delivery, response)

    def job_during_change(self) -> None:
        """A job runs while something lands: a webhook, or a Dashboard refund or a dispute at Stripe (issue 9, #3:
        a payout decided while a refund or a dispute lands)."""
        due = any(self.payout_due(t) for t in self.tracks)
        logical_id = PAYOUTS if self.rng.random() < (0.8 if due else 0.4) else CLEANUP
        ready = self.ready()
        paid = [t for t in self.tracks if t.paid]
        undisputed = [t for t in paid if t.dispute_id is None]
        options = ["webhook"] * bool(ready) + ["refund"] * bool(paid) + ["dispute"] * bool(undisputed)
        if not options:
            self.run_job(logical_id)
            return
        kind = self.rng.choice(options)
        delay = self.rng.choice([0.0, 0.01, 0.03, 0.06])
        self.log(f"{'payouts' if logical_id == PAYOUTS else 'cleanup'} job runs while a {kind} lands ({delay} s in)")
        self.figures["concurrent.job_with_" + kind] += 1
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(self._job_quietly, logical_id)
            time.sleep(delay)
            if kind == "webhook":
                delivery = self.rng.choice(ready)
                self.queue.remove(delivery)
                response = self._post(delivery)
            elif kind == "refund":
                self.dashboard_refund(self.rng.choice(paid))
            elif kind == "dispute":
                self.dispute_open(self.rng.choice(undisputed))
            outcome = job.result()
        if kind == "webhook":
            self.record(delivery, response)
        self.log(f"... job -> {outcome}")

    def payout_due(self, t: Track) -> bool:
        """A provider payout of this booking may be due (its payment is over 72 h old)."""
        charge = self.charge_of(t) if t.paid and t.service.provider_share_percent is not None else None
        return charge is not None and datetime.fromtimestamp(charge["created"], UTC) + PAYOUT_HOLD <= self.clock.now

    def _job_quietly(self, logical_id: str) -> str:
        try:
            report = run_job(self.env.lam, logical_id)
        except Exception as exc:
            return f"raised {type(exc).__name__}: {exc}"
        return _short({k: v for k, v in report.items() if v} if isinstance(report, dict) else report, 160)

    # ----------------------------------------------------------------------------------------------------- drain

    def drain(self) -> None:
        self.step += 1
        self.clock.tick()
        self.log("drain")
        self.heal()
        for track in self.tracks:  # most disputes are decided by the end (the others stay open: (b) skips them)
            if track.dispute_id and track.dispute_closed is None and self.rng.random() < 0.7:
                self.dispute_close(track)
        self.collect()
        self.deliver_all()
        for number, jump in enumerate(DRAIN_JUMPS):
            self.drain_round(jump)
            if number == AVAILABILITY_CHECK_ROUND:
                from tests.chaos.invariants import check_availability

                self.availability = check_availability(self)
        for jump in MORE_DRAIN_JUMPS:
            if not self.work_left():
                break
            self.drain_round(jump)
        end = max(self.payout_horizon(), self.collection_horizon(), self.clock.now + timedelta(hours=50))
        self.drain_round(end - self.clock.now)
        # A balance the schedule charged in that round (at a meeting's end) has its own 72 h hold: past it too.
        for _ in range(3):
            end = max(self.payout_horizon(), self.collection_horizon())
            if end <= self.clock.now:
                break
            self.drain_round(end - self.clock.now)
        self.drain_round(timedelta(hours=2))
        leftover = [d.label for d in self.queue]
        if leftover:
            self.figures["undelivered_at_end"] += len(leftover)
            self.log(f"drain: still undelivered after every retry: {leftover}")

    def drain_round(self, jump: timedelta) -> None:
        self.step += 1
        self.clock.advance(jump)
        self.figures["drain_rounds"] += 1
        self.log(f"drain: clock +{jump.total_seconds() / 3600:.2f} h -> {_iso(self.clock.now)}")
        self.settle_round()

    def work_left(self) -> bool:
        """Events still waiting in the inbox, or bookings the jobs have yet to finish (HELD, PAID)."""
        from tests.chaos.invariants import Table

        table = Table.read()
        return any(i.get("inbox_state") == "PENDING" for i in table.inbox) or any(
            b.get("status") in ("HELD", "PAID") for b in table.bookings.values()
        )

    def settle_round(self) -> None:
        self.run_job(CLEANUP)
        self.run_job(PAYOUTS)
        self.collect()
        self.deliver_all()

    def deliver_all(self) -> None:
        """Every queued Stripe event (held, late, lost or refused before) and Cal.com webhook, in a random order, every
        copy; a refused Stripe event is retried in the next pass. Events these deliveries produce wait for the next
        round (`collect`)."""
        for _ in range(3):
            batch = list(self.queue)
            if not batch:
                return
            self.rng.shuffle(batch)
            for delivery in batch:
                delivery.late = delivery.lost = False
                delivery.due = 0
                self.deliver(delivery)

    def payout_horizon(self) -> datetime:
        """A moment after which every payment of the scenario is past its 72 h hold (by Stripe's charge times)."""
        latest = BASE_TIME - PAYOUT_HOLD * 2
        for event in self.env.stripe.events:
            if event["type"] == "charge.succeeded":
                latest = max(latest, datetime.fromtimestamp(event["data"]["object"]["created"], UTC))
        return latest + PAYOUT_HOLD + timedelta(hours=2)

    def collection_horizon(self) -> datetime:
        """A moment after every balance collection the schedule still has to make (money_state COLLECT)."""
        from tests.chaos.invariants import Table, parse_time

        latest = BASE_TIME - PAYOUT_HOLD * 2
        for row in Table.read().bookings.values():
            due = parse_time(row.get("money_due_at")) if row.get("money_state") == "COLLECT" else None
            if due is not None:
                latest = max(latest, due + timedelta(minutes=10))
        return latest

    # ---------------------------------------------------------------------------------------------------- lookups

    def track_by_booking(self, booking_id: str | None) -> Track | None:
        return next((t for t in self.tracks if booking_id and t.booking_id == booking_id), None)

    def admin_booking(self, booking_id: str) -> dict[str, Any] | None:
        r = self.env.api.request("GET", f"/admin/bookings/{booking_id}", headers=owner_headers())
        return r.body if r.status == 200 and isinstance(r.body, dict) else None


def _last_frame(exc: BaseException) -> str:
    """Where in the product it raised (the innermost frame under shared/ or functions/)."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if "/shared/" in f.filename or "/functions/" in f.filename
    ]
    if not frames:
        return ""
    last = frames[-1]
    return f"{os.path.relpath(last.filename)}:{last.lineno} {last.name}"
