"""Who is told what, through which channel: the business's settings (CLIENT_EMAILS, NOTIFY_FROM_EMAIL,
SMS_ENABLED) and the client's choices at booking (create-intent `notify: {email, sms}`).

CLIENT_EMAILS says who emails the client, so nobody gets two confirmations:
- `ours`: every message is ours; Cal.com's booking gets a relay address of the business as the attendee's email
  (the From address, plus-addressed with the booking id), so Cal.com's own emails reach the business, not the client.
- `calcom`: Cal.com's emails only (it has the client's address); ours go to the owner alone.
- `both`: Cal.com sends what it sends (confirmation, reschedule, cancellation, with its calendar invite); ours the
  rest: reminders, payments, refunds, a lost slot, packages.
Without NOTIFY_FROM_EMAIL we cannot email at all, so Cal.com keeps the client's address whatever CLIENT_EMAILS says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from booking.settings import get_settings

if TYPE_CHECKING:  # the Cal.com client imports this module for `cal_attendee_email` alone: no models built there
    from booking.domain.models import Booking
    from booking.notify.messages import Channel


def we_email() -> bool:
    return bool(get_settings().notify_from_email)


def who_emails_client() -> str:
    """The effective setting: `calcom` when we have no From address (nobody else could email the client)."""
    return get_settings().client_emails if we_email() else "calcom"


def client_email_kind(kind: str) -> bool:
    """Whether we email the client this kind of message (the business's setting; the client's choice aside)."""
    from booking.notify.messages import CALCOM_SENDS

    mode = who_emails_client()
    return mode == "ours" or (mode == "both" and kind not in CALCOM_SENDS)


def channels_for(booking: Booking, kind: str) -> list[tuple[Channel, str]]:
    """(channel, recipient) pairs for one client message about the booking."""
    from booking.notify.messages import SMS_KINDS

    chosen: list[tuple[Channel, str]] = []
    if booking.notify_email and client_email_kind(kind):
        chosen.append(("email", booking.attendee.email))
    if get_settings().sms_enabled and booking.notify_sms and booking.attendee.phone and kind in SMS_KINDS:
        chosen.append(("sms", booking.attendee.phone))
    return chosen


def cal_attendee_email(booking_id: str, client_email: str) -> str:
    """The attendee email a Cal.com booking request carries: the client's own unless our emails replace Cal.com's,
    then the business's relay address for this booking (`bookings+b_123@business.example`)."""
    if who_emails_client() != "ours":
        return client_email
    local, _, domain = get_settings().notify_from_email.partition("@")
    return f"{local.split('+')[0]}+{booking_id}@{domain}"
