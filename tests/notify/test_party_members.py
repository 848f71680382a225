"""A group booking's members (seed 004: "all 10 participants get confirmation"): each member named with an email
is told they have a place when the booking is confirmed or they are added to it, and told when they no longer do
(their seat given back, or the booking cancelled). The payer keeps their own messages; once per member and change."""

from __future__ import annotations

from tests.groups.helpers import PAYER, WORKSHOP, member, token_of, workshop_slot
from tests.notify.conftest import attachment, body, deliver, emails
from tests.support import ApiClient, LocalLambda


def test_each_named_member_is_told_of_their_place_once_and_when_it_is_given_back(
    api: ApiClient, lam: LocalLambda, notifications: None
) -> None:
    # Given a party of 4 whose payer named two members with an email and one without
    party = [member(1), member(2), member(3, email=False)]
    confirmed = api.confirmed_booking(
        service_id=WORKSHOP, start=workshop_slot(api), attendee=PAYER, participants=4, party=party
    )

    # When the change reaches the notifier (twice: a replayed batch)
    deliver(lam)
    deliver(lam)

    # Then each member with an email has one message naming the payer, with a calendar file; the payer their own
    for n in (1, 2):
        [booked] = emails(f"potter{n}@example.com")
        assert booked["Subject"].startswith("Booked: Ceramics Workshop")
        assert f"Hello Potter {n}," in body(booked)
        assert "Grace Hopper booked you a place" in body(booked)
        assert attachment(booked, "booking.ics") is not None
    assert [m["Subject"].split(":")[0] for m in emails(PAYER["email"])] == ["Booked"]

    # When the payer gives back member 2's seat through the manage link
    token = token_of(confirmed["manage_url"])
    response = api.post("/bookings/manage/party/cancel", {"token": token, "seats": 1, "leaving": ["Potter 2"]})
    assert response.status == 200, response.body
    deliver(lam)

    # Then member 2 is told their place was given back (the calendar file removes it); member 1 hears nothing new
    cancelled = emails("potter2@example.com")[-1]
    assert cancelled["Subject"].startswith("Cancelled: Ceramics Workshop")
    assert "Grace Hopper gave back your place" in body(cancelled)
    assert b"METHOD:CANCEL" in (attachment(cancelled, "booking.ics") or b"")
    assert len(emails("potter1@example.com")) == 1

    # When the payer cancels the whole booking
    assert api.post("/bookings/manage/cancel", {"token": token}).status == 200
    deliver(lam)

    # Then the member still in the party is told it is cancelled; member 2 is not told twice
    [_, gone] = emails("potter1@example.com")
    assert "has been cancelled" in body(gone)
    assert len(emails("potter2@example.com")) == 2


def test_a_member_added_later_is_told_at_once(api: ApiClient, lam: LocalLambda, notifications: None) -> None:
    # Given a confirmed party of 3 with nobody named
    confirmed = api.confirmed_booking(service_id=WORKSHOP, start=workshop_slot(api), attendee=PAYER, participants=3)
    deliver(lam)
    assert emails("potter7@example.com") == []

    # When the payer names a member through the manage link
    token = token_of(confirmed["manage_url"])
    assert api.post("/bookings/manage/party", {"token": token, "party": [member(7)]}).status == 200
    deliver(lam)

    # Then that member is told of their place
    [booked] = emails("potter7@example.com")
    assert "Grace Hopper booked you a place" in body(booked)
