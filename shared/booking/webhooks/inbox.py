"""Webhook events are processed once: stored when verified, marked processed when handled.

A redelivered event that was processed changes nothing. An event whose handling failed stays PENDING in the
inbox with its next attempt time: Stripe redelivers it, and the cleanup job reprocesses it (Cal.com sends only
once) with a doubling backoff, until MAX_EVENT_ATTEMPTS set it aside with its booking flagged.
"""

from __future__ import annotations

from collections.abc import Callable

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.models import Booking
from booking.observability import logger, metrics
from booking.owner.alerts import alert_about, flag


def process_once(
    source: str,
    identity: str,
    event_type: str,
    raw: str,
    handle: Callable[[], str],
    booking_of: Callable[[], Booking | None],
) -> str:
    """Handle a verified event once. A failure leaves it for a retry with backoff; after MAX_EVENT_ATTEMPTS it is
    set aside and its booking (`booking_of`) flagged, so a poisoned event never blocks the others unseen."""
    if not store.receive_event(source, identity, event_type, raw, clock_now()):
        metrics.add_metric(name="WebhookDuplicate", unit="Count", value=1)
        return "duplicate"
    try:
        outcome = handle()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        metrics.add_metric(name="WebhookFailed", unit="Count", value=1)
        if store.event_failed(source, identity, error, clock_now()):
            _set_aside(source, identity, event_type, error, booking_of)
        raise
    store.event_processed(source, identity, clock_now())
    logger.info("webhook processed", extra={"source": source, "event_type": event_type, "outcome": outcome})
    return outcome


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
            booking,
            "webhook_failed",
            f"{source} {event_type} ({identity}) failed {store.MAX_EVENT_ATTEMPTS} times: {error}",
        )
    else:
        alert_about(
            f"Webhook {source} {event_type} set aside",
            f"{identity} failed {store.MAX_EVENT_ATTEMPTS} times and no booking of ours was found: {error}",
        )
