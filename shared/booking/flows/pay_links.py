"""Pay links: how a client completes a balance or a fee the saved card could not pay (it needed the client's
authentication, or was declined).

`SITE_BASE_URL/book/pay?token=...`: the token (256 bits) is derived from the PaymentIntent's id under the server's
link signing key (`secrets.link_token`) and stored only as its SHA-256, valid PAY_LINK_DAYS from the last time it
was given out. So the same PaymentIntent always has the same link, and the notifier names it (`pay_url`) without
storing anything. It opens one PaymentIntent, which the page confirms with Stripe.js
(`stripe.confirmCardPayment(client_secret, {payment_method})`). It is single-use in effect: once that payment
has succeeded (or was cancelled because the owner took it in cash), the link answers so and hands out nothing.
Stripe's `payment_intent.succeeded` webhook records the payment on the booking, as for any later payment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import requests as store
from booking.dal.requests import PayLink
from booking.digests import digest
from booking.domain.models import Booking
from booking.errors import DomainError, TokenExpired, TokenNotFound
from booking.observability import logger
from booking.providers import payments
from booking.providers.payments import PaymentIntentView
from booking.secrets import link_token
from booking.settings import get_settings

PAY_LINK_DAYS = 7


class PaymentClosed(DomainError):
    status = 410
    code = "payment_closed"


class PayPage(BaseModel):
    """What the pay page needs: the amount, and the client secret while the payment is still open."""

    booking_id: str
    purpose: str
    amount: int
    currency: str
    status: Literal["requires_payment", "processing", "paid"]
    client_secret: str | None = None
    payment_method: str | None = None  # the saved card that failed: confirm again with it (after 3DS)
    last_error: str | None = None


def link_for(booking: Booking, intent: PaymentIntentView) -> str | None:
    """The pay link of an open PaymentIntent of the booking (None once it succeeded, is processing or was
    cancelled): the same link on every call, stored once, valid PAY_LINK_DAYS from now."""
    if intent.status in ("succeeded", "processing", "canceled"):
        return None
    token = _token(intent.id)
    now = clock_now()
    store.save_pay_link(
        PayLink(
            token_hash=digest(token),
            booking_id=booking.booking_id,
            payment_intent_id=intent.id,
            purpose=intent.purpose,
            amount=intent.amount,
            currency=intent.currency,
            issued_at=now,
            expires_at=now + timedelta(days=PAY_LINK_DAYS),
        )
    )
    return _url(token)


def pay_url(payment_intent_id: str) -> str:
    """The pay link `link_for` gave out for this PaymentIntent, named without writing (the notifier: the payment
    needed the client's action, so the collection that found so stored the link)."""
    return _url(_token(payment_intent_id))


def _token(payment_intent_id: str) -> str:
    return link_token(f"pay-link:{payment_intent_id}")


def _url(token: str) -> str:
    return f"{str(get_settings().site_base_url).rstrip('/')}/book/pay?{urlencode({'token': token})}"


def open_link(token: str) -> PayPage:
    """The pay page's data for a token: 404 unknown, 410 expired, 410 payment_closed if it was cancelled."""
    link = store.get_pay_link(digest(token))
    if link is None:
        raise TokenNotFound
    logger.append_keys(booking_id=link.booking_id)
    if link.expires_at <= clock_now():
        raise TokenExpired
    intent = payments.retrieve_payment_intent(link.payment_intent_id)
    page = PayPage(
        booking_id=link.booking_id, purpose=link.purpose, amount=intent.amount, currency=intent.currency, status="paid"
    )
    if intent.status == "succeeded":
        return page
    if intent.status == "canceled":
        raise PaymentClosed("This payment is no longer open (the business recorded it another way).")
    if intent.status == "processing":
        return page.model_copy(update={"status": "processing"})
    return page.model_copy(
        update={
            "status": "requires_payment",
            "client_secret": intent.client_secret,
            "payment_method": intent.last_payment_error_payment_method or intent.payment_method,
            "last_error": intent.last_payment_error_message,
        }
    )
