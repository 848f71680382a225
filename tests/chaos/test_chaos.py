"""The chaos test (issue 9, item 6): CHAOS_SCENARIOS seeded scenarios (20 in the normal suite, 250 with
`make chaos`), each checked against the invariants of tests/chaos/invariants.py. Re-run one: CHAOS_SEED=<seed>."""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.chaos.invariants import check_scenario
from tests.chaos.report import ChaosConfig, ChaosReport
from tests.chaos.world import Env, Scenario
from tests.support import ApiClient


def test_money_and_calendar_invariants_hold_under_chaos(
    lam: LocalLambda,
    api: ApiClient,
    stripe_double: StripeDouble,
    cal_double: CalDouble,
    monkeypatch: pytest.MonkeyPatch,
    cal_webhooks_kept: None,
    chaos_catalog_path: Path,  # the product reads the chaos catalog (scheduled balances, an uncovered late fee)
    chaos_report: ChaosReport,
) -> None:
    config = ChaosConfig.from_env()
    env = Env(lam, api, stripe_double, cal_double, setenv=monkeypatch.setenv)
    chaos_report.show_traces = config.trace
    started = time.monotonic()
    # Handler errors are findings (g), counted and described; their log lines would bury the figures.
    logging.disable(logging.CRITICAL)
    try:
        run(config, env, chaos_report)
    finally:
        logging.disable(logging.NOTSET)
    chaos_report.seconds = time.monotonic() - started
    found = [v.line() for v in chaos_report.violations] + [f"HARNESS ERROR {e}" for e in chaos_report.harness_errors]
    assert not found, f"{len(found)} finding(s) (figures below; re-run one with CHAOS_SEED=<seed>):\n" + "\n".join(
        found
    )


def run(config: ChaosConfig, env: Env, chaos_report: ChaosReport) -> None:
    for seed in config.seeds():
        scenario = Scenario(seed, env)
        try:
            outcome = scenario.run()
            findings = None if outcome.harness_error else check_scenario(scenario)
        except Exception as exc:  # the harness's own failure: reported apart from the product's violations
            where = traceback.extract_tb(exc.__traceback__)[-1]
            scenario.harness_error = f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
            outcome, findings = None, None
        if findings is None:
            chaos_report.harness_errors.append(f"seed {seed}: {scenario.harness_error}")
            chaos_report.add(seed, scenario.figures, [], scenario.trace, keep_trace=True)
            continue
        assert outcome is not None
        outcome.figures.update(findings.figures)
        outcome.figures["violations"] += len(findings.violations)
        chaos_report.add(seed, outcome.figures, findings.violations, scenario.trace, keep_trace=config.trace)
