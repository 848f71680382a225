"""The owner's alerts as items: an orphan payment (money with no booking of ours) and every other alert is
recorded once per cause, sent to the owner's topic once, and listed newest first by GET /admin/alerts."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from local.dev_auth import DevRole
from local.stripe_double import StripeDouble
from tests.integration.helpers import items_with_prefix
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    alerts,
    deliver_stripe,
    owner_headers,
    stripe_client,
    stripe_event,
)


def listing(api: ApiClient, role: DevRole = "owner", **query: Any) -> ApiResponse:
    query_text = {name: str(value) for name, value in query.items()}
    return api.request("GET", "/admin/alerts", query=query_text, headers=owner_headers(role))


def stranger_payment(stripe_double: StripeDouble, amount: int, metadata: dict[str, str] | None = None) -> str:
    """A PaymentIntent made on the business's Stripe account by something other than this product, paid."""
    intent = stripe_client().v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "metadata": metadata or {}, "payment_method_types": ["card"]}
    )
    stripe_client().v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    return str(intent.id)


def succeeded(api: ApiClient, stripe_double: StripeDouble, payment_intent_id: str) -> ApiResponse:
    event = stripe_event(stripe_double, "payment_intent.succeeded", payment_intent_id)
    response = deliver_stripe(api, stripe_double, event["id"])
    assert response.status == 200, response.body
    return response


def resend_as_new_event(api: ApiClient, stripe_double: StripeDouble, payment_intent_id: str) -> ApiResponse:
    """Stripe sending another event about the same PaymentIntent (a new event id: not a copy of the first)."""
    original = stripe_event(stripe_double, "payment_intent.succeeded", payment_intent_id)
    event = json.loads(stripe_double.event_payload(original["id"]))
    event["id"] = event["id"] + "_again"
    raw = json.dumps(event).encode()
    signature = stripe_double.signature_header(raw, os.environ["STRIPE_WEBHOOK_SECRET"])
    return api.request("POST", "/webhooks/stripe", raw=raw, headers={"Stripe-Signature": signature})


def test_an_orphan_payment_is_listed_for_the_owner_and_sent_once(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a payment on the account that no booking of ours made (no booking_id in its metadata)
    orphan = stranger_payment(stripe_double, 4200)
    # When its payment_intent.succeeded webhook arrives, and Stripe sends another event about it
    first = succeeded(api, stripe_double, orphan)
    again = resend_as_new_event(api, stripe_double, orphan)
    # Then the owner's alerts list it once, with the money and the PaymentIntent, and the topic got one e-mail
    assert first.body["outcome"].startswith("orphan payment"), first.body
    assert again.status == 200, again.body
    response = listing(api)
    assert response.status == 200, response.body
    [alert] = response.body["alerts"]
    assert (alert["code"], alert["payment_intent_id"], alert["amount"], alert["currency"]) == (
        "orphan_payment",
        orphan,
        4200,
        "usd",
    )
    assert alert["booking_id"] is None
    assert orphan in alert["subject"] and "no booking of ours" in alert["message"]
    assert response.body["next_cursor"] is None
    assert len([sent for sent in alerts() if orphan in sent["subject"]]) == 1


def test_a_payment_naming_a_booking_we_do_not_have_is_an_orphan_too(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    unknown = "bk_" + "0" * 24
    orphan = stranger_payment(stripe_double, 8250, {"booking_id": unknown, "payment_type": "deposit"})
    succeeded(api, stripe_double, orphan)
    [alert] = listing(api).body["alerts"]
    assert (alert["code"], alert["payment_intent_id"]) == ("orphan_payment", orphan)
    assert unknown in alert["message"]


def test_alert_items_are_deduplicated_by_cause_and_expire_after_90_days(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    orphan = stranger_payment(stripe_double, 1000)
    succeeded(api, stripe_double, orphan)
    resend_as_new_event(api, stripe_double, orphan)
    [item] = items_with_prefix("ALERT#")
    raised = listing(api).body["alerts"][0]["at"]
    lifetime = int(item["expires_ttl"]["N"]) - datetime.fromisoformat(raised).timestamp()
    assert 89 * 86400 < lifetime <= 90 * 86400


def test_a_flag_raised_on_a_booking_is_an_alert_naming_it(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock
) -> None:
    # Given a confirmed booking whose payment is disputed
    booking = api.confirmed_booking()
    charge = stripe_client().v1.payment_intents.retrieve(booking["payment_intent_id"]).latest_charge
    dispute = stripe_double.create_dispute(str(charge))
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"])
    # Then the owner's alerts name the booking and the case
    [alert] = listing(api).body["alerts"]
    assert (alert["code"], alert["booking_id"]) == ("disputed", booking["booking_id"])
    assert alert["cause"].startswith(f"flag:{booking['booking_id']}:disputed:")


def test_alerts_are_listed_newest_first_a_page_at_a_time(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock
) -> None:
    # Given three orphan payments, a minute apart
    orphans = []
    for amount in (1000, 2000, 3000):
        orphans.append(stranger_payment(stripe_double, amount))
        succeeded(api, stripe_double, orphans[-1])
        clock.advance(minutes=1)
    # When the owner pages two at a time
    first = listing(api, limit=2)
    second = listing(api, limit=2, cursor=first.body["next_cursor"])
    # Then the newest comes first and the second page ends the list
    assert [a["payment_intent_id"] for a in first.body["alerts"]] == orphans[:0:-1]
    assert [a["payment_intent_id"] for a in second.body["alerts"]] == orphans[:1]
    assert second.body["next_cursor"] is None
    # And exactly a page's worth leaves no empty page behind
    assert listing(api, limit=3).body["next_cursor"] is None


def test_staff_may_read_alerts_and_a_bad_cursor_is_a_422(api: ApiClient) -> None:
    assert listing(api, role="staff").status == 200
    assert listing(api, role="none").status == 403
    assert api.request("GET", "/admin/alerts").status == 401
    for cursor in ("nope", "QUxFUlQjeHx5", "A" * 600):
        response = listing(api, cursor=cursor)
        assert (response.status, response.error_fields) == (422, {"cursor"}), cursor
    assert listing(api, limit=0).status == 422
