"""Webhook events are processed once: stored when verified, marked processed when handled.

A redelivered event that was processed changes nothing. An event whose handling failed stays PENDING in the
inbox: Stripe redelivers it, and the cleanup job reprocesses it (Cal.com sends only once).
"""

from __future__ import annotations

from collections.abc import Callable

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.observability import logger, metrics


def process_once(source: str, identity: str, event_type: str, raw: str, handle: Callable[[], str]) -> str:
    if not store.receive_event(source, identity, event_type, raw, clock_now()):
        metrics.add_metric(name="WebhookDuplicate", unit="Count", value=1)
        return "duplicate"
    try:
        outcome = handle()
    except Exception as exc:
        store.event_failed(source, identity, f"{type(exc).__name__}: {exc}")
        metrics.add_metric(name="WebhookFailed", unit="Count", value=1)
        raise
    store.event_processed(source, identity, clock_now())
    logger.info("webhook processed", extra={"source": source, "event_type": event_type, "outcome": outcome})
    return outcome
