"""Booking tokens: issued once a payment has succeeded, redeemed on /book/verify to make the Cal.com booking.

A token is 256 random bits, handed to the client once and stored only as its SHA-256. It expires after
TOKEN_MINUTES (checked here; the table's TTL only cleans up). Its effect happens once: redeeming it again
returns the same confirmation and never books twice.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import BookingToken
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    PaymentIntentMismatch,
    SlotUnavailable,
    TokenExpired,
    TokenNotFound,
)
from booking.flows.payment_outcomes import record_payment
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
    return hashlib.sha256(token.encode()).hexdigest()


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
        booking = record_payment(booking_id, intent, actor="client")
    if booking.status == S.SLOT_UNAVAILABLE:
        settle(booking)  # a late payment whose slot was taken: make sure its refund went through
        raise SlotUnavailable(booking_id)
    if booking.status not in (S.PAID, S.CONFIRMED, S.COMPLETED):
        raise BookingClosed(booking_id, booking.status.value)

    settings = get_settings()
    now = clock_now()
    token = secrets.token_urlsafe(32)
    record = BookingToken(
        token_hash=token_hash(token),
        booking_id=booking_id,
        issued_at=now,
        expires_at=now + timedelta(minutes=settings.token_minutes),
        selected_slot=booking.slot_start,
        event_type_id=booking.event_type_id,
        deposit_amount=booking.amount_paid,
        balance_due=booking.balance_due,
        payment_type=booking.payment_type,
        currency=booking.currency,
    )
    store.save_token(record)
    store.update_fields(booking_id, {"token_expires_at": record.expires_at})
    metrics.add_metric(name="TokenIssued", unit="Count", value=1)
    verify_url = f"{str(settings.site_base_url).rstrip('/')}/book/verify?{urlencode({'token': token})}"
    return IssuedToken(token=token, verify_url=verify_url, expires_at=record.expires_at)


def redeem(token: str) -> BookingToken:
    """The token's record if it may still be used; 404 unknown, 410 expired."""
    record = store.get_token(token_hash(token))
    if record is None:
        raise TokenNotFound
    logger.append_keys(booking_id=record.booking_id)
    if record.expires_at <= clock_now():
        metrics.add_metric(name="TokenExpired", unit="Count", value=1)
        raise TokenExpired
    return record
