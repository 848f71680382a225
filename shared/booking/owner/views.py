"""The owner's view: every booking with what was paid, what is due and what happened to it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Flag, TransitionRecord
from booking.errors import BookingNotFound, DomainError
from booking.secrets import provider_secret, same_secret


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class PaymentView(BaseModel):
    payment_type: str
    currency: str
    total: int
    deposit: int
    amount_paid: int
    balance_due: int
    amount_refunded: int
    payment_status: str | None
    payment_error: str | None
    payment_intent_id: str | None
    charge_id: str | None
    dispute_id: str | None
    dispute_status: str | None
    money_settled: bool  # False while a refund or reversal is still owed (the cleanup job retries it)


class OwnerRefund(BaseModel):
    refund_id: str
    amount: int
    purpose: str  # ours (cancellation, full_refund) or "made in Stripe" (the Dashboard)
    reason: str
    at: datetime
    failed: bool  # Stripe reported it failed: nothing went back to the client


class PayoutView(BaseModel):
    state: str | None
    due_at: datetime | None
    transfer_id: str | None
    transferred: int
    reversed: int
    error: str | None


class OwnerBooking(BaseModel):
    booking_id: str
    status: BookingStatus
    service_id: str
    start: datetime
    end: datetime
    client_name: str
    client_email: str
    client_phone: str | None
    payment: PaymentView
    cal_booking_uid: str | None
    flags: list[Flag]
    refunds: list[OwnerRefund]
    payout: PayoutView
    history: list[TransitionRecord]
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancelled_start: datetime | None  # the start of the Cal.com booking that was cancelled (the policy's)
    no_show: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, booking: Booking) -> OwnerBooking:
        return cls(
            booking_id=booking.booking_id,
            status=booking.status,
            service_id=booking.service_id,
            start=booking.slot_start,
            end=booking.slot_end,
            client_name=booking.attendee.name,
            client_email=booking.attendee.email,
            client_phone=booking.attendee.phone,
            payment=PaymentView(
                payment_type=booking.payment_type,
                currency=booking.currency,
                total=booking.total,
                deposit=booking.amount_due_now,
                amount_paid=booking.amount_paid,
                balance_due=booking.balance_due,
                amount_refunded=booking.amount_refunded,
                payment_status=booking.payment_status,
                payment_error=booking.payment_error,
                payment_intent_id=booking.payment_intent_id,
                charge_id=booking.charge_id,
                dispute_id=booking.dispute_id,
                dispute_status=booking.dispute_status,
                money_settled=booking.money_state is None,
            ),
            cal_booking_uid=booking.cal_booking_uid,
            flags=booking.flags,
            refunds=[
                OwnerRefund(**refund.model_dump(), failed=refund.refund_id in booking.failed_refund_ids)
                for refund in booking.refunds
            ],
            payout=PayoutView(
                state=booking.payout_state,
                due_at=booking.payout_due_at,
                transfer_id=booking.transfer_id,
                transferred=booking.transfer_amount,
                reversed=booking.transfer_reversed,
                error=booking.payout_error,
            ),
            history=booking.history,
            cancelled_at=booking.cancelled_at,
            cancelled_by=booking.cancelled_by,
            cancelled_start=booking.cancelled_slot_start,
            no_show=booking.no_show,
            created_at=booking.created_at,
            updated_at=booking.updated_at,
        )


class OwnerBookings(BaseModel):
    bookings: list[OwnerBooking]


def authorize(authorization: str | None) -> None:
    """Bearer token of the owner (the admin_api_token secret), compared in constant time."""
    expected = provider_secret("admin_api_token")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token or not same_secret(token.strip(), expected):
        raise Unauthorized("A valid owner token is required (Authorization: Bearer ...).")


def booking(booking_id: str) -> OwnerBooking:
    found = store.get_booking(booking_id)
    if found is None:
        raise BookingNotFound(booking_id)
    return OwnerBooking.of(found)


def bookings(status: BookingStatus | None, flagged: bool, limit: int) -> OwnerBookings:
    if flagged:
        found = store.flagged_bookings(limit)
        found = [b for b in found if status is None or b.status == status]
    elif status is not None:
        found = store.bookings_by_status(status, limit)
    else:
        found = [b for s in BookingStatus for b in store.bookings_by_status(s, limit)][:limit]
    return OwnerBookings(bookings=[OwnerBooking.of(b) for b in found])
