"""DESIGN.md §3 invariants, as the core flow touches them: no double booking, no lost payment, deterministic
Stripe idempotency keys, server-owned prices, and a recorded history of every transition."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from booking.domain.catalog import get_catalog
from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    CONSULT,
    FACIAL,
    instant,
    items_with_prefix,
    live_cal_bookings,
    live_seats_per_slot,
    payment_intent_creates,
    product_now,
)
from tests.support import ATTENDEE, ApiClient, Clock, booking, pay, stripe_client

DETERMINISTIC_KEY = re.compile(r"^booking:bk_[0-9a-f]{24}:[a-z_]+(:[A-Za-z0-9_]+)*$")


def client(n: int) -> dict[str, str]:
    return {"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "Europe/London"}


def assert_no_double_booking() -> None:
    """Live seats and live bookings per slot never exceed the service's capacity (from the catalog)."""
    services = get_catalog().services
    by_event_type = {service.cal_event_type_id: service.capacity for service in services}
    by_service = {service.id: service.capacity for service in services}
    now = product_now()
    for slot_key, seats in live_seats_per_slot(now).items():
        capacity = by_event_type[int(slot_key.split("#")[1])]
        assert seats <= capacity, f"{slot_key}: {seats} live seats for capacity {capacity}"
    live: Counter[tuple[str, str]] = Counter()
    for item in items_with_prefix("BOOKING#"):
        record = booking(item["booking_id"]["S"])
        if record.hold_is_live(now):
            live[(record.service_id, record.slot_start.isoformat())] += 1
    for (service_id, start), count in live.items():
        assert count <= by_service[service_id], f"{service_id} {start}: {count} live bookings"


def test_no_double_booking_through_holds_expiries_and_payments(
    api: ApiClient, clock: Clock, cal_double: CalDouble
) -> None:
    # Given one facial slot (capacity 1) and one consultation slot (capacity 2)
    facial_slot = api.first_slot(FACIAL)
    consult_slot = api.first_slot(CONSULT)
    # When clients hold, collide, let holds lapse, pay late, and confirm, checking the invariant after each step
    a = api.create_intent(start=facial_slot, attendee=client(1)).body
    assert api.create_intent(start=facial_slot, attendee=client(2)).status == 409
    e = api.create_intent(service_id=CONSULT, start=consult_slot, attendee=client(5)).body
    f = api.create_intent(service_id=CONSULT, start=consult_slot, attendee=client(6)).body
    assert api.create_intent(service_id=CONSULT, start=consult_slot, attendee=client(7)).status == 409
    assert_no_double_booking()

    clock.advance(minutes=16)  # every hold lapses unpaid
    c = api.create_intent(start=facial_slot, attendee=client(3)).body
    g = api.create_intent(service_id=CONSULT, start=consult_slot, attendee=client(7)).body
    assert_no_double_booking()

    pay(f["payment_intent_id"])  # F pays late: a consultation seat is still free
    assert api.create_token(f).status == 201
    assert api.create_intent(service_id=CONSULT, start=consult_slot, attendee=client(8)).status == 409
    assert_no_double_booking()

    pay(a["payment_intent_id"])  # A pays late: C has the facial slot now
    assert api.create_token(a).error_code == "slot_unavailable"
    pay(e["payment_intent_id"])  # E pays late: F and G have both consultation seats
    assert api.create_token(e).error_code == "slot_unavailable"
    assert_no_double_booking()

    pay(g["payment_intent_id"])  # G pays: the second consultation seat is kept for good
    assert api.create_token(g).status == 201
    pay(c["payment_intent_id"])  # C pays in time
    # C and F confirm in Cal.com (F takes one seat of the seated consultation booking there; G is still PAID)
    for paid in (c, f):
        token = api.create_token(paid)
        assert token.status == 201, token.body
        assert api.verify(token.body["token"]).status == 200
    # A latecomer cannot take the confirmed facial: Cal.com no longer offers it
    assert api.create_intent(start=facial_slot, attendee=client(4)).error_code == "slot_not_offered"
    # Then the invariant holds at the end, in our table and in Cal.com
    assert_no_double_booking()
    assert sorted(live_seats_per_slot().values()) == [1, 2]
    calendar = Counter((b["eventTypeId"], instant(b["start"])) for b in live_cal_bookings(cal_double))
    assert calendar == {(3815418, instant(facial_slot)): 1, (3815420, instant(consult_slot)): 1}
    assert {booking(x["booking_id"]).status for x in (a, e)} == {"SLOT_UNAVAILABLE"}
    assert {booking(x["booking_id"]).status for x in (c, f)} == {"CONFIRMED"}
    assert booking(g["booking_id"]).status == "PAID"


def test_every_succeeded_payment_ends_confirmed_or_refunded_and_flagged(api: ApiClient, clock: Clock) -> None:
    # Given one payment that gets its slot and one late payment whose slot was taken
    slot = api.first_slot()
    late = api.create_intent(start=slot, attendee=client(1)).body
    clock.advance(minutes=16)
    winner = api.create_intent(start=slot, attendee=client(2)).body
    pay(late["payment_intent_id"])
    pay(winner["payment_intent_id"])
    # When both go through the site's steps
    assert api.create_token(late).status == 409
    token = api.create_token(winner).body["token"]
    assert api.verify(token).status == 200
    # Then every PaymentIntent that succeeded at Stripe is accounted for (DESIGN.md §3 "no lost payment")
    intents = stripe_client().v1.payment_intents.list(params={"limit": 100}).data
    succeeded = [intent for intent in intents if intent.status == "succeeded"]
    assert len(succeeded) == 2
    for intent in succeeded:
        record = booking(intent.metadata["booking_id"])
        confirmed = record.status == "CONFIRMED" and record.cal_booking_uid is not None
        refunded_and_flagged = record.amount_refunded == record.amount_paid > 0 and bool(record.flags)
        assert confirmed or refunded_and_flagged, record


def test_every_stripe_post_of_the_flow_carries_a_deterministic_booking_key(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock
) -> None:
    # Given a full deposit flow, a full-payment flow, and a late payment that had to be refunded
    deposit = api.confirmed_booking(start=api.free_slots()[0]["start"])
    full = api.confirmed_booking(start=api.free_slots()[0]["start"], payment_type="full", attendee=client(2))
    slot = api.first_slot()  # away from the minimum notice: the clock moves 16 minutes below
    late = api.create_intent(start=slot, attendee=client(3)).body
    clock.advance(minutes=16)
    assert api.create_intent(start=slot, attendee=client(4)).status == 201
    pay(late["payment_intent_id"])
    assert api.create_token(late).status == 409
    # When we look at every POST our code sent to Stripe (the browser's confirm calls are not ours)
    ours = [r for r in stripe_double.requests if r.method == "POST" and not r.path.endswith("/confirm")]
    # Then each carried an Idempotency-Key derived from our ids, never a random one
    assert ours
    for request in ours:
        assert request.idempotency_key is not None, request
        assert DETERMINISTIC_KEY.match(request.idempotency_key), request.idempotency_key
    keys = {(r.path, r.idempotency_key) for r in ours}
    assert ("/v1/payment_intents", f"booking:{deposit['booking_id']}:payment_intent") in keys
    assert ("/v1/customers", f"booking:{deposit['booking_id']}:customer") in keys
    assert ("/v1/payment_intents", f"booking:{full['booking_id']}:payment_intent") in keys
    assert ("/v1/refunds", f"booking:{late['booking_id']}:refund:full_refund:0:{late['payment_intent_id']}") in keys
    # And no key was ever sent for two different requests
    assert len({r.idempotency_key for r in ours}) == len({(r.idempotency_key, r.path) for r in ours})


def test_client_sent_amount_is_refused_and_the_catalog_price_is_charged(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a client that tries to set its own price
    request: dict[str, Any] = {"service_id": FACIAL, "start": api.first_slot(), "attendee": ATTENDEE}
    priced = {"amount": 1, "amount_due_now": 1, "total": 1, "deposit_percent": 1}
    # When it starts a booking
    refused = api.post("/payments/create-intent", {**request, **priced})
    # Then the price is not the client's to send: each field is refused by name, and nothing reaches Stripe
    assert refused.status == 422, refused.body
    assert refused.error_fields == set(priced)
    # The currency is the client's choice only among the catalog's prices of the service
    other_currency = api.post("/payments/create-intent", {**request, "currency": "jpy"})
    assert (other_currency.status, other_currency.error_fields) == (422, {"currency"})
    assert payment_intent_creates(stripe_double) == []
    # And without them, the catalog's price is quoted and sent to Stripe
    response = api.post("/payments/create-intent", request)
    assert response.status == 201, response.body
    assert (response.body["amount_due_now"], response.body["total"], response.body["currency"]) == (8250, 16500, "usd")
    [create] = payment_intent_creates(stripe_double)
    assert (create.params["amount"], create.params["currency"]) == ("8250", "usd")
    assert booking(response.body["booking_id"]).amount_due_now == 8250


def test_every_transition_is_recorded_with_actor_source_target_and_reason(api: ApiClient) -> None:
    # Given a booking taken through the whole flow
    confirmed = api.confirmed_booking()
    # When the owner reads its history
    record = booking(confirmed["booking_id"])
    # Then each step is there, in order, chained, with who, when and why
    assert [(h.source, h.target) for h in record.history] == [("NEW", "HELD"), ("HELD", "PAID"), ("PAID", "CONFIRMED")]
    for entry in record.history:
        assert entry.actor
        assert entry.reason
        assert entry.at.tzinfo is not None
    assert [h.at for h in record.history] == sorted(h.at for h in record.history)
    assert record.history[-1].target == record.status
    assert record.cal_booking_uid in record.history[-1].reason


def test_failed_hold_history_records_the_system_release_and_its_reason(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given Stripe failed while the slot was held
    stripe_double.set_down(True)
    assert api.create_intent().status == 503
    # Then the release is in the history with its actor and reason
    [item] = items_with_prefix("BOOKING#")
    record = booking(item["booking_id"]["S"])
    assert [(h.source, h.target) for h in record.history] == [("NEW", "HELD"), ("HELD", "EXPIRED")]
    assert record.history[-1].actor == "system"
    assert "payment provider failed" in record.history[-1].reason
