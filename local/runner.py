"""The Docker-free local runner: every HTTP route of template.yaml on 127.0.0.1:3000, as HTTP API v2 events
to the real handlers, with DynamoDB in moto (server mode) and the Stripe and Cal.com doubles on loopback.

With STRIPE_SECRET_KEY (a test-mode key) in the environment it talks to Stripe test mode instead of the
double; with CAL_API_KEY, to Cal.com. `GET /_local` says where everything lives. LOCAL_CAL_RATE_LIMIT sets
the Cal.com double's requests per minute (default 120 like Cal.com; 0 = unlimited, for load tests and fuzzing).

The table's stream reaches the functions that read it (NotificationsFunction) every half second, as Lambda's event
source mapping would; what they send through SES and SNS stays in moto: the local outbox (`GET /_local/outbox`,
the page `/_local/outbox/page`). Moving the clock forward runs the scheduled functions once each.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from local.aws import (
    create_alerts_topic,
    create_app_tables,
    fake_credentials,
    published_alerts,
    start_moto_server,
    verify_email_identity,
)
from local.dev_auth import ACCESS_TOKEN_MINUTES, DevSigner
from local.lambda_runtime import LocalLambda, scheduler_event
from local.outbox import Outbox, render_page
from local.seed import seed_promo_codes
from local.streams import EventSourceMapping, stream_functions
from local.template import load_template

# Keys of the doubles. They only open the doubles on loopback; real keys come from the environment.
DOUBLE_STRIPE_KEY = "sk_test_local_double"
DOUBLE_STRIPE_WEBHOOK_SECRET = "whsec_local_double"  # noqa: S105
DOUBLE_STRIPE_PUBLISHABLE_KEY = "pk_test_local_double"
DOUBLE_CAL_KEY = "cal_local_double"
DOUBLE_CAL_WEBHOOK_SECRET = "cal_whsec_local_double"  # noqa: S105

LOCAL_DEFAULTS = {
    "TABLE_NAME": "booking-deposits-local",
    "STAGE": "local",
    # The dashboard signs in with a dev token from the runner's site (`/_local/dev-token`), not Cognito.
    "OWNER_SIGN_IN_MODE": "local",
    "POWERTOOLS_SERVICE_NAME": "booking-deposits",
    "POWERTOOLS_METRICS_NAMESPACE": "BookingDeposits",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # Our emails: from this address (verified in moto's SES at start), owner alerts to the owner's; they stay in
    # the local outbox. `.example` names no real mailbox.
    "NOTIFY_FROM_EMAIL": "bookings@studio.example",
    "OWNER_EMAIL": "owner@studio.example",
}
STREAM_POLL_SECONDS = 0.5  # how often the stream is read (Lambda polls a shard about 4 times a second)


def cal_rate_limit() -> int:
    """The Cal.com double's requests per minute per API key: Cal.com's 120 unless LOCAL_CAL_RATE_LIMIT says.

    Load tests and fuzzing send far more than one site visitor would; 0 turns the throttle off.
    """
    raw = os.environ.get("LOCAL_CAL_RATE_LIMIT", "").strip()
    if not raw:
        return 120
    try:
        limit = int(raw)
    except ValueError:
        raise SystemExit(f"LOCAL_CAL_RATE_LIMIT must be a whole number of requests per minute, not {raw!r}") from None
    if limit < 0:
        raise SystemExit("LOCAL_CAL_RATE_LIMIT must be 0 (no limit) or a positive number of requests per minute")
    return limit or sys.maxsize


def _template_parameter(name: str) -> str:
    return str(load_template()["Parameters"][name].get("Default", ""))


def _cors_configuration() -> dict[str, Any]:
    return dict(load_template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"])


def allowed_origins() -> set[str]:
    """The origins the API answers with CORS: SITE_ORIGINS (comma-separated) or the template's AllowOrigins (its
    parameter defaults), plus the origin of SITE_BASE_URL, where the runner serves the site kit."""
    configured = os.environ.get("SITE_ORIGINS", "").strip()
    if configured:
        origins = {origin.strip() for origin in configured.split(",") if origin.strip()}
    else:
        origins = set()
        listed = _cors_configuration()["AllowOrigins"]
        for item in listed if isinstance(listed, list) else [listed]:
            value = _template_parameter(item["Ref"]) if isinstance(item, dict) and "Ref" in item else str(item)
            origins.update(origin.strip() for origin in value.split(",") if origin.strip())
    site = urlsplit(os.environ.get("SITE_BASE_URL", ""))
    if site.scheme and site.netloc:
        origins.add(f"{site.scheme}://{site.netloc}")
    return origins


class LocalEnvironment:
    """moto + doubles + the API server, started and stopped together (also used by tests and the demo)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 3000, *, schedules: bool = False, site_port: int | None = None
    ) -> None:
        """`site_port`: also serve the site kit (site/) there, at SITE_BASE_URL (0 = any free port)."""
        self.host, self.port = host, port
        self.site_port = site_port
        self.site: Any = None
        self.schedules = schedules
        self._stopping = threading.Event()
        self.stripe_double: Any = None
        self.cal_double: Any = None
        self.site_sign_in: Any = None
        self.lam: LocalLambda | None = None
        self.signer: DevSigner | None = None
        self._moto: Any = None
        self._server: ThreadingHTTPServer | None = None
        self.api_url = ""
        self.outbox = Outbox()
        self.streams: list[EventSourceMapping] = []

    # --- providers --------------------------------------------------------------------------------------

    def _start_stripe(self) -> None:
        real_key = os.environ.get("STRIPE_SECRET_KEY", "")
        if real_key:
            if real_key.startswith(("sk_live_", "rk_live_")):
                raise SystemExit("Refusing to run locally with a live Stripe key: use a test-mode key (sk_test_...).")
            if not os.environ.get("STRIPE_PUBLISHABLE_KEY", "").startswith("pk_test_"):
                raise SystemExit("With STRIPE_SECRET_KEY, also set STRIPE_PUBLISHABLE_KEY (pk_test_...) for the pages.")
            os.environ.setdefault("STRIPE_API_BASE", "https://api.stripe.com")
            return
        from booking.clock import now
        from local.stripe_double import StripeDouble

        self.stripe_double = StripeDouble(clock=now)
        os.environ["STRIPE_API_BASE"] = self.stripe_double.start(self.host)
        # The pages load the double's stand-in of Stripe.js, which talks to the double with this publishable key.
        os.environ["STRIPE_JS_URL"] = f"{os.environ['STRIPE_API_BASE']}/v3/"
        os.environ["STRIPE_PUBLISHABLE_KEY"] = DOUBLE_STRIPE_PUBLISHABLE_KEY
        os.environ["STRIPE_SECRET_KEY"] = DOUBLE_STRIPE_KEY
        os.environ["STRIPE_WEBHOOK_SECRET"] = DOUBLE_STRIPE_WEBHOOK_SECRET

    def _start_cal(self) -> None:
        if os.environ.get("CAL_API_KEY"):
            os.environ.setdefault("CAL_API_BASE", "https://api.cal.com")
            return
        from booking.clock import now
        from booking.domain.catalog import get_catalog
        from local.cal_double import CalDouble, CalEventType

        catalog = get_catalog()
        # A service taking several clients per slot is a seated Cal.com event type with one seat per client.
        event_types = {
            service.cal_event_type_id: CalEventType(
                id=service.cal_event_type_id,
                slug=service.id,
                title=service.name,
                length_minutes=service.duration_minutes,
                seats_per_time_slot=service.capacity if service.capacity > 1 else None,
                before_event_buffer=service.buffer_before_minutes,  # set on the event type in Cal.com too (README)
                after_event_buffer=service.buffer_after_minutes,
            )
            for service in catalog.services
        }
        self.cal_double = CalDouble(
            event_types, catalog.business.time_zone, clock=now, rate_limit_per_minute=cal_rate_limit()
        )
        os.environ["CAL_API_BASE"] = self.cal_double.start(self.host)
        os.environ["CAL_API_KEY"] = DOUBLE_CAL_KEY
        os.environ["CAL_WEBHOOK_SECRET"] = DOUBLE_CAL_WEBHOOK_SECRET

    def _start_site_sign_in(self) -> None:
        """The business's site sign-in stand-in (roles, seed 004): unless ROLE_JWKS_URL names a real one."""
        if os.environ.get("ROLE_JWKS_URL"):
            return
        from local.site_sign_in import SiteSignIn

        self.site_sign_in = SiteSignIn()
        self.site_sign_in.start(self.host)
        os.environ["ROLE_JWKS_URL"] = self.site_sign_in.jwks_url
        os.environ["ROLE_ISSUER"] = self.site_sign_in.issuer

    # --- life cycle -------------------------------------------------------------------------------------

    def start(self) -> LocalEnvironment:
        # Powertools warns on every invocation that publishes no metric; locally that is only noise.
        warnings.filterwarnings("ignore", "No application metrics to publish")
        for name, value in LOCAL_DEFAULTS.items():
            os.environ.setdefault(name, value)
        if self.site_port is not None:
            self._bind_site()
        os.environ.setdefault("SITE_BASE_URL", "http://localhost:8080")  # the template's default
        # The manage and pay links' key (template: LinkSigningKeySecret): per run, like the table it signs for.
        os.environ.setdefault("LINK_SIGNING_KEY", os.urandom(32).hex())
        fake_credentials()
        self._moto, _ = start_moto_server(self.host)
        create_app_tables(os.environ["TABLE_NAME"])
        os.environ["OWNER_ALERTS_TOPIC_ARN"] = create_alerts_topic("booking-deposits-owner-alerts")
        if os.environ.get("NOTIFY_FROM_EMAIL"):
            verify_email_identity(os.environ["NOTIFY_FROM_EMAIL"])  # SES refuses an unverified From
        self._start_stripe()
        self._start_cal()
        self._start_site_sign_in()
        from booking.settings import get_settings

        get_settings.cache_clear()  # configuration is complete only now (the doubles' URLs)
        seed_promo_codes()  # seed 003's WIMD25; kept as it is on a restart
        # The admin routes take tokens signed by the dev key in .local/ (the runner's stand-in for Cognito).
        self.signer = DevSigner.local()
        self.lam = LocalLambda(user_pool=self.signer.pool)
        self._server = _ApiServer((self.host, self.port), _make_handler(self))
        self.port = self._server.server_address[1]
        self.api_url = f"http://{self.host}:{self.port}"
        threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True).start()
        if self.site is not None:
            self.site.start()
        if self.stripe_double is not None:
            self.stripe_double.add_webhook_endpoint(f"{self.api_url}/webhooks/stripe", DOUBLE_STRIPE_WEBHOOK_SECRET)
        if self.cal_double is not None:
            self.cal_double.add_webhook_subscriber(f"{self.api_url}/webhooks/cal", DOUBLE_CAL_WEBHOOK_SECRET)
        self._start_streams()
        if self.schedules:
            self._start_schedules()
        return self

    def _bind_site(self) -> None:
        """Bind the site's port first, so SITE_BASE_URL (verify and pay links) names the port really served."""
        from local.site import SiteServer

        self.site = SiteServer(self.host, self.site_port or 0, api_url=lambda: self.api_url, signer=DevSigner.local())
        os.environ.setdefault("SITE_BASE_URL", f"http://localhost:{self.site.port}")

    def _start_streams(self) -> None:
        """Lambda's event source mappings of the table's stream, polled on a thread of their own. They run whether
        or not the schedules do: a booking's confirmation follows the booking, not the clock."""
        assert self.lam is not None
        for logical_id in stream_functions():
            self.streams.append(EventSourceMapping(os.environ["TABLE_NAME"], logical_id, self.lam.invoke))
        threading.Thread(target=self._stream_loop, name="local-streams", daemon=True).start()

    def _stream_loop(self) -> None:
        while not self._stopping.wait(STREAM_POLL_SECONDS):
            self.catch_up()

    def catch_up(self) -> None:
        """Deliver the stream's new records now (a failing batch waits for its retry) and note new messages."""
        for mapping in self.streams:
            try:
                # A delivery can write records of its own (an owner alert about a failed message): read again.
                for _ in range(5):
                    if not mapping.poll():
                        break
            except Exception:  # reading the stream itself failed (moto restarting, the table gone): next tick
                if not self._stopping.is_set():  # stopping: moto may be gone already
                    logging.getLogger("local").exception("reading the stream for %s failed", mapping.logical_id)
        try:
            self.outbox.observe()
        except Exception:
            logging.getLogger("local").exception("reading the local outbox failed")

    def run_schedules(self) -> dict[str, Any]:
        """Each ScheduleV2 function once, in the template's order, as if their schedules had fired (the clock moved:
        the cleanup, the due messages, the payouts). The stream is caught up before and after."""
        assert self.lam is not None
        self.catch_up()
        ran: list[str] = []
        errors: dict[str, str] = {}
        for logical_id, pool in self.lam.pools.items():
            for schedule in pool.spec.schedules:
                try:
                    self.lam.invoke(logical_id, scheduler_event(schedule.name, schedule.input))
                    ran.append(logical_id)
                except Exception as exc:  # reported, as the scheduler's failed delivery would be; the others still run
                    logging.getLogger("local").exception("scheduled run of %s failed", logical_id)
                    errors[logical_id] = f"{type(exc).__name__}: {exc}"
        self.catch_up()
        return {"ran": ran} | ({"errors": errors} if errors else {})

    def _start_schedules(self) -> None:
        """Run each ScheduleV2 function at its rate, as EventBridge Scheduler would (real time, not the clock)."""
        assert self.lam is not None
        for logical_id, pool in self.lam.pools.items():
            for schedule in pool.spec.schedules:
                period = rate_seconds(schedule.expression)
                event = scheduler_event(schedule.name, schedule.input)
                threading.Thread(
                    target=self._every, args=(period, logical_id, event), name=f"schedule-{logical_id}", daemon=True
                ).start()

    def _every(self, period: float, logical_id: str, event: dict[str, Any]) -> None:
        assert self.lam is not None
        while not self._stopping.wait(period):
            try:
                self.lam.invoke(logical_id, event)
            except Exception:  # a failed run is retried at the next tick, as the scheduler's retries would
                logging.getLogger("local").exception("scheduled run of %s failed", logical_id)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.site is not None:
            self.site.stop()
        for double in (self.stripe_double, self.cal_double, self.site_sign_in):
            if double is not None:
                double.stop()
        if self._moto is not None:
            self._moto.stop()

    def describe(self) -> dict[str, Any]:
        return {
            "api": self.api_url,
            "site": os.environ.get("SITE_BASE_URL", "") if self.site is not None else None,
            "stripe_api": os.environ.get("STRIPE_API_BASE", ""),
            "cal_api": os.environ.get("CAL_API_BASE", ""),
            "dynamodb": os.environ.get("AWS_ENDPOINT_URL", ""),
            "stripe": "double" if self.stripe_double is not None else "stripe test mode",
            "cal": "double" if self.cal_double is not None else "cal.com",
            "clock_offset_seconds": float(os.environ.get("LOCAL_CLOCK_OFFSET_SECONDS") or 0),
            "schedules": self.schedules,
            # Requests per minute the Cal.com double accepts per key (None: no limit, or real Cal.com).
            "cal_rate_limit_per_minute": (
                self.cal_double.rate_limit_per_minute
                if self.cal_double is not None and self.cal_double.rate_limit_per_minute < sys.maxsize
                else None
            ),
            "routes": self.lam.route_keys() if self.lam else [],
            "owner_token_issuer": self.signer.pool.issuer if self.signer else None,
            # Role tokens: POST /_local/site-token {"role": "resident_artist"} (the site sign-in's stand-in).
            "role_token_issuer": os.environ.get("ROLE_ISSUER") or None,
            # What the product emailed and texted (moto's SES and SNS): JSON, and a page showing each email.
            "outbox": f"{self.api_url}/_local/outbox",
            "outbox_page": f"{self.api_url}/_local/outbox/page",
            "streams": {
                mapping.logical_id: {"delivered": mapping.delivered, "set_aside": len(mapping.dead_letters)}
                for mapping in self.streams
            },
        }

    # --- local-only control routes ----------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes, query: str = "") -> tuple[int, dict[str, Any] | str]:
        """A local-only route's answer: JSON (a dict), or a page (a str of HTML)."""
        if method == "GET" and path == "/_local":
            return 200, self.describe()
        if method == "GET" and path == "/_local/alerts":
            return 200, {"alerts": published_alerts(os.environ["OWNER_ALERTS_TOPIC_ARN"])}
        if method == "GET" and path in ("/_local/outbox", "/_local/outbox/page"):
            to = dict(parse_qsl(query)).get("to") or None
            self.catch_up()  # what the stream thread would deliver within half a second: a read right after sees it
            messages = self.outbox.messages(to)
            if path.endswith("/page"):
                return 200, render_page(messages, to=to)
            return 200, {"messages": [message.model_dump(by_alias=True) for message in messages]}
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": {"code": "invalid_json", "message": "The body is not JSON."}}
        if method == "POST" and path == "/_local/clock":
            # What happened before the move is handled at its own time first (a booking confirmed just now plans
            # its reminder from now, not from after the move).
            self.catch_up()
            current = float(os.environ.get("LOCAL_CLOCK_OFFSET_SECONDS") or 0)
            offset = float(payload.get("offset_seconds", current + float(payload.get("advance_seconds", 0))))
            os.environ["LOCAL_CLOCK_OFFSET_SECONDS"] = str(offset)
            answer: dict[str, Any] = {"clock_offset_seconds": offset, "ran": []}
            # Time moved forward: the schedules would have fired meanwhile (the reminder, the expiry, the payout show
            # at once). Back (a demo restoring the clock) nothing is due that was not; `run_schedules: false` opts out.
            if offset > current and payload.get("run_schedules", True) is not False:
                answer |= self.run_schedules()
            return 200, answer
        if method == "POST" and path.startswith("/_local/invoke/"):
            return self._invoke(path.removeprefix("/_local/invoke/"), payload)
        if method == "POST" and path == "/_local/site-token":
            if self.site_sign_in is None:
                return 409, {"error": {"code": "not_local", "message": "ROLE_JWKS_URL names a real site sign-in"}}
            return self.site_sign_in.mint(payload if isinstance(payload, dict) else {})
        return 404, {"error": {"code": "not_found", "message": "Unknown /_local route"}}

    def _invoke(self, target: str, payload: Any) -> tuple[int, dict[str, Any]]:
        """POST /_local/invoke/{Function}[/{example}]: run one function here, as `make invoke` asks.

        `/{example}` (a file of its events/ folder) or no body: that shipped example, first prepared on this runner
        through the real flow (`local.fixtures.refresh`); no body and no example: the first example, or a scheduled
        function's schedule event. Any other body is the event itself (webhooks re-signed as if sent now). A
        handler that raises is a 500 naming the error: the runner stays up.
        """
        from local.fixtures import Workbench, examples, refresh

        assert self.lam is not None and self.signer is not None
        logical_id, _, example = target.partition("/")
        if logical_id not in self.lam.pools:
            known = ", ".join(self.lam.pools)
            return 404, {"error": {"code": "unknown_function", "message": f"No function {logical_id}: {known}"}}
        shipped = examples(logical_id)
        schedules = self.lam.pools[logical_id].spec.schedules
        chosen = next((path for path in shipped if example in (path.name, path.stem)), None) if example else None
        if example and chosen is None:
            names = ", ".join(path.name for path in shipped) or "none"
            return 404, {
                "error": {"code": "unknown_example", "message": f"{logical_id} has no example {example}: {names}"}
            }
        if not example and not payload:
            if shipped:
                chosen = shipped[0]
            elif not schedules:
                return 400, {"error": {"code": "no_event", "message": f"{logical_id} has no example: send an event"}}
        answer: dict[str, Any] = {"function": logical_id, "event": chosen.name if chosen else None, "prepared": []}
        bench = Workbench(self.lam, self.signer, say=lambda line: print(line, flush=True), said=answer["prepared"])
        try:
            if chosen is not None:
                event = refresh(json.loads(chosen.read_text(encoding="utf-8")), bench)
            elif payload:
                event = refresh(payload)
            else:
                event = scheduler_event(schedules[0].name, schedules[0].input)
        except Exception as exc:  # the example's own flow refused: say which step, keep serving
            return 500, answer | {
                "error": {"code": "example_not_prepared", "type": type(exc).__name__, "message": str(exc)}
            }
        try:
            answer["result"] = self.lam.invoke(logical_id, event)
        except Exception as exc:  # as Lambda reports a function error; the runner stays up
            logging.getLogger("local").exception("%s raised", logical_id)
            return 500, answer | {"error": {"code": "handler_error", "type": type(exc).__name__, "message": str(exc)}}
        return 200, answer


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    # API Gateway accepts any number of concurrent connections; socketserver's default listen backlog of 5
    # would reset the excess clients of a burst (bench/races.py) before the runner ever saw them.
    request_queue_size = 256


def _cors_headers(origin: str | None, *, preflight: bool = False) -> dict[str, str]:
    """HTTP API's CORS answer, from the template's CorsConfiguration: an allowed origin gets Allow-Origin and the
    exposed headers on every answer, and the allowed methods and headers on a preflight; any other origin nothing."""
    if not origin or origin not in allowed_origins():
        return {}
    cors = _cors_configuration()
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if cors.get("ExposeHeaders"):
        headers["Access-Control-Expose-Headers"] = ",".join(cors["ExposeHeaders"])
    if preflight:
        headers["Access-Control-Allow-Methods"] = ",".join(cors.get("AllowMethods", []))
        headers["Access-Control-Allow-Headers"] = ",".join(cors.get("AllowHeaders", []))
        headers["Access-Control-Max-Age"] = str(cors.get("MaxAge", 0))
    return headers


def _make_handler(env: LocalEnvironment) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, a keep-alive client's delayed ACK held every
        # answer back ~40 ms (GET /services took 44 ms over HTTP, 0.3 ms in the handler; bench/availability.py).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            if os.environ.get("LOCAL_ACCESS_LOG"):
                super().log_message(format, *args)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            cors = _cors_headers(self.headers.get("Origin"))
            if url.path == "/_local" or url.path.startswith("/_local/"):
                # The demo page (the site's origin) mints a role token from the browser: CORS for that route only.
                minting = url.path == "/_local/site-token"
                if minting and self.command == "OPTIONS" and self.headers.get("Access-Control-Request-Method"):
                    self._send(204, b"", _cors_headers(self.headers.get("Origin"), preflight=True))
                    return
                status, payload = env.control(self.command, url.path, body, url.query)
                if isinstance(payload, str):
                    page = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
                    self._send(status, payload.encode(), page)
                else:
                    answer_headers = {"Content-Type": "application/json", **(cors if minting else {})}
                    self._send(status, json.dumps(payload, default=str).encode(), answer_headers)
                return
            if self.command == "OPTIONS" and self.headers.get("Access-Control-Request-Method"):
                # API Gateway answers every preflight itself when CORS is configured; the function never runs.
                self._send(204, b"", _cors_headers(self.headers.get("Origin"), preflight=True))
                return
            assert env.lam is not None
            query: dict[str, str] = {}
            for name, value in parse_qsl(url.query, keep_blank_values=True):
                query[name] = f"{query[name]},{value}" if name in query else value  # HTTP API joins repeats
            result = env.lam.http(
                self.command, url.path, body=body or None, headers=dict(self.headers.items()), query=query or None
            )
            self._send_lambda_result(result, cors)

        def _send_lambda_result(self, result: Any, cors: dict[str, str]) -> None:
            if not isinstance(result, dict) or "statusCode" not in result:
                result = {
                    "statusCode": 200,
                    "body": json.dumps(result),
                    "headers": {"content-type": "application/json"},
                }
            raw = result.get("body") or ""
            body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
            headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
            headers.update(cors)
            self.send_response(int(result["statusCode"]))
            for name, value in headers.items():
                self.send_header(name, value)
            for cookie in result.get("cookies") or []:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the gateway (http.server calls do_<METHOD>): the ones no route has get the
            # $default route's 405, as on API Gateway, instead of http.server's HTML 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

    return Handler


def rate_seconds(expression: str) -> float:
    """`rate(5 minutes)` -> 300.0 (the schedules the template uses)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


def serve_forever(host: str, port: int, *, schedules: bool = True, site_port: int = 8080) -> int:
    env = LocalEnvironment(host, port, schedules=schedules, site_port=site_port)
    try:
        env.start()
    except OSError as exc:
        print(
            f"Cannot listen on {host}:{port} or {site_port}: {exc}. Is another runner already up? "
            "(make run PORT=... SITE_PORT=... to change)",
            file=sys.stderr,
        )
        return 1
    info = env.describe()
    print(
        f"Site (demo page)       {info['site']}/   <- open it, pick a service and a slot, pay with 4242 4242 4242 4242"
    )
    print(f"  verify / pay pages   {info['site']}/book/verify/  {info['site']}/book/pay/")
    print(f"  owner dashboard      {info['site']}/admin/   (Sign in with the local dev token)")
    print(f"Booking deposits API   {info['api']}")
    for route in info["routes"]:
        print(f"  {route}")
    print(f"Stripe ({info['stripe']})  {info['stripe_api']}")
    print(f"Cal.com ({info['cal']})  {info['cal_api']}")
    print(f"DynamoDB (moto)        {info['dynamodb']}")
    print(f"Local controls         {info['api']}/_local  (clock, alerts, invoke)")
    print(f"Outbox (emails, texts) {info['outbox_page']}   <- what the product would send; nothing leaves")
    assert env.signer is not None
    print(f"Owner dev token        (valid {ACCESS_TOKEN_MINUTES} min; another: make token, or make token ROLE=staff)")
    print(f"  {env.signer.token('owner')}")
    print(f"  curl -H \"Authorization: Bearer $TOKEN\" '{info['api']}/admin/bookings'")
    if schedules:
        print("Schedules              the template's ScheduleV2 rates (make invoke FN=... runs one now)")
    print("Try it: make demo    (Ctrl-C stops everything; data lives in memory)", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    env.stop()
    return 0


def invoke_remote(api: str, function: str | None, event_file: str | None, *, list_examples: bool = False) -> int:
    """`python -m local invoke FUNCTION [EVENT] [--list]`: run a function inside the running local runner.

    Without EVENT, the function's first example (file-name order in functions/<CodeUri>/events/), or a scheduled
    function's schedule event; EVENT may name one of its examples (`list_services`) or any event file.
    An example is prepared on the runner first (`local.fixtures.refresh`), which says what it made.
    """
    from local.fixtures import examples
    from local.template import ROOT, functions

    specs = functions()
    if list_examples and function is None:
        for logical_id in specs:
            _print_examples(logical_id)
        return 0
    if function not in specs:
        print(f"No function {function!r} in template.yaml; one of: {', '.join(specs)}", file=sys.stderr)
        return 2
    shipped = examples(function)
    if list_examples:
        _print_examples(function)
        return 0
    target, event = function, None
    if event_file is None and shipped:
        target = f"{function}/{shipped[0].name}"
        others = ", ".join(path.stem for path in shipped[1:])
        print(
            f"No EVENT: its first example, {shipped[0].relative_to(ROOT)}"
            + (f" (others: {others}; EVENT=<name or file>)" if others else ""),
            file=sys.stderr,
        )
    elif event_file is None and not specs[function].schedules:
        print(f"{function} has no example event: give one, EVENT=<file>", file=sys.stderr)
        return 2
    elif event_file is not None:
        path = Path(event_file)
        named = [p for p in shipped if p.resolve() == path.resolve() or event_file in (p.name, p.stem)]
        if named:
            target = f"{function}/{named[0].name}"
        elif path.is_file():
            event = json.loads(path.read_text(encoding="utf-8"))
        else:
            names = ", ".join(p.stem for p in shipped) or "none"
            print(f"No event file {event_file} (examples of {function}: {names})", file=sys.stderr)
            return 2
    try:
        response = requests.post(f"{api}/_local/invoke/{target}", json=event, timeout=300)
    except requests.ConnectionError:
        if _listening(api):
            print(
                f"The runner at {api} dropped the connection while running {function}: see its output.", file=sys.stderr
            )
        else:
            print(f"No local runner at {api}: start it with `make run`.", file=sys.stderr)
        return 1
    try:
        answer = response.json()
    except ValueError:
        print(f"The runner answered HTTP {response.status_code}: {response.text[:2000]}", file=sys.stderr)
        return 1
    for line in answer.pop("prepared", None) or []:
        print(line)
    print(json.dumps(answer, indent=2, default=str))
    error = answer.get("error") or {}
    if error:
        print(f"{function}: {error.get('type') or error.get('code')}: {error.get('message')}", file=sys.stderr)
    return 0 if response.ok else 1


def _print_examples(logical_id: str) -> None:
    from local.fixtures import examples
    from local.template import ROOT, functions

    shipped = examples(logical_id)
    lines = [
        f"  {path.relative_to(ROOT)}" + ("  (default)" if index == 0 else "") for index, path in enumerate(shipped)
    ]
    lines += [f"  schedule {schedule.name} ({schedule.expression})" for schedule in functions()[logical_id].schedules]
    if not shipped and lines:
        lines[0] += "  (default)"
    print("\n".join([logical_id, *lines]))


def _listening(api: str) -> bool:
    try:
        requests.get(f"{api}/_local", timeout=5)
    except requests.RequestException:
        return False
    return True


def advance_clock(api: str, advance: str) -> int:
    """`python -m local clock 72h`: move the running runner's clock (product and doubles) forward."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", advance.strip())
    if not match:
        print("Say how far, e.g. 90s, 16m, 72h or 3d.", file=sys.stderr)
        return 2
    seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    try:
        # The runner then runs the scheduled functions once each: longer than moving a number.
        response = requests.post(f"{api}/_local/clock", json={"advance_seconds": seconds}, timeout=300)
    except requests.ConnectionError:
        print(f"No local runner at {api}: start it with `make run`.", file=sys.stderr)
        return 1
    answer = response.json()
    print(f"clock offset is now {answer['clock_offset_seconds']:.0f} s")
    if answer.get("ran"):
        print(f"ran the scheduled functions: {', '.join(answer['ran'])}")
    for logical_id, error in (answer.get("errors") or {}).items():
        print(f"{logical_id} failed: {error}", file=sys.stderr)
    return 0
