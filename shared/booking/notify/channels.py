"""The ways a message leaves: one small interface, so a channel (push, WhatsApp, ...) is one class more.

- email: Amazon SES (v2 SendEmail, raw MIME: a text and an HTML alternative, the .ics attached), From the
  configured identity, which is all the function's role may send as.
- sms: Amazon SNS, a transactional text to the client's E.164 number; only when SMS_ENABLED (seed 003: wired, off).
A channel raises on failure; the sender retries with backoff and records the outcome.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, make_msgid
from typing import Protocol

from booking.aws import client
from booking.notify.messages import Channel, Outgoing
from booking.settings import get_settings

SMTP_POLICY = SMTP.clone(max_line_length=998)
TAG_VALUE = re.compile(r"[^A-Za-z0-9_-]")


class ChannelOff(RuntimeError):
    """The channel is not configured here (no From address; SMS switched off): the message cannot go."""


class MessageChannel(Protocol):
    name: Channel

    def send(self, outgoing: Outgoing, *, sender_name: str) -> str:
        """Send; return the provider's message id. Raise on any failure (the sender retries)."""
        ...


def mime(outgoing: Outgoing, *, sender: str, sender_name: str) -> EmailMessage:
    rendered = outgoing.rendered
    # SMTP's CRLF line endings; headers folded only past RFC 5322's 998 (the 78 default folds a long subject
    # right after "Subject:", which some clients show as a leading space).
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = " ".join(rendered.subject.split())  # one line, whatever a template's whitespace
    message["From"] = formataddr((sender_name, sender))
    message["To"] = outgoing.to
    message["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or None)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in rendered.attachments:
        maintype, _, rest = attachment.content_type.partition("/")
        subtype, _, params = rest.partition(";")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype.strip(), filename=attachment.filename
        )
        if params.strip():  # "method=REQUEST": calendar clients read it from the part's Content-Type
            part = message.get_payload()[-1]
            key, _, value = params.strip().partition("=")
            part.set_param(key, value)
    return message


class SesEmail:
    name: Channel = "email"

    def send(self, outgoing: Outgoing, *, sender_name: str) -> str:
        sender = get_settings().notify_from_email
        if not sender:
            raise ChannelOff("NOTIFY_FROM_EMAIL is not set: no email can be sent")
        raw = mime(outgoing, sender=sender, sender_name=sender_name).as_bytes()
        answer = client("sesv2").send_email(
            FromEmailAddress=sender,
            Destination={"ToAddresses": [outgoing.to]},
            Content={"Raw": {"Data": raw}},
            EmailTags=[{"Name": name, "Value": TAG_VALUE.sub("_", value)} for name, value in outgoing.tags.items()],
        )
        return str(answer["MessageId"])


class SnsSms:
    name: Channel = "sms"

    def send(self, outgoing: Outgoing, *, sender_name: str) -> str:
        if not get_settings().sms_enabled:
            raise ChannelOff("SMS_ENABLED is off: no text message can be sent")
        answer = client("sns").publish(
            PhoneNumber=outgoing.to,
            Message=outgoing.rendered.sms,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
            },
        )
        return str(answer["MessageId"])


CHANNELS: dict[str, MessageChannel] = {"email": SesEmail(), "sms": SnsSms()}
