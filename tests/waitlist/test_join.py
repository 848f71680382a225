"""Joining and leaving a full slot's waitlist (POST /waitlist, DELETE /waitlist/{entry_id}), and what the rest of the
API says while people wait: availability lists the slot as full with its waitlist, create-intent refuses it."""

from __future__ import annotations

from datetime import datetime, timedelta

from local.lambda_runtime import LocalLambda
from tests.integration.helpers import CONSULT, FACIAL, instant
from tests.notify.conftest import body, emails, sweep
from tests.support import ApiClient
from tests.waitlist.conftest import book, join, leave, person


def availability_of(api: ApiClient, start: datetime) -> dict:
    response = api.get("/availability", service_id=CONSULT, start=start.date().isoformat(), days=1)
    assert response.status == 200, response.body
    [found] = [s for day in response.body["days"] for s in day["slots"] if instant(s["start"]) == start]
    return found


def test_a_slot_with_seats_free_is_booked_not_waited_for(api: ApiClient, slot: datetime) -> None:
    # Given one seat of two taken
    book(api, slot, "ann")
    # When someone asks to join its waitlist
    response = join(api, slot, "bob")
    # Then they are told to book it: nothing is written
    assert response.status == 409 and response.error_code == "slot_available", response.body
    assert response.body["error"]["seats_left"] == 1
    # And a party of 2 does not fit in the one seat left: it may join
    party = join(api, slot, "cat", participants=2)
    assert party.status == 201 and party.body["position"] == 1, party.body


def test_joining_a_full_slot_gives_the_place_in_line_and_a_secret_once(api: ApiClient, slot: datetime) -> None:
    # Given a full slot
    book(api, slot, "ann")
    book(api, slot, "bob")
    # When two people join, the first twice
    first = join(api, slot, "cat")
    second = join(api, slot, "dan")
    again = join(api, slot, "cat")
    # Then they are in line in the order they joined; the repeat answers the same entry without its secret
    assert first.status == 201 and second.status == 201, (first.body, second.body)
    assert (first.body["position"], second.body["position"]) == (1, 2)
    assert first.body["status"] == "WAITING" and first.body["joined_now"] and first.body["secret"]
    assert again.status == 201 and again.body["entry_id"] == first.body["entry_id"], again.body
    assert not again.body["joined_now"] and again.body["secret"] is None and again.body["position"] == 1
    # And the email is the identity, whatever its case
    shouting = join(api, slot, "cat", attendee={**person("cat"), "email": "CAT@example.com"})
    assert shouting.body["entry_id"] == first.body["entry_id"]


def test_availability_lists_the_full_slot_with_its_waitlist(api: ApiClient, slot: datetime) -> None:
    book(api, slot, "ann")
    book(api, slot, "bob")
    # The calendar no longer offers a full seated slot; availability still lists it, with its waitlist
    listed = availability_of(api, slot)
    assert listed["seats_left"] == 0 and listed["waitlist"] is True
    other = availability_of(api, slot + timedelta(hours=1))
    assert other["seats_left"] == 2 and other["waitlist"] is False


def test_while_people_wait_the_freed_seats_are_theirs(api: ApiClient, slot: datetime) -> None:
    # Given one seat taken and a party of 2 waiting (it does not fit in the seat left)
    book(api, slot, "ann")
    assert join(api, slot, "cat", participants=2).status == 201
    # Then availability shows no seat for anyone else, and create-intent refuses the seat left
    assert availability_of(api, slot)["seats_left"] == 0 and availability_of(api, slot)["waitlist"]
    refused = api.create_intent(service_id=CONSULT, start=slot.isoformat(), attendee=person("eve"), payment_type="full")
    assert refused.status == 409 and refused.error_code == "slot_taken", refused.body
    # And a single person may now join the line (behind the party)
    single = join(api, slot, "eve")
    assert single.status == 201 and single.body["position"] == 2, single.body


def test_bad_requests_name_the_field_and_write_nothing(api: ApiClient, slot: datetime) -> None:
    book(api, slot, "ann")
    book(api, slot, "bob")
    cases = {
        "service_id": join(api, slot, "cat", service_id=FACIAL),  # no waitlist for this service
        "participants": join(api, slot, "cat", participants=3),  # more than the capacity
        "start": join(api, slot + timedelta(minutes=7), "cat"),  # not a slot
        "currency": join(api, slot, "cat", currency="jpy"),
        "attendee.phone": join(api, slot, "cat", notify={"email": True, "sms": True}),
    }
    for field, response in cases.items():
        assert response.status == 422, (field, response.body)
        assert field in response.error_fields, (field, response.body)
    unknown = join(api, slot, "cat", service_id="no-such-service")
    assert unknown.status == 422 and unknown.error_code == "unknown_service"
    assert join(api, slot, "cat").body["position"] == 1  # nothing of the refused joins is in line


def test_leaving_takes_the_party_out_of_line(api: ApiClient, slot: datetime) -> None:
    book(api, slot, "ann")
    book(api, slot, "bob")
    cat = join(api, slot, "cat").body
    dan = join(api, slot, "dan").body
    # A wrong secret and an unknown id get the same 404
    assert leave(api, cat["entry_id"], "not-the-secret").status == 404
    assert leave(api, "wl_" + "0" * 24, cat["secret"]).status == 404
    assert leave(api, cat["entry_id"], None).status == 404
    # When the first leaves (twice: the same answer)
    left = leave(api, cat["entry_id"], cat["secret"])
    again = leave(api, cat["entry_id"], cat["secret"])
    # Then it is out of line, and the next moved up
    assert left.status == 200 and left.body["status"] == "LEFT" and left.body["position"] is None, left.body
    assert again.status == 200 and again.body["status"] == "LEFT"
    assert join(api, slot, "dan").body["position"] == 1
    # And joining again puts it at the back, as a new entry
    back = join(api, slot, "cat").body
    assert back["entry_id"] != cat["entry_id"] and back["position"] == 2 and back["secret"]
    assert dan["entry_id"] != back["entry_id"]


def test_joining_is_confirmed_by_email_unless_the_party_left_first(
    api: ApiClient, lam: LocalLambda, slot: datetime, notifications: None
) -> None:
    book(api, slot, "ann")
    book(api, slot, "bob")
    join(api, slot, "cat")
    dan = join(api, slot, "dan").body
    join(api, slot, "cat")  # joining again plans nothing more
    # Dan leaves before the notifier's sweep runs
    assert leave(api, dan["entry_id"], dan["secret"]).status == 200
    # When the sweep sends what is due
    sweep(lam)
    # Then Cat is told her place in line, once; Dan, out of line, is told nothing
    [message] = [m for m in emails("cat@example.com") if m["Subject"].startswith("On the waitlist: ")]
    assert "Your place in line: 1" in body(message)
    assert [m for m in emails("dan@example.com") if m["Subject"].startswith("On the waitlist")] == []
