"""The example events beside each function: one per handled webhook type, correctly signed, and served."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from booking.webhooks.cal_events import HANDLERS as CAL_HANDLERS
from booking.webhooks.stripe_events import HANDLERS as STRIPE_HANDLERS
from local.fixtures import CAL_EVENTS, STRIPE_EVENTS, Workbench, examples, refresh
from local.lambda_runtime import LocalLambda
from local.runner import DOUBLE_CAL_WEBHOOK_SECRET, DOUBLE_STRIPE_WEBHOOK_SECRET
from local.template import ROOT, functions
from tests.support import DEV_SIGNER


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _raw(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def test_every_handled_webhook_type_has_a_fixture() -> None:
    assert {p.stem for p in STRIPE_EVENTS.glob("*.json")} == set(STRIPE_HANDLERS)
    assert {p.stem for p in CAL_EVENTS.glob("*.json")} == set(CAL_HANDLERS)


@pytest.mark.parametrize("path", sorted(STRIPE_EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_stripe_fixture_is_signed_for_its_exact_body(path: Path) -> None:
    event = _load(path)
    raw = _raw(event)
    parts = dict(item.split("=", 1) for item in event["headers"]["stripe-signature"].split(","))
    expected = hmac.new(DOUBLE_STRIPE_WEBHOOK_SECRET.encode(), f"{parts['t']}.{raw.decode()}".encode(), hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())
    assert json.loads(raw)["type"] == path.stem


@pytest.mark.parametrize("path", sorted(CAL_EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_cal_fixture_is_signed_for_its_exact_body(path: Path) -> None:
    event = _load(path)
    raw = _raw(event)
    expected = hmac.new(DOUBLE_CAL_WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(event["headers"]["x-cal-signature-256"], expected)
    assert json.loads(raw)["triggerEvent"] == path.stem


def _fixtures() -> list[tuple[str, Path]]:
    """The HTTP API examples (the notifier's, a stream record and a schedule's Input, are tested below)."""
    return [
        (logical_id, path) for logical_id in functions() for path in examples(logical_id) if "rawPath" in _load(path)
    ]


@pytest.mark.parametrize(("logical_id", "path"), _fixtures(), ids=lambda v: getattr(v, "name", v))
def test_fixture_is_an_http_api_event_its_function_serves(
    lam: LocalLambda, logical_id: str, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the local runner's secrets (the fixtures are signed with them)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", DOUBLE_STRIPE_WEBHOOK_SECRET)
    monkeypatch.setenv("CAL_WEBHOOK_SECRET", DOUBLE_CAL_WEBHOOK_SECRET)
    # And what the example refers to, made in this empty world through the real flow, as `make invoke` does
    said: list[str] = []
    event = refresh(_load(path), Workbench(lam, DEV_SIGNER, say=said.append))
    assert event["version"] == "2.0"
    route = lam.route(event["requestContext"]["http"]["method"], event["rawPath"])
    assert route is not None and route[:2] == (logical_id, event["routeKey"])
    # When it is invoked like `sam local invoke` / `python -m local invoke` would
    result = lam.invoke(logical_id, event)
    # Then the function succeeds, in our JSON shape
    assert 200 <= result["statusCode"] < 300, (result, said)
    body = json.loads(result["body"])
    assert isinstance(body, dict)
    if "/webhooks/" in event["rawPath"]:
        assert result["statusCode"] == 200 and body["received"] is True


def test_examples_are_taken_in_file_name_order() -> None:
    stripe = [path.name for path in examples("StripeWebhookFunction")]
    assert stripe == sorted(stripe) and stripe[0] == "charge.dispute.closed.json"
    assert examples("ExpireHoldsFunction") == []


def test_api_examples_ask_for_a_time_inside_the_booking_window() -> None:
    from datetime import UTC, datetime, timedelta

    for relative in ("create_intent/events/create_intent.json", "rebook_booking/events/rebook.json"):
        start = datetime.fromisoformat(json.loads(_load(ROOT / "functions" / relative)["body"])["start"])
        assert start - datetime.now(UTC) < timedelta(days=365), relative


def test_fixture_folders_sit_beside_their_functions() -> None:
    assert STRIPE_EVENTS.parent.name == "stripe_webhook" and CAL_EVENTS.parent.name == "cal_webhook"
    assert (ROOT / "functions" / "stripe_webhook" / "app.py").exists()


def test_the_notifiers_examples_confirm_a_booking_from_its_stream_record_and_run_the_sweep(
    lam: LocalLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from booking.settings import get_settings

    # Given our emails on (a verified From address in moto's SES), as the local runner has them
    boto3.client("sesv2").create_email_identity(EmailIdentity="bookings@studio.example")
    monkeypatch.setenv("NOTIFY_FROM_EMAIL", "bookings@studio.example")
    get_settings.cache_clear()
    confirmed, sweep = examples("NotificationsFunction")
    assert (confirmed.name, sweep.name) == ("booking_confirmed.json", "sweep.json")  # the stream record first
    # When the stream example is prepared as `make invoke` does (a booking confirmed through the real flow)
    said: list[str] = []
    event = refresh(_load(confirmed), Workbench(lam, DEV_SIGNER, say=said.append))
    (record,) = event["Records"]
    assert record["dynamodb"]["OldImage"]["status"]["S"] == "PAID"
    assert record["dynamodb"]["NewImage"]["status"]["S"] == "CONFIRMED"
    result = lam.invoke("NotificationsFunction", event)
    # Then its confirmation is planned and sent, once (a replay sends nothing more), and the sweep runs
    assert result["batchItemFailures"] == [] and result["report"]["sent"] == 1, (result, said)
    again = lam.invoke("NotificationsFunction", event)
    assert again["report"]["sent"] == 0 and again["report"]["skipped"] >= 1
    assert _load(sweep) == json.loads(functions()["NotificationsFunction"].schedules[0].input or "{}")
    assert lam.invoke("NotificationsFunction", _load(sweep))["failed"] == 0
    get_settings.cache_clear()
