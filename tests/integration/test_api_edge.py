"""The API's edge, through the gateway and handler entry points: unknown routes and methods, mangled link tokens,
the body limit, unknown fields, and openapi.json saying what each route really answers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from local.template import ROOT
from tests.integration.helpers import cal_booking_posts, stored_state
from tests.support import ATTENDEE, ApiClient, owner_headers

OPENAPI: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
SAMPLE_PARAMETERS = {
    "booking_id": "bk_0123456789abcdef01234567",
    "code": "late_payment",
    "package_id": "pkg_0123456789abcdef01234567",
    "block_id": "blk_0123456789abcdef01234567",
    "entry_id": "wl_0123456789abcdef01234567",
}
JSON_LIMIT = 64 * 1024
WEBHOOK_LIMIT = 1024 * 1024


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: SAMPLE_PARAMETERS[match.group(1)], path)


def post_operations() -> list[tuple[str, dict[str, Any]]]:
    return [(path, item["post"]) for path, item in sorted(OPENAPI["paths"].items()) if "post" in item]


def auth_for(path: str) -> dict[str, str]:
    return owner_headers() if path.startswith("/admin/") else {}


def assert_error_shape(response: Any, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.error_code == code, response.body
    assert isinstance(response.body["error"]["message"], str) and response.body["error"]["message"]


def assert_nothing_written(stripe_double: StripeDouble) -> None:
    assert stored_state() == []
    assert [r for r in stripe_double.requests if r.method == "POST"] == []


# --- unknown routes and methods ------------------------------------------------------------------------------


def template_routes() -> list[tuple[str, str]]:
    from booking.routes import ROUTES

    return sorted(ROUTES)


@pytest.mark.parametrize(("method", "path"), template_routes(), ids=lambda v: str(v))
def test_a_known_path_with_another_method_is_405_naming_the_allowed_ones(
    api: ApiClient, method: str, path: str
) -> None:
    from booking.routes import allowed_methods

    # When a route's path is asked with a method no route of that path serves (no token: the $default route is public)
    response = api.request("PUT", concrete(path))
    # Then the answer is our error shape, with the methods that path does serve
    assert_error_shape(response, 405, "method_not_allowed")
    assert method in response.headers["allow"].split(", ")
    assert response.headers["allow"] == ", ".join(allowed_methods(path))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/payments"),
        ("DELETE", "/bookings"),
        ("GET", "/admin/nope"),
        ("POST", "/admin/bookings/bk_0123456789abcdef01234567/refund/now"),
        ("GET", "/webhooks"),
    ],
)
def test_an_unknown_path_is_404_route_not_found_in_our_error_shape(api: ApiClient, method: str, path: str) -> None:
    response = api.request(method, path)
    assert_error_shape(response, 404, "route_not_found")
    assert "allow" not in response.headers
    assert response.body != {"message": "Not Found"}


def test_no_route_is_answered_before_the_body_checks(api: ApiClient) -> None:
    # A large, non-JSON body to a path the API does not have: the answer is about the route, not the body
    response = api.request("POST", "/nope", raw=b"x" * (JSON_LIMIT + 1), headers={"content-type": "text/plain"})
    assert_error_shape(response, 404, "route_not_found")
    response = api.request("PATCH", "/services", raw="not json", headers={"content-type": "text/plain"})
    assert_error_shape(response, 405, "method_not_allowed")


def test_the_local_gateway_sends_unmatched_requests_to_the_default_route_of_the_template(lam: LocalLambda) -> None:
    from local.template import functions

    [(owner, route)] = [
        (logical_id, route)
        for logical_id, spec in functions().items()
        for route in spec.routes
        if route.path == "$default"
    ]
    assert lam.route("PATCH", "/anything/at/all") == (owner, "$default", route.authorizer)
    assert lam.route("GET", "/services")[:2] == ("CatalogFunction", "GET /services")
    assert "$default" in lam.route_keys()


# --- mangled link tokens -----------------------------------------------------------------------------------

MANGLED_TOKENS = ["", "abc", "A" * 43, "x" * 2000, "token with spaces", "%E2%9C%93&amp;", "ü🙂\\u0000"]


def assert_unknown_token(response: Any) -> None:
    assert_error_shape(response, 404, "token_not_found")
    assert response.error_fields == {"token"}
    text = json.dumps(response.body)
    assert "pattern" not in text and "String should" not in text and "^" not in text


@pytest.mark.parametrize("token", MANGLED_TOKENS, ids=range(len(MANGLED_TOKENS)))
def test_a_mangled_verify_token_is_404_token_not_found(api: ApiClient, cal_double: Any, token: str) -> None:
    assert_unknown_token(api.verify(token))
    assert cal_booking_posts(cal_double) == []


@pytest.mark.parametrize("token", MANGLED_TOKENS, ids=range(len(MANGLED_TOKENS)))
def test_a_mangled_pay_link_token_is_404_token_not_found(api: ApiClient, token: str) -> None:
    assert_unknown_token(api.post("/bookings/pay", {"token": token}))


@pytest.mark.parametrize("token", MANGLED_TOKENS, ids=range(len(MANGLED_TOKENS)))
def test_a_mangled_rebook_token_is_404_token_not_found(api: ApiClient, token: str) -> None:
    assert_unknown_token(api.post("/bookings/rebook", {"token": token, "start": "2030-01-07T15:00:00Z"}))


def test_a_token_that_is_not_a_string_is_still_a_422_naming_it(api: ApiClient) -> None:
    response = api.post("/bookings/verify", {"token": 12345})
    assert_error_shape(response, 422, "validation_error")
    assert response.error_fields == {"token"}


# --- the body limit ----------------------------------------------------------------------------------------


def padded(body: dict[str, Any], size: int) -> str:
    """`body` as JSON of exactly `size` bytes (trailing whitespace is still valid JSON)."""
    text = json.dumps(body)
    assert len(text) <= size
    return text + " " * (size - len(text))


def test_a_body_of_exactly_64_kib_is_read(api: ApiClient) -> None:
    body = {"service_id": "signature-facial", "start": api.first_slot(), "attendee": ATTENDEE}
    response = api.request("POST", "/payments/create-intent", raw=padded(body, JSON_LIMIT))
    assert response.status == 201, response.body


def test_a_body_over_64_kib_is_413_and_nothing_is_written(api: ApiClient, stripe_double: StripeDouble) -> None:
    body = {"service_id": "signature-facial", "start": api.first_slot(), "attendee": ATTENDEE}
    response = api.request("POST", "/payments/create-intent", raw=padded(body, JSON_LIMIT + 1))
    assert_error_shape(response, 413, "payload_too_large")
    assert response.error_fields == {"body"}
    assert_nothing_written(stripe_double)


def test_a_12_mb_body_is_413(api: ApiClient, stripe_double: StripeDouble) -> None:
    attendee = {**ATTENDEE, "name": "x" * 12_000_000}
    response = api.create_intent(attendee=attendee)
    assert_error_shape(response, 413, "payload_too_large")
    assert_nothing_written(stripe_double)


@pytest.mark.parametrize(("path", "operation"), post_operations(), ids=[path for path, _ in post_operations()])
def test_every_body_route_documents_and_answers_413(api: ApiClient, path: str, operation: dict[str, Any]) -> None:
    limit = JSON_LIMIT if "requestBody" in operation else WEBHOOK_LIMIT
    response = api.request("POST", concrete(path), raw=b"{" + b" " * limit + b"}", headers=auth_for(path))
    assert_error_shape(response, 413, "payload_too_large")
    assert "413" in operation["responses"]


def test_a_webhook_may_be_larger_than_a_json_body_but_not_over_1_mib(api: ApiClient) -> None:
    # Stripe's events carry whole objects: 200 KiB reaches the signature check (unsigned here, so 400)
    response = api.request("POST", "/webhooks/stripe", raw=b"{" + b" " * 200_000 + b"}")
    assert_error_shape(response, 400, "invalid_signature")
    # Over 1 MiB, sent as bytes API Gateway base64-encodes, is refused before it is read
    raw = b"\x00" * (WEBHOOK_LIMIT + 1)
    response = api.request("POST", "/webhooks/stripe", raw=raw, headers={"content-type": "application/octet-stream"})
    assert_error_shape(response, 413, "payload_too_large")


@pytest.mark.parametrize(("path", "operation"), post_operations(), ids=[path for path, _ in post_operations()])
def test_415_is_documented_exactly_where_it_is_answered(api: ApiClient, path: str, operation: dict[str, Any]) -> None:
    response = api.request("POST", concrete(path), raw="a=1", headers={"content-type": "text/plain", **auth_for(path)})
    assert (response.status == 415) == ("415" in operation["responses"]), response.body
    if response.status == 415:
        assert response.error_code == "unsupported_media_type"


# --- unknown fields ----------------------------------------------------------------------------------------


def test_an_unknown_field_is_422_naming_it_and_nothing_is_written(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a create-intent body that is right but for an amount the client has no say in
    body = {"service_id": "signature-facial", "start": api.first_slot(), "attendee": ATTENDEE, "amount": 1}
    # When it is sent
    response = api.post("/payments/create-intent", body)
    # Then it is refused, naming the field, and no slot is held
    assert_error_shape(response, 422, "validation_error")
    assert response.body["error"]["fields"] == [{"field": "amount", "message": "unknown field"}]
    assert_nothing_written(stripe_double)


def test_each_unknown_field_is_named_nested_ones_with_their_path(api: ApiClient) -> None:
    body = {
        "service_id": "signature-facial",
        "start": api.first_slot(),
        "attendee": {**ATTENDEE, "age": 36},
        "amount": 1,
        "price": 1,
    }
    response = api.post("/payments/create-intent", body)
    assert_error_shape(response, 422, "validation_error")
    assert {(f["field"], f["message"]) for f in response.body["error"]["fields"]} == {
        ("attendee.age", "unknown field"),
        ("amount", "unknown field"),
        ("price", "unknown field"),
    }


@pytest.mark.parametrize(
    ("path", "operation"),
    [(path, op) for path, op in post_operations() if "requestBody" in op],
    ids=[path for path, op in post_operations() if "requestBody" in op],
)
def test_every_request_body_refuses_unknown_fields(api: ApiClient, path: str, operation: dict[str, Any]) -> None:
    response = api.request("POST", concrete(path), json_body={"zz_unknown": 1}, headers=auth_for(path))
    assert_error_shape(response, 422, "validation_error")
    assert {"field": "zz_unknown", "message": "unknown field"} in response.body["error"]["fields"]


def test_a_pattern_mismatch_does_not_show_the_regular_expression(api: ApiClient) -> None:
    response = api.post("/bookings/create-token", {"booking_id": "bk_nope", "payment_intent_id": "pi_1"})
    assert_error_shape(response, 422, "validation_error")
    assert response.body["error"]["fields"] == [{"field": "booking_id", "message": "not in the expected format"}]
