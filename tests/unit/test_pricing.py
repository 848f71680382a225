"""Pricing (DESIGN.md §3 "the server owns prices"): deposit rounded half up, balance = total - deposit exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.catalog import Money, Service
from booking.domain.pricing import deposit_amount, format_amount, quote


def service(amount: int, deposit_percent: int = 50, currency: str = "usd") -> Service:
    return Service(
        id="test-service",
        name="Test service",
        cal_event_type_id=1,
        duration_minutes=60,
        price=Money(amount=amount, currency=currency),
        deposit_percent=deposit_percent,
    )


def test_seed_price_at_50_percent_is_8250_deposit_and_8250_balance() -> None:
    # Given the seed's 165.00 USD service with a 50% deposit
    # When it is quoted as a deposit
    price = quote(service(16500), "deposit")
    # Then the client pays 8250 now and owes 8250 later
    assert (price.total, price.amount_due_now, price.balance_due, price.currency) == (16500, 8250, 8250, "usd")
    assert price.payment_type == "deposit"
    assert price.deposit_percent == 50


def test_odd_amount_deposit_rounds_half_up_and_balance_takes_the_rest() -> None:
    # Given 89.99 at 50% (the exact deposit is 4499.5 cents)
    # When it is quoted
    price = quote(service(8999), "deposit")
    # Then the half cent rounds up into the deposit and the balance is the exact remainder
    assert (price.amount_due_now, price.balance_due) == (4500, 4499)


@pytest.mark.parametrize(
    ("total", "percent", "expected"),
    [
        (1, 50, 1),  # 0.5 rounds up
        (1, 49, 0),  # 0.49 rounds down
        (3, 50, 2),  # 1.5 rounds up
        (16500, 50, 8250),
        (8999, 50, 4500),
        (999, 33, 330),  # 329.67
        (1000, 25, 250),
        (5000, 100, 5000),
    ],
)
def test_deposit_amount_rounds_half_up_to_a_whole_minor_unit(total: int, percent: int, expected: int) -> None:
    # Given a total and a deposit percent / When the deposit is computed / Then it is rounded half up
    assert deposit_amount(total, percent) == expected


def test_one_cent_at_50_percent_is_one_cent_now_and_nothing_later() -> None:
    # Given the smallest price / When half of it is due now / Then the rounding gives 1 now and 0 later
    assert deposit_amount(1, 50) == 1
    price = quote(service(1), "deposit")
    assert (price.amount_due_now, price.balance_due) == (1, 0)


@given(total=st.integers(min_value=1, max_value=10**9), percent=st.integers(min_value=1, max_value=100))
def test_balance_is_always_total_minus_deposit_and_deposit_is_exact_half_up(total: int, percent: int) -> None:
    # Given any price and deposit percent
    # When it is quoted as a deposit
    price = quote(service(total, percent), "deposit")
    # Then nothing is lost or created by rounding, and the deposit is the exact share rounded half up
    exact = Fraction(total * percent, 100)
    assert price.amount_due_now + price.balance_due == total
    assert 0 <= price.balance_due <= total
    assert abs(Fraction(price.amount_due_now) - exact) <= Fraction(1, 2)
    if exact - int(exact) == Fraction(1, 2):
        assert price.amount_due_now == int(exact) + 1  # ties go up
    assert isinstance(price.amount_due_now, int)
    assert isinstance(price.balance_due, int)


@given(total=st.integers(min_value=1, max_value=10**9), percent=st.integers(min_value=1, max_value=100))
def test_full_payment_is_the_whole_price_now_and_no_balance(total: int, percent: int) -> None:
    # Given any price and deposit percent
    # When the client pays in full
    price = quote(service(total, percent), "full")
    # Then the whole price is due now, nothing later, whatever the deposit percent
    assert (price.amount_due_now, price.balance_due, price.total) == (total, 0, total)
    assert price.payment_type == "full"
    assert price.deposit_percent == 100


def test_full_payment_of_the_seed_service_is_16500_now() -> None:
    # Given the seed's 165.00 USD service / When paid in full / Then 16500 now and 0 balance
    price = quote(service(16500), "full")
    assert (price.amount_due_now, price.balance_due, price.total, price.currency) == (16500, 0, 16500, "usd")


def test_quote_keeps_the_catalog_currency() -> None:
    # Given a EUR price / When quoted / Then the currency is the catalog's, unchanged
    assert quote(service(2000, currency="eur"), "deposit").currency == "eur"


def test_amounts_in_messages_read_as_money_in_their_currency() -> None:
    assert format_amount(2000, "usd") == "20.00 USD"
    assert format_amount(8999, "cad") == "89.99 CAD"
    assert format_amount(5, "eur") == "0.05 EUR"
    assert format_amount(-50, "usd") == "-0.50 USD"
    assert format_amount(500, "jpy") == "500 JPY"  # zero-decimal: Stripe's amount is whole yen
