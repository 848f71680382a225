"""Parties and single clients racing for the last seats of a workshop slot: the conditional seat writes decide."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from local.stripe_double import StripeDouble
from tests.groups.helpers import WORKSHOP, book_party, seats_left, workshop_slot
from tests.integration.helpers import items_with_prefix, live_seats_per_slot, payment_intent_creates
from tests.support import ApiClient, ApiResponse, booking


def test_parties_and_singles_on_the_last_three_seats_never_take_more_than_capacity(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a workshop slot with 3 of its 12 seats left
    slot = workshop_slot(api)
    first = book_party(api, slot, 9, [])
    assert first.status == 201, first.body
    assert seats_left(api, slot) == 3

    # When three parties of 2 and three single clients ask for it at the same moment
    def ask(n: int) -> ApiResponse:
        attendee = {"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "America/Denver"}
        size = 2 if n < 3 else 1
        return api.create_intent(service_id=WORKSHOP, start=slot, attendee=attendee, participants=size)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(ask, range(6)))

    # Then the winners hold exactly the 3 seats left, the others are told the slot is taken
    statuses = Counter(response.status for response in responses)
    assert set(statuses) <= {201, 409}, [r.body for r in responses]
    assert {r.error_code for r in responses if r.status == 409} == {"slot_taken"}
    winners = [r for r in responses if r.status == 201]
    assert sum(r.body["participants"] for r in winners) == 3
    # And there are never more live seats than the capacity, each held by a booking that claims it
    assert list(live_seats_per_slot().values()) == [12]
    held = [first.body["booking_id"], *(r.body["booking_id"] for r in winners)]
    seat_numbers = [seat.number for booking_id in held for seat in booking(booking_id).seats]
    assert sorted(seat_numbers) == list(range(12))
    # And nothing of the losers is written: no booking, no PaymentIntent
    assert sorted(item["booking_id"]["S"] for item in items_with_prefix("BOOKING#")) == sorted(held)
    assert len(payment_intent_creates(stripe_double)) == len(held)
    assert seats_left(api, slot) in (None, 0)  # full: not offered, or listed for the waitlist
