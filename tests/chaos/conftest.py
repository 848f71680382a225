"""Prints the chaos figures at the end of the pytest run (also under -q), lends the scenarios a Cal.com webhook
subscriber so the double keeps every webhook (manual mode) for the harness to deliver, drop, hold or duplicate, and
points the product at the chaos catalog (the shipped one with scheduled balances and an uncovered late fee)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.cal_double import CalDouble
from tests.chaos.report import ChaosReport
from tests.chaos.world import CAL_WEBHOOK_URL, chaos_catalog

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


@pytest.fixture
def chaos_catalog_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """CATALOG_PATH = the chaos catalog for the session's handlers (settings are cached: cleared both ways)."""
    from booking.settings import get_settings

    path = tmp_path / "chaos-catalog.json"
    path.write_text(json.dumps(chaos_catalog()), encoding="utf-8")
    monkeypatch.setenv("CATALOG_PATH", str(path))
    get_settings.cache_clear()
    try:
        yield path
    finally:
        monkeypatch.delenv("CATALOG_PATH")
        get_settings.cache_clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in REPORTS:
        terminalreporter.write_sep("-", "chaos")
        for line in report.lines():
            terminalreporter.write_line(line)
