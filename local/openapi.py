"""openapi.json: generated from the API functions' own resolvers (their Pydantic models are the contract), completed
with what happens before a function's route runs: the gateway's JWT check (template.yaml), the body checks of
`booking.http.api_handler` (413, 415), and the error shape of its exception handlers in place of Powertools' own.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

from booking.http import ERRORS
from local.template import functions

TITLE = "Booking deposits API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Hold a slot, take a Stripe deposit (or the full price), confirm the booking in Cal.com. "
    "Amounts are integers in the currency's minor unit. Errors: "
    '{"error": {"code", "message", "fields"?: [{"field", "message"}]}}. '
    "A path the API does not have answers 404 `route_not_found`; a path asked with a method it does not serve "
    "answers 405 `method_not_allowed` with an `Allow` header. A JSON body over 64 KiB (a webhook's over 1 MiB) "
    "answers 413 `payload_too_large`; an unknown field in a body, 422 naming it."
)
SERVERS = [
    {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
        "description": "A deployed stack (its output ApiUrl)",
        "variables": {
            "apiId": {"default": "abcde12345", "description": "The HttpApi's id"},
            "region": {"default": "us-east-1", "description": "The stack's AWS region"},
        },
    },
    {"url": "http://127.0.0.1:3000", "description": "The local runner (make run)"},
]
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
GATEWAY_MESSAGE = "GatewayMessage"
# Powertools documents its own validation and response errors; booking.http answers ErrorBody instead.
POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
BODY_METHODS = ("post", "put", "patch")


def _resolver_schema(logical_id: str) -> dict[str, Any] | None:
    spec = functions()[logical_id]
    if not spec.routes:
        return None
    module_spec = importlib.util.spec_from_file_location(f"openapi_{logical_id}", spec.module_file)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return json.loads(module.app.get_openapi_json_schema(title=TITLE, version=VERSION))


def build() -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": SERVERS,
        "paths": {},
        "components": {"schemas": {}},
    }
    for logical_id in sorted(functions()):
        schema = _resolver_schema(logical_id)
        if schema is None:
            continue
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        for name, component in schema.get("components", {}).get("schemas", {}).items():
            existing = document["components"]["schemas"].setdefault(name, component)
            if existing != component:
                raise ValueError(f"two functions define schema {name!r} differently")
    _complete(document)
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def _error(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or ERRORS[status]["description"],
        "content": {"application/json": {"schema": ERROR_BODY}},
    }


def _complete(document: dict[str, Any]) -> None:
    """What the resolvers cannot know: the gateway's authorizer, the handler's body checks, our 422 and 500."""
    guarded = {
        (route.method.lower(), route.path): route.authorizer
        for spec in functions().values()
        for route in spec.routes
        if route.authorizer is not None
    }
    for name in sorted(set(guarded.values())):
        document["components"].setdefault("securitySchemes", {})[name] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Cognito access token of the owners' user pool (README, Owner sign-in), checked by API "
            f"Gateway's JWT authorizer {name} before the function runs: without a valid one, 401 "
            '`{"message": "Unauthorized"}`.',
        }
    document["components"]["schemas"][GATEWAY_MESSAGE] = {
        "type": "object",
        "title": GATEWAY_MESSAGE,
        "description": "API Gateway's own answer, given before any function runs",
        "properties": {"message": {"type": "string", "examples": ["Unauthorized"]}},
        "required": ["message"],
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses: dict[str, Any] = operation["responses"]
            reads_input = bool(operation.get("parameters") or operation.get("requestBody"))
            if reads_input:
                responses["422"] = _error(422)
            else:
                responses.pop("422", None)  # nothing to validate
            responses["500"] = _error(500, "Our side failed (internal_error) or is not configured (misconfigured)")
            if method in BODY_METHODS:
                responses["413"] = _error(413)
                if "requestBody" in operation:  # the functions with JSON models (webhooks read raw bytes)
                    responses["415"] = _error(415)
            authorizer = guarded.get((method, path))
            if authorizer is not None:
                operation["security"] = [{authorizer: []}]
                ours = "401" in responses  # the function's own 401 too (an ID token for an access token)
                responses["401"] = {
                    "description": 'No valid owner access token: API Gateway\'s {"message": "Unauthorized"}'
                    + (", or the function's `unauthorized` (e.g. an ID token)" if ours else ""),
                    "content": {
                        "application/json": {
                            "schema": {"anyOf": [{"$ref": f"#/components/schemas/{GATEWAY_MESSAGE}"}, ERROR_BODY]}
                            if ours
                            else {"$ref": f"#/components/schemas/{GATEWAY_MESSAGE}"}
                        }
                    },
                }
            operation["responses"] = dict(sorted(responses.items()))
    text = json.dumps(document["paths"])
    for name in POWERTOOLS_SCHEMAS:
        if f"#/components/schemas/{name}" not in text:
            document["components"]["schemas"].pop(name, None)


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"
