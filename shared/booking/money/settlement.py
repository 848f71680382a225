"""Settling a booking's money against Stripe (DESIGN §3): the refund its state owes, the provider's payout once
it is due, and the provider's share of anything returned taken back, decided from what Stripe says already moved
(`ledger.py`) by the one worker holding the booking's money lease.

`settle` runs after every event that can change the picture (a cancellation, a late payment, a refund, a refund
that failed, a dispute closed) and in the cleanup job's money sweep; `pay_provider` in the payout job. Both run
the same steps, so the outcome does not depend on the order events arrive in.
"""

from __future__ import annotations

from typing import Any

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import MoneyInFlight
from booking.money import collections, refunds
from booking.money.ledger import Held, owed_later, owed_refund, under_money_lease
from booking.money.payouts import payout_step, reverse_excess
from booking.owner.alerts import flag

S = BookingStatus


def settle(booking: Booking, *, stripe_changed: bool = False) -> Booking:
    """Make the refund the booking's state owes (once) and take the provider's share of returns back.

    Reads Stripe only when something may be owed: the booking is marked OWED (a cancellation, a lost slot, an
    earlier failure), or Stripe says something changed (`stripe_changed`: a refund, a dispute). When Stripe
    fails, the booking is left OWED for the cleanup job's money sweep and the error propagates (a webhook is
    retried too). While another worker holds the lease, the booking is marked OWED now: the holder's last write
    sees the change and it decides again (`ledger.under_money_lease`), or the sweep does.
    """
    if not booking.payment_intent_ids or not (stripe_changed or booking.money_state):
        return booking
    try:
        return under_money_lease(booking.booking_id, lambda held: _settle(held, pay=False)[1])
    except MoneyInFlight:
        now = clock_now()
        return store.update_fields(booking.booking_id, {"money_state": "OWED", "money_due_at": now, "updated_at": now})


def pay_provider(booking: Booking) -> str:
    """The payout job's decision for a booking whose hold period is over (found on the PayoutIndex, an eventually
    consistent copy): taken on the booking and Stripe as they are under the lease, so a refund or a dispute
    landing meanwhile is seen by it, or sees its transfer."""
    outcomes: list[str] = []

    def decide(held: Held) -> dict[str, Any]:
        outcome, fields = _settle(held, pay=True)
        outcomes.append(outcome)
        return fields

    paid = under_money_lease(booking.booking_id, decide)
    outcome = next((o for o in outcomes if not o.startswith("skipped: payout already")), outcomes[0])
    if outcome.startswith("failed"):
        flag(paid, "payout_failed", f"transfer to {paid.provider_account} failed: {paid.payout_error}")
    if outcome.startswith("blocked"):
        flag(paid, "disputed", f"{paid.payout_error}; payout blocked until the dispute is closed")
    return outcome


def _settle(held: Held, *, pay: bool) -> tuple[str, dict[str, Any]]:
    """Under the money lease: read Stripe, refund what is owed, pay the provider if asked and due, reverse the
    provider's excess; return the outcome and the fields to write as the lease ends."""
    ledger = collections.read(held)
    owed = owed_refund(held.booking, ledger)
    made = refunds.make_refund(held, ledger, owed) if owed is not None else []
    if made:
        ledger = ledger.with_refunds(made)
        held.sync(ledger)
        owed = owed_refund(held.booking, ledger)
    fee = collections.owed_fee(held.booking, ledger)
    if fee is not None:
        ledger = collections.charge_fee(held, ledger, fee)
    collections.collect_due_balance(held, ledger)
    still_owed = owed.amount if owed else 0
    outcome, fields = "settled", {}
    if pay:
        outcome, fields, transfers = payout_step(held, ledger, still_owed=still_owed)
        ledger = ledger.with_transfers(transfers)
    reverse_excess(held, ledger, still_owed=still_owed)
    if owed is not None and not refunds.given_up(ledger, owed):
        return outcome, fields | owed_later(held.booking)
    return outcome, fields | collections.waiting_fields(held.booking)
