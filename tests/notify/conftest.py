"""Notifications on: our From address verified in moto's SES, the owner's address set; the table's stream is
handed to NotificationsFunction by `deliver` as Lambda's event source mapping would."""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from typing import Any

import boto3
import pytest

from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from tests.integration.helpers import MONDAY, local, next_weekday, travel_to
from tests.support import Clock

FROM = "bookings@aura.example"
OWNER = "owner@aura.example"


@pytest.fixture
def notifications(lam: LocalLambda, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from booking.settings import get_settings

    if FROM not in _identities():  # moto's SES refuses an unverified From, as SES does
        boto3.client("sesv2").create_email_identity(EmailIdentity=FROM)
    monkeypatch.setenv("NOTIFY_FROM_EMAIL", FROM)
    monkeypatch.setenv("OWNER_EMAIL", OWNER)
    get_settings.cache_clear()
    _sent_before.clear()
    _sent_before.extend(_all_emails())
    _sms_before.clear()
    _sms_before.extend(_all_sms())
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _identities() -> list[str]:
    return [i["IdentityName"] for i in boto3.client("sesv2").list_email_identities()["EmailIdentities"]]


_PUMP: dict[str, StreamPump] = {}
_sent_before: list[Any] = []
_sms_before: list[Any] = []


def deliver(lam: LocalLambda) -> list[dict[str, Any]]:
    """Every stream record written since the last call, through the notifier (as the event source mapping)."""
    pump = _PUMP.setdefault("pump", StreamPump(os.environ["TABLE_NAME"]))
    return [lam.invoke("NotificationsFunction", event) for event in pump.events()]


def sweep(lam: LocalLambda) -> dict[str, Any]:
    from tests.support import run_job

    return run_job(lam, "NotificationsFunction")


def _ses() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_REGION", "us-east-1")]


def _all_emails() -> list[Any]:
    return list(_ses().sent_messages)


def _all_sms() -> list[tuple[str, str]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_REGION", "us-east-1")].sms_messages.values())


def emails(to: str | None = None) -> list[Message]:
    """The emails SES accepted during this test (parsed MIME), oldest first."""
    seen = {id(m) for m in _sent_before}
    parsed = [
        email.message_from_bytes(
            m.raw_data if isinstance(m.raw_data, bytes) else m.raw_data.encode(), policy=email.policy.default
        )
        for m in _all_emails()
        if id(m) not in seen
    ]
    return [m for m in parsed if to is None or m["To"] == to]


def texts() -> list[tuple[str, str]]:
    return _all_sms()[len(_sms_before) :]


def body(message: Message, subtype: str = "plain") -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            return payload.decode(part.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""
    return ""


def attachment(message: Message, filename: str) -> bytes | None:
    for part in message.walk():
        if part.get_filename() == filename:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


@pytest.fixture
def tuesday(clock: Clock, notifications: None) -> Iterator[Any]:
    """Monday 08:00 business time; a facial on Tuesday at 10:00 is 26 h ahead: its 24 h reminder is due at 10:00."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    yield local(monday + timedelta(days=1), 10)
