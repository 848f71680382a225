"""Data, validation and output shapes of the Cal.com double (see `local.cal_double`).

Messages and shapes follow Cal.com API v2 (`apps/api/v2`, contract notes §1): class-validator rules of
CreateBookingInput_2024_08_13, Nest's exception envelope details, and OutputBookingsService's booking output.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2024-08-13"
SLOT_TAKEN_MESSAGE = "User either already has booking at this time or is not available"
# BookingsService_2024_08_13.createSeatedBooking turns handleSeats' `booking_seats_full_error` into this 409.
SEATS_FULL_MESSAGE = "No more seats left at this seated booking."
# handleSeats' HttpError(409, ErrorCode.AlreadySignedUpForBooking) when the attendee's email already has a seat.
ALREADY_SIGNED_UP_MESSAGE = "already_signed_up_for_this_booking_error"
# The double's own message: Cal reschedules a seated booking (or one seat) in ways the double does not model.
RESCHEDULE_SEATED_MESSAGE = "The Cal.com double does not model rescheduling seated bookings or seats."
PAST_MESSAGE = "Attempting to book a meeting in the past."
NO_AUTH_MESSAGE = (
    "No authentication method provided. Either pass an API key as 'Bearer' header or OAuth client credentials "
    "as 'x-cal-secret-key' and 'x-cal-client-id' headers"
)
THROTTLED_MESSAGE = "CustomThrottlerGuard - Too many requests. Please try again later."
METADATA_MESSAGE = (
    "Metadata must have at most 50 keys, each key up to 40 characters, and string values up to 500 characters."
)
CONTACT_MESSAGE = "Attendee must have at least one contact method (email or phone number)"
EVENT_TYPE_REQUIRED_MESSAGE = (
    "Either eventTypeId or eventTypeSlug + username or eventTypeSlug + teamSlug must be provided"
)
LANGUAGES = (
    "ar", "ca", "de", "es", "eu", "he", "id", "ja", "lv", "pl", "ro", "sr", "th", "vi", "az", "cs", "el", "es-419",
    "fi", "hr", "it", "km", "nl", "pt", "ru", "sv", "tr", "zh-CN", "bg", "da", "en", "et", "fr", "hu", "iw", "ko",
    "no", "pt-BR", "sk", "ta", "uk", "zh-TW", "bn",
)  # fmt: skip
LIST_STATUSES = ("upcoming", "recurring", "past", "cancelled", "unconfirmed")
CREATE_FIELDS = frozenset(
    {
        "start", "attendee", "bookingFieldsResponses", "eventTypeId", "eventTypeSlug", "username", "teamSlug",
        "organizationSlug", "guests", "meetingUrl", "location", "metadata", "lengthInMinutes", "routing",
        "emailVerificationCode", "instant", "recurrenceCount",
    }
)  # fmt: skip
ATTENDEE_FIELDS = frozenset({"name", "email", "timeZone", "phoneNumber", "language"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_UID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
EXCEPTION_NAMES = {
    400: ("BadRequestException", "Bad Request"),
    401: ("UnauthorizedException", "Unauthorized"),
    403: ("ForbiddenException", "Forbidden"),
    404: ("NotFoundException", "Not Found"),
    409: ("ConflictException", "Conflict"),
    422: ("UnprocessableEntityException", "Unprocessable Entity"),
    429: ("ThrottlerException", "Too Many Requests"),
    500: ("InternalServerErrorException", "Internal Server Error"),
    502: ("BadGatewayException", "Bad Gateway"),
    503: ("ServiceUnavailableException", "Service Unavailable"),
    504: ("GatewayTimeoutException", "Gateway Timeout"),
}

Mode = Literal["normal", "down", "slow", "connection_reset"]


@dataclass(frozen=True)
class CalEventType:
    id: int
    slug: str
    title: str
    length_minutes: int
    # Cal's "multiple durations" option; empty means a single length, and then Cal rejects `lengthInMinutes`.
    multiple_durations: tuple[int, ...] = ()
    # Cal's `seatsPerTimeSlot`: None is one booking per slot; N lets N attendees share one booking (one uid),
    # each in a seat with its own `seatUid`.
    seats_per_time_slot: int | None = None
    # Cal's `seatsShowAttendees`: callers other than the host see a seated booking's attendees only when set.
    seats_show_attendees: bool = False
    # Cal's `requiresConfirmation`: bookings are created `pending` until the host accepts or declines them.
    requires_confirmation: bool = False
    # Cal's `beforeEventBuffer` / `afterEventBuffer` (minutes kept free around each booking of the event type).
    before_event_buffer: int = 0
    after_event_buffer: int = 0

    def __post_init__(self) -> None:
        if self.before_event_buffer < 0 or self.after_event_buffer < 0:
            raise ValueError("event buffers are minutes, at least 0")
        if self.seats_per_time_slot is not None and self.seats_per_time_slot < 1:
            raise ValueError(f"seats_per_time_slot must be at least 1, got {self.seats_per_time_slot}")
        if self.seats_per_time_slot is not None and self.requires_confirmation:
            # handleSeats only ever joins ACCEPTED bookings, so Cal's pending seated bookings cannot be modelled
            # faithfully from what we read; the double refuses the combination instead of guessing.
            raise ValueError("the Cal.com double does not model seated event types that require confirmation")

    @property
    def seated(self) -> bool:
        return self.seats_per_time_slot is not None


@dataclass(frozen=True)
class WeeklySchedule:
    """Working hours per weekday (0 = Monday) as local (start, end) pairs in the business time zone.

    Each pair must end later on the same day; a weekday without pairs is a day off.
    """

    hours: Mapping[int, tuple[tuple[dtime, dtime], ...]]

    def __post_init__(self) -> None:
        for day, pairs in self.hours.items():
            if day not in range(7) or any(opens >= closes for opens, closes in pairs):
                raise ValueError(f"invalid working hours for weekday {day}: {pairs!r}")

    @classmethod
    def weekdays(cls, start: dtime = dtime(9), end: dtime = dtime(17)) -> WeeklySchedule:
        return cls({day: ((start, end),) for day in range(5)})


@dataclass(frozen=True)
class CalHost:
    id: int
    name: str
    email: str
    username: str
    time_zone: str


class ContractViolation(NamedTuple):
    operation: str
    problem: str


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int  # 0 when the connection was dropped without an answer


class CalDoubleError(ValueError):
    """A test control was asked for something Cal.com would refuse (unknown booking, taken slot, ...)."""


class CalError(Exception):
    """An HTTP error answered in Cal's envelope; `details` is what Nest's `exception.getResponse()` returns."""

    def __init__(self, status: int, message: str, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        name, reason = EXCEPTION_NAMES.get(status, ("HttpException", "Error"))
        self.status = status
        self.code = code or name
        self.message = message
        self.details = details if details is not None else {"message": message, "error": reason, "statusCode": status}
        self.headers: dict[str, str] = {}


def validation_error(errors: list[dict[str, Any]]) -> CalError:
    # Cal's ValidationPipe throws BadRequestException({errors}); Nest then names the message after the class.
    return CalError(400, "Bad Request Exception", {"errors": errors})


def injected_error(status: int) -> CalError:
    return CalError(status, EXCEPTION_NAMES.get(status, ("HttpException", "Injected failure"))[1])


def field_error(prop: str, value: Any, rule: str, message: str) -> dict[str, Any]:
    return {"property": prop, "value": value, "constraints": {rule: message}, "children": []}


@dataclass
class SeatRecord:
    """One attendee's seat in a seated booking: Cal's Attendee row with its BookingSeat (`referenceUid`)."""

    uid: str
    attendee: dict[str, Any]
    # BookingSeat.metadata: the `metadata` of the create call that took this seat (Cal keeps it per seat).
    metadata: dict[str, Any]
    # BookingSeat.data.responses: what the attendee answered (name, email, custom booking fields).
    responses: dict[str, Any]
    absent: bool = False


@dataclass
class BookingRecord:
    id: int
    uid: str
    event_type_id: int
    start: datetime
    end: datetime
    status: str
    attendee: dict[str, Any]
    guests: list[str]
    metadata: dict[str, Any]
    fields: dict[str, Any]
    location_input: Any
    title: str
    created_at: datetime
    updated_at: datetime
    ical_uid: str
    ical_sequence: int = 0
    cancellation_reason: str | None = None
    cancelled_by: str | None = None
    rejection_reason: str | None = None
    rescheduling_reason: str | None = None
    rescheduled_by: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    attendee_absent: bool = False
    source: str = "api"
    # Seated event types only: the live seats, in booking order (the first is the booker who opened the slot).
    seats: list[SeatRecord] = field(default_factory=list)

    @property
    def duration(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def blocks_slot(self) -> bool:
        return self.status in ("accepted", "pending")


def iso_ms_z(moment: datetime) -> str:
    """JavaScript `Date.toISOString()`: what Cal returns for stored instants."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_seconds_z(moment: datetime) -> str:
    """dayjs `.utc().format()`: what webhook payloads use for startTime/endTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_in_zone(moment: datetime, zone_name: str | None) -> str:
    """Luxon `setZone(zone).toISO()`: `+02:00` offsets; `Z` only for the fixed UTC zone (no `timeZone`, or `UTC`)."""
    if zone_name is None or zone_name.lower() in ("utc", "gmt"):
        return iso_ms_z(moment)
    local = moment.astimezone(ZoneInfo(zone_name))
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    )


def zone_or_none(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_instant(value: Any) -> tuple[datetime, bool] | None:
    """ISO 8601 as Cal accepts it: date-only, naive (= UTC) or with an offset. Returns (instant, date_only)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), dtime(0), tzinfo=UTC), True
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC), False


def coerce_instant(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_instant(value)
    if parsed is None:
        raise CalDoubleError(f"not an ISO 8601 instant: {value!r}")
    return parsed[0]


def new_uid() -> str:
    # Cal's uids are 22-character short-uuid (base58) strings such as `bFJeNb2uX8ANpT3JL5EfXw`.
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(22))


def new_seat_uid() -> str:
    # createNewSeat's `uuid()` from short-uuid is a plain RFC 4122 v4 UUID, e.g. `3be561a9-31f1-4b8e-...`.
    return str(uuid.uuid4())


def metadata_is_valid(metadata: Mapping[str, Any]) -> bool:
    """Cal's `validate-metadata.ts`: ≤50 keys, keys ≤40 chars, values string ≤500 chars, number or boolean."""
    if len(metadata) > 50:
        return False
    for key, value in metadata.items():
        if len(key) > 40:
            return False
        if isinstance(value, str):
            if len(value) > 500:
                return False
        elif not isinstance(value, int | float | bool):
            return False
    return True


def _js_integer(value: Any) -> int | None:
    """class-validator's IsInt on a JSON number: JavaScript has one number type, so 7.0 is the integer 7."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def validate_create(clean: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """CreateBookingInput_2024_08_13's class-validator rules, with Cal's messages; normalizes `clean` in place.

    Returns the whitelisted attendee (with Cal's phone-only placeholder email and default language) and the
    validation errors shaped like class-validator's ValidationError list.
    """
    errors: list[dict[str, Any]] = []
    if parse_instant(clean.get("start")) is None:
        errors.append(
            field_error("start", clean.get("start"), "isDateString", "start must be a valid ISO 8601 date string")
        )
    for name in ("eventTypeId", "lengthInMinutes"):
        if name in clean:
            number = _js_integer(clean[name])
            if number is None:
                errors.append(field_error(name, clean[name], "isInt", f"{name} must be an integer number"))
            else:
                clean[name] = number
    raw_attendee = clean.get("attendee")
    attendee: dict[str, Any] = {}
    if not isinstance(raw_attendee, dict):
        errors.append(
            field_error(
                "attendee", raw_attendee, "nestedValidation", "nested property attendee must be either object or array"
            )
        )
    else:
        attendee = {key: value for key, value in raw_attendee.items() if key in ATTENDEE_FIELDS}
        children: list[dict[str, Any]] = []
        if not isinstance(attendee.get("name"), str):
            children.append(field_error("name", attendee.get("name"), "isString", "name must be a string"))
        if zone_or_none(attendee.get("timeZone")) is None:
            children.append(
                field_error(
                    "timeZone", attendee.get("timeZone"), "isTimeZone", "timeZone must be a valid IANA time-zone"
                )
            )
        email, phone = attendee.get("email"), attendee.get("phoneNumber")
        if email and not (isinstance(email, str) and _EMAIL.match(email)):
            children.append(field_error("email", email, "customValidation", "Invalid email format"))
        if phone and not (isinstance(phone, str) and _E164.match(phone)):
            children.append(
                field_error(
                    "phoneNumber",
                    phone,
                    "customValidation",
                    "Invalid phone number format. Please use international format.",
                )
            )
        has_email = isinstance(email, str) and email.strip() != ""
        has_phone = isinstance(phone, str) and phone.strip() != ""
        if not has_email and not has_phone:
            children.append(field_error("email", email, "requireEmailOrPhone", CONTACT_MESSAGE))
        if "language" in attendee and attendee["language"] not in LANGUAGES:
            children.append(
                field_error(
                    "language",
                    attendee["language"],
                    "isEnum",
                    "language must be one of the following values: " + ", ".join(LANGUAGES),
                )
            )
        if children:
            errors.append({"property": "attendee", "value": raw_attendee, "constraints": {}, "children": children})
    if isinstance(clean.get("lengthInMinutes"), int) and clean["lengthInMinutes"] < 1:
        errors.append(
            field_error("lengthInMinutes", clean["lengthInMinutes"], "min", "lengthInMinutes must not be less than 1")
        )
    if "guests" in clean:
        guests = clean["guests"]
        if not isinstance(guests, list):
            errors.append(field_error("guests", guests, "isArray", "guests must be an array"))
        elif not all(isinstance(guest, str) for guest in guests):
            errors.append(field_error("guests", guests, "isString", "each value in guests must be a string"))
    if "metadata" in clean:
        metadata = clean["metadata"]
        if not isinstance(metadata, dict):
            errors.append(field_error("metadata", metadata, "isObject", "metadata must be an object"))
        elif not metadata_is_valid(metadata):
            errors.append(field_error("metadata", metadata, "validateMetadata", METADATA_MESSAGE))
    if "bookingFieldsResponses" in clean and not isinstance(clean["bookingFieldsResponses"], dict):
        errors.append(
            field_error(
                "bookingFieldsResponses",
                clean["bookingFieldsResponses"],
                "isObject",
                "bookingFieldsResponses must be an object",
            )
        )
    if "location" in clean and not isinstance(clean["location"], dict | str):
        errors.append(field_error("location", clean["location"], "isObject", "location must be an object"))
    if not attendee.get("email") and isinstance(attendee.get("phoneNumber"), str):
        # Cal stores phone-only attendees under a placeholder address built from the digits.
        attendee["email"] = re.sub(r"\D", "", attendee["phoneNumber"]) + "@sms.cal.com"
    attendee.setdefault("language", "en")
    return attendee, errors


def location_of(location_input: Any, uid: str) -> tuple[str, str, str | None]:
    """(API location, webhook location, videoCallUrl) for a booking's location input."""
    kind = location_input.get("type") if isinstance(location_input, dict) else None
    cal_video = (
        location_input is None
        or kind == "organizersDefaultApp"
        or (kind == "integration" and location_input.get("integration") == "cal-video")
    )
    if cal_video:
        # Event types default to Cal Video; the API shows its room URL (metadata.videoCallUrl).
        url = f"https://app.cal.com/video/{uid}"
        return url, "integrations:daily", url
    if isinstance(location_input, str):
        return location_input, location_input, None
    assert isinstance(location_input, dict)
    value = {
        "integration": f"integrations:{location_input.get('integration', '')}",
        "attendeePhone": str(location_input.get("phone", "")),
        "attendeeAddress": str(location_input.get("address", "")),
        "attendeeDefined": str(location_input.get("location", "")),
    }.get(str(kind), "")  # organizer-defined address/link/phone: the double models no host locations
    return value, value, None


def _output_head(booking: BookingRecord, host: CalHost) -> dict[str, Any]:
    """The fields every booking output starts with, seated or not."""
    output: dict[str, Any] = {
        "id": booking.id,
        "uid": booking.uid,
        "title": booking.title,
        "description": "",
        "hosts": [
            {
                "id": host.id,
                "name": host.name,
                "email": host.email,
                "username": host.username,
                "timeZone": host.time_zone,
            }
        ],
        "status": booking.status,
    }
    if booking.status == "cancelled" and booking.cancellation_reason is not None:
        output["cancellationReason"] = booking.cancellation_reason
    return output


def booking_output(
    booking: BookingRecord, event_type: CalEventType, host: CalHost, rescheduled_by: str | None
) -> dict[str, Any]:
    """BookingOutput_2024_08_13, shaped like Cal's OutputBookingsService (undefined fields left out).

    `rescheduled_by` is the successor's `rescheduledBy` for a rescheduled (old) booking, as Cal reports it there.
    """
    location, webhook_location, _ = location_of(booking.location_input, booking.uid)
    attendee: dict[str, Any] = {
        "name": booking.attendee.get("name", ""),
        "email": booking.attendee.get("email", ""),
        "timeZone": booking.attendee.get("timeZone", host.time_zone),
        "language": booking.attendee.get("language", "en"),
        "absent": booking.attendee_absent,
    }
    if booking.attendee.get("phoneNumber"):
        attendee["phoneNumber"] = booking.attendee["phoneNumber"]
    fields: dict[str, Any] = {"name": attendee["name"], "email": attendee["email"]}
    if "phoneNumber" in attendee:
        fields["attendeePhoneNumber"] = attendee["phoneNumber"]
    fields["guests"] = list(booking.guests)
    fields["location"] = {"value": webhook_location, "optionValue": ""}
    fields.update(booking.fields)
    output = _output_head(booking, host)
    if booking.status == "cancelled" and booking.cancelled_by:
        output["cancelledByEmail"] = booking.cancelled_by
    if booking.rescheduling_reason:
        output["reschedulingReason"] = booking.rescheduling_reason
    if booking.rescheduled_from_uid:
        output["rescheduledFromUid"] = booking.rescheduled_from_uid
    output.update(
        {
            "start": iso_ms_z(booking.start),
            "end": iso_ms_z(booking.end),
            "duration": booking.duration,
            "eventTypeId": event_type.id,
            "eventType": {"id": event_type.id, "slug": event_type.slug},
            "attendees": [attendee],
            "guests": list(booking.guests),
            "location": location,
            "meetingUrl": location,
            "absentHost": False,
            "createdAt": iso_ms_z(booking.created_at),
            "updatedAt": iso_ms_z(booking.updated_at),
            "icsUid": booking.ical_uid,
        }
    )
    if booking.rescheduled_to_uid:
        output["rescheduledToUid"] = booking.rescheduled_to_uid
        if rescheduled_by:
            output["rescheduledByEmail"] = rescheduled_by
    elif booking.rescheduled_by:
        output["rescheduledByEmail"] = booking.rescheduled_by
    output["metadata"] = dict(booking.metadata)
    output["bookingFieldsResponses"] = fields
    return output


def seat_responses(attendee: Mapping[str, Any], guests: list[str], custom: Mapping[str, Any]) -> dict[str, Any]:
    """BookingSeat.data.responses as Cal's input service builds them from the create call."""
    responses: dict[str, Any] = {"name": attendee.get("name", ""), "email": attendee.get("email", "")}
    if attendee.get("phoneNumber"):
        responses["attendeePhoneNumber"] = attendee["phoneNumber"]
    if guests:
        responses["guests"] = list(guests)
    responses.update(custom)
    return responses


def seated_attendee_output(seat: SeatRecord) -> dict[str, Any]:
    """SeatedAttendee as OutputBookingsService_2024_08_13.getOutputSeatedBooking shapes it."""
    attendee = seat.attendee
    # "as of now email is not returned for privacy": Cal deletes it from the seat's responses (not the attendee).
    responses = {key: value for key, value in seat.responses.items() if key != "email"}
    # seatedBookingMetadataSchema is `catchall(z.string())` read with safeParse: any non-string value empties it.
    metadata = dict(seat.metadata) if all(isinstance(v, str) for v in seat.metadata.values()) else {}
    return {
        "name": attendee.get("name", ""),
        "email": attendee.get("email", ""),
        "timeZone": attendee.get("timeZone", ""),
        "language": attendee.get("language", "en"),
        "absent": seat.absent,
        "seatUid": seat.uid,
        "bookingFieldsResponses": responses,
        "metadata": metadata,
    }


def seated_booking_output(
    booking: BookingRecord,
    event_type: CalEventType,
    host: CalHost,
    rescheduled_by: str | None,
    *,
    show_attendees: bool,
    seat_uid: str | None = None,
) -> dict[str, Any]:
    """GetSeatedBookingOutput_2024_08_13, or CreateSeatedBookingOutput_2024_08_13 when `seat_uid` is given.

    Shaped like getOutputSeatedBooking: no top-level `metadata`, `bookingFieldsResponses` or `cancelledByEmail`;
    each attendee carries its `seatUid` and its own seat's responses and metadata. Attendees are listed only to the
    host (any API key here) or when the event type shows attendees, and a cancelled booking lists none (Cal deletes
    the attendees of a cancelled seated booking).
    """
    location, _, _ = location_of(booking.location_input, booking.uid)
    output = _output_head(booking, host)
    if booking.rescheduled_from_uid:
        output["rescheduledFromUid"] = booking.rescheduled_from_uid
    listed = show_attendees and booking.status != "cancelled"
    output.update(
        {
            "start": iso_ms_z(booking.start),
            "end": iso_ms_z(booking.end),
            "duration": booking.duration,
            "eventType": {"id": event_type.id, "slug": event_type.slug},
            "eventTypeId": event_type.id,
            "attendees": [seated_attendee_output(seat) for seat in booking.seats] if listed else [],
            "location": location,
            "meetingUrl": location,
            "absentHost": False,
            "createdAt": iso_ms_z(booking.created_at),
            "updatedAt": iso_ms_z(booking.updated_at),
            "icsUid": booking.ical_uid,
        }
    )
    if booking.rescheduled_to_uid:
        output["rescheduledToUid"] = booking.rescheduled_to_uid
        if rescheduled_by:
            output["rescheduledByEmail"] = rescheduled_by
    if seat_uid is not None:
        output["seatUid"] = seat_uid
    return output
