"""In-memory HTTP double of Cal.com API v2 (slots and bookings) for tests and the Docker-free local runner.

Our real client talks to it unchanged: set `CAL_API_BASE` to `double.start()` (e.g. `http://127.0.0.1:PORT`)
and it calls `f"{base}/v2/slots"` etc.; in-process tests can also mount `double.wsgi_app`. Behaviour follows
the official OpenAPI document (vendored subset under tests/contracts) and the contract notes; every request and
response is checked against that subset and problems land in `contract_violations` (see `local.cal_contract`
for the places where the document and the real API disagree).

Test controls (Python, and over HTTP under `/_double/...` for the local runner, see `_control`): `reset`,
`request_log`, `contract_violations`, `set_mode("down" | "slow" | "connection_reset" | "normal")`, `fail_next`,
`take_slot`, `cancel_booking`, `cancel_seat`, `reschedule_booking` (as in Cal.com's UI), `confirm_booking` and
`emit_booking_rejected` (the host accepts or declines a requires-confirmation booking), `emit_meeting_ended`,
`emit_no_show_updated`; webhooks: `add_webhook_subscriber`, `wait_for_deliveries`, `pending_webhooks` /
`deliver_pending` (manual mode), `drop_next_webhooks` / `dropped_webhooks` (deliveries lost on the way),
`build_webhook`.

Event types (`CalEventType`) may be seated (`seats_per_time_slot`, Cal's `seatsPerTimeSlot`: attendees at one
start share one booking uid, each with a `seatUid`; answers are Cal's seated outputs) or require confirmation
(`requires_confirmation`: bookings start `pending`, BOOKING_REQUESTED; accepting sends BOOKING_CREATED, declining
BOOKING_REJECTED and frees the slot). `local.cal_calendar` documents the rules and webhook payloads.

Deliberate simplifications (each one also noted where it is implemented):
- one host owns every event type; only bookings of the *same* event type block its slots;
- no recurring or instant event types; seated event types cannot also require confirmation, and seated bookings
  (or seats) cannot be rescheduled; a rescheduled requires-confirmation booking is accepted at once;
- the no-show control describes a seated booking by its first booker, not per seat;
- the host's locations are not modelled: any location object is accepted and echoed;
- create, list, cancel and reschedule require `Authorization: Bearer cal_...` (the real create, cancel and
  reschedule accept anonymous callers; our backend always authenticates, so the stricter double is safe);
- a wrong or missing `cal-api-version` is a 400 (Cal.com silently serves its 2024-04-15 version instead).
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.cal_calendar import CalCalendar, seat_cancelled_view, seat_created_view
from local.cal_contract import (
    DEFAULT_CONTRACT_PATH,
    CalContract,
    error_envelope_problems,
    load_contract,
    slots_response_problems,
)
from local.cal_model import (
    BOOKINGS_VERSION,
    NO_AUTH_MESSAGE,
    PAST_MESSAGE,
    SEATS_FULL_MESSAGE,
    SLOT_TAKEN_MESSAGE,
    SLOTS_VERSION,
    THROTTLED_MESSAGE,
    BookingRecord,
    CalDoubleError,
    CalError,
    CalEventType,
    CalHost,
    ContractViolation,
    Mode,
    RecordedRequest,
    WeeklySchedule,
    coerce_instant,
    injected_error,
    iso_ms_z,
    zone_or_none,
)
from local.cal_webhooks import (
    PendingWebhook,
    WebhookDelivery,
    WebhookSender,
    WebhookSubscriber,
    WebhookView,
    encode_body,
    webhook_document,
    webhook_headers,
)

RATE_WINDOW = timedelta(seconds=60)
_LOGGED_HEADERS = ("cal-api-version", "authorization", "content-type", "user-agent")


@dataclass
class _RateWindow:
    ends_at: datetime
    hits: int = 0
    blocked_until: datetime | None = None


@dataclass
class _Failure:
    status: int
    after_processing: bool


@dataclass
class _Runtime:
    """Everything `reset()` forgets."""

    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[ContractViolation] = field(default_factory=list)
    mode: Mode = "normal"
    slow_seconds: float = 0.0
    failures: list[_Failure] = field(default_factory=list)
    rate: dict[str, _RateWindow] = field(default_factory=dict)
    pending: list[PendingWebhook] = field(default_factory=list)
    # One entry per webhook still to lose: its trigger, or None for whichever comes next.
    drops: list[str | None] = field(default_factory=list)
    dropped: list[PendingWebhook] = field(default_factory=list)


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        # The request log lives in the double; werkzeug's access log would only add noise to test output.
        return


class CalDouble:
    """See the module docstring. Thread-safe: one lock guards all state; sleeping and webhooks happen outside it."""

    def __init__(
        self,
        event_types: Mapping[int, CalEventType],
        time_zone: str,
        clock: Callable[[], datetime] | None = None,
        schedule: WeeklySchedule | None = None,
        contract_path: Path | None = None,
        strict_contract: bool = False,
        send_webhooks: bool = True,
        rate_limit_per_minute: int = 120,
        api_keys: Iterable[str] | None = None,
    ) -> None:
        if zone_or_none(time_zone) is None:
            raise ValueError(f"unknown IANA time zone {time_zone!r}")
        self.time_zone = time_zone
        self.strict_contract = strict_contract
        self.send_webhooks = send_webhooks
        self.rate_limit_per_minute = rate_limit_per_minute
        # None accepts any `cal_` key: the double cannot know which keys the real account holds.
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.host = CalHost(
            id=1, name="Double Host", email="host@example.com", username="double-host", time_zone=time_zone
        )
        self.contract: CalContract = load_contract(contract_path or DEFAULT_CONTRACT_PATH)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._state = _Runtime()
        self.calendar = CalCalendar(
            event_types, schedule or WeeklySchedule.weekdays(), self.host, now=self._now, emit=self._emit
        )
        self._subscribers: list[WebhookSubscriber] = []
        self._sender = WebhookSender(clock=self._now)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def event_types(self) -> dict[int, CalEventType]:
        return dict(self.calendar.event_types)

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("the Cal.com double is already running")
        self._server = make_server(host, port, self.wsgi_app, threaded=True, request_handler=_QuietHandler)
        # A short poll interval keeps stop() fast (shutdown waits for the loop to notice).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cal-double", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Cal.com double is not started; call start() first")
        return f"http://{self._server.host}:{self._server.port}"

    def __enter__(self) -> CalDouble:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ test controls
    def reset(self, keep_subscribers: bool = True) -> None:
        """Forget bookings, logs, violations, modes and deliveries; subscribers are configuration and stay (default)."""
        with self._lock:
            self._state = _Runtime()
            self.calendar.clear()
            if not keep_subscribers:
                self._subscribers.clear()
        self._sender.clear()

    @property
    def request_log(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def contract_violations(self) -> list[ContractViolation]:
        with self._lock:
            return list(self._state.violations)

    def set_mode(self, mode: Mode, seconds: float = 0.0) -> None:
        if mode not in ("normal", "down", "slow", "connection_reset"):
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self._state.mode = mode
            self._state.slow_seconds = seconds if mode == "slow" else 0.0

    def fail_next(self, n: int = 1, status: int = 500, *, after_processing: bool = False) -> None:
        """Answer the next `n` /v2 calls with `status`; `after_processing` applies the call first (lost response)."""
        with self._lock:
            self._state.failures.extend(_Failure(status, after_processing) for _ in range(n))

    def take_slot(
        self,
        event_type_id: int,
        start: datetime | str,
        *,
        attendee_name: str = "Someone Else",
        attendee_email: str = "someone.else@example.com",
        metadata: Mapping[str, Any] | None = None,
        emit_webhook: bool = True,
    ) -> dict[str, Any]:
        """A booking made outside our flow (another booker, or the host), so the slot is taken.

        Its time is not checked against the schedule or other bookings. For a seated event type it takes a seat
        in the booking at `start` if there is one (Cal's 409s apply: full, or that email already has a seat) and
        answers the create output with its `seatUid`; a requires-confirmation one is `pending`.
        """
        with self._lock:
            event_type = self.calendar.event_type_or_error(event_type_id)
            begin = coerce_instant(start)
            attendee = {"name": attendee_name, "email": attendee_email, "timeZone": self.time_zone, "language": "en"}
            try:
                return self.calendar.book(
                    event_type,
                    begin,
                    begin + timedelta(minutes=event_type.length_minutes),
                    attendee=attendee,
                    guests=[],
                    metadata=dict(metadata or {}),
                    custom_fields={},
                    location_input=None,
                    source="outside",
                    check=False,
                    announce=emit_webhook,
                )
            except CalError as exc:
                raise CalDoubleError(exc.message) from exc

    def cancel_booking(self, uid: str, reason: str = "", by: str | None = None) -> dict[str, Any]:
        """Cancel as the host or attendee would in Cal.com's UI; emits BOOKING_CANCELLED."""
        with self._lock:
            booking = self.calendar.booking_or_error(uid)
            if booking.status == "cancelled":
                raise CalDoubleError(f"booking {uid} is already cancelled")
            self.calendar.cancel(booking, reason, by or self.host.email)
            return self.calendar.output(booking)

    def cancel_seat(self, uid: str, seat_uid: str, reason: str | None = None, by: str | None = None) -> dict[str, Any]:
        """The attendee of one seat cancels it in Cal.com's UI: only that seat goes (BOOKING_CANCELLED about it);
        the booking stays accepted while other seats remain, and is cancelled with its last seat."""
        with self._lock:
            booking = self.calendar.booking_or_error(uid)
            seat = self.calendar.seat_or_error(uid, seat_uid)
            self.calendar.cancel_seat(booking, seat, reason, by or str(seat.attendee.get("email", "")))
            return self.calendar.output(booking)

    def confirm_booking(self, uid: str) -> dict[str, Any]:
        """The host accepts a pending (requires-confirmation) booking: status accepted, BOOKING_CREATED."""
        with self._lock:
            booking = self.calendar.booking_or_error(uid)
            if booking.status != "pending":
                raise CalDoubleError(f"booking {uid} is {booking.status}, not pending")
            self.calendar.accept(booking)
            return self.calendar.output(booking)

    def reschedule_booking(
        self, uid: str, new_start: datetime | str, *, reason: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Reschedule as in Cal.com's UI: a new booking (new uid) replaces the old one; emits BOOKING_RESCHEDULED."""
        with self._lock:
            booking = self.calendar.booking_or_error(uid)
            if booking.status == "cancelled":
                raise CalDoubleError(f"booking {uid} is cancelled and cannot be rescheduled")
            try:
                new_booking = self.calendar.reschedule(booking, coerce_instant(new_start), reason, by)
            except CalError as exc:
                raise CalDoubleError(exc.message) from exc
            return self.calendar.output(new_booking)

    def emit_booking_rejected(self, uid: str, reason: str = "") -> dict[str, Any]:
        """The host declines the booking: status `rejected`, BOOKING_REJECTED, and the slot is offered again.

        Cal's UI offers this for pending (requires-confirmation) bookings; the control also declines an accepted
        one so tests can send the webhook about any booking.
        """
        with self._lock:
            booking = self.calendar.booking_or_error(uid)
            if booking.status in ("cancelled", "rejected"):
                raise CalDoubleError(f"booking {uid} is already {booking.status}")
            booking.status = "rejected"
            booking.rejection_reason = reason
            booking.updated_at = self._now()
            self._emit("BOOKING_REJECTED", booking)
            return self.calendar.output(booking)

    def emit_meeting_ended(self, uid: str) -> None:
        with self._lock:
            self._emit("MEETING_ENDED", self.calendar.booking_or_error(uid))

    def emit_no_show_updated(self, uid: str, no_show: bool = True) -> dict[str, Any]:
        with self._lock:
            booking = self.calendar.booking_or_error(uid)
            booking.attendee_absent = no_show
            booking.updated_at = self._now()
            self._emit("BOOKING_NO_SHOW_UPDATED", booking)
            return self.calendar.output(booking)

    def bookings(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.calendar.output(booking) for booking in self.calendar.bookings.values()]

    def booking(self, uid: str) -> dict[str, Any]:
        with self._lock:
            return self.calendar.output(self.calendar.booking_or_error(uid))

    # --------------------------------------------------------------------------------------------- webhooks
    def add_webhook_subscriber(self, url: str, secret: str | None, triggers: Iterable[str] | None = None) -> None:
        with self._lock:
            self._subscribers.append(WebhookSubscriber(url, secret, frozenset(triggers) if triggers else None))

    def remove_webhook_subscribers(self) -> None:
        with self._lock:
            self._subscribers.clear()

    def wait_for_deliveries(self, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Block until every emitted webhook had its one attempt; TimeoutError otherwise."""
        return self._sender.wait(timeout)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return self._sender.deliveries

    def pending_webhooks(self, clear: bool = False) -> list[PendingWebhook]:
        """Manual mode (`send_webhooks=False`): the signed webhooks that would have been sent."""
        with self._lock:
            pending = list(self._state.pending)
            if clear:
                self._state.pending.clear()
        return pending

    def deliver_pending(self) -> list[WebhookDelivery]:
        """Manual mode: send every pending webhook now, once each, on the calling thread."""
        return [self._sender.deliver_now(webhook) for webhook in self.pending_webhooks(clear=True)]

    def drop_next_webhooks(self, n: int = 1, trigger: str | None = None) -> None:
        """Lose the next `n` webhooks (of `trigger`, or of any trigger), one per subscriber posting.

        A lost webhook is never delivered, never pending and never retried (Cal.com posts once and forgets);
        `dropped_webhooks` records the signed webhooks that were lost. Works in both delivery modes.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        with self._lock:
            self._state.drops.extend([trigger] * n)

    @property
    def dropped_webhooks(self) -> list[PendingWebhook]:
        with self._lock:
            return list(self._state.dropped)

    def build_webhook(
        self,
        trigger: str,
        booking: str | Mapping[str, Any],
        *,
        secret: str | None = None,
        extra: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
        seat_uid: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook for `booking` (uid or booking output) without sending it: (raw body, headers).

        `secret` defaults to the first subscriber's; with none Cal sends `no-secret-provided`. `extra` overrides
        payload fields (or top-level fields for the flat MEETING_* bodies) to craft edge cases. `seat_uid` makes
        it about one live seat of a seated booking: BOOKING_CANCELLED as for that seat's cancellation, any other
        trigger as for the seat's creation.
        """
        uid = booking if isinstance(booking, str) else str(booking["uid"])
        with self._lock:
            record = self.calendar.booking_or_error(uid)
            view = self._view(record, trigger, seat_uid)
            document = self._document(trigger, record, extra or {}, created_at, view)
            if secret is None and self._subscribers:
                secret = self._subscribers[0].secret
        body = encode_body(document)
        return body, webhook_headers(secret, body)

    # ------------------------------------------------------------------------------------------------- WSGI
    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        is_control = request.path.startswith("/_double/")
        response = self._control(request) if is_control else self._serve_api(request, environ)
        return response(environ, start_response)

    def _serve_api(self, request: Request, environ: WSGIEnvironment) -> Response:
        raw = request.get_data(cache=True)
        body: Any = None
        body_ok = True
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body_ok = False

        with self._lock:
            mode, slow_seconds = self._state.mode, self._state.slow_seconds
        if mode == "slow":
            time.sleep(slow_seconds)

        operation = self.contract.operation_for(request.method, request.path)
        problems = self.contract.request_problems(request, raw or None) if request.path.startswith("/v2/") else []
        with self._lock:
            self._state.violations.extend(
                ContractViolation(operation or f"{request.method} {request.path}", f"request: {p}") for p in problems
            )

        if mode == "connection_reset":
            self._record(request, body, 0)
            return self._drop_connection(environ)

        failure: _Failure | None = None
        with self._lock:
            if mode == "down":
                error: CalError | None = CalError(503, "Service Unavailable")
            elif self._state.failures and not self._state.failures[0].after_processing:
                error = injected_error(self._state.failures.pop(0).status)
            else:
                error = None
                if self._state.failures:
                    failure = self._state.failures.pop(0)
        if error is not None:
            return self._finish(request, body, raw, self._error_response(request, error))

        try:
            status, document, extra_headers = self._handle(request, operation, body, body_ok, problems)
            response = self._json_response(status, document, extra_headers)
        except CalError as exc:
            response = self._error_response(request, exc)
        if failure is not None:
            # The call took effect, but the caller only sees the failure: an ambiguous, lost response.
            response = self._error_response(request, injected_error(failure.status))
        return self._finish(request, body, raw, response)

    def _handle(
        self, request: Request, operation: str | None, body: Any, body_ok: bool, problems: list[str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if operation is None:
            # Nest's answer for a route it does not have (also what the vendored contract does not cover).
            raise CalError(404, f"Cannot {request.method} {request.path}")
        expected_version = SLOTS_VERSION if operation.startswith("Slots") else BOOKINGS_VERSION
        version = request.headers.get("cal-api-version")
        if version != expected_version:
            problem = f"request: cal-api-version must be {expected_version!r}, got {version!r}"
            with self._lock:
                self._state.violations.append(ContractViolation(operation, problem))
            # Cal.com itself would route the call to its 2024-04-15 controllers, whose bodies and shapes differ.
            raise CalError(
                400,
                f"cal-api-version header must be {expected_version} for this endpoint (got {version!r}); "
                "Cal.com would route the call to its 2024-04-15 version.",
            )
        rate_headers = self._throttle(request)
        try:
            needs_auth = operation != "SlotsController_2024_09_04_getAvailableSlots" and operation != (
                "BookingsController_2024_08_13_getBooking"
            )
            self._authenticate(request, required=needs_auth)
            if self.strict_contract and problems:
                raise CalError(400, "Request does not match the Cal.com contract", {"errors": problems})
            if request.method == "POST" and not body_ok:
                raise CalError(400, "Unexpected token in JSON body")
            with self._lock:
                status, document = self._dispatch(request, operation, body)
        except CalError as exc:
            exc.headers.update(rate_headers)
            raise
        return status, document, rate_headers

    def _dispatch(self, request: Request, operation: str, body: Any) -> tuple[int, dict[str, Any]]:
        segments = request.path.strip("/").split("/")
        if operation == "SlotsController_2024_09_04_getAvailableSlots":
            return 200, {"status": "success", "data": self.calendar.available_slots(request.args)}
        if operation == "BookingsController_2024_08_13_createBooking":
            return 201, {"status": "success", "data": self.calendar.create_via_api(body)}
        if operation == "BookingsController_2024_08_13_getBookings":
            data, pagination = self.calendar.list_bookings(request.args)
            return 200, {"status": "success", "data": data, "pagination": pagination}
        if operation == "BookingsController_2024_08_13_getBooking":
            # Auth is optional here: with a key (the host's, in this one-host double) a seated booking's attendees
            # are listed, anonymously only when the event type shows them.
            booking = self.calendar.booking_or_404(segments[2])
            host_view = self._bearer(request) is not None
            return 200, {"status": "success", "data": self.calendar.output(booking, host_view=host_view)}
        if operation == "BookingsController_2024_08_13_cancelBooking":
            return 200, {"status": "success", "data": self.calendar.cancel_via_api(segments[2], body)}
        if operation == "BookingsController_2024_08_13_rescheduleBooking":
            return 201, {"status": "success", "data": self.calendar.reschedule_via_api(segments[2], body)}
        raise CalError(404, f"Cannot {request.method} {request.path}")

    # ------------------------------------------------------------------------------------- request plumbing
    def _throttle(self, request: Request) -> dict[str, str]:
        """Cal's throttler: per API key (or per IP without one), 60 s window, a breach blocks for 60 s.

        Headers as CustomThrottlerGuard sets them on every answer (name suffix `Default`, the limit's name):
        Limit, Remaining (0 while blocked) and Reset, the seconds until the block ends or else until the window
        does (`timeToBlockExpire || timeToExpire` of @nestjs/throttler's storage, in seconds; Cal's docs call it
        a Unix timestamp, the code does not). A throttled call is Nest's ThrottlerException (429) with
        `Retry-After`, which Cal's rate-limit docs promise: the seconds until the block lets a request through.
        """
        token = self._bearer(request)
        tracker = f"api_key_{token}" if token else f"ip_{request.remote_addr}"
        limit = self.rate_limit_per_minute
        with self._lock:
            now = self._now()
            window = self._state.rate.get(tracker)
            if window is None or (
                now >= window.ends_at and (window.blocked_until is None or now >= window.blocked_until)
            ):
                window = self._state.rate[tracker] = _RateWindow(ends_at=now + RATE_WINDOW)
            if window.blocked_until is None or now >= window.blocked_until:
                window.hits += 1
                if window.hits > limit:
                    window.blocked_until = now + RATE_WINDOW
            blocked = window.blocked_until is not None and now < window.blocked_until
            resets_at = window.blocked_until if blocked and window.blocked_until is not None else window.ends_at
            wait = max(1, math.ceil((resets_at - now).total_seconds()))
            headers = {
                "X-RateLimit-Limit-Default": str(limit),
                "X-RateLimit-Remaining-Default": "0" if blocked else str(max(0, limit - window.hits)),
                "X-RateLimit-Reset-Default": str(wait),
            }
            if blocked:
                error = CalError(429, THROTTLED_MESSAGE, THROTTLED_MESSAGE)
                error.headers.update(headers | {"Retry-After": str(wait)})
                raise error
        return headers

    @staticmethod
    def _bearer(request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return header[len("Bearer ") :].strip() or None

    def _authenticate(self, request: Request, required: bool) -> None:
        token = self._bearer(request)
        if token is None:
            if required:
                raise CalError(401, NO_AUTH_MESSAGE)
            return
        if not token.startswith("cal_"):
            raise CalError(401, "Invalid Access Token.")
        if self.api_keys is not None and token not in self.api_keys:
            raise CalError(401, "Your api key is not valid")

    def _json_response(self, status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
        response = Response(json.dumps(document, separators=(",", ":")), status=status, mimetype="application/json")
        for key, value in (headers or {}).items():
            response.headers[key] = value
        response.headers["X-Request-Id"] = str(uuid.uuid4())
        return response

    def _error_response(self, request: Request, error: CalError) -> Response:
        document = {
            "status": "error",
            "timestamp": iso_ms_z(self._now()),
            "path": request.full_path.rstrip("?"),
            "error": {"code": error.code, "message": error.message, "details": error.details},
        }
        return self._json_response(error.status, document, error.headers)

    def _finish(self, request: Request, body: Any, raw: bytes, response: Response) -> Response:
        problems: list[str] = []
        operation = self.contract.operation_for(request.method, request.path)
        document = json.loads(response.get_data())
        if not 200 <= response.status_code < 300:
            problems = error_envelope_problems(document)
        elif operation == "SlotsController_2024_09_04_getAvailableSlots":
            # The official schema types slot items as strings and describes `data` at the envelope level, while
            # the real API returns {"status","data":{date:[{"start"}]}} (notes §1.2): check the real shape instead.
            problems = slots_response_problems(document, with_end=request.args.get("format") == "range")
        elif operation is not None:
            problems = self.contract.response_problems(request, raw or None, response)
        with self._lock:
            self._state.violations.extend(
                ContractViolation(
                    operation or f"{request.method} {request.path}", f"response {response.status_code}: {p}"
                )
                for p in problems
            )
        self._record(request, body, response.status_code)
        return response

    def _record(self, request: Request, body: Any, status: int) -> None:
        entry = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(flat=True),
            headers={name: request.headers[name] for name in _LOGGED_HEADERS if name in request.headers},
            json=body,
            status=status,
        )
        with self._lock:
            self._state.requests.append(entry)

    @staticmethod
    def _drop_connection(environ: WSGIEnvironment) -> Response:
        connection = environ.get("werkzeug.socket")
        if connection is None:
            # In-process WSGI use (no socket): the closest equivalent is the error `requests` would raise.
            raise ConnectionResetError("Cal.com double: connection reset")
        # Shutting down both directions makes the client read EOF before any status line; werkzeug's later
        # write fails with a ConnectionError, which it treats as a dropped connection.
        connection.shutdown(socket.SHUT_RDWR)
        return Response(status=500)

    def _now(self) -> datetime:
        now = self._clock()
        return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)

    # --------------------------------------------------------------------------------------------- webhooks
    def _emit(self, trigger: str, booking: BookingRecord, view: WebhookView | None = None) -> None:
        subscribers = [subscriber for subscriber in self._subscribers if subscriber.wants(trigger)]
        if not subscribers:
            return
        body = encode_body(self._document(trigger, booking, {}, None, view))
        for subscriber in subscribers:
            webhook = PendingWebhook(
                trigger, subscriber.url, body, webhook_headers(subscriber.secret, body), booking.uid
            )
            if self._take_drop(trigger):
                self._state.dropped.append(webhook)
            elif self.send_webhooks:
                self._sender.submit(webhook)
            else:
                self._state.pending.append(webhook)

    def _take_drop(self, trigger: str) -> bool:
        """Consume the first drop entry that matches `trigger` (its own, or an any-trigger one)."""
        for index, wanted in enumerate(self._state.drops):
            if wanted is None or wanted == trigger:
                del self._state.drops[index]
                return True
        return False

    def _view(self, booking: BookingRecord, trigger: str, seat_uid: str | None) -> WebhookView | None:
        """How `build_webhook` describes `booking`: about one seat, or as the booking itself."""
        if seat_uid is None:
            return None
        seat = self.calendar.seat_or_error(booking.uid, seat_uid)
        return seat_cancelled_view(seat, None) if trigger == "BOOKING_CANCELLED" else seat_created_view(seat)

    def _document(
        self,
        trigger: str,
        booking: BookingRecord,
        extra: Mapping[str, Any],
        created_at: datetime | None,
        view: WebhookView | None,
    ) -> dict[str, Any]:
        if view is None and self.calendar.event_type_or_error(booking.event_type_id).seats_per_time_slot is not None:
            view = WebhookView(seats=tuple(booking.seats))  # a seated booking as a whole: every live seat
        return webhook_document(
            trigger,
            booking,
            self.calendar.event_type_or_error(booking.event_type_id),
            self.host,
            previous=self.calendar.bookings.get(booking.rescheduled_from_uid or ""),
            extra=extra,
            created_at=created_at or self._now(),
            view=view,
        )

    # ------------------------------------------------------------------------------------ HTTP test controls
    def _control(self, request: Request) -> Response:
        """The test controls over HTTP for the local runner; never rate-limited, failed or contract-checked.

        GET /_double/health, POST /_double/reset {keepSubscribers?}, GET /_double/requests,
        GET /_double/contract-violations, POST /_double/mode {mode, seconds?},
        POST /_double/fail-next {count?, status?, afterProcessing?},
        POST /_double/take-slot {eventTypeId, start, attendeeName?, attendeeEmail?, metadata?, emitWebhook?},
        GET /_double/bookings, POST /_double/bookings/{uid}/cancel {reason?, by?},
        POST /_double/bookings/{uid}/seats/{seatUid}/cancel {reason?, by?},
        POST /_double/bookings/{uid}/reschedule {start, reason?, by?}, POST /_double/bookings/{uid}/confirm,
        POST /_double/bookings/{uid}/reject {reason?}, POST /_double/bookings/{uid}/meeting-ended,
        POST /_double/bookings/{uid}/no-show {noShow?},
        POST|DELETE /_double/webhooks/subscribers {url, secret, triggers?}, GET /_double/webhooks/deliveries,
        POST /_double/webhooks/wait {timeout?}, GET /_double/webhooks/pending,
        POST /_double/webhooks/deliver-pending, POST /_double/webhooks/drop-next {count?, trigger?},
        GET /_double/webhooks/dropped, POST /_double/webhooks/build {trigger, uid, secret?, seatUid?}.
        """
        path = request.path[len("/_double") :]
        body = request.get_json(silent=True) or {}
        method = request.method
        booking_action = re.fullmatch(
            r"/bookings/([^/]+)/(cancel|reschedule|confirm|reject|meeting-ended|no-show)", path
        )
        seat_cancel = re.fullmatch(r"/bookings/([^/]+)/seats/([^/]+)/cancel", path)
        result: Any
        try:
            if method == "GET" and path == "/health":
                result = {"ok": True}
            elif method == "POST" and path == "/reset":
                self.reset(keep_subscribers=bool(body.get("keepSubscribers", True)))
                result = {"ok": True}
            elif method == "GET" and path == "/requests":
                result = [asdict(entry) for entry in self.request_log]
            elif method == "GET" and path == "/contract-violations":
                result = [violation._asdict() for violation in self.contract_violations]
            elif method == "POST" and path == "/mode":
                self.set_mode(body["mode"], float(body.get("seconds", 0)))
                result = {"ok": True}
            elif method == "POST" and path == "/fail-next":
                self.fail_next(
                    int(body.get("count", 1)),
                    int(body.get("status", 500)),
                    after_processing=bool(body.get("afterProcessing")),
                )
                result = {"ok": True}
            elif method == "POST" and path == "/take-slot":
                result = self.take_slot(
                    int(body["eventTypeId"]),
                    body["start"],
                    attendee_name=str(body.get("attendeeName", "Someone Else")),
                    attendee_email=str(body.get("attendeeEmail", "someone.else@example.com")),
                    metadata=body.get("metadata"),
                    emit_webhook=bool(body.get("emitWebhook", True)),
                )
            elif method == "GET" and path == "/bookings":
                result = self.bookings()
            elif method == "POST" and seat_cancel is not None:
                uid, seat_uid = seat_cancel.groups()
                result = self.cancel_seat(uid, seat_uid, body.get("reason"), body.get("by"))
            elif method == "POST" and booking_action is not None:
                uid, action = booking_action.groups()
                if action == "cancel":
                    result = self.cancel_booking(uid, body.get("reason", ""), body.get("by"))
                elif action == "reschedule":
                    result = self.reschedule_booking(uid, body["start"], reason=body.get("reason"), by=body.get("by"))
                elif action == "confirm":
                    result = self.confirm_booking(uid)
                elif action == "reject":
                    result = self.emit_booking_rejected(uid, body.get("reason", ""))
                elif action == "meeting-ended":
                    self.emit_meeting_ended(uid)
                    result = {"ok": True}
                else:
                    result = self.emit_no_show_updated(uid, bool(body.get("noShow", True)))
            elif method == "POST" and path == "/webhooks/subscribers":
                self.add_webhook_subscriber(body["url"], body.get("secret"), body.get("triggers"))
                result = {"ok": True}
            elif method == "DELETE" and path == "/webhooks/subscribers":
                self.remove_webhook_subscribers()
                result = {"ok": True}
            elif method == "GET" and path == "/webhooks/deliveries":
                result = [_delivery_json(delivery) for delivery in self.webhook_deliveries]
            elif method == "POST" and path == "/webhooks/wait":
                result = [
                    _delivery_json(delivery) for delivery in self.wait_for_deliveries(float(body.get("timeout", 5)))
                ]
            elif method == "GET" and path == "/webhooks/pending":
                result = [_pending_json(webhook) for webhook in self.pending_webhooks()]
            elif method == "POST" and path == "/webhooks/deliver-pending":
                result = [_delivery_json(delivery) for delivery in self.deliver_pending()]
            elif method == "POST" and path == "/webhooks/drop-next":
                self.drop_next_webhooks(int(body.get("count", 1)), body.get("trigger"))
                result = {"ok": True}
            elif method == "GET" and path == "/webhooks/dropped":
                result = [_pending_json(webhook) for webhook in self.dropped_webhooks]
            elif method == "POST" and path == "/webhooks/build":
                raw, headers = self.build_webhook(
                    body["trigger"], body["uid"], secret=body.get("secret"), seat_uid=body.get("seatUid")
                )
                result = {"body": raw.decode("utf-8"), "headers": headers}
            else:
                return self._json_response(404, {"error": f"no test control {method} {path}"})
        except TimeoutError as exc:
            return self._json_response(504, {"error": str(exc)})
        except (CalDoubleError, KeyError, TypeError, ValueError) as exc:
            return self._json_response(400, {"error": f"{type(exc).__name__}: {exc}"})
        return self._json_response(200, result)


def _delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "trigger": delivery.trigger,
        "url": delivery.url,
        "bookingUid": delivery.booking_uid,
        "status": delivery.status,
        "error": delivery.error,
        "attemptedAt": iso_ms_z(delivery.attempted_at),
        "headers": delivery.headers,
        "body": delivery.body.decode("utf-8"),
    }


def _pending_json(webhook: PendingWebhook) -> dict[str, Any]:
    return {
        "trigger": webhook.trigger,
        "url": webhook.url,
        "bookingUid": webhook.booking_uid,
        "headers": webhook.headers,
        "body": webhook.body.decode("utf-8"),
    }


__all__ = [
    "BOOKINGS_VERSION",
    "PAST_MESSAGE",
    "SEATS_FULL_MESSAGE",
    "SLOTS_VERSION",
    "SLOT_TAKEN_MESSAGE",
    "CalDouble",
    "CalDoubleError",
    "CalEventType",
    "CalHost",
    "ContractViolation",
    "PendingWebhook",
    "RecordedRequest",
    "WebhookDelivery",
    "WeeklySchedule",
]
