"""The hourly payout job: every provider payout that is due (and failed ones again), within the run's budget.

Each booking comes from the PayoutIndex, is first checked against its Cal.com booking (a cancellation whose
webhook was lost is applied, and refunded, before anyone is paid for it), then decided by `money.pay_provider`.
"""

from __future__ import annotations

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.errors import DomainError
from booking.flows.calendar_sync import reconcile
from booking.jobs.handler import Budget
from booking.money.payouts import DUE, FAILED
from booking.money.settlement import pay_provider
from booking.observability import logger

PAGE = 100  # payouts per state per run


class PayoutReport(BaseModel):
    paid: int = 0
    failed: int = 0
    skipped: int = 0
    blocked: int = 0
    waiting: int = 0
    stopped_early: bool = False


def run(budget: Budget) -> PayoutReport:
    report = PayoutReport()
    now = clock_now()
    seen: set[str] = set()  # a payout that fails in this run waits for the next one
    for state in (DUE, FAILED):
        for booking in store.payouts_due(state, now, PAGE):
            if booking.booking_id in seen:
                continue
            seen.add(booking.booking_id)
            if not budget():
                report.stopped_early = True
                return report
            logger.append_keys(booking_id=booking.booking_id)
            try:
                reconcile(booking)
                outcome = pay_provider(booking)
            except store.StaleBooking:
                continue  # another run decided this one first
            except DomainError as exc:  # Stripe or Cal.com down, or another worker moving this booking's money
                logger.warning("payout deferred", extra={"error": f"{type(exc).__name__}: {exc}"})
                outcome = "waiting: deferred"
            field = outcome.split(maxsplit=1)[0].rstrip(":")  # each outcome starts with its report field
            setattr(report, field, getattr(report, field) + 1)
    return report
