"""One local runner for the fuzz tests: `python -m local serve` in a subprocess (clean env, free port).

The fuzzers reach it only over HTTP, like the site, Stripe and Cal.com do. Cal.com's 120 requests/min
throttle is off: hundreds of fuzzed /availability calls would otherwise be answered 503 (by design).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.spawn import SpawnedRunner, spawned_runner
from tests.fuzz.support import EXAMPLES, TALLY


@pytest.fixture(scope="session")
def local_runner() -> Iterator[SpawnedRunner]:
    with spawned_runner({"LOCAL_CAL_RATE_LIMIT": "0"}) as runner:
        yield runner


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.counts:
        return
    total = sum(TALLY.counts.values())
    terminalreporter.write_sep("-", f"fuzz: {total} requests, {EXAMPLES} examples per operation/property budget")
    for operation, count in sorted(TALLY.counts.items()):
        terminalreporter.write_line(f"  {count:>6}  {operation}")
