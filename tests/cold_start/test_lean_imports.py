"""What keeps cold starts small stays true: no X-Ray SDK and no Powertools Parameters imported by the API edge, and
one DynamoDB client for every PynamoDB connection (one TLS connection to DynamoDB per container). Timings are measured
by bench/cold_start.py, not here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _fresh_python(code: str) -> str:
    """Run `code` in a new interpreter with the layer (shared/) on its path, as a function imports it."""
    env = os.environ | {"PYTHONPATH": str(ROOT / "shared"), "AWS_REGION": "us-east-1"}
    done = subprocess.run(  # noqa: S603 - our own code, this interpreter
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_api_edge_imports_neither_the_xray_sdk_nor_powertools_parameters() -> None:
    found = _fresh_python(
        "import sys, booking.http\n"
        "print(sorted(name for name in ('aws_xray_sdk', 'aws_lambda_powertools.utilities.parameters', 'stripe')"
        " if name in sys.modules))"
    )
    assert found == "[]"


@pytest.mark.usefixtures("aws")
def test_every_pynamodb_model_shares_one_dynamodb_client() -> None:
    from booking.dal import items

    models = [
        value
        for value in vars(items).values()
        if isinstance(value, type) and issubclass(value, items.Model) and value is not items.Model
    ]
    assert len(models) >= 2
    # As in a new container: connections opened by earlier tests belong to other threads' sessions
    for model in models:
        model._connection = None
    clients = {id(model._get_connection().connection.client) for model in models}
    assert len(clients) == 1


@pytest.mark.usefixtures("aws")
def test_connections_with_other_settings_get_their_own_client() -> None:
    from pynamodb.connection import Connection

    from booking.dal import items

    shared = items.BookingItem._get_connection().connection.client
    elsewhere = Connection(region="eu-west-1").client
    assert elsewhere is not shared
    assert elsewhere is Connection(region="eu-west-1").client
