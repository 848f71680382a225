"""Helpers the tests share: an API client over the handlers, the site's steps, the clock."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import stripe

from local.dev_auth import DevRole, DevSigner
from local.lambda_runtime import LocalLambda

DEFAULT_SERVICE = "signature-facial"
NOTICE_MARGIN = timedelta(hours=2)
ATTENDEE = {"name": "Ada Lovelace", "email": "ada@example.com", "time_zone": "America/New_York"}
# The suite's stand-in for the owners' Cognito user pool: LocalLambda's gateway trusts its key (tests/conftest.py).
DEV_SIGNER = DevSigner.in_memory()
OWNER_EMAIL = "owner@example.com"


def owner_headers(role: DevRole = "owner", email: str = OWNER_EMAIL, **claims: Any) -> dict[str, str]:
    """Authorization of a signed-in owner (or staff, or a user in no group): a Cognito-shaped access token
    signed by the suite's dev key. `claims` replace the token's (None removes one), for refused tokens."""
    return {"Authorization": f"Bearer {DEV_SIGNER.token(role, email, **claims)}"}


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None

    @property
    def error_fields(self) -> set[str]:
        error = (self.body or {}).get("error", {}) if isinstance(self.body, dict) else {}
        return {problem["field"] for problem in error.get("fields") or []}


class ApiClient:
    """Calls the handler entry points with API Gateway HTTP API v2 events (never the logic directly)."""

    def __init__(self, lam: LocalLambda) -> None:
        self.lam = lam

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> ApiResponse:
        headers = {"content-type": "application/json", **(headers or {})}
        body = raw if raw is not None else (json.dumps(json_body) if json_body is not None else None)
        result = self.lam.http(method, path, body=body, headers=headers, query=query)
        text = result.get("body") or ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return ApiResponse(
            int(result["statusCode"]), {k.lower(): v for k, v in (result.get("headers") or {}).items()}, parsed
        )

    def get(self, path: str, **query: Any) -> ApiResponse:
        return self.request("GET", path, query={k: str(v) for k, v in query.items()})

    def post(self, path: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, json_body=body, **kwargs)

    # --- the site's steps -------------------------------------------------------------------------------

    def free_slots(self, service_id: str = DEFAULT_SERVICE, weeks: int = 4) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"service_id": service_id, "days": 7}
        for _ in range(weeks):
            response = self.get("/availability", **query)
            assert response.status == 200, response.body
            # A waitlist service lists its full slots too (seats_left 0): those are not free.
            slots = [slot for day in response.body["days"] for slot in day["slots"] if slot["seats_left"] > 0]
            if slots:
                return slots
            query["start"] = date.fromisoformat(response.body["days"][-1]["date"]) + timedelta(days=1)
        raise AssertionError(f"no free slot for {service_id}")

    def first_slot(self, service_id: str = DEFAULT_SERVICE) -> str:
        """An early free slot, but not one at the edge of the minimum notice: tests move the clock (a hold's
        15 minutes, ...) and must pass whatever the time of day the suite runs at."""
        slots = self.free_slots(service_id)
        earliest = datetime.fromisoformat(slots[0]["start"])
        margin = [slot for slot in slots if datetime.fromisoformat(slot["start"]) >= earliest + NOTICE_MARGIN]
        return (margin or slots)[0]["start"]

    def create_intent(
        self,
        *,
        service_id: str = DEFAULT_SERVICE,
        start: str | None = None,
        payment_type: str = "deposit",
        attendee: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> ApiResponse:
        """`options`: more body fields (currency, promo_code, package, backup_start)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = {
            "service_id": service_id,
            "start": start or self.first_slot(service_id),
            "attendee": attendee or ATTENDEE,
            "payment_type": payment_type,
            **options,
        }
        return self.post("/payments/create-intent", body, headers=headers)

    def paid_booking(self, **kwargs: Any) -> dict[str, Any]:
        intent = self.create_intent(**kwargs)
        assert intent.status == 201, intent.body
        pay(intent.body["payment_intent_id"])
        return intent.body

    def create_token(self, intent: dict[str, Any]) -> ApiResponse:
        return self.post(
            "/bookings/create-token",
            {"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
        )

    def verify(self, token: str) -> ApiResponse:
        return self.post("/bookings/verify", {"token": token})

    def confirmed_booking(self, **kwargs: Any) -> dict[str, Any]:
        intent = self.paid_booking(**kwargs)
        token = self.create_token(intent)
        assert token.status == 201, token.body
        confirmation = self.verify(token.body["token"])
        assert confirmation.status == 200, confirmation.body
        return {**intent, **confirmation.body, "token": token.body["token"]}


def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        os.environ["STRIPE_SECRET_KEY"], base_addresses={"api": os.environ["STRIPE_API_BASE"]}, max_network_retries=0
    )


def pay(payment_intent_id: str, card: str = "pm_card_visa") -> Any:
    """What Stripe.js does in the browser when the client submits the card."""
    return stripe_client().v1.payment_intents.confirm(payment_intent_id, params={"payment_method": card})


def booking(booking_id: str) -> Any:
    from booking.dal.bookings import get_booking

    return get_booking(booking_id)


def unique_key() -> str:
    return str(uuid.uuid4())


class Clock:
    """Moves the product's clock (and the doubles', which share it) without waiting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.offset = timedelta()

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
        self._monkeypatch.setenv("LOCAL_CLOCK_OFFSET_SECONDS", str(self.offset.total_seconds()))


# --- webhooks -------------------------------------------------------------------------------------------


def stripe_event(stripe_double: Any, event_type: str, object_id: str) -> dict[str, Any]:
    """The newest event of `event_type` about `object_id` that the Stripe double recorded."""
    for event in reversed(stripe_double.events):
        if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
            return event
    raise AssertionError(f"no {event_type} event for {object_id}")


def deliver_stripe(
    api: ApiClient, stripe_double: Any, event_id: str, *, secret: str | None = None, timestamp: int | None = None
) -> ApiResponse:
    """POST the event's exact bytes to /webhooks/stripe, signed like Stripe signs them."""
    raw = stripe_double.event_payload(event_id)
    signature = stripe_double.signature_header(raw, secret or os.environ["STRIPE_WEBHOOK_SECRET"], timestamp)
    return api.request("POST", "/webhooks/stripe", raw=raw, headers={"Stripe-Signature": signature})


def deliver_cal(api: ApiClient, cal_double: Any, trigger: str, uid: str, **kwargs: Any) -> ApiResponse:
    """POST a Cal.com webhook about booking `uid`, signed like Cal.com signs it."""
    kwargs.setdefault("secret", os.environ["CAL_WEBHOOK_SECRET"])
    raw, headers = cal_double.build_webhook(trigger, uid, **kwargs)
    return api.request("POST", "/webhooks/cal", raw=raw, headers=headers)


# --- scheduled jobs -------------------------------------------------------------------------------------


def run_job(lam: LocalLambda, logical_id: str) -> dict[str, Any]:
    """Invoke a scheduled function through its entry point with the EventBridge Scheduler payload."""
    from local.lambda_runtime import scheduler_event
    from local.template import functions

    schedule = functions()[logical_id].schedules[0]
    return lam.invoke(logical_id, scheduler_event(schedule.name, schedule.input))


def alerts() -> list[dict[str, str]]:
    from local.aws import published_alerts

    return published_alerts(os.environ["OWNER_ALERTS_TOPIC_ARN"])


class Worker(threading.Thread):
    """One invocation on its own thread (as a second Lambda container would); keeps its result or error."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self.ran = False  # for tests that start it from a hook, once
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._work()
        except BaseException as exc:
            self.error = exc
