"""Stripe webhooks: verify, then let each event type move its booking (idempotently, in any order).

Stripe retries for days, may deliver twice and never promises order. Each handler reads the booking's
current state and applies a conditional change, so a late, early or repeated event is harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    CalendarBookingCancelled,
    CalendarError,
    CalendarUnavailable,
    ConfirmationInProgress,
    InvalidEvent,
    InvalidSignature,
    PaymentAmountMismatch,
    PaymentIntentMismatch,
    PaymentProviderError,
    SlotUnavailable,
)
from booking.flows import packages, series
from booking.flows.confirmation import confirm_booking
from booking.flows.payment_outcomes import record_payment
from booking.money import payouts
from booking.money.collections import LATER_PURPOSES
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.owner.alerts import SUBJECTS, alert_about, flag, orphan_payment
from booking.providers import payments
from booking.providers.payments import PaymentIntentView
from booking.secrets import provider_secret, same_secret
from booking.webhooks.inbox import process

S = BookingStatus
SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's default: older signatures are replays


class StripeEventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: dict[str, Any]


class StripeEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    created: int
    data: StripeEventData


class StripeObject(BaseModel):
    """The fields our handlers read from `data.object`, with their types (everything else passes through)."""

    model_config = ConfigDict(extra="allow")

    id: str
    metadata: dict[str, str] = {}


class PaymentIntentObject(StripeObject):
    status: str
    amount: int
    currency: str
    amount_received: int | None = None
    cancellation_reason: str | None = None
    last_payment_error: dict[str, Any] | None = None


class ChargeObject(StripeObject):
    payment_intent: str | None = None
    amount_refunded: int = 0
    refunded: bool = False


class DisputeObject(StripeObject):
    payment_intent: str | None = None
    amount: int = 0
    reason: str | None = None
    status: str | None = None


class RefundObject(StripeObject):
    payment_intent: str | None = None
    amount: int = 0
    status: str | None = None


def verify(raw: bytes, signature: str | None) -> StripeEvent:
    """The event, if `Stripe-Signature` proves Stripe sent exactly these bytes recently; else InvalidSignature.

    Checked as Stripe documents it, without importing `stripe` (~15 ms of a cold start): the header's `t` and its
    `v1` signatures (several while a secret is rolled); HMAC-SHA256 over `{t}.{raw body}` with the endpoint's
    secret, compared in constant time with each; a timestamp more than 300 s from now is a replay."""
    if not signature:
        raise InvalidSignature("Missing Stripe-Signature header.")
    timestamp, candidates = _signature_parts(signature)
    if timestamp is None or not candidates:
        raise InvalidSignature("Stripe-Signature does not match this body, or is too old.")
    secret = provider_secret("stripe_webhook_secret")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    matched = False
    for candidate in candidates:  # every one compared: the time taken says nothing about which matched
        matched |= same_secret(candidate, expected)
    if not matched or abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature("Stripe-Signature does not match this body, or is too old.")
    try:
        event = StripeEvent.model_validate_json(raw)
        schema = OBJECT_SCHEMAS.get(event.type)
        if schema is not None:
            schema.model_validate(event.data.object)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("Stripe", exc) from exc
    return event


def _signature_parts(header: str) -> tuple[str | None, list[str]]:
    """(`t`, the `v1` signatures) of a `Stripe-Signature` value (`t=...,v1=...,v1=...,v0=...`); other schemes are
    ignored, and a `t` that is not a plain number is no timestamp."""
    timestamp: str | None = None
    signatures: list[str] = []
    for element in header.split(","):
        key, _, value = element.partition("=")
        if key == "t" and timestamp is None:
            timestamp = value if value.isascii() and value.isdigit() and len(value) <= 12 else None
        elif key == "v1":
            signatures.append(value)
    return timestamp, signatures


def handle(event: StripeEvent, raw: bytes, *, stored: bool = False) -> str:
    """Process a verified event now (`stored`: the cleanup job retrying one kept when it failed)."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return "ignored"
    obj = event.data.object
    return process(
        "stripe",
        event.id,
        event.type,
        raw.decode("utf-8"),
        lambda: handler(obj),
        lambda: _booking_of(obj),
        stored=stored,
    )


def _booking_of(obj: dict[str, Any]) -> Booking | None:
    payment_intent = obj.get("payment_intent") or (obj.get("id") if obj.get("object") == "payment_intent" else None)
    booking_id = _booking_id(obj, payment_intent)
    return store.get_booking(booking_id) if booking_id else None


def _booking_id(obj: dict[str, Any], payment_intent_id: str | None) -> str | None:
    return _owner_of(obj, payment_intent_id)[0]


def _owner_of(obj: dict[str, Any], payment_intent_id: str | None) -> tuple[str | None, str | None]:
    """(booking id, package id) of the payment an object is about: one of them, or neither (not ours)."""
    metadata = obj.get("metadata") or {}
    if metadata.get("booking_id"):
        return str(metadata["booking_id"]), None
    if metadata.get("package_id"):
        return None, str(metadata["package_id"])
    if not payment_intent_id:
        return None, None
    found, package_id = store.payment_intent_owner(payment_intent_id)
    if package_id:
        return None, package_id
    if found is None and obj.get("object") in ("dispute", "refund", "charge"):
        # A balance, fee or package payment is not indexed by its PaymentIntent; its metadata names its owner.
        try:
            intent_metadata = payments.retrieve_payment_intent(payment_intent_id).metadata
        except PaymentProviderError as exc:
            if exc.details.get("provider_code") != "resource_missing":
                raise
            return None, None
        if intent_metadata.get("purpose") == payments.PACKAGE_PURPOSE:
            return None, intent_metadata.get("package_id")
        found = intent_metadata.get("booking_id")
    return found, None


def payment_succeeded(obj: dict[str, Any]) -> str:
    intent = PaymentIntentView.from_stripe(obj)
    if intent.purpose == payments.PACKAGE_PURPOSE:
        return packages.payment_succeeded(intent, actor="stripe")
    booking_id = _booking_id(obj, intent.id)
    if booking_id is None:
        return _orphan(intent, "no booking of ours names this PaymentIntent (no booking_id in its metadata)")
    logger.append_keys(booking_id=booking_id)
    if intent.purpose in LATER_PURPOSES:
        return later_payment(booking_id, intent)
    if intent.metadata.get("series_id"):
        return series.payment_succeeded(intent, actor="stripe")
    try:
        booking = record_payment(booking_id, intent, actor="stripe")
    except BookingNotFound:
        return _orphan(intent, f"its metadata names booking {booking_id}, which we do not have")
    except PaymentAmountMismatch:
        return "flagged: amount differs from the price"
    except PaymentIntentMismatch:
        current = store.get_booking(booking_id)
        if current is not None:
            flag(current, "unexpected_payment", f"{intent.id} paid but the booking uses {current.payment_intent_id}")
        return "flagged: a second PaymentIntent was paid"
    if booking.status != S.PAID:
        return f"recorded: booking {booking.status.value}"
    return finish_booking(booking_id, actor="stripe")


def later_payment(booking_id: str, intent: PaymentIntentView) -> str:
    """A balance or a fee (paid by the saved card, or by the client through a pay link): recorded from Stripe's
    ledger under the money lease, like any money movement."""
    booking = store.get_booking(booking_id)
    if booking is None:
        if intent.status != "succeeded":
            return "ignored: unknown booking"
        return _orphan(intent, f"its {intent.purpose} payment names booking {booking_id}, which we do not have")
    settled = settle(booking, stripe_changed=True)
    return f"{intent.purpose} {intent.status}; balance due {settled.balance_due}"


def _orphan(intent: PaymentIntentView, why: str) -> str:
    """Money with no booking of ours: never silent (DESIGN §3 "no lost payment"): the OrphanPayment alarm's
    metric, and an alert item the owner's view lists (`GET /admin/alerts`), sent once per PaymentIntent."""
    logger.error("payment succeeded with no booking of ours", extra={"payment_intent_id": intent.id})
    metrics.add_metric(name="OrphanPayment", unit="Count", value=1)
    orphan_payment(intent.id, intent.amount_received or intent.amount, intent.currency, why)
    return "orphan payment: the owner alerted"


def finish_booking(booking_id: str, *, actor: str) -> str:
    """Confirm in Cal.com now; if Cal.com cannot, the booking stays PAID and the cleanup job finishes it."""
    try:
        confirmation = confirm_booking(booking_id, actor=actor)
    except (CalendarUnavailable, ConfirmationInProgress, CalendarError) as exc:
        return f"paid; confirmation deferred ({exc.code})"
    except (SlotUnavailable, BookingClosed, CalendarBookingCancelled) as exc:
        return f"paid; {exc.code}"
    return f"confirmed {confirmation.cal_booking_uid}"


def payment_failed(obj: dict[str, Any]) -> str:
    intent = PaymentIntentView.from_stripe(obj)
    if intent.purpose == payments.PACKAGE_PURPOSE:
        return "package payment failed; the package stays pending until paid"
    booking_id = _booking_id(obj, intent.id)
    if booking_id is None:
        return "ignored: not a booking payment"
    if intent.purpose in LATER_PURPOSES:
        return later_payment(booking_id, intent)  # the booking shows it awaiting the client
    reason = intent.last_payment_error_message or intent.last_payment_error_code
    store.record_payment_failure(booking_id, intent.status, reason, clock_now())
    metrics.add_metric(name="PaymentFailed", unit="Count", value=1)
    return "recorded failure; the hold stays until it expires"


def payment_canceled(obj: dict[str, Any]) -> str:
    intent = PaymentIntentView.from_stripe(obj)
    if intent.purpose == payments.PACKAGE_PURPOSE:
        return packages.payment_canceled(intent.metadata.get("package_id") or "", obj.get("cancellation_reason"))
    booking_id = _booking_id(obj, obj.get("id"))
    if booking_id is None:
        return "ignored: not a booking payment"
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None or booking.status != S.HELD:
            return "nothing to release"
        try:
            store.release_seat(
                booking,
                S.EXPIRED,
                actor="stripe",
                reason=f"PaymentIntent canceled ({obj.get('cancellation_reason') or 'no reason given'})",
                now=clock_now(),
                fields={"payment_status": "canceled"},
            )
        except store.StaleBooking:
            continue
        metrics.add_metric(name="HoldReleased", unit="Count", value=1)
        return "expired; slot released"
    raise store.StaleBooking(booking_id)


def _booking_for(obj: dict[str, Any]) -> tuple[Booking | None, str]:
    """The booking a charge, refund or dispute is about, or why the event is ignored."""
    return _booking_named(_booking_id(obj, obj.get("payment_intent")))


def _booking_named(booking_id: str | None) -> tuple[Booking | None, str]:
    if booking_id is None:
        return None, "ignored: not a booking payment"
    booking = store.get_booking(booking_id)
    if booking is None:
        return None, "ignored: unknown booking"
    logger.append_keys(booking_id=booking_id)
    return booking, ""


def _settle_for(obj: dict[str, Any]) -> tuple[Booking | None, str]:
    """A refund changed: settle the booking against Stripe, or record a package's refunds as Stripe has them."""
    booking_id, package_id = _owner_of(obj, obj.get("payment_intent"))
    if package_id:
        return None, packages.stripe_refunded(package_id)
    booking, ignored = _booking_named(booking_id)
    if booking is not None and booking.series_id:
        series.settle_siblings(booking)  # a Dashboard refund of the series charge may belong to any occurrence
    return (settle(booking, stripe_changed=True), "") if booking is not None else (None, ignored)


def charge_refunded(obj: dict[str, Any]) -> str:
    """A refund on the charge (ours, or one made in the Stripe Dashboard): settle against Stripe's refunds, so
    the provider's share of it is reversed and what we show matches Stripe."""
    booking, ignored = _settle_for(obj)
    if booking is None:
        return ignored
    status = "refunded" if obj.get("refunded") else "partially_refunded"
    if booking.payment_status != status:  # a redelivery finds it written already
        store.update_fields(booking.booking_id, {"payment_status": status})
    return f"refunded total {booking.amount_refunded}"


def refund_updated(obj: dict[str, Any]) -> str:
    """A refund changed later (`failed` at the bank, `canceled`): settling flags it, tells the owner and makes
    the refund once more (DESIGN §3: a failed refund returned nothing)."""
    booking, ignored = _settle_for(obj)
    if booking is None:
        return ignored
    return f"refund {obj.get('id')} {obj.get('status')}; refunded total {booking.amount_refunded}"


def dispute_created(obj: dict[str, Any]) -> str:
    booking_id, package_id = _owner_of(obj, obj.get("payment_intent"))
    if package_id:
        return _package_disputed(package_id, obj)
    booking, ignored = _booking_named(booking_id)
    if booking is None:
        return ignored
    if booking.dispute_id == obj.get("id"):
        # Recorded already (a redelivery, or the dispute closed first): no second flag, even one the owner resolved.
        return f"already recorded: dispute {booking.dispute_status}"
    # Flagged before the dispute is written: the write marks the event done, so a retry after a failure between
    # the two still flags (once per code).
    flag(booking, "disputed", f"dispute {obj.get('id')}: {obj.get('reason')} ({obj.get('amount')}); payout blocked")
    store.update_fields(booking.booking_id, {"dispute_id": obj.get("id"), "dispute_status": obj.get("status")})
    metrics.add_metric(name="DisputeOpened", unit="Count", value=1)
    return "flagged: disputed, payout blocked"


def _package_disputed(package_id: str, obj: dict[str, Any]) -> str:
    """A package's payment disputed: no payout or booking money depends on it, but the owner must know (the
    evidence is answered in the Stripe Dashboard), once per dispute."""
    dispute_id, amount, currency = obj.get("id"), obj.get("amount"), obj.get("currency")
    alert_about(
        f"[package {package_id}] {SUBJECTS['disputed']}",
        f"Dispute {dispute_id} ({obj.get('reason')}) on the payment of package {package_id}: {amount} {currency}.\n"
        "What to do: answer it in the Stripe Dashboard; the package's sessions stay bookable meanwhile.",
        "disputed",
        cause=f"package_dispute:{dispute_id}",
        payment_intent_id=obj.get("payment_intent"),
        amount=amount if isinstance(amount, int) else None,
        currency=currency if isinstance(currency, str) else None,
    )
    metrics.add_metric(name="DisputeOpened", unit="Count", value=1)
    return "owner alerted: a package's payment is disputed"


def dispute_closed(obj: dict[str, Any]) -> str:
    """Won: the payout is unblocked and a refund the dispute held up is made. Lost: the disputed amount went back
    to the cardholder; the provider's share of it is reversed if they were paid already, and a blocked payout
    pays the share of what is left (a balance or a fee on another charge)."""
    booking, ignored = _booking_for(obj)
    if booking is None:
        return ignored
    booking_id = booking.booking_id
    status = str(obj.get("status"))
    if booking.dispute_id == obj.get("id") and booking.dispute_status == status:
        # Recorded already (a redelivery): only money the booking still owes is settled (nothing read otherwise).
        settled = settle(booking)
        return f"already recorded: dispute {status}; payout {settled.payout_state}"
    if status == "lost":  # before the write that marks the event done, so a retry after a failure still flags
        flag(booking, "dispute_lost", f"dispute {obj.get('id')} lost: {obj.get('amount')} returned to the cardholder")
    fields: dict[str, Any] = {"dispute_id": obj.get("id"), "dispute_status": status}
    if booking.payout_state == payouts.BLOCKED:
        # Won or lost, the payout is decided again: the provider's share of what the business still keeps (a lost
        # dispute's amount counts as returned; another payment of the booking may still be theirs to share).
        fields |= {"payout_state": payouts.DUE, "payout_due_at": clock_now(), "payout_error": None}
    store.update_fields(booking_id, fields)
    metrics.add_metric(name=f"Dispute_{status}", unit="Count", value=1)
    settled = settle(store.get_booking(booking_id) or booking, stripe_changed=True)
    return f"dispute {status}; payout {settled.payout_state}; refunded total {settled.amount_refunded}"


OBJECT_SCHEMAS: dict[str, type[StripeObject]] = {
    "payment_intent.succeeded": PaymentIntentObject,
    "payment_intent.payment_failed": PaymentIntentObject,
    "payment_intent.canceled": PaymentIntentObject,
    "charge.refunded": ChargeObject,
    "charge.refund.updated": RefundObject,
    "refund.updated": RefundObject,
    "refund.failed": RefundObject,
    "charge.dispute.created": DisputeObject,
    "charge.dispute.closed": DisputeObject,
}

HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "payment_intent.succeeded": payment_succeeded,
    "payment_intent.payment_failed": payment_failed,
    "payment_intent.canceled": payment_canceled,
    "charge.refunded": charge_refunded,
    "charge.refund.updated": refund_updated,
    "refund.updated": refund_updated,
    "refund.failed": refund_updated,
    "charge.dispute.created": dispute_created,
    "charge.dispute.closed": dispute_closed,
}
