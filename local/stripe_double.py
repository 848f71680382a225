"""An in-memory HTTP double of the Stripe API (v1) that the real `stripe` client talks to unchanged.

    double = StripeDouble()
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": double.start()}, max_network_retries=2)

Tests use it in-process (`start()` on port 0, or `wsgi_app` directly); the local runner serves it on loopback.
Resources and business rules live in `local/stripe_objects.py`; this module is the HTTP side: auth, form decoding,
routing, idempotency, the request log, outage simulation, webhook delivery and the `/_double/...` control routes.

Browsers reach it as they reach Stripe (docs/stripe-js.md): `GET /v3/` serves the Stripe.js stand-in
(`local/stripe_js/stripe.js`); every other non-control route answers any origin (CORS `*`, preflights included).
A publishable key (`pk_test_...`, as `Authorization: Bearer` or a `key` form/query field) works only on
`PUBLISHABLE_ROUTES`, with the PaymentIntent's `client_secret`: retrieve and confirm a PaymentIntent (card details
in `payment_method_data`), create a card PaymentMethod, and `POST /hooks.stripe.com/3d_secure_2_test/{source}/
complete|fail`, the double's stand-in of Stripe's 3-D Secure test page. Its answers never carry metadata.

Test controls (Python method, then its HTTP route; JSON in and out). `reset()` forgets every object and clears
every mode below; webhook endpoints stay.

- Faults of the API, each matching by path prefix (None = every path):
  - `fail_next(n=1, status=500, path=None, after_processing=False)`, `POST /_double/fail_next {count, status,
    path, after_processing}`: the next n calls fail with `status` (500 -> api_error, 429 -> rate_limit, ...) or
    "connection" (socket closed, no answer). With `after_processing` the call is first executed in full (objects,
    events, the idempotency result) and only the answer is lost: Stripe refunded, and the caller never heard it.
  - `set_down(down=True, status=500)`, `POST /_double/down {down, status}`: every call fails until set up again.
  - `set_latency(seconds, path=None)`, `POST /_double/latency {seconds, path}`: matching calls are executed at
    once and answered `seconds` later (really slept), so webhooks may arrive before the answer, as on Stripe.
    0 turns that path's latency off; `set_latency(0)` turns all of it off.
  - `refuse_next(path, code, n=1, status=400, message=None)`, `POST /_double/refuse_next {path, code, count,
    status, message}`: the next n POSTs to `path` are refused with an `invalid_request_error` of that `code`
    (`balance_insufficient` on `/v1/transfers` has Stripe's message) and change nothing. As on Stripe, the refusal
    is saved under the request's Idempotency-Key (24 h): a retry with the same key gets it again.
- What happens at Stripe without our code:
  - `create_dispute(charge_id, amount=None, reason="fraudulent")`, `POST /_double/charges/{id}/dispute`: a
    chargeback; emits `charge.dispute.created` then `charge.dispute.funds_withdrawn`. Refunds of the charge are then
    refused (`charge_disputed`) unless the dispute `is_charge_refundable` or was won.
  - `close_dispute(dispute_id, status)`, `POST /_double/disputes/{id}/close {status}`: the bank decides, `won` or
    `lost`; emits `charge.dispute.closed` and, when won, `charge.dispute.funds_reinstated`. (The merchant accepts a
    dispute with the real `POST /v1/disputes/{id}/close`.)
  - `fail_refund(refund_id, failure_reason="expired_or_canceled_card")`, `POST /_double/refunds/{id}/fail
    {failure_reason}`: the refund fails later at the bank (status `failed`, `failure_balance_transaction`), its
    amount leaves the charge's `amount_refunded`; emits `charge.refund.updated`, `refund.updated`, `refund.failed`.
  - `dashboard_refund(payment_intent=None, charge=None, amount=None)`, `POST /_double/refunds {payment_intent |
    charge, amount}`: a person refunds in the Dashboard: the rules and events of `POST /v1/refunds`, no metadata,
    no idempotency key, not in `requests` (which logs the API calls made to the double).
  - `succeed_payment_intent(pi_id)`, `POST /_double/payment_intents/{id}/succeed`: the customer paid in the browser.
- Webhooks (background delivery; `deliver_webhooks=False` instead keeps events for `deliver_pending()`):
  - `hold_webhooks(hold=True)` / `release_webhooks()`, `POST /_double/webhooks/hold {hold}`,
    `POST /_double/webhooks/release`: while held, new events are queued unsent; releasing sends them in order.
  - `set_webhook_delay(seconds)`, `POST /_double/webhooks/delay {seconds}`: each delivery leaves `seconds` after
    its event was created.
  - `set_webhook_retry_delays(delays)`, `POST /_double/webhooks/retry_delays {delays}`: a non-2xx answer or no
    answer is retried after each delay in turn (Stripe retries for up to 3 days with backoff), in the background,
    without holding back other events. Every attempt is in `deliveries`.
  - `add_webhook_endpoint` / `remove_webhook_endpoint`, `POST|GET /_double/webhook_endpoints`,
    `DELETE /_double/webhook_endpoints/{id}`; `deliveries`, `GET /_double/deliveries`; `wait_for_deliveries`,
    `POST /_double/deliveries/wait {timeout}`; `pending_events` / `deliver_pending`, `GET /_double/events/pending`,
    `POST /_double/events/deliver_pending`.
- Reading: `requests`, `GET /_double/requests`; `events`, `GET /_double/events`; `get_object(id)`,
  `GET /_double/objects/{id}`; `POST /_double/reset`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import parse_qsl

from requests import RequestException
from requests import post as http_post
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.stripe_objects import (
    API_VERSION,
    Obj,
    Params,
    RequestInfo,
    StripeError,
    StripeStore,
    invalid,
    new_id,
    public,
    publishable_view,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["API_VERSION", "DeliveryAttempt", "RecordedRequest", "StripeDouble", "StripeError", "WebhookEndpoint"]

log = logging.getLogger(__name__)

Failure = int | Literal["connection"]
IDEMPOTENCY_TTL = timedelta(hours=24)  # Stripe prunes keys once they are at least 24 hours old


@dataclass(frozen=True)
class RecordedRequest:
    """One API call as the double saw it; `status` is None when the simulated outage dropped the connection."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int | None
    request_id: str
    replayed: bool = False


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    secret: str
    events: tuple[str, ...] | None = None  # None or "*" = every event; patterns may use * like Stripe's

    def wants(self, event_type: str) -> bool:
        return self.events is None or any(fnmatchcase(event_type, pattern) for pattern in self.events)


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    status: int | None  # None: no HTTP response (refused, timed out)
    error: str | None
    at: datetime

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class _Job:
    event_id: str
    event_type: str
    endpoint: WebhookEndpoint
    body: bytes
    emitted: float = 0.0  # time.monotonic() when the event was created


@dataclass(frozen=True)
class _Saved:
    """The first response under an idempotency key, replayed byte for byte."""

    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: bytes
    request_id: str
    created: datetime


@dataclass(frozen=True)
class _Fault:
    failure: Failure
    path: str | None
    after_processing: bool = False


@dataclass(frozen=True)
class _Refusal:
    path: str
    error: StripeError


@dataclass
class _Outages:
    queued: deque[_Fault] = field(default_factory=deque)
    down: Failure | None = None
    refusals: deque[_Refusal] = field(default_factory=deque)
    latency: dict[str | None, float] = field(default_factory=dict)  # path prefix (None = all) -> seconds


@dataclass
class _WebhookModes:
    hold: bool = False
    held: list[_Job] = field(default_factory=list)
    delay: float = 0.0


# --------------------------------------------------------------------------------------------------- form decoding


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[a]=1&expand[0]=x&created[gte]=5` -> {"metadata": {"a": "1"}, "expand": ["x"], ...}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [key]
        node = root
        for depth, part in enumerate(parts):
            name = part if part != "" else str(len(node))  # `expand[]=a` appends
            if depth == len(parts) - 1:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = node[name] = {}
                node = child
    return _listify(root, None)


def _listify(node: Any, key: str | None) -> Any:
    """Index-keyed dicts become lists, except metadata, whose keys are the user's and may be digits."""
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v, k) for k, v in node.items()}
    if key != "metadata" and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


# ---------------------------------------------------------------------------------------------------------- routes

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile("^" + path.replace("{id}", "([^/]+)") + "$"), handler)
    for method, path, handler in [
        ("POST", "/v1/customers", "create_customer"),
        ("GET", "/v1/customers", "list_customers"),
        ("GET", "/v1/customers/{id}", "retrieve_customer"),
        ("POST", "/v1/customers/{id}", "update_customer"),
        ("GET", "/v1/customers/{id}/payment_methods", "list_customer_payment_methods"),
        ("POST", "/v1/payment_methods", "create_payment_method"),
        ("GET", "/v1/payment_methods/{id}", "retrieve_payment_method"),
        ("POST", "/v1/payment_methods/{id}/attach", "attach_payment_method"),
        ("POST", "/v1/payment_methods/{id}/detach", "detach_payment_method"),
        ("POST", "/v1/payment_intents", "create_payment_intent"),
        ("GET", "/v1/payment_intents", "list_payment_intents"),
        ("GET", "/v1/payment_intents/{id}", "retrieve_payment_intent"),
        ("POST", "/v1/payment_intents/{id}", "update_payment_intent"),
        ("POST", "/v1/payment_intents/{id}/confirm", "confirm_payment_intent"),
        ("POST", "/v1/payment_intents/{id}/cancel", "cancel_payment_intent"),
        ("POST", "/v1/payment_intents/{id}/capture", "capture_payment_intent"),
        ("GET", "/v1/charges", "list_charges"),
        ("GET", "/v1/charges/{id}", "retrieve_charge"),
        ("POST", "/v1/refunds", "create_refund"),
        ("GET", "/v1/refunds", "list_refunds"),
        ("GET", "/v1/refunds/{id}", "retrieve_refund"),
        ("POST", "/v1/transfers", "create_transfer"),
        ("GET", "/v1/transfers", "list_transfers"),
        ("GET", "/v1/transfers/{id}", "retrieve_transfer"),
        ("POST", "/v1/transfers/{id}/reversals", "create_reversal"),
        ("GET", "/v1/transfers/{id}/reversals", "list_reversals"),
        ("GET", "/v1/transfers/{id}/reversals/{id}", "retrieve_reversal"),
        ("GET", "/v1/disputes", "list_disputes"),
        ("GET", "/v1/disputes/{id}", "retrieve_dispute"),
        ("POST", "/v1/disputes/{id}/close", "close_dispute"),
        ("GET", "/v1/events", "list_events"),
        ("GET", "/v1/events/{id}", "retrieve_event"),
        ("POST", "/hooks.stripe.com/3d_secure_2_test/{id}/{id}", "authenticate_three_d_secure"),
    ]
]

# Where Stripe accepts a publishable key (with the PaymentIntent's client_secret where one is involved): what
# Stripe.js needs to show, confirm and authenticate a payment in the browser. Everything else wants a secret key.
PUBLISHABLE_ROUTES = frozenset(
    ["retrieve_payment_intent", "confirm_payment_intent", "create_payment_method", "authenticate_three_d_secure"]
)
PUBLISHABLE_KEY_REFUSED = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of "
    "your API keys at https://dashboard.stripe.com/account/apikeys."
)
# Stripe's API answers browsers from any origin; a preflight allows the headers Stripe.js and the SDKs send.
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Request-Id, Stripe-Version, Idempotency-Key, Idempotent-Replayed, "
    "Original-Request",
}
_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Stripe-Version, Idempotency-Key",
    "Access-Control-Max-Age": "600",
}
STRIPE_JS = Path(__file__).with_name("stripe_js") / "stripe.js"


def _api_error(status: int, type_: str, message: str, code: str | None = None) -> StripeError:
    return StripeError(status, type_, message, code=code, saved=False)


_REFUSAL_MESSAGES = {
    "balance_insufficient": "You have insufficient available funds in your Stripe account. Try adding funds "
    "directly to your available balance by creating Charges using the 4000000000000077 test card. See: "
    "https://stripe.com/docs/testing#available-balance",
    "charge_already_refunded": "The charge you're attempting to refund has already been refunded.",
    "charge_disputed": "The charge you're attempting to refund has been charged back.",
    "amount_too_large": "The specified amount is greater than the maximum amount allowed. Use a lower amount and "
    "try again.",
}


def _refusal_error(code: str, status: int, message: str | None) -> StripeError:
    # Stripe saves what an executing request answered, refusals included; a 409 or 429 never started executing.
    return StripeError(
        status,
        "invalid_request_error",
        message or _REFUSAL_MESSAGES.get(code, f"The request was refused ({code})."),
        code=code,
        saved=status not in (409, 429),
    )


def _outage_error(status: int) -> StripeError:
    if status == 429:
        return _api_error(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    return _api_error(
        status,
        "api_error",
        "Sorry, something went wrong. We've already been notified of the "
        "problem. (Simulated outage of the local Stripe double.)",
    )


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Per-request access logs drown test output; errors still go through `log`."""


# ------------------------------------------------------------------------------------------------ webhook worker


class _Dispatcher:
    """One daemon thread sending webhook attempts as they fall due (earliest first, then in submission order), so
    an API call never waits on a receiver and an attempt waiting for its retry delay never holds back later events."""

    def __init__(self, attempt: Callable[[_Job, int], object]) -> None:
        self._attempt = attempt
        self._queue: list[tuple[float, int, _Job, int]] = []  # heap of (due, submission number, job, attempt)
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def submit(self, job: _Job, number: int = 1, due: float | None = None) -> None:
        """Queue attempt `number` of `job` for `due` (a time.monotonic() value; None = now)."""
        with self._cond:
            when = time.monotonic() if due is None else due
            heapq.heappush(self._queue, (when, next(self._order), job, number))
            if self._thread is None or not self._thread.is_alive():
                self.stopping.clear()
                self._thread = threading.Thread(target=self._run, name="stripe-double-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self.stopping.is_set():
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                if self.stopping.is_set():
                    return
                _, _, job, number = heapq.heappop(self._queue)
                self._busy = True
            try:
                self._attempt(job, number)
            except Exception:  # a bug must not kill the worker and silently stop all later deliveries
                log.exception("webhook delivery of %s failed", job.event_id)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopping.set()
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------------- the double


class StripeDouble:
    """In-memory Stripe (test mode). Thread-safe: one lock guards the store, the log and the idempotency table."""

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        deliver_webhooks: bool = True,
        *,
        webhook_retry_delays: Iterable[float] = (0.05, 0.25, 1.0),
        webhook_timeout: float = 5.0,
    ) -> None:
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.deliver_webhooks = deliver_webhooks
        self._default_retry_delays = tuple(webhook_retry_delays)
        self._webhook_timeout = webhook_timeout
        self._lock = threading.RLock()
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._dispatcher = _Dispatcher(self._attempt)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._store = StripeStore(self._clock, self._on_event)
        self._idempotency: dict[tuple[str, str], _Saved] = {}
        self._requests: list[RecordedRequest] = []
        self._bodies: dict[str, bytes] = {}
        self._pending: list[str] = []
        self._attempts: list[DeliveryAttempt] = []
        self._outages = _Outages()
        self._webhooks = _WebhookModes()
        self._retry_delays = self._default_retry_delays

    # ------------------------------------------------------------------------------------------------ server

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a daemon thread (threaded werkzeug server) and return the base URL for `base_addresses`."""
        if self._server is not None:
            return self.url
        server = make_server(host, port, self.wsgi_app, threaded=True, request_handler=_QuietHandler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="stripe-double-http", daemon=True
        )
        self._thread.start()
        self._url = f"http://{f'[{host}]' if ':' in host else host}:{server.port}"
        return self._url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self._server = self._thread = self._url = None
        self._dispatcher.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("StripeDouble is not serving; call start() first")
        return self._url

    def __enter__(self) -> StripeDouble:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------------- test controls

    def reset(self) -> None:
        """Forget every object, event, logged request, idempotency key, fault and webhook mode (hold, delay, retry
        delays back to the constructor's). Webhook endpoints stay."""
        self._dispatcher.clear()
        with self._lock:
            self._reset_state()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def events(self) -> list[Obj]:
        """Every event, oldest first, as the API renders it."""
        with self._lock:
            rows = sorted(self._store.objects["event"].values(), key=lambda e: e["_seq"])
            return [public(e) for e in rows]

    def get_object(self, object_id: str) -> Obj | None:
        with self._lock:
            obj = self._store.find(object_id)
            return None if obj is None else public(obj)

    def fail_next(
        self, n: int = 1, status: Failure = 500, path: str | None = None, after_processing: bool = False
    ) -> None:
        """The next `n` API calls (optionally only those whose path starts with `path`) fail: `status` is an HTTP
        status (500 -> api_error, 429 -> rate_limit) or "connection" (socket closed). They fail before reaching the
        store, or with `after_processing` once the call has been executed in full and its result saved under its
        idempotency key: the object exists and its events went out, only the answer is lost."""
        self._check_failure(status)
        with self._lock:
            self._outages.queued.extend([_Fault(status, path, after_processing)] * n)

    def set_latency(self, seconds: float, path: str | None = None) -> None:
        """Answer API calls whose path starts with `path` (None = all) `seconds` after executing them, really
        sleeping (outside the lock). 0 turns that path's latency off; `set_latency(0)` turns all latency off."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, not {seconds!r}")
        with self._lock:
            if seconds:
                self._outages.latency[path] = float(seconds)
            elif path is None:
                self._outages.latency.clear()
            else:
                self._outages.latency.pop(path, None)

    def refuse_next(self, path: str, code: str, n: int = 1, status: int = 400, message: str | None = None) -> None:
        """Refuse the next `n` POSTs whose path starts with `path` with an `invalid_request_error` of `code` (e.g.
        `balance_insufficient` on `/v1/transfers`), changing nothing. The refusal takes the place of executing the
        request, so it is saved under the request's Idempotency-Key like any executed answer; GETs are not refused."""
        if not 400 <= status <= 499:
            raise ValueError(f"status must be a 4xx HTTP status, not {status!r}")
        with self._lock:
            self._outages.refusals.extend([_Refusal(path, _refusal_error(code, status, message))] * n)

    def set_down(self, down: bool = True, status: Failure = 500) -> None:
        """While down, every API call fails like `fail_next` does."""
        self._check_failure(status)
        with self._lock:
            self._outages.down = status if down else None

    @property
    def down(self) -> bool:
        with self._lock:
            return self._outages.down is not None

    @staticmethod
    def _check_failure(status: Failure) -> None:
        if status != "connection" and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(f"status must be an HTTP error status or 'connection', not {status!r}")

    def _outside_api(self, change: Callable[[], Obj], request: RequestInfo | None = None) -> Obj:
        """Run a change Stripe makes on its own (request None in its events) or for a Dashboard user."""
        with self._lock:
            self._store.request = request or RequestInfo()
            try:
                return change()
            finally:
                self._store.request = RequestInfo()

    def create_dispute(self, charge_id: str, amount: int | None = None, reason: str = "fraudulent") -> Obj:
        """Open a dispute (`dp_...`, status needs_response) on a charge; emits `charge.dispute.created`, then
        `charge.dispute.funds_withdrawn`."""
        return self._outside_api(lambda: self._store.create_dispute(charge_id, amount=amount, reason=reason))

    def close_dispute(self, dispute_id: str, status: str) -> Obj:
        """The card network decides a dispute, `won` or `lost`: emits `charge.dispute.closed` and, when won,
        `charge.dispute.funds_reinstated`. A closed dispute cannot be closed again (invalid_request_error)."""
        return self._outside_api(lambda: self._store.settle_dispute(dispute_id, status))

    def fail_refund(self, refund_id: str, failure_reason: str = "expired_or_canceled_card") -> Obj:
        """A succeeded (or pending) refund fails at the bank: status `failed`, `failure_reason` and
        `failure_balance_transaction` set, the charge's `amount_refunded` lowered; emits `charge.refund.updated`,
        `refund.updated` and `refund.failed`."""
        return self._outside_api(lambda: self._store.fail_refund(refund_id, failure_reason))

    def dashboard_refund(
        self, payment_intent: str | None = None, charge: str | None = None, amount: int | None = None
    ) -> Obj:
        """A refund made by a person in the Stripe Dashboard: `POST /v1/refunds`'s rules (a StripeError when it
        refuses) and events, without metadata or idempotency key, and not logged in `requests`."""
        return self._outside_api(
            lambda: self._store.dashboard_refund(payment_intent=payment_intent, charge=charge, amount=amount),
            RequestInfo(new_id("req", 14)),
        )

    def succeed_payment_intent(self, pi_id: str) -> Obj:
        """Finish a PaymentIntent as if the customer paid in the browser (Visa unless it already has a good card)."""
        return self._outside_api(lambda: self._store.force_succeed(pi_id))

    # ---------------------------------------------------------------------------------------------- webhooks

    def add_webhook_endpoint(self, url: str, secret: str, events: Iterable[str] | None = None) -> str:
        types = None if events is None else tuple(events)
        endpoint = WebhookEndpoint(new_id("we"), url, secret, None if types is None or "*" in types else types)
        with self._lock:
            self._endpoints[endpoint.id] = endpoint
        return endpoint.id

    def remove_webhook_endpoint(self, endpoint_id: str) -> None:
        with self._lock:
            self._endpoints.pop(endpoint_id, None)

    @property
    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        with self._lock:
            return list(self._endpoints.values())

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        with self._lock:
            return list(self._attempts)

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until the background worker has nothing queued (delayed deliveries and retries included; held
        events are not queued); False if `timeout` ran out first."""
        return self._dispatcher.wait_idle(timeout)

    def hold_webhooks(self, hold: bool = True) -> int:
        """While held, new events are queued for their endpoints but not sent; `hold_webhooks(False)` releases
        them (see `release_webhooks`). Returns how many deliveries were released."""
        if not hold:
            return self.release_webhooks()
        with self._lock:
            self._webhooks.hold = True
        return 0

    def release_webhooks(self) -> int:
        """Stop holding and send the held deliveries in the order their events were created (each no earlier
        than the webhook delay after its event). Returns how many were released."""
        with self._lock:
            jobs, self._webhooks.held = self._webhooks.held, []
            self._webhooks.hold = False
            for job in jobs:
                self._dispatcher.submit(job, 1, job.emitted + self._webhooks.delay)
        return len(jobs)

    @property
    def webhooks_held(self) -> bool:
        with self._lock:
            return self._webhooks.hold

    def set_webhook_delay(self, seconds: float) -> None:
        """Send each later event `seconds` after it was created, in the background (0 = at once)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, not {seconds!r}")
        with self._lock:
            self._webhooks.delay = float(seconds)

    def set_webhook_retry_delays(self, delays: Iterable[float]) -> None:
        """After a failed attempt n (non-2xx or no answer) retry once `delays[n-1]` seconds later, until the list
        is used up. The constructor's `webhook_retry_delays` come back on reset()."""
        values = tuple(float(d) for d in delays)
        if any(d < 0 for d in values):
            raise ValueError(f"delays must be >= 0, not {values!r}")
        with self._lock:
            self._retry_delays = values

    def pending_events(self) -> list[Obj]:
        """Events recorded while `deliver_webhooks` is False and not yet passed to `deliver_pending()`."""
        with self._lock:
            return [public(self._store.objects["event"][event_id]) for event_id in self._pending]

    def deliver_pending(self) -> list[DeliveryAttempt]:
        """Deliver the pending events now, in order, on the calling thread; returns the attempts made."""
        with self._lock:
            event_ids, self._pending = self._pending, []
            jobs = [
                _Job(event_id, event["type"], endpoint, self._bodies[event_id])
                for event_id in event_ids
                for event in [self._store.objects["event"][event_id]]
                for endpoint in self._endpoints.values()
                if endpoint.wants(event["type"])
            ]
        return [attempt for job in jobs for attempt in self._deliver(job)]

    def event_payload(self, event_id: str) -> bytes:
        """The exact JSON bytes delivered (and signed) for an event."""
        with self._lock:
            return self._bodies[event_id]

    @staticmethod
    def signature_header(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
        """`Stripe-Signature` value: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>."""
        t = int(time.time()) if timestamp is None else timestamp
        body = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        digest = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
        return f"t={t},v1={digest}"

    def _on_event(self, event: Obj) -> None:
        """Store callback, run under the lock: freeze the event's bytes and route it to the endpoints."""
        targets = [e for e in self._endpoints.values() if e.wants(event["type"])]
        event["pending_webhooks"] = len(targets)
        body = json.dumps(public(event), indent=2).encode()
        self._bodies[event["id"]] = body
        if not self.deliver_webhooks:
            self._pending.append(event["id"])
            return
        emitted = time.monotonic()
        jobs = [_Job(event["id"], event["type"], endpoint, body, emitted) for endpoint in targets]
        if self._webhooks.hold:
            self._webhooks.held.extend(jobs)
            return
        for job in jobs:
            self._dispatcher.submit(job, 1, emitted + self._webhooks.delay)

    def _attempt(self, job: _Job, number: int) -> None:
        """Background attempt `number` of a delivery; a failed one is queued again after its retry delay."""
        attempt = self._post(job, number)
        with self._lock:
            if not self._record(job, attempt) or attempt.ok or number > len(self._retry_delays):
                return
            self._dispatcher.submit(job, number + 1, time.monotonic() + self._retry_delays[number - 1])

    def _deliver(self, job: _Job) -> list[DeliveryAttempt]:
        """POST one event to one endpoint on this thread, retrying failures and non-2xx answers after each delay."""
        made: list[DeliveryAttempt] = []
        for number, delay in enumerate((*self._retry_delays, None), start=1):
            attempt = self._post(job, number)
            made.append(attempt)
            with self._lock:
                if not self._record(job, attempt):
                    return made
            if attempt.ok or delay is None or self._dispatcher.stopping.wait(delay):
                break
        return made

    def _record(self, job: _Job, attempt: DeliveryAttempt) -> bool:
        """Log an attempt (under the lock); False when reset() ran meanwhile and the event no longer exists."""
        if job.event_id not in self._bodies:
            return False
        self._attempts.append(attempt)
        if attempt.ok:
            event = self._store.objects["event"].get(job.event_id)
            if event is not None:
                event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        return True

    def _post(self, job: _Job, number: int) -> DeliveryAttempt:
        # Signed with the wall clock at send time, as Stripe does: receivers check it against time.time().
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": self.signature_header(job.body, job.endpoint.secret),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = http_post(
                job.endpoint.url, data=job.body, headers=headers, timeout=self._webhook_timeout, allow_redirects=False
            )
            status = response.status_code
        except RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        return DeliveryAttempt(
            job.event_id, job.event_type, job.endpoint.id, job.endpoint.url, number, status, error, self._clock()
        )

    # -------------------------------------------------------------------------------------------------- HTTP

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_double/"):
            return self._control(request)(environ, start_response)
        if request.path in ("/v3", "/v3/"):
            response = self._stripe_js()
        elif request.method == "OPTIONS":
            response = Response(status=204, headers=_PREFLIGHT)
        else:
            response = self._api(request, environ)
        response.headers.update(_CORS)
        return response(environ, start_response)

    @staticmethod
    def _stripe_js() -> Response:
        """`GET /v3/`: the stand-in of Stripe.js (read on each request, so an edit shows on the next page load)."""
        return Response(
            STRIPE_JS.read_bytes(),
            content_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    def _api(self, request: Request, environ: WSGIEnvironment) -> Response:
        request_id = new_id("req", 14)
        method, path = request.method, request.path
        params = decode_form(parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True))
        if method == "POST":
            params.update(decode_form(parse_qsl(request.get_data(as_text=True), keep_blank_values=True)))
        form_key = params.pop("key", None)  # Stripe.js sends its publishable key as a form or query field
        idem = request.headers.get("Idempotency-Key") if method == "POST" else None
        headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("Stripe-Version", API_VERSION)}
        if idem:
            headers["Idempotency-Key"] = idem

        fault = self._take_fault(path)
        replayed = False
        if fault is None or fault.after_processing:
            status, body, extra, replayed = self._serve(request, form_key, params, idem, request_id)
            headers.update(extra)
        delay = self._latency(path)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.failure == "connection":
            with self._lock:
                self._requests.append(RecordedRequest(method, path, params, idem, None, request_id))
            self._drop_connection(environ)
        if fault is not None:
            assert isinstance(fault.failure, int)
            status, body, replayed = fault.failure, self._encode(_outage_error(fault.failure).body()), False
            headers = {k: v for k, v in headers.items() if k not in ("Idempotent-Replayed", "Original-Request")}
        with self._lock:
            self._requests.append(RecordedRequest(method, path, params, idem, status, request_id, replayed))
        return Response(body, status=status, headers=headers, content_type="application/json")

    def _serve(
        self, request: Request, form_key: Any, params: dict[str, Any], idem: str | None, request_id: str
    ) -> tuple[int, bytes, dict[str, str], bool]:
        """Authenticate, route, replay or execute one call: (status, body, extra headers, replayed)."""
        method, path = request.method, request.path
        try:
            api_key = self._authenticate(request, form_key)
            handler, args = self._route(method, path)
            publishable = api_key.startswith("pk_")
            if publishable and handler not in PUBLISHABLE_ROUTES:
                raise _api_error(401, "invalid_request_error", PUBLISHABLE_KEY_REFUSED)
            if request.headers.get("Stripe-Account"):
                raise invalid(
                    "The local Stripe double does not model Connect requests made on behalf of a "
                    "connected account (Stripe-Account header).",
                    param="Stripe-Account",
                )
            if idem is not None and len(idem) > 255:
                raise _api_error(400, "invalid_request_error", "Idempotency-Key must be at most 255 characters.")
        except StripeError as err:
            extra = {"WWW-Authenticate": 'Bearer realm="Stripe"'} if err.status == 401 else {}
            return err.status, self._encode(err.body()), extra, False

        with self._lock:
            saved = self._saved_response(api_key, idem, method, path, params)
            if isinstance(saved, StripeError):
                return saved.status, self._encode(saved.body()), {}, False
            if saved is not None:
                return (
                    saved.status,
                    saved.body,
                    {"Idempotent-Replayed": "true", "Original-Request": saved.request_id},
                    True,
                )
            refusal = self._take_refusal(method, path)
            if refusal is not None:
                status, body, keep = refusal.status, self._encode(refusal.body()), refusal.saved
            else:
                status, body, keep = self._execute(
                    handler, args, params, RequestInfo(request_id, idem, publishable=publishable)
                )
            if idem and keep:
                self._idempotency[(api_key, idem)] = _Saved(
                    method, path, params, status, body, request_id, self._clock()
                )
            return status, body, {}, False

    def _execute(
        self, handler: str, args: tuple[str, ...], params: dict[str, Any], info: RequestInfo
    ) -> tuple[int, bytes, bool]:
        self._store.request = info
        shown: Callable[[Obj], Obj] = publishable_view if info.publishable else lambda body: body
        try:
            result = getattr(self._store, handler)(Params(params), *args)
            return 200, self._encode(shown(result)), True
        except StripeError as err:
            return err.status, self._encode(shown(err.body())), err.saved
        except Exception:
            # A bug in the double: answer like Stripe's 500 instead of killing the connection, and don't save it.
            log.exception("stripe double failed on %s", handler)
            return (
                500,
                self._encode(
                    _api_error(500, "api_error", f"The local Stripe double crashed in {handler}; see its log.").body()
                ),
                False,
            )
        finally:
            self._store.request = RequestInfo()

    def _saved_response(
        self, api_key: str, idem: str | None, method: str, path: str, params: dict[str, Any]
    ) -> _Saved | StripeError | None:
        if not idem:
            return None
        saved = self._idempotency.get((api_key, idem))
        if saved is None:
            return None
        if self._clock() - saved.created > IDEMPOTENCY_TTL:
            del self._idempotency[(api_key, idem)]
            return None
        if (saved.method, saved.path) != (method, path):
            return _api_error(
                400,
                "idempotency_error",
                f"Keys for idempotent requests can only be used for the "
                f"same endpoint they were first used for ('{saved.method} {saved.path}' vs "
                f"'{method} {path}'). Try using a key other than '{idem}' if you meant to execute "
                "a different request.",
            )
        if saved.params != params:
            return _api_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the "
                f"same parameters they were first used with. Try using a key other than '{idem}' "
                "if you meant to execute a different request.",
            )
        return saved

    @staticmethod
    def _encode(body: Obj) -> bytes:
        return json.dumps(body, indent=2).encode()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            if self._outages.down is not None:
                return _Fault(self._outages.down, None)
            for index, fault in enumerate(self._outages.queued):
                if fault.path is None or path.startswith(fault.path):
                    del self._outages.queued[index]
                    return fault
        return None

    def _take_refusal(self, method: str, path: str) -> StripeError | None:
        if method != "POST":
            return None
        for index, refusal in enumerate(self._outages.refusals):
            if path.startswith(refusal.path):
                del self._outages.refusals[index]
                return refusal.error
        return None

    def _latency(self, path: str) -> float:
        """The latency of the longest matching path prefix (the catch-all None last)."""
        with self._lock:
            rules = sorted(self._outages.latency.items(), key=lambda rule: -len(rule[0] or ""))
        return next((seconds for prefix, seconds in rules if prefix is None or path.startswith(prefix)), 0.0)

    @staticmethod
    def _drop_connection(environ: WSGIEnvironment) -> NoReturn:
        """Close the client's socket without a response; werkzeug treats the error as a dropped connection."""
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("simulated Stripe outage: connection closed without a response")

    @staticmethod
    def _authenticate(request: Request, form_key: Any) -> str:
        """The test-mode key of the call: secret (sk_test_, rk_test_) or publishable (pk_test_), from the
        Authorization header or, as Stripe.js sends it, a `key` form or query field."""
        auth = request.headers.get("Authorization", "")
        key = ""
        if auth.startswith("Bearer "):
            key = auth[len("Bearer ") :].strip()
        elif auth.startswith("Basic "):
            with contextlib.suppress(ValueError):
                key = base64.b64decode(auth[len("Basic ") :]).decode().split(":", 1)[0]
        elif isinstance(form_key, str):
            key = form_key.strip()
        if not key:
            raise _api_error(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide "
                "your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: "
                "Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.",
            )
        if not key.startswith(("sk_test_", "rk_test_", "pk_test_")):
            masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]
            raise _api_error(
                401,
                "invalid_request_error",
                f"Invalid API Key provided: {masked} (the local Stripe "
                "double accepts only test-mode keys: sk_test_..., rk_test_... or pk_test_...)",
            )
        return key

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, tuple[str, ...]]:
        for route_method, pattern, handler in _ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                return handler, match.groups()
        raise _api_error(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({method}: {path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    # ------------------------------------------------------------------------------------------ control HTTP

    def _control(self, request: Request) -> Response:
        """`/_double/...`: the test controls over HTTP (JSON in, JSON out) for the local runner."""
        path, method = request.path[len("/_double") :], request.method
        data = request.get_json(silent=True) or {}
        try:
            result = self._control_dispatch(method, path, data)
        except StripeError as err:
            return Response(self._encode(err.body()), status=err.status, content_type="application/json")
        except (KeyError, ValueError, TypeError) as exc:
            body = {"error": {"type": "invalid_request_error", "message": f"{type(exc).__name__}: {exc}"}}
            return Response(self._encode(body), status=400, content_type="application/json")
        if result is None:
            body = {"error": {"type": "invalid_request_error", "message": f"Unknown control route {method} {path}"}}
            return Response(self._encode(body), status=404, content_type="application/json")
        return Response(json.dumps(result, indent=2, default=str), status=200, content_type="application/json")

    def _control_dispatch(self, method: str, path: str, data: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["reset"]:
                self.reset()
                return {"reset": True}
            case "GET", ["requests"]:
                return [asdict(r) for r in self.requests]
            case "GET", ["events"]:
                return self.events
            case "GET", ["events", "pending"]:
                return self.pending_events()
            case "POST", ["events", "deliver_pending"]:
                return [asdict(a) for a in self.deliver_pending()]
            case "GET", ["deliveries"]:
                return [asdict(a) for a in self.deliveries]
            case "POST", ["deliveries", "wait"]:
                return {"idle": self.wait_for_deliveries(float(data.get("timeout", 5.0)))}
            case "POST", ["fail_next"]:
                count = int(data.get("count", 1))
                self.fail_next(count, data.get("status", 500), data.get("path"), bool(data.get("after_processing")))
                return {"queued": count}
            case "POST", ["down"]:
                self.set_down(bool(data.get("down", True)), data.get("status", 500))
                return {"down": self.down}
            case "POST", ["latency"]:
                self.set_latency(float(data.get("seconds", 0)), data.get("path"))
                return {"seconds": float(data.get("seconds", 0)), "path": data.get("path")}
            case "POST", ["refuse_next"]:
                count = int(data.get("count", 1))
                self.refuse_next(data["path"], data["code"], count, int(data.get("status", 400)), data.get("message"))
                return {"queued": count}
            case "POST", ["webhooks", "hold"]:
                released = self.hold_webhooks(bool(data.get("hold", True)))
                return {"held": self.webhooks_held, "released": released}
            case "POST", ["webhooks", "release"]:
                return {"held": False, "released": self.release_webhooks()}
            case "POST", ["webhooks", "delay"]:
                self.set_webhook_delay(float(data.get("seconds", 0)))
                return {"seconds": float(data.get("seconds", 0))}
            case "POST", ["webhooks", "retry_delays"]:
                self.set_webhook_retry_delays(data["delays"])
                return {"delays": list(self._retry_delays)}
            case "GET", ["webhook_endpoints"]:
                return [asdict(e) for e in self.webhook_endpoints]
            case "POST", ["webhook_endpoints"]:
                return {"id": self.add_webhook_endpoint(data["url"], data["secret"], data.get("events"))}
            case "DELETE", ["webhook_endpoints", endpoint_id]:
                self.remove_webhook_endpoint(endpoint_id)
                return {"id": endpoint_id, "deleted": True}
            case "POST", ["charges", charge_id, "dispute"]:
                return self.create_dispute(charge_id, data.get("amount"), data.get("reason", "fraudulent"))
            case "POST", ["disputes", dispute_id, "close"]:
                return self.close_dispute(dispute_id, data["status"])
            case "POST", ["refunds", refund_id, "fail"]:
                return self.fail_refund(refund_id, data.get("failure_reason", "expired_or_canceled_card"))
            case "POST", ["refunds"]:
                amount = data.get("amount")
                return self.dashboard_refund(
                    data.get("payment_intent"), data.get("charge"), None if amount is None else int(amount)
                )
            case "POST", ["payment_intents", pi_id, "succeed"]:
                return self.succeed_payment_intent(pi_id)
            case "GET", ["objects", object_id]:
                obj = self.get_object(object_id)
                if obj is None:
                    raise KeyError(object_id)
                return obj
        return None
