"""Role-based pricing (seed 004): "resident artists book free, the public pays 50.00", the role coming only from a
token the business's site signs (verified against its JWKS over HTTP and its issuer), applied at booking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.site_sign_in import SiteSignIn, new_key
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    TUESDAY,
    iso,
    local,
    next_weekday,
    payment_intent_creates,
    product_now,
    scan_table,
    travel_to_morning_before,
)
from tests.roles.conftest import configure
from tests.support import ATTENDEE, ApiClient, Clock, booking, owner_headers, pay

WORKSHOP = "ceramics-workshop"  # 50.00 a seat, 50% deposit, resident_artist free, 120 min, 2 h notice


@pytest.fixture
def slot(clock: Clock) -> str:
    """11:00 on a coming Tuesday, the clock at 6:00 that day (the workshop needs 2 h notice)."""
    day = next_weekday(TUESDAY)
    travel_to_morning_before(clock, day)
    return iso(local(day, 11))


def book(api: ApiClient, slot: str, **options: Any) -> Any:
    return api.create_intent(service_id=WORKSHOP, start=slot, payment_type="deposit", **options)


def assert_refused(response: Any, stripe_double: StripeDouble, reason: str) -> None:
    assert response.status == 422, response.body
    assert response.error_code == "role_token_refused"
    assert response.error_fields == {"role_token"}
    assert response.body["error"]["reason"] == reason
    assert scan_table() == []  # nothing held, no idempotency claim
    assert [r for r in stripe_double.requests if r.method == "POST"] == []


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


# --- the price by role ---------------------------------------------------------------------------------------


def test_a_resident_artist_books_the_workshop_free_with_nothing_sent_to_stripe(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    # Given a resident artist signed in on the business's site
    token = roles_on.token("resident_artist")
    # When they book the workshop with their sign-in token
    response = book(api, slot, role_token=token)
    # Then it is free: nothing due, the verify link at once, no PaymentIntent
    assert response.status == 201, response.body
    body = response.body
    assert (body["total"], body["amount_due_now"], body["balance_due"]) == (0, 0, 0)
    assert (body["payment_intent_id"], body["client_secret"]) == (None, None)
    assert body["verify_url"] and body["token"]
    assert (body["role"], body["list_price"]) == ("resident_artist", 0)
    assert [r for r in stripe_double.requests if r.method == "POST"] == []
    # And the booking records the role and the price it was made with; verified, it is confirmed
    record = booking(body["booking_id"])
    assert (record.status, record.role, record.list_price, record.total) == ("PAID", "resident_artist", 0, 0)
    assert api.verify(body["token"]).status == 200
    assert booking(body["booking_id"]).status == "CONFIRMED"
    # And the owner sees them
    view = api.request("GET", f"/admin/bookings/{body['booking_id']}", headers=owner_headers())
    assert view.status == 200, view.body
    assert (view.body["role"], view.body["list_price"]) == ("resident_artist", 0)


def test_the_public_pays_fifty_and_the_services_list_the_role_prices(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    # Given no sign-in token
    response = book(api, slot)
    # Then the public price: 50.00, half now
    assert response.status == 201, response.body
    body = response.body
    assert (body["total"], body["amount_due_now"], body["list_price"], body["role"]) == (5000, 2500, 5000, None)
    assert [r.params["amount"] for r in payment_intent_creates(stripe_double)] == ["2500"]
    # And the site can show "resident artists: free"
    services = {service["id"]: service for service in api.get("/services").body["services"]}
    assert services[WORKSHOP]["role_prices"] == [
        {"role": "resident_artist", "seat_prices": [{"amount": 0, "currency": "usd"}], "discount_percent": None}
    ]
    assert services["signature-facial"]["role_prices"] == []


def test_a_verified_role_the_service_does_not_price_pays_the_public_price(
    api: ApiClient, roles_on: SiteSignIn, slot: str
) -> None:
    response = book(api, slot, role_token=roles_on.token("member"))
    assert response.status == 201, response.body
    assert (response.body["total"], response.body["role"], response.body["list_price"]) == (5000, "member", 5000)


def test_a_list_claim_picks_the_first_role_the_service_prices(
    api: ApiClient, roles_on: SiteSignIn, slot: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a site whose tokens carry Cognito's groups
    configure(monkeypatch, ROLE_CLAIM="cognito:groups")
    token = roles_on.sign(roles_on.claims(None, **{"cognito:groups": ["staff", "resident_artist"]}))
    response = book(api, slot, role_token=token)
    assert response.status == 201, response.body
    assert (response.body["total"], response.body["role"]) == (0, "resident_artist")


def test_the_audience_is_checked_when_configured(
    api: ApiClient, roles_on: SiteSignIn, slot: str, monkeypatch: pytest.MonkeyPatch, stripe_double: StripeDouble
) -> None:
    configure(monkeypatch, ROLE_AUDIENCE="studio-booking")
    other = book(api, slot, role_token=roles_on.token("resident_artist", aud="another-app"))
    assert_refused(other, stripe_double, "claims")
    missing = book(api, slot, role_token=roles_on.token("resident_artist"))
    assert_refused(missing, stripe_double, "claims")
    ours = book(api, slot, role_token=roles_on.token("resident_artist", aud=["studio-booking", "x"]))
    assert ours.status == 201, ours.body
    assert ours.body["total"] == 0


def test_a_rotated_key_is_fetched_again(
    api: ApiClient, roles_on: SiteSignIn, slot: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the product read the site's keys, then the site published a new key
    assert book(api, slot, role_token=roles_on.token("member")).status == 201
    fetched = roles_on.jwks_requests
    rotated = new_key()
    roles_on.extra_keys.append(rotated.as_dict(private=False))
    monkeypatch.setattr("booking.roles.REFETCH_FLOOR_SECONDS", 0)
    # When a token signed with the new key arrives
    token = roles_on.sign(roles_on.claims("resident_artist"), key=rotated)
    response = book(api, slot, role_token=token, attendee={**ATTENDEE, "email": "rotated@example.com"})
    # Then the keys are fetched once more and it verifies
    assert response.status == 201, response.body
    assert response.body["total"] == 0
    assert roles_on.jwks_requests == fetched + 1


# --- refused tokens: nothing written ------------------------------------------------------------------------


def test_a_forged_token_with_the_sites_key_id_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    forged = roles_on.sign(roles_on.claims("resident_artist"), key=new_key(), kid=roles_on.key.kid)
    assert_refused(book(api, slot, role_token=forged), stripe_double, "signature")


def test_an_unknown_key_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    stranger = roles_on.sign(roles_on.claims("resident_artist"), key=new_key())
    assert_refused(book(api, slot, role_token=stranger), stripe_double, "unknown_key")


def test_an_expired_token_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    now = int(product_now().timestamp())
    expired = roles_on.token("resident_artist", iat=now - 7200, nbf=now - 7200, exp=now - 600)
    assert_refused(book(api, slot, role_token=expired), stripe_double, "expired")


def test_a_token_not_valid_yet_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    later = int(product_now().timestamp()) + 3600
    assert_refused(book(api, slot, role_token=roles_on.token("resident_artist", nbf=later)), stripe_double, "claims")


def test_a_token_of_another_issuer_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    token = roles_on.token("resident_artist", iss="https://another-site.example")
    assert_refused(book(api, slot, role_token=token), stripe_double, "claims")


def test_alg_none_is_refused(api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": roles_on.key.kid}, roles_on.claims("resident_artist"))
    assert_refused(book(api, slot, role_token=token), stripe_double, "algorithm")


def test_an_hs256_token_keyed_with_the_public_key_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    # The classic confusion: the published public key used as an HMAC secret
    header = {"alg": "HS256", "typ": "JWT", "kid": roles_on.key.kid}
    secret = json.dumps(roles_on.key.as_dict(private=False), sort_keys=True).encode()
    signing_input = unsigned(header, roles_on.claims("resident_artist")).rsplit(".", 1)[0]
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    assert_refused(book(api, slot, role_token=token), stripe_double, "algorithm")


def test_a_token_without_the_role_claim_is_refused(
    api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    assert_refused(book(api, slot, role_token=roles_on.token(None)), stripe_double, "no_role")


def test_garbage_is_refused(api: ApiClient, roles_on: SiteSignIn, slot: str, stripe_double: StripeDouble) -> None:
    assert_refused(book(api, slot, role_token="not-a-jwt"), stripe_double, "malformed")


def test_a_token_when_roles_are_not_configured_is_refused(
    api: ApiClient, site: SiteSignIn, slot: str, stripe_double: StripeDouble
) -> None:
    assert_refused(book(api, slot, role_token=site.token("resident_artist")), stripe_double, "roles_off")


def test_a_role_the_client_types_is_not_a_field(api: ApiClient, roles_on: SiteSignIn, slot: str) -> None:
    response = book(api, slot, role="resident_artist")
    assert response.status == 422
    assert response.error_fields == {"role"}
    assert scan_table() == []


def test_unreadable_site_keys_are_503_and_nothing_is_written(
    api: ApiClient, roles_on: SiteSignIn, slot: str, monkeypatch: pytest.MonkeyPatch, stripe_double: StripeDouble
) -> None:
    configure(monkeypatch, ROLE_JWKS_URL=f"{roles_on.base_url}/no-such-jwks.json")
    response = book(api, slot, role_token=roles_on.token("resident_artist"))
    assert response.status == 503, response.body
    assert response.error_code == "role_keys_unavailable"
    assert scan_table() == []


# --- applied at booking, not at payment ---------------------------------------------------------------------


def test_the_role_prices_the_booking_when_held_not_when_paid(
    api: ApiClient,
    roles_on: SiteSignIn,
    slot: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stripe_double: StripeDouble,
) -> None:
    # Given a catalog where members get 20% off the workshop
    from booking.domain.catalog import DEFAULT_CATALOG

    catalog = json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    workshop = next(service for service in catalog["services"] if service["id"] == WORKSHOP)
    workshop["role_prices"].append({"role": "member", "discount_percent": 20})
    with_discount = tmp_path / "catalog-discount.json"
    with_discount.write_text(json.dumps(catalog), encoding="utf-8")
    configure(monkeypatch, CATALOG_PATH=str(with_discount))
    # When a member with a 10-minute token holds the workshop
    now = int(product_now().timestamp())
    response = book(api, slot, role_token=roles_on.token("member", exp=now + 600))
    assert response.status == 201, response.body
    assert (response.body["list_price"], response.body["total"], response.body["amount_due_now"]) == (4000, 4000, 2000)
    # And then the token expires and the catalog drops the discount before they pay
    clock.advance(minutes=12)
    workshop["role_prices"] = [rule for rule in workshop["role_prices"] if rule["role"] != "member"]
    without = tmp_path / "catalog-public.json"
    without.write_text(json.dumps(catalog), encoding="utf-8")
    configure(monkeypatch, CATALOG_PATH=str(without))
    pay(response.body["payment_intent_id"])
    token = api.create_token(response.body)
    # Then the payment of the price held is accepted and the booking keeps the role and price it was made with
    assert token.status == 201, token.body
    assert api.verify(token.body["token"]).status == 200
    record = booking(response.body["booking_id"])
    assert (record.status, record.role, record.list_price, record.total) == ("CONFIRMED", "member", 4000, 4000)
    assert [r.params["amount"] for r in payment_intent_creates(stripe_double)] == ["2000"]
    assert timedelta(0) < product_now() - record.created_at
