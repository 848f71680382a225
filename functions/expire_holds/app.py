"""Every few minutes (EventBridge Scheduler): expire abandoned holds, finish paid bookings, alert on expired
tokens, reprocess failed webhook events, reconcile with Stripe."""

from __future__ import annotations

from booking.jobs import cleanup
from booking.jobs.handler import scheduled_handler

lambda_handler = scheduled_handler(cleanup.run)
