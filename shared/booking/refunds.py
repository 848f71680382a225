"""Settling a booking's money: the refund its state owes and the provider's share of what was returned, decided
from what Stripe says already moved (DESIGN §3, `ledger.py`), by one worker at a time (the money lease).

`settle` is called after every event that can change the picture (a cancellation, a late payment, a refund or a
dispute reported by Stripe) and by the cleanup job's money sweep, so the outcome does not depend on the order
events arrive in, a refund made in the Stripe Dashboard is respected, and a refund that failed is made again once.
"""

from __future__ import annotations

from typing import Any

from booking import payments
from booking.alerts import flag
from booking.errors import MoneyInFlight, PaymentProviderError
from booking.ledger import SETTLED, Held, Ledger, OwedRefund, owed_later, owed_refund, read_ledger, under_money_lease
from booking.models import Booking
from booking.observability import logger, metrics
from booking.payouts import reverse_excess

MAX_REFUND_FAILURES = 2  # a refund that failed at the bank is made once more, then left to the owner


def settle(booking: Booking) -> Booking:
    """Make the refund the booking's state owes (once) and take the provider's share of returns back.

    When Stripe fails, the booking is left OWED (the cleanup job's money sweep tries again with a backoff) and
    the error propagates, so a webhook is retried too. While another worker holds the lease, that worker
    decides on the state as it finds it when it ends (`under_money_lease`): nothing to do here.
    """
    if not booking.payment_intent_ids:
        return booking
    try:
        return under_money_lease(booking.booking_id, settle_held)
    except MoneyInFlight:
        return booking


def settle_held(held: Held) -> dict[str, Any]:
    """Under the money lease: read Stripe, refund what is owed, reverse the provider's excess; return the money
    state to write as the lease ends (settled, or OWED for the sweep when something could not be done)."""
    ledger = read_ledger(held.booking)
    known_failures = held.booking.failed_refund_ids
    held.sync(ledger)
    for refund in ledger.refunds:
        if refund.status == "failed" and refund.refund_id not in known_failures:
            metrics.add_metric(name="RefundFailed", unit="Count", value=1)
            flag(held.booking, "refund_failed", f"refund {refund.refund_id} of {refund.amount} failed at the bank")
    owed = owed_refund(held.booking, ledger)
    if owed is not None and _refund(held, ledger, owed):
        ledger = read_ledger(held.booking)
        held.sync(ledger)
        owed = owed_refund(held.booking, ledger)
    reverse_excess(held, ledger, still_owed=owed.amount if owed else 0)
    if owed is not None and not _given_up(held.booking, ledger, owed):
        return owed_later(held.booking)
    return SETTLED if held.booking.money_state else {}


def _given_up(booking: Booking, ledger: Ledger, owed: OwedRefund) -> bool:
    return ledger.failed_attempts(owed.purpose) >= MAX_REFUND_FAILURES


def _refund(held: Held, ledger: Ledger, owed: OwedRefund) -> bool:
    """Make the owed refund unless Stripe cannot take it now. True if a refund was made."""
    booking = held.booking
    if ledger.failed_attempts(owed.purpose) >= MAX_REFUND_FAILURES:
        return False  # flagged when Stripe reported each failure: the owner takes it from here
    dispute = ledger.open_dispute
    if dispute is not None:
        flag(booking, "refund_blocked_by_dispute", f"{owed.amount} owed, but {dispute.dispute_id} is open")
        return False
    payment_intent_id = booking.payment_intent_ids[-1]
    attempt = sum(1 for refund in ledger.refunds if refund.purpose == owed.purpose)
    try:
        created = payments.create_refund(
            booking, payment_intent_id, owed.amount, purpose=owed.purpose, reason=owed.reason, attempt=attempt
        )
    except PaymentProviderError as exc:
        if exc.details.get("provider_code") == "charge_disputed":
            flag(booking, "refund_blocked_by_dispute", f"{owed.amount} owed; Stripe: the charge is disputed")
            return False
        raise
    metrics.add_metric(name="RefundIssued", unit="Count", value=1)
    logger.info(
        "refund issued", extra={"purpose": owed.purpose, "amount": created.amount, "refund_id": created.refund_id}
    )
    return True
