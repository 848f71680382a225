"""Who emails the client (CLIENT_EMAILS) decides the attendee email Cal.com is given: with ours replacing Cal.com's
emails it is the business's relay address for the booking (so Cal.com's confirmation never reaches the client),
and our lookups and Cal.com's webhooks still find the booking."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from local.cal_double import CalDouble
from tests.integration.helpers import CONSULT, cal_booking_posts, instant
from tests.support import ATTENDEE, ApiClient, booking, deliver_cal

FROM = "bookings@studio.example"


@pytest.fixture
def emails(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set CLIENT_EMAILS / NOTIFY_FROM_EMAIL for one test (settings are read once per container: re-read them)."""
    from booking.settings import get_settings

    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def configure(monkeypatch: pytest.MonkeyPatch, client_emails: str, from_email: str | None) -> None:
    from booking.settings import get_settings

    monkeypatch.setenv("CLIENT_EMAILS", client_emails)
    if from_email is None:
        monkeypatch.delenv("NOTIFY_FROM_EMAIL", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_FROM_EMAIL", from_email)
    get_settings.cache_clear()


def relay(booking_id: str) -> str:
    return f"bookings+{booking_id}@studio.example"


@pytest.mark.parametrize(
    ("client_emails", "from_email", "relayed"),
    [
        pytest.param("ours", FROM, True, id="ours-relay"),
        pytest.param("calcom", FROM, False, id="calcom-client"),
        pytest.param("both", FROM, False, id="both-client"),
        pytest.param("ours", None, False, id="no-from-address-client"),
    ],
)
def test_the_cal_booking_gets_the_address_client_emails_says(
    api: ApiClient,
    cal_double: CalDouble,
    emails: pytest.MonkeyPatch,
    client_emails: str,
    from_email: str | None,
    relayed: bool,
) -> None:
    # Given the business's setting of who emails the client
    configure(emails, client_emails, from_email)
    # When a booking is paid and verified
    confirmed = api.confirmed_booking()
    # Then Cal.com was asked to book it for the relay address (ours) or the client's own
    [post] = cal_booking_posts(cal_double)
    expected = relay(confirmed["booking_id"]) if relayed else ATTENDEE["email"]
    assert post.json["attendee"]["email"] == expected
    # And the client's own address is in the metadata only when Cal.com does not have it
    assert post.json["metadata"].get("client_email") == (ATTENDEE["email"] if relayed else None)
    assert post.json["metadata"]["booking_id"] == confirmed["booking_id"]
    # And our booking keeps the client's address
    assert booking(confirmed["booking_id"]).attendee.email == ATTENDEE["email"]


def test_a_lost_answer_is_resolved_by_looking_up_the_relay_address(
    api: ApiClient, cal_double: CalDouble, emails: pytest.MonkeyPatch
) -> None:
    # Given our emails replace Cal.com's, and Cal.com will create the booking but its answer is lost
    configure(emails, "ours", FROM)
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    cal_double.fail_next(1, 500, after_processing=True)
    # When the client verifies
    response = api.verify(token)
    # Then the lookup asked for the relay address, found the booking, and nothing was booked twice
    assert response.status == 200, response.body
    lookups = [r for r in cal_double.request_log if r.method == "GET" and r.path == "/v2/bookings"]
    assert lookups and {r.query["attendeeEmail"] for r in lookups} == {relay(intent["booking_id"])}
    [cal] = cal_double.bookings()
    assert response.body["cal_booking_uid"] == cal["uid"]
    assert len(cal_booking_posts(cal_double)) == 1
    assert booking(intent["booking_id"]).status == "CONFIRMED"


def test_a_cancellation_in_cal_finds_a_relay_addressed_booking(
    api: ApiClient, cal_double: CalDouble, emails: pytest.MonkeyPatch
) -> None:
    # Given a confirmed booking Cal.com knows under the relay address
    configure(emails, "ours", FROM)
    confirmed = api.confirmed_booking()
    uid = confirmed["cal_booking_uid"]
    assert cal_double.booking(uid)["attendees"][0]["email"] == relay(confirmed["booking_id"])
    # When it is cancelled in Cal.com well ahead and BOOKING_CANCELLED arrives
    cal_double.cancel_booking(uid, "plans changed", relay(confirmed["booking_id"]))
    start = datetime.fromisoformat(confirmed["start"])
    response = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=48))
    # Then our booking is cancelled and refunded
    assert response.status == 200, response.body
    stored = booking(confirmed["booking_id"])
    assert stored.status == "CANCELLED"
    assert stored.amount_refunded == confirmed["amount_paid"]


def test_a_seat_cancelled_in_cal_finds_its_relay_addressed_booking(
    api: ApiClient, cal_double: CalDouble, emails: pytest.MonkeyPatch
) -> None:
    # Given two clients in the seats of one consultation, each known to Cal.com by its relay address (a seat's
    # events carry no metadata: only the shared uid and the seat's attendee)
    configure(emails, "ours", FROM)
    slot = api.first_slot(CONSULT)
    people = [{**ATTENDEE, "email": f"client{n}@example.com"} for n in (1, 2)]
    first = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=people[0])
    second = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=people[1])
    uid, seat = first["cal_booking_uid"], booking(second["booking_id"]).cal_seat_uid
    assert seat is not None
    # When the second seat is cancelled in Cal.com and its webhook arrives
    raw, headers = cal_double.build_webhook(
        "BOOKING_CANCELLED",
        uid,
        seat_uid=seat,
        secret=os.environ["CAL_WEBHOOK_SECRET"],
        created_at=instant(slot) - timedelta(hours=48),
    )
    assert "metadata" not in json.loads(raw)["payload"]
    cal_double.cancel_seat(uid, seat)
    response = api.request("POST", "/webhooks/cal", raw=raw, headers=headers)
    # Then only that booking is cancelled
    assert response.status == 200, response.body
    assert booking(second["booking_id"]).status == "CANCELLED"
    assert booking(first["booking_id"]).status == "CONFIRMED"
