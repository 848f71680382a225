"""The booking life cycle (DESIGN.md §4): the states and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class BookingStatus(StrEnum):
    HELD = "HELD"  # slot held, PaymentIntent open
    PAID = "PAID"  # payment succeeded, no Cal.com booking yet
    CONFIRMED = "CONFIRMED"  # Cal.com booking exists
    COMPLETED = "COMPLETED"  # the meeting ended
    NO_SHOW = "NO_SHOW"  # the client did not come (the owner says so); the payment is kept, a fee may be charged
    EXPIRED = "EXPIRED"  # hold lapsed unpaid (or the payment provider failed while holding)
    SLOT_UNAVAILABLE = "SLOT_UNAVAILABLE"  # paid, but the slot was lost: rebook or refund; flagged
    CANCELLED = "CANCELLED"  # by client, owner or Cal.com; refund per policy


S = BookingStatus

ALLOWED_TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    S.HELD: frozenset({S.PAID, S.EXPIRED, S.CANCELLED, S.SLOT_UNAVAILABLE}),
    # A late payment on an expired hold takes the slot again (PAID) or loses it (SLOT_UNAVAILABLE).
    S.EXPIRED: frozenset({S.PAID, S.SLOT_UNAVAILABLE}),
    S.PAID: frozenset({S.CONFIRMED, S.SLOT_UNAVAILABLE, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.COMPLETED, S.CANCELLED, S.NO_SHOW}),
    # Rebooking with the same payment: the owner or the client picks another time.
    S.SLOT_UNAVAILABLE: frozenset({S.PAID, S.CONFIRMED, S.CANCELLED}),
    # Cal.com ends every meeting it held; the owner may still say the client never came.
    S.COMPLETED: frozenset({S.NO_SHOW}),
    S.NO_SHOW: frozenset(),
    S.CANCELLED: frozenset(),
}

# States in which the booking occupies its slot for good (no hold expiry).
SLOT_KEEPING = frozenset({S.PAID, S.CONFIRMED, S.COMPLETED, S.NO_SHOW})


class IllegalTransition(ValueError):
    pass


def check_transition(source: BookingStatus, target: BookingStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[source]:
        raise IllegalTransition(f"{source} -> {target} is not a booking transition")


def sources_of(target: BookingStatus) -> frozenset[BookingStatus]:
    return frozenset(source for source, targets in ALLOWED_TRANSITIONS.items() if target in targets)
