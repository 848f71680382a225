"""The catalog: the services a client can book and their server-owned prices.

Loaded from JSON and validated once per container. Every amount is an integer in the currency's minor unit.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from booking.errors import UnknownService
from booking.settings import get_settings

DEFAULT_CATALOG = Path(__file__).with_name("catalog.json")

# Stripe's minimum charge per currency in minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
STRIPE_MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]


def validate_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: int = Field(gt=0, description="Minor units (cents for USD)")
    currency: CurrencyCode = Field(description="Lower-case ISO 4217 code, as Stripe writes it")


class CancellationPolicy(BaseModel):
    """Seed 003: free until `free_until_hours` before the start; later, the fee is a share of the price."""

    model_config = ConfigDict(frozen=True)

    free_until_hours: int = Field(default=24, ge=0)
    late_fee_percent: int = Field(default=50, ge=0, le=100)
    charge_uncovered_fee: bool = Field(
        default=False, description="Charge the saved card for the part of a late fee the payment did not cover"
    )


class HoursBeforeStart(BaseModel):
    model_config = ConfigDict(frozen=True)

    hours_before_start: int = Field(ge=1, le=24 * 30)


BalanceCollection = Literal["manual", "at_meeting_end"] | HoursBeforeStart


class Service(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: str = Field(min_length=1)
    cal_event_type_id: int = Field(gt=0)
    duration_minutes: int = Field(gt=0, le=24 * 60)
    price: Money
    deposit_percent: int = Field(default=50, ge=1, le=100)
    minimum_notice_minutes: int = Field(default=0, ge=0)
    capacity: int = Field(default=1, ge=1, le=50, description="Clients per slot (1 = one-to-one)")
    provider_account: Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]+$")] | None = Field(
        default=None, description="Stripe Connect account paid after the hold period; none = single-business mode"
    )
    provider_share_percent: int = Field(default=100, ge=0, le=100, description="Provider's share of what was paid")
    cancellation: CancellationPolicy = CancellationPolicy()
    balance_collection: BalanceCollection = Field(
        default="manual",
        description='When the balance of a deposit booking is charged to the saved card: "manual" (the owner '
        'collects it), "at_meeting_end", or {"hours_before_start": N}',
    )
    no_show_fee_percent: int = Field(
        default=0, ge=0, le=100, description="A no-show owes this share of the price; what was paid counts toward it"
    )
    rebook_window_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 30,
        description="A paid booking whose slot was lost may pick another time this long; 0 = refund at once",
    )


class Business(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    time_zone: str

    _check_tz = field_validator("time_zone")(validate_time_zone)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    business: Business
    services: list[Service] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Catalog:
        ids = [service.id for service in self.services]
        if len(ids) != len(set(ids)):
            raise ValueError("service ids must be unique")
        from booking.domain.pricing import quote  # a price the provider cannot charge is a catalog error, found at load

        for service in self.services:
            for payment_type in ("deposit", "full"):
                due_now = quote(service, payment_type).amount_due_now
                minimum = STRIPE_MINIMUM_CHARGE.get(service.price.currency, 1)
                if due_now < minimum:
                    raise ValueError(f"{service.id}: {payment_type} of {due_now} is below Stripe's minimum {minimum}")
        return self

    def service(self, service_id: str) -> Service:
        for service in self.services:
            if service.id == service_id:
                return service
        raise UnknownService(service_id)


@lru_cache(maxsize=4)
def _load(path: str) -> Catalog:
    return Catalog.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def get_catalog() -> Catalog:
    return _load(get_settings().catalog_path or str(DEFAULT_CATALOG))
