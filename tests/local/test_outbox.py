"""The local outbox, as a developer uses it on `make run`: a deposit booking's confirmation arrives (the table's
stream reaches the notifier), its reminder once the clock moves (the clock runs the schedules), and the page shows
both. Over HTTP only, against a spawned runner."""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from local.demo import _confirm_card
from local.outbox import framed
from local.spawn import SpawnedRunner, spawned_runner

SERVICE = "signature-facial"  # 50% deposit; reminder_hours [24]


@pytest.fixture(scope="module")
def runner() -> Iterator[SpawnedRunner]:
    with spawned_runner() as spawned:
        yield spawned


def outbox(api: str, **params: str) -> list[dict]:
    response = requests.get(f"{api}/_local/outbox", params=params, timeout=60)
    response.raise_for_status()
    return list(response.json()["messages"])


def a_slot_days_ahead(api: str, days: int) -> str:
    """A free start `days` days ahead or later, 2 h after that day's earliest (the clock moves, minimum notice)."""
    first_day = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
    week = requests.get(
        f"{api}/availability", params={"service_id": SERVICE, "start": first_day, "days": 7}, timeout=30
    ).json()
    for day in week["days"]:
        starts = [datetime.fromisoformat(slot["start"]) for slot in day["slots"]]
        later = [start for start in starts if starts and start >= starts[0] + timedelta(hours=2)]
        if later:
            return later[0].isoformat()
    raise AssertionError(f"no free {SERVICE} slot in the week from {first_day}")


def book_with_deposit(runner: SpawnedRunner, email: str, start: str) -> str:
    """create-intent, pay through the Stripe double, create-token, verify: the site's flow, as `make demo`."""
    api = runner.api
    attendee = {"name": "Olive Outbox", "email": email, "time_zone": "America/New_York"}
    intent = requests.post(
        f"{api}/payments/create-intent",
        json={"service_id": SERVICE, "start": start, "attendee": attendee, "payment_type": "deposit"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert intent.status_code == 201, intent.text
    held = intent.json()
    assert _confirm_card(runner.info, held["payment_intent_id"]) == "succeeded"
    token = requests.post(
        f"{api}/bookings/create-token",
        json={"booking_id": held["booking_id"], "payment_intent_id": held["payment_intent_id"]},
        timeout=30,
    )
    assert token.status_code == 201, token.text
    verified = requests.post(f"{api}/bookings/verify", json={"token": token.json()["token"]}, timeout=30)
    assert verified.status_code == 200 and verified.json()["status"].lower() == "confirmed", verified.text
    return str(held["booking_id"])


def test_a_deposit_bookings_confirmation_and_after_the_clock_moves_its_reminder_are_in_the_outbox(
    runner: SpawnedRunner,
) -> None:
    # Given a deposit booking three days ahead, made through the runner's API as the site makes it
    email = f"olive-{uuid.uuid4().hex[:8]}@example.com"
    start = a_slot_days_ahead(runner.api, 3)
    book_with_deposit(runner, email, start)

    # When the developer opens the outbox
    [confirmation] = outbox(runner.api, to=email)

    # Then the client's confirmation is there, from our address, with both versions and the calendar file
    assert confirmation["channel"] == "email" and confirmation["to"] == email
    assert confirmation["from"].endswith("<bookings@studio.example>")  # the business name, our address
    assert confirmation["subject"].startswith("Booked: ")
    assert "Olive Outbox" in confirmation["text"] and "<html" in confirmation["html"].lower()
    [ics] = [item for item in confirmation["attachments"] if item["filename"].endswith(".ics")]
    assert ics["content_type"] == "text/calendar" and ics["size"] > 0

    # When the clock moves to a minute past 24 h before the session (the service's reminder)
    due = datetime.fromisoformat(start) - timedelta(hours=24) + timedelta(minutes=1)
    moved = requests.post(
        f"{runner.api}/_local/clock",
        json={"advance_seconds": (due - datetime.now(UTC)).total_seconds()},
        timeout=300,
    )
    try:
        # Then the runner ran the scheduled functions, and the reminder was sent, after the confirmation
        assert moved.status_code == 200 and "NotificationsFunction" in moved.json()["ran"], moved.text
        assert "errors" not in moved.json(), moved.text
        messages = outbox(runner.api, to=email)
        assert [message["subject"].split(":")[0] for message in messages] == ["Booked", "Reminder"]
        assert messages[1]["at"] > messages[0]["at"]  # seen on the moved clock

        # And the page lists them newest first, each email's HTML escaped into a sandboxed iframe
        page = requests.get(f"{runner.api}/_local/outbox/page", params={"to": email}, timeout=60)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        text = page.text
        reminder, booked = html.escape(messages[1]["subject"]), html.escape(messages[0]["subject"])
        assert reminder in text and booked in text and text.index(reminder) < text.index(booked)
        # the email's HTML as it was sent (links opening in a new tab), escaped into srcdoc: no tag of it is the page's
        assert 'srcdoc="' + html.escape(framed(messages[1]["html"]), quote=True) + '"' in text
        assert text.lower().count("<html") == 1 and text.lower().count("<body") == 1
        assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in text and "allow-scripts" not in text
        assert "<script" not in text.lower()
    finally:
        requests.post(f"{runner.api}/_local/clock", json={"offset_seconds": 0}, timeout=60).raise_for_status()


def test_local_says_where_the_outbox_is_and_the_page_of_an_empty_outbox_says_so(runner: SpawnedRunner) -> None:
    info = requests.get(f"{runner.api}/_local", timeout=10).json()
    assert info["outbox"] == f"{runner.api}/_local/outbox"
    nobody = "nobody-" + uuid.uuid4().hex[:8] + "@example.com"
    assert outbox(runner.api, to=nobody) == []
    page = requests.get(info["outbox_page"], params={"to": nobody}, timeout=30)
    assert page.status_code == 200 and f"Nothing sent to {nobody} yet." in page.text


def test_moving_the_clock_back_or_with_run_schedules_false_runs_nothing(runner: SpawnedRunner) -> None:
    quiet = requests.post(
        f"{runner.api}/_local/clock", json={"advance_seconds": 60, "run_schedules": False}, timeout=30
    ).json()
    back = requests.post(f"{runner.api}/_local/clock", json={"offset_seconds": 0}, timeout=30).json()
    assert (quiet["ran"], back["ran"]) == ([], [])
    assert back["clock_offset_seconds"] == 0
