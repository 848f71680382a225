"""Webhook events are processed on delivery; only an event whose processing fails is kept (the inbox).

No event is stored to be deduplicated: each handler reads its booking and applies a conditional change, so a
redelivered or concurrent copy finds the booking already where the event puts it and writes nothing (refunds,
payments and history are keyed by the booking's state, Stripe's ids and deterministic Idempotency-Keys).

An event whose processing raises (a dependency down, a booking changing under it after every retry) is stored
PENDING on the sparse InboxIndex with its next attempt time: Stripe redelivers it (the answer stays an error),
and the cleanup job reprocesses it (Cal.com sends only once) with a doubling backoff, until MAX_EVENT_ATTEMPTS set
it aside with its booking flagged. If it cannot even be stored, the answer is a 503 so the provider redelivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pynamodb.exceptions import PutError, UpdateError

from booking.clock import now as clock_now
from booking.dal.bookings import INBOX_FIRST_RETRY, INBOX_MAX_RETRY, INBOX_TTL, MAX_EVENT_ATTEMPTS
from booking.dal.items import InboxItem
from booking.domain.models import Booking
from booking.errors import ServiceUnavailable
from booking.observability import logger, metrics
from booking.owner.alerts import alert_about, flag


class EventNotKept(ServiceUnavailable):
    """Processing failed and the event could not be stored for a retry: the provider must deliver it again."""

    code = "event_not_kept"

    def __init__(self) -> None:
        super().__init__("The event could not be processed or kept for a retry; deliver it again.")


def process(
    source: str,
    identity: str,
    event_type: str,
    raw: str,
    handle: Callable[[], str],
    booking_of: Callable[[], Booking | None],
    *,
    stored: bool = False,
) -> str:
    """Handle a verified event now. A failure keeps it for a retry with backoff (`stored`: the cleanup job's retry
    of a kept event, marked processed when it succeeds); after MAX_EVENT_ATTEMPTS it is set aside and its booking
    (`booking_of`) flagged, so a poisoned event never blocks the others unseen."""
    started, received = time.perf_counter(), clock_now()
    try:
        outcome = handle()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        metrics.add_metric(name="WebhookFailed", unit="Count", value=1)
        try:
            set_aside = keep_failed(source, identity, event_type, raw, error, received, clock_now())
        except Exception as store_exc:
            logger.exception("webhook event neither processed nor kept", extra={"source": source, "error": error})
            metrics.add_metric(name="WebhookNotKept", unit="Count", value=1)
            raise EventNotKept() from store_exc
        if set_aside:
            _set_aside(source, identity, event_type, error, booking_of)
        raise
    if stored:
        mark_processed(source, identity, clock_now())
    # Every delivery's processing time, no-ops included (they write nothing the reports could count).
    metrics.add_metric(name="WebhookProcessingMs", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)
    logger.info("webhook processed", extra={"source": source, "event_type": event_type, "outcome": outcome})
    return outcome


def _key(source: str, identity: str) -> str:
    return f"EVENT#{source}#{identity}"


def keep_failed(
    source: str, identity: str, event_type: str, raw: str, error: str, received: datetime, now: datetime
) -> bool:
    """Store an event whose processing failed, or count one more failure of one stored already: its next attempt
    backs off (doubling from INBOX_FIRST_RETRY up to INBOX_MAX_RETRY); the MAX_EVENT_ATTEMPTS-th failure takes it
    off the retry queue (kept for the owner). True when this call set it aside."""
    item = InboxItem(
        _key(source, identity),
        "EVENT",
        source=source,
        event_type=event_type,
        body=raw,
        received_at=received,
        inbox_state="PENDING",
        retry_at=now + INBOX_FIRST_RETRY,
        attempts=1,
        last_error=error[:1000],
        expires_ttl=now + INBOX_TTL,
    )
    try:
        item.save(condition=InboxItem.pk.does_not_exist())
        return False
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
    existing = InboxItem.get(item.pk, "EVENT", consistent_read=True)
    if existing.processed_at is not None or existing.failed_at is not None:
        return False  # processed once already (this was a redundant copy), or set aside for the owner
    attempts = existing.attempts + 1
    if attempts >= MAX_EVENT_ATTEMPTS:
        actions = [InboxItem.inbox_state.remove(), InboxItem.retry_at.remove(), InboxItem.failed_at.set(now)]
    else:
        delay = min(INBOX_FIRST_RETRY * 2 ** min(attempts - 1, 16), INBOX_MAX_RETRY)
        actions = [InboxItem.retry_at.set(now + delay)]
    try:
        existing.update(
            actions=[*actions, InboxItem.attempts.set(attempts), InboxItem.last_error.set(error[:1000])],
            condition=InboxItem.processed_at.does_not_exist() & (InboxItem.attempts == existing.attempts),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False  # another attempt got further meanwhile; it decides
        raise
    return attempts >= MAX_EVENT_ATTEMPTS


def mark_processed(source: str, identity: str, now: datetime) -> None:
    """A kept event processed by a retry: off the queue; its received -> processed time goes to the reports."""
    InboxItem(_key(source, identity), "EVENT").update(
        actions=[
            InboxItem.processed_at.set(now),
            InboxItem.inbox_state.remove(),
            InboxItem.retry_at.remove(),
            InboxItem.last_error.remove(),
        ],
        condition=InboxItem.pk.exists() & InboxItem.processed_at.does_not_exist(),
    )


def pending_events(now: datetime, limit: int) -> list[tuple[str, str, str]]:
    """(source, identity, raw body) of kept events whose next attempt is due, soonest first: an event that keeps
    failing waits its backoff and never holds newer ones back."""
    found = InboxItem.inbox_index.query("PENDING", InboxItem.retry_at <= now, limit=limit)
    return [(item.source, item.pk.split("#", 2)[2], item.body) for item in found]


def _set_aside(
    source: str, identity: str, event_type: str, error: str, booking_of: Callable[[], Booking | None]
) -> None:
    metrics.add_metric(name="WebhookSetAside", unit="Count", value=1)
    logger.error("webhook event set aside", extra={"source": source, "event_type": event_type, "error": error})
    try:
        booking = booking_of()
    except Exception:  # the event's own trouble may be finding its booking
        booking = None
    if booking is not None:
        flag(
            booking, "webhook_failed", f"{source} {event_type} ({identity}) failed {MAX_EVENT_ATTEMPTS} times: {error}"
        )
    else:
        alert_about(
            f"Webhook {source} {event_type} set aside",
            f"{identity} failed {MAX_EVENT_ATTEMPTS} times and no booking of ours was found: {error}",
        )
