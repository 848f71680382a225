"""GET /promo/{code}: may this code be used for this service, and what would it cost (public, rate-limited).

No enumeration: every code that cannot be used (unknown, inactive, outside its dates, for another service, used
up) gets the same answer, equal but for the code itself, after the same DynamoDB work: one conditional UpdateItem
on the caller's rate counter, one consistent GetItem of the code's item. Nothing in the answer or in the work done
tells an unknown code from an exhausted one.

The answer is advice for the page; the use itself is taken with the hold (create-intent), whose transaction
decides (409 promo_unavailable).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field

from booking.api_models import PriceOut
from booking.clock import now as clock_now
from booking.dal import promos as store
from booking.dal import rate_limits
from booking.digests import digest
from booking.domain.catalog import get_catalog
from booking.domain.pricing import discount_of, format_amount
from booking.errors import RateLimited
from booking.observability import metrics
from booking.settings import get_settings

CODE_PATTERN = r"^[A-Za-z0-9_-]{3,32}$"
PromoCodeText = Annotated[
    str,
    Field(pattern=CODE_PATTERN, description="3-32 letters, digits, _ or -; case-insensitive", examples=["WIMD25"]),
]
RATE_SCOPE = "promo-check"
RATE_WINDOW = timedelta(minutes=1)
NOT_USABLE = "This code cannot be used for this booking."


class PromoCheck(BaseModel):
    code: str = Field(description="The code as checked (upper-case)")
    valid: bool
    uses_remaining: int = Field(description="0 when the code cannot be used")
    price: PriceOut = Field(description="The service's price in the currency asked for")
    discounted_price: PriceOut | None = Field(
        description="What the booking would cost with the code; null if not valid"
    )
    message: str


def normalise(code: str) -> str:
    """Codes are case-insensitive and stored upper-case."""
    return code.strip().upper()


def describe(kind: str, value: int, currency: str) -> str:
    """How the page names a code's discount."""
    if kind == "free":
        return "free session"
    if kind == "percent":
        return f"{value}% off"
    return f"{format_amount(value, currency)} off"


def check(code: str, service_id: str, currency: str | None, source_ip: str) -> PromoCheck:
    """The code's answer for one service and currency. Raises RateLimited past the caller's requests a minute."""
    now = clock_now()
    # Counted before anything else, so every request costs the caller one, whatever it asks; stored hashed (an IP
    # address is personal data and the counter needs only to tell callers apart).
    wait = rate_limits.count_request(
        RATE_SCOPE, digest(source_ip), limit=get_settings().promo_checks_per_minute, window=RATE_WINDOW, now=now
    )
    if wait is not None:
        metrics.add_metric(name="PromoCheckRateLimited", unit="Count", value=1)
        raise RateLimited(wait)
    service = get_catalog().service(service_id)
    price = service.price_in(currency)
    code = normalise(code)
    item = store.get(code)  # the same read for every code, known or not
    listed = PriceOut(amount=price.amount, currency=price.currency)
    if item is None or not store.is_usable(item, service.id, now):
        return PromoCheck(
            code=code, valid=False, uses_remaining=0, price=listed, discounted_price=None, message=NOT_USABLE
        )
    discount = discount_of(item.kind, int(item.value), price.amount)  # type: ignore[arg-type]  # a PromoKind
    return PromoCheck(
        code=code,
        valid=True,
        uses_remaining=int(item.max_uses - item.uses_taken),
        price=listed,
        discounted_price=PriceOut(amount=price.amount - discount, currency=price.currency),
        message=f"{code}: {describe(item.kind, int(item.value), price.currency)}.",
    )
