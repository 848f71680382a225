"""Example events beside each function (`functions/*/events/*.json`), made by really running the flows on
the doubles: API Gateway HTTP API v2 events, webhooks signed with the local runner's secrets.

    python -m local fixtures      # regenerate; `make fixtures`

The committed signatures are correct for the bodies (tests check it). Stripe signatures also carry a time
and expire after 5 minutes, and Cal.com events older than the dedupe window are ignored, so
`python -m local invoke` delivers a webhook fixture as if sent now (see `refresh`).

The API examples name bookings, tokens and slots that exist only where they were made. Invoked as an example
(`python -m local invoke FUNCTION [functions/.../events/x.json]`), `refresh` first makes on the runner what the
example needs, through the real flow (holds, card payments on the Stripe double, tokens, a confirmed booking, a
fresh dev owner token), puts the real ids in the event and says what it made (`Workbench.say`).
A function's examples are taken in file-name order; the first is its default (`examples`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from local.dev_auth import DevSigner
from local.lambda_runtime import LocalLambda, gateway_claim, http_event
from local.runner import DOUBLE_CAL_KEY, DOUBLE_CAL_WEBHOOK_SECRET, DOUBLE_STRIPE_KEY, DOUBLE_STRIPE_WEBHOOK_SECRET
from local.template import ROOT, functions

STRIPE_EVENTS = ROOT / "functions" / "stripe_webhook" / "events"
CAL_EVENTS = ROOT / "functions" / "cal_webhook" / "events"


def _write(path: Path, event: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")


def _example_start() -> datetime:
    """A weekday 14 days ahead, 17:00 UTC (morning at the business): inside the booking window when generated."""
    day = datetime.now(UTC).date() + timedelta(days=14)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 17, tzinfo=UTC)


MANAGE_TOKEN = "example-token-from-the-confirmations-manage-url"  # noqa: S105 - a placeholder, replaced on use


def _api_events() -> None:
    start = _example_start()
    # API Gateway checked the owner's token and passes its claims (every value a string): the function reads those.
    owner = {name: gateway_claim(value) for name, value in DevSigner.in_memory().claims("owner").items()}
    owner_bearer = "Bearer <the owner's Cognito access token>"
    owner_json = {"authorization": owner_bearer, "content-type": "application/json"}
    examples = {
        "catalog_api/events/config.json": http_event("GET", "/config"),
        "catalog_api/events/list_services.json": http_event("GET", "/services"),
        "catalog_api/events/availability.json": http_event(
            "GET",
            "/availability",
            query={"service_id": "signature-facial", "days": "7", "time_zone": "America/New_York"},
        ),
        "create_intent/events/create_intent.json": http_event(
            "POST",
            "/payments/create-intent",
            headers={"content-type": "application/json", "idempotency-key": "3f9a6c1e-demo"},
            body=json.dumps(
                {
                    "service_id": "signature-facial",
                    "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "attendee": {"name": "Ada Lovelace", "email": "ada@example.com", "time_zone": "America/New_York"},
                    "payment_type": "deposit",
                }
            ),
        ),
        "create_token/events/create_token.json": http_event(
            "POST",
            "/bookings/create-token",
            headers={"content-type": "application/json"},
            body=json.dumps({"booking_id": "bk_0123456789abcdef01234567", "payment_intent_id": "pi_example"}),
        ),
        "verify_booking/events/verify.json": http_event(
            "POST",
            "/bookings/verify",
            headers={"content-type": "application/json"},
            body=json.dumps({"token": "example-token-from-verify-url-0123456789"}),
        ),
        "rebook_booking/events/rebook.json": http_event(
            "POST",
            "/bookings/rebook",
            headers={"content-type": "application/json"},
            body=json.dumps(
                {
                    "token": "example-token-from-create-token-0123456789",
                    "start": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ),
        ),
        "pay_balance/events/pay.json": http_event(
            "POST",
            "/bookings/pay",
            headers={"content-type": "application/json"},
            body=json.dumps({"token": "example-token-from-a-pay-link-0123456789"}),
        ),
        # API Gateway checked the token and passes its claims (every value a string): the function reads those.
        "owner_actions/events/refund.json": http_event(
            "POST",
            "/admin/bookings/bk_0123456789abcdef01234567/refund",
            route_key="POST /admin/bookings/{booking_id}/refund",
            headers={
                "authorization": "Bearer <the owner's Cognito access token>",
                "content-type": "application/json",
                "idempotency-key": "refund-late-start-0001",
            },
            body=json.dumps({"amount": 2000, "reason": "the session started 20 minutes late"}),
            jwt_claims=owner,
        ),
        "admin_api/events/list_flagged.json": http_event(
            "GET",
            "/admin/bookings",
            headers={"authorization": "Bearer <the owner's Cognito access token>"},
            query={"flagged": "true"},
            jwt_claims=owner,
        ),
        "catalog_api/events/promo_check.json": http_event(
            "GET", "/promo/WIMD25", route_key="GET /promo/{code}", query={"service_id": "skin-coaching"}
        ),
        "admin_api/events/list_promo_codes.json": http_event(
            "GET", "/admin/promo-codes", headers={"authorization": owner_bearer}, jwt_claims=owner
        ),
        "admin_api/events/list_blocked_dates.json": http_event(
            "GET", "/admin/blocked-dates", headers={"authorization": owner_bearer}, jwt_claims=owner
        ),
        "owner_actions/events/spring_promo_code.json": http_event(
            "POST",
            "/admin/promo-codes",
            headers=owner_json | {"idempotency-key": "promo-spring10-0001"},
            body=json.dumps(
                {
                    "code": "SPRING10",
                    "kind": "percent",
                    "value": 10,
                    "max_uses": 50,
                    "valid_until": "2027-06-01T00:00:00Z",
                }
            ),
            jwt_claims=owner,
        ),
        "owner_actions/events/training_day_block.json": http_event(
            "POST",
            "/admin/blocked-dates",
            headers=owner_json | {"idempotency-key": "block-training-day-0001"},
            body=json.dumps({"date": (start + timedelta(days=7)).date().isoformat(), "reason": "training day"}),
            jwt_claims=owner,
        ),
        "packages_api/events/purchase.json": http_event(
            "POST",
            "/packages/purchase",
            headers={"content-type": "application/json", "idempotency-key": "example-package-purchase-0001"},
            body=json.dumps(
                {
                    "package_id": "coaching-3",
                    "currency": "usd",
                    "buyer": {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Toronto"},
                }
            ),
        ),
        **{
            f"manage_booking/events/{name}.json": http_event(
                "POST", path, headers={"content-type": "application/json"}, body=json.dumps(body)
            )
            for name, path, body in (
                ("manage", "/bookings/manage", {"token": MANAGE_TOKEN}),
                ("manage_cancel", "/bookings/manage/cancel", {"token": MANAGE_TOKEN}),
                (
                    "manage_reschedule",
                    "/bookings/manage/reschedule",
                    {
                        "token": MANAGE_TOKEN,
                        "start": (start + timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                ),
            )
        },
    }
    for relative, event in examples.items():
        _write(ROOT / "functions" / relative, event)


def _stripe_events() -> None:
    import stripe

    from local.stripe_double import StripeDouble

    double = StripeDouble(deliver_webhooks=False)
    client = stripe.StripeClient(DOUBLE_STRIPE_KEY, base_addresses={"api": double.start()}, max_network_retries=0)

    def intent(booking_id: str) -> Any:
        return client.v1.payment_intents.create(
            params={
                "amount": 8250,
                "currency": "usd",
                "metadata": {"booking_id": booking_id, "service_id": "signature-facial", "payment_type": "deposit"},
                "transfer_group": f"booking_{booking_id}",
            }
        )

    paid = intent("bk_0123456789abcdef01234567")
    client.v1.payment_intents.confirm(paid.id, params={"payment_method": "pm_card_visa"})
    declined = intent("bk_1123456789abcdef01234567")
    with contextlib.suppress(stripe.CardError):  # the decline is the point: it emits payment_failed
        client.v1.payment_intents.confirm(declined.id, params={"payment_method": "pm_card_chargeDeclined"})
    abandoned = intent("bk_2123456789abcdef01234567")
    client.v1.payment_intents.cancel(abandoned.id, params={"cancellation_reason": "abandoned"})
    charge = client.v1.payment_intents.retrieve(paid.id).latest_charge
    refund = client.v1.refunds.create(params={"charge": charge, "amount": 4125})
    double.fail_refund(refund.id)  # the bank refused it later: charge.refund.updated, refund.updated, refund.failed
    dispute = double.create_dispute(str(charge))
    double.close_dispute(str(dispute["id"]), "won")
    wanted = {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "charge.refunded",
        "charge.refund.updated",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
    for event in double.events:
        if event["type"] in wanted:
            wanted.discard(event["type"])
            raw = double.event_payload(event["id"])
            headers = {
                "content-type": "application/json; charset=utf-8",
                "stripe-signature": double.signature_header(raw, DOUBLE_STRIPE_WEBHOOK_SECRET),
                "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            }
            _write(
                STRIPE_EVENTS / f"{event['type']}.json",
                http_event("POST", "/webhooks/stripe", body=raw, headers=headers),
            )
    double.stop()


def _cal_events() -> None:
    from local.cal_double import CalDouble, CalEventType

    double = CalDouble(
        {
            3815418: CalEventType(
                id=3815418, slug="signature-facial", title="Signature Facial (60 min)", length_minutes=60
            )
        },
        "America/Los_Angeles",
        send_webhooks=False,
    )
    start = _example_start()
    metadata = {"booking_id": "bk_0123456789abcdef01234567", "payment_intent_id": "pi_example"}
    made = double.take_slot(
        3815418, start, attendee_name="Ada Lovelace", attendee_email="ada@example.com", metadata=metadata
    )
    moved = double.reschedule_booking(made["uid"], start + timedelta(hours=2), by="ada@example.com")
    steps: list[tuple[str, str, Callable[[], Any] | None]] = [
        ("BOOKING_CREATED", made["uid"], None),
        ("BOOKING_RESCHEDULED", moved["uid"], None),
        ("BOOKING_NO_SHOW_UPDATED", moved["uid"], lambda: double.emit_no_show_updated(moved["uid"])),
        ("MEETING_ENDED", moved["uid"], None),
        (
            "BOOKING_CANCELLED",
            moved["uid"],
            lambda: double.cancel_booking(moved["uid"], "cannot make it", "ada@example.com"),
        ),
    ]
    for trigger, uid, happen in steps:
        if happen:
            happen()
        raw, headers = double.build_webhook(trigger, uid, secret=DOUBLE_CAL_WEBHOOK_SECRET)
        _write(CAL_EVENTS / f"{trigger}.json", http_event("POST", "/webhooks/cal", body=raw, headers=headers))
    rejected = double.take_slot(3815418, start + timedelta(days=1), attendee_email="ada@example.com", metadata=metadata)
    double.emit_booking_rejected(rejected["uid"], "fully booked that day")
    raw, headers = double.build_webhook("BOOKING_REJECTED", rejected["uid"], secret=DOUBLE_CAL_WEBHOOK_SECRET)
    _write(CAL_EVENTS / "BOOKING_REJECTED.json", http_event("POST", "/webhooks/cal", body=raw, headers=headers))
    assert DOUBLE_CAL_KEY  # the double accepts any cal_ key; ours is the runner's


NOTIFY_EVENTS = ROOT / "functions" / "send_notifications" / "events"


def _lambda_record(record: dict[str, Any]) -> dict[str, Any]:
    """A stream record as Lambda hands it over: JSON (boto3 gives the creation time as a datetime; Lambda sends
    epoch seconds)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return json.loads(json.dumps(record | {"dynamodb": change}, default=str))


def confirmation_record(booking_id: str) -> dict[str, Any]:
    """The table's stream record of the booking going PAID -> CONFIRMED (both images), as the notifier gets it."""
    from local.streams import StreamPump

    def status(image: dict[str, Any] | None) -> str:
        return str((image or {}).get("status", {}).get("S", ""))

    for record in StreamPump(os.environ["TABLE_NAME"]).records():
        change = record["dynamodb"]
        if (
            change.get("Keys", {}).get("pk", {}).get("S") == f"BOOKING#{booking_id}"
            and status(change.get("OldImage")) == "PAID"
            and status(change.get("NewImage")) == "CONFIRMED"
        ):
            return _lambda_record(record)
    raise ExampleNotPrepared(f"no PAID -> CONFIRMED record of {booking_id} on the table's stream")


def _notification_events() -> None:
    """The notifier's examples: a deposit booking confirmed (its stream record, made by the real flow on a runner
    of this process) and the 5-minute sweep (the schedule's Input)."""
    from local.lambda_runtime import scheduler_event
    from local.runner import LocalEnvironment

    env = LocalEnvironment("127.0.0.1", 0).start()
    try:
        assert env.lam is not None and env.signer is not None
        env.streams.clear()  # the example is the record itself, not what the runner's mapping made of it
        bench = Workbench(env.lam, env.signer, say=lambda line: None)
        held = bench.hold(DEPOSIT_SERVICE)
        bench.pay(held)
        bench.confirmed(held)
        _write(NOTIFY_EVENTS / "booking_confirmed.json", {"Records": [confirmation_record(held["booking_id"])]})
    finally:
        env.stop()
    (schedule,) = functions()["NotificationsFunction"].schedules
    _write(NOTIFY_EVENTS / "sweep.json", scheduler_event(schedule.name, schedule.input))


def generate() -> int:
    _api_events()
    _stripe_events()
    _cal_events()
    _notification_events()
    return 0


def examples(logical_id: str) -> list[Path]:
    """The function's example events (`functions/<CodeUri>/events/*.json`) in file-name order: the first is its
    default for `python -m local invoke FUNCTION`."""
    return sorted((functions()[logical_id].code_uri / "events").glob("*.json"))


class ExampleNotPrepared(RuntimeError):
    """What an example needs could not be made on this runner (a step of the flow refused, or a real provider)."""


@dataclass
class Workbench:
    """Where an example is prepared: the runner's functions (real handlers, behind the gateway's JWT check), the
    dev signer its gateway trusts, the providers in the environment (STRIPE_*/CAL_API_BASE), and a voice."""

    lam: LocalLambda
    signer: DevSigner
    say: Callable[[str], None] = print
    said: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.said.append(line)
        self.say(line)

    def owner_claims(self) -> tuple[str, dict[str, str]]:
        """A fresh owner access token and its claims as API Gateway passes them to the function."""
        claims = self.signer.claims("owner")
        return self.signer.sign(claims), {name: gateway_claim(value) for name, value in claims.items()}

    def call(
        self, method: str, path: str, body: Any = None, *, owner: bool = False, query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One API request through the runner's gateway and handler: (status, JSON body)."""
        headers = {"content-type": "application/json", "idempotency-key": str(uuid.uuid4())}
        if owner:
            headers["authorization"] = f"Bearer {self.owner_claims()[0]}"
        result = self.lam.http(
            method, path, body=json.dumps(body) if body is not None else None, headers=headers, query=query
        )
        text = result.get("body") or ""
        return int(result["statusCode"]), json.loads(text) if text else None

    def expect(self, wanted: int, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The call's body when it answers `wanted`; a confirmation still running elsewhere (a webhook's) is
        waited for, as the site would on its 503 + Retry-After."""
        status, answer = self.call(method, path, body, **kwargs)
        for _ in range(40):
            if status != 503:
                break
            time.sleep(0.25)
            status, answer = self.call(method, path, body, **kwargs)
        if status != wanted:
            raise ExampleNotPrepared(f"{method} {path} answered {status}, not {wanted}: {json.dumps(answer)[:400]}")
        return answer

    # --- the flow's steps -----------------------------------------------------------------------------------

    def bookable_slots(self, service_id: str) -> list[str]:
        query = {"service_id": service_id, "days": "7"}
        for _ in range(6):
            week = self.expect(200, "GET", "/availability", query=query)
            slots = [slot["start"] for day in week["days"] for slot in day["slots"]]
            if slots:
                return slots
            query["start"] = (date.fromisoformat(week["days"][-1]["date"]) + timedelta(days=1)).isoformat()
        raise ExampleNotPrepared(f"no bookable slot of {service_id} in the next six weeks")

    def hold(self, service_id: str, name: str = "Ada Lovelace") -> dict[str, Any]:
        start = self.bookable_slots(service_id)[0]
        email = f"{name.split()[0].lower()}@example.com"
        attendee = {"name": name, "email": email, "time_zone": "America/New_York"}
        body = {"service_id": service_id, "start": start, "attendee": attendee, "payment_type": "deposit"}
        held = self.expect(201, "POST", "/payments/create-intent", body)
        self.note(f"  held {service_id} at {start}: booking {held['booking_id']}, {held['payment_intent_id']}")
        return {**held, "start": start}

    def pay(self, held: dict[str, Any], card: str = "pm_card_visa") -> None:
        """What Stripe.js does when the client submits the card; 3-D Secure passed as on Stripe's test page."""
        import stripe

        client = stripe.StripeClient(
            os.environ["STRIPE_SECRET_KEY"],
            base_addresses={"api": os.environ["STRIPE_API_BASE"]},
            max_network_retries=0,
        )
        intent = client.v1.payment_intents.confirm(held["payment_intent_id"], params={"payment_method": card})
        if intent.status == "requires_action":
            self._double("STRIPE_API_BASE", f"/_double/payment_intents/{intent.id}/succeed", {})
            intent = client.v1.payment_intents.retrieve(intent.id)
        if intent.status != "succeeded":
            raise ExampleNotPrepared(f"the card payment of {intent.id} is {intent.status}")
        self.note(f"  paid {intent.amount} {intent.currency} on {intent.id} with {card}")

    def token(self, held: dict[str, Any]) -> str:
        body = {"booking_id": held["booking_id"], "payment_intent_id": held["payment_intent_id"]}
        token = str(self.expect(201, "POST", "/bookings/create-token", body)["token"])
        self.note(f"  booking token for {held['booking_id']} (create-token)")
        return token

    def confirmed(self, held: dict[str, Any]) -> str:
        """Verify the paid booking (Cal.com books it); its token."""
        token = self.token(held)
        confirmation = self.expect(200, "POST", "/bookings/verify", {"token": token})
        self.note(f"  confirmed {held['booking_id']}: Cal.com uid {confirmation['cal_booking_uid']}")
        return token

    def take_in_cal(self, service_id: str, start: str) -> None:
        """Someone books the same time directly in Cal.com (the Cal.com double's control)."""
        from booking.domain.catalog import get_catalog

        event_type = next(s.cal_event_type_id for s in get_catalog().services if s.id == service_id)
        body = {"eventTypeId": event_type, "start": start, "emitWebhook": False}
        self._double("CAL_API_BASE", "/_double/take-slot", body)
        self.note(f"  someone else took {start} directly in Cal.com")

    @staticmethod
    def _double(base_variable: str, path: str, body: dict[str, Any]) -> None:
        response = requests.post(f"{os.environ[base_variable]}{path}", json=body, timeout=10)
        if response.status_code == 404:
            raise ExampleNotPrepared(f"{path} is a test control of the local double: not with a real provider")
        response.raise_for_status()


DEPOSIT_SERVICE = "signature-facial"  # the catalog's 50 % deposit example


def _body(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event.get("body") or "{}")


def _with_body(event: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return event | {"body": json.dumps(body), "isBase64Encoded": False}


def _prepare_create_intent(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    body = _body(event)
    service_id = str(body.get("service_id") or DEPOSIT_SERVICE)
    body["start"] = bench.bookable_slots(service_id)[0]
    key = str(uuid.uuid4())
    bench.note(f"  start {body['start']}: the first bookable slot of {service_id}; Idempotency-Key {key}")
    headers = dict(event.get("headers") or {}) | {"idempotency-key": key}
    return _with_body(event, body) | {"headers": headers}


def _prepare_create_token(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    held = bench.hold(DEPOSIT_SERVICE)
    bench.pay(held)
    return _with_body(event, {"booking_id": held["booking_id"], "payment_intent_id": held["payment_intent_id"]})


def _prepare_verify(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    held = bench.hold(DEPOSIT_SERVICE)
    bench.pay(held)
    return _with_body(event, {"token": bench.token(held)})


def _prepare_pay(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    """A pay link: the balance of a confirmed deposit booking whose saved card asks for 3-D Secure every time."""
    held = bench.hold(DEPOSIT_SERVICE)
    bench.pay(held, "pm_card_authenticationRequired")
    bench.confirmed(held)
    answer = bench.expect(
        200, "POST", f"/admin/bookings/{held['booking_id']}/collect-balance", {"method": "card_on_file"}, owner=True
    )
    pay_url = (answer.get("collection") or {}).get("pay_url")
    if not pay_url:
        raise ExampleNotPrepared(f"collect-balance gave no pay link: {json.dumps(answer)[:400]}")
    bench.note(f"  the owner collected the balance; the card needs the client: pay link {pay_url}")
    return _with_body(event, {"token": pay_url.split("token=", 1)[1]})


def _prepare_rebook(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    """A paid booking whose slot someone took in Cal.com meanwhile, of a service with a rebook window."""
    from booking.domain.catalog import get_catalog

    service_id = next(s.id for s in get_catalog().services if s.rebook_window_hours > 0)
    held = bench.hold(service_id)
    bench.take_in_cal(service_id, held["start"])
    bench.pay(held)
    status, answer = bench.call(
        "POST",
        "/bookings/create-token",
        {"booking_id": held["booking_id"], "payment_intent_id": held["payment_intent_id"]},
    )
    # The slot is found lost by create-token (its 409 carries a token) or by verify, whichever comes first.
    token = answer["token"] if status == 201 else (answer or {}).get("error", {}).get("token")
    if not token:
        raise ExampleNotPrepared(f"create-token answered {status}: {json.dumps(answer)[:400]}")
    if status == 201:
        bench.expect(409, "POST", "/bookings/verify", {"token": token})
    bench.note(f"  {held['booking_id']} lost its slot: it may pick another time (token from create-token)")
    lost = {held["start"]}
    start = next(slot for slot in bench.bookable_slots(service_id) if slot not in lost)
    bench.note(f"  another start: {start}")
    return _with_body(event, {"token": token, "start": start})


def _prepare_manage(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    """A confirmed booking's manage link (the verify answer's manage_url); a reschedule asks for another start."""
    from urllib.parse import parse_qs, urlsplit

    held = bench.hold(DEPOSIT_SERVICE)
    bench.pay(held)
    confirmation = bench.expect(200, "POST", "/bookings/verify", {"token": bench.token(held)})
    manage_url = confirmation.get("manage_url")
    if not manage_url:
        raise ExampleNotPrepared(f"verify gave no manage link: {json.dumps(confirmation)[:400]}")
    bench.note(f"  confirmed {held['booking_id']}; its manage link {manage_url}")
    body = {"token": parse_qs(urlsplit(manage_url).query)["token"][0]}
    if "start" in _body(event):
        body["start"] = next(slot for slot in bench.bookable_slots(DEPOSIT_SERVICE) if slot != held["start"])
        bench.note(f"  another start: {body['start']}")
    return _with_body(event, body)


def _prepare_owner(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    """An owner route: a fresh dev owner token (as API Gateway passes its claims); a confirmed booking for a
    route about one booking, and a fresh Idempotency-Key for an action."""
    route_key = str(event.get("routeKey", ""))
    headers = dict(event.get("headers") or {})
    path = str(event.get("rawPath", ""))
    if "{booking_id}" in route_key:
        held = bench.hold(DEPOSIT_SERVICE, "Grace Hopper")
        bench.pay(held)
        bench.confirmed(held)
        rest = path.split("/")[4:]  # what follows /admin/bookings/{booking_id}
        path = "/".join(["", "admin", "bookings", held["booking_id"], *rest])
        headers["idempotency-key"] = str(uuid.uuid4())
    if route_key == "POST /admin/blocked-dates":
        # A day far ahead (inside the booking window, past every demo's bookings), blocked once per run
        day = (datetime.now(UTC).date() + timedelta(days=300)).isoformat()
        event = _with_body(event, _body(event) | {"date": day})
        headers["idempotency-key"] = str(uuid.uuid4())
    token, claims = bench.owner_claims()
    headers["authorization"] = f"Bearer {token}"
    bench.note(f"  a fresh dev owner token ({claims['username']}, local/dev_auth.py)")
    context = dict(event["requestContext"])
    context["http"] = dict(context["http"]) | {"path": path}
    context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event | {"rawPath": path, "headers": headers, "requestContext": context}


def _is_booking_stream_event(event: dict[str, Any]) -> bool:
    records = event.get("Records") or []
    return bool(records) and all(
        record.get("eventSource") == "aws:dynamodb"
        and record.get("dynamodb", {}).get("Keys", {}).get("sk", {}).get("S") == "BOOKING"
        for record in records
    )


def _prepare_booking_stream(event: dict[str, Any], bench: Workbench) -> dict[str, Any]:
    """A deposit booking confirmed through the real flow; its PAID -> CONFIRMED record from the table's stream.
    A runner's own stream mapping delivers that record too (within half a second): whichever comes first sends
    the confirmation, the other finds its once-only record and sends nothing (`skipped` in the report)."""
    held = bench.hold(DEPOSIT_SERVICE)
    bench.pay(held)
    bench.confirmed(held)
    record = confirmation_record(held["booking_id"])
    bench.note(f"  its stream record PAID -> CONFIRMED ({record['dynamodb'].get('SequenceNumber')})")
    bench.note("  (the runner's stream mapping delivers it too: one of the two sends, the other is skipped)")
    return event | {"Records": [record]}


PREPARE: dict[str, Callable[[dict[str, Any], Workbench], dict[str, Any]]] = {
    "POST /payments/create-intent": _prepare_create_intent,
    "POST /bookings/create-token": _prepare_create_token,
    "POST /bookings/verify": _prepare_verify,
    "POST /bookings/pay": _prepare_pay,
    "POST /bookings/rebook": _prepare_rebook,
    "POST /bookings/manage": _prepare_manage,
    "POST /bookings/manage/cancel": _prepare_manage,
    "POST /bookings/manage/reschedule": _prepare_manage,
}


def refresh(event: dict[str, Any], bench: Workbench | None = None) -> dict[str, Any]:
    """An example event made good for now: with a `bench`, what it refers to is first made on that runner (see
    the module docstring); then a webhook is signed as if delivered now, with the local runner's secrets.

    Stripe signatures expire after 5 minutes (sign again, as `stripe trigger` would); a Cal.com event older
    than the dedupe window is ignored by design (give it a fresh createdAt, then sign the new body).
    """
    import base64
    import hashlib
    import hmac

    from local.stripe_double import StripeDouble

    if bench is not None:
        route_key = str(event.get("routeKey", ""))
        authorized = "authorizer" in (event.get("requestContext") or {})
        prepare = _prepare_owner if authorized else PREPARE.get(route_key)
        if _is_booking_stream_event(event):
            route_key, prepare = "a booking's stream record", _prepare_booking_stream
        if prepare is not None:
            bench.note(f"Preparing {route_key} on this runner:")
            event = prepare(event, bench)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    if "stripe-signature" in headers:
        headers["stripe-signature"] = StripeDouble.signature_header(raw, DOUBLE_STRIPE_WEBHOOK_SECRET)
    elif "x-cal-signature-256" in headers:
        document = json.loads(raw)
        document["createdAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        raw = json.dumps(document, separators=(",", ":")).encode()
        headers["x-cal-signature-256"] = hmac.new(DOUBLE_CAL_WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    else:
        return event
    return event | {"headers": headers, "body": raw.decode(), "isBase64Encoded": False}
