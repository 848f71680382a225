"""Stripe-Signature checked by an HMAC as Stripe documents it (no `import stripe`): `t` and each `v1` of the header,
HMAC-SHA256 of `{t}.{raw body}` with the endpoint's secret, compared in constant time, 300 s of tolerance.
Anything else answers 400 `invalid_signature` and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local.stripe_double import StripeDouble
from tests.integration.helpers import scan_table
from tests.support import ApiClient

ROOT = Path(__file__).resolve().parents[2]


def event_body(event_type: str = "customer.created") -> bytes:
    """A Stripe event of a type we do not handle: what is tested is the signature alone."""
    event = {"id": f"evt_lean_{time.time_ns()}", "object": "event", "type": event_type, "created": int(time.time())}
    return json.dumps(event | {"data": {"object": {"id": "cus_lean", "object": "customer"}}}).encode()


def signed(raw: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    return StripeDouble.signature_header(raw, secret or os.environ["STRIPE_WEBHOOK_SECRET"], timestamp)


def digest_of(signature: str) -> str:
    return signature.split(",v1=")[1]


def post(api: ApiClient, raw: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"} | ({"Stripe-Signature": signature} if signature is not None else {})
    return api.request("POST", "/webhooks/stripe", raw=raw, headers=headers)


def refused(response: Any) -> bool:
    return response.status == 400 and response.error_code == "invalid_signature"


def test_a_correctly_signed_event_is_accepted(api: ApiClient) -> None:
    raw = event_body()
    response = post(api, raw, signed(raw))
    assert response.status == 200, response.body
    assert response.body["outcome"] == "ignored" and response.body["event_id"] == json.loads(raw)["id"]


@pytest.mark.parametrize(
    "case",
    ["another secret", "another body", "missing header", "empty header", "no timestamp", "timestamp not a number"],
)
def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_written(api: ApiClient, case: str) -> None:
    raw = event_body()
    before = scan_table()
    good = signed(raw)
    signature: str | None = {
        "another secret": signed(raw, secret="whsec_someone_else"),
        "another body": signed(raw.replace(b"customer.created", b"customer.updated")),
        "missing header": None,
        "empty header": "",
        "no timestamp": f"v1={digest_of(good)}",
        "timestamp not a number": f"t=1e9,v1={digest_of(good)}",
    }[case]
    response = post(api, raw, signature)
    assert refused(response), response.body
    if case in ("missing header", "empty header"):
        assert "Missing Stripe-Signature" in response.body["error"]["message"]
    assert scan_table() == before


@pytest.mark.parametrize(("age", "accepted"), [(299, True), (301, False), (-301, False), (3600 * 24, False)])
def test_the_timestamp_must_be_within_300_seconds_of_now(api: ApiClient, age: int, accepted: bool) -> None:
    # A genuine signature made `age` seconds ago (negative: ahead of our clock): a replay once it is too old
    raw = event_body()
    response = post(api, raw, signed(raw, timestamp=int(time.time()) - age))
    assert (response.status == 200) if accepted else refused(response), response.body


def test_any_of_several_v1_signatures_may_match(api: ApiClient) -> None:
    # While the endpoint's secret is rolled, Stripe signs with both: one v1 per secret (and v0 ones we ignore)
    raw = event_body()
    now = int(time.time())
    ours = digest_of(signed(raw, timestamp=now))
    old = digest_of(signed(raw, secret="whsec_rolled_away", timestamp=now))
    assert post(api, raw, f"t={now},v1={old},v1={ours}").status == 200
    assert post(api, raw, f"t={now},v0={old},v1={ours},v1={old}").status == 200
    assert refused(post(api, raw, f"t={now},v1={old},v1={old[::-1]}"))
    assert refused(post(api, raw, f"t={now},v0={ours}"))  # only the v1 scheme counts


def test_checking_a_signature_does_not_import_stripe() -> None:
    # The function's module and the check alone (a fresh interpreter): `import stripe` is left to the API calls
    raw = event_body()
    signature = signed(raw)
    script = (
        "import sys, app\n"
        "from booking.webhooks import stripe_events\n"
        f"event = stripe_events.verify({raw!r}, {signature!r})\n"
        "print(event.id, 'stripe' in sys.modules)\n"
    )
    paths = os.pathsep.join([str(ROOT / "shared"), str(ROOT / "functions" / "stripe_webhook"), str(ROOT)])
    done = subprocess.run(  # noqa: S603  # this interpreter, a script of ours
        [sys.executable, "-c", script],
        env=os.environ | {"PYTHONPATH": paths},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [json.loads(raw)["id"], "False"]
