"""Turn a `MessageContext` into what a channel sends: a subject, plain text, HTML, an SMS and an `.ics`.

The wording lives in `templates/` (one folder, a `{kind}.txt`, `{kind}.html` and, for SMS kinds, `{kind}.sms`);
this module only gives the templates their facts and helpers:

- `money(amount)`: minor units in the booking's currency, as `pricing.format_amount` writes them ("60.00 USD").
- `when(dt)`: the time in the client's time zone, and the business's local time too when its zone differs.
- `short_when(dt)`: "Tue 1 Dec 15:00" in the client's zone (subjects, SMS); `day(dt)`: "Tuesday 1 December 2026".

A `.txt` template sets `subject` (`{% set subject %}...{% endset %}`); the HTML twin receives it for its title.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from booking.domain.pricing import format_amount
from booking.notify.ics import calendar_attachment
from booking.notify.messages import SMS_KINDS, MessageContext, Rendered

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).with_name("templates")
SMS_LIMIT = 320  # two SMS segments; templates stay in GSM-7 characters so a segment holds 160
# Names spelled out rather than strftime's %A/%B so the wording does not depend on the Lambda's locale.
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
CALENDAR_KINDS = frozenset({"confirmed", "rescheduled", "cancelled", "member_booked", "member_cancelled"})


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Built on first use: importing this module (every function's cold start) does not pay for Jinja."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # HTML escapes every value (a client named "<script>" stays text); text and SMS are sent as written.
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,  # a misspelt field fails the render instead of sending a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


def day(moment: datetime, tz: str) -> str:
    """`Tuesday 1 December 2026` in `tz`."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}"


def format_when(moment: datetime, tz: str, business_tz: str | None = None) -> str:
    """`Tuesday 1 December 2026, 15:00 (Europe/London)` in the client's zone `tz`; when the business's zone
    shows another clock, its local time follows in brackets: `..., 10:00 (America/New_York) [15:00 Europe/London]`
    (with its day when that differs too)."""
    local = moment.astimezone(ZoneInfo(tz))
    text = f"{day(moment, tz)}, {local:%H:%M} ({tz})"
    if business_tz is None or business_tz == tz:
        return text
    there = moment.astimezone(ZoneInfo(business_tz))
    if there.utcoffset() == local.utcoffset():
        return text
    there_clock = f"{there:%H:%M}" if there.date() == local.date() else short_when(moment, business_tz)
    return f"{text} [{there_clock} {business_tz}]"


def short_when(moment: datetime, tz: str) -> str:
    """`Tue 1 Dec 15:00` in `tz`: for subjects and SMS, where the full form is too long."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{DAYS[local.weekday()][:3]} {local.day} {MONTHS[local.month - 1][:3]} {local:%H:%M}"


def render(ctx: MessageContext) -> Rendered:
    """The message of `ctx.kind`: subject and text from `{kind}.txt`, HTML from `{kind}.html`, the SMS from
    `{kind}.sms` (SMS kinds only; "" otherwise) and an `.ics` for a booking's confirmation, move or cancellation."""
    env = environment()
    values = _template_values(ctx)
    text_module = env.get_template(f"{ctx.kind}.txt").make_module(values)
    subject = " ".join(str(text_module.subject).split())
    text = _tidy_text(str(text_module))
    html = env.get_template(f"{ctx.kind}.html").render(values, subject=subject)
    sms = _fit_sms(env.get_template(f"{ctx.kind}.sms").render(values)) if ctx.kind in SMS_KINDS else ""
    attachments = (calendar_attachment(ctx),) if ctx.kind in CALENDAR_KINDS and ctx.start is not None else ()
    return Rendered(subject=subject, text=text, html=html, sms=sms, attachments=attachments)


def _template_values(ctx: MessageContext) -> dict[str, Any]:
    client_tz = ctx.client_time_zone or ctx.business_time_zone
    return {
        **dict(ctx),  # the fields as they are (datetimes stay datetimes)
        "client_zone": client_tz,
        "money": lambda amount: format_amount(amount, ctx.currency),
        "when": lambda moment: format_when(moment, client_tz, ctx.business_time_zone),
        "short_when": lambda moment: short_when(moment, client_tz),
        "day": lambda moment: day(moment, client_tz),
    }


def _tidy_text(text: str) -> str:
    """Templates read better with blank lines around their `{% if %}`s; the message keeps one blank line at most."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _fit_sms(text: str) -> str:
    """One line of words within SMS_LIMIT. A long business or service name shortens the words before the
    trailing link, never the link itself."""
    sms = " ".join(text.split())
    if len(sms) <= SMS_LIMIT:
        return sms
    head, _, last = sms.rpartition(" ")
    if last.startswith(("https://", "http://")) and len(last) < SMS_LIMIT - 4:
        return f"{head[: SMS_LIMIT - len(last) - 4].rstrip()}... {last}"
    return f"{sms[: SMS_LIMIT - 3].rstrip()}..."
