"""Manage links' tokens: the booking names the hash of its one live link (`manage_token_hash`); the token names the
booking (flows/manage.py), so issuing is one conditional write on the booking (it has no link yet) and revoking one
on the booking still having this one. A booking's confirmation issues its link in the confirmation's own write
(flows/confirmation.py: /bookings/verify then answers with it, nothing more to read or write).

Links issued before tokens named their booking (the bare secret) are found through their item,
`MANAGE#{sha256(token)}`, written with the booking's hash in one transaction: revoking deletes it with the hash.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition, size

from booking.dal.bookings import booking_pk, get_booking
from booking.dal.items import BookingItem, ManageTokenItem, TransitionMap
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.domain.models import Booking, TransitionRecord

SK = "MANAGE"


class LinkTaken(Exception):
    """The booking already has another manage link (issue once per booking)."""


def _key(token_hash: str) -> str:
    return f"MANAGE#{token_hash}"


def issue(booking_id: str, token_hash: str) -> bool:
    """Name the link's hash on the booking if it has no link yet. True when issued by this call, False when the
    booking has this very link already (a retry). Raises LinkTaken when it has another one, LookupError when there
    is no such booking."""
    try:
        BookingItem(booking_pk(booking_id), "BOOKING").update(
            actions=[BookingItem.manage_token_hash.set(token_hash)], condition=unlinked_condition()
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        booking = get_booking(booking_id)
        if booking is None:
            raise LookupError(booking_id) from exc
        if booking.manage_token_hash == token_hash:
            return False
        raise LinkTaken(booking_id) from exc
    return True


def unlinked_condition(booking: Booking | None = None) -> Condition:
    """The booking exists and has no link; with `booking` (as read), also its history is as read: a revocation
    since (a line in it) changes the link the caller derived."""
    condition = BookingItem.pk.exists() & BookingItem.manage_token_hash.does_not_exist()
    if booking is not None:
        condition = condition & (size(BookingItem.history) == len(booking.history))
    return condition


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
