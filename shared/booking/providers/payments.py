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

from booking.domain.models import Booking
from booking.errors import PaymentProviderError, PaymentProviderUnavailable
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
    payment_method: str | None = None
    metadata: dict[str, str] = {}
    last_payment_error_code: str | None = None
    last_payment_error_message: str | None = None
    last_payment_error_payment_method: str | None = None  # the card that failed: the client retries with it
    created: int = 0

    @property
    def purpose(self) -> str:
        """What the payment is for, from our metadata: the first payment is `deposit` or `full`."""
        return self.metadata.get("purpose") or self.metadata.get("payment_type") or "unknown"

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
            payment_method=expandable_id(data.get("payment_method")),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            last_payment_error_code=error.get("decline_code") or error.get("code"),
            last_payment_error_message=error.get("message"),
            last_payment_error_payment_method=expandable_id(error.get("payment_method")),
            created=int(data.get("created") or 0),
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


def create_series_payment_intent(
    first: Booking, *, series_id: str, amount: int, occurrences: int, customer_id: str | None
) -> PaymentIntentView:
    """The one PaymentIntent of a recurring series (every occurrence's due-now amount): its metadata names the
    series and the first occurrence's booking (webhooks find the series through it)."""
    params: dict[str, Any] = {
        "amount": amount,
        "currency": first.currency,
        "automatic_payment_methods": {"enabled": True},
        "description": f"{first.payment_type} for series {series_id} ({occurrences} sessions)",
        "metadata": booking_metadata(first) | {"series_id": series_id, "occurrences": str(occurrences)},
        "transfer_group": transfer_group(first),
    }
    if customer_id:
        params["customer"] = customer_id
    if first.payment_type == "deposit":
        params["setup_future_usage"] = "off_session"  # each occurrence's balance is charged later with the saved card
    with provider_errors("create the payment"):
        intent = client().v1.payment_intents.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": f"series:{series_id}:payment_intent"},
        )
    return PaymentIntentView.from_stripe(intent)


def payment_intents_of_customer(customer_id: str) -> list[PaymentIntentView]:
    """Every PaymentIntent of the booking's Customer, oldest first (a strongly consistent list): the balance and
    fee payments are found here even if our record of one was lost."""
    with provider_errors("read the payments"):
        page = client().v1.payment_intents.list(params={"customer": customer_id, "limit": 100})
        found = [PaymentIntentView.from_stripe(intent) for intent in page.auto_paging_iter()]
    return sorted(found, key=lambda intent: intent.created)


def charge_saved_card(
    booking: Booking,
    *,
    amount: int,
    purpose: str,
    payment_method: str | None,
    key: str,
    description: str,
    metadata: dict[str, str],
) -> PaymentIntentView:
    """Charge the card saved with the deposit, the client not present (off-session). A card that needs the
    client (`authentication_required`) or a decline is not an error here: Stripe leaves the PaymentIntent
    `requires_payment_method`, which the client can still complete on-session with its client secret. Without a
    saved card the PaymentIntent is only created, for the client to pay through a pay link."""
    import stripe

    params: dict[str, Any] = {
        "amount": amount,
        "currency": booking.currency,
        "customer": booking.customer_id,
        "description": description,
        "metadata": booking_metadata(booking) | metadata | {"purpose": purpose},
        "transfer_group": transfer_group(booking),
    }
    if payment_method:
        params |= {"payment_method": payment_method, "off_session": True, "confirm": True}
    else:
        params["automatic_payment_methods"] = {"enabled": True}
    with provider_errors("charge the saved card"):
        try:
            intent = client().v1.payment_intents.create(params=params, options={"idempotency_key": key})  # type: ignore[arg-type]
        except stripe.CardError as exc:
            failed = getattr(exc.error, "payment_intent", None) if exc.error else None
            if failed is None:
                raise
            return PaymentIntentView.from_stripe(failed)
    return PaymentIntentView.from_stripe(intent)


def package_key(package_id: str, action: str) -> str:
    return f"package:{package_id}:{action}"


PACKAGE_PURPOSE = "package"


def create_package_payment_intent(package_id: str, *, amount: int, currency: str, name: str) -> PaymentIntentView:
    """The one payment of a prepaid package (metadata purpose "package": its webhooks go to the package, not to a
    booking)."""
    with provider_errors("create the package payment"):
        intent = client().v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency,
                "automatic_payment_methods": {"enabled": True},
                "description": f"{name} (package {package_id})",
                "metadata": {"package_id": package_id, "purpose": PACKAGE_PURPOSE},
            },
            options={"idempotency_key": package_key(package_id, "payment_intent")},
        )
    return PaymentIntentView.from_stripe(intent)


def retrieve_payment_intent(payment_intent_id: str) -> PaymentIntentView:
    with provider_errors("read the payment"):
        intent = client().v1.payment_intents.retrieve(payment_intent_id)
    return PaymentIntentView.from_stripe(intent)


class RefundView(BaseModel):
    """A refund as Stripe has it: `purpose` is ours (metadata), None for one made in the Stripe Dashboard."""

    model_config = ConfigDict(frozen=True)

    refund_id: str
    amount: int
    status: str
    payment_intent: str | None = None
    purpose: str | None = None
    request: str | None = None  # the owner's request that made it (owner refunds)
    booking_id: str | None = None  # the booking it was made for (ours); None for the Dashboard's
    created: int = 0

    @property
    def counts(self) -> bool:
        """Money on its way back to the client (a failed or canceled refund returned nothing)."""
        return self.status in ("succeeded", "pending", "requires_action")

    @classmethod
    def from_stripe(cls, refund: Any) -> RefundView:
        data = refund if isinstance(refund, dict) else refund.to_dict()
        return cls(
            refund_id=str(data["id"]),
            amount=int(data["amount"]),
            status=str(data.get("status") or "succeeded"),
            payment_intent=expandable_id(data.get("payment_intent")),
            purpose=(data.get("metadata") or {}).get("purpose"),
            request=(data.get("metadata") or {}).get("request"),
            booking_id=(data.get("metadata") or {}).get("booking_id"),
            created=int(data.get("created") or 0),
        )


def create_refund(
    booking: Booking, payment_intent_id: str, amount: int, *, purpose: str, reason: str, key: str, request: str = ""
) -> RefundView:
    """`key` is decided by the caller from what Stripe already has (see money/refunds.py); `request` names the
    owner's request (its Idempotency-Key hash) so a retry finds the refunds it made, even after 24 h."""
    return _refund({"booking_id": booking.booking_id}, payment_intent_id, amount, purpose, reason, key, request)


def create_package_refund(
    package_id: str, payment_intent_id: str, amount: int, *, purpose: str, reason: str, key: str, request: str
) -> RefundView:
    """A refund of a package's payment; `key` and `request` as for a booking's (`create_refund`)."""
    return _refund({"package_id": package_id}, payment_intent_id, amount, purpose, reason, key, request)


def _refund(
    owner: dict[str, str], payment_intent_id: str, amount: int, purpose: str, reason: str, key: str, request: str
) -> RefundView:
    metadata = owner | {"purpose": purpose, "why": reason[:500]} | ({"request": request} if request else {})
    with provider_errors("refund the payment"):
        created = client().v1.refunds.create(
            params={
                "payment_intent": payment_intent_id,
                "amount": amount,
                "reason": "requested_by_customer",
                "metadata": metadata,
            },
            options={"idempotency_key": key},
        )
    return RefundView.from_stripe(created)


def refunds_of(payment_intent_id: str) -> list[RefundView]:
    """Every refund of the PaymentIntent's charges, ours and the Dashboard's, oldest first (strongly consistent)."""
    with provider_errors("read the refunds"):
        page = client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
        found = [RefundView.from_stripe(refund) for refund in page.auto_paging_iter()]
    return sorted(found, key=lambda refund: refund.created)


class DisputeView(BaseModel):
    model_config = ConfigDict(frozen=True)

    dispute_id: str
    amount: int
    status: str
    payment_intent: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in ("won", "lost", "warning_closed", "prevented")


def disputes_of(payment_intent_id: str) -> list[DisputeView]:
    with provider_errors("read the disputes"):
        page = client().v1.disputes.list(params={"payment_intent": payment_intent_id, "limit": 100})
        return [
            DisputeView(
                dispute_id=str(d.id), amount=int(d.amount), status=str(d.status), payment_intent=payment_intent_id
            )
            for d in page.auto_paging_iter()
        ]


def cancel_payment_intent(booking: Booking, payment_intent_id: str | None = None) -> PaymentIntentView:
    """Cancel the booking's first PaymentIntent (an abandoned hold), or one of its later ones (a balance the
    client never completed, paid offline instead)."""
    target = payment_intent_id or booking.payment_intent_id or ""
    action = "cancel" if target == booking.payment_intent_id else f"cancel:{target}"
    with provider_errors("cancel the payment"):
        intent = client().v1.payment_intents.cancel(
            target,
            params={"cancellation_reason": "abandoned"},
            options={"idempotency_key": idempotency_key(booking.booking_id, action)},
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
    amount_reversed: int = 0
    source_transaction: str | None = None  # the charge whose funds it moved
    created: int = 0

    @property
    def net(self) -> int:
        return self.amount - self.amount_reversed


def _transfer_view(transfer: Any) -> TransferView:
    return TransferView(
        transfer_id=str(transfer.id),
        amount=int(transfer.amount),
        destination=expandable_id(transfer.destination) or "",
        amount_reversed=int(getattr(transfer, "amount_reversed", 0) or 0),
        source_transaction=expandable_id(getattr(transfer, "source_transaction", None)),
        created=int(getattr(transfer, "created", 0) or 0),
    )


def transfers_of(booking: Booking) -> list[TransferView]:
    """Every transfer made for this booking (its transfer_group), with what was reversed of each."""
    with provider_errors("read the provider transfers"):
        page = client().v1.transfers.list(params={"transfer_group": transfer_group(booking), "limit": 100})
        return [_transfer_view(transfer) for transfer in page.auto_paging_iter()]


def create_transfer(booking: Booking, amount: int, destination: str, *, source_charge: str, key: str) -> TransferView:
    """Pay the provider `amount` of one charge's funds (Connect, separate charges and transfers). The caller
    decides `key` from the transfers Stripe already has for the booking (money/payouts.py)."""
    with provider_errors("pay the provider"):
        transfer = client().v1.transfers.create(
            params={
                "amount": amount,
                "currency": booking.currency,
                "destination": destination,
                "transfer_group": transfer_group(booking),
                "source_transaction": source_charge,
                "metadata": {"booking_id": booking.booking_id, "service_id": booking.service_id, "purpose": "payout"},
            },
            options={"idempotency_key": idempotency_key(booking.booking_id, key)},
        )
    return _transfer_view(transfer)


def reverse_transfer(booking: Booking, transfer: TransferView, amount: int) -> str:
    """Take back `amount` of a provider transfer; keyed by that transfer's reversed total after this one, which
    was read from Stripe: the same decision gets the same reversal, a new one (after a further refund) a new key."""
    reversed_total = transfer.amount_reversed + amount
    with provider_errors("reverse the provider transfer"):
        reversal = client().v1.transfers.reversals.create(
            transfer.transfer_id,
            params={"amount": amount, "metadata": {"booking_id": booking.booking_id, "purpose": "reversal"}},
            options={
                "idempotency_key": idempotency_key(
                    booking.booking_id, f"reversal:{transfer.transfer_id}:{reversed_total}"
                )
            },
        )
    return str(reversal.id)
