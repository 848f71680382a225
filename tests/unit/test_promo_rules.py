"""Promo codes and free services, the rules alone: what a code takes off, when it may be used, what the owner may
define, the rate limit's windows, and a catalog that allows free services but no paid price Stripe cannot charge."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from booking.dal.items import PromoItem
from booking.dal.promos import is_usable
from booking.dal.rate_limits import window_start
from booking.domain.catalog import Catalog, Service
from booking.domain.pricing import discount_of, quote
from booking.owner.promos import CreatePromoRequest

NOW = datetime(2026, 12, 1, 17, 0, 30, tzinfo=UTC)


def service(amount: int, **extra: Any) -> Service:
    return Service.model_validate(
        {
            "id": "facial",
            "name": "Facial",
            "cal_event_type_id": 11,
            "duration_minutes": 60,
            "price": {"amount": amount, "currency": "usd"},
        }
        | extra
    )


# --- what a code takes off ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "price", "discount"),
    [
        ("percent", 25, 16500, 4125),
        ("percent", 50, 8999, 4500),  # rounded half up, like the deposit
        ("percent", 100, 16500, 16500),
        ("amount", 2000, 16500, 2000),
        ("amount", 20000, 16500, 16500),  # never below 0
        ("free", 0, 16500, 16500),
        ("free", 0, 0, 0),
    ],
)
def test_discount_of_a_code(kind: Any, value: int, price: int, discount: int) -> None:
    assert discount_of(kind, value, price) == discount


def test_a_discount_comes_off_the_price_before_the_deposit() -> None:
    priced = quote(service(16500), "deposit", discount=4125)
    assert (priced.list_price, priced.discount, priced.total) == (16500, 4125, 12375)
    assert (priced.amount_due_now, priced.balance_due) == (6188, 6187)


def test_a_free_code_leaves_nothing_to_pay_at_all() -> None:
    priced = quote(service(16500), "deposit", discount=16500)
    assert (priced.total, priced.amount_due_now, priced.balance_due, priced.payment_type) == (0, 0, 0, "full")


# --- when a code may be used --------------------------------------------------------------------------------------


def promo(**fields: Any) -> PromoItem:
    defaults: dict[str, Any] = {
        "code": "SPRING",
        "kind": "percent",
        "value": 10,
        "max_uses": 5,
        "uses_taken": 0,
        "active": True,
        "created_at": NOW,
        "created_by": "owner:ana@example.com",
    }
    return PromoItem("PROMO", "CODE#SPRING", **(defaults | fields))


@pytest.mark.parametrize(
    ("fields", "usable"),
    [
        ({}, True),
        ({"uses_taken": 4}, True),
        ({"uses_taken": 5}, False),
        ({"active": False}, False),
        ({"valid_from": NOW + timedelta(seconds=1)}, False),
        ({"valid_from": NOW}, True),
        ({"valid_until": NOW}, False),  # the end is excluded
        ({"valid_until": NOW + timedelta(seconds=1)}, True),
        ({"services": {"facial"}}, True),
        ({"services": {"brows"}}, False),
    ],
)
def test_a_code_is_usable_by_the_same_rules_as_the_holds_condition(fields: dict[str, Any], usable: bool) -> None:
    assert is_usable(promo(**fields), "facial", NOW) is usable


# --- what the owner may define ------------------------------------------------------------------------------------


def request(**fields: Any) -> CreatePromoRequest:
    return CreatePromoRequest.model_validate(
        {"code": "spring-25", "kind": "percent", "value": 25, "max_uses": 10} | fields
    )


def test_a_code_is_stored_upper_case() -> None:
    assert request().code == "SPRING-25"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value": 0}, "value"),
        ({"value": 101}, "value"),
        ({"value": None}, "value"),
        ({"kind": "amount", "value": 0}, "value"),
        ({"kind": "free", "value": 5}, "value"),
        ({"max_uses": 0}, "max_uses"),
        ({"code": "ab"}, "code"),
        ({"code": "x" * 33}, "code"),
        ({"code": "no spaces"}, "code"),
        ({"valid_from": "2027-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z"}, "valid_until"),
        ({"valid_until": "2027-01-01T00:00:00"}, "valid_until"),  # no offset: ambiguous
        ({"services": []}, "services"),
        ({"services": ["signature-facial", "nope"]}, "services"),
    ],
)
def test_an_invalid_definition_names_its_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(**fields)
    assert {str(error["loc"][0]) for error in raised.value.errors()} == {field}


def test_valid_definitions_of_each_kind() -> None:
    assert request(kind="free", value=None).value is None
    assert request(kind="amount", value=1).value == 1
    assert request(value=100, services=["signature-facial", "signature-facial"]).services == ["signature-facial"]


# --- rate-limit windows -------------------------------------------------------------------------------------------


def test_a_window_starts_on_a_multiple_of_its_length() -> None:
    assert window_start(NOW, timedelta(minutes=1)) == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert window_start(NOW + timedelta(seconds=29.9), timedelta(minutes=1)) == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    assert window_start(NOW + timedelta(seconds=30), timedelta(minutes=1)) == datetime(2026, 12, 1, 17, 1, tzinfo=UTC)


# --- free services in the catalog ---------------------------------------------------------------------------------


def catalog(*services: dict[str, Any]) -> dict[str, Any]:
    base = {
        "id": "intro",
        "name": "Intro",
        "cal_event_type_id": 21,
        "duration_minutes": 15,
        "price": {"amount": 0, "currency": "usd"},
    }
    return {
        "business": {"name": "Test Studio", "time_zone": "America/Los_Angeles"},
        "services": [copy.deepcopy(base) | extra for extra in services],
    }


def test_a_free_service_loads_and_has_nothing_to_pay() -> None:
    loaded = Catalog.model_validate(catalog({}))
    intro = loaded.service("intro")
    assert intro.is_free
    assert quote(intro, "deposit").amount_due_now == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"price": {"amount": 30, "currency": "usd"}},  # a paid price under Stripe's 0.50 USD
        {"price": {"amount": 90, "currency": "usd"}, "deposit_percent": 50},  # its deposit (45) is under it
        {"price": {"amount": 0, "currency": "usd"}, "prices": [{"amount": 2000, "currency": "cad"}]},  # free in one
        {"price": {"amount": -1, "currency": "usd"}},
    ],
)
def test_the_catalog_refuses_a_paid_price_stripe_cannot_charge(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Catalog.model_validate(catalog(extra))


def test_the_shipped_catalog_has_the_free_intro_call() -> None:
    from booking.domain.catalog import get_catalog

    intro = get_catalog().service("intro-call")
    assert intro.is_free and intro.price.amount == 0
