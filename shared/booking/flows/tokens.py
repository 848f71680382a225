"""Booking tokens: issued once a payment has succeeded, redeemed on /book/verify to make the Cal.com booking.

A token is 256 random bits, handed to the client once and stored only as its SHA-256. It expires after
TOKEN_MINUTES (checked here; the table's TTL only cleans up). Its effect happens once: redeeming it again
returns the same confirmation and never books twice.

When the booking's slot is lost after payment and its service has a rebook window (`lost_slot.py`), a token of the
booking opens POST /bookings/rebook until the window ends: the one the client holds (kept stored for the window),
or a new one create-token hands out in its 409 answer (the client of a late payment has none yet).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.digests import digest
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, BookingToken
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    PaymentIntentMismatch,
    SlotUnavailable,
    TokenExpired,
    TokenNotFound,
)
from booking.flows.lost_slot import RebookOffered, rebook_until
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.providers import payments
from booking.settings import get_settings

S = BookingStatus


class IssuedToken(BaseModel):
    token: str
    verify_url: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return digest(token)


def issue_token(booking_id: str, payment_intent_id: str) -> IssuedToken:
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    logger.append_keys(booking_id=booking_id)
    if booking.payment_intent_id != payment_intent_id:
        raise PaymentIntentMismatch
    if not booking.amount_paid:
        intent = payments.retrieve_payment_intent(payment_intent_id)
        if intent.status != "succeeded" and intent.last_payment_error_message:
            store.update_fields(
                booking_id, {"payment_status": intent.status, "payment_error": intent.last_payment_error_message}
            )
        from booking.flows.series import record_payment as record_any  # a series' payment: every occurrence

        booking = record_any(booking_id, intent, actor="client")
    now = clock_now()
    if booking.status == S.SLOT_UNAVAILABLE:
        until = rebook_until(booking)
        if until is not None and until > now:
            # The slot was lost but another time may be picked: a token that opens /bookings/rebook until then.
            token = _save_token(booking, now, expires_at=until)
            raise RebookOffered(booking_id, until, token, service_id=booking.service_id)
        settle(booking)  # a lost slot refunded at once (or its window over): make sure the refund went through
        raise SlotUnavailable(booking_id, booking.service_id)
    if booking.status not in (S.PAID, S.CONFIRMED, S.COMPLETED):
        raise BookingClosed(booking_id, booking.status.value)
    return _issue(booking, now)


def issue_unpaid_token(booking: Booking) -> IssuedToken:
    """The verify link of a booking with nothing to pay (free, a 100% code, a package credit): paid at 0 already."""
    return _issue(booking, clock_now())


def _issue(booking: Booking, now: datetime) -> IssuedToken:
    booking_id = booking.booking_id
    settings = get_settings()
    expires_at = now + timedelta(minutes=settings.token_minutes)
    token = _save_token(booking, now, expires_at=expires_at)
    store.update_fields(booking_id, {"token_expires_at": expires_at})
    window = timedelta(hours=get_catalog().service(booking.service_id).rebook_window_hours)
    if window:
        # Verify may lose the slot: the same token then opens /bookings/rebook for the window (flows/rebook.py).
        store.keep_token(token_hash(token), expires_at + window)
    verify_url = f"{str(settings.site_base_url).rstrip('/')}/book/verify?{urlencode({'token': token})}"
    return IssuedToken(token=token, verify_url=verify_url, expires_at=expires_at)


def _save_token(booking: Booking, now: datetime, *, expires_at: datetime) -> str:
    token = secrets.token_urlsafe(32)
    record = BookingToken(
        token_hash=token_hash(token),
        booking_id=booking.booking_id,
        issued_at=now,
        expires_at=expires_at,
        selected_slot=booking.slot_start,
        event_type_id=booking.event_type_id,
        deposit_amount=booking.amount_paid,
        balance_due=booking.balance_due,
        payment_type=booking.payment_type,
        currency=booking.currency,
    )
    store.save_token(record)
    metrics.add_metric(name="TokenIssued", unit="Count", value=1)
    return token


def redeem(token: str) -> BookingToken:
    """The token's record if it may still be used; 404 unknown, 410 expired. An expired token of a booking whose
    slot was lost still opens it while the rebook window is open (verify answers 409 with the deadline)."""
    record = redeem_for_rebook(token)
    now = clock_now()
    if record.expires_at <= now:
        booking = store.get_booking(record.booking_id)
        until = rebook_until(booking) if booking is not None else None
        if until is not None and until > now:
            return record
        metrics.add_metric(name="TokenExpired", unit="Count", value=1)
        raise TokenExpired
    return record


def redeem_for_rebook(token: str) -> BookingToken:
    """The token's record, whatever its own expiry (a rebook is bounded by the booking's window); 404 unknown."""
    record = store.get_token(token_hash(token))
    if record is None:
        raise TokenNotFound
    logger.append_keys(booking_id=record.booking_id)
    return record
