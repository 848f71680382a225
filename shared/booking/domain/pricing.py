"""Pricing: the one place that turns a catalog price into what the client pays now and later.

Deposit rounding, documented once: deposit = total x percent / 100 rounded half up to a whole minor unit
(16500 at 50% -> 8250; 8999 at 50% -> 4500); balance = total - deposit, exactly.

The list price is the catalog's price per seat times the seats taken: the service's price, a group rate's for a
party at least its size (seed 004: 10 at 40.00 = 400.00), or the price of the client's signed role (a role's
percent comes off the party's price, rounded like the deposit). A promo code's discount comes off the list price
first (percent rounded like the deposit, an amount never below 0); the deposit is then a share of what is left.
A total of 0 (a free service, a 100% code) is paid in full with nothing due: no payment at all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from booking.domain.catalog import Money, Service

PaymentType = Literal["deposit", "full"]


PromoKind = Literal["percent", "amount", "free"]


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_type: PaymentType
    list_price: int
    discount: int
    total: int
    amount_due_now: int
    balance_due: int
    currency: str
    deposit_percent: int


# ISO 4217 currencies Stripe charges in whole units (its "zero-decimal currencies").
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()  # noqa: SIM905 - reads as Stripe's list
)


def format_amount(amount: int, currency: str) -> str:
    """An amount in minor units as people read it in messages and history: 2000 usd -> "20.00 USD"."""
    sign, units = ("-" if amount < 0 else ""), abs(amount)
    if currency.lower() in ZERO_DECIMAL:
        return f"{sign}{units} {currency.upper()}"
    return f"{sign}{units // 100}.{units % 100:02d} {currency.upper()}"


def deposit_amount(total: int, percent: int) -> int:
    return (total * percent + 50) // 100


def discount_of(kind: PromoKind, value: int, list_price: int) -> int:
    """What a promo code takes off a list price: a percent of it, a fixed amount, or all of it."""
    if kind == "free":
        return list_price
    if kind == "percent":
        return min(deposit_amount(list_price, value), list_price)
    return min(value, list_price)


def _in_currency(prices: list[Money], currency: str) -> int:
    return next(price.amount for price in prices if price.currency == currency)


def list_price(
    service: Service, currency: str | None = None, *, participants: int = 1, role: str | None = None
) -> Money:
    """What a party of `participants` pays before any code or credit: seats at the best rate they qualify for,
    or at their role's."""
    price = service.price_in(currency)
    seat = price.amount
    for rate in service.group_rates:
        if participants >= rate.min_participants:
            seat = min(seat, _in_currency(rate.all_prices, price.currency))
    rule = service.role_price(role)
    if rule is not None and rule.seat_price is not None:
        seat = _in_currency(rule.all_prices, price.currency)
    amount = seat * participants
    if rule is not None and rule.discount_percent is not None:
        amount -= deposit_amount(amount, rule.discount_percent)
    return Money(amount=amount, currency=price.currency)


def quote(
    service: Service,
    payment_type: PaymentType,
    currency: str | None = None,
    discount: int = 0,
    *,
    participants: int = 1,
    role: str | None = None,
) -> Quote:
    price = list_price(service, currency, participants=participants, role=role)
    total = max(price.amount - discount, 0)
    if total == 0:
        payment_type = "full"  # nothing to split: the booking is free
    due_now = total if payment_type == "full" else deposit_amount(total, service.deposit_percent)
    return Quote(
        payment_type=payment_type,
        list_price=price.amount,
        discount=price.amount - total,
        total=total,
        amount_due_now=due_now,
        balance_due=total - due_now,
        currency=price.currency,
        deposit_percent=100 if payment_type == "full" else service.deposit_percent,
    )
