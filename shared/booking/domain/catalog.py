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

from booking.errors import InvalidRequest, UnknownService
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

    amount: int = Field(ge=0, description="Minor units (cents for USD); 0 = free")
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


class ReschedulePolicy(BaseModel):
    """Seed 003 tracks reschedules: a service may cap them, and charge a share of the price for a late one."""

    model_config = ConfigDict(frozen=True)

    max_count: int | None = Field(default=None, ge=0, description="Reschedules a client may make; none = no cap")
    late_within_hours: int = Field(default=24, ge=0, description="A reschedule this close to the start is late")
    late_fee_percent: int = Field(default=0, ge=0, le=100, description="Fee for a late reschedule, of the price")


class Priced(BaseModel):
    """A service or a package: a default price, and the same in other currencies (one price per currency)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    price: Money = Field(description="The default price (the first currency offered)")
    prices: list[Money] = Field(default_factory=list, description="The same in other currencies")

    @model_validator(mode="after")
    def _one_price_per_currency(self) -> Priced:
        currencies = [price.currency for price in self.all_prices]
        if len(currencies) != len(set(currencies)):
            raise ValueError(f"{self.id}: one price per currency")
        return self

    @property
    def all_prices(self) -> list[Money]:
        return [self.price, *self.prices]

    def price_in(self, currency: str | None) -> Money:
        """The price in `currency` (None: the default one); another currency is the client's mistake."""
        if currency is None:
            return self.price
        for price in self.all_prices:
            if price.currency == currency.lower():
                return price
        offered = ", ".join(price.currency for price in self.all_prices)
        raise InvalidRequest(
            f"{self.name} is not sold in {currency.upper()}; pick one of: {offered}.",
            fields={"currency": f"one of {offered}"},
        )


class GroupRate(BaseModel):
    """Seed 004's group rate: a party of at least `min_participants` pays this per seat (10 at 40.00 = 400.00)."""

    model_config = ConfigDict(frozen=True)

    min_participants: int = Field(ge=2, le=50)
    seat_price: Money = Field(description="Per seat, in the service's default currency")
    seat_prices: list[Money] = Field(default_factory=list, description="The same in the service's other currencies")

    @property
    def all_prices(self) -> list[Money]:
        return [self.seat_price, *self.seat_prices]


class RolePrice(BaseModel):
    """Seed 004: a role from the site's signed sign-in claim prices the booking (resident artist free, public pays).

    Either a price per seat (in each currency the service is sold in) or a percent off the list price."""

    model_config = ConfigDict(frozen=True)

    role: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    seat_price: Money | None = None
    seat_prices: list[Money] = Field(default_factory=list)
    discount_percent: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _one_rule(self) -> RolePrice:
        if (self.seat_price is None) == (self.discount_percent is None):
            raise ValueError(f"role {self.role}: give seat_price or discount_percent, not both")
        return self

    @property
    def all_prices(self) -> list[Money]:
        return [self.seat_price, *self.seat_prices] if self.seat_price else []


class RecurrencePolicy(BaseModel):
    """Recurring bookings: weekly or every N weeks, up to `max_occurrences`, paid per occurrence or as a series."""

    model_config = ConfigDict(frozen=True)

    max_occurrences: int = Field(default=8, ge=2, le=26)
    every_weeks: list[Annotated[int, Field(ge=1, le=8)]] = Field(default_factory=lambda: [1, 2], min_length=1)
    payment: Literal["per_occurrence", "series"] = Field(
        default="per_occurrence",
        description='"per_occurrence": each occurrence is priced as a booking (its deposit or full price) and the '
        'client pays them all at booking; "series": the whole series is paid in full at booking',
    )


class Service(Priced):
    model_config = ConfigDict(frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: str = Field(min_length=1)
    cal_event_type_id: int = Field(gt=0)
    duration_minutes: int = Field(gt=0, le=24 * 60)
    requires_phone: bool = Field(default=False, description="The client must give an E.164 phone number")
    reschedule: ReschedulePolicy = ReschedulePolicy()
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
    reminder_hours: list[Annotated[int, Field(ge=1, le=24 * 30)]] = Field(
        default_factory=lambda: [24],
        max_length=3,
        description="Reminders this many hours before the start (none when booked later than that); [] = none",
    )
    preparation: str | None = Field(
        default=None, max_length=1000, description="What the client should do before the session (in messages)"
    )
    group_rates: list[GroupRate] = Field(
        default_factory=list, description="Per-seat prices for larger parties (capacity > 1 services)"
    )
    max_party: int | None = Field(default=None, ge=1, le=50, description="Seats one booking may take; none = capacity")
    role_prices: list[RolePrice] = Field(default_factory=list, description="Prices by the client's signed role")
    recurrence: RecurrencePolicy | None = Field(default=None, description="None = not bookable as a series")
    buffer_before_minutes: int = Field(default=0, ge=0, le=240, description="Kept free before each booking")
    buffer_after_minutes: int = Field(default=0, ge=0, le=240, description="Kept free after each booking")
    waitlist: bool = Field(default=False, description="A full slot offers the waitlist (POST /waitlist)")
    rebook_window_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 30,
        description="A paid booking whose slot was lost may pick another time this long; 0 = refund at once",
    )

    @property
    def currencies(self) -> list[str]:
        return [price.currency for price in self.all_prices]

    @property
    def party_limit(self) -> int:
        """The most seats one booking may take."""
        return min(self.max_party or self.capacity, self.capacity)

    def role_price(self, role: str | None) -> RolePrice | None:
        return next((rule for rule in self.role_prices if rule.role == role), None) if role else None

    @model_validator(mode="after")
    def _check_rates(self) -> Service:
        for what, prices in [
            *((f"group rate {rate.min_participants}", rate.all_prices) for rate in self.group_rates),
            *((f"role {rule.role}", rule.all_prices) for rule in self.role_prices if rule.seat_price),
        ]:
            currencies = sorted(price.currency for price in prices)
            if currencies != sorted(self.currencies):
                raise ValueError(f"{self.id}: {what} needs one price in each of {sorted(self.currencies)}")
        if self.group_rates and self.capacity == 1:
            raise ValueError(f"{self.id}: group rates need capacity > 1")
        if any(rate.min_participants > self.capacity for rate in self.group_rates):
            raise ValueError(f"{self.id}: a group rate's min_participants exceeds the capacity")
        return self

    @property
    def is_free(self) -> bool:
        return self.price.amount == 0


class Package(Priced):
    """Prepaid sessions (seed 003: "3-session package, $500, pays all upfront, books 1 session at a time")."""

    model_config = ConfigDict(frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: str = Field(min_length=1)
    sessions: int = Field(ge=1, le=100)
    services: list[str] = Field(min_length=1, description="Services a credit books")
    expires_days: int | None = Field(default=None, ge=1, le=3650, description="Credits lapse this long after purchase")


class Business(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    time_zone: str

    _check_tz = field_validator("time_zone")(validate_time_zone)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    business: Business
    services: list[Service] = Field(min_length=1)
    packages: list[Package] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Catalog:
        ids = [service.id for service in self.services]
        if len(ids) != len(set(ids)):
            raise ValueError("service ids must be unique")
        from booking.domain.pricing import quote  # a price the provider cannot charge is a catalog error, found at load

        for service in self.services:
            for price in service.all_prices:
                if service.is_free != (price.amount == 0):
                    raise ValueError(f"{service.id}: a free service is free in every currency")
                for payment_type in ("deposit", "full"):
                    due_now = quote(service, payment_type, price.currency).amount_due_now
                    _check_minimum(service.id, f"{payment_type} of {due_now}", due_now, price.currency)
        package_ids = [package.id for package in self.packages]
        if len(package_ids) != len(set(package_ids)):
            raise ValueError("package ids must be unique")
        for package in self.packages:
            for price in package.all_prices:
                _check_minimum(package.id, f"price {price.amount}", price.amount, price.currency)
            unknown = set(package.services) - set(ids)
            if unknown:
                raise ValueError(f"{package.id}: unknown services {sorted(unknown)}")
        return self

    def package(self, package_id: str) -> Package:
        for package in self.packages:
            if package.id == package_id:
                return package
        raise InvalidRequest(f"There is no package {package_id!r}.", fields={"package_id": "unknown package"})

    def service(self, service_id: str) -> Service:
        for service in self.services:
            if service.id == service_id:
                return service
        raise UnknownService(service_id)


def _check_minimum(owner: str, what: str, amount: int, currency: str) -> None:
    """Free (0) is allowed; a paid amount Stripe cannot charge is a catalog error, found at load."""
    minimum = STRIPE_MINIMUM_CHARGE.get(currency, 1)
    if 0 < amount < minimum:
        raise ValueError(f"{owner}: {what} is below Stripe's minimum {minimum} {currency}")


@lru_cache(maxsize=4)
def _load(path: str) -> Catalog:
    return Catalog.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def get_catalog() -> Catalog:
    return _load(get_settings().catalog_path or str(DEFAULT_CATALOG))
