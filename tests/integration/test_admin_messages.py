"""GET /admin/bookings/{booking_id}/messages: what the client was or will be told about a booking, through which
channel, and where each message stands (sent, pending until its time, failed with SES's answer, withdrawn).
The messages are the notifier's own: the table's stream is handed to NotificationsFunction as Lambda would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from tests.integration.helpers import MONDAY, iso, local, next_weekday, travel_to
from tests.support import ATTENDEE, ApiClient, Clock, owner_headers

FROM = "bookings@studio.example"
UNVERIFIED = "nobody@unverified.example"
OWNER = owner_headers()
FIELDS = {
    "message_key",
    "kind",
    "channel",
    "recipient",
    "status",
    "attempts",
    "last_error",
    "send_at",
    "sent_at",
    "created_at",
    "withdrawn_reason",
}


@pytest.fixture
def pump(lam: LocalLambda, monkeypatch: pytest.MonkeyPatch) -> Iterator[StreamPump]:
    """Our emails on (the From address verified in moto's SES); the table's stream, read from now on."""
    from booking.settings import get_settings

    ses = boto3.client("sesv2")
    if FROM not in [i["IdentityName"] for i in ses.list_email_identities()["EmailIdentities"]]:
        ses.create_email_identity(EmailIdentity=FROM)
    monkeypatch.setenv("NOTIFY_FROM_EMAIL", FROM)
    get_settings.cache_clear()
    stream = StreamPump(os.environ["TABLE_NAME"])
    stream.records()  # what earlier tests wrote is not this test's
    yield stream
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def a_day_ahead(clock: Clock) -> datetime:
    """Monday 08:00 business time, and a facial on Tuesday 10:00: 26 h ahead, so its 24 h reminder is planned
    (whatever the hour the suite runs at, the first free slot may be less than a day away)."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    return local(monday + timedelta(days=1), 10)


def deliver(lam: LocalLambda, pump: StreamPump) -> None:
    """The stream's new records through the notifier, as the event source mapping would hand them."""
    for event in pump.events():
        lam.invoke("NotificationsFunction", event)


def messages(api: ApiClient, booking_id: str, headers: dict[str, str] = OWNER) -> Any:
    return api.request("GET", f"/admin/bookings/{booking_id}/messages", headers=headers)


def by_kind(listed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {message["kind"]: message for message in listed}


def test_the_confirmation_sent_and_the_reminder_due_are_listed(
    api: ApiClient, lam: LocalLambda, pump: StreamPump, a_day_ahead: datetime
) -> None:
    # Given a confirmed booking whose changes the notifier has seen
    confirmed = api.confirmed_booking(start=iso(a_day_ahead))
    deliver(lam, pump)
    # When the owner reads its messages
    response = messages(api, confirmed["booking_id"])
    # Then the confirmation was emailed to the client, and the reminder waits for 24 h before the start
    assert response.status == 200, response.body
    listed = response.body["messages"]
    assert all(set(message) == FIELDS for message in listed)
    found = by_kind(listed)
    assert found["confirmed"]["status"] == "SENT"
    assert found["confirmed"]["channel"] == "email"
    assert found["confirmed"]["recipient"] == ATTENDEE["email"]  # as the booking shows the client's address
    assert found["confirmed"]["sent_at"] is not None and found["confirmed"]["attempts"] == 1
    reminder = found["reminder"]
    assert (reminder["status"], reminder["sent_at"]) == ("PENDING", None)
    start = datetime.fromisoformat(confirmed["start"])
    assert datetime.fromisoformat(reminder["send_at"]) == start - timedelta(hours=24)
    # And oldest first
    created = [message["created_at"] for message in listed]
    assert created == sorted(created)


def test_a_message_ses_refused_is_failed_with_its_error(
    api: ApiClient, lam: LocalLambda, pump: StreamPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    from booking.settings import get_settings

    # Given a From address SES has not verified, and one try before a message is failed
    monkeypatch.setenv("NOTIFY_FROM_EMAIL", UNVERIFIED)
    monkeypatch.setenv("NOTIFY_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    confirmed = api.confirmed_booking()
    # When the notifier tries to send the confirmation
    deliver(lam, pump)
    # Then the owner sees it failed, with why
    confirmation = by_kind(messages(api, confirmed["booking_id"]).body["messages"])["confirmed"]
    assert confirmation["status"] == "FAILED"
    assert confirmation["last_error"]
    assert confirmation["sent_at"] is None


def test_a_cancelled_bookings_reminder_is_withdrawn(
    api: ApiClient, lam: LocalLambda, pump: StreamPump, a_day_ahead: datetime
) -> None:
    # Given a confirmed booking with its reminder planned
    confirmed = api.confirmed_booking(start=iso(a_day_ahead))
    deliver(lam, pump)
    # When the owner cancels it
    cancel = api.post(
        f"/admin/bookings/{confirmed['booking_id']}/cancel",
        {"reason": "the studio is closed", "refund": "full"},
        headers={**OWNER, "Idempotency-Key": "cancel-" + confirmed["booking_id"]},
    )
    assert cancel.status == 200, cancel.body
    deliver(lam, pump)
    # Then the reminder is withdrawn, with why, and the cancellation is listed
    found = by_kind(messages(api, confirmed["booking_id"]).body["messages"])
    assert found["reminder"]["status"] == "WITHDRAWN"
    assert found["reminder"]["withdrawn_reason"]
    assert "cancelled" in found


def test_a_booking_without_messages_lists_none(api: ApiClient) -> None:
    # Given a booking made while we send no email (no From address)
    intent = api.create_intent()
    # Then its list is empty, not missing
    response = messages(api, intent.body["booking_id"])
    assert response.status == 200, response.body
    assert response.body == {"messages": []}


def test_staff_may_read_a_bookings_messages(api: ApiClient) -> None:
    intent = api.create_intent()
    assert messages(api, intent.body["booking_id"], owner_headers("staff")).status == 200


def test_an_unknown_booking_is_404_and_a_malformed_id_422(api: ApiClient) -> None:
    assert messages(api, "bk_000000000000000000000000").status == 404
    assert messages(api, "not-an-id").status == 422


def test_without_a_sign_in_it_is_401(api: ApiClient) -> None:
    intent = api.create_intent()
    assert messages(api, intent.body["booking_id"], {}).status == 401
