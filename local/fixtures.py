"""Example events beside each function (`functions/*/events/*.json`), made by really running the flows on
the doubles: API Gateway HTTP API v2 events, webhooks signed with the local runner's secrets.

    python -m local fixtures      # regenerate; `make fixtures`

The committed signatures are correct for the bodies (tests check it). Stripe signatures also carry a time
and expire after 5 minutes, and Cal.com events older than the dedupe window are ignored, so
`python -m local invoke` delivers a webhook fixture as if sent now (see `refresh`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.dev_auth import DevSigner
from local.lambda_runtime import gateway_claim, http_event
from local.runner import DOUBLE_CAL_KEY, DOUBLE_CAL_WEBHOOK_SECRET, DOUBLE_STRIPE_KEY, DOUBLE_STRIPE_WEBHOOK_SECRET
from local.template import ROOT

STRIPE_EVENTS = ROOT / "functions" / "stripe_webhook" / "events"
CAL_EVENTS = ROOT / "functions" / "cal_webhook" / "events"


def _write(path: Path, event: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")


def _api_events() -> None:
    examples = {
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
                    "start": "2030-01-07T17:00:00Z",
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
            jwt_claims={name: gateway_claim(value) for name, value in DevSigner.in_memory().claims("owner").items()},
        ),
        "admin_api/events/list_flagged.json": http_event(
            "GET",
            "/admin/bookings",
            headers={"authorization": "Bearer <the owner's Cognito access token>"},
            query={"flagged": "true"},
            jwt_claims={name: gateway_claim(value) for name, value in DevSigner.in_memory().claims("owner").items()},
        ),
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
    day = datetime.now(UTC).date() + timedelta(days=14)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 17, tzinfo=UTC)
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


def generate() -> int:
    _api_events()
    _stripe_events()
    _cal_events()
    return 0


def refresh(event: dict[str, Any]) -> dict[str, Any]:
    """A webhook fixture as if delivered now, signed with the local runner's secrets.

    Stripe signatures expire after 5 minutes (sign again, as `stripe trigger` would); a Cal.com event older
    than the dedupe window is ignored by design (give it a fresh createdAt, then sign the new body).
    """
    import base64
    import hashlib
    import hmac

    from local.stripe_double import StripeDouble

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
