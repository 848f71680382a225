"""Webhook plumbing of the Cal.com double: signing, subscribers, and once-only background delivery.

Cal.com signs `X-Cal-Signature-256` = lowercase hex HMAC-SHA256(secret, raw body), sends once, ignores the
answer and does not follow redirects (notes §3.1). Payloads follow `EventPayloadType` of sendPayload.ts and
the documented examples (notes §3.3). A `WebhookView` carries what one webhook says differently from the booking
itself: the seats it is about, a replaced metadata, fields set or left out (see `local.cal_calendar`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from local.cal_model import (
    BookingRecord,
    CalEventType,
    CalHost,
    SeatRecord,
    iso_ms_z,
    iso_seconds_z,
    location_of,
    zone_or_none,
)

WEBHOOK_VERSION = "2021-10-20"
NO_SECRET_SIGNATURE = "no-secret-provided"  # noqa: S105 - a fixed marker Cal sends, not a secret


def sign(secret: str | None, body: bytes) -> str:
    """Cal's `createWebhookSignature`: no secret configured means the literal `no-secret-provided`."""
    if not secret:
        return NO_SECRET_SIGNATURE
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


def webhook_headers(secret: str | None, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Cal-Signature-256": sign(secret, body),
        "X-Cal-Webhook-Version": WEBHOOK_VERSION,
    }


def encode_body(document: Mapping[str, Any]) -> bytes:
    # JSON.stringify output: compact separators, non-ASCII kept as UTF-8.
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class WebhookView:
    """How one webhook describes its booking where Cal.com's payload differs from the stored booking.

    `seats`: for a seated booking, the seats the event is about (its attendees and responses come from them);
    `metadata`: replaces the booking's metadata (`videoCallUrl` is still added for Cal Video);
    `extra`: payload fields set; `omit`: payload fields left out (Cal leaves undefined fields out of the JSON).
    """

    seats: tuple[SeatRecord, ...] | None = None
    metadata: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    omit: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WebhookSubscriber:
    url: str
    secret: str | None
    triggers: frozenset[str] | None = None

    def wants(self, trigger: str) -> bool:
        return self.triggers is None or trigger in self.triggers


@dataclass(frozen=True)
class PendingWebhook:
    """A signed webhook not sent (manual mode): post `body` with `headers` to `url` yourself."""

    trigger: str
    url: str
    body: bytes
    headers: dict[str, str]
    booking_uid: str | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class WebhookDelivery:
    """The outcome of the single delivery attempt; `status` is None when no HTTP answer came back."""

    trigger: str
    url: str
    body: bytes
    headers: dict[str, str]
    booking_uid: str | None
    status: int | None
    error: str | None
    attempted_at: datetime

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Job:
    webhook: PendingWebhook
    generation: int


@dataclass
class WebhookSender:
    """One daemon worker posting webhooks in emission order, so the API response never waits for a subscriber."""

    clock: Callable[[], datetime]
    timeout_seconds: float = 5.0
    _queue: queue.Queue[_Job] = field(default_factory=queue.Queue)
    _condition: threading.Condition = field(default_factory=threading.Condition)
    _outstanding: int = 0
    _generation: int = 0
    _deliveries: list[WebhookDelivery] = field(default_factory=list)
    _worker: threading.Thread | None = None

    def submit(self, webhook: PendingWebhook) -> None:
        with self._condition:
            self._outstanding += 1
            generation = self._generation
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="cal-double-webhooks", daemon=True)
                self._worker.start()
        self._queue.put(_Job(webhook, generation))

    def deliver_now(self, webhook: PendingWebhook) -> WebhookDelivery:
        delivery = self._post(webhook)
        with self._condition:
            self._deliveries.append(delivery)
        return delivery

    def wait(self, timeout: float) -> list[WebhookDelivery]:
        with self._condition:
            if not self._condition.wait_for(lambda: self._outstanding == 0, timeout=timeout):
                raise TimeoutError(f"{self._outstanding} webhook deliveries still in flight after {timeout} s")
            return list(self._deliveries)

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        with self._condition:
            return list(self._deliveries)

    def clear(self) -> None:
        # Deliveries already in flight finish but are not recorded: they belong to the state before the reset.
        with self._condition:
            self._generation += 1
            self._deliveries.clear()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            delivery = self._post(job.webhook)
            with self._condition:
                if job.generation == self._generation:
                    self._deliveries.append(delivery)
                self._outstanding -= 1
                self._condition.notify_all()

    def _post(self, webhook: PendingWebhook) -> WebhookDelivery:
        status: int | None = None
        error: str | None = None
        attempted_at = self.clock()
        try:
            response = requests.post(
                webhook.url,
                data=webhook.body,
                headers=webhook.headers,
                timeout=self.timeout_seconds,
                allow_redirects=False,
            )
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        return WebhookDelivery(
            trigger=webhook.trigger,
            url=webhook.url,
            body=webhook.body,
            headers=dict(webhook.headers),
            booking_uid=webhook.booking_uid,
            status=status,
            error=error,
            attempted_at=attempted_at,
        )


def _utc_offset_minutes(zone_name: str, at: datetime) -> int:
    zone = zone_or_none(zone_name) or UTC
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def webhook_document(
    trigger: str,
    booking: BookingRecord,
    event_type: CalEventType,
    host: CalHost,
    *,
    previous: BookingRecord | None,
    extra: Mapping[str, Any],
    created_at: datetime,
    view: WebhookView | None = None,
) -> dict[str, Any]:
    """The JSON Cal.com posts for `trigger` about `booking`; `previous` is the booking a reschedule replaced.

    `view` says how this event differs from the stored booking (seats, acceptance); `extra` overrides payload
    fields last (test crafting).
    """
    view = view or WebhookView()
    created = iso_ms_z(created_at)
    if trigger in ("MEETING_ENDED", "MEETING_STARTED"):
        # These triggers send the booking flat, without the `payload` wrapper (notes §3.1); field set unverified.
        flat = _meeting_body(booking, event_type, host, view)
        return {"triggerEvent": trigger, "createdAt": created, **flat, **extra}
    if trigger == "BOOKING_NO_SHOW_UPDATED":
        state = "no-show" if booking.attendee_absent else "present"
        payload: dict[str, Any] = {
            "message": f"{booking.attendee.get('email', '')} marked as {state}",
            "bookingUid": booking.uid,
            "bookingId": booking.id,
            "attendees": [{"email": booking.attendee.get("email", ""), "noShow": booking.attendee_absent}],
        }
    else:
        payload = _booking_payload(booking, event_type, host, view)
        if trigger == "BOOKING_RESCHEDULED" and booking.rescheduled_from_uid:
            payload.update(
                {
                    "rescheduleId": previous.id if previous else None,
                    "rescheduleUid": booking.rescheduled_from_uid,
                    "rescheduleStartTime": iso_seconds_z(previous.start) if previous else None,
                    "rescheduleEndTime": iso_seconds_z(previous.end) if previous else None,
                    "rescheduledBy": booking.rescheduled_by,
                }
            )
        elif trigger == "BOOKING_CANCELLED":
            payload.update(
                {
                    "cancellationReason": booking.cancellation_reason,
                    "cancelledBy": booking.cancelled_by,
                    "requestReschedule": False,
                    "status": "CANCELLED",
                }
            )
        elif trigger == "BOOKING_REJECTED":
            payload.update({"rejectionReason": booking.rejection_reason, "status": "REJECTED"})
        elif trigger == "BOOKING_REQUESTED":
            payload["status"] = "PENDING"
        payload.update(view.extra)
        for name in view.omit:
            payload.pop(name, None)
    payload.update(extra)
    return {"triggerEvent": trigger, "createdAt": created, "payload": payload}


def _attendee_payload(attendee: Mapping[str, Any], host: CalHost, start: datetime) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "email": attendee.get("email", ""),
        "name": attendee.get("name", ""),
        "firstName": "",
        "lastName": "",
        "timeZone": attendee.get("timeZone", host.time_zone),
        "language": {"locale": attendee.get("language", "en")},
        "utcOffset": _utc_offset_minutes(attendee.get("timeZone", host.time_zone), start),
    }
    if attendee.get("phoneNumber"):
        payload["phoneNumber"] = attendee["phoneNumber"]
    return payload


def _booking_payload(
    booking: BookingRecord, event_type: CalEventType, host: CalHost, view: WebhookView
) -> dict[str, Any]:
    """`EventPayloadType` of sendPayload.ts with the fields of the documented example (notes §3.3).

    For a seated booking the attendees are those of `view.seats` ("for seated event types, attendees contains
    only the seat that triggered the event", notes §3.3; every seat when the whole booking is cancelled) and the
    responses those of the first of them.
    """
    _, webhook_location, video_url = location_of(booking.location_input, booking.uid)
    if view.seats is not None:
        first = view.seats[0] if view.seats else SeatRecord(uid="", attendee={}, metadata={}, responses={})
        attendee, guests = first.attendee, list(first.responses.get("guests", []))
        standard = ("name", "email", "attendeePhoneNumber", "guests")
        custom_fields = {key: value for key, value in first.responses.items() if key not in standard}
        attendees = [_attendee_payload(seat.attendee, host, booking.start) for seat in view.seats]
    else:
        attendee, guests, custom_fields = booking.attendee, list(booking.guests), booking.fields
        attendees = [_attendee_payload(attendee, host, booking.start)]
    offset = attendees[0]["utcOffset"] if attendees else _utc_offset_minutes(host.time_zone, booking.start)
    zone = attendees[0]["timeZone"] if attendees else host.time_zone
    attendees += [
        {"email": guest, "name": "", "firstName": "", "lastName": "", "timeZone": zone,
         "language": {"locale": "en"}, "utcOffset": offset}
        for guest in guests
    ]  # fmt: skip
    responses: dict[str, Any] = {
        "name": {"label": "your_name", "value": attendee.get("name", "")},
        "email": {"label": "email_address", "value": attendee.get("email", "")},
        "location": {"label": "location", "value": {"optionValue": "", "value": webhook_location}},
        "notes": {"label": "additional_notes"},
        "guests": {"label": "additional_guests", "value": guests},
        "rescheduleReason": {"label": "reschedule_reason", "value": booking.rescheduling_reason},
    }
    if attendee.get("phoneNumber"):
        responses["attendeePhoneNumber"] = {"label": "phone_number", "value": attendee["phoneNumber"]}
    custom = {key: {"label": key, "value": value} for key, value in custom_fields.items()}
    responses.update(custom)
    metadata = dict(booking.metadata if view.metadata is None else view.metadata)
    if video_url:
        metadata["videoCallUrl"] = video_url
    return {
        "type": event_type.slug,
        "title": booking.title,
        "description": "",
        "additionalNotes": "",
        "customInputs": {},
        "startTime": iso_seconds_z(booking.start),
        "endTime": iso_seconds_z(booking.end),
        "organizer": {
            "id": host.id,
            "name": host.name,
            "email": host.email,
            "username": host.username,
            "timeZone": host.time_zone,
            "language": {"locale": "en"},
            "timeFormat": "h:mma",
            "utcOffset": _utc_offset_minutes(host.time_zone, booking.start),
        },
        "responses": responses,
        "userFieldsResponses": custom,
        "attendees": attendees,
        "location": webhook_location,
        "destinationCalendar": None,
        "hideCalendarNotes": False,
        "requiresConfirmation": event_type.requires_confirmation,
        "eventTypeId": event_type.id,
        "seatsShowAttendees": event_type.seats_show_attendees if event_type.seated else True,
        "seatsPerTimeSlot": event_type.seats_per_time_slot,
        "uid": booking.uid,
        "iCalUID": booking.ical_uid,
        "iCalSequence": booking.ical_sequence,
        "eventTitle": event_type.title,
        "eventDescription": "",
        "price": 0,
        "currency": "usd",
        "length": booking.duration,
        "bookingId": booking.id,
        "metadata": metadata,
        "status": booking.status.upper(),
    }


def _meeting_body(booking: BookingRecord, event_type: CalEventType, host: CalHost, view: WebhookView) -> dict[str, Any]:
    _, webhook_location, _ = location_of(booking.location_input, booking.uid)
    people = [seat.attendee for seat in view.seats] if view.seats is not None else [booking.attendee]
    return {
        "id": booking.id,
        "uid": booking.uid,
        "title": booking.title,
        "description": "",
        "startTime": iso_ms_z(booking.start),
        "endTime": iso_ms_z(booking.end),
        "eventTypeId": event_type.id,
        "userId": host.id,
        "status": booking.status.upper(),
        "location": webhook_location,
        "metadata": dict(booking.metadata),
        "user": {"id": host.id, "name": host.name, "email": host.email, "timeZone": host.time_zone},
        "attendees": [
            {
                "name": person.get("name", ""),
                "email": person.get("email", ""),
                "timeZone": person.get("timeZone", host.time_zone),
                "locale": person.get("language", "en"),
            }
            for person in people
        ],
        "eventType": {
            "id": event_type.id,
            "slug": event_type.slug,
            "title": event_type.title,
            "length": event_type.length_minutes,
        },
    }
