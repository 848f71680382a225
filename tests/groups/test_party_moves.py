"""A party moves whole or not at all: moved to its backup start on a blocked date, it takes all its seats there; a
reschedule of a confirmed party is refused with the reason. And Cal.com gets the members' addresses CLIENT_EMAILS
says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from tests.groups.helpers import (
    PAYER,
    WORKSHOP,
    book_party,
    member,
    seats_left,
    token_of,
    workshop_slot,
)
from tests.integration.helpers import BUSINESS_TZ, instant, live_cal_bookings, live_seats_per_slot
from tests.support import ApiClient, Clock, booking, owner_headers, pay, run_job


def test_a_paid_party_on_a_blocked_date_moves_whole_to_its_backup(
    api: ApiClient, cal_double: CalDouble, lam: Any, clock: Clock
) -> None:
    # Given a party of 3 paid (not yet confirmed in Cal.com) with a backup start a week later, and 7 seats of the
    # backup slot taken by another party
    slot = workshop_slot(api)
    backup = (instant(slot) + timedelta(days=7)).isoformat()
    other = book_party(api, backup, 7, [])
    assert other.status == 201, other.body
    held = book_party(api, slot, 3, [member(1)], backup_start=backup)
    assert held.status == 201, held.body
    pay(held.body["payment_intent_id"])
    assert api.create_token(held.body).status == 201

    # When the owner blocks the party's date
    day = instant(slot).astimezone(BUSINESS_TZ).date().isoformat()
    blocked = api.post("/admin/blocked-dates", {"date": day}, headers=owner_headers() | {"Idempotency-Key": "b1"})

    # Then the party moved to its backup with its three seats, the old ones freed
    assert blocked.status == 201 and blocked.body["moved"] == 1, blocked.body
    record = booking(held.body["booking_id"])
    assert record.status == "PAID" and record.slot_start == instant(backup)
    assert len({seat.number for seat in record.seats}) == 3
    assert seats_left(api, backup) == 2
    assert list(live_seats_per_slot().values()) == [10]
    # And once the cleanup job confirms it, the payer and the named member are seats of the Cal.com booking there
    clock.advance(minutes=5)
    run_job(lam, "ExpireHoldsFunction")
    assert booking(held.body["booking_id"]).status == "CONFIRMED"
    [cal] = live_cal_bookings(cal_double)
    assert instant(cal["start"]) == instant(backup)
    assert sorted(a["email"] for a in cal["attendees"]) == sorted([PAYER["email"], "potter1@example.com"])


def test_a_party_does_not_move_to_a_backup_it_no_longer_fits(api: ApiClient) -> None:
    slot = workshop_slot(api)
    backup = (instant(slot) + timedelta(days=7)).isoformat()
    assert book_party(api, backup, 10, []).status == 201
    held = book_party(api, slot, 3, [], backup_start=backup)
    assert held.status == 201, held.body
    pay(held.body["payment_intent_id"])
    assert api.create_token(held.body).status == 201

    day = instant(slot).astimezone(BUSINESS_TZ).date().isoformat()
    blocked = api.post("/admin/blocked-dates", {"date": day}, headers=owner_headers() | {"Idempotency-Key": "b2"})

    assert blocked.status == 201 and blocked.body["moved"] == 0, blocked.body
    assert booking(held.body["booking_id"]).status == "CANCELLED"
    assert seats_left(api, backup) == 2


def test_a_confirmed_party_cannot_be_rescheduled_and_is_told_why(api: ApiClient) -> None:
    slot = workshop_slot(api)
    confirmed = api.confirmed_booking(service_id=WORKSHOP, start=slot, attendee=PAYER, participants=2, party=[])
    moved = api.post(
        "/bookings/manage/reschedule",
        {"token": token_of(confirmed["manage_url"]), "start": (instant(slot) + timedelta(days=7)).isoformat()},
    )
    assert (moved.status, moved.error_code) == (409, "reschedule_not_supported")
    assert booking(confirmed["booking_id"]).slot_start == instant(slot)


@pytest.fixture
def ours(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CLIENT_EMAILS=ours: our emails replace Cal.com's (settings are read once per container: re-read them)."""
    from booking.settings import get_settings

    monkeypatch.setenv("CLIENT_EMAILS", "ours")
    monkeypatch.setenv("NOTIFY_FROM_EMAIL", "bookings@studio.example")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_with_our_emails_each_member_has_a_relay_address_in_cal_com(
    api: ApiClient, cal_double: CalDouble, ours: None
) -> None:
    from booking.flows.party import member_key

    confirmed = api.confirmed_booking(
        service_id=WORKSHOP, start=workshop_slot(api), attendee=PAYER, participants=3, party=[member(1), member(2)]
    )
    booking_id = confirmed["booking_id"]
    [cal] = live_cal_bookings(cal_double)
    relays = {f"bookings+{booking_id}-{member_key(f'potter{n}@example.com')}@studio.example" for n in (1, 2)}
    assert {a["email"] for a in cal["attendees"]} == {f"bookings+{booking_id}@studio.example", *relays}
    assert {a["metadata"].get("client_email") for a in cal["attendees"]} == {
        PAYER["email"],
        "potter1@example.com",
        "potter2@example.com",
    }
