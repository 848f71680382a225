"""Hourly (EventBridge Scheduler): Stripe Connect transfers to providers once a payment's hold period is over."""

from __future__ import annotations

from booking import payout_job
from booking.jobs import scheduled_handler

lambda_handler = scheduled_handler(payout_job.run)
