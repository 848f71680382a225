"""`make bench-races` as a user runs it, scaled down: it starts its own runner and finds no double booking.

Through the runner's HTTP server and its concurrent containers, which the in-process integration tests do not
cross. Only outcomes are asserted, never a latency or a throughput.
"""

from __future__ import annotations

import subprocess
import sys

from local.spawn import clean_env
from local.template import ROOT


def test_races_bench_books_each_seat_once_and_answers_the_others_409() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.races", "--clients", "12", "--slots", "2", "--rounds", "1"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    # The round's row: both seats booked and confirmed, no double booking, the other 10 answered 409, nothing else
    assert "| 1, cold | 2 of 2 seats, 2 confirmed | 0 | 10 | none |" in out
    assert "Double bookings: 0" in out
