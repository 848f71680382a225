"""Hourly (EventBridge Scheduler): Stripe Connect transfers to providers once a payment's hold period is over."""

from __future__ import annotations

from booking.jobs import payouts as payout_job
from booking.jobs.handler import scheduled_handler

lambda_handler = scheduled_handler(payout_job.run)
