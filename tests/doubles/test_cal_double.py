"""The Cal.com double behaves like Cal.com API v2 for a plain `requests` client, and checks the contract."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.cal_double import (
    PAST_MESSAGE,
    SEATS_FULL_MESSAGE,
    SLOT_TAKEN_MESSAGE,
    CalDouble,
    CalDoubleError,
    CalEventType,
)

CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "calcom-api-v2.subset.json"
BUSINESS_TZ = "Europe/Rome"  # +02:00 in September
NOW = datetime(2050, 9, 1, 8, 0, tzinfo=UTC)  # a Thursday
MONDAY = "2050-09-05"
CONSULT = CalEventType(id=7, slug="consult", title="Consultation", length_minutes=60)
INTRO = CalEventType(id=8, slug="intro", title="Intro call", length_minutes=30)
API_KEY = "cal_test_0123456789"
BOOKINGS = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {API_KEY}"}
SLOTS = {"cal-api-version": "2024-09-04"}
SECRET = "whsec_cal_double_test"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Receiver:
    """A webhook subscriber on loopback that keeps raw bodies, as a signature check needs them."""

    url: str
    delay_seconds: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        return


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def cal(clock: FakeClock) -> Iterator[CalDouble]:
    double = CalDouble({CONSULT.id: CONSULT, INTRO.id: INTRO}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT)
    double.start()
    yield double
    double.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        time.sleep(box.delay_seconds)
        box.received.append((dict(request.headers), request.get_data()))
        return Response("ok")(environ, start_response)

    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.port}/webhooks/cal"
    yield box
    server.shutdown()
    server.server_close()


def booking_body(start: str = f"{MONDAY}T07:00:00Z", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "start": start,
        "eventTypeId": CONSULT.id,
        "attendee": {"name": "Ada Lovelace", "email": "ada@example.com", "timeZone": BUSINESS_TZ},
        "metadata": {"hold_id": "hold_123", "stripe_pi": "pi_123"},
    }
    body.update(overrides)
    return body


def create(cal: CalDouble, http: requests.Session, **overrides: Any) -> dict[str, Any]:
    response = http.post(f"{cal.url}/v2/bookings", json=booking_body(**overrides), headers=BOOKINGS)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def slot_starts(cal: CalDouble, http: requests.Session, **params: str) -> dict[str, list[str]]:
    query = {"eventTypeId": str(CONSULT.id), "start": MONDAY, "end": MONDAY, "timeZone": BUSINESS_TZ} | params
    response = http.get(f"{cal.url}/v2/slots", params=query, headers=SLOTS)
    assert response.status_code == 200, response.text
    return {day: [item["start"] for item in items] for day, items in response.json()["data"].items()}


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------------- slots
def test_slots_follow_the_weekly_schedule_in_the_requested_time_zone(cal: CalDouble, http: requests.Session) -> None:
    # Given the default Mon-Fri 09:00-17:00 Rome schedule and a 60-minute event type
    # When a client asks for Monday and Tuesday in Europe/Rome (date-only bounds)
    response = http.get(
        f"{cal.url}/v2/slots",
        params={"eventTypeId": "7", "start": MONDAY, "end": "2050-09-06", "timeZone": BUSINESS_TZ},
        headers=SLOTS,
    )

    # Then both days are keyed by local date with hourly starts carrying the +02:00 offset, as in the notes
    assert response.status_code == 200
    data = response.json()["data"]
    assert list(data) == [MONDAY, "2050-09-06"]
    assert data[MONDAY][0] == {"start": "2050-09-05T09:00:00.000+02:00"}
    assert [item["start"][11:16] for item in data[MONDAY]] == [f"{hour:02d}:00" for hour in range(9, 17)]
    assert cal.contract_violations == []


def test_slots_without_time_zone_are_utc_and_range_format_adds_the_end(cal: CalDouble, http: requests.Session) -> None:
    # Given no timeZone parameter
    # When the range format is requested
    response = http.get(
        f"{cal.url}/v2/slots",
        params={"eventTypeId": "7", "start": MONDAY, "end": MONDAY, "format": "range"},
        headers=SLOTS,
    )

    # Then items are {start, end} in UTC with milliseconds and a Z suffix
    first = response.json()["data"][MONDAY][0]
    assert first == {"start": "2050-09-05T07:00:00.000Z", "end": "2050-09-05T08:00:00.000Z"}
    assert cal.contract_violations == []


def test_slots_leave_out_the_past_and_booked_times(cal: CalDouble, http: requests.Session, clock: FakeClock) -> None:
    # Given it is Monday 11:30 in Rome and someone else booked 13:00 Rome outside our flow
    clock.now = datetime(2050, 9, 5, 9, 30, tzinfo=UTC)
    cal.take_slot(CONSULT.id, "2050-09-05T11:00:00Z")

    # When the day's slots are listed
    starts = slot_starts(cal, http)[MONDAY]

    # Then slots that already began and the taken one are missing
    assert starts[0] == "2050-09-05T12:00:00.000+02:00"
    assert "2050-09-05T13:00:00.000+02:00" not in starts
    assert len(starts) == 4  # 12, 14, 15, 16


def test_slots_of_a_day_off_are_an_empty_object_and_unknown_event_types_are_404(
    cal: CalDouble, http: requests.Session
) -> None:
    # Given Saturday is not a working day
    # When Saturday is queried, and then an event type Cal does not know
    saturday = http.get(
        f"{cal.url}/v2/slots", params={"eventTypeId": "7", "start": "2050-09-10", "end": "2050-09-10"}, headers=SLOTS
    )
    unknown = http.get(
        f"{cal.url}/v2/slots", params={"eventTypeId": "999", "start": MONDAY, "end": MONDAY}, headers=SLOTS
    )

    # Then the first is an empty data object and the second Cal's 404 envelope
    assert saturday.json() == {"status": "success", "data": {}}
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NotFoundException"
    assert unknown.json()["error"]["message"] == "Event Type not found"


# ---------------------------------------------------------------------------------------------- create
def test_create_booking_answers_201_with_every_required_booking_output_field(
    cal: CalDouble, http: requests.Session
) -> None:
    # Given a free Monday 09:00 Rome slot
    # When our client books it with metadata and a field Cal does not know
    response = http.post(f"{cal.url}/v2/bookings", json=booking_body(unknownField="dropped"), headers=BOOKINGS)

    # Then Cal answers 201 with a BookingOutput holding every required field, the metadata echoed
    assert response.status_code == 201
    data = response.json()["data"]
    required = json.loads(CONTRACT.read_text())["components"]["schemas"]["BookingOutput_2024_08_13"]["required"]
    assert set(required) <= set(data)
    assert data["status"] == "accepted"
    assert (data["start"], data["end"], data["duration"]) == (
        "2050-09-05T07:00:00.000Z",
        "2050-09-05T08:00:00.000Z",
        60,
    )
    assert data["eventType"] == {"id": 7, "slug": "consult"}
    assert data["metadata"] == {"hold_id": "hold_123", "stripe_pi": "pi_123"}
    assert data["attendees"][0]["email"] == "ada@example.com"
    assert "unknownField" not in json.dumps(data)
    assert response.headers["X-Request-Id"]
    assert cal.contract_violations == []


def test_a_taken_slot_is_a_400_with_cal_exact_message(cal: CalDouble, http: requests.Session) -> None:
    # Given Monday 09:00 Rome is booked already, and Saturday is outside the schedule
    create(cal, http)

    # When the same slot, and a Saturday slot, are booked
    taken = http.post(f"{cal.url}/v2/bookings", json=booking_body(), headers=BOOKINGS)
    day_off = http.post(f"{cal.url}/v2/bookings", json=booking_body(start="2050-09-10T08:00:00Z"), headers=BOOKINGS)

    # Then both get Cal's 400 "not available" error in the error envelope
    for response in (taken, day_off):
        assert response.status_code == 400
        body = response.json()
        assert body["status"] == "error"
        assert body["path"] == "/v2/bookings"
        assert body["error"]["code"] == "BadRequestException"
        assert body["error"]["message"] == SLOT_TAKEN_MESSAGE
        assert response.headers["X-Request-Id"]


def test_booking_in_the_past_is_a_400(cal: CalDouble, http: requests.Session) -> None:
    # Given the clock says Thursday 1 September
    # When a Wednesday slot before it is booked
    response = http.post(f"{cal.url}/v2/bookings", json=booking_body(start="2050-08-31T07:00:00Z"), headers=BOOKINGS)

    # Then Cal refuses it as in the past
    assert response.status_code == 400
    assert response.json()["error"]["message"] == PAST_MESSAGE


def test_invalid_metadata_is_rejected_like_cal_validator_and_scalars_are_echoed(
    cal: CalDouble, http: requests.Session
) -> None:
    # Given metadata with 51 keys, and metadata holding a nested object
    too_many = {f"k{i}": "v" for i in range(51)}
    nested = {"hold": {"id": 1}}

    # When both are sent, then metadata with a number and a boolean
    responses = [
        http.post(f"{cal.url}/v2/bookings", json=booking_body(metadata=metadata), headers=BOOKINGS)
        for metadata in (too_many, nested)
    ]
    accepted = create(cal, http, metadata={"amount": 5000, "deposit": True, "k" * 40: "x" * 500})

    # Then the first two fail validation with Cal's metadata message and the scalars come back unchanged
    for response in responses:
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["message"] == "Bad Request Exception"
        assert error["details"]["errors"][0]["property"] == "metadata"
        assert "at most 50 keys" in error["details"]["errors"][0]["constraints"]["validateMetadata"]
    assert accepted["metadata"] == {"amount": 5000, "deposit": True, "k" * 40: "x" * 500}


def test_attendee_needs_an_email_or_a_phone_number(cal: CalDouble, http: requests.Session) -> None:
    # Given one attendee with only a phone number and one with neither contact
    phone_only = {"name": "Bob", "phoneNumber": "+393331234567", "timeZone": BUSINESS_TZ}
    no_contact = {"name": "Eve", "timeZone": BUSINESS_TZ}

    # When both are booked
    booked = create(cal, http, attendee=phone_only)
    refused = http.post(f"{cal.url}/v2/bookings", json=booking_body(attendee=no_contact), headers=BOOKINGS)

    # Then the phone-only attendee gets Cal's placeholder address and the other a validation error
    assert booked["attendees"][0]["email"] == "393331234567@sms.cal.com"
    assert booked["attendees"][0]["phoneNumber"] == "+393331234567"
    child = refused.json()["error"]["details"]["errors"][0]["children"][0]
    assert child["constraints"] == {
        "requireEmailOrPhone": "Attendee must have at least one contact method (email or phone number)"
    }


def test_length_in_minutes_is_refused_for_a_single_length_event_type(cal: CalDouble, http: requests.Session) -> None:
    # Given the consult event type has a single length
    # When lengthInMinutes is sent anyway (even equal to the length)
    response = http.post(f"{cal.url}/v2/bookings", json=booking_body(lengthInMinutes=60), headers=BOOKINGS)

    # Then Cal refuses it
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Can't specify 'lengthInMinutes'")


# ------------------------------------------------------------------------------------------ headers, auth
def test_missing_or_wrong_api_version_is_a_400_and_a_recorded_violation(cal: CalDouble, http: requests.Session) -> None:
    # Given a create without cal-api-version and a slots call with the bookings version
    # When both are sent
    missing = http.post(f"{cal.url}/v2/bookings", json=booking_body(), headers={"Authorization": f"Bearer {API_KEY}"})
    wrong = http.get(
        f"{cal.url}/v2/slots",
        params={"eventTypeId": "7", "start": MONDAY, "end": MONDAY},
        headers={"cal-api-version": "2024-08-13"},
    )

    # Then both answer 400 and each is recorded against its operation
    assert (missing.status_code, wrong.status_code) == (400, 400)
    assert [violation.operation for violation in cal.contract_violations] == [
        "BookingsController_2024_08_13_createBooking",
        "SlotsController_2024_09_04_getAvailableSlots",
    ]
    assert "got None" in cal.contract_violations[0].problem
    assert "'2024-09-04'" in cal.contract_violations[1].problem
    assert cal.bookings() == []


def test_bookings_routes_need_a_cal_api_key_while_slots_and_get_one_do_not(
    cal: CalDouble, http: requests.Session
) -> None:
    # Given a booking exists
    uid = create(cal, http)["uid"]
    no_auth = {"cal-api-version": "2024-08-13"}

    # When create, list and cancel are called without a key, with a non-Cal token, and one booking is read anonymously
    anonymous_create = http.post(
        f"{cal.url}/v2/bookings", json=booking_body(start=f"{MONDAY}T08:00:00Z"), headers=no_auth
    )
    anonymous_list = http.get(f"{cal.url}/v2/bookings", headers=no_auth)
    anonymous_cancel = http.post(f"{cal.url}/v2/bookings/{uid}/cancel", json={}, headers=no_auth)
    bad_token = http.get(f"{cal.url}/v2/bookings", headers=no_auth | {"Authorization": "Bearer not-a-cal-key"})
    read_one = http.get(f"{cal.url}/v2/bookings/{uid}", headers=no_auth)

    # Then the first four are 401 in Cal's envelope and reading one booking works
    for response in (anonymous_create, anonymous_list, anonymous_cancel, bad_token):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UnauthorizedException"
    assert read_one.status_code == 200
    assert read_one.json()["data"]["uid"] == uid


# ---------------------------------------------------------------------------------------- cancel, reschedule
def test_cancel_frees_the_slot(cal: CalDouble, http: requests.Session) -> None:
    # Given Monday 09:00 Rome is booked
    uid = create(cal, http)["uid"]
    assert "2050-09-05T09:00:00.000+02:00" not in slot_starts(cal, http)[MONDAY]

    # When it is cancelled with a reason
    response = http.post(
        f"{cal.url}/v2/bookings/{uid}/cancel", json={"cancellationReason": "Payment failed"}, headers=BOOKINGS
    )

    # Then it comes back cancelled (200), the slot is offered again, and it can be booked again
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "cancelled"
    assert response.json()["data"]["cancellationReason"] == "Payment failed"
    assert "2050-09-05T09:00:00.000+02:00" in slot_starts(cal, http)[MONDAY]
    assert create(cal, http)["uid"] != uid
    assert cal.contract_violations == []


def test_reschedule_moves_the_booking_to_a_new_uid(cal: CalDouble, http: requests.Session) -> None:
    # Given Monday 09:00 Rome is booked and 12:00 Rome is taken by someone else
    old = create(cal, http)
    cal.take_slot(CONSULT.id, "2050-09-05T10:00:00Z")

    # When it is moved to 11:00 Rome, then the old uid and a taken target are tried again
    moved = http.post(
        f"{cal.url}/v2/bookings/{old['uid']}/reschedule",
        json={"start": "2050-09-05T09:00:00Z", "reschedulingReason": "Clash", "rescheduledBy": "ada@example.com"},
        headers=BOOKINGS,
    )
    new = moved.json()["data"]
    to_taken = http.post(
        f"{cal.url}/v2/bookings/{new['uid']}/reschedule", json={"start": "2050-09-05T10:00:00Z"}, headers=BOOKINGS
    )
    from_old = http.post(
        f"{cal.url}/v2/bookings/{old['uid']}/reschedule", json={"start": "2050-09-05T13:00:00Z"}, headers=BOOKINGS
    )
    old_now = http.get(f"{cal.url}/v2/bookings/{old['uid']}", headers=BOOKINGS).json()["data"]

    # Then a new booking (201, new uid) replaces the old one, which is cancelled and points at it
    assert moved.status_code == 201
    assert new["uid"] != old["uid"]
    assert new["rescheduledFromUid"] == old["uid"]
    assert new["metadata"] == old["metadata"]
    assert old_now["status"] == "cancelled"
    assert old_now["rescheduledToUid"] == new["uid"]
    assert to_taken.status_code == 400
    assert to_taken.json()["error"]["message"] == SLOT_TAKEN_MESSAGE
    assert from_old.status_code == 400
    assert "rescheduled already" in from_old.json()["error"]["message"]
    starts = slot_starts(cal, http)[MONDAY]
    assert "2050-09-05T09:00:00.000+02:00" in starts
    assert "2050-09-05T11:00:00.000+02:00" not in starts
    assert cal.contract_violations == []


# ------------------------------------------------------------------------------------------------ listing
def test_list_filters_and_paginates(cal: CalDouble, http: requests.Session, clock: FakeClock) -> None:
    # Given three bookings: two for Ada (one cancelled), one intro call for Grace
    first = create(cal, http)
    create(cal, http, start=f"{MONDAY}T09:00:00Z")
    create(
        cal,
        http,
        start=f"{MONDAY}T12:00:00Z",
        eventTypeId=INTRO.id,
        attendee={"name": "Grace Hopper", "email": "grace@example.com", "timeZone": "America/New_York"},
    )
    http.post(f"{cal.url}/v2/bookings/{first['uid']}/cancel", json={}, headers=BOOKINGS)

    def listed(**params: str | int) -> dict[str, Any]:
        response = http.get(f"{cal.url}/v2/bookings", params=params, headers=BOOKINGS)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    # When the list is filtered in several ways
    upcoming = listed(status="upcoming")
    cancelled = listed(status="cancelled")
    both = listed(status="upcoming,cancelled")
    by_email = listed(attendeeEmail="GRACE@example.com")
    by_type = listed(eventTypeId=str(INTRO.id))
    by_window = listed(afterStart=f"{MONDAY}T08:30:00Z", beforeEnd=f"{MONDAY}T10:00:00Z")
    page = listed(take=1, skip=1)

    # Then each filter applies and the pagination block describes the page
    assert len(upcoming["data"]) == 2
    assert [b["uid"] for b in cancelled["data"]] == [first["uid"]]
    assert len(both["data"]) == 3
    assert [b["attendees"][0]["name"] for b in by_email["data"]] == ["Grace Hopper"]
    assert [b["eventTypeId"] for b in by_type["data"]] == [INTRO.id]
    assert [b["start"] for b in by_window["data"]] == ["2050-09-05T09:00:00.000Z"]
    assert page["pagination"] == {
        "totalItems": 3,
        "remainingItems": 1,
        "returnedItems": 1,
        "itemsPerPage": 1,
        "currentPage": 2,
        "totalPages": 3,
        "hasNextPage": True,
        "hasPreviousPage": True,
    }
    # And the comma-separated status Cal documents is not counted as a contract violation
    assert cal.contract_violations == []
    # And after the meetings end they are past
    clock.now = datetime(2050, 9, 6, tzinfo=UTC)
    assert len(listed(status="past")["data"]) == 2


# ----------------------------------------------------------------------------------------------- webhooks
def test_webhooks_are_signed_sent_once_and_carry_our_metadata(
    cal: CalDouble, http: requests.Session, receiver: Receiver
) -> None:
    # Given a subscriber with a secret
    cal.add_webhook_subscriber(receiver.url, SECRET)

    # When a booking is created, rescheduled and cancelled through the API
    created = create(cal, http)
    moved = http.post(
        f"{cal.url}/v2/bookings/{created['uid']}/reschedule", json={"start": "2050-09-05T09:00:00Z"}, headers=BOOKINGS
    ).json()["data"]
    http.post(
        f"{cal.url}/v2/bookings/{moved['uid']}/cancel", json={"cancellationReason": "No deposit"}, headers=BOOKINGS
    )
    deliveries = cal.wait_for_deliveries(timeout=5)

    # Then one delivery per event reached the subscriber, each verifiable with the secret and not with another
    assert [d.trigger for d in deliveries] == ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"]
    assert all(d.ok for d in deliveries)
    assert len(receiver.received) == 3
    for headers, body in receiver.received:
        assert headers["X-Cal-Signature-256"] == signature(SECRET, body)
        assert headers["X-Cal-Signature-256"] != signature("some-other-secret", body)
        assert headers["X-Cal-Webhook-Version"] == "2021-10-20"
    created_event, rescheduled_event, cancelled_event = (json.loads(body) for _, body in receiver.received)
    assert created_event["triggerEvent"] == "BOOKING_CREATED"
    assert created_event["payload"]["uid"] == created["uid"]
    assert created_event["payload"]["bookingId"] == created["id"]
    assert created_event["payload"]["status"] == "ACCEPTED"
    assert created_event["payload"]["startTime"] == "2050-09-05T07:00:00Z"
    assert created_event["payload"]["metadata"]["hold_id"] == "hold_123"
    assert rescheduled_event["payload"]["uid"] == moved["uid"]
    assert rescheduled_event["payload"]["rescheduleUid"] == created["uid"]
    assert rescheduled_event["payload"]["metadata"]["stripe_pi"] == "pi_123"
    assert cancelled_event["payload"]["status"] == "CANCELLED"
    assert cancelled_event["payload"]["cancellationReason"] == "No deposit"
    assert cancelled_event["payload"]["metadata"]["hold_id"] == "hold_123"


def test_a_slow_subscriber_does_not_delay_the_api_response(
    cal: CalDouble, http: requests.Session, receiver: Receiver
) -> None:
    # Given a subscriber that takes 0.6 s to answer
    receiver.delay_seconds = 0.6
    cal.add_webhook_subscriber(receiver.url, SECRET)

    # When a booking is created
    started = time.monotonic()
    create(cal, http)
    elapsed = time.monotonic() - started

    # Then the API answered before the webhook was delivered
    assert elapsed < 0.5
    assert cal.wait_for_deliveries(timeout=5)[0].status == 200


def test_manual_mode_keeps_signed_webhooks_and_builds_any_event(clock: FakeClock, http: requests.Session) -> None:
    # Given a double that does not send webhooks, with a subscriber
    double = CalDouble({CONSULT.id: CONSULT}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT, send_webhooks=False)
    double.add_webhook_subscriber("http://127.0.0.1:9/never-called", SECRET)
    with double:
        # When a booking is created and a host-side no-show, meeting end and rejection are built or emitted
        uid = create(double, http)["uid"]
        pending = double.pending_webhooks()
        ended_body, ended_headers = double.build_webhook("MEETING_ENDED", uid)
        double.emit_no_show_updated(uid)
        double.emit_booking_rejected(uid, reason="Host unavailable")

    # Then the created event waits unsent with a valid signature, and the other bodies have their documented shapes
    assert [w.trigger for w in pending] == ["BOOKING_CREATED"]
    assert pending[0].headers["X-Cal-Signature-256"] == signature(SECRET, pending[0].body)
    assert double.webhook_deliveries == []
    ended = json.loads(ended_body)
    assert "payload" not in ended and ended["triggerEvent"] == "MEETING_ENDED" and ended["uid"] == uid
    assert ended_headers["X-Cal-Signature-256"] == signature(SECRET, ended_body)
    triggers = [w.trigger for w in double.pending_webhooks()]
    assert triggers == ["BOOKING_CREATED", "BOOKING_NO_SHOW_UPDATED", "BOOKING_REJECTED"]
    no_show, rejected = (w.json()["payload"] for w in double.pending_webhooks()[1:])
    assert no_show["attendees"] == [{"email": "ada@example.com", "noShow": True}]
    assert (rejected["status"], rejected["rejectionReason"]) == ("REJECTED", "Host unavailable")


def test_host_side_controls_emit_webhooks_like_the_cal_ui(cal: CalDouble, http: requests.Session) -> None:
    # Given a manual subscriber and a booking
    cal.send_webhooks = False
    cal.add_webhook_subscriber("http://127.0.0.1:9/unused", SECRET)
    uid = create(cal, http)["uid"]

    # When the attendee reschedules in Cal's UI, then the host cancels the new booking
    moved = cal.reschedule_booking(uid, "2050-09-05T12:00:00Z", by="ada@example.com")
    cal.cancel_booking(moved["uid"], reason="Sick", by="host@example.com")

    # Then the webhooks say so, and the controls refuse what Cal would refuse
    events = [w.json() for w in cal.pending_webhooks()]
    assert [e["triggerEvent"] for e in events] == ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"]
    assert events[1]["payload"]["rescheduledBy"] == "ada@example.com"
    assert events[2]["payload"]["cancelledBy"] == "host@example.com"
    with pytest.raises(CalDoubleError):
        cal.cancel_booking(moved["uid"])


# ------------------------------------------------------------------------------------------ failure modes
def test_down_and_connection_reset_modes(cal: CalDouble, http: requests.Session) -> None:
    # Given Cal.com is down
    cal.set_mode("down")
    # When a call is made, Then it is a 503 in the error envelope
    down = http.get(f"{cal.url}/v2/slots", params={"eventTypeId": "7", "start": MONDAY, "end": MONDAY}, headers=SLOTS)
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "ServiceUnavailableException"

    # Given the connection is reset instead
    cal.set_mode("connection_reset")
    # When a call is made, Then the client sees a connection error and the log records status 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{cal.url}/v2/bookings", headers=BOOKINGS, timeout=2)
    assert cal.request_log[-1].status == 0

    # Given it is back to normal, Then calls work again
    cal.set_mode("normal")
    assert http.get(f"{cal.url}/v2/bookings", headers=BOOKINGS).status_code == 200


def test_slow_mode_delays_answers(cal: CalDouble, http: requests.Session) -> None:
    # Given Cal.com answers after 0.3 s
    cal.set_mode("slow", 0.3)

    # When a call is made
    started = time.monotonic()
    response = http.get(f"{cal.url}/v2/bookings", headers=BOOKINGS)

    # Then it succeeds, late
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fail_next_fails_calls_before_or_after_they_take_effect(cal: CalDouble, http: requests.Session) -> None:
    # Given the next two calls fail with 502
    cal.fail_next(2, 502)

    # When a booking is tried three times
    statuses = [
        http.post(f"{cal.url}/v2/bookings", json=booking_body(), headers=BOOKINGS).status_code for _ in range(3)
    ]

    # Then the third one goes through
    assert statuses == [502, 502, 201]

    # Given the next call is applied but its answer is lost
    cal.fail_next(1, 500, after_processing=True)
    lost = http.post(f"{cal.url}/v2/bookings", json=booking_body(start=f"{MONDAY}T08:00:00Z"), headers=BOOKINGS)

    # Then the caller sees a 500 while Cal.com holds the booking
    assert lost.status_code == 500
    assert lost.json()["error"]["code"] == "InternalServerErrorException"
    assert len(cal.bookings()) == 2


def test_rate_limit_answers_429_with_throttler_headers(clock: FakeClock, http: requests.Session) -> None:
    # Given a limit of three calls per minute per API key
    with CalDouble(
        {CONSULT.id: CONSULT}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT, rate_limit_per_minute=3
    ) as double:
        # When four calls are made with one key, one with another key, and one after a minute
        answers = [http.get(f"{double.url}/v2/bookings", headers=BOOKINGS) for _ in range(4)]
        other_key = http.get(f"{double.url}/v2/bookings", headers=BOOKINGS | {"Authorization": "Bearer cal_other"})
        clock.advance(seconds=61)
        later = http.get(f"{double.url}/v2/bookings", headers=BOOKINGS)

    # Then the fourth is a ThrottlerException with the X-RateLimit headers, per key, until the window passes
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining-Default"] for a in answers] == ["2", "1", "0", "0"]
    assert [a.headers["X-RateLimit-Reset-Default"] for a in answers[:3]] == ["60", "60", "60"]
    throttled = answers[3]
    assert throttled.headers["X-RateLimit-Limit-Default"] == "3"
    assert other_key.status_code == 200
    assert later.status_code == 200


def test_throttled_call_is_cals_429_envelope_with_an_honest_retry_after(
    clock: FakeClock, http: requests.Session
) -> None:
    # Given a key that used its one call of the minute
    with CalDouble(
        {CONSULT.id: CONSULT}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT, rate_limit_per_minute=1
    ) as double:
        url = f"{double.url}/v2/slots?eventTypeId={CONSULT.id}&start={MONDAY}&end={MONDAY}"
        assert http.get(f"{double.url}/v2/bookings", headers=BOOKINGS).status_code == 200
        # When it calls again at once, 20 s later, and once the block is over
        clock.advance(seconds=1)
        first = http.get(f"{double.url}/v2/bookings", headers=BOOKINGS)
        clock.advance(seconds=20)
        second = http.get(url, headers=SLOTS | {"Authorization": BOOKINGS["Authorization"]})
        clock.advance(seconds=40)
        let_through = http.get(f"{double.url}/v2/bookings", headers=BOOKINGS)
        violations = double.contract_violations

    # Then each refusal is Nest's ThrottlerException in Cal's error envelope
    assert (first.status_code, second.status_code) == (429, 429)
    body = first.json()
    assert body["status"] == "error" and body["path"] == "/v2/bookings"
    assert body["error"] == {
        "code": "ThrottlerException",
        "message": "CustomThrottlerGuard - Too many requests. Please try again later.",
        "details": "CustomThrottlerGuard - Too many requests. Please try again later.",
    }
    # And Retry-After counts down to the end of the 60 s block that the breach started, as Reset does
    assert (first.headers["Retry-After"], second.headers["Retry-After"]) == ("60", "40")
    assert second.headers["X-RateLimit-Reset-Default"] == "40"
    assert second.headers["X-RateLimit-Remaining-Default"] == "0"
    assert "Retry-After" not in let_through.headers and let_through.status_code == 200
    assert violations == []


# ---------------------------------------------------------------------------------------------- contract
def test_contract_violations_catch_an_invalid_request_and_strict_mode_refuses_it(
    clock: FakeClock, http: requests.Session
) -> None:
    # Given `routing` must be an object per the contract, which the double's own rules do not look at
    body = booking_body(routing="from-the-form")
    lenient = CalDouble({CONSULT.id: CONSULT}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT)
    strict = CalDouble({CONSULT.id: CONSULT}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT, strict_contract=True)

    # When it is sent to a lenient and to a strict double
    with lenient, strict:
        lenient_answer = http.post(f"{lenient.url}/v2/bookings", json=body, headers=BOOKINGS)
        strict_answer = http.post(f"{strict.url}/v2/bookings", json=body, headers=BOOKINGS)

    # Then both record the violation; only the strict one refuses the request
    assert lenient_answer.status_code == 201
    assert strict_answer.status_code == 400
    assert strict_answer.json()["error"]["message"] == "Request does not match the Cal.com contract"
    for double in (lenient, strict):
        (violation,) = double.contract_violations
        assert violation.operation == "BookingsController_2024_08_13_createBooking"
        assert violation.problem.startswith("request: InvalidRequestBody")


def test_calls_outside_the_vendored_contract_are_404_and_recorded(cal: CalDouble, http: requests.Session) -> None:
    # Given confirm is not one of the vendored operations
    # When our client calls it
    response = http.post(f"{cal.url}/v2/bookings/abc/confirm", headers=BOOKINGS)

    # Then it is Nest's 404 and a violation
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Cannot POST /v2/bookings/abc/confirm"
    assert cal.contract_violations[0].problem.endswith("is not an operation of the vendored contract")


def test_vendored_contract_is_a_valid_openapi_subset() -> None:
    # Given the committed subset
    from openapi_spec_validator import validate

    document = json.loads(CONTRACT.read_text())

    # Then it validates and says where it came from
    validate(document)
    assert len(document["x-vendored-from"]["sha256"]) == 64
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert operations == set(document["x-vendored-from"]["operations"])


# ------------------------------------------------------------------------------------- log and HTTP controls
def test_request_log_and_http_controls_for_the_local_runner(cal: CalDouble, http: requests.Session) -> None:
    # Given the local runner drives the double over HTTP only
    control = f"{cal.url}/_double"

    # When it takes a slot, injects a failure, cancels as the host, and reads the log and violations
    taken = http.post(f"{control}/take-slot", json={"eventTypeId": "7", "start": "2050-09-05T07:00:00Z"}).json()
    http.post(f"{control}/fail-next", json={"count": 1, "status": 503})
    failed = http.get(f"{cal.url}/v2/bookings", params={"take": 5}, headers=BOOKINGS)
    cancelled = http.post(f"{control}/bookings/{taken['uid']}/cancel", json={"reason": "Host away"}).json()
    log = http.get(f"{control}/requests").json()
    violations = http.get(f"{control}/contract-violations").json()
    http.post(f"{control}/reset")

    # Then each control acted and the log holds the API call with its subset of headers
    assert taken["status"] == "accepted"
    assert failed.status_code == 503
    assert cancelled["status"] == "cancelled" and cancelled["cancellationReason"] == "Host away"
    assert log == [
        {
            "method": "GET",
            "path": "/v2/bookings",
            "query": {"take": "5"},
            "headers": {
                "cal-api-version": "2024-08-13",
                "authorization": f"Bearer {API_KEY}",
                "user-agent": http.headers["User-Agent"],
            },
            "json": None,
            "status": 503,
        }
    ]
    assert violations == []
    assert cal.bookings() == [] and cal.request_log == []


# ------------------------------------------------------------------------------- seats, confirmation, lost webhooks
CLASS = CalEventType(id=11, slug="class", title="Group class", length_minutes=60, seats_per_time_slot=2)
REQUEST = CalEventType(id=12, slug="request", title="On request", length_minutes=60, requires_confirmation=True)
SEATED_START = f"{MONDAY}T07:00:00Z"  # 09:00 in Rome


@pytest.fixture
def strict(clock: FakeClock) -> Iterator[CalDouble]:
    """A double with a seated and a requires-confirmation event type that refuses any request off the contract."""
    double = CalDouble(
        {CONSULT.id: CONSULT, CLASS.id: CLASS, REQUEST.id: REQUEST},
        BUSINESS_TZ,
        clock=clock,
        contract_path=CONTRACT,
        strict_contract=True,
        send_webhooks=False,
    )
    double.start()
    requests.post(
        f"{double.url}/_double/webhooks/subscribers", json={"url": "http://127.0.0.1:9/unused", "secret": SECRET}
    )
    yield double
    assert double.contract_violations == []
    double.stop()


def person(name: str) -> dict[str, str]:
    return {"name": name.title(), "email": f"{name}@example.com", "timeZone": BUSINESS_TZ}


def book(double: CalDouble, http: requests.Session, name: str, event_type: int = CLASS.id) -> requests.Response:
    body = booking_body(
        start=SEATED_START, eventTypeId=event_type, attendee=person(name), metadata={"booking_id": name}
    )
    return http.post(f"{double.url}/v2/bookings", json=body, headers=BOOKINGS)


def pending_events(double: CalDouble, http: requests.Session) -> list[dict[str, Any]]:
    """The signed webhooks the manual-mode double holds, as the local runner reads them."""
    return [json.loads(item["body"]) for item in http.get(f"{double.url}/_double/webhooks/pending").json()]


def seated_slots(double: CalDouble, http: requests.Session, event_type: int = CLASS.id) -> list[dict[str, Any]]:
    query = {"eventTypeId": str(event_type), "start": MONDAY, "end": MONDAY, "format": "range"}
    response = http.get(f"{double.url}/v2/slots", params=query, headers=SLOTS)
    assert response.status_code == 200, response.text
    return list(response.json()["data"].get(MONDAY, []))


def test_a_seated_event_type_seats_attendees_in_one_booking_until_full(
    strict: CalDouble, http: requests.Session
) -> None:
    # Given a group class with two seats per slot
    # When Ada, then Grace, book Monday 09:00, then Alan, then Ada again
    ada, grace = book(strict, http, "ada"), book(strict, http, "grace")
    alan, ada_again = book(strict, http, "alan"), book(strict, http, "ada")

    # Then Ada and Grace share one booking (one uid), each in a seat of her own, with her own metadata
    assert (ada.status_code, grace.status_code) == (201, 201)
    first, second = ada.json()["data"], grace.json()["data"]
    assert first["uid"] == second["uid"] and first["id"] == second["id"]
    assert first["seatUid"] != second["seatUid"]
    assert "metadata" not in second and "bookingFieldsResponses" not in second
    seats = {attendee["seatUid"]: attendee for attendee in second["attendees"]}
    assert set(seats) == {first["seatUid"], second["seatUid"]}
    assert seats[second["seatUid"]]["metadata"] == {"booking_id": "grace"}
    assert seats[second["seatUid"]]["bookingFieldsResponses"] == {"name": "Grace"}
    assert seats[first["seatUid"]]["email"] == "ada@example.com"
    # And the third attendee finds the seats full, and Ada cannot take a second seat: Cal.com's 409s
    assert alan.status_code == 409
    assert alan.json()["error"] == {
        "code": "ConflictException",
        "message": SEATS_FULL_MESSAGE,
        "details": {"message": SEATS_FULL_MESSAGE, "error": "Conflict", "statusCode": 409},
    }
    assert ada_again.status_code == 409
    assert ada_again.json()["error"]["message"] == "already_signed_up_for_this_booking_error"


def test_a_seated_slot_stays_offered_with_its_seat_counts_until_full(strict: CalDouble, http: requests.Session) -> None:
    # Given no booking yet, the slot is offered with all its seats
    assert seated_slots(strict, http)[0] == {
        "start": "2050-09-05T07:00:00.000Z",
        "end": "2050-09-05T08:00:00.000Z",
        "seatsBooked": 0,
        "seatsRemaining": 2,
        "seatsTotal": 2,
    }
    # When one seat is taken / Then it is still offered, naming the booking to join
    uid = book(strict, http, "ada").json()["data"]["uid"]
    assert seated_slots(strict, http)[0] == {
        "start": "2050-09-05T07:00:00.000Z",
        "end": "2050-09-05T08:00:00.000Z",
        "seatsBooked": 1,
        "seatsRemaining": 1,
        "seatsTotal": 2,
        "bookingUid": uid,
    }
    # When the second seat is taken / Then the slot is gone, and the next hour is untouched
    book(strict, http, "grace")
    assert seated_slots(strict, http)[0]["start"] == "2050-09-05T08:00:00.000Z"


def test_a_seated_booking_lists_its_attendees_to_the_host_and_in_the_list(
    strict: CalDouble, http: requests.Session
) -> None:
    # Given two seats taken
    uid = book(strict, http, "ada").json()["data"]["uid"]
    book(strict, http, "grace")

    # When the host (an API key) and an anonymous caller read it, and the host lists Grace's bookings
    as_host = http.get(f"{strict.url}/v2/bookings/{uid}", headers=BOOKINGS).json()["data"]
    anonymous = http.get(f"{strict.url}/v2/bookings/{uid}", headers={"cal-api-version": "2024-08-13"}).json()["data"]
    listed = http.get(f"{strict.url}/v2/bookings", params={"attendeeEmail": "grace@example.com"}, headers=BOOKINGS)

    # Then the host sees both seats with their metadata (the seated output has no seatUid or metadata on top),
    # the anonymous caller none (seatsShowAttendees is off), and the list finds the booking by a seat's email
    assert [a["metadata"]["booking_id"] for a in as_host["attendees"]] == ["ada", "grace"]
    assert "seatUid" not in as_host and "metadata" not in as_host
    assert anonymous["attendees"] == []
    [found] = listed.json()["data"]
    assert found["uid"] == uid and len(found["attendees"]) == 2


def test_cancelling_a_seat_keeps_the_booking_for_the_others_and_the_last_seat_cancels_it(
    strict: CalDouble, http: requests.Session
) -> None:
    # Given Ada and Grace in one seated booking
    ada = book(strict, http, "ada").json()["data"]
    grace = book(strict, http, "grace").json()["data"]
    uid = ada["uid"]

    # When Grace's seat is cancelled through the API (CancelSeatedBookingInput)
    response = http.post(f"{strict.url}/v2/bookings/{uid}/cancel", json={"seatUid": grace["seatUid"]}, headers=BOOKINGS)

    # Then the booking stays accepted with Ada alone, and the slot offers a seat again
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "accepted"
    assert [a["seatUid"] for a in data["attendees"]] == [ada["seatUid"]]
    assert seated_slots(strict, http)[0]["seatsRemaining"] == 1
    # And BOOKING_CANCELLED names the booking and only Grace, without metadata, seat uid or canceller
    cancelled = pending_events(strict, http)[-1]
    assert cancelled["triggerEvent"] == "BOOKING_CANCELLED"
    payload = cancelled["payload"]
    assert (payload["uid"], payload["bookingId"], payload["status"]) == (uid, ada["id"], "CANCELLED")
    assert [a["email"] for a in payload["attendees"]] == ["grace@example.com"]
    assert not {"metadata", "cancelledBy", "cancellationReason", "attendeeSeatId"} & set(payload)

    # When Ada's seat, the last one, is cancelled
    last = http.post(f"{strict.url}/v2/bookings/{uid}/cancel", json={"seatUid": ada["seatUid"]}, headers=BOOKINGS)

    # Then the whole booking is cancelled and lists no attendees; its webhook carries no booking metadata
    assert last.status_code == 200
    assert (last.json()["data"]["status"], last.json()["data"]["attendees"]) == ("cancelled", [])
    whole = pending_events(strict, http)[-1]["payload"]
    assert whole["status"] == "CANCELLED" and "metadata" not in whole
    assert [a["email"] for a in whole["attendees"]] == ["ada@example.com"]
    assert seated_slots(strict, http)[0]["seatsBooked"] == 0


def test_seat_cancellations_cal_refuses(strict: CalDouble, http: requests.Session) -> None:
    # Given a seated booking at 09:00 and another at 10:00
    ada = book(strict, http, "ada").json()["data"]
    other = http.post(
        f"{strict.url}/v2/bookings",
        json=booking_body(start=f"{MONDAY}T08:00:00Z", eventTypeId=CLASS.id, attendee=person("alan")),
        headers=BOOKINGS,
    ).json()["data"]
    cancel = f"{strict.url}/v2/bookings/{ada['uid']}/cancel"

    # When a seat that does not exist, a seat of the other booking, and a seat with a reason are cancelled
    unknown = http.post(cancel, json={"seatUid": "3be561a9-31f1-4b8e-aefc-9d9a085f0dd1"}, headers=BOOKINGS)
    foreign = http.post(cancel, json={"seatUid": other["seatUid"]}, headers=BOOKINGS)
    with_reason = http.post(cancel, json={"seatUid": ada["seatUid"], "cancellationReason": "Ill"}, headers=BOOKINGS)

    # Then each is Cal's 400 and nothing was cancelled
    assert [r.status_code for r in (unknown, foreign, with_reason)] == [400, 400, 400]
    assert unknown.json()["error"]["message"] == (
        "Invalid seatUid: this seat does not exist or has already been cancelled."
    )
    assert foreign.json()["error"]["message"] == "Invalid seatUid: this seat does not belong to this booking."
    assert "cancellationReason property is wrong" in with_reason.json()["error"]["message"]
    assert {b["status"] for b in strict.bookings()} == {"accepted"}


def test_seated_creation_webhooks_describe_each_seat(strict: CalDouble, http: requests.Session) -> None:
    # Given Ada then Grace take the two seats
    ada = book(strict, http, "ada").json()["data"]
    grace = book(strict, http, "grace").json()["data"]

    # When the webhooks are read
    created = pending_events(strict, http)

    # Then each BOOKING_CREATED is about one seat: its attendee, its own metadata, its seat uid, the booking's uid
    assert [event["triggerEvent"] for event in created] == ["BOOKING_CREATED", "BOOKING_CREATED"]
    for event, seat, name in ((created[0], ada, "ada"), (created[1], grace, "grace")):
        payload = event["payload"]
        assert payload["uid"] == ada["uid"]
        assert payload["attendeeSeatId"] == seat["seatUid"]
        assert [a["email"] for a in payload["attendees"]] == [f"{name}@example.com"]
        assert payload["metadata"]["booking_id"] == name
        assert payload["seatsPerTimeSlot"] == 2


def test_cancel_seat_control_acts_as_the_attendee_in_cals_ui(strict: CalDouble, http: requests.Session) -> None:
    # Given Ada and Grace in one seated booking
    ada = book(strict, http, "ada").json()["data"]
    grace = book(strict, http, "grace").json()["data"]
    control = f"{strict.url}/_double/bookings/{ada['uid']}/seats"

    # When Grace cancels her seat in Cal.com's UI with a reason, then cancels it again
    first = http.post(f"{control}/{grace['seatUid']}/cancel", json={"reason": "Moving away"})
    again = http.post(f"{control}/{grace['seatUid']}/cancel", json={})

    # Then only her seat went, the webhook says why, and the second try is refused
    assert first.status_code == 200
    assert [a["email"] for a in first.json()["attendees"]] == ["ada@example.com"]
    payload = pending_events(strict, http)[-1]["payload"]
    assert payload["cancellationReason"] == "Moving away"
    assert [a["email"] for a in payload["attendees"]] == ["grace@example.com"]
    assert again.status_code == 400
    assert "no live seat" in again.json()["error"]


def test_seated_bookings_cannot_be_rescheduled_here(strict: CalDouble, http: requests.Session) -> None:
    # Given a seated booking
    ada = book(strict, http, "ada").json()["data"]
    # When it is rescheduled through the API / Then the double refuses what it does not model, in Cal's envelope
    moved = http.post(
        f"{strict.url}/v2/bookings/{ada['uid']}/reschedule", json={"start": f"{MONDAY}T09:00:00Z"}, headers=BOOKINGS
    )
    assert moved.status_code == 400
    assert "does not model rescheduling seated bookings" in moved.json()["error"]["message"]


def test_event_types_refuse_settings_the_double_does_not_model() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CalEventType(id=1, slug="x", title="X", length_minutes=30, seats_per_time_slot=0)
    with pytest.raises(ValueError, match="require confirmation"):
        CalEventType(id=1, slug="x", title="X", length_minutes=30, seats_per_time_slot=2, requires_confirmation=True)


def test_a_requires_confirmation_booking_is_pending_until_the_host_accepts(
    strict: CalDouble, http: requests.Session
) -> None:
    # Given an event type that requires the host's confirmation
    # When Ada books Monday 09:00
    response = book(strict, http, "ada", event_type=REQUEST.id)

    # Then the booking is pending, holds its slot, and BOOKING_REQUESTED (not CREATED) carries our metadata
    assert response.status_code == 201
    uid = response.json()["data"]["uid"]
    assert response.json()["data"]["status"] == "pending"
    assert "2050-09-05T07:00:00.000Z" not in [s["start"] for s in seated_slots(strict, http, REQUEST.id)]
    [requested] = pending_events(strict, http)
    assert requested["triggerEvent"] == "BOOKING_REQUESTED"
    assert requested["payload"]["status"] == "PENDING"
    assert requested["payload"]["requiresConfirmation"] is True
    assert requested["payload"]["metadata"]["booking_id"] == "ada"
    unconfirmed = http.get(f"{strict.url}/v2/bookings", params={"status": "unconfirmed"}, headers=BOOKINGS)
    assert [b["uid"] for b in unconfirmed.json()["data"]] == [uid]

    # When the host accepts it, then tries again
    accepted = http.post(f"{strict.url}/_double/bookings/{uid}/confirm")
    twice = http.post(f"{strict.url}/_double/bookings/{uid}/confirm")

    # Then it is accepted, and Cal.com announces it as BOOKING_CREATED whose metadata is only the meeting URL
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert http.get(f"{strict.url}/v2/bookings/{uid}", headers=BOOKINGS).json()["data"]["status"] == "accepted"
    created = pending_events(strict, http)[-1]
    assert created["triggerEvent"] == "BOOKING_CREATED"
    assert created["payload"]["status"] == "ACCEPTED"
    assert created["payload"]["metadata"] == {"videoCallUrl": f"https://app.cal.com/video/{uid}"}
    assert twice.status_code == 400 and "not pending" in twice.json()["error"]


def test_a_declined_request_is_rejected_and_frees_its_slot(strict: CalDouble, http: requests.Session) -> None:
    # Given a pending booking on Monday 09:00
    uid = book(strict, http, "ada", event_type=REQUEST.id).json()["data"]["uid"]

    # When the host declines it
    declined = http.post(f"{strict.url}/_double/bookings/{uid}/reject", json={"reason": "Fully booked"})

    # Then it is rejected, BOOKING_REJECTED says why, the slot is offered again and can be booked
    assert declined.status_code == 200 and declined.json()["status"] == "rejected"
    rejected = pending_events(strict, http)[-1]
    assert (rejected["triggerEvent"], rejected["payload"]["status"]) == ("BOOKING_REJECTED", "REJECTED")
    assert rejected["payload"]["rejectionReason"] == "Fully booked"
    assert "2050-09-05T07:00:00.000Z" in [s["start"] for s in seated_slots(strict, http, REQUEST.id)]
    assert book(strict, http, "grace", event_type=REQUEST.id).status_code == 201
    assert http.post(f"{strict.url}/_double/bookings/{uid}/reject", json={}).status_code == 400


def test_dropped_webhooks_are_never_delivered_nor_retried(
    clock: FakeClock, http: requests.Session, receiver: Receiver
) -> None:
    # Given a sending double and a subscriber, told over HTTP to lose the next BOOKING_CANCELLED and then any one
    double = CalDouble({CONSULT.id: CONSULT}, BUSINESS_TZ, clock=clock, contract_path=CONTRACT, strict_contract=True)
    with double:
        control = f"{double.url}/_double"
        http.post(f"{control}/webhooks/subscribers", json={"url": receiver.url, "secret": SECRET})
        http.post(f"{control}/webhooks/drop-next", json={"trigger": "BOOKING_CANCELLED"})
        http.post(f"{control}/webhooks/drop-next", json={"count": 1})

        # When three bookings are made and one is cancelled
        first = create(double, http)
        http.post(f"{double.url}/v2/bookings/{first['uid']}/cancel", json={}, headers=BOOKINGS)
        create(double, http, start=f"{MONDAY}T08:00:00Z")
        create(double, http, start=f"{MONDAY}T09:00:00Z")
        delivered = http.post(f"{control}/webhooks/wait", json={"timeout": 5}).json()
        dropped = http.get(f"{control}/webhooks/dropped").json()
        violations = double.contract_violations

    # Then the next webhook of any kind (the first creation) and the cancellation were lost, once, for good
    assert [d["trigger"] for d in delivered] == ["BOOKING_CREATED", "BOOKING_CREATED"]
    assert [json.loads(d["body"])["payload"]["startTime"] for d in delivered] == [
        "2050-09-05T08:00:00Z",
        "2050-09-05T09:00:00Z",
    ]
    assert len(receiver.received) == 2
    assert [(d["trigger"], d["bookingUid"]) for d in dropped] == [
        ("BOOKING_CREATED", first["uid"]),
        ("BOOKING_CANCELLED", first["uid"]),
    ]
    assert violations == []


def test_dropped_webhooks_never_wait_in_manual_mode(strict: CalDouble, http: requests.Session) -> None:
    # Given the manual-mode double will lose the next two webhooks
    strict.drop_next_webhooks(2)
    # When three bookings are made
    create(strict, http)
    create(strict, http, start=f"{MONDAY}T08:00:00Z")
    third = create(strict, http, start=f"{MONDAY}T09:00:00Z")
    pending = http.get(f"{strict.url}/_double/webhooks/pending").json()

    # Then only the third is pending; the two lost ones are recorded as dropped
    assert [item["bookingUid"] for item in pending] == [third["uid"]]
    assert len(strict.dropped_webhooks) == 2
    assert http.post(f"{strict.url}/_double/webhooks/drop-next", json={"count": 0}).status_code == 400
    http.post(f"{strict.url}/_double/reset")
    assert strict.dropped_webhooks == []
