"""Start a booking: price it, hold the slot, open the PaymentIntent (POST /payments/create-intent)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from booking.clock import now as clock_now
from booking.clock import to_utc
from booking.dal import bookings as store
from booking.digests import digest, fingerprint
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Attendee, Booking
from booking.domain.pricing import PaymentType, quote
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    IdempotencyKeyReused,
    PaymentProviderError,
    PaymentProviderUnavailable,
    SlotTaken,
)
from booking.flows.availability import check_bookable
from booking.observability import logger, metrics
from booking.providers import payments
from booking.settings import get_settings, stripe_publishable_key

OPERATION = "create-intent"


class BookingRequest(BaseModel):
    """A validated create-intent request (the HTTP model is mapped to this by the handler)."""

    service_id: str
    start: datetime
    attendee: Attendee
    payment_type: PaymentType

    def fingerprint(self) -> str:
        return fingerprint(self)


class PaymentStart(BaseModel):
    booking_id: str
    payment_intent_id: str
    client_secret: str
    payment_type: PaymentType
    amount_due_now: int
    total: int
    balance_due: int
    currency: str
    hold_expires_at: datetime
    publishable_key: str = Field(description="Stripe's publishable key, for Stripe(pk) with client_secret")


def new_booking_id() -> str:
    return f"bk_{secrets.token_hex(12)}"


def hash_key(idempotency_key: str) -> str:
    return digest(idempotency_key)


def start_booking(request: BookingRequest, idempotency_key: str | None = None) -> PaymentStart:
    publishable_key = stripe_publishable_key()  # before anything is held: without it the client cannot pay
    now = clock_now()
    claim = (hash_key(idempotency_key), OPERATION, request.fingerprint()) if idempotency_key else None
    if claim:
        recorded = store.idempotent_booking(claim[0], OPERATION)
        if recorded:
            return _replay(recorded, claim[2], publishable_key)

    service = get_catalog().service(request.service_id)
    start = check_bookable(service, request.start, now)
    price = quote(service, request.payment_type)
    booking_id = new_booking_id()
    draft = Booking(
        booking_id=booking_id,
        status=BookingStatus.HELD,
        service_id=service.id,
        event_type_id=service.cal_event_type_id,
        slot_start=start,
        slot_end=start + timedelta(minutes=service.duration_minutes),
        attendee=request.attendee,
        payment_type=price.payment_type,
        currency=price.currency,
        total=price.total,
        amount_due_now=price.amount_due_now,
        balance_due=price.balance_due,
        hold_expires_at=to_utc(now) + timedelta(minutes=get_settings().hold_minutes),
        provider_account=service.provider_account,
        idempotency_key_hash=claim[0] if claim else None,
        created_at=now,
        updated_at=now,
    )
    booking = _hold(draft, service.capacity, claim, now)
    logger.append_keys(booking_id=booking.booking_id)
    metrics.add_metric(name="SlotHeld", unit="Count", value=1)
    return _open_payment(booking, publishable_key)


def _hold(draft: Booking, capacity: int, claim: tuple[str, str, str] | None, now: datetime) -> Booking:
    """Take the first free seat of the slot (one seat unless the service has capacity > 1)."""
    for seat_number in range(capacity):
        booking = draft.model_copy(update={"seat_number": seat_number})
        try:
            store.create_held_booking(booking, idempotency=claim, now=now)
        except store.SeatTaken:
            continue
        except store.IdempotencyKeyClaimed as exc:
            assert claim is not None  # a concurrent retry of the same request won the race: answer as it will
            return _booking_or_404(exc.booking_id)
        return booking
    metrics.add_metric(name="SlotTaken", unit="Count", value=1)
    raise SlotTaken


def _open_payment(booking: Booking, publishable_key: str) -> PaymentStart:
    """The booking's PaymentIntent: created once (deterministic Idempotency-Key), read back on a replay."""
    if booking.payment_intent_id:
        intent = payments.retrieve_payment_intent(booking.payment_intent_id)
    else:
        try:
            customer_id = booking.customer_id
            if booking.payment_type == "deposit" and not customer_id:
                customer_id = payments.create_customer(booking)
            intent = payments.create_payment_intent(booking, customer_id)
        except (PaymentProviderUnavailable, PaymentProviderError) as exc:
            _release_after_provider_failure(booking, exc)
            raise
        booking = store.attach_payment_intent(booking.booking_id, intent.id, customer_id, intent.status)
    assert intent.client_secret is not None
    return PaymentStart(
        booking_id=booking.booking_id,
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        payment_type=booking.payment_type,
        amount_due_now=booking.amount_due_now,
        total=booking.total,
        balance_due=booking.balance_due,
        currency=booking.currency,
        hold_expires_at=booking.hold_expires_at,
        publishable_key=publishable_key,
    )


def _release_after_provider_failure(booking: Booking, error: Exception) -> None:
    """Stripe failed: free the slot and forget the client key so a retry of the same request starts afresh."""
    metrics.add_metric(name="PaymentProviderFailed", unit="Count", value=1)
    current = store.get_booking(booking.booking_id)
    if current is None or current.status != BookingStatus.HELD or current.payment_intent_id:
        return  # a concurrent retry got the PaymentIntent: the hold is theirs now
    try:
        store.release_seat(
            current,
            BookingStatus.EXPIRED,
            actor="system",
            reason=f"payment provider failed: {error}",
            now=clock_now(),
            forget_idempotency_key=True,
        )
    except store.StaleBooking:
        logger.warning("hold changed while releasing it after a provider failure")


def _booking_or_404(booking_id: str) -> Booking:
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    return booking


def _replay(recorded: tuple[str, str], fingerprint: str, publishable_key: str) -> PaymentStart:
    """The same client request again: answer as the first time, or say why it cannot be the same."""
    booking_id, recorded_fingerprint = recorded
    if recorded_fingerprint != fingerprint:
        raise IdempotencyKeyReused
    booking = _booking_or_404(booking_id)
    logger.append_keys(booking_id=booking_id)
    if booking.status == BookingStatus.HELD and not booking.hold_is_live(clock_now()):
        raise BookingClosed(booking_id, "EXPIRED", "The hold on this slot has expired; please start again.")
    if booking.status in (BookingStatus.EXPIRED, BookingStatus.CANCELLED):
        raise BookingClosed(booking_id, booking.status.value)
    metrics.add_metric(name="IdempotentReplay", unit="Count", value=1)
    return _open_payment(booking, publishable_key)
