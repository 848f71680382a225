"""Seats freed -> offers to the waitlist, in line order, through the table's stream (TableChangesFunction): the
first party that fits gets a hold and an email with its pay link; paid, it is booked; unpaid, it lapses and the
seats pass on. Through the handlers, the Stripe double (Stripe.js's confirm, signed webhooks) and the cleanup job."""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from booking.dal import waitlist as line_store
from booking.dal.waitlist import EntryStatus
from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    CONSULT,
    CONSULT_EVENT_TYPE,
    instant,
    live_seats_per_slot,
    payment_intent_creates,
)
from tests.notify.conftest import body, emails
from tests.support import ApiClient, Clock, booking, deliver_stripe, owner_headers, pay, run_job, stripe_event
from tests.waitlist.conftest import book, cancel, join, pump

PAY_LINK = re.compile(r"https://site\.example/book/pay\?token=[\w-]+")


def line(start: datetime) -> dict[str, Any]:
    """Each entry of the slot's line, by attendee name."""
    return {e.attendee.name: e for e in line_store.entries(CONSULT_EVENT_TYPE, instant(start.isoformat()))}


def full_slot_with_a_line(api: ApiClient, lam: LocalLambda, slot: datetime, *parties: tuple[str, int]) -> list[str]:
    """Ann and Bob booked the two seats; the parties joined in this order. Returns Ann's and Bob's booking ids."""
    booked = [book(api, slot, "ann")["booking_id"], book(api, slot, "bob")["booking_id"]]
    for name, participants in parties:
        assert join(api, slot, name, participants=participants).status == 201
    pump(lam)
    return booked


def offer_link(to: str) -> str:
    [message] = [m for m in emails(to) if "A place is free for you" in m["Subject"]]
    found = PAY_LINK.search(body(message))
    assert found, body(message)
    return found.group(0)


def test_a_cancellation_offers_the_seat_to_the_first_in_line_with_a_pay_link(
    api: ApiClient, lam: LocalLambda, slot: datetime, notifications: None
) -> None:
    ann, _bob = full_slot_with_a_line(api, lam, slot, ("cat", 1), ("dan", 1))
    # When Ann's booking is cancelled and the stream delivers the freed seat
    cancel(api, ann)
    pump(lam)
    # Then Cat (first in line) holds the seat for HOLD_MINUTES, with an open payment; Dan still waits
    entries = line(slot)
    assert entries["Cat"].status == EntryStatus.OFFERED and entries["Dan"].status == EntryStatus.WAITING
    offer = booking(entries["Cat"].booking_id)
    assert offer.status.value == "HELD" and offer.waitlist_entry_id == entries["Cat"].entry_id
    assert offer.payment_intent_id and offer.attendee.email == "cat@example.com"
    assert 15 * 60 - 1 < (offer.hold_expires_at - offer.created_at).total_seconds() <= 15 * 60  # HOLD_MINUTES
    # And Cat is emailed the pay link, which opens that payment
    link = offer_link("cat@example.com")
    page = api.post("/bookings/pay", {"token": parse_qs(urlsplit(link).query)["token"][0]})
    assert page.status == 200 and page.body["status"] == "requires_payment", page.body
    assert page.body["amount"] == offer.amount_due_now == 5000
    assert emails("dan@example.com") == []
    # And never more holds than seats
    assert max(live_seats_per_slot().values()) == 2


def test_paying_the_offer_books_it(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, slot: datetime, notifications: None
) -> None:
    ann, _bob = full_slot_with_a_line(api, lam, slot, ("cat", 1))
    cancel(api, ann)
    pump(lam)
    offer = booking(line(slot)["Cat"].booking_id)
    # When Cat pays through the pay page (Stripe.js) and Stripe's webhook arrives
    pay(offer.payment_intent_id)
    delivered = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "payment_intent.succeeded", offer.payment_intent_id)["id"]
    )
    assert delivered.status == 200, delivered.body
    pump(lam)
    # Then the booking is confirmed like any other, and the entry is BOOKED
    assert booking(offer.booking_id).status.value == "CONFIRMED"
    assert line(slot)["Cat"].status == EntryStatus.BOOKED
    assert any(m["Subject"].startswith("Booked: ") for m in emails("cat@example.com"))


def test_an_unpaid_offer_lapses_and_passes_to_the_next(
    api: ApiClient, lam: LocalLambda, clock: Clock, slot: datetime, notifications: None
) -> None:
    ann, _bob = full_slot_with_a_line(api, lam, slot, ("cat", 1), ("dan", 1))
    cancel(api, ann)
    pump(lam)
    cat_offer = line(slot)["Cat"].booking_id
    # When Cat's hold runs out and the cleanup job expires it
    clock.advance(minutes=16)
    run_job(lam, "ExpireHoldsFunction")
    pump(lam)
    # Then Cat's offer lapsed (its payment cancelled), and Dan holds the seat with a pay link of his own
    entries = line(slot)
    assert booking(cat_offer).status.value == "EXPIRED"
    assert entries["Cat"].status == EntryStatus.LAPSED and entries["Dan"].status == EntryStatus.OFFERED
    assert booking(entries["Dan"].booking_id).status.value == "HELD"
    assert offer_link("dan@example.com") != offer_link("cat@example.com")
    # And Cat may join again, at the back
    again = join(api, slot, "cat")
    assert again.status == 201 and again.body["joined_now"] and again.body["position"] == 1, again.body


def test_a_party_too_large_is_skipped_for_a_smaller_one_behind_it(
    api: ApiClient, lam: LocalLambda, slot: datetime
) -> None:
    ann, bob = full_slot_with_a_line(api, lam, slot, ("cat", 2), ("dan", 1))
    # When one seat frees up: Cat's party of 2 does not fit, Dan does
    cancel(api, ann)
    pump(lam, notify=False)
    entries = line(slot)
    assert entries["Cat"].status == EntryStatus.WAITING and entries["Dan"].status == EntryStatus.OFFERED
    # When the other seat frees up too, only one is free (Dan holds the first): Cat still waits
    cancel(api, bob)
    pump(lam, notify=False)
    assert line(slot)["Cat"].status == EntryStatus.WAITING
    assert live_seats_per_slot()[f"SLOT#{CONSULT_EVENT_TYPE}#{instant(slot.isoformat()):%Y-%m-%dT%H:%M:%SZ}"] == 1


def test_stripe_down_keeps_the_hold_and_the_retry_opens_the_payment(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, slot: datetime
) -> None:
    ann, _bob = full_slot_with_a_line(api, lam, slot, ("cat", 1))
    cancel(api, ann)
    freed = [
        record
        for record in StreamPump(os.environ["TABLE_NAME"], "TableChangesFunction").records()
        if record["eventName"] == "REMOVE" and record["dynamodb"]["Keys"]["sk"]["S"].startswith("SEAT#")
    ]
    # When Stripe fails while the offer's payment is opened
    stripe_double.fail_next(2, "connection", path="/v1/payment_intents")
    failed = lam.invoke("TableChangesFunction", {"Records": freed})
    # Then the record is reported failed (Lambda retries from it), and the hold is Cat's, its payment not open yet
    assert failed["batchItemFailures"] == [{"itemIdentifier": freed[0]["dynamodb"]["SequenceNumber"]}]
    offer = booking(line(slot)["Cat"].booking_id)
    assert offer.status.value == "HELD" and offer.payment_intent_id is None
    # When Lambda retries the record, twice: the payment is opened once, nothing else is offered
    for _retry in range(2):
        assert lam.invoke("TableChangesFunction", {"Records": freed})["batchItemFailures"] == []
    reopened = booking(offer.booking_id)
    assert reopened.status.value == "HELD" and reopened.payment_intent_id is not None
    assert len([r for r in payment_intent_creates(stripe_double) if r.status == 200]) == 1 + 2  # Ann, Bob, Cat
    assert line(slot)["Cat"].status == EntryStatus.OFFERED


def test_the_owner_lists_the_lines_and_the_open_offers(api: ApiClient, lam: LocalLambda, slot: datetime) -> None:
    ann, _bob = full_slot_with_a_line(api, lam, slot, ("cat", 1), ("dan", 1))
    cancel(api, ann)
    pump(lam, notify=False)
    day = slot.date().isoformat()
    response = api.request(
        "GET", "/admin/waitlist", headers=owner_headers(), query={"service_id": CONSULT, "from": day, "to": day}
    )
    assert response.status == 200, response.body
    [listed] = response.body["lines"]
    assert instant(listed["start"]) == slot and listed["waiting"] == 1
    assert [(e["name"], e["status"]) for e in listed["entries"]] == [("Cat", "OFFERED"), ("Dan", "WAITING")]
    assert PAY_LINK.fullmatch(listed["entries"][0]["pay_url"]) and listed["entries"][0]["hold_expires_at"]
    assert listed["entries"][1]["pay_url"] is None
    # Staff may read it; a client may not
    assert api.request("GET", "/admin/waitlist", query={"service_id": CONSULT}).status == 401
    bad = api.request("GET", "/admin/waitlist", headers=owner_headers(), query={"service_id": "signature-facial"})
    assert bad.status == 422 and "service_id" in bad.error_fields
