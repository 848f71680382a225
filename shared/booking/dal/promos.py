"""Promo codes (owner-managed data): one item per code, its uses counted on the item itself.

A use is taken inside the hold's transaction (dal/bookings.create_held_booking), with the condition that the code
is still usable, so the last use goes to exactly one of any number of racing clients; an unpaid hold that ends gives
it back in the transaction that ends it (dal/bookings.release_seat).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from booking.dal.items import IdempotencyItem, PromoItem
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.domain.pricing import PromoKind

PARTITION = "PROMO"


def promo_sk(code: str) -> str:
    return f"CODE#{code.upper()}"


def take_use(tx: Transaction, code: str, service_id: str, now: datetime) -> None:
    """One use of `code` for `service_id`, if the code is active, inside its dates and not used up (label "promo")."""
    usable = (
        PromoItem.active.exists()
        & (PromoItem.active == True)  # noqa: E712 - a PynamoDB condition, not a Python comparison
        & (PromoItem.uses_taken < PromoItem.max_uses)
        & (PromoItem.valid_from.does_not_exist() | (PromoItem.valid_from <= now))
        & (PromoItem.valid_until.does_not_exist() | (PromoItem.valid_until > now))
        & (PromoItem.services.does_not_exist() | PromoItem.services.contains(service_id))
    )
    tx.update("promo", PromoItem(PARTITION, promo_sk(code)), [PromoItem.uses_taken.add(1)], usable)


def give_back_use(tx: Transaction, code: str) -> None:
    """Return a use taken by a hold that ended unpaid (label "promo_return")."""
    tx.update(
        "promo_return",
        PromoItem(PARTITION, promo_sk(code)),
        [PromoItem.uses_taken.add(-1)],
        PromoItem.pk.exists(),  # never a reason to keep a hold from ending: the count is only bookkeeping
    )


def retake_use(tx: Transaction, code: str) -> None:
    """A payment arrived for a hold that had lapsed and given its use back: the discount was honoured, so the use
    counts again even if that puts the code one over (label "promo_retake"; a late payment is never refused)."""
    tx.update(
        "promo_retake", PromoItem(PARTITION, promo_sk(code)), [PromoItem.uses_taken.add(1)], PromoItem.pk.exists()
    )


def get(code: str) -> PromoItem | None:
    try:
        return PromoItem.get(PARTITION, promo_sk(code), consistent_read=True)
    except DoesNotExist:
        return None


def usable(code: str, service_id: str, now: datetime) -> PromoItem | None:
    """The code if a booking of `service_id` may use it now (the same rules as take_use's condition), else None."""
    item = get(code)
    return item if item is not None and is_usable(item, service_id, now) else None


def is_usable(item: PromoItem, service_id: str, now: datetime) -> bool:
    """take_use's condition, read on an item already fetched."""
    if not item.active or item.uses_taken >= item.max_uses:
        return False
    if (item.valid_from and item.valid_from > now) or (item.valid_until and item.valid_until <= now):
        return False
    return not item.services or service_id in item.services


# --- the owner's codes -----------------------------------------------------------------------------------------


class Promo(BaseModel):
    """A promo code as the owner defines it, with its uses so far."""

    model_config = ConfigDict(frozen=True)

    code: str
    kind: PromoKind
    value: int | None = Field(description="Percent (1-100) or minor units; null for a free code")
    max_uses: int
    uses_taken: int
    valid_from: datetime | None
    valid_until: datetime | None
    services: list[str] | None = Field(description="Services it applies to; null = every service")
    active: bool
    created_at: datetime
    created_by: str

    @property
    def uses_remaining(self) -> int:
        return max(self.max_uses - self.uses_taken, 0)


class PromoExists(Exception):
    """Another request created this code already."""


class PromoNotFound(Exception):
    pass


class PromoKeyClaimed(Exception):
    """The request's Idempotency-Key is recorded already: a replay of this request, or another one."""


def to_promo(item: PromoItem) -> Promo:
    return Promo(
        code=item.code,
        kind=item.kind,  # type: ignore[arg-type]  # written from a PromoKind only
        value=None if item.kind == "free" else int(item.value),
        max_uses=int(item.max_uses),
        uses_taken=int(item.uses_taken),
        valid_from=item.valid_from,
        valid_until=item.valid_until,
        services=sorted(item.services) if item.services else None,
        active=bool(item.active),
        created_at=item.created_at,
        created_by=item.created_by,
    )


def _new_item(promo: Promo) -> PromoItem:
    return PromoItem(
        PARTITION,
        promo_sk(promo.code),
        code=promo.code,
        kind=promo.kind,
        value=promo.value or 0,
        max_uses=promo.max_uses,
        uses_taken=0,
        valid_from=promo.valid_from,
        valid_until=promo.valid_until,
        services=set(promo.services) if promo.services else None,
        active=True,
        created_at=promo.created_at,
        created_by=promo.created_by,
    )


def add_if_absent(promo: Promo) -> bool:
    """Write a code unless it exists (seed data: a restart keeps its uses). True when this call wrote it."""
    try:
        _new_item(promo).save(condition=PromoItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def create(promo: Promo, *, claim: tuple[str, str, str], now: datetime) -> None:
    """Write a new code and its request's Idempotency-Key claim in one transaction, so a claim with this request's
    fingerprint means this request created the code. `claim` = (key hash, operation, request fingerprint).

    Raises PromoKeyClaimed, PromoExists, or TransactionCancelled (a concurrent write to the same items)."""
    from booking.dal.bookings import IDEMPOTENCY_TTL  # bookings imports this module (the hold takes a use)

    key_hash, operation, fingerprint = claim
    item = _new_item(promo)
    record = IdempotencyItem(
        f"IDEMPOTENCY#{key_hash}",
        operation,
        booking_id=promo.code,  # the item's subject: here the code the request created
        fingerprint=fingerprint,
        expires_ttl=now + IDEMPOTENCY_TTL,
    )
    tx = Transaction()
    tx.put("promo", item, PromoItem.pk.does_not_exist())
    tx.put("idempotency", record, IdempotencyItem.pk.does_not_exist())
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "idempotency" in exc.failed:
            raise PromoKeyClaimed(promo.code) from exc
        if "promo" in exc.failed:
            raise PromoExists(promo.code) from exc
        raise  # another transaction was writing the same items: the caller retries


def list_all() -> list[Promo]:
    """Every code, in code order (one partition: a query, never a scan)."""
    return [to_promo(item) for item in PromoItem.query(PARTITION, consistent_read=True)]


def deactivate(code: str) -> Promo:
    """Stop a code for new bookings (holds that took a use keep it); deactivating it again changes nothing."""
    item = PromoItem(PARTITION, promo_sk(code))
    try:
        item.update(actions=[PromoItem.active.set(False)], condition=PromoItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise PromoNotFound(code) from exc
        raise
    return to_promo(item)
