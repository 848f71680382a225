"""A paid booking whose slot was lost (a late payment after someone took the slot, or Cal.com refusing it at
confirmation): the one place that decides between the rebook window and the refund (issue 10, item 4).

The service's `rebook_window_hours` says how long the client may pick another time on the same payment
(`flows/rebook.py`); the booking stays SLOT_UNAVAILABLE, flagged for the owner, its money kept, and due on the
DueIndex at the window's end. When the window ends with no new time chosen, the cleanup job records the full
refund (auto_refund_reason + OWED in one conditional write) and settles it like any refund. A window of 0 refunds at
once (seed 001's rule). The window starts when the slot was lost: the history says when.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import SlotUnavailable
from booking.money.ledger import owed_now
from booking.money.settlement import settle
from booking.observability import metrics
from booking.owner.alerts import flag

S = BookingStatus


class RebookOffered(SlotUnavailable):
    """409 slot_unavailable, with when the window to pick another time on the same payment ends (and, from
    create-token, the token that opens POST /bookings/rebook until then)."""

    def __init__(
        self, booking_id: str, rebook_until: datetime, token: str | None = None, *, service_id: str | None = None
    ) -> None:
        super().__init__(booking_id, service_id)
        self.details.update(rebook_until=rebook_until.isoformat(), token=token)


def rebook_until(booking: Booking) -> datetime | None:
    """When the lost booking's rebook window ends; None if it has none (not lost, its refund decided already, or a
    service that refunds at once)."""
    if booking.status != S.SLOT_UNAVAILABLE or booking.auto_refund_reason:
        return None
    hours = get_catalog().service(booking.service_id).rebook_window_hours
    lost_at = next(
        (r.at for r in reversed(booking.history) if r.target == S.SLOT_UNAVAILABLE.value and r.source != r.target),
        None,
    )
    return lost_at + timedelta(hours=hours) if hours and lost_at else None


def unavailable(booking: Booking) -> SlotUnavailable:
    """The 409 for a client who meets the lost booking: with its rebook deadline while the window is open."""
    until = rebook_until(booking)
    if until is not None and until > clock_now():
        return RebookOffered(booking.booking_id, until, service_id=booking.service_id)
    return SlotUnavailable(booking.booking_id, booking.service_id)


def lose_slot(
    booking: Booking, *, actor: str, reason: str, cause: str, flag_code: str, fields: dict[str, Any]
) -> Booking:
    """SLOT_UNAVAILABLE (the seat freed if still held) with the rebook window open, or refunded in full at once.
    `reason` goes to the history, `cause` (why the slot was lost) to the owner's flag. StaleBooking if it changed."""
    now = clock_now()
    hours = get_catalog().service(booking.service_id).rebook_window_hours
    if hours:
        until = now + timedelta(hours=hours)
        offer = f"the client may pick another time until {until:%Y-%m-%d %H:%M} UTC, else it is refunded in full"
        lost = store.lose_slot(booking, actor=actor, reason=f"{reason}; {offer}", now=now, fields=fields, due=until)
        metrics.add_metric(name="RebookOffered", unit="Count", value=1)
        return flag(lost, flag_code, f"{cause}; {offer}")
    refund = f"{cause}; refunded in full"
    lost = store.lose_slot(
        booking,
        actor=actor,
        reason=reason,
        now=now,
        fields=fields | {"auto_refund_reason": refund} | (owed_now() if booking.payment_intent_ids else {}),
        due=store.NOTHING_DUE,
        give_back_credit=True,  # a session paid with a package credit gets the credit back, as money would be
    )
    metrics.add_metric(name="LostSlotRefunded", unit="Count", value=1)
    return settle(flag(lost, flag_code, refund))


def close_window(booking: Booking, *, actor: str) -> Booking | None:
    """A lost booking due on the DueIndex: once its window has ended with no new time chosen, owe the full
    refund (one conditional write), tell the owner, and refund it. None while the window is still open."""
    now = clock_now()
    if booking.auto_refund_reason:
        store.nothing_due(booking)  # decided already (lost before windows existed): out of the sweep's range
        return None
    until = rebook_until(booking)
    if until is not None and until > now:
        return None
    hours = get_catalog().service(booking.service_id).rebook_window_hours
    chosen = f"no other time chosen within {hours} h after the slot was lost" if hours else "the slot was lost"
    reason = f"{chosen}; refunded in full"
    owed = owed_now() if booking.payment_intent_ids else {}  # nothing paid (free, a package credit): nothing owed
    closed = store.close_rebook_window(
        booking, actor=actor, reason=reason, now=now, fields={"auto_refund_reason": reason} | owed
    )
    metrics.add_metric(name="RebookWindowClosed", unit="Count", value=1)
    return settle(flag(closed, "rebook_window_closed", reason))
