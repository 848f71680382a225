"""The `.ics` of a booking's emails (RFC 5545): CRLF lines folded at 75 octets, escaped TEXT, UTC times, one UID
for the booking's life with SEQUENCE counting the moves, REQUEST to add or move and CANCEL to remove."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from booking.clock import CLOCK_OFFSET_ENV
from booking.notify.ics import calendar, calendar_attachment, fold
from booking.notify.messages import MessageContext

START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def context(kind: str = "confirmed", **changes: Any) -> MessageContext:
    fields: dict[str, Any] = {
        "kind": kind,
        "business_name": "Calm Studio",
        "business_time_zone": "Europe/London",
        "site_url": "https://studio.example",
        "reply_to": "hello@studio.example",
        "booking_id": "bk_1",
        "client_name": "Ana Silva",
        "client_time_zone": "America/New_York",
        "service_name": "Deep tissue massage",
        "start": START,
        "end": START + timedelta(minutes=90),
        "manage_url": "https://studio.example/manage?booking=bk_1&token=abc",
        "calendar_uid": "bk_1@studio.example",
    }
    return MessageContext.model_validate({**fields, **changes})


def unfold(data: bytes) -> list[str]:
    """RFC 5545 3.1 read back: CRLF ends a line; a line starting with a space continues the previous one."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # no bare LF or CR anywhere
    return text[:-2].replace("\r\n ", "").split("\r\n")


def properties(data: bytes) -> dict[str, str]:
    """NAME (with any parameters) -> value, for the VEVENT and the calendar (names are unique in ours)."""
    pairs = [re.match(r'^((?:[^:"]|"[^"]*")+):(.*)$', line) for line in unfold(data)]
    assert all(pairs)
    return {pair[1]: pair[2] for pair in pairs if pair and pair[1] not in {"BEGIN", "END"}}


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def test_a_confirmation_is_a_request_for_the_bookings_event_in_utc() -> None:
    # Given a confirmed booking from 15:00 to 16:30 UTC
    attachment = calendar_attachment(context())
    # Then it is an invitation the client's mail program can add
    assert attachment.filename == "booking.ics"
    assert attachment.content_type == "text/calendar; charset=utf-8; method=REQUEST"
    lines = unfold(attachment.data)
    assert lines[:2] == ["BEGIN:VCALENDAR", "VERSION:2.0"]
    assert lines[-2:] == ["END:VEVENT", "END:VCALENDAR"]
    props = properties(attachment.data)
    assert props["METHOD"] == "REQUEST"
    assert props["STATUS"] == "CONFIRMED"
    assert props["UID"] == "bk_1@studio.example"
    assert props["SEQUENCE"] == "0"
    # And its times are UTC instants
    assert props["DTSTART"] == "20261201T150000Z"
    assert props["DTEND"] == "20261201T163000Z"
    assert re.fullmatch(r"\d{8}T\d{6}Z", props["DTSTAMP"])
    assert props['ORGANIZER;CN="Calm Studio"'] == "mailto:hello@studio.example"
    assert unescape(props["SUMMARY"]) == "Deep tissue massage - Calm Studio"
    assert "https://studio.example/manage?booking=bk_1&token=abc" in unescape(props["DESCRIPTION"])
    assert props["URL"] == "https://studio.example/manage?booking=bk_1&token=abc"


def test_start_in_another_zone_is_written_as_the_same_instant_in_utc() -> None:
    # Given a start given with a New York offset (10:00 EST = 15:00 UTC)
    from zoneinfo import ZoneInfo

    start = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    props = properties(calendar_attachment(context(start=start, end=start + timedelta(hours=1))).data)
    assert (props["DTSTART"], props["DTEND"]) == ("20261201T150000Z", "20261201T160000Z")


def test_dtstamp_is_the_products_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the clock moved a day forward (the local runner's travel)
    monkeypatch.setenv(CLOCK_OFFSET_ENV, str(24 * 3600))
    dtstamp = properties(calendar_attachment(context()).data)["DTSTAMP"]
    stamp = datetime.strptime(dtstamp + "+0000", "%Y%m%dT%H%M%SZ%z")
    # Then DTSTAMP reads that clock
    assert abs(stamp - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=1)


def test_a_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    first = properties(calendar_attachment(context()).data)
    moved_start = START + timedelta(days=2)
    moved = properties(
        calendar_attachment(
            context("rescheduled", start=moved_start, end=moved_start + timedelta(hours=1), sequence=1)
        ).data
    )
    assert moved["UID"] == first["UID"]
    assert (moved["SEQUENCE"], moved["METHOD"], moved["DTSTART"]) == ("1", "REQUEST", "20261203T150000Z")


def test_a_cancellation_cancels_the_same_event() -> None:
    attachment = calendar_attachment(context("cancelled", sequence=2))
    props = properties(attachment.data)
    assert attachment.content_type == "text/calendar; charset=utf-8; method=CANCEL"
    assert (props["METHOD"], props["STATUS"]) == ("CANCEL", "CANCELLED")
    assert (props["UID"], props["SEQUENCE"]) == ("bk_1@studio.example", "2")


def test_text_is_escaped_and_reads_back_as_written() -> None:
    # Given names and a note with every character TEXT must escape
    ctx = context(
        service_name="Massage, hot stones; 60 min",
        business_name='Tom\\Jerry "Spa"',
        preparation="Bring a towel, water; and\nsocks",
    )
    props = properties(calendar_attachment(ctx).data)
    assert props["SUMMARY"] == 'Massage\\, hot stones\\; 60 min - Tom\\\\Jerry "Spa"'
    assert unescape(props["SUMMARY"]) == 'Massage, hot stones; 60 min - Tom\\Jerry "Spa"'
    description = unescape(props["DESCRIPTION"])
    assert "Before you come: Bring a towel, water; and\nsocks" in description
    # And the organizer's quoted name cannot close its quotes early
    assert 'ORGANIZER;CN="Tom\\Jerry Spa"' in props


def test_long_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    # Given a note long enough to fold many times, in a script of multi-octet characters
    note = "Préparez-vous: " + "日本語のテキスト、" * 30
    data = calendar_attachment(context(preparation=note)).data
    physical = data.split(b"\r\n")[:-1]
    # Then no line is longer than 75 octets, every line decodes on its own, continuations start with a space
    assert max(len(line) for line in physical) <= 75
    for line in physical:
        line.decode("utf-8")
    assert sum(line.startswith(b" ") for line in physical) >= 10
    # And unfolding gives the note back
    assert f"Before you come: {note}" in unescape(properties(data)["DESCRIPTION"])


@pytest.mark.parametrize(("length", "lines"), [(74, 1), (75, 1), (76, 2), (75 + 74, 2), (75 + 74 + 1, 3)])
def test_fold_keeps_75_octets_and_counts_the_continuations_space(length: int, lines: int) -> None:
    folded = fold("x" * length)
    parts = folded.split("\r\n")
    assert len(parts) == lines
    assert all(len(part.encode()) <= 75 for part in parts)
    assert folded.replace("\r\n ", "") == "x" * length


def test_an_event_without_its_uid_or_start_is_refused() -> None:
    with pytest.raises(ValueError, match="calendar_uid"):
        calendar(context(calendar_uid=None), "REQUEST")
    with pytest.raises(ValueError, match="start"):
        calendar(context(start=None), "REQUEST")


def test_optional_parts_are_left_out_rather_than_written_empty() -> None:
    # Given no end, no reply-to address and no manage link
    props = properties(calendar_attachment(context(end=None, reply_to=None, manage_url=None)).data)
    assert "DTEND" not in props and "URL" not in props
    assert not any(name.startswith("ORGANIZER") for name in props)
    assert all(value for value in props.values())
