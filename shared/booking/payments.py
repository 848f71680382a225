"""Stripe: the one client of the payment provider.

`stripe` is imported on first use, not at module import, so functions that never charge do not pay its
import time on a cold start. Every POST carries a deterministic Idempotency-Key derived from our ids, so a
retried Lambda, a duplicate event or two concurrent callers can never charge, refund or transfer twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from booking.errors import PaymentProviderError, PaymentProviderUnavailable
from booking.models import Booking
from booking.secrets import provider_secret
from booking.settings import get_settings

if TYPE_CHECKING:
    import stripe


class PaymentIntentView(BaseModel):
    """The part of a Stripe PaymentIntent our rules read."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: str
    amount: int
    amount_received: int = 0
    currency: str
    client_secret: str | None = None
    customer: str | None = None
    latest_charge: str | None = None
    metadata: dict[str, str] = {}
    last_payment_error_code: str | None = None
    last_payment_error_message: str | None = None

    @classmethod
    def from_stripe(cls, payment_intent: Any) -> PaymentIntentView:
        data = payment_intent if isinstance(payment_intent, dict) else payment_intent.to_dict()
        charge = data.get("latest_charge")
        error = data.get("last_payment_error") or {}
        return cls(
            id=data["id"],
            status=data["status"],
            amount=data["amount"],
            amount_received=data.get("amount_received") or 0,
            currency=data["currency"],
            client_secret=data.get("client_secret"),
            customer=expandable_id(data.get("customer")),
            latest_charge=expandable_id(charge),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            last_payment_error_code=error.get("decline_code") or error.get("code"),
            last_payment_error_message=error.get("message"),
        )


def expandable_id(value: Any) -> str | None:
    """An expandable field as its id (`ch_...` whether Stripe sent the id or the object)."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"])


def idempotency_key(booking_id: str, action: str) -> str:
    return f"booking:{booking_id}:{action}"


@lru_cache(maxsize=2)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    import stripe

    settings = get_settings()
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )


def client() -> stripe.StripeClient:
    return _client(provider_secret("stripe_secret_key"), get_settings().stripe_api_base)


@contextmanager
def provider_errors(action: str) -> Iterator[None]:
    """Stripe's failures as ours: outages are retryable 503s, everything else a 502 that names the cause."""
    import stripe

    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise PaymentProviderUnavailable(f"Stripe did not answer while trying to {action}.") from exc
    except stripe.APIError as exc:
        raise PaymentProviderUnavailable(f"Stripe failed while trying to {action}.") from exc
    except stripe.StripeError as exc:
        code = getattr(exc, "code", None) or type(exc).__name__
        raise PaymentProviderError(f"Stripe refused to {action} ({code}).", provider_code=code) from exc


def transfer_group(booking: Booking) -> str:
    """Ties the booking's payment to the provider's transfer (and lets us find that transfer again)."""
    return f"booking_{booking.booking_id}"


def booking_metadata(booking: Booking) -> dict[str, str]:
    return {"booking_id": booking.booking_id, "service_id": booking.service_id, "payment_type": booking.payment_type}


def create_customer(booking: Booking) -> str:
    """A Stripe Customer for the client, so the card saved with the deposit can pay the balance later."""
    with provider_errors("create the customer"):
        customer = client().v1.customers.create(
            params={
                "email": booking.attendee.email,
                "name": booking.attendee.name,
                "metadata": {"booking_id": booking.booking_id},
            },
            options={"idempotency_key": idempotency_key(booking.booking_id, "customer")},
        )
    return str(customer.id)


def create_payment_intent(booking: Booking, customer_id: str | None) -> PaymentIntentView:
    params: dict[str, Any] = {
        "amount": booking.amount_due_now,
        "currency": booking.currency,
        "automatic_payment_methods": {"enabled": True},
        "description": f"{booking.payment_type} for booking {booking.booking_id}",
        "metadata": booking_metadata(booking),
        "transfer_group": transfer_group(booking),
    }
    if customer_id:
        params["customer"] = customer_id
    if booking.payment_type == "deposit":
        params["setup_future_usage"] = "off_session"  # the balance is charged later with the saved card
    with provider_errors("create the payment"):
        intent = client().v1.payment_intents.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key(booking.booking_id, "payment_intent")},
        )
    return PaymentIntentView.from_stripe(intent)


def retrieve_payment_intent(payment_intent_id: str) -> PaymentIntentView:
    with provider_errors("read the payment"):
        intent = client().v1.payment_intents.retrieve(payment_intent_id)
    return PaymentIntentView.from_stripe(intent)


class RefundView(BaseModel):
    model_config = ConfigDict(frozen=True)

    refund_id: str
    amount: int
    status: str


def create_refund(booking: Booking, amount: int, *, purpose: str, reason: str) -> RefundView:
    """One refund per (booking, purpose), ever: the key makes a retry return the first refund."""
    with provider_errors("refund the payment"):
        created = client().v1.refunds.create(
            params={
                "payment_intent": booking.payment_intent_id or "",
                "amount": amount,
                "reason": "requested_by_customer",
                "metadata": {"booking_id": booking.booking_id, "purpose": purpose, "why": reason[:500]},
            },
            options={"idempotency_key": idempotency_key(booking.booking_id, f"refund:{purpose}")},
        )
    return RefundView(refund_id=str(created.id), amount=int(created.amount), status=str(created.status))


def cancel_payment_intent(booking: Booking) -> PaymentIntentView:
    with provider_errors("cancel the payment"):
        intent = client().v1.payment_intents.cancel(
            booking.payment_intent_id or "",
            params={"cancellation_reason": "abandoned"},
            options={"idempotency_key": idempotency_key(booking.booking_id, "cancel")},
        )
    return PaymentIntentView.from_stripe(intent)


def recent_payment_intents(created_since: int) -> Iterator[PaymentIntentView]:
    """PaymentIntents created since a Unix time, newest first (Stripe pages through them lazily)."""
    with provider_errors("list recent payments"):
        page = client().v1.payment_intents.list(params={"created": {"gte": created_since}, "limit": 100})
        for intent in page.auto_paging_iter():
            yield PaymentIntentView.from_stripe(intent)


class TransferView(BaseModel):
    model_config = ConfigDict(frozen=True)

    transfer_id: str
    amount: int
    destination: str


def _transfer_view(transfer: Any) -> TransferView:
    return TransferView(
        transfer_id=str(transfer.id), amount=int(transfer.amount), destination=str(transfer.destination)
    )


def existing_transfer(booking: Booking) -> TransferView | None:
    """The transfer already made for this booking's payment, if any (its transfer_group is the booking)."""
    with provider_errors("look for an earlier transfer"):
        found = client().v1.transfers.list(params={"transfer_group": transfer_group(booking), "limit": 10})
    return _transfer_view(found.data[0]) if found.data else None


def create_transfer(booking: Booking, amount: int, destination: str) -> TransferView:
    """Pay the provider their share of this payment (Connect, separate charges and transfers).

    The key counts definitive failures (`payout_attempts`): a retry after an outage reuses the key (Stripe
    returns the first result); after a refusal the owner fixes the account and the next attempt is new.
    """
    with provider_errors("pay the provider"):
        transfer = client().v1.transfers.create(
            params={
                "amount": amount,
                "currency": booking.currency,
                "destination": destination,
                "transfer_group": transfer_group(booking),
                "source_transaction": booking.charge_id or "",
                "metadata": {"booking_id": booking.booking_id, "service_id": booking.service_id},
            },
            options={"idempotency_key": idempotency_key(booking.booking_id, f"transfer:{booking.payout_attempts}")},
        )
    return _transfer_view(transfer)


def reverse_transfer(booking: Booking, amount: int, reversed_total: int) -> str:
    """Take back `amount` of the provider's transfer; keyed by the total reversed after this one."""
    with provider_errors("reverse the provider transfer"):
        reversal = client().v1.transfers.reversals.create(
            booking.transfer_id or "",
            params={"amount": amount, "metadata": {"booking_id": booking.booking_id}},
            options={"idempotency_key": idempotency_key(booking.booking_id, f"reversal:{reversed_total}")},
        )
    return str(reversal.id)
