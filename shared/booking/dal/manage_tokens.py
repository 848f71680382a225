"""Manage links' tokens: the item `MANAGE#{sha256(token)}` names the booking, and the booking names the hash of
its one live link (`manage_token_hash`). Both are written together in one transaction, so a token item exists
exactly while its booking points at it: issuing is conditional on the booking having no link, revoking on the
booking still having this one.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError

from booking.dal.bookings import MAX_OPTIMISTIC_ATTEMPTS, StaleBooking, booking_pk, get_booking
from booking.dal.items import BookingItem, ManageTokenItem, TransitionMap
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.domain.models import TransitionRecord

SK = "MANAGE"


class LinkTaken(Exception):
    """The booking already has another manage link (issue once per booking)."""


def _key(token_hash: str) -> str:
    return f"MANAGE#{token_hash}"


def issue(booking_id: str, token_hash: str, *, now: datetime, keep_until: datetime) -> bool:
    """Store the token and name it on the booking in one transaction, if the booking has no link yet. True when
    issued by this call, False when the booking has this very link already (a retry). Raises LinkTaken when it
    has another one, LookupError when there is no such booking."""
    for _ in range(MAX_OPTIMISTIC_ATTEMPTS):
        tx = Transaction()
        token = ManageTokenItem(_key(token_hash), SK, booking_id=booking_id, issued_at=now, expires_ttl=keep_until)
        tx.put("token", token, ManageTokenItem.pk.does_not_exist())
        tx.update(
            "booking",
            BookingItem(booking_pk(booking_id), "BOOKING"),
            [BookingItem.manage_token_hash.set(token_hash)],
            BookingItem.pk.exists() & BookingItem.manage_token_hash.does_not_exist(),
        )
        try:
            tx.commit()
        except TransactionCancelled as exc:
            booking = get_booking(booking_id)
            if booking is None:
                raise LookupError(booking_id) from exc
            if booking.manage_token_hash == token_hash:
                return False
            if booking.manage_token_hash is not None:
                raise LinkTaken(booking_id) from exc
            continue  # another write to the booking at the same moment (a conflict), no link yet: again
        return True
    raise StaleBooking(booking_id)


def booking_id_of(token_hash: str) -> str | None:
    """The booking a live token opens, None for a token never issued or revoked."""
    try:
        return ManageTokenItem.get(_key(token_hash), SK, consistent_read=True).booking_id
    except DoesNotExist:
        return None


def revoke(booking_id: str, token_hash: str, record: TransitionRecord) -> bool:
    """Delete the token and clear it from the booking, with a line in its history, in one transaction, if it is
    still the booking's link. False when it was not (revoked meanwhile)."""
    tx = Transaction()
    tx.delete("token", ManageTokenItem(_key(token_hash), SK))
    tx.update(
        "booking",
        BookingItem(booking_pk(booking_id), "BOOKING"),
        [
            BookingItem.manage_token_hash.remove(),
            BookingItem.history.set(BookingItem.history.append([TransitionMap(**record.model_dump())])),
            BookingItem.updated_at.set(record.at),
        ],
        BookingItem.manage_token_hash == token_hash,
    )
    try:
        tx.commit()
    except TransactionCancelled:
        return False
    return True


def keep_until(token_hash: str, until: datetime) -> None:
    """Keep the token's item stored until `until` at least (a rescheduled booking ends later). TTL only: whether
    the link still works is decided in code, on the booking's own end."""
    try:
        ManageTokenItem(_key(token_hash), SK).update(
            actions=[ManageTokenItem.expires_ttl.set(until)],
            condition=ManageTokenItem.pk.exists() & (ManageTokenItem.expires_ttl < until),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
