"""The message records (MessageItem): the once-only rule and the send state machine, each step a conditional
write.

    planned (PENDING, due at send_at) --lease--> SENDING --sent--> SENT
                                          |          \\--failed--> PENDING again at a later send_at (backoff)
                                          |                        or FAILED after NOTIFY_MAX_ATTEMPTS
    PENDING --withdraw--> WITHDRAWN (a reminder whose booking moved or ended)

`plan` is a put conditional on the record not existing: a duplicate event, a stream record delivered twice or two
workers at once all find it there and send nothing. `lease` moves PENDING (or a SENDING whose lease expired: the
worker died) to SENDING for one worker; only the holder records the outcome. A worker that dies after SES
accepted the message and before `mark_sent` leaves the one window where a message can go twice (SES has no
idempotency key); every other path sends at most once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pynamodb.exceptions import PutError, UpdateError

from booking.dal.items import MessageItem
from booking.notify.messages import Channel, Kind

DUE = "DUE"
PREFIX = "MSG#"


class Message(BaseModel):
    """A message record as the owner reads it."""

    model_config = ConfigDict(frozen=True)

    subject_id: str
    message_key: str
    kind: Kind
    channel: Channel
    recipient: str
    status: str
    send_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    withdrawn_reason: str | None = None
    context: dict[str, Any] = {}
    created_at: datetime
    updated_at: datetime


def sort_key(message_key: str, channel: str) -> str:
    return f"{PREFIX}{message_key}#{channel}"


def to_message(item: MessageItem) -> Message:
    return Message(
        subject_id=item.subject_id,
        message_key=item.message_key,
        kind=item.kind,  # type: ignore[arg-type]
        channel=item.channel,  # type: ignore[arg-type]
        recipient=item.recipient,
        status=item.msg_status,
        send_at=item.send_at if item.outbox_state else None,
        attempts=int(item.attempts or 0),
        last_error=item.last_error,
        provider_message_id=item.provider_message_id,
        sent_at=item.sent_at,
        withdrawn_reason=item.withdrawn_reason,
        context=json.loads(item.context or "{}"),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def _conditional_failure(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def plan(
    *,
    pk: str,
    subject_id: str,
    message_key: str,
    kind: str,
    channel: str,
    recipient: str,
    context: dict[str, Any],
    send_at: datetime,
    now: datetime,
    lease: tuple[str, datetime] | None = None,
) -> MessageItem | None:
    """Record the message once. With `lease` (holder, until) it is written already leased to this worker, which
    sends it at once (one write fewer than plan-then-lease). None when the record exists (sent, or being sent)."""
    item = MessageItem(
        pk,
        sort_key(message_key, channel),
        message_key=message_key,
        kind=kind,
        channel=channel,
        recipient=recipient,
        subject_id=subject_id,
        context=json.dumps(context, sort_keys=True, default=str),
        msg_status="SENDING" if lease else "PENDING",
        outbox_state=DUE,
        send_at=lease[1] if lease else send_at,
        lease=lease[0] if lease else None,
        attempts=1 if lease else 0,
        created_at=now,
        updated_at=now,
    )
    try:
        item.save(condition=MessageItem.pk.does_not_exist())
    except PutError as exc:
        if _conditional_failure(exc):
            return None
        raise
    return item


def _update(pk: str, sk: str, actions: list[Any], condition: Any) -> MessageItem | None:
    item = MessageItem(pk, sk)
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if _conditional_failure(exc):
            return None
        raise
    return item


def lease(pk: str, sk: str, holder: str, *, now: datetime, until: datetime) -> MessageItem | None:
    """Take the message for one send attempt: it is pending and due, or its last sender's lease ran out. None when
    another worker has it, it was sent, failed or withdrawn, or it is not due yet."""
    due = (MessageItem.outbox_state == DUE) & (MessageItem.send_at <= now)
    return _update(
        pk,
        sk,
        [
            MessageItem.msg_status.set("SENDING"),
            MessageItem.lease.set(holder),
            MessageItem.send_at.set(until),
            MessageItem.attempts.add(1),
            MessageItem.updated_at.set(now),
        ],
        due & MessageItem.msg_status.is_in("PENDING", "SENDING"),
    )


def _out_of_outbox() -> list[Any]:
    """A final status: out of the OutboxIndex, nobody's lease."""
    return [MessageItem.outbox_state.remove(), MessageItem.send_at.remove(), MessageItem.lease.remove()]


def _held_by(holder: str) -> Any:
    return (MessageItem.msg_status == "SENDING") & (MessageItem.lease == holder)


def mark_sent(pk: str, sk: str, holder: str, *, provider_message_id: str, now: datetime) -> bool:
    return (
        _update(
            pk,
            sk,
            [
                MessageItem.msg_status.set("SENT"),
                MessageItem.provider_message_id.set(provider_message_id),
                MessageItem.sent_at.set(now),
                MessageItem.updated_at.set(now),
                MessageItem.last_error.remove(),
                *_out_of_outbox(),
            ],
            _held_by(holder),
        )
        is not None
    )


def mark_retry(pk: str, sk: str, holder: str, *, error: str, retry_at: datetime, now: datetime) -> bool:
    return (
        _update(
            pk,
            sk,
            [
                MessageItem.msg_status.set("PENDING"),
                MessageItem.send_at.set(retry_at),
                MessageItem.last_error.set(error[:500]),
                MessageItem.updated_at.set(now),
                MessageItem.lease.remove(),
            ],
            _held_by(holder),
        )
        is not None
    )


def mark_failed(pk: str, sk: str, holder: str, *, error: str, now: datetime) -> bool:
    return (
        _update(
            pk,
            sk,
            [
                MessageItem.msg_status.set("FAILED"),
                MessageItem.last_error.set(error[:500]),
                MessageItem.updated_at.set(now),
                *_out_of_outbox(),
            ],
            _held_by(holder),
        )
        is not None
    )


def mark_withdrawn(pk: str, sk: str, *, reason: str, now: datetime, holder: str | None = None) -> bool:
    """Withdraw a message not sent yet: pending, or (by its holder) one found obsolete when about to be sent."""
    condition = _held_by(holder) if holder else (MessageItem.msg_status == "PENDING")
    return (
        _update(
            pk,
            sk,
            [
                MessageItem.msg_status.set("WITHDRAWN"),
                MessageItem.withdrawn_reason.set(reason),
                MessageItem.updated_at.set(now),
                *_out_of_outbox(),
            ],
            condition,
        )
        is not None
    )


def revive(pk: str, sk: str, *, send_at: datetime, now: datetime) -> bool:
    """A withdrawn message planned again (a reminder whose booking came back to its time): pending at send_at."""
    return (
        _update(
            pk,
            sk,
            [
                MessageItem.msg_status.set("PENDING"),
                MessageItem.outbox_state.set(DUE),
                MessageItem.send_at.set(send_at),
                MessageItem.withdrawn_reason.remove(),
                MessageItem.updated_at.set(now),
            ],
            MessageItem.msg_status == "WITHDRAWN",
        )
        is not None
    )


def records_of(pk: str, key_prefix: str = "") -> list[MessageItem]:
    """The records of one subject (a booking, package or alert), optionally those whose key starts so."""
    return list(MessageItem.query(pk, MessageItem.sk.startswith(PREFIX + key_prefix), consistent_read=True))


def messages_of(pk: str) -> list[Message]:
    """What was (or will be) sent about one subject, oldest first: the owner's view."""
    return sorted((to_message(item) for item in records_of(pk)), key=lambda message: message.created_at)


def due(now: datetime, limit: int) -> list[MessageItem]:
    """Messages due by `now`: pending ones whose time came, and leases that ran out."""
    return list(MessageItem.outbox_index.query(DUE, MessageItem.send_at <= now, limit=limit))
