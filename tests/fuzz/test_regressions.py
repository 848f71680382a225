"""The smallest request reproducing each bug the fuzzers found (now fixed), against the runner: regressions."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests

from local.runner import DOUBLE_CAL_WEBHOOK_SECRET, DOUBLE_STRIPE_WEBHOOK_SECRET
from local.spawn import SpawnedRunner
from tests.fuzz.support import error_shape_problems

VALID_BODIES: dict[str, dict[str, Any]] = {
    "/payments/create-intent": {
        "service_id": "signature-facial",
        "start": "2030-01-07T17:00:00Z",
        "attendee": {"name": "Ada Lovelace", "email": "ada@example.com", "time_zone": "UTC"},
    },
    "/bookings/create-token": {"booking_id": "bk_0123456789abcdef01234567", "payment_intent_id": "pi_123"},
    "/bookings/verify": {"token": "0123456789abcdef0123"},
}


def assert_client_error_in_our_shape(response: requests.Response) -> None:
    """Below 500, and an error (if it is one) in our shape, a 422 naming its field."""
    assert response.status_code < 500, f"HTTP {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        problems = error_shape_problems(response.status_code, response.json())
        assert not problems, problems


@pytest.mark.parametrize("path", list(VALID_BODIES))
def test_a_body_that_is_not_utf8_is_400_invalid_json(local_runner: SpawnedRunner, path: str) -> None:
    # printf '\xff' | curl -X POST -H 'Content-Type: application/json' --data-binary @- $API/bookings/verify
    response = requests.post(
        f"{local_runner.api}{path}", data=b"\xff", headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 400, f"HTTP {response.status_code} {response.text[:300]}"
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/octet-stream", "multipart/form-data", "application/x-www-form-urlencoded"],
)
@pytest.mark.parametrize("path", list(VALID_BODIES))
def test_a_json_body_sent_as_another_media_type_is_a_4xx(
    local_runner: SpawnedRunner, path: str, content_type: str
) -> None:
    # curl -X POST -H 'Content-Type: text/plain' -d '{"token": "0123456789abcdef0123"}' $API/bookings/verify
    response = requests.post(
        f"{local_runner.api}{path}",
        data=json.dumps(VALID_BODIES[path]),
        headers={"Content-Type": content_type},
        timeout=30,
    )
    assert_client_error_in_our_shape(response)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


# The year 999 answered 502 (a calendar error), the last day of 9999 answered 500.
@pytest.mark.parametrize("start", ["0999-12-25", "9999-12-31"])
def test_availability_at_the_ends_of_the_calendar_is_a_4xx(local_runner: SpawnedRunner, start: str) -> None:
    # curl "$API/availability?service_id=signature-facial&start=0999-12-25"
    response = requests.get(
        f"{local_runner.api}/availability", params={"service_id": "signature-facial", "start": start}, timeout=30
    )
    assert_client_error_in_our_shape(response)


@pytest.mark.parametrize("start", ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00+01:00"])
def test_create_intent_at_the_ends_of_the_calendar_is_not_a_500(local_runner: SpawnedRunner, start: str) -> None:
    # curl -X POST -H 'Content-Type: application/json' $API/payments/create-intent -d '{"service_id":
    #   "signature-facial", "start": "9999-12-31T23:00:00Z", "attendee": {"name": "A", "email": "a@example.com",
    #   "time_zone": "UTC"}}'
    body = VALID_BODIES["/payments/create-intent"] | {"start": start}
    response = requests.post(f"{local_runner.api}/payments/create-intent", json=body, timeout=30)
    assert_client_error_in_our_shape(response)


def _stripe(body: bytes) -> dict[str, str]:
    t = int(time.time())
    digest = hmac.new(DOUBLE_STRIPE_WEBHOOK_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={digest}"}


def _cal(body: bytes) -> dict[str, str]:
    return {"X-Cal-Signature-256": hmac.new(DOUBLE_CAL_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()}


SIGNED_MALFORMED = {
    "stripe: payment_intent without id or status": (
        "/webhooks/stripe",
        b'{"id": "evt_bug_1", "type": "payment_intent.succeeded", "created": 1, "data": {"object": {}}}',
    ),
    "stripe: metadata not an object": (
        "/webhooks/stripe",
        b'{"id": "evt_bug_2", "type": "payment_intent.canceled", "created": 1, "data": {"object": {"metadata": "x"}}}',
    ),
    "cal.com: metadata not an object": (
        "/webhooks/cal",
        b'{"triggerEvent": "BOOKING_CANCELLED", "createdAt": "2026-11-22T00:00:00Z", '
        b'"payload": {"uid": "x", "metadata": "x"}}',
    ),
    "cal.com: createdAt without an offset": (
        "/webhooks/cal",
        b'{"triggerEvent": "BOOKING_CANCELLED", "createdAt": "2026-11-22T00:00:00", "payload": {"uid": "x"}}',
    ),
    "cal.com: JSON nested 100000 deep": ("/webhooks/cal", b"[" * 100_000),
}


@pytest.mark.parametrize("case", list(SIGNED_MALFORMED))
def test_a_signed_but_malformed_webhook_is_a_400(local_runner: SpawnedRunner, case: str) -> None:
    path, body = SIGNED_MALFORMED[case]
    signature = _stripe(body) if path == "/webhooks/stripe" else _cal(body)
    response = requests.post(
        f"{local_runner.api}{path}", data=body, headers={"Content-Type": "application/json", **signature}, timeout=30
    )
    assert_client_error_in_our_shape(response)
