"""GET /config: what the site kit reads before its first call, and the publishable key of create-intent's answer."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from local.stripe_double import StripeDouble
from tests.integration.helpers import stored_state
from tests.support import ApiClient

SIGN_IN_BASE = "https://owners-demo.auth.eu-west-1.amazoncognito.com"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change the functions' environment for one test; settings are read once per container, so re-read them."""
    from booking.settings import get_settings

    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def configure(monkeypatch: pytest.MonkeyPatch, **variables: str | None) -> None:
    from booking.settings import get_settings

    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_config_has_the_business_the_stripe_key_the_services_and_the_booking_rules(api: ApiClient) -> None:
    from booking.domain.catalog import get_catalog

    # When the site kit asks for its configuration
    response = api.get("/config")
    # Then it gets the catalog's business and services, the publishable key of the environment, and the rules
    assert response.status == 200, response.body
    catalog = get_catalog()
    assert response.body["business"] == {"name": catalog.business.name, "time_zone": catalog.business.time_zone}
    assert response.body["currencies"] == ["cad", "usd"]
    assert response.body["stripe"] == {
        "publishable_key": os.environ["STRIPE_PUBLISHABLE_KEY"],
        "js_url": "https://js.stripe.com/v3/",
    }
    assert response.body["booking"] == {"hold_minutes": 15, "token_minutes": 30}
    assert response.body["owner_sign_in"] == {"mode": "none"}
    assert response.body["notifications"] == {"sms": False}
    assert set(response.body) == {
        "business",
        "currencies",
        "stripe",
        "services",
        "packages",
        "notifications",
        "booking",
        "owner_sign_in",
    }
    [package] = response.body["packages"]
    assert (package["id"], package["sessions"], package["services"]) == ("coaching-3", 3, ["skin-coaching"])
    # And each service as the widget shows it: price, deposit, the payment types it may offer, capacity
    by_id = {service["id"]: service for service in response.body["services"]}
    assert [service["id"] for service in response.body["services"]] == [s.id for s in catalog.services]
    assert by_id["signature-facial"] == {
        "id": "signature-facial",
        "name": "Signature Facial (60 min)",
        "duration_minutes": 60,
        "price": {"amount": 16500, "currency": "usd"},
        "deposit": {"amount": 8250, "currency": "usd"},
        "deposit_percent": 50,
        "payment_types": ["deposit", "full"],
        "capacity": 1,
        "prices": [{"amount": 16500, "currency": "usd"}],
        "deposits": [{"amount": 8250, "currency": "usd"}],
        "free": False,
        "requires_phone": False,
        "max_reschedules": None,
        "role_prices": [],
        "party_limit": 1,
        "group_rates": [],
        "waitlist": False,
        "recurrence": None,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
    }
    # A deposit of 100% is the full price: only "full" is offered
    consultation = by_id["skin-consultation"]
    assert consultation["deposit_percent"] == 100
    assert consultation["payment_types"] == ["full"]
    assert consultation["deposit"] == consultation["price"]
    assert consultation["capacity"] == 2


def test_config_is_cacheable_by_browsers_and_cdns_for_five_minutes(api: ApiClient) -> None:
    response = api.get("/config")
    assert response.status == 200
    assert response.headers["cache-control"] == "public, max-age=300"


def test_config_needs_no_owner_token(api: ApiClient) -> None:
    # The route is public (Auth: NONE): an Authorization header that is no token at all is not even looked at
    response = api.request("GET", "/config", headers={"Authorization": "Bearer not-a-token"})
    assert response.status == 200


def test_stripe_js_comes_from_the_configured_url(api: ApiClient, settings_env: pytest.MonkeyPatch) -> None:
    configure(settings_env, STRIPE_JS_URL="http://127.0.0.1:12111/v3/")
    assert api.get("/config").body["stripe"]["js_url"] == "http://127.0.0.1:12111/v3/"


def test_without_a_publishable_key_config_is_500_misconfigured(
    api: ApiClient, settings_env: pytest.MonkeyPatch
) -> None:
    configure(settings_env, STRIPE_PUBLISHABLE_KEY=None)
    response = api.get("/config")
    assert response.status == 500
    assert response.error_code == "misconfigured"
    assert "pk_" not in str(response.body)


def test_local_runner_mode_tells_the_dashboard_to_use_the_dev_token(
    api: ApiClient, settings_env: pytest.MonkeyPatch
) -> None:
    configure(settings_env, OWNER_SIGN_IN_MODE="local")
    assert api.get("/config").body["owner_sign_in"] == {"mode": "local"}


def test_cognito_mode_gives_the_hosted_ui_endpoints_of_the_domain(
    api: ApiClient, settings_env: pytest.MonkeyPatch
) -> None:
    # Given the variables the template sets when the stack has a hosted sign-in domain
    configure(
        settings_env,
        OWNER_SIGN_IN_MODE="cognito",
        OWNER_SIGN_IN_BASE_URL=SIGN_IN_BASE,
        OWNER_CLIENT_ID="4example0client0id",
        OWNER_REDIRECT_URI="https://site.example/admin/",
        OWNER_LOGOUT_URL="https://site.example/",
    )
    # Then the dashboard learns Cognito's OAuth endpoints (code flow), its client and where Cognito returns
    assert api.get("/config").body["owner_sign_in"] == {
        "mode": "cognito",
        "authorize_url": f"{SIGN_IN_BASE}/oauth2/authorize",
        "token_url": f"{SIGN_IN_BASE}/oauth2/token",
        "logout_url": f"{SIGN_IN_BASE}/logout",
        "client_id": "4example0client0id",
        "redirect_uri": "https://site.example/admin/",
        "scopes": ["openid", "email"],
    }


def test_cognito_mode_without_its_domain_is_500_misconfigured(api: ApiClient, settings_env: pytest.MonkeyPatch) -> None:
    configure(settings_env, OWNER_SIGN_IN_MODE="cognito", OWNER_SIGN_IN_BASE_URL=None, OWNER_CLIENT_ID="client")
    response = api.get("/config")
    assert response.status == 500
    assert response.error_code == "misconfigured"


def test_create_intent_answer_carries_the_publishable_key(api: ApiClient) -> None:
    response = api.create_intent()
    assert response.status == 201, response.body
    assert response.body["publishable_key"] == os.environ["STRIPE_PUBLISHABLE_KEY"]


def test_create_intent_without_a_publishable_key_holds_nothing(
    api: ApiClient, stripe_double: StripeDouble, settings_env: pytest.MonkeyPatch
) -> None:
    # Given a free slot, and then a deployment that lost its publishable key
    start = api.first_slot()
    configure(settings_env, STRIPE_PUBLISHABLE_KEY=None)
    # When a client starts a booking
    response = api.create_intent(start=start)
    # Then it is refused before any hold or PaymentIntent: the client could not have paid
    assert response.status == 500
    assert response.error_code == "misconfigured"
    assert stored_state() == []
    assert [r for r in stripe_double.requests if r.method == "POST"] == []
