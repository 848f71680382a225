"""The owner's promo codes: create, list with their uses, deactivate (data, not a deploy).

Both need an Idempotency-Key. Creating records it in the same transaction as the code: the same key and body again
answers the code it created, another body is 422 idempotency_key_reused, and a code that exists is 409
promo_code_exists. Deactivating stops new uses at once; holds that took a use keep it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from booking.api_models import RequestBody
from booking.clock import now as clock_now
from booking.dal import bookings as booking_store
from booking.dal import promos as store
from booking.dal.transaction import TransactionCancelled
from booking.digests import digest, fingerprint
from booking.domain.catalog import get_catalog
from booking.domain.pricing import PromoKind
from booking.errors import Conflict, IdempotencyKeyReused, InvalidRequest, PromoCodeExists, PromoCodeNotFound
from booking.flows.promos import PromoCodeText, normalise
from booking.observability import metrics

CREATE_OPERATION = "owner:promo-create"
MAX_USES = 1_000_000
MAX_AMOUNT = 100_000_000  # minor units: far above any price in the catalog, below anything absurd


class CreatePromoRequest(RequestBody):
    code: PromoCodeText
    kind: PromoKind = Field(
        description="percent: `value`% off the price; amount: `value` minor units off; free: the whole price"
    )
    value: int | None = Field(
        default=None,
        validate_default=True,
        description="percent: 1-100; amount: minor units > 0 (taken in the booking's currency); free: omitted",
    )
    max_uses: int = Field(
        ge=1, le=MAX_USES, description="Bookings that may use it (a use comes back if the hold ends unpaid)"
    )
    valid_from: AwareDatetime | None = Field(default=None, description="Usable from (default: at once)")
    valid_until: AwareDatetime | None = Field(default=None, description="Usable until, excluded (default: no end)")
    services: list[str] | None = Field(
        default=None, min_length=1, max_length=50, description="Catalog service ids; omitted = every service"
    )

    @field_validator("code")
    @classmethod
    def _upper(cls, code: str) -> str:
        return normalise(code)

    @field_validator("value")
    @classmethod
    def _value_fits_kind(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if kind == "free" and value is not None:
            raise ValueError("a free code has no value")
        if kind == "percent" and (value is None or not 1 <= value <= 100):
            raise ValueError("a percent from 1 to 100")
        if kind == "amount" and (value is None or not 0 < value <= MAX_AMOUNT):
            raise ValueError(f"an amount in minor units from 1 to {MAX_AMOUNT}")
        return value

    @field_validator("valid_until")
    @classmethod
    def _after_start(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("valid_from")
        if until is not None and start is not None and until <= start:
            raise ValueError("must be after valid_from")
        return until

    @field_validator("services")
    @classmethod
    def _known_services(cls, services: list[str] | None) -> list[str] | None:
        if services is None:
            return None
        known = {service.id for service in get_catalog().services}
        unknown = sorted(set(services) - known)
        if unknown:
            raise ValueError(f"unknown services: {', '.join(unknown)}")
        return sorted(set(services))


class PromoOut(BaseModel):
    code: str
    kind: PromoKind
    value: int | None
    max_uses: int
    uses_taken: int = Field(
        description="Uses held now: paid bookings and live holds (an ended hold gives its use back)"
    )
    uses_remaining: int
    valid_from: datetime | None
    valid_until: datetime | None
    services: list[str] | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, promo: store.Promo) -> PromoOut:
        return cls(
            **promo.model_dump(exclude={"created_by"}),
            uses_remaining=promo.uses_remaining,
        )


class PromoCodes(BaseModel):
    promo_codes: list[PromoOut]


def _required(idempotency_key: str | None) -> str:
    if not idempotency_key:
        raise InvalidRequest(
            "Owner actions need an Idempotency-Key header (any unique string; reuse it to retry safely).",
            fields={"Idempotency-Key": "required"},
        )
    return idempotency_key


def create(body: CreatePromoRequest, *, actor: str, idempotency_key: str | None) -> PromoOut:
    key_hash = digest(_required(idempotency_key))
    request = fingerprint(body)
    now = clock_now()
    promo = store.Promo(
        **body.model_dump(),
        uses_taken=0,
        active=True,
        created_at=now,
        created_by=actor,
    )
    try:
        store.create(promo, claim=(key_hash, CREATE_OPERATION, request), now=now)
    except store.PromoKeyClaimed:
        recorded = booking_store.idempotent_booking(key_hash, CREATE_OPERATION)
        if recorded is None or recorded[1] != request:
            raise IdempotencyKeyReused from None
        replayed = store.get(recorded[0])  # the code this key created, as it is now
        if replayed is None:
            raise PromoCodeNotFound(recorded[0]) from None
        return PromoOut.of(store.to_promo(replayed))
    except store.PromoExists:
        raise PromoCodeExists(body.code) from None
    except TransactionCancelled:
        raise Conflict("Another request is creating this code or using this key right now; retry.") from None
    metrics.add_metric(name="PromoCodeCreated", unit="Count", value=1)
    return PromoOut.of(promo)


def list_codes() -> PromoCodes:
    return PromoCodes(promo_codes=[PromoOut.of(promo) for promo in store.list_all()])


def deactivate(code: str) -> PromoOut:
    """The handler claims the request's Idempotency-Key first (owner.actions.claim): deactivating is idempotent."""
    code = normalise(code)
    try:
        return PromoOut.of(store.deactivate(code))
    except store.PromoNotFound:
        raise PromoCodeNotFound(code) from None
