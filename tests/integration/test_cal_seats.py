"""A service with capacity > 1 is a seated Cal.com event type: each client is one seat of the Cal.com booking at
that start (one uid, a seat uid each), found again by the booking_id Cal.com keeps in the seat's metadata."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from local.cal_double import CalDouble
from tests.integration.helpers import CONSULT, CONSULT_EVENT_TYPE, cal_booking_posts, instant, live_cal_bookings
from tests.support import ApiClient, booking


def client(n: int) -> dict[str, str]:
    return {"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "Europe/Paris"}


def seats_of(cal_booking: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {attendee["seatUid"]: attendee for attendee in cal_booking["attendees"]}


def offered(api: ApiClient, slot: str) -> bool:
    return instant(slot) in [instant(s["start"]) for s in api.free_slots(CONSULT)]


def test_two_clients_are_seats_of_one_cal_booking_and_a_third_is_refused(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a slot of the skin consultation (2 clients per slot)
    slot = api.first_slot(CONSULT)

    # When two clients book it, pay and verify through the site
    first = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=client(1))
    assert offered(api, slot)  # one seat is still free, here and in Cal.com
    second = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=client(2))

    # Then both are confirmed as seats of one Cal.com booking, each with its own seat uid
    ours = [booking(first["booking_id"]), booking(second["booking_id"])]
    assert [record.status for record in ours] == ["CONFIRMED", "CONFIRMED"]
    [cal] = live_cal_bookings(cal_double)
    assert cal["eventTypeId"] == CONSULT_EVENT_TYPE and instant(cal["start"]) == instant(slot)
    assert {first["cal_booking_uid"], second["cal_booking_uid"], *(r.cal_booking_uid for r in ours)} == {cal["uid"]}
    seat_uids = [record.cal_seat_uid for record in ours]
    assert None not in seat_uids and len(set(seat_uids)) == 2
    seats = seats_of(cal)
    assert set(seats) == set(seat_uids)
    for record in ours:
        seat = seats[record.cal_seat_uid]
        assert seat["metadata"]["booking_id"] == record.booking_id
        assert seat["email"] == record.attendee.email
    assert len(cal_booking_posts(cal_double)) == 2

    # And a third client is refused: the slot is no longer offered and cannot be held
    assert not offered(api, slot)
    third = api.create_intent(service_id=CONSULT, start=slot, attendee=client(3))
    assert (third.status, third.error_code) == (422, "slot_not_offered")
    assert len(seats_of(cal_double.booking(cal["uid"]))) == 2


def test_a_seat_whose_create_answer_was_lost_is_found_by_its_booking_id(api: ApiClient, cal_double: CalDouble) -> None:
    # Given one client confirmed in a consultation slot and a second one paid, with her token
    slot = api.first_slot(CONSULT)
    first = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=client(1))
    intent = api.paid_booking(service_id=CONSULT, start=slot, attendee=client(2))
    token = api.create_token(intent)
    assert token.status == 201, token.body

    # When her seat is created in Cal.com but the answer is lost (500 after processing)
    cal_double.fail_next(1, 500, after_processing=True)
    response = api.verify(token.body["token"])

    # Then verify finds her seat by the booking_id in its metadata instead of booking a third seat
    assert response.status == 200, response.body
    record = booking(intent["booking_id"])
    assert record.status == "CONFIRMED"
    assert record.cal_booking_uid == first["cal_booking_uid"]
    [cal] = live_cal_bookings(cal_double)
    seats = seats_of(cal)
    assert len(seats) == 2
    assert seats[record.cal_seat_uid]["metadata"]["booking_id"] == intent["booking_id"]
    assert record.cal_seat_uid != booking(first["booking_id"]).cal_seat_uid
    assert [post.status for post in cal_booking_posts(cal_double)] == [201, 500]
    assert any(r.method == "GET" and r.path == "/v2/bookings" for r in cal_double.request_log)


def test_seats_filled_in_cal_com_meanwhile_make_the_paid_booking_slot_unavailable(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given a client paid for a consultation slot, and two walk-ins then took both seats directly in Cal.com
    slot = api.first_slot(CONSULT)
    intent = api.paid_booking(service_id=CONSULT, start=slot, attendee=client(1))
    token = api.create_token(intent)
    assert token.status == 201, token.body
    for n in (1, 2):
        cal_double.take_slot(CONSULT_EVENT_TYPE, slot, attendee_name=f"Walk-in {n}", attendee_email=f"walk{n}@x.org")

    # When she verifies
    response = api.verify(token.body["token"])

    # Then Cal.com's 409 "No more seats left" is a taken slot: SLOT_UNAVAILABLE, flagged, money kept
    assert (response.status, response.error_code) == (409, "slot_unavailable")
    record = booking(intent["booking_id"])
    assert record.status == "SLOT_UNAVAILABLE"
    assert record.has_flag("slot_unavailable_after_payment")
    assert "No more seats left" in record.history[-1].reason
    assert (record.cal_booking_uid, record.cal_seat_uid) == (None, None)


def test_a_seat_cancelled_in_cal_cancels_only_its_own_booking(api: ApiClient, cal_double: CalDouble) -> None:
    # Given two clients holding both seats of a consultation (Cal.com's seat events carry no metadata, only the
    # shared uid and the seat's attendee)
    slot = api.first_slot(CONSULT)
    first = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=client(1))
    second = api.confirmed_booking(service_id=CONSULT, start=slot, attendee=client(2))
    uid, seat = first["cal_booking_uid"], booking(second["booking_id"]).cal_seat_uid
    assert seat is not None

    # When the second client cancels her seat in Cal.com, well ahead (free window), and its webhook arrives
    raw, headers = cal_double.build_webhook(
        "BOOKING_CANCELLED",
        uid,
        seat_uid=seat,
        secret=os.environ["CAL_WEBHOOK_SECRET"],
        created_at=instant(slot) - timedelta(hours=48),
    )
    assert "metadata" not in json.loads(raw)["payload"]  # nothing but the uid and the seat's attendee to go by
    cal_double.cancel_seat(uid, seat)
    response = api.request("POST", "/webhooks/cal", raw=raw, headers=headers)

    # Then only her booking is cancelled and refunded; the other seat's booking stays confirmed, and the freed
    # seat is offered again
    assert response.status == 200, response.body
    assert booking(second["booking_id"]).status == "CANCELLED"
    assert booking(second["booking_id"]).amount_refunded == 5000
    assert booking(first["booking_id"]).status == "CONFIRMED"
    assert booking(first["booking_id"]).amount_refunded == 0
    assert offered(api, slot)
