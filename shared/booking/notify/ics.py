"""The `.ics` a booking's emails carry (RFC 5545), so the client's calendar follows the booking.

One event per booking, identified by `ctx.calendar_uid` for its whole life: a confirmation is a REQUEST, a
reschedule is a REQUEST for the same UID with a higher SEQUENCE (calendars move the event), a cancellation is a
CANCEL with STATUS:CANCELLED (calendars remove it). Written by hand: the format needed here is a dozen lines,
and a library would cost every function's cold start for it.
"""

from __future__ import annotations

from datetime import datetime

from booking.clock import now, to_utc
from booking.notify.messages import Attachment, MessageContext

PRODID = "-//booking-deposits//notifications//EN"
LINE_OCTETS = 75  # RFC 5545 3.1: lines longer than this are folded (CRLF + a space)


def calendar_attachment(ctx: MessageContext) -> Attachment:
    method = "CANCEL" if ctx.kind in ("cancelled", "member_cancelled") else "REQUEST"
    return Attachment(
        filename="booking.ics",
        # charset: names and notes may be any language; method: mail clients show Accept/Remove from it
        content_type=f"text/calendar; charset=utf-8; method={method}",
        data=calendar(ctx, method).encode("utf-8"),
    )


def calendar(ctx: MessageContext, method: str) -> str:
    """The VCALENDAR text of the booking's event, CRLF lines folded at 75 octets."""
    if ctx.start is None or not ctx.calendar_uid:
        raise ValueError("a calendar event needs the booking's start and calendar_uid")
    title = f"{ctx.service_name or 'Booking'} - {ctx.business_name}"
    notes = [f"{ctx.service_name or 'Your booking'} with {ctx.business_name}."]
    if ctx.preparation and method == "REQUEST":
        notes.append(f"Before you come: {ctx.preparation}")
    if ctx.manage_url:
        notes.append(f"See, reschedule or cancel: {ctx.manage_url}")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{_text(ctx.calendar_uid)}",
        f"SEQUENCE:{ctx.sequence}",
        f"DTSTAMP:{_utc(now())}",
        f"DTSTART:{_utc(ctx.start)}",
        *([f"DTEND:{_utc(ctx.end)}"] if ctx.end else []),
        f"SUMMARY:{_text(title)}",
        f"DESCRIPTION:{_text(chr(10).join(notes))}",
        *([f"URL:{_uri(ctx.manage_url)}"] if ctx.manage_url else []),
        *([f'ORGANIZER;CN="{_param(ctx.business_name)}":mailto:{_uri(ctx.reply_to)}'] if ctx.reply_to else []),
        f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)


def fold(line: str) -> str:
    """RFC 5545 3.1: at most 75 octets a line; a continuation starts with one space (which counts), and a
    UTF-8 character is never split."""
    parts: list[str] = []
    current, size, limit = [], 0, LINE_OCTETS
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, LINE_OCTETS - 1
        current.append(char)
        size += octets
    parts.append("".join(current))
    return "\r\n ".join(parts)


def _text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT: backslash, semicolon and comma escaped, a line break written as \\n."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _param(value: str) -> str:
    """A quoted parameter value may hold anything but a double quote and control characters (3.1 QSAFE-CHAR)."""
    return "".join(char for char in value if char != '"' and char.isprintable())


def _uri(value: str) -> str:
    """A URI or address is written as is; a control character would break the line it sits on."""
    return "".join(char for char in value if char.isprintable() and not char.isspace())


def _utc(moment: datetime) -> str:
    return to_utc(moment).strftime("%Y%m%dT%H%M%SZ")
