"""Schemathesis against the committed openapi.json and the local runner: every operation, valid and invalid input.

Each answer must be below 500 and, when it is an error, our JSON shape; a 422 must name a field. The owner
endpoints are fuzzed with an owner's token, and each request is sent again without it: the gateway's 401 then.
Generation is derandomized with a fixed seed, so CI sends the same requests every time.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response

from local.spawn import SpawnedRunner
from local.template import ROOT
from tests.fuzz.support import EXAMPLES, GATEWAY_UNAUTHORIZED, OWNER, SEED, TALLY, error_shape_problems

SERVICE_IDS = ("signature-facial", "brow-lamination", "skin-consultation")  # the shipped catalog
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # The owner routes' bearer token is the test's to send (OWNER), and to leave out (the gateway's 401 below)
        "generation": {
            "max-examples": EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,
        },
        # Methods the contract does not list reach the $default route, as on API Gateway: 405 with an Allow header.
    }
)
schema = schemathesis.openapi.from_path(ROOT / "openapi.json", config=CONFIG)


def _with_real_service(value: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    # Half keep the generated id (unknown_service), half name a catalog service so the request goes deeper.
    if not isinstance(value.get("service_id"), str):
        return st.just(value)
    return st.sampled_from((None, *SERVICE_IDS)).map(lambda sid: value if sid is None else {**value, "service_id": sid})


@schema.hook
def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
    """/availability with a real service: dates, days and zones reach the slot logic and Cal.com."""
    if context.operation is None or context.operation.path != "/availability" or not isinstance(query, dict):
        return st.just(query)
    return _with_real_service(query)


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """create-intent with a real service: starts reach the notice and slot checks and Cal.com."""
    if context.operation is None or context.operation.path != "/payments/create-intent" or not isinstance(body, dict):
        return st.just(body)
    return _with_real_service(body)


def our_error_shape(ctx: schemathesis.CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx/5xx is `{"error": {"code", "message", "fields"?}}`; a 422 names at least one field."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = response.text
    problems = error_shape_problems(response.status_code, body)
    assert not problems, "; ".join(problems)
    return True


CHECKS = [not_a_server_error, our_error_shape]


def _label(case: schemathesis.Case) -> str:
    return f"{case.method.upper()} {case.path}"


def _call(case: schemathesis.Case, runner: SpawnedRunner) -> Response:
    owner = case.path.startswith("/admin/")
    TALLY.add(_label(case))
    return case.call(base_url=runner.api, headers=OWNER if owner else None, timeout=60)


def _refused_without_the_owner_token(case: schemathesis.Case, runner: SpawnedRunner) -> None:
    TALLY.add(_label(case))
    anonymous = case.call(base_url=runner.api, timeout=60)
    # The JWT authorizer answers before any function runs, whatever the input
    assert anonymous.status_code == 401, f"{case.as_curl_command()} answered {anonymous.status_code}"
    assert anonymous.json() == GATEWAY_UNAUTHORIZED


@schema.parametrize()
def test_every_operation_answers_below_500_in_our_error_shape(
    case: schemathesis.Case, local_runner: SpawnedRunner
) -> None:
    response = _call(case, local_runner)
    case.validate_response(response, checks=CHECKS)
    if case.method.upper() != case.operation.method.upper():
        # A method the path does not have: the $default route's 405 (public, like the gateway's answer), naming
        # the methods it has.
        assert response.status_code == 405, f"{case.as_curl_command()} answered {response.status_code}"
        allow = {name.lower(): value for name, value in response.headers.items()}.get("allow")
        assert allow and case.operation.method.upper() in str(allow), f"{case.as_curl_command()}: Allow {allow}"
        return
    if case.path.startswith("/admin/"):
        _refused_without_the_owner_token(case, local_runner)


# --- the owner's token ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/bookings", "/admin/bookings/bk_0123456789abcdef01234567"])
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic bG9jYWw6YWRtaW4=", "Bearer ", "bearer", "Bearer a.b.c"]
)
def test_owner_endpoints_answer_the_gateways_401_without_a_valid_token(
    local_runner: SpawnedRunner, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = requests.get(f"{local_runner.api}{path}", headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.json() == GATEWAY_UNAUTHORIZED
