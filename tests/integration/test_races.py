"""Concurrent clients on one slot: the conditional write decides, never a read-then-write."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from local.stripe_double import StripeDouble
from tests.integration.helpers import CONSULT, items_with_prefix, live_seats_per_slot, payment_intent_creates
from tests.support import ApiClient, ApiResponse, booking, unique_key


def attendee(n: int) -> dict[str, str]:
    return {"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "America/Denver"}


def race(api: ApiClient, clients: int, **kwargs: object) -> list[ApiResponse]:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(api.create_intent, attendee=attendee(n), **kwargs) for n in range(clients)]
        return [future.result() for future in futures]


def test_twenty_clients_on_one_slot_exactly_one_wins(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given one free slot of a one-to-one service
    slot = api.first_slot()
    # When 20 clients ask for it at the same moment
    responses = race(api, 20, start=slot)
    # Then exactly one holds it and the other 19 are told it is taken
    statuses = Counter(response.status for response in responses)
    assert statuses == {201: 1, 409: 19}, [r.body for r in responses if r.status not in (201, 409)]
    assert {r.error_code for r in responses if r.status == 409} == {"slot_taken"}
    # And there is one live seat, one booking and one PaymentIntent, all the winner's
    [winner] = [r for r in responses if r.status == 201]
    assert list(live_seats_per_slot().values()) == [1]
    assert [item["booking_id"]["S"] for item in items_with_prefix("BOOKING#")] == [winner.body["booking_id"]]
    assert len(payment_intent_creates(stripe_double)) == 1
    assert booking(winner.body["booking_id"]).status == "HELD"


def test_capacity_two_service_seats_exactly_two_of_five(api: ApiClient) -> None:
    # Given one slot of the skin consultation (2 clients per slot)
    slot = api.first_slot(CONSULT)
    # When 5 clients ask for it at once
    responses = race(api, 5, start=slot, service_id=CONSULT)
    # Then exactly two hold a seat, the three others get 409 slot_taken
    statuses = Counter(response.status for response in responses)
    assert statuses == {201: 2, 409: 3}, [r.body for r in responses if r.status not in (201, 409)]
    assert {r.error_code for r in responses if r.status == 409} == {"slot_taken"}
    assert list(live_seats_per_slot().values()) == [2]
    seats = {booking(r.body["booking_id"]).seat_number for r in responses if r.status == 201}
    assert seats == {0, 1}


def test_same_idempotency_key_sent_five_times_at_once_makes_one_booking(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a client whose browser fires the same request (same key) five times at once
    key = unique_key()
    slot = api.first_slot()
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(
            pool.map(lambda _: api.create_intent(start=slot, attendee=attendee(0), idempotency_key=key), range(5))
        )
    # Then every answer is the same booking and PaymentIntent, held once
    assert [r.status for r in responses] == [201] * 5, [r.body for r in responses]
    assert len({r.body["booking_id"] for r in responses}) == 1
    assert len({r.body["payment_intent_id"] for r in responses}) == 1
    assert len(items_with_prefix("BOOKING#")) == 1
    assert list(live_seats_per_slot().values()) == [1]
    assert len({r.idempotency_key for r in payment_intent_creates(stripe_double)}) == 1


def test_two_token_requests_at_once_record_the_payment_once(api: ApiClient) -> None:
    # Given a paid booking
    intent = api.paid_booking()
    # When the site asks for the token twice at the same moment
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(api.create_token, [intent, intent]))
    # Then both get a token, and the booking moved HELD -> PAID exactly once
    assert [r.status for r in responses] == [201, 201], [r.body for r in responses]
    record = booking(intent["booking_id"])
    assert record.status == "PAID"
    assert [(h.source, h.target) for h in record.history] == [("NEW", "HELD"), ("HELD", "PAID")]
    assert record.amount_paid == 8250
