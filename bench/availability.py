"""Availability at scale within Cal.com's rate limit: an open-loop load of GET /availability on the local runner.

    python -m bench.availability [--rps 50] [--seconds 60] [--services 3] [--weeks 4] [--seed 7] [--api URL]
                                 [--before [REF]]

Without --api it starts its own local runner (a subprocess with a clean environment, a free port, no schedules)
with the Cal.com double's REAL limit on (120 requests a minute per key, a breach blocks the key for 60 s); with
--api it drives a running one (`make run`). Requests fire on schedule, `rps` a second for `seconds`, each on its
own thread whether or not the earlier ones were answered (open loop: a slow answer does not slow the load down),
each asking for one week (days=7) of one of the first `services` services, starting this week or one of the next
`weeks - 1`, in a random mix (fixed seed). Latency runs from the moment a request was due to its answer.

It counts the answers by status, Cal.com's /v2/slots calls during the run (from the double's request log, read
every second: the most in any 60 s is the figure the 120/min limit applies to) and their 429s. `--before` runs the
same load first against the runner of an earlier commit (default perf-round2-before: every request asked Cal.com).

Latencies are those of the local runner on this machine (one Python process serving every function, moto and the
doubles, on 2 shared cores): they compare runs of this bench, not Lambda.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.tables import Table, print_table, save, target  # noqa: E402
from local.spawn import error_code, spawned_runner  # noqa: E402

CAL_LIMIT_PER_MINUTE = 120
TARGET_503 = 0
POLL_SECONDS = 1.0
WARM_CONTAINERS = 48
STEADY_AFTER_SECONDS = 10.0
CLIENT_THREADS = 200


@dataclass(frozen=True)
class Answer:
    service: str
    week: int
    status: int  # 0: no HTTP answer (connection error or timeout)
    code: str | None
    seconds: float  # from when the request was due
    due: float  # seconds into the run


@dataclass
class Run:
    label: str
    answers: list[Answer] = field(default_factory=list)
    late_starts: int = 0  # requests whose thread began more than 100 ms after they were due (the load generator lagged)
    cal_samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, slots calls, their 429s)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)


# --- the runner ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def runner(root: Path, startup_timeout: float = 90.0) -> Iterator[dict[str, Any]]:
    """`python -m local serve` of the code under `root` (this checkout or an earlier commit's worktree), with the
    Cal.com double's real limit, on a free port; stopped on exit. Yields its GET /_local (where the doubles are)."""
    extra = {"LOCAL_CAL_RATE_LIMIT": str(CAL_LIMIT_PER_MINUTE)}
    with spawned_runner(extra, startup_timeout=startup_timeout, root=root) as spawned:
        yield {**spawned.info, "api": spawned.api}


# --- the load ----------------------------------------------------------------------------------------------------


def _slots_calls(cal_api: str) -> tuple[int, int]:
    """(/v2/slots calls, those answered 429) in the Cal.com double's log so far."""
    log = requests.get(f"{cal_api}/_double/requests", timeout=30).json()
    slots = [entry for entry in log if entry["path"] == "/v2/slots"]
    return len(slots), sum(1 for entry in slots if entry["status"] == 429)


def _today(api: str) -> date:
    """The business's today (GET /availability's default start; a fresh runner's clock is not moved)."""
    zone = requests.get(f"{api}/config", timeout=60).json()["business"]["time_zone"]
    offset = float(requests.get(f"{api}/_local", timeout=10).json().get("clock_offset_seconds") or 0)
    return (datetime.now(ZoneInfo(zone)) + timedelta(seconds=offset)).date()


def _warm_containers(api: str, count: int) -> None:
    """`count` concurrent GET /services: the runner starts that many CatalogFunction containers (each imports the
    handler, ~0.1 s of CPU in the one runner process), as a Lambda under steady load has them warm. They touch
    neither the availability cache nor Cal.com."""
    barrier = threading.Barrier(count)

    def one() -> None:
        barrier.wait()
        requests.get(f"{api}/services", timeout=120).raise_for_status()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def run_load(
    label: str, api: str, cal_api: str | None, *, rps: float, seconds: float, services: int, weeks: int, seed: int
) -> Run:
    listed = [service["id"] for service in requests.get(f"{api}/services", timeout=60).json()["services"]]
    chosen = listed[:services]
    today = _today(api)
    _warm_containers(api, WARM_CONTAINERS)
    # The code path once (its first Cal.com call opens the client), on a week outside the measured mix: the
    # measured weeks stay cold, so the run begins with every one of them to fill.
    outside = {"service_id": listed[-1], "start": (today + timedelta(days=7 * (weeks + 4))).isoformat(), "days": "7"}
    requests.get(f"{api}/availability", params=outside, timeout=60)
    rng = random.Random(seed)
    total = int(rps * seconds)
    plan = [(index / rps, rng.choice(chosen), rng.randrange(weeks)) for index in range(total)]
    run = Run(label)
    session_local = threading.local()

    def session() -> requests.Session:
        if not hasattr(session_local, "session"):
            session_local.session = requests.Session()
        return session_local.session

    def fire(due: float, service: str, week: int) -> None:
        if time.perf_counter() - due > 0.1:
            with run.lock:
                run.late_starts += 1
        start = today + timedelta(days=7 * week)
        params = {"service_id": service, "start": start.isoformat(), "days": "7"}
        try:
            response = session().get(f"{api}/availability", params=params, timeout=60)
        except requests.RequestException as exc:
            run.add(Answer(service, week, 0, type(exc).__name__, time.perf_counter() - due, due - began))
            return
        elapsed = time.perf_counter() - due
        run.add(Answer(service, week, response.status_code, error_code(response), elapsed, due - began))

    stop_polling = threading.Event()
    began = time.perf_counter()

    def poll_cal() -> None:
        while cal_api and not stop_polling.is_set():
            calls, throttled = _slots_calls(cal_api)
            run.cal_samples.append((time.perf_counter() - began, calls, throttled))
            stop_polling.wait(POLL_SECONDS)

    if cal_api:
        calls, throttled = _slots_calls(cal_api)
        run.cal_samples.append((0.0, calls, throttled))
    poller = threading.Thread(target=poll_cal, name="cal-poll", daemon=True)
    poller.start()
    # Open loop: each request is handed to the pool when it is due, whatever the earlier ones are doing; a pool
    # of keep-alive connections (as browsers and API Gateway keep theirs), wide enough never to hold one back.
    with ThreadPoolExecutor(max_workers=CLIENT_THREADS, thread_name_prefix="visitor") as pool:
        for offset, service, week in plan:
            due = began + offset
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(fire, due, service, week)
    run.seconds = time.perf_counter() - began
    stop_polling.set()
    poller.join(timeout=10)
    if cal_api:
        calls, throttled = _slots_calls(cal_api)
        run.cal_samples.append((run.seconds, calls, throttled))
    return run


# --- figures -----------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def max_per_minute(samples: list[tuple[float, int, int]]) -> int:
    """The most /v2/slots calls in any 60 s between two samples (the whole run when shorter than a minute)."""
    best = 0
    for index, (started, calls, _) in enumerate(samples):
        ends = [count for at, count, _ in samples[index:] if at - started <= 60.0]
        best = max(best, max(ends) - calls)
    return best


def timeline(run: Run, step: float = 10.0) -> list[dict[str, float]]:
    """p50 and p95 latency (ms) and 503s of the requests due in each `step` seconds of the run: where a slow
    spell was (a refresh, the machine's other load)."""
    spans: list[dict[str, float]] = []
    at = 0.0
    while at < run.seconds:
        due = [answer for answer in run.answers if at <= answer.due < at + step]
        latencies = [answer.seconds * 1000 for answer in due if answer.status]
        spans.append(
            {
                "from_s": at,
                "requests": len(due),
                "p50_ms": round(percentile(latencies, 0.5)),
                "p95_ms": round(percentile(latencies, 0.95)),
                "503": sum(1 for answer in due if answer.status == 503),
            }
        )
        at += step
    return spans


@dataclass(frozen=True)
class Figures:
    requests: int
    statuses: Counter[str]
    unavailable: int
    p50: float
    p95: float
    p99: float
    cal_calls: int
    cal_per_minute: int
    cal_429: int
    achieved_rps: float
    late_starts: int


def figures(run: Run, after_seconds: float = 0.0) -> Figures:
    """The run's figures; its latencies only of the requests due `after_seconds` into it or later."""
    statuses: Counter[str] = Counter(
        f"{answer.status} {answer.code}" if answer.code else str(answer.status) for answer in run.answers
    )
    latencies = [answer.seconds * 1000 for answer in run.answers if answer.status and answer.due >= after_seconds]
    first, last = (run.cal_samples[0], run.cal_samples[-1]) if run.cal_samples else ((0.0, 0, 0), (0.0, 0, 0))
    answered = sum(1 for answer in run.answers if answer.status)
    return Figures(
        requests=len(run.answers),
        statuses=statuses,
        unavailable=sum(1 for answer in run.answers if answer.status == 503),
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        cal_calls=last[1] - first[1],
        cal_per_minute=max_per_minute(run.cal_samples),
        cal_429=last[2] - first[2],
        achieved_rps=answered / run.seconds if run.seconds else 0.0,
        late_starts=run.late_starts,
    )


def tables(runs: list[tuple[Run, Figures, Figures]], args: argparse.Namespace) -> list[Table]:
    load = Table(
        "availability-load",
        f"GET /availability, {args.rps:g} requests a second for {args.seconds:g} s (open loop), "
        f"{args.services} services x {args.weeks} weeks, Cal.com double at {CAL_LIMIT_PER_MINUTE}/min",
        [
            "run",
            "requests",
            "503 answers",
            "Cal.com calls in any minute",
            "Cal.com 429s",
            "p50 / p95 / p99 ms",
            f"p50 / p95 / p99 ms after {STEADY_AFTER_SECONDS:g} s",
            "answered / s",
        ],
        note=(
            "Targets (issue 15): 0 answers 503, ≤ 120 Cal.com calls a minute, p95 stated. Latency from when each "
            "request was due to its answer, on the local runner (one Python process serving every function, moto "
            "and the doubles, on 2 shared cores, its CatalogFunction containers warmed first): compare runs of this "
            f"bench, not Lambda. The first {STEADY_AFTER_SECONDS:g} s include filling every week at once; the "
            "next column leaves them out. Cal.com calls from the double's request log, sampled every second."
        ),
    )
    statuses = Table(
        "availability-statuses",
        "GET /availability answers by status (and error code)",
        ["run", "answers"],
    )
    for run, fig, steady in runs:
        load.add(
            run.label,
            fig.requests,
            target(fig.unavailable, TARGET_503),
            target(fig.cal_per_minute, CAL_LIMIT_PER_MINUTE),
            fig.cal_429,
            f"{fig.p50:.0f} / **{fig.p95:.0f}** / {fig.p99:.0f}",
            f"{steady.p50:.0f} / **{steady.p95:.0f}** / {steady.p99:.0f}",
            f"{fig.achieved_rps:.1f}",
        )
        statuses.add(run.label, ", ".join(f"{name}: {count}" for name, count in sorted(fig.statuses.items())))
    return [load, statuses]


def _one_run(label: str, root: Path | None, args: argparse.Namespace) -> tuple[Run, Figures, Figures]:
    options = {
        "rps": args.rps,
        "seconds": args.seconds,
        "services": args.services,
        "weeks": args.weeks,
        "seed": args.seed,
    }
    if root is None:
        info = requests.get(f"{args.api}/_local", timeout=10).json()
        cal_api = info.get("cal_api") if info.get("cal") == "double" else None
        run = run_load(label, args.api, cal_api, **options)
    else:
        with runner(root) as info:
            run = run_load(label, info["api"], info["cal_api"], **options)
    return run, figures(run), figures(run, STEADY_AFTER_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.availability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rps", type=float, default=50.0, help="GET /availability requests a second (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs (default 60)")
    parser.add_argument("--services", type=int, default=3, help="services asked for (default 3)")
    parser.add_argument("--weeks", type=int, default=4, help="weeks asked for, from this one on (default 4)")
    parser.add_argument("--seed", type=int, default=7, help="the random mix's seed (default 7)")
    parser.add_argument("--api", help="a running local runner (default: start one with the real Cal.com limit)")
    parser.add_argument(
        "--before",
        nargs="?",
        const="perf-round2-before",
        help="also run the same load against an earlier commit's runner first (default ref perf-round2-before)",
    )
    args = parser.parse_args(argv)
    if args.api and args.before:
        parser.error("--before starts its own runners: leave out --api")

    runs: list[tuple[Run, Figures, Figures]] = []
    if args.before:
        from bench.baseline import checkout

        with checkout(args.before) as before_root:
            runs.append(_one_run(f"before ({args.before})", before_root, args))
    runs.append(_one_run("after (shared cache)" if not args.api else args.api, None if args.api else ROOT, args))
    found = tables(runs, args)
    for table in found:
        print_table(table)
    after = runs[-1][1]
    path = save(
        "availability",
        found,
        {
            "options": vars(args),
            "late_starts": {run.label: fig.late_starts for run, fig, _ in runs},
            "cal_samples": {run.label: run.cal_samples for run, _, _ in runs},
            "timeline": {run.label: timeline(run) for run, _, _ in runs},
        },
    )
    print(f"\nsaved {path.relative_to(ROOT)}")
    return 0 if after.unavailable == 0 and after.cal_per_minute <= CAL_LIMIT_PER_MINUTE else 1


if __name__ == "__main__":
    sys.exit(main())
