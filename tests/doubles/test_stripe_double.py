"""The Stripe double, driven through the real `stripe.StripeClient` (16.1.0) over HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe
from stripe import _http_client

from local.stripe_double import StripeDouble, StripeError

WHSEC = "whsec_test_local"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """A tiny webhook endpoint that records raw bodies and headers and answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.statuses = list(statuses or [])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((body, dict(self.headers)))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Silence per-request logs."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def double(clock: FakeClock) -> Iterator[StripeDouble]:
    stub = StripeDouble(clock=clock, webhook_retry_delays=(0.01, 0.01))
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def client(double: StripeDouble, monkeypatch: pytest.MonkeyPatch) -> stripe.StripeClient:
    # The SDK backs off at least 0.5 s between retries; shrink it so the outage tests stay fast.
    monkeypatch.setattr(_http_client.HTTPClient, "INITIAL_DELAY", 0.01)
    return stripe.StripeClient("sk_test_local", base_addresses={"api": double.url}, max_network_retries=2)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def create_deposit(client: stripe.StripeClient, booking: str = "bk_1", amount: int = 8250) -> Any:
    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"booking_id": booking}},
        options={"idempotency_key": f"booking:{booking}:customer"},
    )
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer.id,
            "setup_future_usage": "off_session",
            "transfer_group": f"booking_{booking}",
            "metadata": {"booking_id": booking, "payment_type": "deposit"},
            "automatic_payment_methods": {"enabled": True},
            "description": f"Deposit for {booking}",
            "receipt_email": "ada@example.com",
        },
        options={"idempotency_key": f"booking:{booking}:payment_intent"},
    )


def paid_intent(client: stripe.StripeClient, booking: str = "bk_1", amount: int = 8250) -> Any:
    pi = create_deposit(client, booking, amount)
    return client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})


# ------------------------------------------------------------------------------------------------ payment intents


def test_deposit_confirmed_with_visa_succeeds_and_saves_the_card(client: stripe.StripeClient) -> None:
    # Given a customer and a deposit PaymentIntent that saves the card for later
    pi = create_deposit(client)
    assert pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(f"{pi.id}_secret_")
    assert (pi.amount_received, pi.latest_charge, pi.livemode) == (0, None, False)

    # When the customer confirms with a Visa test card
    confirmed = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})

    # Then it succeeds, the charge is an ID (a Charge object only when expanded) and the card is saved
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 8250
    assert confirmed.latest_charge.startswith("ch_")
    assert confirmed.payment_method.startswith("pm_") and confirmed.payment_method != "pm_card_visa"
    expanded = client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    charge = expanded.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert (charge.amount_captured, charge.paid, charge.captured, charge.refunded) == (8250, True, True, False)
    assert charge.transfer_group == "booking_bk_1"
    assert charge.metadata["booking_id"] == "bk_1"
    card = client.v1.payment_methods.retrieve(confirmed.payment_method)
    assert card.customer == pi.customer


def test_saved_card_pays_the_balance_off_session(client: stripe.StripeClient) -> None:
    # Given a paid deposit whose card was saved to the customer
    deposit = paid_intent(client)

    # When the balance is charged off-session with the saved card
    balance = client.v1.payment_intents.create(
        params={
            "amount": 8250,
            "currency": "usd",
            "customer": deposit.customer,
            "payment_method": deposit.payment_method,
            "off_session": True,
            "confirm": True,
            "metadata": {"booking_id": "bk_1", "payment_type": "balance"},
        },
        options={"idempotency_key": "booking:bk_1:balance"},
    )

    # Then it succeeds without the customer
    assert balance.status == "succeeded"
    assert balance.amount_received == 8250


def test_card_not_saved_cannot_be_reused_off_session(client: stripe.StripeClient) -> None:
    # Given a deposit paid WITHOUT setup_future_usage, so the card was never attached to the customer
    customer = client.v1.customers.create(params={"email": "bob@example.com"})
    pi = client.v1.payment_intents.create(
        params={
            "amount": 5000,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert pi.status == "succeeded"

    # When the same PaymentMethod is charged again off-session
    # Then Stripe refuses, as it does for a consumed single-use PaymentMethod
    with pytest.raises(stripe.InvalidRequestError, match="may not be used again"):
        client.v1.payment_intents.create(
            params={
                "amount": 5000,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": pi.payment_method,
                "off_session": True,
                "confirm": True,
            }
        )


def test_declined_card_raises_card_error_and_resets_the_intent(client: stripe.StripeClient) -> None:
    # Given a deposit PaymentIntent
    pi = create_deposit(client)

    # When it is confirmed with a card that the issuer declines
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_chargeDeclined"})

    # Then the 402 carries the decline codes and the PaymentIntent, which is back to requires_payment_method
    err = caught.value
    assert (err.http_status, err.code) == (402, "card_declined")
    assert err.error is not None
    assert err.error.decline_code == "generic_decline"
    assert err.error.payment_intent.id == pi.id
    assert err.error.payment_intent.status == "requires_payment_method"
    after = client.v1.payment_intents.retrieve(pi.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.code == "card_declined"
    assert client.v1.charges.retrieve(after.latest_charge).status == "failed"


def test_insufficient_funds_and_authentication_required_off_session(client: stripe.StripeClient) -> None:
    # Given a customer
    customer = client.v1.customers.create(params={"email": "cy@example.com"})
    base = {"amount": 1000, "currency": "usd", "customer": customer.id, "confirm": True}

    # When a card with insufficient funds is charged
    # Then the decline code says so
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(params={**base, "payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
    assert caught.value.error is not None and caught.value.error.decline_code == "insufficient_funds"

    # When a card that needs 3DS is charged off-session
    # Then Stripe fails with authentication_required instead of waiting for the customer
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(
            params={**base, "payment_method": "pm_card_authenticationRequired", "off_session": True}
        )
    assert caught.value.code == "authentication_required"
    assert caught.value.error is not None and caught.value.error.payment_intent.status == "requires_payment_method"


def test_state_rules_for_confirm_and_cancel(client: stripe.StripeClient) -> None:
    # Given one paid and one unpaid PaymentIntent
    paid = paid_intent(client, "bk_paid")
    open_pi = create_deposit(client, "bk_open")

    # When the paid one is confirmed or canceled again
    # Then Stripe answers payment_intent_unexpected_state
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.confirm(paid.id, params={"payment_method": "pm_card_visa"})
    assert caught.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.cancel(paid.id, params={"cancellation_reason": "abandoned"})
    assert caught.value.code == "payment_intent_unexpected_state"

    # When the unpaid one is canceled
    canceled = client.v1.payment_intents.cancel(open_pi.id, params={"cancellation_reason": "abandoned"})

    # Then it records why and when
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    assert canceled.canceled_at is not None


def test_validation_errors_look_like_stripe(client: stripe.StripeClient) -> None:
    # Given the usual PaymentIntent parameters
    params = {"amount": 49, "currency": "usd"}

    # When the amount is under Stripe's minimum, a parameter is unknown, or a customer does not exist
    # Then each is a 400 with Stripe's code and the offending param
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params=params)
    assert (caught.value.code, caught.value.param) == ("amount_too_small", "amount")
    unknown: Any = {"amount": 500, "currency": "usd", "colour": "blue"}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params=unknown)
    assert (caught.value.code, caught.value.param) == ("parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params={"amount": 500, "currency": "usd", "customer": "cus_missing"})
    assert (caught.value.code, caught.value.http_status) == ("resource_missing", 400)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.retrieve("pi_missing")
    assert (caught.value.code, caught.value.http_status) == ("resource_missing", 404)


def test_only_test_mode_secret_keys_are_accepted(double: StripeDouble) -> None:
    # Given a client holding a live-mode key (a made-up one: only its prefix matters)
    live = stripe.StripeClient("sk_" + "live_" + "not-a-real-key", base_addresses={"api": double.url})

    # When it calls the API
    # Then it gets a 401, as Stripe answers an unknown key
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.create(params={"email": "x@example.com"})


# ---------------------------------------------------------------------------------------------------- idempotency


def test_idempotency_key_replays_and_rejects_changed_params(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given a PaymentIntent created under a deterministic key
    first = create_deposit(client)

    # When the identical request is sent again (a Lambda re-invocation)
    again = create_deposit(client)

    # Then the first response is replayed: same object, no new PaymentIntent
    assert again.id == first.id
    assert [r.replayed for r in double.requests if r.path == "/v1/payment_intents"] == [False, True]
    assert len(client.v1.payment_intents.list().data) == 1

    # When the same key comes with different parameters
    # Then Stripe refuses with an idempotency error
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(
            params={"amount": 9999, "currency": "usd"}, options={"idempotency_key": "booking:bk_1:payment_intent"}
        )


def test_idempotency_keys_are_scoped_per_api_key_and_skip_validation_failures(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    # Given a request that failed validation under a key
    options: Any = {"idempotency_key": "k-1"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"}, options=options)

    # When the corrected request reuses the key, and another API key uses it too
    fixed = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"}, options=options)
    other = stripe.StripeClient("sk_test_other", base_addresses={"api": double.url})
    theirs = other.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"}, options=options)

    # Then both execute: validation failures are not saved and keys do not cross API keys
    assert fixed.id != theirs.id


def test_concurrent_requests_with_one_key_create_one_object(client: stripe.StripeClient) -> None:
    # Given eight threads sending the same create with the same key at once
    ids: list[str] = []

    def create() -> None:
        pi = client.v1.payment_intents.create(
            params={"amount": 700, "currency": "usd"}, options={"idempotency_key": "same"}
        )
        ids.append(pi.id)

    threads = [threading.Thread(target=create) for _ in range(8)]

    # When they all run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one PaymentIntent exists
    assert len(set(ids)) == 1 and len(ids) == 8


# ------------------------------------------------------------------------------------------ refunds and transfers


def test_partial_refund_then_over_refund_then_full(client: stripe.StripeClient) -> None:
    # Given a paid deposit of 82.50
    pi = paid_intent(client)

    # When 40.00 is refunded
    refund = client.v1.refunds.create(
        params={
            "payment_intent": pi.id,
            "amount": 4000,
            "reason": "requested_by_customer",
            "metadata": {"booking_id": "bk_1"},
        },
        options={"idempotency_key": "booking:bk_1:refund:1"},
    )

    # Then the refund succeeded and the charge shows it
    assert (refund.status, refund.amount, refund.charge) == ("succeeded", 4000, pi.latest_charge)
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 4000

    # When more than the remaining 42.50 is refunded
    # Then Stripe refuses with amount_too_large
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 4251})
    assert caught.value.code == "amount_too_large"

    # When the rest is refunded without an amount, and then once more
    rest = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert rest.amount == 4250
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": pi.latest_charge})

    # Then the charge is fully refunded and both refunds are listed, newest first
    assert caught.value.code == "charge_already_refunded"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.refunded, charge.amount_refunded) == (True, 8250)
    listed = client.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [rest.id, refund.id]


def test_transfer_to_provider_and_partial_reversal(client: stripe.StripeClient) -> None:
    # Given a paid booking
    pi = paid_intent(client)

    # When the provider's share is transferred from that charge
    transfer = client.v1.transfers.create(
        params={
            "amount": 8000,
            "currency": "usd",
            "destination": "acct_123",
            "transfer_group": "booking_bk_1",
            "source_transaction": pi.latest_charge,
            "metadata": {"booking_id": "bk_1"},
        },
        options={"idempotency_key": "booking:bk_1:transfer"},
    )

    # Then it is listed under the booking's transfer group
    assert (transfer.amount, transfer.amount_reversed, transfer.reversed) == (8000, 0, False)
    assert [t.id for t in client.v1.transfers.list(params={"transfer_group": "booking_bk_1"}).data] == [transfer.id]

    # When part of it is reversed
    reversal = client.v1.transfers.reversals.create(
        transfer.id,
        params={"amount": 1000, "metadata": {"why": "x"}},
        options={"idempotency_key": "booking:bk_1:reversal"},
    )

    # Then the transfer shows the reversal and more than the rest cannot be reversed
    assert reversal.id.startswith("trr_") and reversal.amount == 1000
    after = client.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed, after.reversals.total_count) == (1000, False, 1)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 7001})
    assert caught.value.code == "amount_too_large"


def test_transfer_rules_for_destination_and_source(client: stripe.StripeClient) -> None:
    # Given a paid charge of 82.50
    pi = paid_intent(client)
    base = {"currency": "usd", "source_transaction": pi.latest_charge}

    # When the destination is not an account, the source is unknown, or the transfers exceed the charge
    # Then each request is refused
    with pytest.raises(stripe.InvalidRequestError, match="No such destination"):
        client.v1.transfers.create(params={**base, "amount": 100, "destination": "bank_1"})
    with pytest.raises(stripe.InvalidRequestError, match="No such charge"):
        client.v1.transfers.create(
            params={**base, "amount": 100, "destination": "acct_123456789", "source_transaction": "ch_missing"}
        )
    client.v1.transfers.create(params={**base, "amount": 8000, "destination": "acct_123456789"})
    with pytest.raises(stripe.InvalidRequestError, match="must not exceed"):
        client.v1.transfers.create(params={**base, "amount": 251, "destination": "acct_123456789"})


# ------------------------------------------------------------------------------------------------- lists, events


def test_lists_page_newest_first_and_filter_by_created(client: stripe.StripeClient, clock: FakeClock) -> None:
    # Given seven PaymentIntents created a minute apart
    created = []
    for n in range(7):
        created.append(client.v1.payment_intents.create(params={"amount": 1000 + n, "currency": "usd"}).id)
        clock.advance(60)

    # When they are listed three at a time with auto-paging
    seen = [pi.id for pi in client.v1.payment_intents.list(params={"limit": 3}).auto_paging_iter()]

    # Then every one comes back once, newest first
    assert seen == list(reversed(created))

    # When only those created from the fifth one on are asked for
    since = client.v1.payment_intents.retrieve(created[4]).created
    recent = client.v1.payment_intents.list(params={"created": {"gte": since}, "limit": 100})

    # Then the filter applies and the envelope is Stripe's
    assert [pi.id for pi in recent.data] == list(reversed(created[4:]))
    assert (recent.object, recent.has_more, recent.url) == ("list", False, "/v1/payment_intents")


def test_events_have_stripe_shape(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given a paid deposit and a customer update
    pi = paid_intent(client)
    client.v1.customers.update(pi.customer, params={"name": "Ada L."})

    # When the succeeded events are listed
    events = client.v1.events.list(params={"type": "payment_intent.succeeded", "created": {"gte": 0}})

    # Then each carries the full object snapshot, the pinned API version and the triggering request
    assert len(events.data) == 1
    event = client.v1.events.retrieve(events.data[0].id)
    assert (event.object, event.api_version, event.livemode) == ("event", "2026-10-28.endive", False)
    assert event.data.object.id == pi.id and event.data.object.amount_received == 8250
    assert event.request.id.startswith("req_") and event.request.idempotency_key
    assert "previous_attributes" not in event.data
    types = [e["type"] for e in double.events]
    assert types[:2] == ["customer.created", "payment_intent.created"]
    assert {"payment_method.attached", "charge.succeeded", "payment_intent.succeeded"} <= set(types)
    updated = client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert updated.data.previous_attributes.name == "Ada"


def test_dispute_control_emits_dispute_created(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given a paid charge
    pi = paid_intent(client)

    # When the cardholder disputes it
    dispute = double.create_dispute(pi.latest_charge)

    # Then a needs_response dispute exists, the charge is flagged, the funds are withdrawn and both events recorded
    assert dispute["id"].startswith("dp_") and dispute["status"] == "needs_response"
    assert dispute["payment_intent"] == pi.id and dispute["amount"] == 8250
    assert [t["amount"] for t in dispute["balance_transactions"]] == [-8250]
    assert client.v1.charges.retrieve(pi.latest_charge).disputed is True
    assert [e["type"] for e in double.events[-2:]] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    assert all(e["request"] == {"id": None, "idempotency_key": None} for e in double.events[-2:])


# ------------------------------------------------------------------------------------------------------ webhooks


def test_webhooks_are_delivered_signed_and_verify_with_the_sdk(
    client: stripe.StripeClient, double: StripeDouble, receiver: Receiver
) -> None:
    # Given an endpoint subscribed to PaymentIntent successes
    double.add_webhook_endpoint(receiver.url, WHSEC, events=["payment_intent.succeeded"])

    # When a deposit is paid
    pi = paid_intent(client)
    assert double.wait_for_deliveries(timeout=5)

    # Then exactly that event arrived, signed so the SDK verifies it, and the attempt is recorded
    assert len(receiver.received) == 1
    body, headers = receiver.received[0]
    assert headers["Content-Type"].startswith("application/json")
    event = client.construct_event(body, headers["Stripe-Signature"], WHSEC)
    assert (event.type, event.data.object.id) == ("payment_intent.succeeded", pi.id)
    assert json.loads(body)["pending_webhooks"] == 1
    with pytest.raises(stripe.SignatureVerificationError):
        client.construct_event(body, headers["Stripe-Signature"], "whsec_wrong")
    [attempt] = double.deliveries
    assert (attempt.event_id, attempt.status, attempt.url) == (event.id, 200, receiver.url)
    assert client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_failed_deliveries_are_retried() -> None:
    # Given an endpoint that fails twice before accepting
    flaky = Receiver(statuses=[500, 503])
    double = StripeDouble(webhook_retry_delays=(0.01, 0.01, 0.01))
    double.start()
    try:
        double.add_webhook_endpoint(flaky.url, WHSEC)
        client = stripe.StripeClient("sk_test_local", base_addresses={"api": double.url})

        # When an event is emitted
        client.v1.customers.create(params={"email": "r@example.com"})
        assert double.wait_for_deliveries(timeout=5)

        # Then it was attempted three times and the last attempt succeeded
        assert [a.status for a in double.deliveries] == [500, 503, 200]
        assert len({body for body, _ in flaky.received}) == 1
    finally:
        double.stop()
        flaky.close()


def test_manual_delivery_lets_tests_sign_events_themselves(receiver: Receiver) -> None:
    # Given a double that holds events back
    double = StripeDouble(deliver_webhooks=False)
    double.start()
    try:
        client = stripe.StripeClient("sk_test_local", base_addresses={"api": double.url})
        double.add_webhook_endpoint(receiver.url, WHSEC)
        customer = client.v1.customers.create(params={"email": "m@example.com"})

        # When a test takes the pending event and signs its exact bytes
        [pending] = double.pending_events()
        payload = double.event_payload(pending["id"])
        header = StripeDouble.signature_header(payload, WHSEC)

        # Then the SDK accepts it, nothing was sent yet, and deliver_pending() sends it on demand
        assert client.construct_event(payload, header, WHSEC).data.object.id == customer.id
        assert receiver.received == []
        [attempt] = double.deliver_pending()
        assert attempt.ok and receiver.received[0][0] == payload
        assert double.pending_events() == []
    finally:
        double.stop()


# ------------------------------------------------------------------------------------------------------- outages


def test_outage_returns_500_until_the_client_gives_up(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given Stripe failing the next three calls (the client makes 1 + 2 retries)
    double.fail_next(3, status=500)

    # When a customer is created
    # Then the client raises APIError after retrying with the same idempotency key
    with pytest.raises(stripe.APIError):
        client.v1.customers.create(params={"email": "o@example.com"})
    attempts = [r for r in double.requests if r.path == "/v1/customers"]
    assert [r.status for r in attempts] == [500, 500, 500]
    assert len({r.idempotency_key for r in attempts}) == 1


def test_a_single_failure_is_absorbed_by_sdk_retries(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given one failing call for refunds only
    pi = paid_intent(client)
    double.fail_next(1, status=500, path="/v1/refunds")

    # When a refund is requested
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000})

    # Then the retry succeeded and exactly one refund exists
    assert refund.status == "succeeded"
    assert [r.status for r in double.requests if r.path == "/v1/refunds"] == [500, 200]
    assert len(client.v1.refunds.list(params={"payment_intent": pi.id}).data) == 1


def test_dropped_connections_raise_api_connection_error(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given Stripe closing every connection without answering
    double.set_down(True, status="connection")

    # When the client calls it
    # Then it raises APIConnectionError after its retries
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.list()
    assert [r.status for r in double.requests] == [None, None, None]

    # When Stripe is back up
    double.set_down(False)

    # Then calls work again
    assert client.v1.payment_intents.list().data == []


def test_http_control_routes_drive_the_local_runner(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given a paid deposit
    pi = create_deposit(client)

    # When the runner completes it, disputes it and injects a failure over HTTP
    succeeded = requests.post(f"{double.url}/_double/payment_intents/{pi.id}/succeed", timeout=5).json()
    charge_id = succeeded["latest_charge"]
    dispute = requests.post(
        f"{double.url}/_double/charges/{charge_id}/dispute", json={"reason": "general"}, timeout=5
    ).json()
    requests.post(f"{double.url}/_double/fail_next", json={"count": 1, "status": 503}, timeout=5)
    raw = requests.get(f"{double.url}/v1/charges/{charge_id}", headers={"Authorization": "Bearer sk_test_x"}, timeout=5)

    # Then the PaymentIntent succeeded, the dispute exists, the injected 503 came back, and reset clears it all
    assert succeeded["status"] == "succeeded" and dispute["reason"] == "general"
    assert raw.status_code == 503 and raw.json()["error"]["type"] == "api_error" and raw.headers["Request-Id"]
    logged = requests.get(f"{double.url}/_double/requests", timeout=5).json()
    assert logged[-1]["status"] == 503
    assert requests.post(f"{double.url}/_double/reset", timeout=5).ok
    assert double.events == [] and double.requests == []


# ------------------------------------------------------------------------------- faults that show failures at Stripe


def test_answer_lost_after_processing_leaves_the_object_made(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given a paid deposit, and Stripe losing its answer to the next refund after making it
    pi = paid_intent(client)
    double.fail_next(1, status=500, path="/v1/refunds", after_processing=True)

    # When the refund is requested under a deterministic key
    refund = client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 1000}, options={"idempotency_key": "booking:bk_1:refund:1"}
    )

    # Then the SDK's retry got the saved answer: one refund, made by the first call, whose answer was a 500
    logged = [(r.status, r.replayed) for r in double.requests if r.path == "/v1/refunds"]
    assert logged == [(500, False), (200, True)]
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": pi.id}).data] == [refund.id]
    assert [e["data"]["object"]["id"] for e in double.events if e["type"] == "refund.created"] == [refund.id]

    # When a transfer's connection drops after Stripe made it, and the caller does not retry
    double.fail_next(1, status="connection", path="/v1/transfers", after_processing=True)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.transfers.create(
            params={"amount": 5000, "currency": "usd", "destination": "acct_123", "transfer_group": "booking_bk_1"},
            options={"max_network_retries": 0},
        )

    # Then the transfer exists all the same, and the log shows the call went unanswered
    [transfer] = client.v1.transfers.list(params={"transfer_group": "booking_bk_1"}).data
    assert transfer.amount == 5000
    assert [r.status for r in double.requests if r.path == "/v1/transfers" and r.method == "POST"] == [None]


def test_latency_answers_late_after_the_work_is_done(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given customer calls answered 0.4 s late (set over HTTP, as the local runner does)
    control = requests.post(f"{double.url}/_double/latency", json={"seconds": 0.4, "path": "/v1/customers"}, timeout=5)
    assert control.ok
    answered = threading.Event()

    def create() -> None:
        client.v1.customers.create(params={"email": "slow@example.com"})
        answered.set()

    # When a customer is created
    started = time.monotonic()
    worker = threading.Thread(target=create)
    worker.start()

    # Then the customer and its event exist while the caller still waits, and the answer came after the latency
    deadline = time.monotonic() + 2
    while not double.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e["type"] for e in double.events] == ["customer.created"]
    assert not answered.is_set()
    worker.join(timeout=5)
    assert answered.is_set() and time.monotonic() - started >= 0.4

    # When latency is turned off, other paths were never delayed
    double.set_latency(0)
    assert client.v1.payment_intents.list().data == []


def test_refuse_next_refuses_a_transfer_without_side_effects(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given a paid charge and a platform balance that cannot cover the next transfer
    pi = paid_intent(client)
    double.refuse_next("/v1/transfers", "balance_insufficient")
    params: Any = {
        "amount": 4000,
        "currency": "usd",
        "destination": "acct_123",
        "source_transaction": pi.latest_charge,
        "transfer_group": "booking_bk_1",
    }

    # When the transfers are listed (a GET is never refused), then a transfer is made
    assert client.v1.transfers.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.transfers.create(params=params, options={"idempotency_key": "booking:bk_1:transfer"})

    # Then Stripe's balance_insufficient came back and nothing was made
    assert (caught.value.http_status, caught.value.code) == (400, "balance_insufficient")
    assert str(caught.value.user_message).startswith("You have insufficient available funds in your Stripe account")
    assert client.v1.transfers.list().data == []
    assert not [e for e in double.events if e["type"].startswith("transfer.")]

    # When the same key is retried, then with a new key
    # Then the saved refusal is replayed, as Stripe does for 24 h, and the new key makes the transfer
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create(params=params, options={"idempotency_key": "booking:bk_1:transfer"})
    assert double.requests[-1].replayed
    made = client.v1.transfers.create(params=params, options={"idempotency_key": "booking:bk_1:transfer:2"})
    assert made.amount == 4000

    # When a refusal is queued over HTTP with its own message
    body = {"path": "/v1/refunds", "code": "charge_already_refunded", "message": "Refused by the test."}
    assert requests.post(f"{double.url}/_double/refuse_next", json=body, timeout=5).json() == {"queued": 1}

    # Then the next refund carries it
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})
    assert (caught.value.code, caught.value.user_message) == ("charge_already_refunded", "Refused by the test.")


# ----------------------------------------------------------------------------------- disputes and refunds outside us


def test_refund_on_a_disputed_charge_is_refused_until_the_dispute_is_won(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    # Given a paid charge that the cardholder disputed
    pi = paid_intent(client)
    dispute = double.create_dispute(pi.latest_charge)
    options: Any = {"idempotency_key": "booking:bk_1:refund:1"}

    # When it is refunded
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000}, options=options)

    # Then Stripe refuses with charge_disputed, changes nothing, and saves the refusal under the key
    err = caught.value
    assert (err.http_status, err.code) == (400, "charge_disputed")
    assert err.user_message == f"Charge {pi.latest_charge} has been charged back; cannot issue a refund."
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000}, options=options)
    assert double.requests[-1].replayed
    assert client.v1.refunds.list(params={"payment_intent": pi.id}).data == []
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 0

    # When the bank decides the dispute for the business
    won = double.close_dispute(dispute["id"], "won")

    # Then the dispute is closed with its funds reinstated, and the charge can be refunded again
    assert won["status"] == "won" and [t["amount"] for t in won["balance_transactions"]] == [-8250, 8250]
    closed, reinstated = double.events[-2:]
    assert (closed["type"], reinstated["type"]) == ("charge.dispute.closed", "charge.dispute.funds_reinstated")
    assert closed["data"]["object"]["status"] == "won" and closed["request"]["id"] is None
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1000})
    assert refund.status == "succeeded"


def test_merchant_accepts_a_dispute_and_closed_disputes_stay_closed(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    # Given two disputed bookings
    first, second = paid_intent(client, "bk_1"), paid_intent(client, "bk_2")
    one = double.create_dispute(first.latest_charge)
    other = double.create_dispute(second.latest_charge, reason="product_not_received")

    # When the disputes are listed by payment intent and by charge
    # Then each filter finds only its own
    assert [d.id for d in client.v1.disputes.list(params={"payment_intent": first.id}).data] == [one["id"]]
    assert [d.id for d in client.v1.disputes.list(params={"charge": second.latest_charge}).data] == [other["id"]]

    # When the business accepts the first through the API
    accepted = client.v1.disputes.close(one["id"])

    # Then it is lost, with one closed event and no funds reinstated
    assert accepted.status == "lost"
    assert double.events[-1]["type"] == "charge.dispute.closed" and double.events[-1]["request"]["id"]
    with pytest.raises(stripe.InvalidRequestError, match="already closed"):
        client.v1.disputes.close(one["id"])
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": first.id})
    assert caught.value.code == "charge_disputed"

    # When the bank decides the second over HTTP, and then someone tries to decide it again
    url = f"{double.url}/_double/disputes/{other['id']}/close"
    decided = requests.post(url, json={"status": "won"}, timeout=5)
    again = requests.post(url, json={"status": "lost"}, timeout=5)

    # Then it was won once, and the second decision is refused like Stripe refuses it
    assert decided.json()["status"] == "won"
    assert again.status_code == 400 and again.json()["error"]["type"] == "invalid_request_error"
    assert client.v1.disputes.retrieve(other["id"]).status == "won"


def test_refund_that_fails_later_gives_its_amount_back_to_the_charge(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    # Given a paid deposit with a refund of 40.00
    pi = paid_intent(client)
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 4000})
    assert (refund.failure_reason, refund.failure_balance_transaction, refund.pending_reason) == (None, None, None)

    # When the bank returns the refund (the card was closed)
    double.fail_refund(refund.id)

    # Then the refund failed, the charge no longer counts it, and the three refund events were emitted
    failed = client.v1.refunds.retrieve(refund.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    assert failed.failure_balance_transaction.startswith("txn_")
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    events = double.events[-3:]
    assert [e["type"] for e in events] == ["charge.refund.updated", "refund.updated", "refund.failed"]
    assert all(e["data"]["object"]["id"] == refund.id for e in events)
    assert events[1]["data"]["previous_attributes"]["status"] == "succeeded"

    # When it is failed again over HTTP
    again = requests.post(f"{double.url}/_double/refunds/{refund.id}/fail", json={}, timeout=5)

    # Then that is refused, and the whole charge can be refunded
    assert (
        again.status_code == 400 and "only a succeeded or pending refund can fail" in again.json()["error"]["message"]
    )
    assert client.v1.refunds.create(params={"payment_intent": pi.id}).amount == 8250


def test_dashboard_refund_follows_the_api_rules_without_our_metadata(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    # Given a paid deposit of 82.50 of which our code refunded 40.00
    pi = paid_intent(client)
    ours = client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 4000, "metadata": {"booking_id": "bk_1"}},
        options={"idempotency_key": "booking:bk_1:refund:1"},
    )

    # When the owner refunds more than the rest in the Dashboard
    # Then Stripe refuses it as it refuses the API
    with pytest.raises(StripeError) as caught:
        double.dashboard_refund(payment_intent=pi.id, amount=5000)
    assert caught.value.code == "amount_too_large"

    # When the owner refunds the rest in the Dashboard (over HTTP)
    response = requests.post(f"{double.url}/_double/refunds", json={"charge": pi.latest_charge}, timeout=5)

    # Then it is a normal refund without metadata, its events name no idempotency key, and the API log has only ours
    theirs = response.json()
    assert response.ok and (theirs["amount"], theirs["metadata"], theirs["status"]) == (4250, {}, "succeeded")
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": pi.id}).data] == [theirs["id"], ours.id]
    assert client.v1.charges.retrieve(pi.latest_charge).refunded is True
    created = [e for e in double.events if e["type"] == "refund.created"][-1]
    assert created["data"]["object"]["id"] == theirs["id"]
    assert created["request"]["id"].startswith("req_") and created["request"]["idempotency_key"] is None
    assert len([r for r in double.requests if r.method == "POST" and r.path == "/v1/refunds"]) == 1


# ---------------------------------------------------------------------------------------------- webhook delivery


def test_held_webhooks_are_sent_in_order_on_release(
    client: stripe.StripeClient, double: StripeDouble, receiver: Receiver
) -> None:
    # Given an endpoint, and deliveries held over HTTP
    double.add_webhook_endpoint(receiver.url, WHSEC)
    held = requests.post(f"{double.url}/_double/webhooks/hold", json={"hold": True}, timeout=5).json()
    assert held == {"held": True, "released": 0}

    # When a customer is created and updated
    customer = client.v1.customers.create(params={"email": "h@example.com"})
    client.v1.customers.update(customer.id, params={"name": "H"})

    # Then nothing was sent
    assert double.wait_for_deliveries(timeout=5)
    assert receiver.received == [] and double.deliveries == []

    # When the hold is lifted
    released = requests.post(f"{double.url}/_double/webhooks/hold", json={"hold": False}, timeout=5).json()
    assert released == {"held": False, "released": 2}
    assert double.wait_for_deliveries(timeout=5)

    # Then both events arrived in the order they happened
    assert [json.loads(body)["type"] for body, _ in receiver.received] == ["customer.created", "customer.updated"]


def test_webhook_delay_sends_each_event_after_the_api_answer(
    client: stripe.StripeClient, double: StripeDouble, receiver: Receiver
) -> None:
    # Given an endpoint and deliveries 0.3 s after each event
    double.add_webhook_endpoint(receiver.url, WHSEC)
    double.set_webhook_delay(0.3)

    # When a customer is created
    started = time.monotonic()
    client.v1.customers.create(params={"email": "d@example.com"})

    # Then the API answered first and the event came after the delay
    assert receiver.received == []
    assert double.wait_for_deliveries(timeout=5)
    assert time.monotonic() - started >= 0.3
    assert [json.loads(body)["type"] for body, _ in receiver.received] == ["customer.created"]


def test_failed_delivery_is_retried_in_the_background_without_holding_back_later_events(
    client: stripe.StripeClient, double: StripeDouble
) -> None:
    # Given an endpoint that fails its first delivery, retried 0.3 s later
    flaky = Receiver(statuses=[500])
    try:
        double.add_webhook_endpoint(flaky.url, WHSEC)
        double.set_webhook_retry_delays([0.3])

        # When two events happen one after the other
        customer = client.v1.customers.create(params={"email": "r@example.com"})
        client.v1.customers.update(customer.id, params={"name": "R"})
        assert double.wait_for_deliveries(timeout=5)

        # Then the second arrived during the first one's backoff, and the first arrived on its retry
        attempts = [(a.event_type, a.attempt, a.status) for a in double.deliveries]
        assert attempts == [("customer.created", 1, 500), ("customer.updated", 1, 200), ("customer.created", 2, 200)]
    finally:
        flaky.close()


def test_retries_stop_when_the_delays_are_used_up(client: stripe.StripeClient, double: StripeDouble) -> None:
    # Given an endpoint that always fails, and two retries set over HTTP
    down = Receiver(statuses=[503] * 10)
    try:
        double.add_webhook_endpoint(down.url, WHSEC)
        control = requests.post(f"{double.url}/_double/webhooks/retry_delays", json={"delays": [0.01, 0.02]}, timeout=5)
        assert control.json() == {"delays": [0.01, 0.02]}

        # When an event happens
        client.v1.customers.create(params={"email": "x@example.com"})
        assert double.wait_for_deliveries(timeout=5)

        # Then it was tried three times, and it is still pending at Stripe
        assert [(a.attempt, a.status) for a in double.deliveries] == [(1, 503), (2, 503), (3, 503)]
        assert double.events[-1]["pending_webhooks"] == 1
    finally:
        down.close()


def test_reset_clears_every_fault_and_webhook_mode(
    client: stripe.StripeClient, double: StripeDouble, receiver: Receiver
) -> None:
    # Given every fault and webhook mode switched on
    double.add_webhook_endpoint(receiver.url, WHSEC)
    double.fail_next(1, path="/v1/customers", after_processing=True)
    double.refuse_next("/v1/customers", "balance_insufficient")
    double.set_latency(5)
    double.hold_webhooks()
    double.set_webhook_delay(5)
    double.set_webhook_retry_delays([5])

    # When the double is reset
    double.reset()

    # Then a call is answered at once and succeeds, and its event is delivered at once
    quick = stripe.StripeClient(
        "sk_test_local",
        base_addresses={"api": double.url},
        http_client=stripe.RequestsClient(timeout=2),
        max_network_retries=0,
    )
    quick.v1.customers.create(params={"email": "z@example.com"})
    assert not double.webhooks_held
    assert double.wait_for_deliveries(timeout=2)
    assert [json.loads(body)["type"] for body, _ in receiver.received] == ["customer.created"]
