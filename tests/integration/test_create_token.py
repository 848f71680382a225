"""POST /bookings/create-token: only a succeeded payment gets a token; the booking keeps only the token's hash."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
import stripe

from local.stripe_double import StripeDouble
from tests.integration.helpers import items_with_prefix, product_now, stripe_posts
from tests.support import ApiClient, Clock, booking, pay, stripe_client

OTHER_ATTENDEE = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Chicago"}


def refunds_for(payment_intent_id: str) -> list[Any]:
    """Refunds as Stripe itself lists them for the PaymentIntent."""
    return list(stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100}).data)


def test_paid_booking_gets_a_201_token_and_verify_url(api: ApiClient) -> None:
    # Given a booking whose deposit was paid with a good card
    intent = api.paid_booking()
    before = product_now()
    # When the site asks for the booking token
    response = api.create_token(intent)
    # Then it gets the token, the verify link on the site and the expiry 30 minutes ahead
    assert response.status == 201, response.body
    assert set(response.body) == {"token", "verify_url", "expires_at"}
    token = response.body["token"]
    assert response.body["verify_url"] == f"https://site.example/book/verify?token={token}"
    expires = datetime.fromisoformat(response.body["expires_at"])
    assert before + timedelta(minutes=30) <= expires <= product_now() + timedelta(minutes=30)


def test_token_carries_at_least_128_random_bits(api: ApiClient) -> None:
    # Given a paid booking / When two tokens are issued
    intent = api.paid_booking()
    first = api.create_token(intent)
    second = api.create_token(intent)
    # Then each names its booking and its expiry, then url-safe base64 of 32 random bytes (256 bits); they differ
    for response in (first, second):
        booking_id, expiry, secret = response.body["token"].split(".")
        assert booking_id == intent["booking_id"]
        assert int(expiry) == int(datetime.fromisoformat(response.body["expires_at"]).timestamp())
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        assert len(raw) * 8 >= 128
        assert len(raw) == 32
        assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert first.body["token"] != second.body["token"]


def test_token_moves_the_booking_from_held_to_paid_with_the_charge(api: ApiClient) -> None:
    # Given a HELD booking whose payment succeeded at Stripe
    intent = api.paid_booking()
    assert booking(intent["booking_id"]).status == "HELD"
    # When the token is issued
    assert api.create_token(intent).status == 201
    # Then the booking is PAID with the amount received and the charge
    record = booking(intent["booking_id"])
    assert record.status == "PAID"
    assert record.amount_paid == 8250
    assert record.balance_due == 8250
    assert record.charge_id is not None and record.charge_id.startswith("ch_")
    assert record.payment_status == "succeeded"
    assert (record.history[-1].source, record.history[-1].target) == ("HELD", "PAID")


def test_token_is_stored_only_as_its_sha256_with_the_seed_fields(api: ApiClient) -> None:
    # Given a paid deposit booking
    intent = api.paid_booking()
    # When the token is issued
    response = api.create_token(intent)
    token = response.body["token"]
    # Then the booking keeps 128 bits of the token's SHA-256, never the token or its secret, and no token item
    [item] = [i for i in items_with_prefix("BOOKING#") if i["booking_id"]["S"] == intent["booking_id"]]
    assert item["token_hashes"]["SS"] == [hashlib.sha256(token.encode()).hexdigest()[:32]]
    secret = token.rsplit(".", 1)[1]
    assert secret not in str(item)
    assert items_with_prefix("TOKEN#") == []
    # And the booking records what the seed's token recorded: slot, event type, amounts, payment type, expiry
    record = booking(intent["booking_id"])
    [seat] = items_with_prefix("SLOT#")
    assert seat["pk"]["S"] == f"SLOT#3815418#{record.slot_start:%Y-%m-%dT%H:%M:%SZ}"
    assert record.event_type_id == 3815418
    assert (record.amount_paid, record.balance_due, record.payment_type) == (8250, 8250, "deposit")
    assert record.token_expires_at == datetime.fromisoformat(response.body["expires_at"])


def test_full_payment_token_records_no_balance(api: ApiClient) -> None:
    intent = api.paid_booking(payment_type="full")
    assert api.create_token(intent).status == 201
    record = booking(intent["booking_id"])
    assert (record.amount_paid, record.balance_due, record.payment_type) == (16500, 0, "full")
    assert len(record.token_hashes) == 1


def test_unpaid_booking_is_409_with_the_payment_status(api: ApiClient) -> None:
    # Given a booking whose PaymentIntent was never confirmed
    intent = api.create_intent().body
    # When the site asks for the token
    response = api.create_token(intent)
    # Then it is refused with the payment's state, and the booking stays HELD with no token
    assert response.status == 409
    assert response.error_code == "payment_not_succeeded"
    assert response.body["error"]["payment_status"] == "requires_payment_method"
    assert booking(intent["booking_id"]).status == "HELD"
    assert booking(intent["booking_id"]).token_hashes == frozenset()


def test_declined_card_is_409_and_the_booking_records_the_failure(api: ApiClient) -> None:
    # Given the client's card was declined in the browser
    intent = api.create_intent().body
    with pytest.raises(stripe.CardError):
        pay(intent["payment_intent_id"], "pm_card_chargeDeclined")
    # When the site asks for the token anyway
    response = api.create_token(intent)
    # Then it is refused with the payment's state and the reason
    assert response.status == 409
    assert response.error_code == "payment_not_succeeded"
    assert response.body["error"]["payment_status"] == "requires_payment_method"
    assert "declined" in response.body["error"]["reason"].lower()
    # And the booking keeps the failure for the owner, still HELD (the client may try another card)
    record = booking(intent["booking_id"])
    assert record.status == "HELD"
    assert record.payment_status == "requires_payment_method"
    assert record.payment_error is not None and "declined" in record.payment_error.lower()


def test_another_card_after_a_decline_gets_the_token(api: ApiClient) -> None:
    intent = api.create_intent().body
    with pytest.raises(stripe.CardError):
        pay(intent["payment_intent_id"], "pm_card_chargeDeclined")
    pay(intent["payment_intent_id"], "pm_card_visa")
    assert api.create_token(intent).status == 201
    record = booking(intent["booking_id"])
    assert record.status == "PAID"
    assert record.payment_error is None


def test_payment_intent_of_another_booking_is_422_naming_it(api: ApiClient) -> None:
    # Given two paid bookings
    mine = api.paid_booking()
    theirs = api.paid_booking(start=api.free_slots()[1]["start"], attendee=OTHER_ATTENDEE)
    # When the site sends my booking with their PaymentIntent
    response = api.create_token({"booking_id": mine["booking_id"], "payment_intent_id": theirs["payment_intent_id"]})
    # Then it is refused naming payment_intent_id, and my booking is unchanged
    assert response.status == 422
    assert response.error_code == "payment_intent_mismatch"
    assert response.error_fields == {"payment_intent_id"}
    assert booking(mine["booking_id"]).status == "HELD"


def test_unknown_booking_is_404(api: ApiClient) -> None:
    response = api.create_token({"booking_id": "bk_" + "0" * 24, "payment_intent_id": "pi_123"})
    assert response.status == 404
    assert response.error_code == "booking_not_found"


def test_malformed_booking_id_is_422_naming_it(api: ApiClient) -> None:
    response = api.create_token({"booking_id": "42", "payment_intent_id": "pi_123"})
    assert response.status == 422
    assert response.error_fields == {"booking_id"}


def test_second_call_returns_another_usable_token_for_the_same_booking(api: ApiClient) -> None:
    # Given a token was issued (and the client lost the redirect)
    intent = api.paid_booking()
    first = api.create_token(intent)
    # When the site asks again
    second = api.create_token(intent)
    # Then it gets a new token, not an error, and both lead to the same confirmation
    assert first.status == 201 and second.status == 201
    assert first.body["token"] != second.body["token"]
    one = api.verify(first.body["token"])
    two = api.verify(second.body["token"])
    assert one.status == 200 and two.status == 200
    # ... and the same manage link (derived from the booking, not the verify token: flows/manage.py)
    assert one.body == two.body
    assert one.body["manage_url"]


def test_token_expiry_is_checked_in_code_after_30_minutes(api: ApiClient, clock: Clock) -> None:
    # Given a token issued 31 minutes ago (its item is still in the table: TTL has not run)
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    clock.advance(minutes=31)
    assert len(booking(intent["booking_id"]).token_hashes) == 1
    # When it is used
    response = api.verify(token)
    # Then it has expired and the booking is not confirmed
    assert response.status == 410
    assert response.error_code == "token_expired"
    assert booking(intent["booking_id"]).status == "PAID"


def test_token_is_still_good_just_before_30_minutes(api: ApiClient, clock: Clock) -> None:
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    clock.advance(minutes=29)
    assert api.verify(token).status == 200


# --- late payments -----------------------------------------------------------------------------------------------


def test_late_payment_with_the_slot_still_free_is_paid(api: ApiClient, clock: Clock) -> None:
    # Given the hold lapsed before the client paid, and nobody took the slot meanwhile
    intent = api.create_intent().body
    clock.advance(minutes=16)
    pay(intent["payment_intent_id"])
    # When the site asks for the token
    response = api.create_token(intent)
    # Then the payment is honoured: PAID, the slot kept for good
    assert response.status == 201, response.body
    record = booking(intent["booking_id"])
    assert record.status == "PAID"
    assert record.amount_paid == 8250
    assert record.refunds == []
    [seat] = items_with_prefix("SLOT#")
    assert seat["booking_id"]["S"] == intent["booking_id"]
    assert "hold_expires_at" not in seat  # permanent


def test_late_payment_after_someone_took_the_slot_is_refunded_in_full_once(
    api: ApiClient, clock: Clock, stripe_double: StripeDouble
) -> None:
    # Given my hold lapsed and another client took the slot
    slot = api.first_slot()
    mine = api.create_intent(start=slot).body
    clock.advance(minutes=16)
    theirs = api.create_intent(start=slot, attendee=OTHER_ATTENDEE)
    assert theirs.status == 201, theirs.body
    # When my payment arrives late and the site asks for the token (twice: the client retried)
    pay(mine["payment_intent_id"])
    response = api.create_token(mine)
    again = api.create_token(mine)
    # Then I am told to pick another time
    assert response.status == 409
    assert response.error_code == "slot_unavailable"
    assert again.status == 409
    assert again.error_code == "slot_unavailable"
    # And my booking is SLOT_UNAVAILABLE, flagged for the owner and refunded in full exactly once
    record = booking(mine["booking_id"])
    assert record.status == "SLOT_UNAVAILABLE"
    assert record.amount_paid == 8250
    assert record.amount_refunded == 8250
    assert record.has_flag("late_payment_slot_lost")
    refunds = refunds_for(mine["payment_intent_id"])
    assert [refund.amount for refund in refunds] == [8250]
    assert len([r for r in stripe_posts(stripe_double, "/v1/refunds") if r.status == 200 and not r.replayed]) == 1
    # And the other client still holds the slot
    assert booking(theirs.body["booking_id"]).status == "HELD"
    [seat] = items_with_prefix("SLOT#")
    assert seat["booking_id"]["S"] == theirs.body["booking_id"]


def test_payment_of_a_different_amount_is_409_and_flagged_not_paid(api: ApiClient) -> None:
    # Given the PaymentIntent was changed to 1.00 before the client paid it
    intent = api.create_intent().body
    stripe_client().v1.payment_intents.update(intent["payment_intent_id"], params={"amount": 100})
    pay(intent["payment_intent_id"])
    # When the site asks for the token
    response = api.create_token(intent)
    # Then the payment does not pass: 409 with what was expected and received, and the owner is told
    assert response.status == 409
    assert response.error_code == "payment_amount_mismatch"
    assert (response.body["error"]["expected"], response.body["error"]["received"]) == (8250, 100)
    record = booking(intent["booking_id"])
    assert record.status == "HELD"
    assert record.amount_paid == 0
    assert record.has_flag("amount_mismatch")
    assert record.token_hashes == frozenset()


def test_stripe_down_while_checking_the_payment_is_503_and_a_retry_succeeds(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a paid booking, and Stripe is down when the site asks for the token
    intent = api.paid_booking()
    stripe_double.set_down(True)
    response = api.create_token(intent)
    # Then a retryable 503 and the booking is untouched
    assert response.status == 503
    assert response.error_code == "payment_provider_unavailable"
    assert booking(intent["booking_id"]).status == "HELD"
    # And once Stripe is back, the same request issues the token
    stripe_double.set_down(False)
    assert api.create_token(intent).status == 201
    assert booking(intent["booking_id"]).status == "PAID"


def test_late_payment_refund_that_failed_is_completed_by_the_retry(
    api: ApiClient, clock: Clock, stripe_double: StripeDouble
) -> None:
    # Given my hold lapsed, another client took the slot, and I paid late
    slot = api.first_slot()
    mine = api.create_intent(start=slot).body
    clock.advance(minutes=16)
    assert api.create_intent(start=slot, attendee=OTHER_ATTENDEE).status == 201
    pay(mine["payment_intent_id"])
    # And Stripe's refunds endpoint fails (both SDK attempts) when create-token tries to refund
    stripe_double.fail_next(2, 500, path="/v1/refunds")
    first = api.create_token(mine)
    assert (first.status, first.error_code) == (503, "payment_provider_unavailable")
    # When the site retries
    retry = api.create_token(mine)
    # Then the client is told to pick another time and the payment is refunded in full, once
    assert retry.status == 409
    assert retry.error_code == "slot_unavailable"
    assert [refund.amount for refund in refunds_for(mine["payment_intent_id"])] == [8250]
    assert booking(mine["booking_id"]).amount_refunded == 8250
