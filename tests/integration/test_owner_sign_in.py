"""Owner sign-in: the admin routes sit behind the HttpApi's JWT authorizer (a Cognito access token), and the
functions check the role (staff read, owners move money).

The local gateway (local.lambda_runtime.JwtAuthorizer) applies the template's authorizer as API Gateway does;
its refusals are API Gateway's 401 `{"message":"Unauthorized"}`, before any function runs. The last tests run
the same gateway against a Cognito user pool (moto) to show a real token's shape passes both checks.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest

from local.dev_auth import DevSigner, UserPool
from local.lambda_runtime import LocalLambda
from tests.support import DEV_SIGNER, ApiClient, owner_headers

GATEWAY_REFUSAL = (401, {"message": "Unauthorized"})
BOOKING_ID = "bk_0123456789abcdef01234567"
ADMIN_ROUTES = [
    ("GET", "/admin/bookings"),
    ("GET", f"/admin/bookings/{BOOKING_ID}"),
    ("POST", f"/admin/bookings/{BOOKING_ID}/refund"),
    ("POST", f"/admin/bookings/{BOOKING_ID}/cancel"),
    ("POST", f"/admin/bookings/{BOOKING_ID}/collect-balance"),
    ("POST", f"/admin/bookings/{BOOKING_ID}/no-show"),
    ("POST", f"/admin/bookings/{BOOKING_ID}/flags/disputed/resolve"),
]


def _tampered(token: str) -> str:
    """The same token with its payload changed (groups added) and the original signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["owner"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def _refused_tokens() -> dict[str, dict[str, str]]:
    now = int(time.time())
    other_pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_SomeoneElse"
    return {
        "no token": {},
        "empty bearer": {"Authorization": "Bearer "},
        "not a JWT": {"Authorization": "Bearer wrong"},
        "another key": {"Authorization": f"Bearer {DevSigner.in_memory().token('owner')}"},
        "tampered": {"Authorization": f"Bearer {_tampered(DEV_SIGNER.token('staff'))}"},
        "expired": owner_headers(iat=now - 7200, auth_time=now - 7200, exp=now - 1),
        "not yet valid": owner_headers(nbf=now + 600),
        "issued in the future": owner_headers(iat=now + 600),
        "no expiry": owner_headers(exp=None),
        "wrong issuer": owner_headers(iss=other_pool),
        "wrong client": owner_headers(client_id="someotherappclient00000000"),
        "wrong audience": owner_headers(aud="someotherappclient00000000"),
        "no audience": owner_headers(client_id=None),
    }


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("case", list(_refused_tokens()))
def test_the_gateway_refuses_what_api_gateway_refuses(api: ApiClient, method: str, path: str, case: str) -> None:
    # Given a token API Gateway would refuse (or none)
    headers = _refused_tokens()[case]
    # When it is sent to an admin route
    response = api.request(method, path, json_body={"reason": "test"} if method == "POST" else None, headers=headers)
    # Then the gateway answers 401 itself: no function ran
    assert (response.status, response.body) == GATEWAY_REFUSAL, case


def test_the_bearer_prefix_is_optional_as_in_api_gateway(api: ApiClient) -> None:
    confirmed = api.confirmed_booking()
    bare = owner_headers()["Authorization"].removeprefix("Bearer ")
    response = api.request("GET", f"/admin/bookings/{confirmed['booking_id']}", headers={"Authorization": bare})
    assert response.status == 200, response.body


def test_a_clients_booking_token_never_opens_an_admin_route(api: ApiClient) -> None:
    # Given a client who paid and holds the booking token of the verify link
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    # When the client sends it as a bearer token to the admin routes
    for method, path in ADMIN_ROUTES:
        response = api.request(
            method, path.replace(BOOKING_ID, intent["booking_id"]), headers={"Authorization": f"Bearer {token}"}
        )
        # Then the gateway refuses it: it is not a JWT of the owners' pool
        assert (response.status, response.body) == GATEWAY_REFUSAL, path


def test_a_signed_in_user_in_no_group_is_forbidden(api: ApiClient) -> None:
    # Given a valid access token of the pool whose user is in neither group
    confirmed = api.confirmed_booking()
    headers = owner_headers("none", "someone@example.com")
    # When they read the admin API
    listing = api.request("GET", "/admin/bookings", headers=headers)
    one = api.request("GET", f"/admin/bookings/{confirmed['booking_id']}", headers=headers)
    # Then the function refuses them: signed in, without the role
    for response in (listing, one):
        assert (response.status, response.error_code) == (403, "forbidden")
        assert "client_email" not in str(response.body)


def test_an_id_token_is_not_an_access_token(api: ApiClient) -> None:
    # Given the ID token of the same sign-in: same issuer, `aud` the app client, the groups, token_use "id"
    headers = owner_headers(token_use="id", aud=DEV_SIGNER.pool.client_id, client_id=None)
    # When it is sent as the credential (API Gateway cannot tell it from an access token and lets it through)
    response = api.request("GET", f"/admin/bookings/{api.confirmed_booking()['booking_id']}", headers=headers)
    # Then the function refuses it
    assert (response.status, response.error_code) == (401, "unauthorized")


def test_staff_reads_bookings(api: ApiClient) -> None:
    confirmed = api.confirmed_booking()
    headers = owner_headers("staff", "sam@example.com")
    listing = api.request("GET", "/admin/bookings", query={"status": "CONFIRMED"}, headers=headers)
    one = api.request("GET", f"/admin/bookings/{confirmed['booking_id']}", headers=headers)
    assert listing.status == 200 and [b["booking_id"] for b in listing.body["bookings"]] == [confirmed["booking_id"]]
    assert one.status == 200 and one.body["booking_id"] == confirmed["booking_id"]


def test_staff_is_refused_a_refund(api: ApiClient) -> None:
    """Needs functions/owner_actions (OwnerActionsFunction): it calls auth.require(event, "owner")."""
    # Given a confirmed booking and a staff member signed in
    confirmed = api.confirmed_booking()
    # When staff asks for a refund
    response = api.request(
        "POST",
        f"/admin/bookings/{confirmed['booking_id']}/refund",
        json_body={"reason": "asked by the client"},
        headers={**owner_headers("staff", "sam@example.com"), "Idempotency-Key": "staff-refund-1"},
    )
    # Then it is forbidden and no money moved
    assert (response.status, response.error_code) == (403, "forbidden"), response.body
    owner_view = api.request("GET", f"/admin/bookings/{confirmed['booking_id']}", headers=owner_headers())
    assert owner_view.body["payment"]["amount_refunded"] == 0 and owner_view.body["refunds"] == []


def test_claims_reach_the_function_as_api_gateway_passes_them(lam: LocalLambda) -> None:
    # Given a token of a user in both groups
    token = DEV_SIGNER.token("owner", "ana@example.com", **{"cognito:groups": ["owner", "staff"]})
    # When the gateway verifies it
    claims = lam.authorizers["OwnerJwt"].claims({"authorization": f"Bearer {token}"})
    # Then every claim is a string, lists bracketed and space-separated (round2-notes §6)
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["cognito:groups"] == "[owner staff]" and claims["exp"].isdigit()
    assert claims["username"] == "ana@example.com" and claims["token_use"] == "access"


# --- contract: a Cognito user pool's real tokens (moto) -----------------------------------------------------


@pytest.fixture
def cognito(aws: None) -> dict[str, Any]:
    """A pool like the template's (no username attributes: the username is the email), its owner group, one
    owner, and that owner's tokens from ADMIN_USER_PASSWORD_AUTH (README, Owner sign-in)."""
    idp = boto3.client("cognito-idp")
    pool_id = idp.create_user_pool(
        PoolName="booking-deposits-owners-test", AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="owner-dashboard",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool_id, GroupName="owner")
    email, password = "ana@example.com", "Correct-horse-battery-9"
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName="owner")
    tokens = idp.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]
    return {"pool_id": pool_id, "client_id": client_id, "email": email, **tokens}


def test_a_cognito_access_token_passes_the_gateway_and_names_the_owner(
    lam: LocalLambda, cognito: dict[str, Any]
) -> None:
    # Given the gateway configured from the template for that pool, with the JWKS the pool publishes
    region = boto3.client("cognito-idp").meta.region_name
    pool = UserPool.from_issuer(
        f"https://cognito-idp.{region}.amazonaws.com/{cognito['pool_id']}", cognito["client_id"]
    )
    gateway = LocalLambda(user_pool=pool)
    api = ApiClient(gateway)
    path = f"/admin/bookings/{api.confirmed_booking()['booking_id']}"
    # When the owner's access token is sent to the admin API
    response = api.request("GET", path, headers={"Authorization": f"Bearer {cognito['AccessToken']}"})
    # Then it is accepted, and the function reads the groups and the person from the claims API Gateway passes
    assert response.status == 200, response.body
    claims = gateway.authorizers["OwnerJwt"].claims({"authorization": f"Bearer {cognito['AccessToken']}"})
    from booking.owner import auth

    identity = auth.require({"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}, "owner")
    assert identity.groups == {"owner"} and identity.actor == f"owner:{cognito['email']}"
    # ... while the ID token of the same sign-in, and a local dev token, are refused
    id_token = api.request("GET", path, headers={"Authorization": f"Bearer {cognito['IdToken']}"})
    assert (id_token.status, id_token.error_code) == (401, "unauthorized")
    dev = api.request("GET", path, headers=owner_headers())
    assert (dev.status, dev.body) == GATEWAY_REFUSAL
