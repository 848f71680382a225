"""The owner closes a flag: who closed it, when and why stay on the flag and in the history.

A closed flag frees its code, so the same problem can be flagged (and alerted) again later; the booking leaves
the owner's attention list when no open flag is left.
"""

from __future__ import annotations

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import flags as flag_store
from booking.dal.bookings import MAX_OPTIMISTIC_ATTEMPTS, StaleBooking
from booking.domain.models import Booking, TransitionRecord
from booking.errors import BookingNotFound, Conflict, InvalidRequest

NOTE_MAX_LENGTH = 500


class FlagNotOpen(Conflict):
    code = "flag_not_open"

    def __init__(self, booking_id: str, flag_code: str) -> None:
        super().__init__(
            f"Booking {booking_id} has no open flag {flag_code!r}.", booking_id=booking_id, flag_code=flag_code
        )


def resolve_flag(booking_id: str, code: str, note: str, actor: str) -> Booking:
    """Close the open flag `code` of a booking with the owner's note. Resolving it again with the same note
    answers the booking unchanged; with no open flag of that code (and no such resolution) FlagNotOpen."""
    note = note.strip()
    if not 1 <= len(note) <= NOTE_MAX_LENGTH:
        raise InvalidRequest(
            "Say how the flag was resolved.", fields={"note": f"1 to {NOTE_MAX_LENGTH} characters required"}
        )
    for _ in range(MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        index = next((i for i, flag in enumerate(booking.flags) if flag.code == code and flag.is_open), None)
        if index is None:
            closed = [flag for flag in booking.flags if flag.code == code]
            if closed and closed[-1].resolution == note:
                return booking  # a repeated request: already resolved just so
            raise FlagNotOpen(booking_id, code)
        now = clock_now()
        resolved = booking.flags[index].model_copy(
            update={"resolved_at": now, "resolved_by": actor, "resolution": note}
        )
        record = TransitionRecord(
            at=now,
            actor=actor,
            source=booking.status.value,
            target=booking.status.value,
            reason=f"flag {code} resolved: {note}",
        )
        try:
            return flag_store.resolve_flag(booking, index, resolved, record, now=now)
        except StaleBooking:
            continue  # a flag was added or resolved meanwhile: decide again on a fresh read
    raise StaleBooking(booking_id)
