"""The HTTP edge shared by every API function: one resolver setup, one error shape, one place mapping errors.

Every 4xx/5xx body is `{"error": {"code", "message", "fields"?: [{"field", "message"}], ...details}}`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

# The functions take what they need of Powertools' event handler from here: one place names the edge's parts.
from aws_lambda_powertools.event_handler import content_types as content_types
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header as Header
from aws_lambda_powertools.event_handler.openapi.params import Path as Path
from aws_lambda_powertools.event_handler.openapi.params import Query as Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel
from pynamodb.exceptions import PynamoDBException

from booking.dal.bookings import StaleBooking
from booking.errors import DomainError, InvalidSignature
from booking.observability import logger, metrics
from booking.routes import allowed_methods
from booking.secrets import MissingSecret
from booking.settings import MissingSetting


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldProblem] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    outcome: str


def _error_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


# OpenAPI documentation of the error answers, per status, for the route decorators.
ERRORS: dict[int, dict[str, Any]] = {
    400: _error_doc("Malformed request (e.g. body is not JSON)"),
    404: _error_doc("Unknown booking or token"),
    409: _error_doc("Conflict with the booking's state (slot taken, payment not succeeded, ...)"),
    401: _error_doc("Missing or wrong credentials (owner token, webhook signature)"),
    403: _error_doc("Signed in, but without the role this needs (staff may read; only owners move money)"),
    410: _error_doc("Expired"),
    413: _error_doc("The body is larger than the route accepts (64 KiB; webhooks 1 MiB); nothing was done"),
    415: _error_doc("The body is not sent as application/json"),
    422: _error_doc("Invalid input; `fields` names each offending field"),
    429: _error_doc("Too many requests from this address; Retry-After says when to try again; nothing was done"),
    502: _error_doc("A provider refused the request"),
    503: _error_doc("A provider or the database is unavailable; nothing was lost, retry later"),
}


def responses(success: int, description: str, *errors: int) -> dict[int, dict[str, Any]]:
    """OpenAPI responses of a route: its success (schema from the return annotation) and its error statuses."""
    return {success: {"description": description}} | {status: ERRORS[status] for status in errors}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=_error_body(code, message, fields=fields, details=details),
        headers=headers or {},
    )


def _error_body(
    code: str, message: str, *, fields: dict[str, str] | None = None, details: dict[str, Any] | None = None
) -> str:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = [{"field": name, "message": problem} for name, problem in fields.items()]
    error.update({key: value for key, value in (details or {}).items() if value is not None})
    return json.dumps({"error": error}, default=str)


_NOT_JSON = ("unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
_NOT_JSON_FIELDS = {"Content-Type": "must be application/json"}
# Far above any JSON body of ours (create-intent is under 1 KiB); webhooks carry whole Stripe objects.
JSON_BODY_LIMIT = 64 * 1024
WEBHOOK_BODY_LIMIT = 1024 * 1024
# The route API Gateway uses for a request no other route matches (the template gives it to CatalogFunction).
DEFAULT_ROUTE = "$default"
# Pydantic's messages where they would confuse a client: an unknown key, a regular expression.
_FRIENDLY_MESSAGES = {"extra_forbidden": "unknown field", "string_pattern_mismatch": "not in the expected format"}


def _sends_non_json_body(event: dict[str, Any]) -> bool:
    """A POST/PUT/PATCH whose declared media type is not JSON (every body this API reads is JSON)."""
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "")
    if method not in ("POST", "PUT", "PATCH"):
        return False
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return bool(media_type) and media_type != "application/json"


def _body_size(event: dict[str, Any]) -> int:
    """Bytes of the body as sent, without decoding a base64 one."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode("utf-8"))


def _field_name(location: tuple[Any, ...]) -> str:
    """("body", "attendee", "email") -> "attendee.email"; ("query", "days") -> "days"; the header keeps its name."""
    parts = (
        [str(part) for part in location[1:]] if location and location[0] in ("body", "query", "header", "path") else []
    )
    return ".".join(parts) or "body"


def raw_body(event: dict[str, Any]) -> bytes:
    """The request body exactly as sent (API Gateway base64-encodes bodies it does not treat as text)."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response:
        problems = exc.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return error_response(
                400, "invalid_json", "The request body is not valid JSON.", fields={"body": "invalid JSON"}
            )
        fields: dict[str, str] = {}
        for problem in problems:
            message = _FRIENDLY_MESSAGES.get(str(problem.get("type")), str(problem.get("msg", "invalid")))
            fields.setdefault(_field_name(tuple(problem.get("loc", ()))), message)
        metrics.add_metric(name="RequestRejected", unit="Count", value=1)
        return error_response(422, "validation_error", "Some fields are missing or invalid.", fields=fields)

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(exc: UnicodeDecodeError) -> Response:
        return error_response(400, "invalid_json", "The request body is not UTF-8 JSON.", fields={"body": "not UTF-8"})

    @app.exception_handler(DomainError)
    def _domain_error(exc: DomainError) -> Response:
        if isinstance(exc, InvalidSignature):
            metrics.add_metric(name="WebhookSignatureInvalid", unit="Count", value=1)
        headers = {"Retry-After": str(exc.retry_after_seconds)} if exc.retry_after_seconds else None
        if exc.status >= 500:
            logger.warning("request failed on a dependency", extra={"code": exc.code, "error": exc.message})
        return error_response(
            exc.status, exc.code, exc.message, fields=exc.fields, details=exc.details, headers=headers
        )

    @app.exception_handler(StaleBooking)
    def _stale(exc: StaleBooking) -> Response:
        return error_response(409, "concurrent_update", "The booking changed while we were working on it; retry.")

    @app.exception_handler(PynamoDBException)
    def _store_down(exc: PynamoDBException) -> Response:
        logger.exception("database request failed")
        metrics.add_metric(name="DatabaseUnavailable", unit="Count", value=1)
        return error_response(
            503,
            "database_unavailable",
            "Our database is not answering; nothing was changed. Retry shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler([MissingSecret, MissingSetting])
    def _misconfigured(exc: Exception) -> Response:
        logger.error("configuration error", extra={"error": str(exc)})
        return error_response(500, "misconfigured", "The service is not configured correctly.")

    @app.not_found
    def _no_route(exc: Exception) -> Response:
        """What the `$default` route answers: a known path asked with another method, or no such path."""
        allowed = allowed_methods(app.current_event.path)
        if allowed:
            methods = ", ".join(allowed)
            return error_response(
                405,
                "method_not_allowed",
                f"{app.current_event.http_method} is not allowed here; use {methods}.",
                headers={"Allow": methods},
            )
        return error_response(404, "route_not_found", "No such route.")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        metrics.add_metric(name="UnhandledError", unit="Count", value=1)
        return error_response(500, "internal_error", "Something went wrong on our side. Retrying is safe.")

    return app


def _rejected(status: int, code: str, message: str, *, fields: dict[str, str]) -> dict[str, Any]:
    metrics.add_metric(name="RequestRejected", unit="Count", value=1)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": _error_body(code, message, fields=fields),
        "isBase64Encoded": False,
    }


def api_handler(
    app: APIGatewayHttpResolver, *, json_bodies: bool = True
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda entry point of an API function: correlation id, tracing and metrics around `app.resolve`.

    `json_bodies`: the function's bodies are JSON models, so another media type is a 415 and more than
    JSON_BODY_LIMIT a 413. Webhooks pass False: they verify the raw bytes, whatever the sender declares, up to
    WEBHOOK_BODY_LIMIT. Neither check applies on the `$default` route: there is no route, so 404 or 405 is the answer.
    """
    body_limit = JSON_BODY_LIMIT if json_bodies else WEBHOOK_BODY_LIMIT

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # Answered before the resolver, which would parse the body (a large one, or as a form or multipart).
        if event.get("routeKey") != DEFAULT_ROUTE:
            if _body_size(event) > body_limit:
                limit = f"{body_limit // 1024**2} MiB" if body_limit % 1024**2 == 0 else f"{body_limit // 1024} KiB"
                return _rejected(
                    413, "payload_too_large", f"The body is larger than {limit}.", fields={"body": f"over {limit}"}
                )
            if json_bodies and _sends_non_json_body(event):
                return _rejected(415, *_NOT_JSON, fields=_NOT_JSON_FIELDS)
        return app.resolve(event, context)

    return lambda_handler
