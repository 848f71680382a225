"""GET /services and GET /availability through the catalog handler (API Gateway v2 events)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from local.cal_double import CalDouble
from tests.integration.helpers import (
    BUSINESS_TZ,
    CONSULT,
    FACIAL,
    TUESDAY,
    instant,
    iso,
    local,
    next_weekday,
    product_now,
    travel_to,
    travel_to_morning_before,
)
from tests.support import ApiClient, Clock


def slots_of(body: dict, day: date) -> list[dict]:
    return next(entry["slots"] for entry in body["days"] if entry["date"] == day.isoformat())


def test_services_lists_the_catalog_with_server_owned_prices(api: ApiClient) -> None:
    # When the site asks for the services
    response = api.get("/services")
    # Then it gets each catalog service with its price in minor units and the deposit percent
    assert response.status == 200
    by_id = {service["id"]: service for service in response.body["services"]}
    assert set(by_id) == {
        "signature-facial",
        "brow-lamination",
        "skin-consultation",
        "intro-call",
        "skin-coaching",
        "ceramics-workshop",
    }
    assert by_id["signature-facial"] == {
        "id": "signature-facial",
        "name": "Signature Facial (60 min)",
        "duration_minutes": 60,
        "price": {"amount": 16500, "currency": "usd"},
        "deposit": {"amount": 8250, "currency": "usd"},
        "deposit_percent": 50,
        "payment_types": ["deposit", "full"],
        "capacity": 1,
        "prices": [{"amount": 16500, "currency": "usd"}],
        "deposits": [{"amount": 8250, "currency": "usd"}],
        "free": False,
        "requires_phone": False,
        "max_reschedules": None,
        "role_prices": [],
        "party_limit": 1,
        "group_rates": [],
        "waitlist": False,
        "recurrence": None,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
    }
    # seed 003's options: a free call, and a call in USD or CAD that needs a phone and caps reschedules
    assert (by_id["intro-call"]["free"], by_id["intro-call"]["payment_types"]) == (True, ["full"])
    coaching = by_id["skin-coaching"]
    assert coaching["prices"] == [{"amount": 20000, "currency": "usd"}, {"amount": 27000, "currency": "cad"}]
    assert coaching["deposits"] == [{"amount": 10000, "currency": "usd"}, {"amount": 13500, "currency": "cad"}]
    assert (coaching["requires_phone"], coaching["max_reschedules"]) == (True, 2)


def test_availability_has_one_entry_per_requested_day_with_start_end_slots(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 06:00 at the business
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    # When the site asks for 5 days of the facial from Wednesday
    wednesday = tuesday + timedelta(days=1)
    response = api.get("/availability", service_id=FACIAL, start=wednesday.isoformat(), days=5)
    # Then the answer has exactly 5 consecutive days and each slot is a 60-minute {start, end}
    assert response.status == 200, response.body
    assert set(response.body) == {"service_id", "time_zone", "days"}
    assert response.body["service_id"] == FACIAL
    assert response.body["time_zone"] == "America/Los_Angeles"
    assert [entry["date"] for entry in response.body["days"]] == [
        (wednesday + timedelta(days=n)).isoformat() for n in range(5)
    ]
    wednesday_slots = slots_of(response.body, wednesday)
    assert [instant(slot["start"]) for slot in wednesday_slots] == [
        instant(iso(local(wednesday, hour))) for hour in range(9, 17)
    ]
    for entry in response.body["days"]:
        for slot in entry["slots"]:
            assert set(slot) == {"start", "end", "seats_left", "waitlist"}
            assert slot["seats_left"] == 1  # a one-to-one service: its one seat is free
            assert instant(slot["end"]) - instant(slot["start"]) == timedelta(minutes=60)
    # Saturday and Sunday are closed in the calendar
    assert slots_of(response.body, wednesday + timedelta(days=3)) == []
    assert slots_of(response.body, wednesday + timedelta(days=4)) == []


def test_days_parameter_sets_the_number_of_day_entries(api: ApiClient) -> None:
    # When the site asks for one day, then for 10
    one = api.get("/availability", service_id=FACIAL, days=1)
    ten = api.get("/availability", service_id=FACIAL, days=10)
    # Then it gets exactly that many entries
    assert one.status == 200 and ten.status == 200
    assert len(one.body["days"]) == 1
    assert len(ten.body["days"]) == 10


def test_start_moves_the_week(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 06:00
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    # When the site shows this week and then the next one
    this_week = api.get("/availability", service_id=FACIAL, start=(tuesday + timedelta(days=1)).isoformat(), days=7)
    next_start = tuesday + timedelta(days=8)
    next_week = api.get("/availability", service_id=FACIAL, start=next_start.isoformat(), days=7)
    # Then the second answer starts where the first ended and lists that week's slots
    assert this_week.status == 200 and next_week.status == 200
    assert next_week.body["days"][0]["date"] == next_start.isoformat()
    assert this_week.body["days"][-1]["date"] == (next_start - timedelta(days=1)).isoformat()
    next_wednesday_slots = slots_of(next_week.body, next_start)
    assert next_wednesday_slots[0]["start"] == iso(local(next_start, 9))
    assert len(next_wednesday_slots) == 8


def test_time_zone_changes_offsets_and_dates_but_not_the_instants(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 06:00 at the business (Los Angeles)
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    wednesday = tuesday + timedelta(days=1)
    # When the same day is asked in the business zone and in New York
    la = api.get("/availability", service_id=FACIAL, start=wednesday.isoformat(), days=1)
    ny = api.get("/availability", service_id=FACIAL, start=wednesday.isoformat(), days=1, time_zone="America/New_York")
    # Then New York sees the same instants, written with New York's offset (9:00 LA is 12:00 NY)
    assert la.status == 200 and ny.status == 200
    assert ny.body["time_zone"] == "America/New_York"
    la_slots, ny_slots = la.body["days"][0]["slots"], ny.body["days"][0]["slots"]
    assert [instant(s["start"]) for s in ny_slots] == [instant(s["start"]) for s in la_slots]
    ny_offset = local(wednesday, 9).astimezone(ZoneInfo("America/New_York")).isoformat()[-6:]
    assert all(slot["start"].endswith(ny_offset) for slot in ny_slots)
    assert ny_slots[0]["start"].startswith(f"{wednesday.isoformat()}T12:00:00")


def test_slots_inside_the_minimum_notice_are_not_offered(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 06:00 and the facial needs 720 minutes (12 h) of notice
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    # When the site asks for Tuesday and Wednesday
    response = api.get("/availability", service_id=FACIAL, start=tuesday.isoformat(), days=2)
    # Then Tuesday's 9:00-17:00 slots (all before 18:00) are absent, Wednesday's are all there
    assert response.status == 200, response.body
    assert slots_of(response.body, tuesday) == []
    assert len(slots_of(response.body, tuesday + timedelta(days=1))) == 8


def test_minimum_notice_cuts_the_day_at_now_plus_notice(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 10:10 and the consultation (30 min slots) needs 60 minutes of notice
    tuesday = next_weekday(TUESDAY)
    travel_to(clock, local(tuesday, 10, 10))
    # When the site asks for Tuesday
    response = api.get("/availability", service_id=CONSULT, start=tuesday.isoformat(), days=1)
    # Then 10:30 and 11:00 (in the future but inside the notice) are absent; the day starts at 11:30
    starts = [instant(slot["start"]) for slot in slots_of(response.body, tuesday)]
    assert starts[0] == instant(iso(local(tuesday, 11, 30)))
    assert instant(iso(local(tuesday, 11))) not in starts
    assert len(starts) == 11  # 11:30 ... 16:30


def test_live_hold_hides_the_slot_and_expired_hold_brings_it_back(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 06:00 and Wednesday 10:00 is free
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    wednesday = tuesday + timedelta(days=1)
    slot = iso(local(wednesday, 10))

    def offered() -> list:
        response = api.get("/availability", service_id=FACIAL, start=wednesday.isoformat(), days=1)
        assert response.status == 200, response.body
        return [instant(s["start"]) for s in response.body["days"][0]["slots"]]

    assert instant(slot) in offered()
    # When a client holds it
    assert api.create_intent(start=slot).status == 201
    # Then it is not offered while the hold is live
    assert instant(slot) not in offered()
    assert len(offered()) == 7
    # And when the 15-minute hold lapses unpaid, it is offered again
    clock.advance(minutes=16)
    assert instant(slot) in offered()


def test_unknown_service_is_a_422_naming_service_id(api: ApiClient) -> None:
    response = api.get("/availability", service_id="massage")
    assert response.status == 422
    assert response.error_code == "unknown_service"
    assert response.error_fields == {"service_id"}


def test_zero_days_is_a_422_naming_days(api: ApiClient) -> None:
    response = api.get("/availability", service_id=FACIAL, days=0)
    assert response.status == 422
    assert response.error_code == "validation_error"
    assert response.error_fields == {"days"}


def test_unknown_time_zone_is_a_422_naming_time_zone(api: ApiClient) -> None:
    response = api.get("/availability", service_id=FACIAL, time_zone="Mars/Olympus_Mons")
    assert response.status == 422
    assert response.error_code == "validation_error"
    assert response.error_fields == {"time_zone"}


def test_missing_service_id_is_a_422_naming_it(api: ApiClient) -> None:
    response = api.get("/availability")
    assert response.status == 422
    assert response.error_fields == {"service_id"}


def test_calendar_down_is_a_503_calendar_unavailable(api: ApiClient, cal_double: CalDouble) -> None:
    # Given Cal.com answers 503 to everything
    cal_double.set_mode("down")
    # When the site asks for availability
    response = api.get("/availability", service_id=FACIAL)
    # Then it gets a JSON 503 it can retry, not a 500
    assert response.status == 503
    assert response.error_code == "calendar_unavailable"
    assert response.body["error"]["message"]
    assert response.headers.get("retry-after") == "5"


def test_capacity_two_slot_stays_offered_until_both_seats_are_held(api: ApiClient, clock: Clock) -> None:
    # Given it is Tuesday 06:00 and Wednesday 10:00 of the consultation (2 clients per slot) is free
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    wednesday = tuesday + timedelta(days=1)
    slot = iso(local(wednesday, 10))

    def offered() -> bool:
        response = api.get("/availability", service_id=CONSULT, start=wednesday.isoformat(), days=1)
        free = [s for s in response.body["days"][0]["slots"] if s["seats_left"] > 0]  # full ones offer the waitlist
        return instant(slot) in [instant(s["start"]) for s in free]

    # When one client holds it / Then it is still offered
    assert api.create_intent(service_id=CONSULT, start=slot).status == 201
    assert offered()
    # When a second client holds it / Then it is gone
    other = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "UTC"}
    assert api.create_intent(service_id=CONSULT, start=slot, attendee=other).status == 201
    assert not offered()


def test_paid_booking_keeps_its_slot_hidden_after_the_hold_time(api: ApiClient, clock: Clock) -> None:
    # Given a booking paid and recorded (PAID, not yet in Cal.com)
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    wednesday = tuesday + timedelta(days=1)
    slot = iso(local(wednesday, 10))
    intent = api.paid_booking(start=slot)
    assert api.create_token(intent).status == 201
    # When the hold time passes
    clock.advance(minutes=16)
    # Then the slot is still not offered: the payment keeps it for good
    response = api.get("/availability", service_id=FACIAL, start=wednesday.isoformat(), days=1)
    starts = [instant(s["start"]) for s in response.body["days"][0]["slots"]]
    assert instant(slot) not in starts
    assert len(starts) == 7


def test_default_start_is_today_in_the_requested_time_zone(api: ApiClient) -> None:
    # When the site asks without a start, in the business zone and in zones already in tomorrow
    for zone in ("America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"):
        response = api.get("/availability", service_id=FACIAL, days=1, time_zone=zone)
        # Then the first day is today where the client is
        assert response.status == 200
        assert response.body["days"][0]["date"] == product_now().astimezone(ZoneInfo(zone)).date().isoformat()


def next_dst_change(month: int) -> date:
    """The next day (at least 3 days ahead) in `month` on which the business's UTC offset changes."""
    day = product_now().astimezone(BUSINESS_TZ).date() + timedelta(days=3)
    for _ in range(800):
        if day.month == month and local(day, 12).utcoffset() != local(day - timedelta(days=1), 12).utcoffset():
            return day
        day += timedelta(days=1)
    raise AssertionError("no DST change found")


@pytest.mark.parametrize("month", [3, 11], ids=["spring-forward", "fall-back"])
def test_availability_across_a_dst_change_keeps_local_hours_and_day_count(
    api: ApiClient, clock: Clock, month: int
) -> None:
    # Given it is 06:00 on the Friday before the clocks change (the change happens on a Sunday)
    change = next_dst_change(month)
    friday = change - timedelta(days=2)
    travel_to_morning_before(clock, friday)
    # When the site asks for Saturday, Sunday (23 or 25 hours) and Monday
    response = api.get("/availability", service_id=FACIAL, start=(friday + timedelta(days=1)).isoformat(), days=3)
    # Then exactly three days, and Monday opens at 9:00 local with the new offset
    assert response.status == 200, response.body
    assert [entry["date"] for entry in response.body["days"]] == [
        (friday + timedelta(days=n)).isoformat() for n in (1, 2, 3)
    ]
    monday = friday + timedelta(days=3)
    starts = [slot["start"] for slot in slots_of(response.body, monday)]
    assert starts == [iso(local(monday, hour)) for hour in range(9, 17)]
    assert local(monday, 9).utcoffset() != local(friday, 9).utcoffset()


@pytest.mark.parametrize("offset_days", [-8, 366])
def test_a_week_outside_the_booking_window_is_a_422_naming_start(api: ApiClient, offset_days: int) -> None:
    start = product_now().astimezone(BUSINESS_TZ).date() + timedelta(days=offset_days)
    response = api.get("/availability", service_id=FACIAL, start=start.isoformat())
    assert response.status == 422
    assert response.error_fields == {"start"}
