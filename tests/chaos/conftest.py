"""Prints the chaos figures at the end of the pytest run (also under -q), and lends the scenarios a Cal.com webhook
subscriber so the double keeps every webhook (manual mode) for the harness to deliver, drop, hold or duplicate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.cal_double import CalDouble
from tests.chaos.report import ChaosReport
from tests.chaos.world import CAL_WEBHOOK_URL

REPORTS: list[ChaosReport] = []


@pytest.fixture
def chaos_report() -> ChaosReport:
    report = ChaosReport()
    REPORTS.append(report)
    return report


@pytest.fixture
def cal_webhooks_kept(cal_double: CalDouble) -> Iterator[None]:
    import os

    cal_double.add_webhook_subscriber(CAL_WEBHOOK_URL, os.environ["CAL_WEBHOOK_SECRET"])
    try:
        yield
    finally:
        cal_double.remove_webhook_subscribers()
        cal_double.pending_webhooks(clear=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in REPORTS:
        terminalreporter.write_sep("-", "chaos")
        for line in report.lines():
            terminalreporter.write_line(line)
