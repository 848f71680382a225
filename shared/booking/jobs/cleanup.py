"""The cleanup job (every few minutes): expire abandoned holds, finish paid bookings, alert on expired
tokens, refund lost slots whose rebook window ended, reprocess webhook events whose handling failed, and
reconcile with Stripe.

Bounded: each step takes at most a page of work and the run stops before the Lambda timeout; whatever is
left is still due next run. Safe twice at once: every change is a conditional transition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import blocks
from booking.dal import bookings as store
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import (
    BookingClosed,
    CalendarBookingCancelled,
    CalendarError,
    CalendarUnavailable,
    ConfirmationInProgress,
    DomainError,
    PaymentProviderUnavailable,
    SlotUnavailable,
)
from booking.flows import calendar_sync, lost_slot
from booking.flows.confirmation import confirm_booking
from booking.flows.series import record_payment  # a series' PaymentIntent records every occurrence
from booking.jobs.handler import Budget
from booking.money.collections import LATER_PURPOSES
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers import payments
from booking.webhooks import cal_events, inbox, stripe_events

S = BookingStatus
PAGE = 100  # items per step per run
RECONCILE_WINDOW = timedelta(days=3)  # Stripe retries undelivered events for up to 3 days
STUCK_AFTER_ATTEMPTS = 5
CANCEL_EVENT_GRACE = timedelta(minutes=30)
CALENDAR_CHECK_AHEAD = timedelta(hours=48)
CALENDAR_CHECK_EVERY = timedelta(hours=6)
CALENDAR_CHECKS_PER_RUN = 20  # every 5 minutes: 4 reads a minute at most, far below Cal.com's 120
OPEN_PAYMENT = frozenset({"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"})


class CleanupReport(BaseModel):
    holds_expired: int = 0
    late_payments_recorded: int = 0
    bookings_confirmed: int = 0
    rebook_windows_closed: int = 0
    confirmations_deferred: int = 0
    tokens_expired_alerted: int = 0
    events_reprocessed: int = 0
    payments_repaired: int = 0
    money_settled: int = 0
    calendar_checked: int = 0
    calendar_repaired: int = 0
    errors: int = 0
    stopped_early: bool = False


def _each(items: Iterable[Booking], budget: Budget, report: CleanupReport, work: Callable[[Booking], None]) -> None:
    for booking in items:
        if not budget():
            return
        logger.append_keys(booking_id=booking.booking_id)
        try:
            work(booking)
        except (DomainError, store.StaleBooking) as exc:  # one booking's trouble never stops the run
            report.errors += 1
            logger.warning("cleanup step failed for a booking", extra={"error": f"{type(exc).__name__}: {exc}"})
    logger.remove_keys(["booking_id"])


def expire_hold(booking: Booking, report: CleanupReport) -> None:
    """A hold past its expiry: cancel its PaymentIntent, unless Stripe says it was paid after all."""
    if booking.payment_intent_id:
        intent = payments.retrieve_payment_intent(booking.payment_intent_id)
        if intent.status == "processing":
            return  # the payment is in flight: look again next run
        if intent.status in OPEN_PAYMENT:
            intent = _cancel_or_reread(booking)
        if intent.status == "succeeded":
            record_payment(booking.booking_id, intent, actor="cleanup")
            report.late_payments_recorded += 1
            stripe_events.finish_booking(booking.booking_id, actor="cleanup")
            return
    store.release_seat(booking, S.EXPIRED, actor="cleanup", reason="hold expired unpaid", now=clock_now())
    metrics.add_metric(name="HoldExpired", unit="Count", value=1)
    report.holds_expired += 1


def _cancel_or_reread(booking: Booking) -> payments.PaymentIntentView:
    try:
        return payments.cancel_payment_intent(booking)
    except DomainError:
        # Stripe refuses to cancel a PaymentIntent that just succeeded: read what it is now.
        return payments.retrieve_payment_intent(booking.payment_intent_id or "")


def finish_paid(booking: Booking, report: CleanupReport) -> None:
    """A paid booking the client never verified: book it in Cal.com with the same code as /bookings/verify."""
    now = clock_now()
    if (
        booking.token_expires_at
        and booking.token_expires_at <= now
        and not booking.has_flag("token_expired_unconfirmed")
    ):
        flag(booking, "token_expired_unconfirmed", "the booking link expired before the client verified")
        report.tokens_expired_alerted += 1
    try:
        confirm_booking(booking.booking_id, actor="cleanup", wait=False)
        report.bookings_confirmed += 1
    except (CalendarUnavailable, ConfirmationInProgress, CalendarError) as exc:
        report.confirmations_deferred += 1
        if booking.cal_attempts + 1 >= STUCK_AFTER_ATTEMPTS:
            flag(booking, "confirmation_stuck", f"{booking.cal_attempts + 1} attempts; last: {exc.message}")
    except CalendarBookingCancelled:
        if booking.paid_at and now - booking.paid_at > CANCEL_EVENT_GRACE:
            flag(booking, "calendar_booking_cancelled", "cancelled in Cal.com; no BOOKING_CANCELLED event received")
    except (SlotUnavailable, BookingClosed):
        pass  # flagged (slot lost) or moved on by someone else


def close_rebook_window(booking: Booking, report: CleanupReport) -> None:
    """A lost slot whose rebook window ended with no other time chosen: refund in full, tell the owner."""
    if lost_slot.close_window(booking, actor="cleanup") is not None:
        report.rebook_windows_closed += 1


def reprocess_inbox(now: datetime, budget: Budget, report: CleanupReport) -> None:
    """Webhook events kept because their handling failed, whose next attempt is due: Cal.com never sends them
    again. Each failure pushes the event's next attempt back; the eighth sets it aside (flagged)."""
    for source, _identity, raw in inbox.pending_events(now, PAGE):
        if not budget():
            return
        try:
            if source == "stripe":
                event = stripe_events.StripeEvent.model_validate_json(raw)
                stripe_events.handle(event, raw.encode(), stored=True)
            else:
                cal_events.handle(cal_events.CalEvent.parse(raw.encode()), raw.encode(), stored=True)
            report.events_reprocessed += 1
        except Exception as exc:
            report.errors += 1
            logger.warning(
                "inbox event failed again", extra={"source": source, "error": f"{type(exc).__name__}: {exc}"}
            )


def sweep_money(now: datetime, budget: Budget, report: CleanupReport) -> None:
    """Bookings whose refund or reversal is still owed (Stripe was down, a dispute held it up, a worker died):
    settle each again; a failure pushes it back with a growing delay (`ledger.owed_later`)."""
    for booking_id in store.money_owed(PAGE, now):
        if not budget():
            return
        booking = store.get_booking(booking_id)
        if booking is None:
            continue
        logger.append_keys(booking_id=booking_id)
        try:
            settle(booking)
            report.money_settled += 1
        except (DomainError, store.StaleBooking) as exc:
            report.errors += 1
            logger.warning("money still owed", extra={"error": f"{type(exc).__name__}: {exc}"})
    logger.remove_keys(["booking_id"])


def reconcile(now: datetime, budget: Budget, report: CleanupReport) -> None:
    """Succeeded PaymentIntents our bookings do not reflect (a missed webhook): record them, tell the owner."""
    since = int((now - RECONCILE_WINDOW).timestamp())
    for intent in payments.recent_payment_intents(since):
        if not budget():
            return
        booking_id = intent.metadata.get("booking_id")
        if intent.status != "succeeded" or not booking_id:
            continue
        booking = store.get_booking(booking_id)
        if booking is not None and intent.purpose in LATER_PURPOSES:
            if any(p.payment_id == intent.id and p.status == "succeeded" for p in booking.payments):
                continue
            try:
                settle(booking, stripe_changed=True)  # a balance or fee paid and its webhook lost: copy it in
            except (DomainError, store.StaleBooking) as exc:
                report.errors += 1
                logger.warning("reconciliation could not record a later payment", extra={"error": str(exc)})
                continue
            report.payments_repaired += 1
            continue
        if booking is None or booking.amount_paid or booking.payment_intent_id not in (None, intent.id):
            continue
        logger.append_keys(booking_id=booking_id)
        try:
            repaired = record_payment(booking_id, intent, actor="reconciliation")
        except (DomainError, store.StaleBooking) as exc:
            report.errors += 1
            logger.warning("reconciliation could not record a payment", extra={"error": str(exc)})
            continue
        flag(repaired, "reconciliation_repair", f"{intent.id} succeeded but no webhook reached us; recorded now")
        report.payments_repaired += 1
        if repaired.status == S.PAID:
            stripe_events.finish_booking(booking_id, actor="reconciliation")


def check_calendar(now: datetime, budget: Budget, report: CleanupReport) -> None:
    """CONFIRMED bookings starting within CALENDAR_CHECK_AHEAD (or already over) whose Cal.com booking was not
    checked for CALENDAR_CHECK_EVERY: a lost cancellation, reschedule or meeting-ended webhook is repaired
    before the client arrives. At most CALENDAR_CHECKS_PER_RUN Cal.com reads a run (120 a minute is the limit)."""
    due = store.bookings_due(
        S.CONFIRMED,
        now + CALENDAR_CHECK_AHEAD,
        PAGE,
        unchecked_since=now - CALENDAR_CHECK_EVERY,  # decided on the index entries: only those checked are read
        read_at_most=CALENDAR_CHECKS_PER_RUN,
    )
    for booking in due:
        if not budget():
            return
        logger.append_keys(booking_id=booking.booking_id)
        report.calendar_checked += 1
        try:
            outcome = calendar_sync.reconcile(booking)
        except (DomainError, store.StaleBooking) as exc:
            report.errors += 1
            logger.warning("calendar check failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            continue
        if outcome not in ("in line", "nothing to check"):
            report.calendar_repaired += 1
    logger.remove_keys(["booking_id"])


def _backfill_block_days(now: datetime) -> None:
    """Day items for blocks written before holds checked them (dal/blocks.backfill_days): one Query of the
    small BLOCKED partition a run, nothing written once every block has its days."""
    from zoneinfo import ZoneInfo

    backfilled = blocks.backfill_days(now.astimezone(ZoneInfo(get_catalog().business.time_zone)).date())
    if backfilled:
        logger.info("blocked dates given their day items", extra={"blocks": backfilled})


def run(budget: Budget) -> CleanupReport:
    report = CleanupReport()
    now = clock_now()
    _backfill_block_days(now)
    _each(store.bookings_due(S.HELD, now, PAGE), budget, report, lambda b: expire_hold(b, report))
    _each(store.bookings_due(S.PAID, now, PAGE), budget, report, lambda b: finish_paid(b, report))
    _each(store.rebook_windows_ended(now, PAGE), budget, report, lambda b: close_rebook_window(b, report))
    if budget():
        reprocess_inbox(now, budget, report)
    if budget():
        sweep_money(now, budget, report)
    if budget():
        check_calendar(now, budget, report)
    if budget():
        try:
            reconcile(now, budget, report)
        except PaymentProviderUnavailable:
            report.errors += 1  # Stripe down: next run reconciles the same window again
    report.stopped_early = budget.exhausted
    metrics.add_metric(name="CleanupRun", unit="Count", value=1)
    return report
