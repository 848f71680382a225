"""POST /payments/create-intent: price on the server, hold the slot, open the Stripe PaymentIntent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    BUSINESS_TZ,
    FACIAL,
    SUNDAY,
    TUESDAY,
    iso,
    items_with_prefix,
    local,
    next_weekday,
    payment_intent_creates,
    product_now,
    stored_state,
    stripe_posts,
    travel_to_morning_before,
)
from tests.support import ATTENDEE, ApiClient, Clock, booking, unique_key

OTHER_ATTENDEE = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Chicago"}
INTENT_FIELDS = {
    "booking_id",
    "payment_intent_id",
    "client_secret",
    "payment_type",
    "amount_due_now",
    "total",
    "balance_due",
    "currency",
    "hold_expires_at",
    "publishable_key",
    "discount",
    "promo_code",
    "package_id",
    "token",
    "verify_url",
    "notify",
    "participants",
    "role",
    "list_price",
    "series",
}


def body(slot: str, /, **overrides: Any) -> dict[str, Any]:
    return {"service_id": FACIAL, "start": slot, "attendee": ATTENDEE, "payment_type": "deposit", **overrides}


def assert_nothing_written(stripe_double: StripeDouble) -> None:
    assert stored_state() == []
    assert [r for r in stripe_double.requests if r.method == "POST"] == []


# --- the happy path -----------------------------------------------------------------------------------------


def test_deposit_intent_is_201_with_server_priced_amounts(api: ApiClient) -> None:
    # Given a free slot of the 165.00 USD facial
    before = product_now()
    # When the client starts a deposit booking
    response = api.create_intent(payment_type="deposit")
    # Then the answer carries the booking, the PaymentIntent and the amounts in cents
    assert response.status == 201, response.body
    assert set(response.body) == INTENT_FIELDS
    assert response.body["booking_id"].startswith("bk_")
    assert response.body["payment_intent_id"].startswith("pi_")
    assert response.body["client_secret"].startswith(response.body["payment_intent_id"] + "_secret_")
    assert (response.body["amount_due_now"], response.body["total"], response.body["balance_due"]) == (
        8250,
        16500,
        8250,
    )
    assert (response.body["payment_type"], response.body["currency"]) == ("deposit", "usd")
    expires = datetime.fromisoformat(response.body["hold_expires_at"])
    assert before.replace(microsecond=0) + timedelta(minutes=15) <= expires <= product_now() + timedelta(minutes=15)


def test_full_payment_intent_is_the_whole_price_with_no_balance(api: ApiClient) -> None:
    response = api.create_intent(payment_type="full")
    assert response.status == 201, response.body
    assert (response.body["amount_due_now"], response.body["total"], response.body["balance_due"]) == (16500, 16500, 0)
    assert response.body["payment_type"] == "full"


def test_intent_writes_a_held_booking_priced_from_the_catalog(api: ApiClient) -> None:
    # When a deposit booking starts
    response = api.create_intent()
    # Then the stored booking is HELD with the catalog's amounts and the PaymentIntent attached
    record = booking(response.body["booking_id"])
    assert record.status == "HELD"
    assert (record.total, record.amount_due_now, record.balance_due, record.amount_paid) == (16500, 8250, 8250, 0)
    assert record.payment_intent_id == response.body["payment_intent_id"]
    assert record.attendee.email == ATTENDEE["email"]
    assert len(items_with_prefix("SLOT#")) == 1


def test_deposit_payment_intent_saves_the_card_for_the_balance(api: ApiClient, stripe_double: StripeDouble) -> None:
    # When a deposit booking starts
    response = api.create_intent(payment_type="deposit")
    booking_id = response.body["booking_id"]
    # Then Stripe got one PaymentIntent for 8250 usd with our ids, a customer and off-session card saving
    [create] = payment_intent_creates(stripe_double)
    params = create.params
    assert params["amount"] == "8250"
    assert params["currency"] == "usd"
    assert params["metadata"]["booking_id"] == booking_id
    assert params["setup_future_usage"] == "off_session"
    assert params["customer"].startswith("cus_")
    assert params["transfer_group"] == f"booking_{booking_id}"
    assert create.idempotency_key == f"booking:{booking_id}:payment_intent"
    # And the customer was created once, for this booking, with its own deterministic key
    [customer] = stripe_posts(stripe_double, "/v1/customers")
    assert customer.idempotency_key == f"booking:{booking_id}:customer"
    assert customer.params["metadata"]["booking_id"] == booking_id


def test_full_payment_intent_has_no_customer_and_no_saved_card(api: ApiClient, stripe_double: StripeDouble) -> None:
    response = api.create_intent(payment_type="full")
    booking_id = response.body["booking_id"]
    [create] = payment_intent_creates(stripe_double)
    assert create.params["amount"] == "16500"
    assert "customer" not in create.params
    assert "setup_future_usage" not in create.params
    assert create.params["metadata"]["booking_id"] == booking_id
    assert create.params["transfer_group"] == f"booking_{booking_id}"
    assert create.idempotency_key == f"booking:{booking_id}:payment_intent"
    assert stripe_posts(stripe_double, "/v1/customers") == []


# --- one slot, one hold --------------------------------------------------------------------------------------


def test_second_intent_for_a_held_slot_is_409_slot_taken(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a client holds a slot
    slot = api.first_slot()
    assert api.create_intent(start=slot).status == 201
    # When another client asks for the same slot
    second = api.create_intent(start=slot, attendee=OTHER_ATTENDEE)
    # Then it is refused without a second booking or PaymentIntent
    assert second.status == 409
    assert second.error_code == "slot_taken"
    assert len(items_with_prefix("BOOKING#")) == 1
    assert len(payment_intent_creates(stripe_double)) == 1


def test_expired_hold_lets_another_client_take_the_slot(api: ApiClient, clock: Clock) -> None:
    # Given a hold that was never paid
    slot = api.first_slot()
    first = api.create_intent(start=slot)
    assert first.status == 201
    # When the 15 minutes pass and another client asks for the slot
    clock.advance(minutes=16)
    second = api.create_intent(start=slot, attendee=OTHER_ATTENDEE)
    # Then they get it
    assert second.status == 201, second.body
    assert second.body["booking_id"] != first.body["booking_id"]


# --- client Idempotency-Key ------------------------------------------------------------------------------------


def test_replayed_idempotency_key_returns_the_same_booking(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a create-intent sent with a client key
    key = unique_key()
    slot = api.first_slot()
    first = api.create_intent(start=slot, idempotency_key=key)
    assert first.status == 201
    # When the same request is sent again with the same key (the client retried after a lost answer)
    again = api.create_intent(start=slot, idempotency_key=key)
    # Then it gets the same booking and PaymentIntent, and nothing new was held or charged
    assert again.status == 201, again.body
    assert again.body["booking_id"] == first.body["booking_id"]
    assert again.body["payment_intent_id"] == first.body["payment_intent_id"]
    assert again.body["client_secret"] == first.body["client_secret"]
    assert len(items_with_prefix("BOOKING#")) == 1
    assert len(items_with_prefix("SLOT#")) == 1
    assert len(payment_intent_creates(stripe_double)) == 1


def test_idempotency_key_with_a_different_body_is_422_naming_the_header(api: ApiClient) -> None:
    # Given a key used for a deposit booking
    key = unique_key()
    slot = api.first_slot()
    assert api.create_intent(start=slot, idempotency_key=key).status == 201
    # When the key comes back with a different request
    reused = api.create_intent(start=slot, idempotency_key=key, payment_type="full")
    # Then it is refused, naming the header, and the first booking is untouched
    assert reused.status == 422
    assert reused.error_code == "idempotency_key_reused"
    assert reused.error_fields == {"Idempotency-Key"}
    assert len(items_with_prefix("BOOKING#")) == 1


# --- bad input: 4xx naming the field, nothing written -----------------------------------------------------------


def test_unknown_service_is_422_naming_service_id_and_writes_nothing(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    response = api.post("/payments/create-intent", body(api.first_slot(), service_id="massage"))
    assert response.status == 422
    assert response.error_code == "unknown_service"
    assert response.error_fields == {"service_id"}
    assert_nothing_written(stripe_double)


def test_slot_the_calendar_does_not_offer_is_422_naming_start(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given Sunday 03:00 (closed; far enough ahead for the minimum notice)
    sunday = next_weekday(SUNDAY)
    # When a client asks for it
    response = api.post("/payments/create-intent", body(iso(local(sunday, 3))))
    # Then it is refused naming start, and nothing is written
    assert response.status == 422
    assert response.error_code == "slot_not_offered"
    assert response.error_fields == {"start"}
    assert response.body["error"]["reason"] == "not_offered"
    assert_nothing_written(stripe_double)


def test_slot_off_the_grid_is_422_naming_start(api: ApiClient, stripe_double: StripeDouble, clock: Clock) -> None:
    # Given Wednesday, when the calendar offers 9:00, 10:00, ... : 9:30 is not a slot
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    response = api.post("/payments/create-intent", body(iso(local(tuesday + timedelta(days=1), 9, 30))))
    assert response.status == 422
    assert response.error_fields == {"start"}
    assert_nothing_written(stripe_double)


def test_slot_in_the_past_is_422_naming_start(api: ApiClient, stripe_double: StripeDouble) -> None:
    yesterday = product_now().astimezone(BUSINESS_TZ).date() - timedelta(days=1)
    response = api.post("/payments/create-intent", body(iso(local(yesterday, 10))))
    assert response.status == 422
    assert response.error_code == "slot_not_offered"
    assert response.error_fields == {"start"}
    assert response.body["error"]["reason"] == "in_past"
    assert_nothing_written(stripe_double)


def test_slot_inside_the_minimum_notice_is_422_naming_start(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock
) -> None:
    # Given it is Tuesday 06:00 and the facial needs 12 hours of notice
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    # When a client asks for Tuesday 10:00, a slot the calendar offers
    response = api.post("/payments/create-intent", body(iso(local(tuesday, 10))))
    # Then it is refused naming start
    assert response.status == 422
    assert response.error_code == "slot_not_offered"
    assert response.error_fields == {"start"}
    assert response.body["error"]["reason"] == "inside_minimum_notice"
    assert_nothing_written(stripe_double)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attendee": {**ATTENDEE, "email": "not-an-email"}}, "attendee.email"),
        ({"attendee": {"email": "ada@example.com", "time_zone": "UTC"}}, "attendee.name"),
        ({"attendee": {**ATTENDEE, "time_zone": "Mars/Base"}}, "attendee.time_zone"),
        ({"attendee": {**ATTENDEE, "phone": "0123"}}, "attendee.phone"),
        ({"payment_type": "half"}, "payment_type"),
        ({"start": "2030-01-01T10:00:00"}, "start"),  # no offset: ambiguous
        ({"service_id": ""}, "service_id"),
    ],
    ids=["bad-email", "missing-name", "bad-time-zone", "bad-phone", "half", "naive-start", "empty-service"],
)
def test_invalid_field_is_422_naming_it_and_writes_nothing(
    api: ApiClient, stripe_double: StripeDouble, change: dict[str, Any], field: str
) -> None:
    response = api.post("/payments/create-intent", body(api.first_slot(), **change))
    assert response.status == 422
    assert response.error_code == "validation_error"
    assert response.error_fields == {field}
    assert_nothing_written(stripe_double)


def test_malformed_json_is_400_invalid_json(api: ApiClient, stripe_double: StripeDouble) -> None:
    response = api.request("POST", "/payments/create-intent", raw='{"service_id": "signature-facial",')
    assert response.status == 400
    assert response.error_code == "invalid_json"
    assert response.body["error"]["message"]
    assert_nothing_written(stripe_double)


# --- Stripe fails ------------------------------------------------------------------------------------------------


def test_stripe_down_is_503_and_the_hold_is_released(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given Stripe answers 500 to everything
    slot = api.first_slot()
    stripe_double.set_down(True)
    # When a client starts a booking
    response = api.create_intent(start=slot)
    # Then the answer says the payment provider is unavailable, retryable
    assert response.status == 503
    assert response.error_code == "payment_provider_unavailable"
    assert response.headers.get("retry-after") == "5"
    # And the booking that was held is EXPIRED with the reason, its seat freed
    [item] = items_with_prefix("BOOKING#")
    record = booking(item["booking_id"]["S"])
    assert record.status == "EXPIRED"
    assert record.history[-1].source == "HELD"
    assert record.history[-1].target == "EXPIRED"
    assert "payment provider failed" in record.history[-1].reason
    assert items_with_prefix("SLOT#") == []
    # And once Stripe is back, the slot can be taken
    stripe_double.set_down(False)
    again = api.create_intent(start=slot, attendee=OTHER_ATTENDEE)
    assert again.status == 201, again.body


def test_payment_intent_failure_frees_the_slot_for_the_next_client(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given Stripe creates the customer but its PaymentIntent endpoint keeps failing (both SDK attempts)
    slot = api.first_slot()
    stripe_double.fail_next(2, "connection", path="/v1/payment_intents")
    # When a client starts a booking
    response = api.create_intent(start=slot)
    # Then 503, and the next client gets the slot
    assert response.status == 503
    assert response.error_code == "payment_provider_unavailable"
    assert len(stripe_posts(stripe_double, "/v1/payment_intents")) == 2
    other = api.create_intent(start=slot, attendee=OTHER_ATTENDEE)
    assert other.status == 201, other.body


def test_retry_with_the_same_key_after_a_stripe_failure_succeeds(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a create-intent with a client key failed because Stripe was down
    key = unique_key()
    slot = api.first_slot()
    stripe_double.set_down(True)
    assert api.create_intent(start=slot, idempotency_key=key).status == 503
    stripe_double.set_down(False)
    # When the client retries with the same key
    retry = api.create_intent(start=slot, idempotency_key=key)
    # Then the retry holds the slot and opens a PaymentIntent
    assert retry.status == 201, retry.body
    assert booking(retry.body["booking_id"]).status == "HELD"
    assert booking(retry.body["booking_id"]).payment_intent_id == retry.body["payment_intent_id"]
    # And a replay of that retry answers the same booking
    replay = api.create_intent(start=slot, idempotency_key=key)
    assert replay.status == 201
    assert replay.body["booking_id"] == retry.body["booking_id"]


def test_same_instant_written_with_another_offset_is_the_same_slot(api: ApiClient, clock: Clock) -> None:
    # Given Wednesday 10:00 in Los Angeles was held, written as 13:00 in New York
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    slot = local(tuesday + timedelta(days=1), 10)
    new_york = slot.astimezone(ZoneInfo("America/New_York"))
    first = api.create_intent(start=iso(new_york))
    assert first.status == 201, first.body
    # When another client asks for it with the business's offset, or in UTC
    second = api.create_intent(start=iso(slot), attendee=OTHER_ATTENDEE)
    third = api.create_intent(start=slot.astimezone(UTC).isoformat().replace("+00:00", "Z"), attendee=OTHER_ATTENDEE)
    # Then it is the same slot: taken
    assert (second.status, second.error_code) == (409, "slot_taken")
    assert (third.status, third.error_code) == (409, "slot_taken")
    assert booking(first.body["booking_id"]).slot_start == slot


def test_calendar_down_is_503_and_writes_nothing(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given the client picked a slot, then Cal.com went down
    slot = api.first_slot()
    cal_double.set_mode("down")
    # When they start the booking
    response = api.create_intent(start=slot)
    # Then a retryable 503, no hold, no payment
    assert response.status == 503
    assert response.error_code == "calendar_unavailable"
    assert_nothing_written(stripe_double)


def test_slot_beyond_the_booking_window_is_422_naming_start(api: ApiClient, stripe_double: StripeDouble) -> None:
    next_year = product_now().astimezone(BUSINESS_TZ).date() + timedelta(days=400)
    response = api.post("/payments/create-intent", body(iso(local(next_year, 10))))
    assert response.status == 422
    assert response.error_fields == {"start"}
    assert response.body["error"]["reason"] == "beyond_booking_window"
    assert_nothing_written(stripe_double)


@pytest.mark.parametrize(
    ("start", "reason"),
    [("0001-01-01T00:30:00+05:00", "in_past"), ("9999-12-31T23:30:00-05:00", "beyond_booking_window")],
)
def test_starts_at_the_ends_of_the_calendar_are_422_naming_start(
    api: ApiClient, stripe_double: StripeDouble, start: str, reason: str
) -> None:
    # Neither has a UTC instant: the product says why rather than failing on the arithmetic.
    response = api.post("/payments/create-intent", body(start))
    assert response.status == 422
    assert response.error_fields == {"start"}
    assert response.body["error"]["reason"] == reason
    assert_nothing_written(stripe_double)


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415_naming_content_type(
    api: ApiClient, stripe_double: StripeDouble, content_type: str
) -> None:
    slot = iso(local(next_weekday(TUESDAY), 10))
    response = api.request(
        "POST", "/payments/create-intent", raw=json.dumps(body(slot)), headers={"content-type": content_type}
    )
    assert response.status == 415
    assert response.error_code == "unsupported_media_type"
    assert response.error_fields == {"Content-Type"}
    assert_nothing_written(stripe_double)
