"""Hourly (EventBridge Scheduler): Stripe Connect transfers to providers once a payment's hold period is over."""

from __future__ import annotations

from booking import payouts
from booking.jobs import scheduled_handler

lambda_handler = scheduled_handler(payouts.run)
