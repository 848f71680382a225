"""What the product tells people, as data: the kinds of message, what a template is rendered from, and what
rendering gives back. `notify/events.py` decides which messages a change calls for, `notify/render.py` turns a
`MessageContext` into text, HTML, an SMS and an `.ics`, `notify/sender.py` sends them once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

Kind = Literal[
    "confirmed",  # the booking is in the calendar: what was paid, what is due, the manage link, an .ics
    "reminder",  # N hours before the start (the service's reminder_hours)
    "rescheduled",  # moved to another time (by the client, the owner, Cal.com or a blocked date)
    "cancelled",  # with the refund the policy gives and when it arrives
    "payment_received",  # a later payment succeeded: the balance, or a fee
    "payment_action",  # the saved card could not pay a balance or fee: the pay link
    "refund_issued",  # a refund was made (ours or the owner's)
    "slot_lost",  # paid, but the slot was taken: pick another time or be refunded
    "package_bought",  # a package is paid and its credits are ready
    "credit_used",  # a package credit booked a session: credits left
    "waitlist_joined",  # on a full slot's waitlist: its place in line (sent by the sweep, within 5 minutes)
    "waitlist_offer",  # seats freed for a party on the waitlist: held for it until hold_until, the pay link
    "member_booked",  # to a party member named with an email: booked in the payer's party (seed 004), an .ics
    "member_cancelled",  # ... and no longer (the booking cancelled, or the member's seat given back)
    "owner_alert",  # to the owner: something needs a person (owner/alerts.py)
]
Channel = Literal["email", "sms"]
CLIENT_KINDS: frozenset[str] = frozenset(
    {
        "confirmed",
        "reminder",
        "rescheduled",
        "cancelled",
        "payment_received",
        "payment_action",
        "refund_issued",
        "slot_lost",
        "package_bought",
        "credit_used",
        "waitlist_joined",
        "waitlist_offer",
        "member_booked",
        "member_cancelled",
    }
)
# What Cal.com itself emails an attendee (CLIENT_EMAILS=calcom or both leaves these to Cal.com).
CALCOM_SENDS: frozenset[str] = frozenset({"confirmed", "rescheduled", "cancelled", "member_booked", "member_cancelled"})
# The kinds worth a text message when SMS is on (short, time-critical); the rest are email only.
SMS_KINDS: frozenset[str] = frozenset(
    {"confirmed", "reminder", "rescheduled", "cancelled", "payment_action", "slot_lost", "waitlist_offer"}
)


class MessageContext(BaseModel):
    """Everything a template may use. Amounts are minor units of `currency`; times are aware UTC datetimes that
    the templates show in the client's time zone (and the business's, when they differ)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    business_name: str
    business_time_zone: str
    site_url: str  # SITE_BASE_URL, for links and the footer
    reply_to: str | None = None  # the business's address (NOTIFY_FROM_EMAIL)
    # the booking (absent for package and owner messages)
    booking_id: str | None = None
    client_name: str = ""
    client_time_zone: str | None = None
    service_name: str | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    previous_start: AwareDatetime | None = None  # rescheduled: where it was
    currency: str = "usd"
    total: int = 0  # the price after any discount
    paid: int = 0  # everything paid so far (deposit, balance, fees)
    balance_due: int = 0
    refunded: int = 0  # everything refunded so far
    amount: int | None = None  # the payment, fee or refund this message is about
    purpose: str | None = None  # payment_received / payment_action: "balance", "late_cancel_fee", ...
    refund_expected: int | None = None  # cancelled: what the policy refunds (None: nothing is refunded)
    cancelled_by: str | None = None  # "client", "business", "calendar"
    manage_url: str | None = None
    pay_url: str | None = None
    rebook_until: AwareDatetime | None = None  # slot_lost: pick another time before this, else a full refund
    hold_until: AwareDatetime | None = None  # waitlist_offer: the seats are held for the client until then
    participants: int = 1  # seats the booking (or the waitlist entry) takes (a party's)
    position: int | None = None  # waitlist_joined: 1 = next in line
    member_name: str | None = None  # member_booked / member_cancelled: the member written to (client_name: the payer)
    hours_before: int | None = None  # reminder: the offset it was scheduled at
    preparation: str | None = None  # the service's preparation note (seed 003)
    package_credit: bool = False  # paid with a package credit
    # packages
    package_id: str | None = None
    package_name: str | None = None
    credits_total: int | None = None
    credits_left: int | None = None
    package_expires_at: AwareDatetime | None = None
    # owner_alert
    alert_subject: str | None = None
    alert_message: str | None = None
    dashboard_url: str | None = None
    # the calendar event's identity (.ics UID), stable across reschedules: booking_id@host
    calendar_uid: str | None = None
    sequence: int = 0  # .ics SEQUENCE: the reschedule count


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str  # e.g. "text/calendar; method=REQUEST"
    data: bytes


class Rendered(BaseModel):
    """One message, ready for any channel: email uses subject/text/html/attachments, SMS uses `sms`."""

    model_config = ConfigDict(frozen=True)

    subject: str
    text: str
    html: str
    sms: str  # at most 320 characters (two SMS segments)
    attachments: tuple[Attachment, ...] = ()


class Outgoing(BaseModel):
    """What a channel sends: to whom, through which channel, the rendered message."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    to: str  # an email address or an E.164 phone number
    rendered: Rendered
    tags: dict[str, str] = {}  # booking_id, kind: SES message tags / SNS attributes
