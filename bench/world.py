"""The local world the cold-start and cost benchmarks drive: the local runner's environment (DynamoDB in moto
server mode, the Stripe and Cal.com doubles, every handler of template.yaml in this process), and the tests'
client for the site's steps.

Webhooks are never delivered on their own here: a benchmark delivers each one itself, so that it is
measured in the flow it belongs to and the state a measured event finds is always the same.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.runner import LocalEnvironment
from local.template import ROOT
from tests.support import ApiClient

CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
# Keys that would make the runner talk to real Stripe or Cal.com: a benchmark only ever uses the doubles.
REAL_PROVIDER_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CAL_API_KEY", "CAL_WEBHOOK_SECRET")


@dataclass
class World:
    env: LocalEnvironment
    api: ApiClient

    @property
    def stripe(self) -> Any:
        return self.env.stripe_double

    @property
    def cal(self) -> Any:
        return self.env.cal_double


@contextmanager
def local_world(log_level: str = "ERROR") -> Iterator[World]:
    """`log_level`: the handlers' (POWERTOOLS_LOG_LEVEL); bench/cost.py measures the logs at the deployed one."""
    for name in (*REAL_PROVIDER_KEYS, "STRIPE_API_BASE", "CAL_API_BASE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    # The flows flag bookings on purpose: their warnings would only interleave with the tables.
    os.environ["POWERTOOLS_LOG_LEVEL"] = log_level
    env = LocalEnvironment("127.0.0.1", 0).start()
    try:
        for endpoint in env.stripe_double.webhook_endpoints:
            env.stripe_double.remove_webhook_endpoint(endpoint.id)
        env.cal_double.remove_webhook_subscribers()
        # A benchmark sends Cal.com far more requests a minute than a visitor would: its throttle (429s) would
        # be what gets measured.
        env.cal_double.rate_limit_per_minute = sys.maxsize
        # The notifier reads the table's stream on its own thread: its requests would land in whichever step is
        # being counted. Messages are priced on their own (bench/reminders.py).
        env.streams.clear()
        assert env.lam is not None
        yield World(env, ApiClient(env.lam))
    finally:
        env.stop()
