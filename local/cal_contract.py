"""Contract checks for the Cal.com double: requests and responses against the vendored official OpenAPI subset.

The subset file (`tests/contracts/calcom-api-v2.subset.json`) is the official document unchanged. A few places
in it cannot be used literally, because the real server does not behave like them; `_patch_spec` adjusts an
in-memory copy and every adjustment says why. The file on disk is never modified.

Known divergences between the official document and the real API (handled here):
- POST /v2/bookings body is `oneOf` Create/Instant/Recurring inputs that are not mutually exclusive (a plain
  create body matches both Create and Recurring), so a strict `oneOf` rejects every valid body. The server picks
  the variant by event type, so the check uses `anyOf`.
- POST /v2/bookings/{bookingUid}/cancel body is `oneOf` CancelBookingInput (every field optional, extra fields
  allowed) and CancelSeatedBookingInput, so a seat cancellation `{seatUid}` matches both; the server tells them
  apart by `seatUid` (`isCancelSeatedBody`), so the check uses `anyOf` here too.
- Booking location variants only say "only allowed value for type is `x`" in prose, so e.g. an `integration`
  location also matches the `address` variant and the `oneOf` fails. The server discriminates on `type`; the
  check adds that prose as an `enum`.
- Array query parameters (GET /v2/bookings `status`) are documented with default `form`/`explode` style (repeat the
  key) while Cal's own description and server split a comma-separated value; commas are split before checking.
- `cal-api-version` is `required` but also has a schema `default`, so validators silently fill it in. The
  double checks presence and value itself (see `CalDouble`).
- GET /v2/slots 200: the schema describes the `data` map with string items but is attached to the whole
  envelope, while the real API returns `{"status","data":{date:[{"start"}]}}`; that response is checked by
  `slots_response_problems` instead. Its prose says seated slots add `attendeesCount` and `bookingUid`; the
  code (SeatedSlot_2024_09_04 in platform-types, SlotsOutputService_2024_09_04) adds `seatsBooked`,
  `seatsRemaining`, `seatsTotal` and, once the slot has a booking, `bookingUid`: the check follows the code.
- No error responses (4xx/5xx) are documented at all; they are checked against Cal's error envelope by
  `error_envelope_problems` instead.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.wrappers import Request, Response

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONTRACT_PATH = REPO_ROOT / "tests" / "contracts" / "calcom-api-v2.subset.json"

_LOCATION_TYPE_PROSE = re.compile(r"only allowed value for type is `(\w+)`")
_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ContractLoadError(Exception):
    """The vendored contract no longer has the shape the adjustments in this module expect."""


def _patch_spec(spec: dict[str, Any]) -> dict[str, Any]:
    patched = copy.deepcopy(spec)
    try:
        create_body = patched["paths"]["/v2/bookings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        create_body["anyOf"] = create_body.pop("oneOf")
    except KeyError as exc:
        raise ContractLoadError(f"POST /v2/bookings request body is no longer a oneOf ({exc})") from exc
    try:
        cancel = patched["paths"]["/v2/bookings/{bookingUid}/cancel"]["post"]
        cancel_body = cancel["requestBody"]["content"]["application/json"]["schema"]
        cancel_body["anyOf"] = cancel_body.pop("oneOf")
    except KeyError as exc:
        raise ContractLoadError(f"POST /v2/bookings/{{bookingUid}}/cancel body is no longer a oneOf ({exc})") from exc

    location_variants = 0
    for name, schema in patched.get("components", {}).get("schemas", {}).items():
        if not (name.startswith("BookingInput") and name.endswith("Location_2024_08_13")):
            continue
        type_property = schema.get("properties", {}).get("type", {})
        match = _LOCATION_TYPE_PROSE.search(type_property.get("description", ""))
        if match is None:
            raise ContractLoadError(f"{name}.type no longer names its only allowed value")
        type_property["enum"] = [match.group(1)]
        location_variants += 1
    if location_variants == 0:
        raise ContractLoadError("no BookingInput*Location_2024_08_13 schemas found")
    return patched


class _ContractRequest:
    """openapi-core request protocol over a werkzeug request, with comma-separated array query values split."""

    def __init__(self, request: Request, array_query_params: frozenset[str], body: bytes | None) -> None:
        query: list[tuple[str, str]] = []
        for key, value in request.args.items(multi=True):
            if key in array_query_params and "," in value:
                query.extend((key, part) for part in value.split(",") if part)
            else:
                query.append((key, value))
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(request.headers),
            cookie=request.cookies,
        )
        self._request = request
        self._body = body

    @property
    def host_url(self) -> str:
        return self._request.host_url

    @property
    def path(self) -> str:
        return self._request.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._body

    @property
    def content_type(self) -> str:
        return self._request.content_type or "application/octet-stream"


def _schema_messages(error: ValidationError) -> list[str]:
    """Leaf messages of a schema error; for oneOf/anyOf, those of the branch the value came closest to."""
    if error.context:
        branches: dict[int, list[ValidationError]] = {}
        for sub_error in error.context:
            branches.setdefault(int(sub_error.relative_schema_path[0]), []).append(sub_error)
        _, closest = min(branches.items(), key=lambda item: (len(item[1]), item[0]))
        return [message for sub_error in closest for message in _schema_messages(sub_error)]
    location = "/".join(str(part) for part in error.absolute_path) or "<root>"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return [f"{location}: {message}"]


def _describe(exc: Exception) -> str:
    cause = exc.__cause__
    schema_errors: Iterable[ValidationError] = (
        getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None) or ()
    )
    details = [message for error in schema_errors for message in _schema_messages(error)]
    if details:
        # str(exc) of body errors repeats the whole value; the schema errors carry the useful part.
        head = type(exc).__name__
        name = getattr(exc, "name", None)
        if name:
            head += f" {name}"
        return f"{head}: " + "; ".join(details)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class CalContract:
    """The vendored Cal.com contract, loaded once; validation is serialized because the loaded spec is shared."""

    def __init__(self, path: Path) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        self.path = path
        self.vendored_from: Mapping[str, Any] = raw.get("x-vendored-from", {})
        self._api = OpenAPI.from_dict(_patch_spec(raw))
        self._lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], str]] = []
        self._array_query_params: dict[str, frozenset[str]] = {}
        for template, item in raw["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for method in _HTTP_METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                operation_id = operation.get("operationId", f"{method.upper()} {template}")
                self._routes.append((method.upper(), pattern, operation_id))
                self._array_query_params[operation_id] = frozenset(
                    parameter["name"]
                    for parameter in operation.get("parameters", [])
                    if parameter.get("in") == "query" and parameter.get("schema", {}).get("type") == "array"
                )

    @property
    def operation_ids(self) -> list[str]:
        return [operation_id for _, _, operation_id in self._routes]

    def operation_for(self, method: str, path: str) -> str | None:
        for route_method, pattern, operation_id in self._routes:
            if route_method == method.upper() and pattern.match(path):
                return operation_id
        return None

    def request_problems(self, request: Request, body: bytes | None) -> list[str]:
        operation_id = self.operation_for(request.method, request.path)
        if operation_id is None:
            return [f"{request.method} {request.path} is not an operation of the vendored contract"]
        adapter = _ContractRequest(request, self._array_query_params[operation_id], body)
        with self._lock:
            return [_describe(exc) for exc in self._api.iter_request_errors(adapter)]

    def response_problems(self, request: Request, body: bytes | None, response: Response) -> list[str]:
        operation_id = self.operation_for(request.method, request.path)
        if operation_id is None:
            return []
        adapter = _ContractRequest(request, self._array_query_params[operation_id], body)
        with self._lock:
            return [
                _describe(exc) for exc in self._api.iter_response_errors(adapter, WerkzeugOpenAPIResponse(response))
            ]


_SEAT_COUNTS = frozenset({"seatsBooked", "seatsRemaining", "seatsTotal"})


def _slot_item_problem(item: Any, with_end: bool) -> str | None:
    """None when `item` is a slot (`{start[,end]}`) or a seated slot (plus seat counts and maybe `bookingUid`)."""
    base = {"start", "end"} if with_end else {"start"}
    if not isinstance(item, dict):
        return f"is not an object with {sorted(base)}"
    keys = set(item)
    seated = keys >= base | _SEAT_COUNTS
    allowed = base | _SEAT_COUNTS | {"bookingUid"} if seated else base
    if not base <= keys <= allowed:
        return f"is not an object with {sorted(base)} (and, for a seated slot, {sorted(_SEAT_COUNTS)}, bookingUid?)"
    if not all(isinstance(item[key], str) for key in keys - _SEAT_COUNTS):
        return "has a non-string start, end or bookingUid"
    if seated and not all(isinstance(item[key], int) and not isinstance(item[key], bool) for key in _SEAT_COUNTS):
        return "has non-integer seat counts"
    return None


def slots_response_problems(document: Any, with_end: bool) -> list[str]:
    """The real GET /v2/slots 200 shape (notes §1.2): `{"status":"success","data":{"YYYY-MM-DD":[{start[,end]}]}}`,
    seated slots with their seat counts."""
    if (
        not isinstance(document, dict)
        or document.get("status") != "success"
        or not isinstance(document.get("data"), dict)
    ):
        return ['slots: expected {"status":"success","data":{...}}']
    problems: list[str] = []
    for key, items in document["data"].items():
        if not _DATE_KEY.match(key):
            problems.append(f"slots: data key {key!r} is not a YYYY-MM-DD date")
        if not isinstance(items, list) or not items:
            problems.append(f"slots: data[{key}] must be a non-empty list (empty days are left out)")
            continue
        for item in items:
            problem = _slot_item_problem(item, with_end)
            if problem is not None:
                problems.append(f"slots: data[{key}] item {item!r} {problem}")
    return problems


def error_envelope_problems(document: Any) -> list[str]:
    """Cal's HttpExceptionFilter envelope (notes §1.1); the OpenAPI document describes no error responses."""
    if not isinstance(document, dict):
        return ["error: body is not a JSON object"]
    problems = [f"error: missing {key!r}" for key in ("status", "timestamp", "path", "error") if key not in document]
    error = document.get("error")
    if document.get("status") != "error":
        problems.append('error: status must be "error"')
    if (
        not isinstance(error, dict)
        or not isinstance(error.get("code"), str)
        or not isinstance(error.get("message"), str)
    ):
        problems.append("error: error must hold string code and message")
    return problems


@lru_cache(maxsize=4)
def load_contract(path: Path = DEFAULT_CONTRACT_PATH) -> CalContract:
    """Loading and checking the spec takes ~0.1 s, so every double in a process shares one instance per file."""
    return CalContract(path.resolve())
