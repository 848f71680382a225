"""The local outbox: what the product sent through SES and SNS text messages, read back from moto.

Locally nothing leaves the machine: the notifier's `sesv2.send_email` (Raw MIME) and `sns.publish(PhoneNumber=...)`
reach moto, which keeps every message (`ses_backends[...].sent_messages`, `sns_backends[...].sms_messages`). This
module turns them into what a developer wants to read (`GET /_local/outbox`) and a page that shows each email's
HTML as the client's mail program would (`GET /_local/outbox/page`).

moto keeps no send time, so `at` is when the runner first saw the message, on the product's clock (the runner
looks every half second, and before each answer).
"""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import threading
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AttachmentInfo(BaseModel):
    filename: str
    content_type: str
    size: int


class OutboxMessage(BaseModel):
    """One message as its recipient would get it; `from` in JSON (`sender` in Python, `from` being a keyword)."""

    model_config = ConfigDict(populate_by_name=True)

    channel: Literal["email", "sms"]
    to: str
    sender: str = Field(alias="from")
    subject: str
    text: str
    html: str
    attachments: list[AttachmentInfo]
    at: str
    message_id: str

    def addressed_to(self, recipient: str) -> bool:
        wanted = recipient.strip().lower()
        return any(address.strip().lower() == wanted for address in self.to.split(","))


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _text_of(part: Any) -> str:
    return str(part.get_content()) if part is not None else ""


def parse_email(message_id: str, source: str, destinations: list[str], raw: str, at: str) -> OutboxMessage:
    """A Raw MIME message as sent: its text and HTML alternatives and the names and sizes of its attachments."""
    parsed = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    # moto adds the To/Cc header addresses to the destinations it was given: the headers say it once each.
    headed = [address for _, address in getaddresses([str(v) for v in parsed.get_all("To", []) or []]) if address]
    recipients = headed or list(dict.fromkeys(address for _, address in getaddresses(destinations) if address))
    attachments = []
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        attachments.append(
            AttachmentInfo(
                filename=part.get_filename() or "",
                content_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else 0,
            )
        )
    return OutboxMessage(
        channel="email",
        to=", ".join(recipients),
        sender=" ".join(str(parsed.get("From") or source).split()),
        # Unfolded as a mail program shows it (a header folded right after its name keeps the fold's space).
        subject=" ".join(str(parsed.get("Subject") or "").split()),
        text=_text_of(parsed.get_body(preferencelist=("plain",))),
        html=_text_of(parsed.get_body(preferencelist=("html",))),
        attachments=attachments,
        at=at,
        message_id=message_id,
    )


class Outbox:
    """Every email and text moto received, in the order the runner saw them (newest last)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}  # message id -> first seen (product clock, ISO)
        self._parsed: dict[str, OutboxMessage] = {}  # a message never changes: parsed once
        self._lock = threading.Lock()

    def _stamp(self, message_id: str) -> str:
        from booking.clock import now

        with self._lock:
            return self._seen.setdefault(message_id, now().isoformat(timespec="seconds"))

    def observe(self) -> None:
        """Note the send time of messages not seen before (the runner calls this every half second)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        for sent in list(ses_backends[DEFAULT_ACCOUNT_ID][_region()].sent_messages):
            self._stamp(sent.id)
        for message_id in list(sns_backends[DEFAULT_ACCOUNT_ID][_region()].sms_messages):
            self._stamp(message_id)

    def messages(self, to: str | None = None) -> list[OutboxMessage]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import RawMessage, ses_backends
        from moto.sns.models import sns_backends

        found: list[tuple[int, OutboxMessage]] = []
        ses = ses_backends[DEFAULT_ACCOUNT_ID][_region()]
        for sent in list(ses.sent_messages):
            at = self._stamp(sent.id)
            if sent.id in self._parsed:
                message = self._parsed[sent.id]
            elif isinstance(sent, RawMessage):
                message = parse_email(sent.id, sent.source, list(sent.destinations), sent.raw_data, at)
            else:  # a Simple email (no MIME): moto keeps its subject and one body
                destinations = sent.destinations if isinstance(sent.destinations, dict) else {}
                body = str(getattr(sent, "body", ""))
                message = OutboxMessage(
                    channel="email",
                    to=", ".join(destinations.get("ToAddresses", [])),
                    sender=sent.source,
                    subject=str(getattr(sent, "subject", "")),
                    text=body,
                    html="",
                    attachments=[],
                    at=at,
                    message_id=sent.id,
                )
            self._parsed[sent.id] = message
            found.append((len(found), message))
        sms = sns_backends[DEFAULT_ACCOUNT_ID][_region()].sms_messages
        for message_id, (phone, text) in list(sms.items()):
            message = OutboxMessage(
                channel="sms",
                to=phone,
                sender="",
                subject="",
                text=text,
                html="",
                attachments=[],
                at=self._stamp(message_id),
                message_id=message_id,
            )
            found.append((len(found), message))
        # Emails and texts interleaved by when they were seen; within one look, in the order moto kept them.
        ordered = [message for _, message in sorted(found, key=lambda pair: (pair[1].at, pair[0]))]
        return [message for message in ordered if to is None or message.addressed_to(to)]


PAGE_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f4f6;color:#1d1d22}
header{padding:16px 24px;background:#1d1d22;color:#fff}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9c9d1}header a{color:#fff}
main{padding:16px 24px;max-width:980px}
article{background:#fff;border:1px solid #dcdce2;border-radius:8px;margin:0 0 18px;padding:14px 16px}
article h2{font-size:17px;margin:0 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 10px;font-size:14px}
dt{color:#5b5b66}dd{margin:0;word-break:break-all}
iframe{width:100%;height:480px;border:1px solid #dcdce2;border-radius:4px;background:#fff}
pre{white-space:pre-wrap;background:#f7f7f9;border:1px solid #e4e4ea;border-radius:4px;padding:10px;margin:6px 0 0}
.channel{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;margin-right:6px;
background:#e3e8ff;color:#2a3a9a}.channel.sms{background:#e1f5e8;color:#1d6b3a}
.empty{color:#5b5b66}
"""


NEW_TAB = '<base target="_blank">'
HEAD_TAG = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def framed(document: str) -> str:
    """The email's HTML with its links opening in a new tab (as from a mail program), not inside the frame. The
    `<base>` goes into its head: before the doctype it would put the email in quirks mode."""
    head = HEAD_TAG.search(document)
    if head:
        return document[: head.end()] + NEW_TAB + document[head.end() :]
    return NEW_TAB + document


def _row(label: str, value: str) -> str:
    return f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>" if value else ""


def render_page(messages: list[OutboxMessage], *, to: str | None = None) -> str:
    """The outbox as one self-contained page, newest first. An email's HTML is shown in an iframe sandboxed with no
    scripts (srcdoc, escaped); its links open in a new tab, as they would from a mail program."""
    articles = []
    for message in reversed(messages):
        title = message.subject or (message.text.splitlines() or [""])[0][:80]
        attachments = ", ".join(
            f"{item.filename or '(no name)'} ({item.content_type}, {item.size} bytes)" for item in message.attachments
        )
        meta = (
            _row("To", message.to)
            + _row("From", message.sender)
            + _row("At", message.at)
            + _row("Attachments", attachments)
            + _row("Message id", message.message_id)
        )
        parts = [
            f'<article><h2><span class="channel {message.channel}">{message.channel.upper()}</span>'
            f"{html.escape(title)}</h2><dl>{meta}</dl>"
        ]
        if message.channel == "sms":
            parts.append(f"<pre>{html.escape(message.text)}</pre>")
        else:
            if message.html:
                document = framed(message.html)
                parts.append(
                    f'<iframe title="{html.escape(title)}" sandbox="allow-popups allow-popups-to-escape-sandbox" '
                    f'referrerpolicy="no-referrer" srcdoc="{html.escape(document, quote=True)}"></iframe>'
                )
            parts.append(
                f"<details{' open' if not message.html else ''}><summary>Text version</summary>"
                f"<pre>{html.escape(message.text)}</pre></details>"
            )
        parts.append("</article>")
        articles.append("".join(parts))
    scope = f" to {html.escape(to)}" if to else ""
    body = "".join(articles) or f'<p class="empty">Nothing sent{scope} yet.</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Local outbox{scope}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<header><h1>Local outbox{scope}</h1><p>{len(messages)} message(s) the product sent through SES and SNS "
        'texts, held by the local runner (nothing leaves this machine). Newest first. <a href="">Reload</a> · '
        '<a href="/_local/outbox">JSON</a></p></header>'
        f"<main>{body}</main></body></html>"
    )
