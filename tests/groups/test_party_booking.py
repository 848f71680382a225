"""A party books several seats of one workshop slot: the seats go in one step, a group rate prices them, and each
named member with an email is a seat of the same Cal.com booking."""

from __future__ import annotations

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.groups.helpers import (
    PAYER,
    WORKSHOP,
    WORKSHOP_EVENT_TYPE,
    book_party,
    member,
    seats_left,
    token_of,
    workshop_slot,
)
from tests.integration.helpers import (
    FACIAL,
    cal_booking_posts,
    items_with_prefix,
    live_cal_bookings,
    live_seats_per_slot,
    payment_intent_creates,
)
from tests.support import ApiClient, booking


def test_seats_left_goes_down_by_the_party_size(api: ApiClient) -> None:
    # Given a free workshop slot (12 seats)
    slot = workshop_slot(api)
    assert seats_left(api, slot) == 12

    # When a party of 4 holds it
    held = book_party(api, slot, 4, [member(1), member(2, email=False)])

    # Then four seats are held in one booking, and availability offers 8
    assert held.status == 201, held.body
    assert held.body["participants"] == 4
    record = booking(held.body["booking_id"])
    assert record.participants == 4 and len(record.seats) == 4
    assert len({seat.number for seat in record.seats}) == 4
    assert list(live_seats_per_slot().values()) == [4]
    assert seats_left(api, slot) == 8


def test_a_party_of_ten_pays_the_group_rate_and_its_named_members_are_cal_attendees(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given a party of 10: the payer and nine others, three of them with an email
    slot = workshop_slot(api)
    party = [member(n) for n in (1, 2, 3)] + [member(n, email=False) for n in range(4, 10)]

    # When the payer books and pays the deposit, then verifies
    confirmed = api.confirmed_booking(service_id=WORKSHOP, start=slot, attendee=PAYER, participants=10, party=party)

    # Then ten seats cost 400.00 at the group rate (40.00 each), 200.00 now
    assert (confirmed["total"], confirmed["amount_due_now"], confirmed["balance_due"]) == (40000, 20000, 20000)
    assert confirmed["participants"] == 10
    # And Cal.com has one seated booking with the payer and the three members with an email, each a seat
    [cal] = live_cal_bookings(cal_double)
    assert cal["eventTypeId"] == WORKSHOP_EVENT_TYPE
    emails = sorted(attendee["email"] for attendee in cal["attendees"])
    assert emails == sorted([PAYER["email"], "potter1@example.com", "potter2@example.com", "potter3@example.com"])
    record = booking(confirmed["booking_id"])
    seats = {attendee["seatUid"]: attendee for attendee in cal["attendees"]}
    for entry in record.party[:3]:
        assert entry.cal_seat_uid in seats
        assert seats[entry.cal_seat_uid]["email"] == entry.email
        assert seats[entry.cal_seat_uid]["metadata"]["party_of"] == record.booking_id
        assert "booking_id" not in seats[entry.cal_seat_uid]["metadata"]  # never taken for the payer's seat
    assert all(entry.cal_seat_uid is None for entry in record.party[3:])
    assert seats[record.cal_seat_uid]["metadata"]["booking_id"] == record.booking_id
    assert len(cal_booking_posts(cal_double)) == 4

    # When the payer sends the same party again through the manage link (a retry)
    again = api.post("/bookings/manage/party", {"token": token_of(confirmed["manage_url"]), "party": party})

    # Then nobody gets a second seat
    assert again.status == 200, again.body
    assert len(cal_booking_posts(cal_double)) == 4
    assert booking(confirmed["booking_id"]).party == record.party
    assert again.body["booking"]["participants"] == 10


def test_a_party_below_the_group_rate_pays_the_seat_price(api: ApiClient) -> None:
    held = book_party(api, workshop_slot(api), 9, [], payment_type="full")
    assert held.status == 201, held.body
    assert (held.body["total"], held.body["amount_due_now"]) == (45000, 45000)


def test_bad_party_input_is_refused_naming_the_field_with_nothing_written(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    slot = workshop_slot(api)
    cases = [
        (book_party(api, slot, 13, []), "participants"),  # above the workshop's 12
        (book_party(api, slot, 0, []), "participants"),
        (api.create_intent(service_id=FACIAL, participants=2), "participants"),  # a one-to-one service
        (book_party(api, slot, 3, [member(1), member(2), member(3)]), "party"),  # more than participants - 1
        (book_party(api, slot, 3, [member(1), member(1)]), "party"),  # one email twice
        (book_party(api, slot, 3, [{"name": "Payer again", "email": PAYER["email"]}]), "party"),
        (book_party(api, slot, 3, [{"name": "", "email": "x@example.com"}]), "party"),
        (book_party(api, slot, 3, [{"name": "No mail", "email": "not-an-email"}]), "party"),
    ]
    for response, field in cases:
        assert response.status == 422, response.body
        assert any(name.split(".")[0] == field for name in response.error_fields), response.body
    assert items_with_prefix("BOOKING#") == []
    assert items_with_prefix("SLOT#") == []
    assert payment_intent_creates(stripe_double) == []


def test_a_party_that_no_longer_fits_is_told_the_slot_is_taken(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given 10 of the 12 seats held
    slot = workshop_slot(api)
    first = book_party(api, slot, 10, [])
    assert first.status == 201, first.body
    assert seats_left(api, slot) == 2

    # When a party of 3 asks for the slot
    late = book_party(api, slot, 3, [])

    # Then 409 slot_taken, and nothing of it is written
    assert (late.status, late.error_code) == (409, "slot_taken")
    assert len(items_with_prefix("BOOKING#")) == 1
    assert list(live_seats_per_slot().values()) == [10]
    assert len(payment_intent_creates(stripe_double)) == 1
