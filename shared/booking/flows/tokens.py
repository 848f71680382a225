"""Booking tokens: issued once a payment has succeeded, redeemed on /book/verify to make the Cal.com booking.

A token is `{booking_id}.{expiry, epoch seconds}.{256 random bits}`, handed to the client once; the booking item
keeps only its SHA-256 (`token_hashes`, one per token issued), so redeeming it reads or writes nothing but the
booking. It expires after TOKEN_MINUTES (the expiry it carries is covered by the hash; checked here). Its effect
happens once: redeeming it again returns the same confirmation and never books twice.

When the booking's slot is lost after payment and its service has a rebook window (`lost_slot.py`), a token of the
booking opens POST /bookings/rebook until the window ends: the one the client holds, or the one create-token hands
out in its 409 answer (the client of a late payment has none yet). Tokens issued before tokens named their booking
are read from their own items (`TOKEN#{sha256}`) until those expire.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlencode

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.digests import digest
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    PaymentIntentMismatch,
    SlotUnavailable,
    TokenExpired,
    TokenNotFound,
)
from booking.flows import payment_outcomes
from booking.flows.confirmation import Confirmation, confirm_booking
from booking.flows.lost_slot import RebookOffered, rebook_until
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.providers import payments
from booking.settings import get_settings

S = BookingStatus
BOOKING_ID = re.compile(r"bk_[0-9a-f]{24}")


class IssuedToken(BaseModel):
    token: str
    verify_url: str
    expires_at: datetime


class TokenClaim(NamedTuple):
    """What a token says of itself: its booking, its expiry and its hash as the booking keeps it ("" for a token
    of its own item, issued before tokens named their booking: that item named the booking)."""

    booking_id: str
    expires_at: datetime
    token_hash: str


def token_hash(token: str) -> str:
    """How the booking keeps a token: 128 bits of its SHA-256 (the token's secret alone has 256)."""
    return digest(token)[:32]


def _new_token(booking_id: str, expires_at: datetime) -> str:
    return f"{booking_id}.{int(expires_at.timestamp())}.{secrets.token_urlsafe(32)}"


def _token_fields(booking: Booking, token: str, expires_at: datetime) -> dict[str, object]:
    """The booking's fields that make `token` redeemable (written with the payment, or on their own)."""
    return {"token_hashes": booking.token_hashes | {token_hash(token)}, "token_expires_at": expires_at}


def issue_token(booking_id: str, payment_intent_id: str) -> IssuedToken:
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    logger.append_keys(booking_id=booking_id)
    if booking.payment_intent_id != payment_intent_id:
        raise PaymentIntentMismatch
    now = clock_now()
    expires_at = now + timedelta(minutes=get_settings().token_minutes)
    token = _new_token(booking_id, expires_at)
    if not booking.amount_paid:
        intent = payments.retrieve_payment_intent(payment_intent_id)
        if intent.status != "succeeded" and intent.last_payment_error_message:
            store.update_fields(
                booking_id, {"payment_status": intent.status, "payment_error": intent.last_payment_error_message}
            )
        if intent.metadata.get("series_id"):
            from booking.flows.series import record_payment as record_series  # every occurrence of the series

            booking = record_series(booking_id, intent, actor="client")
        else:  # the token is written with the payment: one write where the booking was read
            fields = _token_fields(booking, token, expires_at)
            booking = payment_outcomes.record_payment(booking_id, intent, actor="client", read=booking, fields=fields)
    if booking.status == S.SLOT_UNAVAILABLE:
        until = rebook_until(booking)
        if until is not None and until > now:
            # The slot was lost but another time may be picked: the token opens /bookings/rebook until then.
            _save_token(booking, token, expires_at)
            raise RebookOffered(booking_id, until, token, service_id=booking.service_id)
        settle(booking)  # a lost slot refunded at once (or its window over): make sure the refund went through
        raise SlotUnavailable(booking_id, booking.service_id)
    if booking.status not in (S.PAID, S.CONFIRMED, S.COMPLETED):
        raise BookingClosed(booking_id, booking.status.value)
    _save_token(booking, token, expires_at)
    return _issued(token, expires_at)


def issue_unpaid_token(booking: Booking) -> IssuedToken:
    """The verify link of a booking with nothing to pay (free, a 100% code, a package credit): paid at 0 already."""
    expires_at = clock_now() + timedelta(minutes=get_settings().token_minutes)
    token = _new_token(booking.booking_id, expires_at)
    _save_token(booking, token, expires_at)
    return _issued(token, expires_at)


def _save_token(booking: Booking, token: str, expires_at: datetime) -> Booking:
    """The booking with the token redeemable: as it is when the payment's write took the token, else after one
    update."""
    if token_hash(token) not in booking.token_hashes:
        booking = store.add_token(booking.booking_id, token_hash(token), expires_at)
    metrics.add_metric(name="TokenIssued", unit="Count", value=1)
    return booking


def _issued(token: str, expires_at: datetime) -> IssuedToken:
    base = str(get_settings().site_base_url).rstrip("/")
    return IssuedToken(
        token=token, verify_url=f"{base}/book/verify?{urlencode({'token': token})}", expires_at=expires_at
    )


def read_token(token: str) -> TokenClaim:
    """What the token names, read from the token itself (404 when it names nothing); a token issued before tokens
    named their booking is read from its item."""
    parts = token.split(".")
    if len(parts) == 3 and BOOKING_ID.fullmatch(parts[0]) and parts[1].isdigit() and len(parts[1]) <= 12:
        expires_at = datetime.fromtimestamp(int(parts[1]), UTC)
        claim = TokenClaim(parts[0], expires_at, token_hash(token))
    else:
        record = store.get_token(digest(token))
        if record is None:
            raise TokenNotFound
        claim = TokenClaim(record.booking_id, record.expires_at, "")
    logger.append_keys(booking_id=claim.booking_id)
    return claim


def _holds_token(booking: Booking | None, claim: TokenClaim) -> bool:
    """The booking exists and issued this token."""
    return booking is not None and (not claim.token_hash or claim.token_hash in booking.token_hashes)


def verify(token: str) -> Confirmation:
    """POST /bookings/verify: confirm the token's booking in Cal.com (or answer its confirmation again). 404 for a
    token the booking never issued, 410 once it expired (unless the slot was lost and its rebook window is open:
    409 with the deadline)."""
    claim = read_token(token)
    now = clock_now()
    if claim.expires_at <= now:
        return confirm_booking(redeem_expired(claim, now), actor="client")
    return confirm_booking(claim.booking_id, actor="client", token_hash=claim.token_hash or None)


def redeem_expired(claim: TokenClaim, now: datetime) -> str:
    """An expired token's booking id while the booking's slot is lost and its rebook window open (verify answers
    409 with the deadline); else 410, or 404 when the booking never issued it."""
    booking = store.get_booking(claim.booking_id)
    if not _holds_token(booking, claim):
        raise TokenNotFound
    assert booking is not None
    until = rebook_until(booking)
    if until is not None and until > now:
        return booking.booking_id
    metrics.add_metric(name="TokenExpired", unit="Count", value=1)
    raise TokenExpired


def redeem_for_rebook(token: str) -> str:
    """The token's booking id, whatever its own expiry (a rebook is bounded by the booking's window); 404 unknown."""
    claim = read_token(token)
    if claim.token_hash and not _holds_token(store.get_booking(claim.booking_id), claim):
        raise TokenNotFound
    return claim.booking_id
