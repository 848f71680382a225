"""The webhook endpoints under attack: random and truncated bodies, missing, random, garbled and wrongly keyed
signatures, stale Stripe timestamps. Always 400 or 401 in our error shape, and nothing written: the DynamoDB
table of the runner (moto, `GET /_local` -> dynamodb) is scanned before and after every request.

The genuine bodies are the functions' example events, pointed at a live booking of this runner, so a request
that slipped through verification would have something real to change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from local.runner import DOUBLE_CAL_WEBHOOK_SECRET, DOUBLE_STRIPE_WEBHOOK_SECRET
from local.spawn import SpawnedRunner
from local.template import ROOT
from tests.fuzz.support import EXAMPLES, OWNER, TALLY, error_shape_problems

STRIPE_TOLERANCE_SECONDS = 300  # stripe_events.SIGNATURE_TOLERANCE_SECONDS: older signatures are replays
TABLE = "booking-deposits-local"  # local.runner.LOCAL_DEFAULTS["TABLE_NAME"]

FUZZ = settings(
    max_examples=EXAMPLES * 2,  # one HTTP request and two table scans per example: cheap, so twice the budget
    derandomize=True,  # the same requests in every run (CI), like the schemathesis seed
    database=None,
    deadline=None,  # never a timing assertion: a slow CI machine is not a failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the world: a live booking, genuine signed events about it, and a view of everything stored -------------


@dataclass(frozen=True)
class World:
    runner: SpawnedRunner
    booking_id: str
    stripe_bodies: dict[str, bytes]  # genuine Stripe events about the live booking, by type
    cal_bodies: dict[str, bytes]  # genuine Cal.com events about the live booking, created now, by trigger
    table: Callable[[], list[str]]  # every item of the table, canonical JSON, sorted

    def owner_view(self) -> Any:
        response = requests.get(f"{self.runner.api}/admin/bookings/{self.booking_id}", headers=OWNER, timeout=30)
        response.raise_for_status()
        return response.json()


def _first_slot(api: str) -> str:
    params: dict[str, Any] = {"service_id": "signature-facial", "days": 14}
    response = requests.get(f"{api}/availability", params=params, timeout=30)
    response.raise_for_status()
    return next(slot["start"] for day in response.json()["days"] for slot in day["slots"])


def _example_bodies(function: str, replace: dict[str, str], created_at: str | None = None) -> dict[str, bytes]:
    """The function's example events (functions/*/events), about our booking instead of the example's."""
    bodies: dict[str, bytes] = {}
    for path in sorted((ROOT / "functions" / function / "events").glob("*.json")):
        body: str = json.loads(path.read_text(encoding="utf-8"))["body"]
        document = json.loads(body)
        payload = document.get("payload") or document.get("data", {}).get("object") or document
        old_booking = (payload.get("metadata") or {}).get("booking_id")
        if old_booking:
            body = body.replace(old_booking, replace["booking_id"])
        if function == "stripe_webhook" and str(payload.get("id", "")).startswith("pi_"):
            body = body.replace(payload["id"], replace["payment_intent_id"])
        if created_at and "createdAt" in document:
            body = body.replace(document["createdAt"], created_at)
        # No trailing newline: a body cut before it would still be the whole, valid event.
        bodies[path.stem] = body.strip().encode()
    return bodies


def _table_scanner(endpoint: str) -> Callable[[], list[str]]:
    # The runner's moto server; dummy credentials as moto expects (never real AWS: the endpoint is loopback).
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def scan() -> list[str]:
        items: list[str] = []
        kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = client.scan(**kwargs)
            items += [json.dumps(item, sort_keys=True) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sorted(items)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return scan


def _build_world(runner: SpawnedRunner, name: str) -> World:
    """A fresh HELD booking of this runner and the example events rewritten to be about it."""
    api = runner.api
    intent = requests.post(
        f"{api}/payments/create-intent",
        json={
            "service_id": "signature-facial",
            "start": _first_slot(api),
            "attendee": {"name": name, "email": "target@example.com", "time_zone": "UTC"},
        },
        timeout=60,
    )
    assert intent.status_code == 201, intent.text
    ids = {"booking_id": intent.json()["booking_id"], "payment_intent_id": intent.json()["payment_intent_id"]}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    built = World(
        runner=runner,
        booking_id=ids["booking_id"],
        stripe_bodies=_example_bodies("stripe_webhook", ids),
        cal_bodies=_example_bodies("cal_webhook", ids, created_at=now),
        table=_table_scanner(runner.info["dynamodb"]),
    )
    assert built.stripe_bodies and built.cal_bodies
    # The hold reaches the stream's readers (the reports count it) within half a second: let that happen before the
    # no-write checks snapshot the table (reading the outbox delivers the stream first).
    requests.get(f"{api}/_local/outbox", timeout=60).raise_for_status()
    return built


@pytest.fixture(scope="module")
def world(local_runner: SpawnedRunner) -> Iterator[World]:
    """The target of the forged requests: nothing may ever change it."""
    built = _build_world(local_runner, "Webhook Target")
    before = built.owner_view()
    yield built
    assert built.owner_view() == before, "a refused webhook changed the owner's view of the booking"


@pytest.fixture(scope="module")
def signed_world(local_runner: SpawnedRunner) -> World:
    """Another booking, for the correctly signed events (they are verified, so they may change it)."""
    return _build_world(local_runner, "Signed Events Target")


# --- signing -----------------------------------------------------------------------------------------------


def stripe_signature(body: bytes, secret: str = DOUBLE_STRIPE_WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def cal_signature(body: bytes, secret: str = DOUBLE_CAL_WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- strategies ----------------------------------------------------------------------------------------------

# What `requests` will put in a header: visible ASCII and inner spaces, no leading whitespace.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.lstrip)
random_bodies = st.binary(max_size=3000)
wrong_secrets = st.text(min_size=1, max_size=64).filter(
    lambda s: s not in (DOUBLE_STRIPE_WEBHOOK_SECRET, DOUBLE_CAL_WEBHOOK_SECRET)
)


def _garble_hex(draw: st.DrawFn, digest: str) -> str:
    """The digest with one hex digit changed (never a case change: Cal.com's check lower-cases)."""
    index = draw(st.integers(0, len(digest) - 1))
    other = draw(st.sampled_from([c for c in "0123456789abcdef" if c != digest[index].lower()]))
    return digest[:index] + other + digest[index + 1 :]


def _truncated(draw: st.DrawFn, body: bytes) -> bytes:
    return body[: draw(st.integers(0, len(body) - 1))]


COMMON_ATTACKS = [
    "random body, random signature",
    "random body, no signature",
    "genuine body, no signature",
    "genuine body, random signature",
    "genuine body, garbled signature",
    "genuine body, signed with a wrong secret",
    "truncated body, the genuine body's signature",
    "truncated body, signed",  # a malformed event, even correctly signed, is refused
]
STRIPE_ONLY_ATTACKS = ["genuine body, another timestamp", "genuine body, stale timestamp"]


def _attack(
    draw: st.DrawFn,
    kind: str,
    body: bytes,
    sign: Callable[..., str],
    garble: Callable[[st.DrawFn, str], str],
) -> tuple[bytes, str | None]:
    """The body and signature header of one attack both providers face; `sign(body, secret=...)` signs now."""
    if kind.startswith("random body"):
        return draw(random_bodies), (draw(header_text) if kind.endswith("random signature") else None)
    if kind == "genuine body, no signature":
        return body, None
    if kind == "genuine body, random signature":
        return body, draw(header_text)
    if kind == "genuine body, garbled signature":
        return body, garble(draw, sign(body))
    if kind == "genuine body, signed with a wrong secret":
        return body, sign(body, secret=draw(wrong_secrets))
    if kind == "truncated body, the genuine body's signature":
        return _truncated(draw, body), sign(body)
    truncated = _truncated(draw, body)
    return truncated, sign(truncated)


def _garble_stripe(draw: st.DrawFn, signature: str) -> str:
    t, digest = signature.split(",v1=")
    return f"{t},v1={_garble_hex(draw, digest)}"


@st.composite
def stripe_attacks(draw: st.DrawFn, genuine: list[bytes]) -> tuple[str, bytes, dict[str, str]]:
    body = draw(st.sampled_from(genuine))
    kind = draw(st.sampled_from(COMMON_ATTACKS + STRIPE_ONLY_ATTACKS))
    signature: str | None
    if kind == "genuine body, another timestamp":
        # A genuine signature moved to another (still recent) time: the timestamp is part of what is signed.
        t, digest = stripe_signature(body).split(",v1=")
        shift = draw(st.integers(1, 200))
        signature = f"t={int(t.removeprefix('t=')) - shift},v1={digest}"
    elif kind == "genuine body, stale timestamp":
        age = draw(st.integers(STRIPE_TOLERANCE_SECONDS + 1, 10 * 365 * 86400))
        signature = stripe_signature(body, timestamp=int(time.time()) - age)
    else:
        body, signature = _attack(draw, kind, body, stripe_signature, _garble_stripe)
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return kind, body, headers


@st.composite
def cal_attacks(draw: st.DrawFn, genuine: list[bytes]) -> tuple[str, bytes, dict[str, str]]:
    kind = draw(st.sampled_from(COMMON_ATTACKS))
    body, signature = _attack(draw, kind, draw(st.sampled_from(genuine)), cal_signature, _garble_hex)
    headers = {"Content-Type": "application/json", "X-Cal-Webhook-Version": "2021-10-20"}
    if signature is not None:
        headers["X-Cal-Signature-256"] = signature
    return kind, body, headers


# --- the properties ------------------------------------------------------------------------------------------


def _assert_refused_and_nothing_written(
    world: World, path: str, attack: tuple[str, bytes, dict[str, str]], statuses: tuple[int, ...]
) -> None:
    kind, body, headers = attack
    event(kind)  # `pytest --hypothesis-show-statistics` shows how often each attack ran
    before = world.table()
    TALLY.add(f"POST {path} (hypothesis)")
    response = requests.post(f"{world.runner.api}{path}", data=body, headers=headers, timeout=60)
    context = f"{kind}: HTTP {response.status_code} {response.text[:300]}"
    assert response.status_code in statuses, context
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    assert not error_shape_problems(response.status_code, answer), context
    # A correctly signed but malformed event is refused as such; everything else fails its signature.
    codes = {"invalid_signature", "invalid_event"} if kind == "truncated body, signed" else {"invalid_signature"}
    assert answer["error"]["code"] in codes, context
    assert world.table() == before, f"{kind}: the table changed"


@FUZZ
@given(data=st.data())
def test_stripe_webhook_refuses_what_stripe_did_not_sign_now_and_writes_nothing(
    world: World, data: st.DataObject
) -> None:
    attack = data.draw(stripe_attacks(list(world.stripe_bodies.values())), label="attack")
    _assert_refused_and_nothing_written(world, "/webhooks/stripe", attack, (400,))


@FUZZ
@given(data=st.data())
def test_cal_webhook_refuses_what_cal_did_not_sign_and_writes_nothing(world: World, data: st.DataObject) -> None:
    attack = data.draw(cal_attacks(list(world.cal_bodies.values())), label="attack")
    # 400 when the signature is missing or the signed body is malformed, 401 when it does not match.
    _assert_refused_and_nothing_written(world, "/webhooks/cal", attack, (400, 401))


# --- correctly signed, malformed events (only Stripe or Cal.com could send them): never a crash -------------


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = _replace(document[head], tuple(rest), value)
    return copy


@st.composite
def malformed_events(draw: st.DrawFn, genuine: list[bytes]) -> bytes:
    """A genuine event with one value (anywhere, the whole event included) replaced by any JSON value."""
    document = json.loads(draw(st.sampled_from(genuine)))
    paths = list(_paths(document))
    # Mostly the top of the event and its object's own fields (what the handlers read), sometimes any leaf.
    shallow = [path for path in paths if len(path) <= (3 if path[:1] == ("data",) else 2)]
    path = draw(st.sampled_from(shallow) | st.sampled_from(paths))
    return json.dumps(_replace(document, path, draw(_json_values()))).encode()


def _post_signed(world: World, path: str, body: bytes) -> requests.Response:
    signature = (
        {"Stripe-Signature": stripe_signature(body)}
        if path == "/webhooks/stripe"
        else {"X-Cal-Signature-256": cal_signature(body)}
    )
    TALLY.add(f"POST {path} (hypothesis, signed)")
    return requests.post(
        f"{world.runner.api}{path}", data=body, headers={"Content-Type": "application/json", **signature}, timeout=60
    )


@settings(FUZZ)
@given(data=st.data())
def test_signed_but_malformed_webhooks_never_crash(signed_world: World, data: st.DataObject) -> None:
    stripe = data.draw(st.booleans(), label="stripe")
    path = "/webhooks/stripe" if stripe else "/webhooks/cal"
    genuine = signed_world.stripe_bodies if stripe else signed_world.cal_bodies
    body = data.draw(malformed_events(list(genuine.values())), label="body")
    response = _post_signed(signed_world, path, body)
    context = f"{path} {body[:400]!r}: HTTP {response.status_code} {response.text[:200]}"
    # 502/503 are answers by design when a provider refuses or is down: made-up events about payments Stripe
    # never saw make refunds fail. A 500 is a crash.
    assert response.status_code < 500 or response.status_code in (502, 503), context
    if response.status_code >= 400:
        assert not error_shape_problems(response.status_code, response.json()), context


@pytest.mark.parametrize(
    ("path", "event"),
    [("/webhooks/stripe", "payment_intent.payment_failed"), ("/webhooks/cal", "BOOKING_CREATED")],
)
def test_the_genuine_events_signed_now_are_accepted_and_stored(
    local_runner: SpawnedRunner, path: str, event: str
) -> None:
    """The control: the bodies the attacks start from are real events, accepted and processed once signed now.

    (Only events that need nothing else from the providers: the examples' charges do not exist here.) About a
    booking of its own: no event is stored to be deduplicated, so only a change of its booking shows an event was
    processed, and the fuzzing's signed events may have moved the signed world's booking where these change nothing.
    """
    signed_world = _build_world(local_runner, "Control Target")
    before = signed_world.table()
    bodies = signed_world.stripe_bodies if path == "/webhooks/stripe" else signed_world.cal_bodies
    document = json.loads(bodies[event])
    # A new event (Stripe's id, Cal.com's createdAt identify it): not a copy of one the fuzzing sent.
    if "createdAt" in document:
        document["createdAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    else:
        document["id"] = f"evt_control_{time.time_ns()}"
    response = _post_signed(signed_world, path, json.dumps(document).encode())
    assert response.status_code == 200, f"{path} {event}: HTTP {response.status_code} {response.text}"
    assert response.json()["received"] is True
    assert signed_world.table() != before, "an accepted event wrote nothing: the no-write checks would prove nothing"
