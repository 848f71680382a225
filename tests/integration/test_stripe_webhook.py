"""POST /webhooks/stripe: signed raw bodies move bookings; bad signatures write nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.support import ApiClient, booking, deliver_stripe, pay, stripe_client, stripe_event


def _table_items() -> list[dict[str, Any]]:
    import boto3

    return boto3.client("dynamodb").scan(TableName="booking-deposits-test")["Items"]


def test_payment_succeeded_confirms_the_booking_without_the_client(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given a client who paid and closed the tab (never calls create-token or verify)
    intent = api.paid_booking()
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    # When Stripe delivers payment_intent.succeeded
    response = deliver_stripe(api, stripe_double, event["id"])
    # Then the booking is paid and confirmed in Cal.com, once
    assert response.status == 200, response.body
    assert response.body["outcome"].startswith("confirmed")
    stored = booking(intent["booking_id"])
    assert stored.status == "CONFIRMED" and stored.amount_paid == 8250 and stored.charge_id.startswith("ch_")
    assert len([b for b in cal_double.bookings() if b["metadata"].get("booking_id") == intent["booking_id"]]) == 1


def test_redelivered_event_changes_nothing(api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble) -> None:
    # Given a payment already processed from its webhook
    intent = api.paid_booking()
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    deliver_stripe(api, stripe_double, event["id"])
    before = booking(intent["booking_id"])
    # When Stripe delivers the same event again
    again = deliver_stripe(api, stripe_double, event["id"])
    # Then it answers 200 (the booking already records the payment) and the booking is untouched
    assert again.status == 200 and again.body["outcome"] == "recorded: booking CONFIRMED"
    assert booking(intent["booking_id"]) == before
    assert len(cal_double.bookings()) == 1


def test_webhook_and_verify_at_once_make_one_cal_booking(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given a paid booking whose client returns to the site while the webhook arrives
    import threading

    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(deliver_stripe(api, stripe_double, event["id"]))),
        threading.Thread(target=lambda: results.append(api.verify(token))),
    ]
    # When both paths confirm at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then both succeed and Cal.com holds exactly one booking
    assert [r.status for r in results] == [200, 200]
    assert booking(intent["booking_id"]).status == "CONFIRMED"
    assert len(cal_double.bookings()) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda raw, sig: (raw + b" ", sig), id="body-changed"),
        pytest.param(lambda raw, sig: (raw, None), id="missing-signature"),
        pytest.param(lambda raw, sig: (raw, "t=1,v1=deadbeef"), id="garbage-signature"),
        pytest.param(lambda raw, sig: (raw, StripeDouble.signature_header(raw, "whsec_wrong")), id="wrong-secret"),
        pytest.param(
            lambda raw, sig: (raw, StripeDouble.signature_header(raw, "whsec_suite", int(time.time()) - 301)),
            id="stale-timestamp",
        ),
    ],
)
def test_bad_signatures_are_rejected_and_write_nothing(
    api: ApiClient, stripe_double: StripeDouble, tamper: Any
) -> None:
    # Given a genuine event
    intent = api.create_intent().body
    pay(intent["payment_intent_id"])
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    raw = stripe_double.event_payload(event["id"])
    items_before = _table_items()
    body, signature = tamper(raw, StripeDouble.signature_header(raw, "whsec_suite"))
    headers = {"Stripe-Signature": signature} if signature else {}
    # When it arrives tampered with or wrongly signed
    response = api.request("POST", "/webhooks/stripe", raw=body, headers=headers)
    # Then 400, nothing written, the booking still HELD
    assert response.status == 400 and response.error_code == "invalid_signature"
    assert _table_items() == items_before
    assert booking(intent["booking_id"]).status == "HELD"


def test_base64_encoded_body_is_verified_on_the_decoded_bytes(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given API Gateway passing the body base64-encoded
    intent = api.paid_booking()
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    raw = stripe_double.event_payload(event["id"])
    headers = {
        "stripe-signature": StripeDouble.signature_header(raw, "whsec_suite"),
        "content-type": "application/octet-stream",
    }
    # When delivered as binary
    result = api.lam.http("POST", "/webhooks/stripe", body=raw, headers=headers)
    # Then the signature verifies on the decoded bytes
    assert result["statusCode"] == 200, result["body"]


def test_amount_that_differs_is_flagged_not_confirmed(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a succeeded event whose amount is not what we asked for
    intent = api.paid_booking()
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    forged = event | {"id": "evt_forged_amount"}
    forged["data"] = {"object": event["data"]["object"] | {"amount_received": 100}}
    raw = json.dumps(forged).encode()
    signature = StripeDouble.signature_header(raw, "whsec_suite")
    # When it arrives
    response = api.request("POST", "/webhooks/stripe", raw=raw, headers={"Stripe-Signature": signature})
    # Then the booking is flagged and stays unconfirmed
    assert response.status == 200 and "flagged" in response.body["outcome"]
    stored = booking(intent["booking_id"])
    assert stored.status == "HELD" and stored.has_flag("amount_mismatch")


def test_late_payment_with_free_slot_holds_it_again(api: ApiClient, stripe_double: StripeDouble, clock: Any) -> None:
    # Given a hold that expired before the client paid, the slot still free
    intent = api.create_intent().body
    clock.advance(minutes=16)
    pay(intent["payment_intent_id"])
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    # When the late payment's webhook arrives
    response = deliver_stripe(api, stripe_double, event["id"])
    # Then the slot is held again and the booking confirmed
    assert response.status == 200, response.body
    assert booking(intent["booking_id"]).status == "CONFIRMED"


def test_late_payment_for_a_taken_slot_is_refunded_in_full_once(
    api: ApiClient, stripe_double: StripeDouble, clock: Any
) -> None:
    # Given a lapsed hold whose slot another client then took (a slot far from the minimum notice, whatever the
    # time of day the suite runs at)
    first = api.create_intent(start=api.free_slots()[-1]["start"]).body
    clock.advance(minutes=16)
    second = api.create_intent(
        start=_start_of(first["booking_id"]),
        attendee={"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/New_York"},
    )
    assert second.status == 201, second.body
    pay(first["payment_intent_id"])
    event = stripe_event(stripe_double, "payment_intent.succeeded", first["payment_intent_id"])
    # When the first client's late payment arrives (twice)
    deliver_stripe(api, stripe_double, event["id"])
    deliver_stripe(api, stripe_double, event["id"])
    # Then it is refunded in full, once, and the reason recorded
    stored = booking(first["booking_id"])
    assert stored.status == "SLOT_UNAVAILABLE"
    assert stored.amount_refunded == 8250 and stored.has_flag("late_payment_slot_lost")
    refunds = stripe_client().v1.refunds.list(params={"payment_intent": first["payment_intent_id"]}).data
    assert [r.amount for r in refunds] == [8250]
    assert any("someone else took the slot" in entry.reason for entry in stored.history)


def _start_of(booking_id: str) -> str:
    return booking(booking_id).slot_start.isoformat()


def test_payment_failed_records_the_reason_and_keeps_the_hold(api: ApiClient, stripe_double: StripeDouble) -> None:
    import stripe

    # Given a declined card
    intent = api.create_intent().body
    with pytest.raises(stripe.CardError):
        pay(intent["payment_intent_id"], card="pm_card_chargeDeclined")
    event = stripe_event(stripe_double, "payment_intent.payment_failed", intent["payment_intent_id"])
    # When the failure event arrives
    response = deliver_stripe(api, stripe_double, event["id"])
    # Then the reason is stored and the hold stays for a retry with another card
    assert response.status == 200
    stored = booking(intent["booking_id"])
    assert stored.status == "HELD" and stored.payment_error and "declined" in stored.payment_error.lower()
    pay(intent["payment_intent_id"], card="pm_card_visa")
    assert api.create_token(intent).status == 201


def test_payment_canceled_expires_the_hold_and_frees_the_slot(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a hold whose PaymentIntent is cancelled in Stripe
    intent = api.create_intent().body
    stripe_client().v1.payment_intents.cancel(intent["payment_intent_id"])
    event = stripe_event(stripe_double, "payment_intent.canceled", intent["payment_intent_id"])
    # When the event arrives
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    # Then the booking is EXPIRED and someone else can take the slot
    assert booking(intent["booking_id"]).status == "EXPIRED"
    again = api.create_intent(
        start=_start_of(intent["booking_id"]),
        attendee={"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "UTC"},
    )
    assert again.status == 201


def test_charge_refunded_updates_refunded_amount(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a confirmed booking refunded partly from the Stripe dashboard
    confirmed = api.confirmed_booking()
    charge = booking(confirmed["booking_id"]).charge_id
    stripe_client().v1.refunds.create(params={"charge": charge, "amount": 2000})
    event = stripe_event(stripe_double, "charge.refunded", charge)
    # When charge.refunded arrives (twice, the second as a new delivery of the same event)
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    # Then the refunded amount and payment state follow Stripe
    stored = booking(confirmed["booking_id"])
    assert stored.amount_refunded == 2000 and stored.payment_status == "partially_refunded"


def test_dispute_flags_the_booking_and_blocks_its_payout(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a confirmed booking whose client disputes the charge
    confirmed = api.confirmed_booking()
    charge = booking(confirmed["booking_id"]).charge_id
    dispute = stripe_double.create_dispute(charge)
    event = stripe_event(stripe_double, "charge.dispute.created", dispute["id"])
    # When the dispute event arrives
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    # Then the booking is flagged as disputed
    stored = booking(confirmed["booking_id"])
    assert stored.has_flag("disputed") and stored.dispute_id == dispute["id"]


def test_other_event_types_are_ignored_with_200(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a customer.created event (we do not handle it)
    intent = api.create_intent().body
    customer_event = next(e for e in stripe_double.events if e["type"] == "customer.created")
    # When it arrives
    response = deliver_stripe(api, stripe_double, customer_event["id"])
    # Then 200, ignored, booking untouched
    assert response.status == 200 and response.body["outcome"] == "ignored"
    assert booking(intent["booking_id"]).status == "HELD"


def test_transient_failure_answers_5xx_so_stripe_retries(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the database failing while the event is handled
    from pynamodb.exceptions import UpdateError

    from booking.flows import payment_outcomes

    intent = api.paid_booking()
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise UpdateError("DynamoDB unavailable")

    monkeypatch.setattr(payment_outcomes.store, "take_seat_for_good", broken)
    # When the event arrives
    failed = deliver_stripe(api, stripe_double, event["id"])
    # Then 503 (Stripe retries) and the redelivery, once the database is back, does the work
    assert failed.status == 503
    monkeypatch.undo()
    retried = deliver_stripe(api, stripe_double, event["id"])
    assert retried.status == 200 and retried.body["outcome"].startswith("confirmed")
