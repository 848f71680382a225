"""The catalog (server-owned prices): the shipped file loads, and a bad catalog fails at load, not at payment."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from booking.domain.catalog import DEFAULT_CATALOG, STRIPE_MINIMUM_CHARGE, Catalog, get_catalog
from booking.domain.pricing import quote
from booking.errors import InvalidRequest, UnknownService


def valid_catalog() -> dict[str, Any]:
    return {
        "business": {"name": "Test Studio", "time_zone": "America/Los_Angeles"},
        "services": [
            {
                "id": "facial",
                "name": "Facial",
                "cal_event_type_id": 11,
                "duration_minutes": 60,
                "price": {"amount": 16500, "currency": "usd"},
            },
            {
                "id": "brows",
                "name": "Brows",
                "cal_event_type_id": 12,
                "duration_minutes": 45,
                "price": {"amount": 8999, "currency": "usd"},
                "provider_account": "acct_1Provider",
            },
        ],
    }


def test_valid_catalog_fixture_loads() -> None:
    # Guards the tests below: each one breaks exactly one thing of a catalog that is otherwise valid
    catalog = Catalog.model_validate(valid_catalog())
    assert [service.id for service in catalog.services] == ["facial", "brows"]
    assert catalog.service("facial").deposit_percent == 50  # the default


def test_shipped_catalog_loads_with_the_seed_service() -> None:
    # Given the catalog shipped in the layer
    catalog = Catalog.model_validate(json.loads(DEFAULT_CATALOG.read_text(encoding="utf-8")))
    # Then the seed's example is there: 60 minutes, 165.00 USD, 50% deposit
    facial = catalog.service("signature-facial")
    assert facial.duration_minutes == 60
    assert (facial.price.amount, facial.price.currency) == (16500, "usd")
    assert facial.deposit_percent == 50
    assert facial.minimum_notice_minutes == 720
    assert catalog.business.time_zone == "America/Los_Angeles"


def test_get_catalog_returns_the_shipped_catalog() -> None:
    # Given no CATALOG_PATH / When the handlers read the catalog / Then they get the shipped one
    assert {service.id for service in get_catalog().services} == {
        "signature-facial",
        "brow-lamination",
        "skin-consultation",
        "intro-call",
        "skin-coaching",
        "ceramics-workshop",
    }
    assert [package.id for package in get_catalog().packages] == ["coaching-3"]


def test_duplicate_service_ids_are_rejected() -> None:
    # Given two services with the same id
    data = valid_catalog()
    data["services"][1]["id"] = "facial"
    # When loaded / Then the catalog is invalid
    with pytest.raises(ValidationError, match="unique"):
        Catalog.model_validate(data)


def test_unknown_business_time_zone_is_rejected() -> None:
    data = valid_catalog()
    data["business"]["time_zone"] = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError, match="time_zone"):
        Catalog.model_validate(data)


def test_deposit_below_stripes_minimum_charge_is_rejected() -> None:
    # Given a 0.80 USD service at 50%: the 40 cent deposit is below Stripe's 50 cent minimum
    data = valid_catalog()
    data["services"][0]["price"]["amount"] = 80
    assert STRIPE_MINIMUM_CHARGE["usd"] == 50
    # When loaded / Then it fails at load, naming the service
    with pytest.raises(ValidationError, match="facial: deposit of 40 is below Stripe's minimum 50"):
        Catalog.model_validate(data)


def test_deposit_at_exactly_stripes_minimum_is_accepted() -> None:
    # Given 1.00 USD at 50%: the deposit is exactly 50 cents
    data = valid_catalog()
    data["services"][0]["price"]["amount"] = 100
    # Then it is chargeable
    assert Catalog.model_validate(data).service("facial").price.amount == 100


@pytest.mark.parametrize("account", ["acct-123", "stripe_acct_1", "acct_", "ACCT_123", "acct_12 3"])
def test_malformed_provider_account_is_rejected(account: str) -> None:
    data = valid_catalog()
    data["services"][1]["provider_account"] = account
    with pytest.raises(ValidationError, match="provider_account"):
        Catalog.model_validate(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("deposit_percent", 0), ("deposit_percent", 101), ("duration_minutes", 0), ("cal_event_type_id", 0)],
)
def test_out_of_range_service_numbers_are_rejected(field: str, value: int) -> None:
    data = copy.deepcopy(valid_catalog())
    data["services"][0][field] = value
    with pytest.raises(ValidationError, match=field):
        Catalog.model_validate(data)


def test_negative_price_is_rejected() -> None:
    data = valid_catalog()
    data["services"][0]["price"]["amount"] = -100
    with pytest.raises(ValidationError, match="amount"):
        Catalog.model_validate(data)


def test_a_free_service_is_allowed_and_quotes_nothing_due() -> None:
    data = valid_catalog()
    data["services"][0]["price"]["amount"] = 0
    service = Catalog.model_validate(data).services[0]
    assert service.is_free
    assert quote(service, "deposit").model_dump(include={"payment_type", "total", "amount_due_now"}) == {
        "payment_type": "full",
        "total": 0,
        "amount_due_now": 0,
    }


@pytest.mark.parametrize("amount", [1, 49])
def test_a_paid_price_below_stripes_minimum_is_rejected(amount: int) -> None:
    data = valid_catalog()
    data["services"][0]["price"]["amount"] = amount
    with pytest.raises(ValidationError, match="minimum"):
        Catalog.model_validate(data)


def test_a_second_currency_is_priced_and_checked_on_its_own() -> None:
    data = valid_catalog()
    data["services"][0]["prices"] = [{"amount": 27000, "currency": "cad"}]
    service = Catalog.model_validate(data).services[0]
    assert quote(service, "deposit", "CAD").model_dump(include={"currency", "total"}) == {
        "currency": "cad",
        "total": 27000,
    }
    with pytest.raises(InvalidRequest) as refused:
        service.price_in("eur")
    assert set(refused.value.fields) == {"currency"}
    data["services"][0]["prices"] = [{"amount": 40, "currency": "cad"}]
    with pytest.raises(ValidationError, match="minimum"):
        Catalog.model_validate(data)
    data["services"][0]["prices"] = [{"amount": 0, "currency": "cad"}]
    with pytest.raises(ValidationError, match="free in every currency"):
        Catalog.model_validate(data)


def test_a_package_must_name_known_services_and_a_chargeable_price() -> None:
    data = valid_catalog()
    first = data["services"][0]["id"]
    data["packages"] = [
        {"id": "three", "name": "3", "sessions": 3, "price": {"amount": 30000, "currency": "usd"}, "services": [first]}
    ]
    assert Catalog.model_validate(data).package("three").sessions == 3
    data["packages"][0]["services"] = ["nope"]
    with pytest.raises(ValidationError, match="unknown services"):
        Catalog.model_validate(data)
    data["packages"][0]["services"] = [first]
    data["packages"][0]["price"]["amount"] = 10
    with pytest.raises(ValidationError, match="minimum"):
        Catalog.model_validate(data)


def test_catalog_without_services_is_rejected() -> None:
    data = valid_catalog()
    data["services"] = []
    with pytest.raises(ValidationError, match="services"):
        Catalog.model_validate(data)


def test_unknown_service_raises_unknown_service_naming_service_id() -> None:
    # Given a valid catalog / When a service it does not have is asked for
    catalog = Catalog.model_validate(valid_catalog())
    with pytest.raises(UnknownService) as raised:
        catalog.service("massage")
    # Then the error is a 422 naming the field
    assert raised.value.status == 422
    assert raised.value.code == "unknown_service"
    assert set(raised.value.fields) == {"service_id"}
