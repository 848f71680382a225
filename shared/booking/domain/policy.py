"""The cancellation policy (seed 003), per service in the catalog: the one place refund amounts are decided.

- Cancelled by the business (host cancels or declines): everything paid is refunded.
- Cancelled by the client at least `free_until_hours` before the start: everything paid is refunded.
- Later: the business keeps a fee of `late_fee_percent` of the price (rounded like the deposit) and refunds
  the rest of what was paid. A 50% deposit against a 50% fee is exactly the fee: nothing to refund. A fee larger
  than what was paid leaves `uncovered`, charged to the saved card once when the service's
  `charge_uncovered_fee` is on (money/collections.py).
- A session booked with a package credit: cancelled by the business or in the free window, the credit goes back to
  the package; later, or a no-show, the credit is spent (forfeited).
- A package refunded by the owner: the unused credits' share of its price, rounded down.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from booking.domain.catalog import CancellationPolicy
from booking.domain.pricing import deposit_amount


class CancellationTerms(BaseModel):
    fee: int  # what the business keeps of what was paid
    refund: int
    reason: str
    uncovered: int = 0  # the part of the fee the payment did not cover (charged to the saved card if the service says)


def cancellation_terms(
    *,
    amount_paid: int,
    total: int,
    slot_start: datetime,
    cancelled_at: datetime,
    by_business: bool,
    policy: CancellationPolicy,
) -> CancellationTerms:
    if by_business:
        return CancellationTerms(fee=0, refund=amount_paid, reason="cancelled by the business: full refund")
    hours_ahead = (slot_start - cancelled_at).total_seconds() / 3600
    if hours_ahead >= policy.free_until_hours:
        return CancellationTerms(
            fee=0,
            refund=amount_paid,
            reason=f"cancelled {hours_ahead:.1f} h ahead (free until {policy.free_until_hours} h): full refund",
        )
    fee_due = deposit_amount(total, policy.late_fee_percent)
    fee = min(fee_due, amount_paid)
    return CancellationTerms(
        fee=fee,
        refund=amount_paid - fee,
        uncovered=fee_due - fee,
        reason=f"cancelled {max(hours_ahead, 0):.1f} h ahead (free until {policy.free_until_hours} h): "
        f"fee {policy.late_fee_percent}% of the price",
    )


def package_credit_returned(
    *, slot_start: datetime, cancelled_at: datetime, by_business: bool, policy: CancellationPolicy
) -> bool:
    """Whether a cancelled session booked with a package credit gives the credit back (the free window's rule)."""
    return by_business or (slot_start - cancelled_at).total_seconds() / 3600 >= policy.free_until_hours


def package_refund_share(*, price: int, sessions: int, credits_used: int) -> int:
    """The unused credits' share of a package's price: price x unused / sessions, rounded down (the business keeps
    the odd minor unit, as a deposit rounds)."""
    return price * max(sessions - credits_used, 0) // sessions
