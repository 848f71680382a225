"""Cal.com API v2: the one client of the calendar.

Contract (DESIGN.md §5, tests/contracts/calcom-api-v2.subset.json): `cal-api-version: 2024-09-04` for slots,
`2024-08-13` for bookings, `Authorization: Bearer cal_...`, envelope `{"status", "data"}`. A taken slot is a
400 whose message says "already has booking" / "not available"; on a seated event type (capacity > 1) a full
slot is a 409 "No more seats left at this seated booking." and an attendee whose email already has a seat there
a 409 `already_signed_up_for_this_booking_error`. 120 requests a minute per key: a breach is a 429 blocking the
key for 60 s, with `Retry-After` (Cal's docs) and `X-RateLimit-Reset-<Name>` (its throttler) saying how long.

Seated event types answer the seated outputs: all attendees at one start share one booking (one uid), each in a
seat with its own `seatUid`; Cal keeps the create call's `metadata` per seat (`attendees[].metadata`, from
BookingSeat.metadata), not on the booking, so our booking_id is found on our attendee's seat.

Retries are bounded and safe: reads retry on timeouts, 429 and 5xx; creating a booking retries only when the
request provably never reached Cal.com (connect timeout) or was throttled (429). Anything ambiguous is
raised as `CalendarDown` so the caller can look for the booking before trying again. A 429 is retried only when
Cal.com lets the key through again within MAX_THROTTLE_WAIT_SECONDS; otherwise `CalendarThrottled` says how long
to wait, so the site is told that instead of a request held open for a minute.

The attendee's email Cal.com is given follows CLIENT_EMAILS (notify/preferences.py): when our emails replace
Cal.com's, it is the business's relay address for the booking, so Cal.com's own emails never reach the client; the
lookup by attendee email uses the same address, and the client's own is kept in the metadata (`client_email`).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from booking.clock import iso_z
from booking.notify.preferences import cal_attendee_email
from booking.secrets import provider_secret
from booking.settings import get_settings

SLOTS_API_VERSION = "2024-09-04"
BOOKINGS_API_VERSION = "2024-08-13"
SLOT_TAKEN_MARKERS = ("already has booking", "not available")
# 409s of a seated event type: the seats are full, or this attendee already has a seat at that start (which is
# how a retry of a create that did land shows up: the booking_id lookup then finds our seat).
SEAT_TAKEN_MARKERS = ("no more seats left", "already_signed_up_for_this_booking_error")
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})  # and 429, see `_request`
CLOSED_STATUSES = frozenset({"cancelled", "rejected"})  # a Cal.com booking that no longer takes place
# A throttled call is tried again only if Cal.com lets it through within this: a Lambda answering a site visitor
# should not sleep through Cal's 60 s block; the visitor is told when to retry instead.
MAX_THROTTLE_WAIT_SECONDS = 1.0
# Cal's throttle window and block (60 s): the wait when a 429 says nothing of its own.
THROTTLE_WINDOW_SECONDS = 60


class CalendarDown(Exception):
    """Cal.com did not answer usefully (timeout, 5xx, throttled after retries). The request may have landed."""


class CalendarThrottled(CalendarDown):
    """Cal.com's rate limit refused the call (429); it lets our key through again after `retry_after_seconds`."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


def throttle_wait(response: requests.Response) -> float | None:
    """Seconds until Cal.com lets the key through again, from a 429's headers; None when it does not say.

    `Retry-After` (seconds or an HTTP date) first, then the blocked limit's `X-RateLimit-Reset-<Name>`: seconds in
    Cal's throttler code, a Unix timestamp in its docs, so a value past 10^9 is read as a moment.
    """
    retry_after = response.headers.get("Retry-After", "").strip()
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    waits: list[float] = []
    for name, value in response.headers.items():
        if not name.lower().startswith("x-ratelimit-reset"):
            continue
        remaining = response.headers.get(f"x-ratelimit-remaining{name[len('x-ratelimit-reset') :]}")
        try:
            reset = float(value)
        except ValueError:
            continue
        if remaining is None or remaining.strip() == "0":
            waits.append(reset - time.time() if reset > 1e9 else reset)
    return max(0.0, max(waits)) if waits else None


class CalendarSlotTaken(Exception):
    """Cal.com refused the time: the host already has a booking then or is not available (400), or the seated
    slot has no seat for this attendee (409)."""


class CalendarRejected(Exception):
    """Cal.com refused the request for another reason (4xx): a bug or a configuration problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Cal.com answered {status}: {message}")
        self.status = status
        self.message = message


class CalSlot(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime | None = None


class CalAttendee(BaseModel):
    """BookingAttendee, or SeatedAttendee (with its seat's uid and metadata) in a seated booking."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    name: str
    email: str | None = None
    time_zone: str | None = Field(default=None, alias="timeZone")
    seat_uid: str | None = Field(default=None, alias="seatUid")
    metadata: dict[str, Any] = {}


class CalBooking(BaseModel):
    """BookingOutput_2024_08_13, or a seated output (Create/GetSeatedBookingOutput_2024_08_13).

    A seated output has no top-level `metadata`. `seat_uid` is our seat: the create answer's `seatUid`, or the
    seat `ours(booking_id)` found (which also takes that seat's metadata). Status is one of accepted, pending (a
    requires-confirmation event type, until the host answers), cancelled, rejected.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: int
    uid: str
    status: str
    start: datetime
    end: datetime
    event_type_id: int | None = Field(default=None, alias="eventTypeId")
    attendees: list[CalAttendee] = []
    metadata: dict[str, Any] = {}
    seat_uid: str | None = Field(default=None, alias="seatUid")
    rescheduled_to_uid: str | None = Field(default=None, alias="rescheduledToUid")
    rescheduled_from_uid: str | None = Field(default=None, alias="rescheduledFromUid")
    cancelled_by_email: str | None = Field(default=None, alias="cancelledByEmail")
    cancellation_reason: str | None = Field(default=None, alias="cancellationReason")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")

    @property
    def seat_uids(self) -> frozenset[str]:
        """The live seats of a seated booking (a cancelled seat leaves it; a cancelled booking lists none)."""
        return frozenset(attendee.seat_uid for attendee in self.attendees if attendee.seat_uid)

    def ours(self, booking_id: str) -> CalBooking | None:
        """This booking seen as our booking `booking_id`: itself when its metadata names it, or, seated, narrowed
        to the seat whose metadata names it (`seat_uid` and `metadata` of that seat); None when it is not ours."""
        if str(self.metadata.get("booking_id")) == booking_id:
            return self
        for attendee in self.attendees:
            if attendee.seat_uid and str(attendee.metadata.get("booking_id")) == booking_id:
                return self.model_copy(update={"seat_uid": attendee.seat_uid, "metadata": dict(attendee.metadata)})
        return None


class NewCalBooking(BaseModel):
    """What we ask Cal.com to book (CreateBookingInput_2024_08_13). `attendee_email` is the client's; Cal.com is
    given the address CLIENT_EMAILS says (the relay address of `metadata["booking_id"]` when ours replace its
    emails)."""

    event_type_id: int
    start: datetime
    attendee_name: str
    attendee_email: str
    attendee_time_zone: str
    attendee_phone: str | None = None
    metadata: dict[str, str]
    relay_id: str | None = None  # whose relay address stands for the attendee; default metadata["booking_id"]

    def body(self) -> dict[str, Any]:
        booking_id = self.relay_id or self.metadata.get("booking_id")
        email = cal_attendee_email(booking_id, self.attendee_email) if booking_id else self.attendee_email
        metadata = self.metadata
        if email != self.attendee_email:
            # Cal.com's limits (50 keys, 40-character keys, 500-character values) hold: an address is <= 254.
            metadata = {**metadata, "client_email": self.attendee_email}
        attendee: dict[str, Any] = {
            "name": self.attendee_name,
            "email": email,
            "timeZone": self.attendee_time_zone,
            "language": "en",
        }
        if self.attendee_phone:
            attendee["phoneNumber"] = self.attendee_phone
        return {
            "start": iso_z(self.start),
            "eventTypeId": self.event_type_id,
            "attendee": attendee,
            "metadata": metadata,
        }


def is_attendee_of(booking_id: str, client_email: str, address: str) -> bool:
    """Whether a Cal.com attendee's email is our booking's: the client's own or the booking's relay address
    (whatever CLIENT_EMAILS says now: it may have changed since the booking was made)."""
    address = address.lower()
    return address == client_email.lower() or f"+{booking_id}@" in address


_sessions = threading.local()


def _session() -> requests.Session:
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
    return session


class CalClient:
    def __init__(self, base_url: str, api_key: str, timeout_seconds: float, max_attempts: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = (min(2.0, timeout_seconds), timeout_seconds)
        self.max_attempts = max_attempts

    # --- transport ----------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, version: str, idempotent: bool, **kwargs: Any) -> Any:
        headers = {"cal-api-version": version, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}{path}"
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            pause = min(0.2 * 2 ** (attempt - 1), 1.0)
            try:
                response = _session().request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except requests.exceptions.ConnectTimeout as exc:
                if last:
                    raise CalendarDown(f"Cal.com {method} {path}: connect timeout") from exc
            except requests.RequestException as exc:
                if last or not idempotent:
                    raise CalendarDown(f"Cal.com {method} {path}: {type(exc).__name__}") from exc
            else:
                if response.status_code == 429:
                    # Throttled calls never ran, so even a create may be sent again, once the key is let through.
                    wait = throttle_wait(response)
                    if last or (wait is not None and wait > MAX_THROTTLE_WAIT_SECONDS):
                        seconds = THROTTLE_WINDOW_SECONDS if wait is None else max(1, math.ceil(wait))
                        raise CalendarThrottled(f"Cal.com {method} {path}: HTTP 429, retry in {seconds} s", seconds)
                    pause = max(pause, wait or 0.0)
                else:
                    retryable = idempotent and response.status_code in RETRYABLE_STATUS
                    if response.status_code < 400 or not retryable or last:
                        return self._unwrap(method, path, response)
            time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _unwrap(method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        if status >= 500:
            raise CalendarDown(f"Cal.com {method} {path}: HTTP {status}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise CalendarDown(f"Cal.com {method} {path}: HTTP {status} without JSON") from exc
        if status >= 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            message = str((error or {}).get("message") or payload)
            if status == 400 and any(marker in message for marker in SLOT_TAKEN_MARKERS):
                raise CalendarSlotTaken(message)
            if status == 409 and any(marker in message.lower() for marker in SEAT_TAKEN_MARKERS):
                raise CalendarSlotTaken(message)
            raise CalendarRejected(status, message)
        return payload.get("data") if isinstance(payload, dict) else payload

    # --- API ----------------------------------------------------------------------------------------------

    def slots(self, event_type_id: int, start: datetime, end: datetime, time_zone: str) -> list[CalSlot]:
        """Bookable slots in [start, end) as Cal.com offers them (GET /v2/slots, format=range)."""
        data = self._request(
            "GET",
            "/v2/slots",
            version=SLOTS_API_VERSION,
            idempotent=True,
            params={
                "eventTypeId": event_type_id,
                "start": iso_z(start),
                "end": iso_z(end),
                "timeZone": time_zone,
                "format": "range",
            },
        )
        slots: list[CalSlot] = []
        for day in (data or {}).values():
            for slot in day:
                # The schema says strings, the API returns {start[, end]} objects (calcom-notes §1.2): accept both.
                slots.append(CalSlot(start=slot) if isinstance(slot, str) else CalSlot.model_validate(slot))
        return slots

    def create_booking(self, booking: NewCalBooking) -> CalBooking:
        data = self._request(
            "POST", "/v2/bookings", version=BOOKINGS_API_VERSION, idempotent=False, json=booking.body()
        )
        return CalBooking.model_validate(data)

    def get_booking(self, uid: str) -> CalBooking:
        data = self._request("GET", f"/v2/bookings/{uid}", version=BOOKINGS_API_VERSION, idempotent=True)
        return CalBooking.model_validate(data)

    def find_booking(
        self, *, event_type_id: int, attendee_email: str, start: datetime, booking_id: str
    ) -> CalBooking | None:
        """Our booking in Cal.com, found by the booking_id we put in its metadata (after an ambiguous create).
        `attendee_email` is the client's: Cal.com is asked for the address the create gave it (NewCalBooking).

        In a seated booking the metadata is per seat (`attendees[].metadata`): the answer is narrowed to our seat
        (`seat_uid` set). A cancelled one is returned too (when no live one exists): it must not be booked again.
        A cancelled *seat* cannot be found (Cal deletes the seat, and a cancelled seated booking lists no
        attendees), so a seat cancelled between an ambiguous create and this lookup would be booked again.
        """
        data = self._request(
            "GET",
            "/v2/bookings",
            version=BOOKINGS_API_VERSION,
            idempotent=True,
            params={
                "eventTypeId": event_type_id,
                "attendeeEmail": cal_attendee_email(booking_id, attendee_email),
                "afterStart": iso_z(start),
                "beforeEnd": iso_z(start + timedelta(days=1)),
                "take": 50,
            },
        )
        listed = [CalBooking.model_validate(entry).ours(booking_id) for entry in data or []]
        ours = [found for found in listed if found is not None]
        # A live one wins (a reschedule leaves the old one cancelled); else the cancelled one says what happened.
        return next((found for found in ours if found.status != "cancelled"), ours[0] if ours else None)

    def cancel_booking(self, uid: str, reason: str, seat_uid: str | None = None) -> CalBooking:
        """Cancel the booking, or only our seat in a seated one (`seat_uid`: CancelSeatedBookingInput, which takes
        no reason, so Cal records none; the booking stays accepted while other seats remain)."""
        body = {"seatUid": seat_uid} if seat_uid else {"cancellationReason": reason}
        data = self._request(
            "POST",
            f"/v2/bookings/{uid}/cancel",
            version=BOOKINGS_API_VERSION,
            idempotent=True,  # cancelling twice leaves it cancelled
            json=body,
        )
        return CalBooking.model_validate(data)

    def reschedule_booking(self, uid: str, start: datetime, reason: str) -> CalBooking:
        """Move the booking to `start` (POST /v2/bookings/{uid}/reschedule): Cal.com cancels it and creates the
        new booking with another uid (`rescheduledFromUid` points back). Not idempotent: after an ambiguous
        failure, read the old booking's `rescheduledToUid` before trying again."""
        data = self._request(
            "POST",
            f"/v2/bookings/{uid}/reschedule",
            version=BOOKINGS_API_VERSION,
            idempotent=False,
            json={"start": iso_z(start), "reschedulingReason": reason},
        )
        return CalBooking.model_validate(data)


def calendar() -> CalClient:
    settings = get_settings()
    return CalClient(
        settings.cal_api_base, provider_secret("cal_api_key"), settings.cal_timeout_seconds, settings.cal_max_attempts
    )
