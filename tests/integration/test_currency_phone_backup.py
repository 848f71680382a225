"""create-intent's seed 003 options: a price in the client's currency, a required phone, a backup time."""

from __future__ import annotations

from datetime import datetime

from local.stripe_double import StripeDouble
from tests.integration.helpers import iso, items_with_prefix, payment_intent_creates
from tests.support import ATTENDEE, ApiClient, booking

COACHING = "skin-coaching"  # 20000 usd / 27000 cad, 50% deposit, requires a phone
WITH_PHONE = {**ATTENDEE, "phone": "+14155550100"}


def two_slots(api: ApiClient, service_id: str = COACHING) -> tuple[str, str]:
    first = api.first_slot(service_id)
    later = [slot["start"] for slot in api.free_slots(service_id) if slot["start"] > first]
    return first, later[0]


def test_a_service_priced_in_cad_is_charged_in_cad(api: ApiClient, stripe_double: StripeDouble) -> None:
    response = api.create_intent(service_id=COACHING, attendee=WITH_PHONE, currency="CAD")
    assert response.status == 201, response.body
    assert response.body | {"currency": "cad", "total": 27000, "amount_due_now": 13500} == response.body
    (created,) = payment_intent_creates(stripe_double)
    assert (created.params["currency"], int(created.params["amount"])) == ("cad", 13500)
    assert booking(response.body["booking_id"]).currency == "cad"


def test_the_default_currency_is_the_services_first(api: ApiClient) -> None:
    response = api.create_intent(service_id=COACHING, attendee=WITH_PHONE)
    assert response.status == 201, response.body
    assert (response.body["currency"], response.body["total"]) == ("usd", 20000)


def test_a_currency_the_service_is_not_sold_in_is_422_naming_currency_and_writes_nothing(api: ApiClient) -> None:
    response = api.create_intent(service_id=COACHING, attendee=WITH_PHONE, currency="eur")
    assert response.status == 422, response.body
    assert response.error_fields == {"currency"}
    assert not items_with_prefix("BOOKING#")


def test_a_service_that_needs_a_phone_refuses_a_booking_without_one(api: ApiClient) -> None:
    response = api.create_intent(service_id=COACHING, attendee=ATTENDEE)
    assert response.status == 422, response.body
    assert response.error_fields == {"attendee.phone"}
    assert not items_with_prefix("BOOKING#")


def test_a_phone_that_is_not_e164_is_422_naming_it(api: ApiClient) -> None:
    response = api.create_intent(service_id=COACHING, attendee={**ATTENDEE, "phone": "415 555 0100"})
    assert response.status == 422, response.body
    assert any("phone" in field for field in response.error_fields)


def test_a_backup_time_is_kept_on_the_booking(api: ApiClient) -> None:
    first, backup = two_slots(api)
    response = api.create_intent(service_id=COACHING, attendee=WITH_PHONE, start=first, backup_start=backup)
    assert response.status == 201, response.body
    assert booking(response.body["booking_id"]).backup_start == datetime.fromisoformat(backup)


def test_a_backup_time_the_calendar_does_not_offer_or_the_same_time_is_422_naming_backup_start(
    api: ApiClient,
) -> None:
    first, _ = two_slots(api)
    off_grid = iso(datetime.fromisoformat(first).replace(minute=7))
    for backup in (off_grid, first):
        response = api.create_intent(service_id=COACHING, attendee=WITH_PHONE, start=first, backup_start=backup)
        assert response.status == 422, response.body
        assert response.error_fields == {"backup_start"}
    assert not items_with_prefix("BOOKING#")


def put_amount_code(code: str, amount: int) -> None:
    from booking.clock import now
    from booking.dal.items import PromoItem

    PromoItem(
        "PROMO", f"CODE#{code}", code=code, kind="amount", value=amount, max_uses=5, created_at=now(), created_by="test"
    ).save()


def test_a_discount_leaving_less_than_stripes_minimum_names_what_to_change(api: ApiClient) -> None:
    first, _ = two_slots(api)
    put_amount_code("LEAVES80", 19920)  # 20000 -> 80: a 40 deposit Stripe cannot charge, the full 80 it can
    put_amount_code("LEAVES40", 19960)  # 20000 -> 40: not even in full
    deposit = api.create_intent(service_id=COACHING, attendee=WITH_PHONE, start=first, promo_code="leaves80")
    assert deposit.status == 422, deposit.body
    assert deposit.error_fields == {"payment_type"}
    nothing = api.create_intent(
        service_id=COACHING, attendee=WITH_PHONE, start=first, promo_code="LEAVES40", payment_type="full"
    )
    assert nothing.status == 422, nothing.body
    assert nothing.error_fields == {"promo_code"}
    full = api.create_intent(
        service_id=COACHING, attendee=WITH_PHONE, start=first, promo_code="LEAVES80", payment_type="full"
    )
    assert full.status == 201, full.body
    assert full.body | {"total": 80, "discount": 19920, "amount_due_now": 80, "promo_code": "LEAVES80"} == full.body
