"""The Stripe double as a browser's Stripe.js reaches it: a publishable key (`key` field or Bearer), the
PaymentIntent's client_secret, card numbers from the Payment Element, 3-D Secure, CORS, and the `/v3/` script."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from local.stripe_double import PUBLISHABLE_KEY_REFUSED, StripeDouble

PK = "pk_test_local_double"
SK = "sk_test_local"
TIMEOUT = 10


@pytest.fixture
def double() -> Iterator[StripeDouble]:
    stub = StripeDouble()
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def server(double: StripeDouble) -> stripe.StripeClient:
    return stripe.StripeClient(SK, base_addresses={"api": double.url})


def new_intent(server: stripe.StripeClient, **extra: Any) -> Any:
    """A PaymentIntent as the API's create-intent makes it: a customer, metadata, the card saved for later."""
    customer = server.v1.customers.create(params={"email": "ada@example.com"})
    params: dict[str, Any] = {
        "amount": 8250,
        "currency": "usd",
        "customer": customer.id,
        "setup_future_usage": "off_session",
        "metadata": {"booking_id": "bk_1"},
        "automatic_payment_methods": {"enabled": True},
        **extra,
    }
    return server.v1.payment_intents.create(params=params)


def card(number: str, prefix: str = "payment_method_data") -> dict[str, str]:
    """The Payment Element's fields as Stripe.js form-encodes them (under `prefix`, or top-level when empty)."""
    start, end = (f"{prefix}[", "]") if prefix else ("", "")
    return {
        f"{start}type{end}": "card",
        f"{start}card{end}[number]": number,
        f"{start}card{end}[exp_month]": "12",
        f"{start}card{end}[exp_year]": "34",
        f"{start}card{end}[cvc]": "123",
    }


def browser_confirm(double: StripeDouble, pi: Any, fields: dict[str, str]) -> requests.Response:
    """`stripe.confirmPayment`'s call: publishable key and client_secret as form fields."""
    return requests.post(
        f"{double.url}/v1/payment_intents/{pi.id}/confirm",
        data={
            "key": PK,
            "client_secret": pi.client_secret,
            "return_url": "http://localhost:8080/book/verify",
            "use_stripe_sdk": "true",
            "expand[]": "payment_method",
            **fields,
        },
        timeout=TIMEOUT,
    )


def authenticate(double: StripeDouble, body: dict[str, Any], outcome: str, secret: str) -> requests.Response:
    source = body["next_action"]["use_stripe_sdk"]["three_d_secure_2_source"]
    return requests.post(
        f"{double.url}/hooks.stripe.com/3d_secure_2_test/{source}/{outcome}",
        data={"key": PK, "client_secret": secret},
        timeout=TIMEOUT,
    )


# ------------------------------------------------------------------------------------------- where a pk works


def test_publishable_key_retrieves_a_payment_intent_with_its_client_secret(
    double: StripeDouble, server: stripe.StripeClient
) -> None:
    # Given a PaymentIntent made by the server with metadata and a customer
    pi = new_intent(server)
    url = f"{double.url}/v1/payment_intents/{pi.id}"

    # When the browser retrieves it with the publishable key (as a query field, then as a Bearer token)
    by_field = requests.get(url, params={"key": PK, "client_secret": pi.client_secret}, timeout=TIMEOUT)
    by_header = requests.get(
        url, params={"client_secret": pi.client_secret}, headers={"Authorization": f"Bearer {PK}"}, timeout=TIMEOUT
    )

    # Then it sees the publishable fields only: no metadata, no customer
    assert by_field.status_code == by_header.status_code == 200
    body = by_field.json()
    assert (body["id"], body["status"], body["amount"], body["client_secret"]) == (
        pi.id,
        "requires_payment_method",
        8250,
        pi.client_secret,
    )
    assert "metadata" not in body and "customer" not in body and "latest_charge" not in body
    # And the secret key still sees everything, with or without the client_secret
    full = server.v1.payment_intents.retrieve(pi.id, params={"client_secret": pi.client_secret})
    assert full.metadata["booking_id"] == "bk_1" and full.customer is not None


def test_publishable_key_needs_the_right_client_secret(double: StripeDouble, server: stripe.StripeClient) -> None:
    # Given a PaymentIntent and another one whose secret the browser does not hold
    pi, other = new_intent(server), new_intent(server)
    url = f"{double.url}/v1/payment_intents/{pi.id}"

    # When the browser retrieves it without a client_secret
    # Then Stripe does not even say that it exists
    missing = requests.get(url, params={"key": PK}, timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    assert missing.json()["error"]["message"] == f"No such payment_intent: '{pi.id}'"

    # When it sends another PaymentIntent's secret, to read or to confirm
    # Then the secret does not match
    wrong = requests.get(url, params={"key": PK, "client_secret": other.client_secret}, timeout=TIMEOUT)
    confirm = requests.post(
        f"{url}/confirm",
        data={"key": PK, "client_secret": other.client_secret, **card("4242424242424242")},
        timeout=TIMEOUT,
    )
    for answer in (wrong, confirm):
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            "payment_intent_invalid_parameter",
            "client_secret",
        )
        assert error["message"] == (
            "The client_secret provided does not match the client_secret associated with the PaymentIntent."
        )
    # And nothing was charged
    assert server.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("POST", "/v1/payment_intents", {"amount": "1000", "currency": "usd"}),
        ("GET", "/v1/payment_intents", {}),
        ("POST", "/v1/payment_intents/{pi}", {"description": "cheaper"}),
        ("POST", "/v1/payment_intents/{pi}/cancel", {}),
        ("POST", "/v1/payment_intents/{pi}/capture", {}),
        ("GET", "/v1/customers", {}),
        ("POST", "/v1/customers", {"email": "eve@example.com"}),
        ("GET", "/v1/charges", {}),
        ("POST", "/v1/refunds", {"payment_intent": "{pi}"}),
        ("POST", "/v1/transfers", {"amount": "100", "currency": "usd", "destination": "acct_1"}),
        ("GET", "/v1/events", {}),
        ("GET", "/v1/payment_methods/pm_card_visa", {}),
    ],
)
def test_publishable_key_is_refused_everywhere_else(
    double: StripeDouble, server: stripe.StripeClient, method: str, path: str, data: dict[str, str]
) -> None:
    # Given a PaymentIntent whose client_secret the browser holds
    pi = new_intent(server)
    fields = {k: v.replace("{pi}", pi.id) for k, v in {**data, "client_secret": pi.client_secret}.items()}

    # When the publishable key calls a server-only route, even with the client_secret
    answer = requests.request(
        method,
        f"{double.url}{path.replace('{pi}', pi.id)}",
        params=fields if method == "GET" else None,
        data=fields if method == "POST" else None,
        headers={"Authorization": f"Bearer {PK}"},
        timeout=TIMEOUT,
    )

    # Then Stripe's refusal, and nothing changed
    assert answer.status_code == 401
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": PUBLISHABLE_KEY_REFUSED}
    assert len(server.v1.payment_intents.list().data) == 1
    assert server.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"


def test_live_keys_stay_refused_and_the_key_is_not_logged(double: StripeDouble, server: stripe.StripeClient) -> None:
    pi = new_intent(server)
    for key in ("pk_" + "live_" + "not-a-real-key", "sk_" + "live_" + "not-a-real-key"):
        answer = requests.get(
            f"{double.url}/v1/payment_intents/{pi.id}",
            params={"key": key, "client_secret": pi.client_secret},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["message"].startswith("Invalid API Key provided")
    # The request log keeps the parameters, never the key field
    assert all("key" not in request.params for request in double.requests)


def test_browser_confirm_accepts_only_what_a_client_may_send(double: StripeDouble, server: stripe.StripeClient) -> None:
    # Given an automatic-confirmation PaymentIntent and a manual one
    pi = new_intent(server)
    manual = new_intent(server, confirmation_method="manual")

    # When the browser tries to set server-side fields while confirming
    # Then each is an unknown parameter for a publishable key
    for extra in ({"off_session": "true"}, {"capture_method": "manual"}, {"metadata[booking_id]": "bk_2"}):
        answer = browser_confirm(double, pi, {**card("4242424242424242"), **extra})
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "parameter_unknown"

    # When it confirms a manual-confirmation PaymentIntent
    # Then only the server's secret key may
    answer = browser_confirm(double, manual, card("4242424242424242"))
    assert answer.status_code == 400
    assert "secret key" in answer.json()["error"]["message"]
    assert server.v1.payment_intents.retrieve(manual.id).status == "requires_payment_method"

    # And a PaymentIntent the browser confirmed with a card number is unchanged for the server
    paid = browser_confirm(double, pi, card("4242424242424242"))
    assert paid.status_code == 200 and paid.json()["status"] == "succeeded"
    assert server.v1.payment_intents.retrieve(pi.id).metadata["booking_id"] == "bk_1"


def test_secret_key_works_everywhere_but_may_not_send_card_numbers(
    double: StripeDouble, server: stripe.StripeClient
) -> None:
    # Given a PaymentIntent
    pi = new_intent(server)

    # When the server sends raw card details (a default Stripe account refuses them)
    # Then it is refused, while test tokens keep working
    with pytest.raises(stripe.InvalidRequestError) as caught:
        server.v1.payment_intents.confirm(
            pi.id,
            params={"payment_method_data": {"type": "card", "card": {"number": "4242424242424242"}}},  # type: ignore[typeddict-item]
        )
    assert "Sending credit card numbers directly to the Stripe API is generally unsafe" in str(caught.value)
    paid = server.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "succeeded"


# -------------------------------------------------------------------------------------- card numbers, outcomes


@pytest.mark.parametrize(
    ("number", "http", "status", "decline_code"),
    [
        ("4242424242424242", 200, "succeeded", None),
        ("4242 4242 4242 4242", 200, "succeeded", None),
        ("4000000000000002", 402, "requires_payment_method", "generic_decline"),
        ("4000000000009995", 402, "requires_payment_method", "insufficient_funds"),
        ("4000000000000341", 402, "requires_payment_method", "generic_decline"),
        ("4000002760003184", 200, "requires_action", None),
        ("4000002500003155", 200, "requires_action", None),
    ],
)
def test_card_numbers_confirm_like_their_test_tokens(
    double: StripeDouble, server: stripe.StripeClient, number: str, http: int, status: str, decline_code: str | None
) -> None:
    # Given a PaymentIntent
    pi = new_intent(server)

    # When the browser confirms it with a test card number
    answer = browser_confirm(double, pi, card(number))

    # Then the outcome is the test card's, seen the same way by the server
    assert answer.status_code == http
    body = answer.json()
    if decline_code:
        error = body["error"]
        assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", decline_code)
        assert error["payment_intent"]["status"] == status and "metadata" not in error["payment_intent"]
    else:
        assert body["status"] == status
        assert body["payment_method"]["card"]["last4"] == number.replace(" ", "")[-4:]
    assert server.v1.payment_intents.retrieve(pi.id).status == status


def test_three_d_secure_completed_in_the_browser_pays_and_emits_the_webhooks(
    double: StripeDouble, server: stripe.StripeClient
) -> None:
    # Given a PaymentIntent confirmed with a card that always asks for 3-D Secure
    pi = new_intent(server)
    body = browser_confirm(double, pi, card("4000002760003184")).json()
    assert body["next_action"]["type"] == "use_stripe_sdk"
    assert server.v1.payment_intents.retrieve(pi.id).status == "requires_action"

    # When the customer completes the authentication on the stand-in of Stripe's test page
    done = authenticate(double, body, "complete", pi.client_secret)

    # Then the payment succeeded, the card was saved, and the usual events went out
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    paid = server.v1.payment_intents.retrieve(pi.id, params={"expand": ["payment_method"]})
    assert paid.status == "succeeded" and paid.payment_method.customer == pi.customer
    types = [event["type"] for event in double.events]
    assert types[-2:] == ["charge.succeeded", "payment_intent.succeeded"]
    assert "payment_intent.requires_action" in types

    # And the same authentication cannot be replayed
    again = authenticate(double, body, "complete", pi.client_secret)
    assert again.status_code == 400 and again.json()["error"]["code"] == "payment_intent_unexpected_state"


def test_three_d_secure_failed_leaves_the_intent_for_another_card(
    double: StripeDouble, server: stripe.StripeClient
) -> None:
    # Given a PaymentIntent waiting for 3-D Secure
    pi = new_intent(server)
    body = browser_confirm(double, pi, card("4000002500003155")).json()

    # When the wrong secret is sent to the authentication page, then the customer fails it
    wrong = authenticate(double, body, "complete", new_intent(server).client_secret)
    failed = authenticate(double, body, "fail", pi.client_secret)

    # Then the wrong secret changed nothing, and the failure is Stripe's
    assert wrong.status_code == 400
    assert failed.status_code == 200
    result = failed.json()
    assert (result["status"], result["payment_method"], result["next_action"]) == (
        "requires_payment_method",
        None,
        None,
    )
    error = result["last_payment_error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "payment_intent_authentication_failure")
    assert double.events[-1]["type"] == "payment_intent.payment_failed"

    # And another card then pays
    assert browser_confirm(double, pi, card("4242424242424242")).json()["status"] == "succeeded"


def test_saved_3ds_on_setup_card_pays_off_session_later(double: StripeDouble, server: stripe.StripeClient) -> None:
    # Given a deposit paid in the browser with the "3-D Secure on setup" card, authenticated once
    pi = new_intent(server)
    body = browser_confirm(double, pi, card("4000002500003155")).json()
    authenticate(double, body, "complete", pi.client_secret)
    saved = server.v1.payment_intents.retrieve(pi.id).payment_method

    # When the server charges the balance off-session with the saved card
    balance = server.v1.payment_intents.create(
        params={
            "amount": 8250,
            "currency": "usd",
            "customer": pi.customer,
            "payment_method": saved,
            "off_session": True,
            "confirm": True,
        }
    )

    # Then it goes through without the customer
    assert balance.status == "succeeded"


def test_payment_methods_from_card_details(double: StripeDouble, server: stripe.StripeClient) -> None:
    def create(number: str, **extra: str) -> requests.Response:
        return requests.post(
            f"{double.url}/v1/payment_methods", data={"key": PK, **card(number, ""), **extra}, timeout=TIMEOUT
        )

    # When the browser creates a PaymentMethod from a test card
    made = create("4000000000000341", **{"billing_details[name]": "Ada"})

    # Then it is a card with that number's last4, usable to confirm a PaymentIntent
    assert made.status_code == 200
    pm = made.json()
    assert (pm["type"], pm["card"]["last4"], pm["card"]["exp_year"], pm["billing_details"]["name"]) == (
        "card",
        "0341",
        2034,
        "Ada",
    )
    pi = new_intent(server)
    declined = browser_confirm(double, pi, {"payment_method": pm["id"]})
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "card_declined"
    ok = create("4242424242424242").json()
    assert browser_confirm(double, pi, {"payment_method": ok["id"]}).json()["status"] == "succeeded"

    # When the number is mistyped, is a real card, or the expiry or CVC is wrong
    # Then Stripe's card errors, naming the field
    expectations = [
        (create("4242424242424241"), "incorrect_number", "card[number]"),
        (create("4111111111111111"), "card_declined", None),
        (create("4242424242424242", **{"card[exp_month]": "13"}), "invalid_expiry_month", "card[exp_month]"),
        (create("4242424242424242", **{"card[exp_year]": "19"}), "invalid_expiry_year", "card[exp_year]"),
        (create("4242424242424242", **{"card[cvc]": "12a"}), "invalid_cvc", "card[cvc]"),
    ]
    for answer, code, param in expectations:
        assert answer.status_code == 402
        error = answer.json()["error"]
        assert (error["type"], error["code"], error.get("param")) == ("card_error", code, param)
    assert create("4111111111111111").json()["error"]["decline_code"] == "test_mode_live_card"

    # And the secret key may not send card numbers
    with pytest.raises(stripe.InvalidRequestError):
        server.v1.payment_methods.create(params={"type": "card", "card": {"number": "4242424242424242"}})  # type: ignore[typeddict-item]


# ---------------------------------------------------------------------------------------------- CORS, /v3/


def test_browsers_from_any_origin_are_answered(double: StripeDouble, server: stripe.StripeClient) -> None:
    origin = {"Origin": "http://localhost:8080"}
    pi = new_intent(server)

    # A preflight for a request with Stripe's headers is allowed
    preflight = requests.options(
        f"{double.url}/v1/payment_intents/{pi.id}/confirm",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, stripe-version, idempotency-key",
        },
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "stripe-version", "idempotency-key"} <= allowed
    assert all(r.method != "OPTIONS" for r in double.requests)  # a preflight is not an API call

    # Answers, errors included, carry the header a browser needs to read them
    ok = requests.get(
        f"{double.url}/v1/payment_intents/{pi.id}",
        params={"key": PK, "client_secret": pi.client_secret},
        headers=origin,
        timeout=TIMEOUT,
    )
    refused = requests.get(f"{double.url}/v1/customers", params={"key": PK}, headers=origin, timeout=TIMEOUT)
    double.fail_next(1, 500, path="/v1/payment_intents")
    outage = requests.get(
        f"{double.url}/v1/payment_intents/{pi.id}",
        params={"key": PK, "client_secret": pi.client_secret},
        headers=origin,
        timeout=TIMEOUT,
    )
    assert (ok.status_code, refused.status_code, outage.status_code) == (200, 401, 500)
    for answer in (ok, refused, outage):
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "Request-Id" in answer.headers["Access-Control-Expose-Headers"]


def test_v3_serves_the_stripe_js_stand_in(double: StripeDouble) -> None:
    for path in ("/v3/", "/v3"):
        answer = requests.get(f"{double.url}{path}", timeout=TIMEOUT)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/javascript")
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "window.Stripe = Stripe" in answer.text
        assert "stripe-3ds-complete" in answer.text and "stripe-3ds-fail" in answer.text
