"""Races under load: N concurrent clients compete for M slots through the whole booking flow.

    python -m bench.races [--clients 40] [--slots 5] [--rounds 2] [--pick skewed|uniform] [--no-pay] [--api URL]

Without --api it starts its own local runner (a subprocess with a clean environment, a free port, no
schedules, the Cal.com double's rate limit off); with --api it drives a running one (`make run`; start it
with LOCAL_CAL_RATE_LIMIT=0, or Cal.com's 120 requests/min throttle answers 503s under load).

In each round every client waits at a barrier, then picks one of M fresh slots (skewed: the first slot is
the most wanted, as on a real site), POSTs /payments/create-intent and, if it got the hold, pays on the
Stripe double and runs create-token and verify (Stripe's webhook races verify to confirm the same booking).
Round 1 meets a cold runner: it starts a container per concurrent request, as Lambda would, but all in one
interpreter, so its latencies are mostly imports; later rounds are warm. Afterwards the bench counts live
bookings per slot in /admin/bookings and in the Cal.com double: more than the service's capacity on one
slot, one booking booked twice in Cal.com, or more holds granted than seats is a double booking: exit 1.

Latencies are those of the local runner on this machine (one Python process serving every function, moto
and the doubles): they compare runs of this bench, not Lambda. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# `python bench/races.py` as well as `python -m bench.races`: the project root must be importable.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.tables import Table, print_table, save  # noqa: E402
from local.dev_auth import DevSigner  # noqa: E402
from local.runner import DOUBLE_STRIPE_KEY  # noqa: E402
from local.spawn import error_code, spawned_runner  # noqa: E402

LIVE_STATUSES = ("HELD", "PAID", "CONFIRMED", "COMPLETED", "NO_SHOW")  # the statuses that occupy a seat
CAL_DEAD_STATUSES = {"cancelled", "rejected"}
WEEKS_TO_SEARCH = 8
NOTICE_MARGIN = timedelta(minutes=30)  # slots this close to the earliest bookable one are left out
VERIFY_RETRIES = 8  # a 503 confirmation_in_progress means the webhook is confirming: retry as the site does
SETTLE_SECONDS = 60.0

CREATE_INTENT = "POST /payments/create-intent"
STRIPE_CONFIRM = "stripe confirm (double)"
CREATE_TOKEN = "POST /bookings/create-token"  # noqa: S105 - an endpoint label, not a secret
VERIFY = "POST /bookings/verify"
ENDPOINTS = (CREATE_INTENT, STRIPE_CONFIRM, CREATE_TOKEN, VERIFY)


@dataclass(frozen=True)
class Call:
    endpoint: str
    status: int  # 0: no HTTP answer (connection error or timeout)
    code: str | None  # our error code when the answer is an error (or the exception's name)
    seconds: float
    api: bool  # a request to our API (counted in throughput), not to a provider double


@dataclass
class Outcome:
    client: int
    slot: str | None = None  # the start of the slot it holds
    booking_id: str | None = None
    confirmed: bool = False
    error: str | None = None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


@dataclass
class Round:
    number: int
    slots: list[str]
    outcomes: list[Outcome]
    calls: list[Call]
    seconds: float
    doubles: int = 0  # double bookings found on its slots (after the round)


def _timed(
    recorder: Recorder, endpoint: str, session: requests.Session, method: str, url: str, **kwargs: Any
) -> requests.Response | None:
    started = time.perf_counter()
    try:
        response = session.request(method, url, timeout=120, **kwargs)
    except requests.RequestException as exc:
        recorder.add(Call(endpoint, 0, type(exc).__name__, time.perf_counter() - started, api=True))
        return None
    recorder.add(Call(endpoint, response.status_code, error_code(response), time.perf_counter() - started, True))
    return response


# --- setup ---------------------------------------------------------------------------------------------------


def find_slots(api: str, service_id: str, count: int) -> list[str]:
    """The first `count` bookable slot starts of the service, week after week as the site navigates, leaving
    out the first NOTICE_MARGIN of them: a slot at the edge of the minimum notice can stop being bookable while
    the round runs (a 422 instead of the 409 the race is about), whatever the time of day."""
    found: list[str] = []
    params: dict[str, Any] = {"service_id": service_id, "days": 7}
    earliest: datetime | None = None
    for _ in range(WEEKS_TO_SEARCH):
        response = requests.get(f"{api}/availability", params=params, timeout=30)
        response.raise_for_status()
        week = response.json()
        starts = [slot["start"] for day in week["days"] for slot in day["slots"]]
        if starts and earliest is None:
            earliest = datetime.fromisoformat(starts[0])
        found += [start for start in starts if earliest and datetime.fromisoformat(start) >= earliest + NOTICE_MARGIN]
        if len(found) >= count:
            return found[:count]
        params["start"] = (date.fromisoformat(week["days"][-1]["date"]) + timedelta(days=1)).isoformat()
    return found


def pick_weights(slots: int, pick: str) -> list[float]:
    # Skewed: Zipf-like, the first slot is wanted most (everyone wants the earliest appointment).
    return [1.0] * slots if pick == "uniform" else [1.0 / (rank + 1) for rank in range(slots)]


# --- one client ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    api: str
    stripe_api: str
    service_id: str
    weights: list[float]
    attempts: int
    pay: bool
    seed: int


def run_client(
    index: int, plan: Plan, slots: list[str], barrier: threading.Barrier, recorder: Recorder, rng: random.Random
) -> Outcome:
    outcome = Outcome(client=index)
    session = requests.Session()
    candidates = list(range(len(slots)))
    barrier.wait()  # every client fires at once: the contention is the point
    for _ in range(plan.attempts):
        if not candidates:
            break
        pick = rng.choices(candidates, weights=[plan.weights[i] for i in candidates])[0]
        candidates.remove(pick)  # after "slot taken" a client picks another time, never the same one
        body = {
            "service_id": plan.service_id,
            "start": slots[pick],
            "attendee": {
                "name": f"Race Client {index}",
                "email": f"race{index}@example.com",
                "time_zone": "America/New_York",
            },
            "payment_type": "deposit",
        }
        response = _timed(
            recorder,
            CREATE_INTENT,
            session,
            "POST",
            f"{plan.api}/payments/create-intent",
            json=body,
            headers={"Idempotency-Key": str(uuid.UUID(int=rng.getrandbits(128)))},
        )
        if response is None or response.status_code != 201:
            continue
        intent = response.json()
        outcome.slot, outcome.booking_id = slots[pick], intent["booking_id"]
        if plan.pay:
            outcome.confirmed = _pay_and_confirm(plan, session, recorder, intent, outcome)
        return outcome
    return outcome


def _pay_and_confirm(
    plan: Plan, session: requests.Session, recorder: Recorder, intent: dict[str, Any], outcome: Outcome
) -> bool:
    import stripe

    stripe_client = stripe.StripeClient(DOUBLE_STRIPE_KEY, base_addresses={"api": plan.stripe_api})
    started = time.perf_counter()
    try:
        # What Stripe.js does in the browser, with the test card.
        stripe_client.v1.payment_intents.confirm(
            intent["payment_intent_id"],
            params={"payment_method": "pm_card_visa", "return_url": "http://localhost:8080/book/return"},
        )
        recorder.add(Call(STRIPE_CONFIRM, 200, None, time.perf_counter() - started, api=False))
    except stripe.StripeError as exc:
        recorder.add(Call(STRIPE_CONFIRM, exc.http_status or 0, exc.code, time.perf_counter() - started, api=False))
        outcome.error = f"stripe confirm: {exc}"
        return False
    token = _timed(
        recorder,
        CREATE_TOKEN,
        session,
        "POST",
        f"{plan.api}/bookings/create-token",
        json={"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
    )
    if token is None or token.status_code != 201:
        outcome.error = f"create-token: {token.status_code if token is not None else 'no answer'}"
        return False
    for _ in range(VERIFY_RETRIES):
        verified = _timed(
            recorder, VERIFY, session, "POST", f"{plan.api}/bookings/verify", json={"token": token.json()["token"]}
        )
        if verified is not None and verified.status_code == 200:
            return True
        if verified is None or verified.status_code != 503:
            outcome.error = f"verify: {verified.status_code if verified is not None else 'no answer'}"
            return False
        time.sleep(min(float(verified.headers.get("Retry-After") or 1), 1.0))
    outcome.error = "verify: still in progress after retries"
    return False


def race(number: int, plan: Plan, slots: list[str], clients: int) -> Round:
    recorder = Recorder()
    barrier = threading.Barrier(clients + 1)
    outcomes: list[Outcome | None] = [None] * clients
    # Reproducible picks and keys per (seed, round, client), whatever the threads' scheduling.
    rngs = [random.Random(f"{plan.seed}/{number}/{index}") for index in range(clients)]

    def client(index: int) -> None:
        try:
            outcomes[index] = run_client(index, plan, slots, barrier, recorder, rngs[index])
        except Exception as exc:  # a crashed client is reported, never silently dropped
            outcomes[index] = Outcome(client=index, error=f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(i,), name=f"race-client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    done = [outcome or Outcome(client=i, error="no outcome") for i, outcome in enumerate(outcomes)]
    return Round(number, slots, done, recorder.calls, seconds)


# --- verification --------------------------------------------------------------------------------------------


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def owner_bookings(api: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {DevSigner.local().token('owner')}"}
    found: list[dict[str, Any]] = []
    for status in LIVE_STATUSES:
        params: dict[str, Any] = {"status": status, "limit": 200}
        while True:
            response = requests.get(f"{api}/admin/bookings", params=params, headers=headers, timeout=30)
            response.raise_for_status()
            page = response.json()
            found += page["bookings"]
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
    return found


def cal_bookings(cal_api: str) -> list[dict[str, Any]]:
    response = requests.get(f"{cal_api}/_double/bookings", timeout=30)
    response.raise_for_status()
    return list(response.json())


def wait_until_settled(api: str, booking_ids: list[str]) -> list[str]:
    """Wait for Stripe's webhooks to finish (no PAID booking left); returns the ids still PAID at the deadline."""
    deadline = time.monotonic() + SETTLE_SECONDS
    pending = list(booking_ids)
    while pending and time.monotonic() < deadline:
        statuses = {booking["booking_id"]: booking["status"] for booking in owner_bookings(api)}
        pending = [booking_id for booking_id in pending if statuses.get(booking_id) == "PAID"]
        if pending:
            time.sleep(0.5)
    return pending


@dataclass
class DoubleBookings:
    owner: list[str]
    cal: list[str]
    answers: list[str]

    @property
    def total(self) -> int:
        return len(self.owner) + len(self.cal) + len(self.answers)


def find_double_bookings(
    api: str, cal_api: str | None, service_id: str, event_type_id: int, capacity: int, rounds: list[Round]
) -> DoubleBookings:
    found = DoubleBookings([], [], [])
    per_slot: defaultdict[datetime, list[str]] = defaultdict(list)
    for booking in owner_bookings(api):
        if booking["service_id"] == service_id:
            per_slot[_utc(booking["start"])].append(booking["booking_id"])
    found.owner = [f"{start.isoformat()}: {ids}" for start, ids in per_slot.items() if len(ids) > capacity]
    if cal_api:
        cal_slot: defaultdict[datetime, list[str]] = defaultdict(list)
        per_booking: Counter[str] = Counter()
        for cal in cal_bookings(cal_api):
            if cal.get("status") in CAL_DEAD_STATUSES or cal.get("eventTypeId") != event_type_id:
                continue
            cal_slot[_utc(cal["start"])].append(cal["uid"])
            per_booking[str((cal.get("metadata") or {}).get("booking_id"))] += 1
        found.cal = [f"{start.isoformat()}: {uids}" for start, uids in cal_slot.items() if len(uids) > capacity]
        found.cal += [f"{booking_id} booked {n} times in Cal.com" for booking_id, n in per_booking.items() if n > 1]
    # The clients' own view: more holds granted (201, distinct bookings) on a slot than it has seats.
    granted: defaultdict[str, set[str]] = defaultdict(set)
    for outcome in (outcome for round_ in rounds for outcome in round_.outcomes):
        if outcome.slot and outcome.booking_id:
            granted[outcome.slot].add(outcome.booking_id)
    found.answers = [f"{slot}: holds {sorted(ids)}" for slot, ids in granted.items() if len(ids) > capacity]
    return found


# --- report --------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: the figure is a latency some client actually saw)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def _p50_p95(calls: list[Call], endpoint: str) -> str:
    millis = [call.seconds * 1000 for call in calls if call.endpoint == endpoint]
    return f"{percentile(millis, 0.5):,.0f} / {percentile(millis, 0.95):,.0f} ms" if millis else "-"


def rounds_table(rounds: list[Round], capacity: int, pay: bool) -> Table:
    table = Table(
        "races-rounds",
        "Races: clients released together for the same slots, round by round",
        [
            "round",
            "bookings made",
            "double bookings",
            "409 (`slot_taken`)",
            "other statuses",
            *(f"{endpoint} p50 / p95" for endpoint in ENDPOINTS),
            "throughput",
        ],
        note="Round 1 meets a cold runner (a container per concurrent request); later rounds are warm. Latencies "
        "are the local runner's (one Python process serving the functions, moto and both doubles): compare runs, "
        "not Lambda.",
    )
    for round_ in rounds:
        calls = round_.calls
        made = sum(1 for outcome in round_.outcomes if outcome.booking_id)
        confirmed = sum(1 for outcome in round_.outcomes if outcome.confirmed)
        api_calls = [call for call in calls if call.api]
        conflicts = Counter(call.code for call in calls if call.status == 409)
        other = Counter(
            f"{call.endpoint} {call.status} {call.code or ''}".rstrip()
            for call in calls
            if call.status not in (200, 201, 409)
        )
        table.add(
            f"{round_.number}, {'cold' if round_.number == 1 else 'warm'}",
            f"{made} of {len(round_.slots) * capacity} seats" + (f", {confirmed} confirmed" if pay else ""),
            round_.doubles,
            sum(conflicts.values()),
            ", ".join(f"{key} x{n}" for key, n in other.items()) or "none",
            *(_p50_p95(calls, endpoint) for endpoint in ENDPOINTS),
            f"{len(api_calls) / round_.seconds:.1f} requests/s",
        )
    return table


def round_figures(round_: Round) -> dict[str, Any]:
    return {
        "round": round_.number,
        "slots": round_.slots,
        "bookings": sum(1 for outcome in round_.outcomes if outcome.booking_id),
        "confirmed": sum(1 for outcome in round_.outcomes if outcome.confirmed),
        "double_bookings": round_.doubles,
        "conflicts": sum(1 for call in round_.calls if call.status == 409),
        "seconds": round_.seconds,
        "latency_ms": {
            endpoint: {
                "p50": percentile(millis, 0.5),
                "p95": percentile(millis, 0.95),
                "max": max(millis),
                "n": len(millis),
            }
            for endpoint in ENDPOINTS
            if (millis := [call.seconds * 1000 for call in round_.calls if call.endpoint == endpoint])
        },
    }


# --- main ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _target(api: str | None) -> Iterator[dict[str, Any]]:
    if api:
        yield requests.get(f"{api}/_local", timeout=5).json()
        return
    # No Cal.com throttle: 40 clients paying at once exceed Cal.com's 120 requests/min by design of the test.
    with spawned_runner({"LOCAL_CAL_RATE_LIMIT": "0"}) as runner:
        yield runner.info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.races", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", help="a running local runner (default: start one)")
    parser.add_argument("--clients", type=int, default=40, help="concurrent clients (default 40)")
    parser.add_argument("--slots", type=int, default=5, help="slots they compete for in a round (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each on fresh slots (default 2)")
    parser.add_argument("--service", default="signature-facial", help="service id (default signature-facial)")
    parser.add_argument("--pick", choices=("skewed", "uniform"), default="skewed", help="how clients pick a slot")
    parser.add_argument("--attempts", type=int, default=1, help="slots a client tries after 409s (default 1)")
    parser.add_argument("--no-pay", dest="pay", action="store_false", help="only hold (create-intent)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the clients' picks")
    args = parser.parse_args(argv)
    if min(args.clients, args.slots, args.rounds, args.attempts) < 1:
        parser.error("--clients, --slots, --rounds and --attempts must be at least 1")

    with contextlib.ExitStack() as stack:
        try:
            info = stack.enter_context(_target(args.api))
        except (requests.RequestException, RuntimeError) as exc:
            print(f"No local runner: {exc}", file=sys.stderr)
            return 2
        return _run(args, info)


def _run(args: argparse.Namespace, info: dict[str, Any]) -> int:
    api = info["api"]
    if args.pay and info.get("stripe") != "double":
        print("Paying needs the Stripe double: run the runner without STRIPE_SECRET_KEY, or pass --no-pay.")
        return 2
    from booking.domain.catalog import get_catalog

    # Seats per slot from the catalog the runner serves (CATALOG_PATH, else the shipped one).
    service = get_catalog().service(args.service)
    capacity = service.capacity
    slots = find_slots(api, args.service, args.slots * args.rounds)
    if len(slots) < args.slots * args.rounds:
        print(f"Only {len(slots)} free slots of {args.service} in the next {WEEKS_TO_SEARCH} weeks.", file=sys.stderr)
        return 2
    plan = Plan(
        api=api,
        stripe_api=info.get("stripe_api", ""),
        service_id=args.service,
        weights=pick_weights(args.slots, args.pick),
        attempts=min(args.attempts, args.slots),
        pay=args.pay,
        seed=args.seed,
    )
    rounds = [
        race(number, plan, slots[(number - 1) * args.slots : number * args.slots], args.clients)
        for number in range(1, args.rounds + 1)
    ]
    booked = [outcome.booking_id for round_ in rounds for outcome in round_.outcomes if outcome.booking_id]
    unsettled = wait_until_settled(api, booked) if args.pay else []
    cal_api = info.get("cal_api") if info.get("cal") == "double" else None
    doubles = find_double_bookings(api, cal_api, args.service, service.cal_event_type_id, capacity, rounds)

    print(
        f"Races: {args.clients} clients x {args.rounds} rounds on {args.slots} slots each of {args.service} "
        f"(capacity {capacity}); pick {args.pick}, up to {plan.attempts} attempt(s), "
        f"{'pay + create-token + verify' if args.pay else 'hold only'}"
    )
    print(
        f"Runner {api} (Stripe {info.get('stripe')}, Cal.com {info.get('cal')}, Cal.com rate limit "
        f"{info.get('cal_rate_limit_per_minute') or 'off'}); {platform.machine()}, Python "
        f"{platform.python_version()}, seed {args.seed}"
    )
    for round_ in rounds:
        starts = {*round_.slots, *(_utc(slot).isoformat() for slot in round_.slots)}
        problems = [*doubles.owner, *doubles.cal, *doubles.answers]
        round_.doubles = sum(1 for problem in problems if any(start in problem for start in starts))
    table = rounds_table(rounds, capacity, args.pay)
    print_table(table)
    for round_ in rounds:
        for outcome in round_.outcomes:
            if outcome.error:
                print(f"  round {round_.number}, client {outcome.client}: {outcome.error}")
    print(f"\nDouble bookings: {doubles.total} (admin view, Cal.com double, answers to the clients)")
    save(
        "races",
        [table],
        {
            "clients": args.clients,
            "slots": args.slots,
            "service": args.service,
            "pick": args.pick,
            "seed": args.seed,
            "double_bookings": doubles.total,
            "rounds": [round_figures(round_) for round_ in rounds],
        },
    )
    if unsettled:
        print(f"  still PAID (not confirmed) after {SETTLE_SECONDS:.0f} s: {unsettled}")
    for label, problems in (("admin", doubles.owner), ("cal.com", doubles.cal), ("answers", doubles.answers)):
        for problem in problems:
            print(f"  DOUBLE BOOKING ({label}) {problem}")
    if doubles.total:
        print("FAIL: double booking")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
