"""Buffer times (seed 004): the ceramics workshop keeps 30 minutes free after each session, around our own holds
(not in Cal.com until paid and confirmed) as around Cal.com's bookings.

The Cal.com double's weekday schedule is 9:00-17:00, so the two-hour workshop is offered at 9, 11, 13 and 15.
Cal.com keeps before + after buffer between two bookings of an event type: a session at 11:00 hides 9:00 (it would
end at 11:00 with no 30 minutes left) and 13:00 (inside 11:00's 30 minutes after), never 15:00 or 11:00 itself
(a seated session shares its slot)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    TUESDAY,
    cal_booking_posts,
    items_with_prefix,
    live_cal_bookings,
    local,
    next_weekday,
    travel_to_morning_before,
)
from tests.support import ATTENDEE, ApiClient, Clock, booking, pay

WORKSHOP = "ceramics-workshop"
WORKSHOP_EVENT_TYPE = 3815423
FACIAL = "signature-facial"  # no buffers: its neighbours stay offered
OTHER = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Los_Angeles"}


@pytest.fixture
def day(clock: Clock) -> date:
    """A coming Tuesday, the clock at 6:00 that morning."""
    tuesday = next_weekday(TUESDAY)
    travel_to_morning_before(clock, tuesday)
    return tuesday


def offered(api: ApiClient, service_id: str, day: date) -> dict[int, int]:
    """The hours offered that day, with their seats left."""
    response = api.get("/availability", service_id=service_id, start=day.isoformat(), days=1)
    assert response.status == 200, response.body
    return {
        int(slot["start"][11:13]): slot["seats_left"]
        for listed in response.body["days"]
        for slot in listed["slots"]
        if listed["date"] == day.isoformat()
    }


def hold(api: ApiClient, day: date, hour: int, attendee: dict[str, Any] = ATTENDEE, **options: Any) -> Any:
    return api.create_intent(
        service_id=WORKSHOP, start=local(day, hour).isoformat(), attendee=attendee, payment_type="deposit", **options
    )


def test_availability_hides_the_neighbours_of_a_held_session(api: ApiClient, day: date) -> None:
    # Given the workshop's day, all offered
    assert offered(api, WORKSHOP, day) == {9: 12, 11: 12, 13: 12, 15: 12}
    # When a client holds 11:00 (not in Cal.com yet: only our hold knows)
    assert hold(api, day, 11).status == 201
    # Then 9:00 and 13:00 are inside its buffer; 11:00 keeps its other seats and 15:00 is clear
    assert offered(api, WORKSHOP, day) == {11: 11, 15: 12}


def test_create_intent_refuses_a_start_inside_a_held_sessions_buffer(
    api: ApiClient, day: date, stripe_double: StripeDouble
) -> None:
    # Given a hold at 11:00
    first = hold(api, day, 11)
    assert first.status == 201
    seats_before = items_with_prefix("SLOT#")
    # When another client asks for 13:00 (and for 9:00)
    for hour in (13, 9):
        response = hold(api, day, hour, OTHER)
        # Then it is refused naming the start and the reason; nothing is held, no PaymentIntent
        assert response.status == 422, response.body
        assert response.error_code == "slot_not_offered"
        assert response.error_fields == {"start"}
        assert response.body["error"]["reason"] == "buffer_conflict"
    assert items_with_prefix("SLOT#") == seats_before
    assert len([r for r in stripe_double.requests if r.method == "POST" and r.path == "/v1/payment_intents"]) == 1
    # And the same session and one clear of the buffer are still bookable
    assert hold(api, day, 11, OTHER).status == 201
    assert hold(api, day, 15, {**OTHER, "email": "third@example.com"}).status == 201


def test_a_lapsed_hold_keeps_no_buffer(api: ApiClient, day: date, clock: Clock) -> None:
    assert hold(api, day, 11).status == 201
    clock.advance(minutes=16)  # the 15-minute hold lapses unpaid
    assert offered(api, WORKSHOP, day) == {9: 12, 11: 12, 13: 12, 15: 12}
    assert hold(api, day, 13, OTHER).status == 201


def test_a_service_without_buffers_keeps_its_neighbours(api: ApiClient, clock: Clock) -> None:
    # The facial (60 min, 12 h notice) has no buffer: holding 14:00 hides only 14:00
    tuesday = next_weekday(TUESDAY, days_ahead=3)
    travel_to_morning_before(clock, tuesday, hour=0)
    assert {13, 14, 15} <= set(offered(api, FACIAL, tuesday))
    response = api.create_intent(service_id=FACIAL, start=local(tuesday, 14).isoformat(), payment_type="deposit")
    assert response.status == 201, response.body
    after = offered(api, FACIAL, tuesday)
    assert 14 not in after
    assert {13, 15} <= set(after)


def test_cal_coms_own_slots_honour_the_buffer_around_its_bookings(
    api: ApiClient, day: date, cal_double: CalDouble
) -> None:
    # Given someone booked 11:00 directly in Cal.com (no hold of ours)
    cal_double.take_slot(WORKSHOP_EVENT_TYPE, local(day, 11))
    # Then Cal.com itself no longer offers 9:00 or 13:00; 11:00 (seats left) and 15:00 stay
    assert offered(api, WORKSHOP, day) == {11: 12, 15: 12}
    # And create-intent refuses 13:00 as Cal.com does not offer it
    response = hold(api, day, 13)
    assert response.status == 422
    assert response.body["error"]["reason"] == "not_offered"


def test_a_race_inside_the_buffer_is_settled_by_cal_com_at_confirmation(
    api: ApiClient, day: date, cal_double: CalDouble
) -> None:
    # Given a client held and paid 11:00 while another got 13:00 into Cal.com first (no hold of ours saw it)
    intent = hold(api, day, 11)
    assert intent.status == 201
    pay(intent.body["payment_intent_id"])
    cal_double.take_slot(WORKSHOP_EVENT_TYPE, local(day, 13))
    # When the first is confirmed
    token = api.create_token(intent.body)
    assert token.status == 201
    response = api.verify(token.body["token"])
    # Then Cal.com refuses 11:00 (inside 13:00's buffer) and the booking takes the lost-slot path
    assert response.status == 409, response.body
    assert response.error_code == "slot_unavailable"
    assert booking(intent.body["booking_id"]).status == "SLOT_UNAVAILABLE"
    assert len(cal_booking_posts(cal_double)) >= 1  # asked, and refused
    assert len(live_cal_bookings(cal_double)) == 1  # only the outside booking at 13:00
    assert booking(intent.body["booking_id"]).cal_booking_uid is None
