"""Pay links and the owner's request keys: small items beside the booking, each written once (conditional put)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from booking.dal.bookings import IDEMPOTENCY_TTL
from booking.dal.items import IdempotencyItem, PayLinkItem


class PayLink(BaseModel):
    model_config = ConfigDict(frozen=True)

    token_hash: str
    booking_id: str
    payment_intent_id: str
    purpose: str
    amount: int
    currency: str
    issued_at: datetime
    expires_at: datetime


def save_pay_link(link: PayLink) -> None:
    """Store the link once; the same link saved again (its token is derived from the PaymentIntent) only moves
    its expiry later, never earlier."""
    item = PayLinkItem(
        f"PAYLINK#{link.token_hash}",
        "PAYLINK",
        expires_ttl=link.expires_at,
        **link.model_dump(exclude={"token_hash"}),
    )
    try:
        item.save(condition=PayLinkItem.pk.does_not_exist())
        return
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
    try:
        item.update(
            actions=[PayLinkItem.expires_at.set(link.expires_at), PayLinkItem.expires_ttl.set(link.expires_at)],
            condition=PayLinkItem.pk.exists() & (PayLinkItem.expires_at < link.expires_at),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise  # else: it expires as late already


def get_pay_link(token_hash: str) -> PayLink | None:
    try:
        item = PayLinkItem.get(f"PAYLINK#{token_hash}", "PAYLINK", consistent_read=True)
    except DoesNotExist:
        return None
    fields = {name: getattr(item, name) for name in PayLink.model_fields if name != "token_hash"}
    return PayLink.model_validate({"token_hash": token_hash, **fields})


def claim_request(key_hash: str, operation: str, booking_id: str, fingerprint: str, now: datetime) -> str | None:
    """Record an owner request's Idempotency-Key with a fingerprint of its body, once. Returns None when this
    call recorded it or the same request had (a retry: the action runs again and finds its own effects), else
    the fingerprint of the different request that used the key first."""
    try:
        IdempotencyItem(
            f"IDEMPOTENCY#{key_hash}",
            operation,
            booking_id=booking_id,
            fingerprint=fingerprint,
            expires_ttl=now + IDEMPOTENCY_TTL,
        ).save(condition=IdempotencyItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = IdempotencyItem.get(f"IDEMPOTENCY#{key_hash}", operation, consistent_read=True)
        return None if existing.fingerprint == fingerprint else existing.fingerprint
    return None
