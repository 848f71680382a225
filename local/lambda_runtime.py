"""Run the template's Lambda handlers in this process, the way the Lambda service would.

- A handler module is loaded from its file (CodeUri + Handler), once per "container".
- A container serves one event at a time, like a Lambda execution environment; concurrent events get more
  containers (cold starts), so module-level state is never shared by two events at once. Libraries are
  imported once per process, though: the one piece of per-event state they keep at class level (Powertools'
  BaseRouter.current_event / lambda_context) is made per thread, see `isolate_router_state`.
- HTTP requests become API Gateway HTTP API (payload 2.0) events; scheduled invocations get the
  EventBridge Scheduler payload.
- A request that matches no route goes to the template's `$default` route, when it has one, as API Gateway does
  (else API Gateway's own 404 `{"message":"Not Found"}`). CORS preflights are answered before routing (the runner).
- Routes behind the template's JWT authorizer get API Gateway's check before the function runs (`JwtAuthorizer`):
  a missing or invalid token is answered 401 `{"message":"Unauthorized"}` and never reaches the function; a valid
  one's claims are in the event, every value a string, as API Gateway passes them.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.dev_auth import DevSigner, UserPool
from local.template import FunctionSpec, functions, jwt_authorizers, load_template, resolve

Handler = Callable[[dict[str, Any], Any], Any]
DEFAULT_ROUTE_KEY = "$default"  # API Gateway's catch-all route: its path in SAM, and its routeKey in events


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str
    started: float
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.started + self.timeout_seconds - time.monotonic()) * 1000), 0)


def http_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    route_key: str | None = None,
    source_ip: str = "127.0.0.1",
    jwt_claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event (header names lower-case, binary bodies base64)."""
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    raw = body.encode() if isinstance(body, str) else body
    is_text = raw is None or headers.get("content-type", "").split(";")[0].strip() in (
        "application/json",
        "text/plain",
        "",
    )
    if raw is not None and is_text:
        try:
            text_body: str | None = raw.decode("utf-8")
            encoded = False
        except UnicodeDecodeError:
            text_body, encoded = base64.b64encode(raw).decode(), True
    else:
        text_body, encoded = (base64.b64encode(raw).decode() if raw is not None else None), raw is not None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key or f"{method.upper()} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if jwt_claims is not None:
        # No route of ours declares scopes, and API Gateway then passes `scopes: null` (round2-notes §6).
        event["requestContext"]["authorizer"] = {"jwt": {"claims": jwt_claims, "scopes": None}}
    if query:
        event["queryStringParameters"] = dict(query)
    if text_body is not None:
        event["body"] = text_body
    return event


def scheduler_event(schedule_name: str, payload: str | None = None) -> dict[str, Any]:
    """What EventBridge Scheduler delivers: the schedule's Input, or this default when it has none."""
    if payload:
        return json.loads(payload)
    return {"schedule": schedule_name, "time": datetime.now(UTC).isoformat()}


RSA_ALGORITHMS = ("RS256", "RS384", "RS512")  # API Gateway's JWT authorizer accepts RSA signatures only


class TokenRefused(Exception):
    """Why the authorizer refused a token (API Gateway's www-authenticate error_description)."""


def gateway_claim(value: Any) -> str:
    """A claim as API Gateway hands it to the function: a string; a list as `[a b]` (round2-notes §6)."""
    if isinstance(value, list):
        return "[" + " ".join(gateway_claim(item) for item in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@dataclass(frozen=True)
class JwtAuthorizer:
    """An HttpApi JWT authorizer, checking what API Gateway checks (AWS developer guide, "Controlling access to
    HTTP APIs with JWT authorizers"): the token in the identity source, bare or after `Bearer `; an RSA signature
    by a key of the issuer's JWKS (matched by `kid`); `iss` equal to the issuer; `aud`, or `client_id` when there
    is no `aud`, one of the audiences; `exp` in the future, `nbf` and `iat` not. Real time, not the product's
    clock: the gateway is not the product, and `make token` in another shell cannot know a moved clock."""

    issuer: str
    audiences: frozenset[str]
    keys: KeySet
    header: str = "authorization"

    def claims(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The verified token's claims as the function receives them; TokenRefused when API Gateway says 401."""
        value = (headers.get(self.header) or "").strip()
        token = value[7:].strip() if value[:7].lower() == "bearer " else value
        if not token:
            raise TokenRefused("no token")
        try:
            verified = jwt.decode(token, self.keys, algorithms=list(RSA_ALGORITHMS)).claims
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise TokenRefused(f"the token could not be verified ({type(exc).__name__})") from None
        if verified.get("iss") != self.issuer:
            raise TokenRefused("the issuer is not the authorizer's")
        audience = verified.get("aud", verified.get("client_id"))
        if not set(audience if isinstance(audience, list) else [audience]) & self.audiences:
            raise TokenRefused("the audience is not the authorizer's")
        now = time.time()
        try:
            expires, not_before, issued = (
                float(verified.get(name, default)) for name, default in (("exp", "nan"), ("nbf", 0), ("iat", 0))
            )
        except (TypeError, ValueError):
            raise TokenRefused("exp, nbf or iat is not a number") from None
        if not expires > now:  # also refuses a token with no exp (nan)
            raise TokenRefused("the token has expired")
        if not_before > now or issued > now:
            raise TokenRefused("the token is not valid yet")
        return {name: gateway_claim(value) for name, value in verified.items()}


def _unauthorized(reason: str) -> dict[str, Any]:
    return {
        "statusCode": 401,
        "headers": {
            "content-type": "application/json",
            "www-authenticate": f'Bearer error="invalid_token" error_description="{reason}"',
        },
        "body": '{"message":"Unauthorized"}',
    }


def template_authorizers(pool: UserPool) -> dict[str, JwtAuthorizer]:
    """The template's JWT authorizers, with its user pool and app client standing for `pool` (its ids, its keys)."""
    resources = load_template()["Resources"]
    references = {"AWS::Region": pool.region, "AWS::URLSuffix": "amazonaws.com"}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Cognito::UserPool":
            references[logical_id] = pool.pool_id
        elif resource["Type"] == "AWS::Cognito::UserPoolClient":
            references[logical_id] = pool.client_id
    return {
        name: JwtAuthorizer(
            issuer=resolve(spec.issuer, references),
            audiences=frozenset(resolve(audience, references) for audience in spec.audience),
            keys=pool.jwks,
            header=spec.identity_source.removeprefix("$request.header.").lower(),
        )
        for name, spec in jwt_authorizers().items()
    }


class _PerThread:
    """A data descriptor holding one value per thread, read and written alike through a class or an instance."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._values = threading.local()

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        try:
            return self._values.value
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, instance: object, value: Any) -> None:
        self._values.value = value


def isolate_router_state() -> None:
    """Give each thread its own Powertools BaseRouter.current_event and lambda_context.

    Powertools stores the event being resolved on the BaseRouter *class*: one per process, which is right in
    Lambda (a process serves one event at a time) and wrong here, where concurrent containers share one
    interpreter. Two requests at once would read each other's event: under bench/races.py a client was
    answered with another client's booking. An invocation runs start to end on one thread (the HTTP
    server's thread for its request, the scheduler's, the test's), so per-thread state is per-invocation.
    """
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if type(BaseRouter).__name__ == "_PerThreadRouterMeta":
        return
    descriptors = {name: _PerThread(name) for name in ("current_event", "lambda_context")}
    for name, descriptor in descriptors.items():
        # In the class dict for `self.current_event` / `app.current_event` (instance lookups) ...
        type.__setattr__(BaseRouter, name, descriptor)
    # ... and on its metaclass for `BaseRouter.current_event = ...`, which would otherwise replace them.
    BaseRouter.__class__ = type("_PerThreadRouterMeta", (type(BaseRouter),), dict(descriptors))


class FunctionPool:
    """The warm containers of one function."""

    _ids = itertools.count(1)

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._idle: list[Handler] = []
        self._lock = threading.Lock()
        self.cold_starts = 0

    def _load(self) -> Handler:
        name = f"lambda_{self.spec.logical_id}_{next(self._ids)}"
        module_spec = importlib.util.spec_from_file_location(name, self.spec.module_file)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        self.cold_starts += 1
        return getattr(module, self.spec.function_name)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
        if handler is None:
            handler = self._load()
        context = LambdaContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_seconds=self.spec.timeout,
            aws_request_id=str(uuid.uuid4()),
            started=time.monotonic(),
        )
        try:
            return handler(event, context)
        finally:
            with self._lock:
                self._idle.append(handler)


class LocalLambda:
    """Every function of the template, and the HTTP routes that lead to them."""

    def __init__(self, user_pool: UserPool | None = None) -> None:
        """`user_pool` stands for the template's Cognito pool: the local dev pool (key in .local/) by default."""
        isolate_router_state()
        self.user_pool = user_pool or DevSigner.local().pool
        self.authorizers = template_authorizers(self.user_pool)
        self.pools = {logical_id: FunctionPool(spec) for logical_id, spec in functions().items()}
        self._routes: list[tuple[str, re.Pattern[str], str, str, str | None]] = []
        self._default_route: tuple[str, str, str | None] | None = None
        for logical_id, pool in self.pools.items():
            for route in pool.spec.routes:
                if route.path == DEFAULT_ROUTE_KEY:
                    self._default_route = (logical_id, DEFAULT_ROUTE_KEY, route.authorizer)
                    continue
                pattern = re.compile("^" + re.sub(r"\{[^/]+?\}", "[^/]+", route.path) + "$")
                route_key = f"{route.method} {route.path}"
                self._routes.append((route.method, pattern, logical_id, route_key, route.authorizer))

    def route(self, method: str, path: str) -> tuple[str, str, str | None] | None:
        """(function logical id, route key, authorizer or None) serving this request: its route's, else the
        `$default` route's; None when the template has neither."""
        for route_method, pattern, logical_id, route_key, authorizer in self._routes:
            if route_method in (method.upper(), "ANY") and pattern.match(path):
                return logical_id, route_key, authorizer
        return self._default_route

    def route_keys(self) -> list[str]:
        return [route[3] for route in self._routes] + ([DEFAULT_ROUTE_KEY] if self._default_route else [])

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        return self.pools[logical_id].invoke(event)

    def http(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Serve one HTTP request as API Gateway would: the `$default` route's function (or 404) without a matching
        route, 401 when the route's authorizer refuses the token, 500 when the handler raises."""
        found = self.route(method, path)
        if found is None:
            return {
                "statusCode": 404,
                "headers": {"content-type": "application/json"},
                "body": '{"message":"Not Found"}',
            }
        logical_id, route_key, authorizer = found
        claims = None
        if authorizer is not None:
            lower = {name.lower(): value for name, value in (headers or {}).items()}
            try:
                claims = self.authorizers[authorizer].claims(lower)
            except TokenRefused as refused:
                return _unauthorized(str(refused))
        event = http_event(
            method, path, body=body, headers=headers, query=query, route_key=route_key, jwt_claims=claims
        )
        try:
            return self.invoke(logical_id, event)
        except Exception:  # what API Gateway answers when the integration fails
            import logging

            logging.getLogger("local").exception("handler %s raised", logical_id)
            return {
                "statusCode": 500,
                "headers": {"content-type": "application/json"},
                "body": '{"message":"Internal Server Error"}',
            }
