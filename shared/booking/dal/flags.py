"""Closing a flag: one conditional write on the booking item.

The flag list only grows (`add_flag` appends), so a flag's position names it for good; the condition checks the
list as the caller read it, so the decision "no open flag is left, take the booking off the AttentionIndex" can
never race with a new flag or another resolution.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from booking.dal.bookings import StaleBooking, booking_pk, to_booking
from booking.dal.items import BookingItem, FlagMap, TransitionMap
from booking.domain.models import Booking, Flag, TransitionRecord


def resolve_flag(booking: Booking, index: int, resolved: Flag, record: TransitionRecord, *, now: datetime) -> Booking:
    """Write `resolved` over the open flag at `index`, free its code for a later flag, add `record` to the
    history and, when it was the last open flag, end the booking's attention. StaleBooking if the flags changed
    since `booking` was read (decide again on a fresh read)."""
    still_open = [i for i, flag in enumerate(booking.flags) if flag.is_open and i != index]
    actions = [
        BookingItem.flags[index].set(FlagMap(**resolved.model_dump())),
        BookingItem.flag_codes.delete({resolved.code}),
        BookingItem.history.set(BookingItem.history.append([TransitionMap(**record.model_dump())])),
        BookingItem.updated_at.set(now),
    ]
    if not still_open:
        actions += [BookingItem.attention.remove(), BookingItem.attention_since.remove()]
    target = BookingItem.flags[index]
    condition = (
        BookingItem.pk.exists()
        & (size(BookingItem.flags) == len(booking.flags))
        & (target.code == resolved.code)
        & target.resolved_at.does_not_exist()
    )
    for other in still_open:
        condition = condition & BookingItem.flags[other].resolved_at.does_not_exist()
    item = BookingItem(booking_pk(booking.booking_id), "BOOKING")
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise StaleBooking(booking.booking_id) from exc
        raise
    return to_booking(item)
