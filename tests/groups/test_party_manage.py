"""The payer manages the party through the manage link: names members later (each with an email gets a Cal.com
seat), and cancels some of the party's seats, refunded by the cancellation policy on what Stripe says was paid."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.groups.helpers import (
    PAYER,
    WORKSHOP,
    member,
    seats_left,
    stripe_refunds,
    token_of,
    when,
    workshop_slot,
)
from tests.integration.helpers import cal_booking_posts, items_with_prefix, live_cal_bookings, stripe_posts, travel_to
from tests.support import ApiClient, Clock, booking, stripe_client


def confirmed_party(api: ApiClient, participants: int, party: list[dict[str, str]], **options: Any) -> dict[str, Any]:
    slot = workshop_slot(api)
    confirmed = api.confirmed_booking(
        service_id=WORKSHOP, start=slot, attendee=PAYER, participants=participants, party=party, **options
    )
    return {**confirmed, "slot": slot, "manage_token": token_of(confirmed["manage_url"])}


def cal_emails(cal_double: CalDouble) -> list[str]:
    [cal] = live_cal_bookings(cal_double)
    return sorted(attendee["email"] for attendee in cal["attendees"])


def test_the_payer_names_a_member_later_and_they_get_their_cal_seat(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a confirmed party of 3 booked without names
    confirmed = confirmed_party(api, 3, [])
    assert cal_emails(cal_double) == [PAYER["email"]]

    # When the payer names two members through the manage link, one with an email
    named = api.post(
        "/bookings/manage/party",
        {"token": confirmed["manage_token"], "party": [member(1), member(2, email=False)]},
    )

    # Then the booking lists them, and the one with an email is a seat of the Cal.com booking
    assert named.status == 200, named.body
    assert [entry["name"] for entry in named.body["booking"]["party"]] == ["Potter 1", "Potter 2"]
    assert cal_emails(cal_double) == sorted([PAYER["email"], "potter1@example.com"])
    record = booking(confirmed["booking_id"])
    first_seat = record.party[0].cal_seat_uid
    assert first_seat is not None and record.party[1].cal_seat_uid is None
    assert "party named through the manage link" in record.history[-2].reason

    # When the payer gives the second member an email and changes the first one's
    changed = api.post(
        "/bookings/manage/party",
        {
            "token": confirmed["manage_token"],
            "party": [{"name": "Potter 1", "email": "p1@example.org"}, member(2)],
        },
    )

    # Then the old address's seat is given back and both members have a seat at their address
    assert changed.status == 200, changed.body
    assert cal_emails(cal_double) == sorted([PAYER["email"], "p1@example.org", "potter2@example.com"])
    record = booking(confirmed["booking_id"])
    assert None not in [entry.cal_seat_uid for entry in record.party]
    assert first_seat not in [entry.cal_seat_uid for entry in record.party]

    # And a party larger than the seats is refused, naming the field, with nothing written
    posts = len(cal_booking_posts(cal_double))
    too_many = api.post(
        "/bookings/manage/party",
        {"token": confirmed["manage_token"], "party": [member(1), member(2), member(3)]},
    )
    assert (too_many.status, too_many.error_fields) == (422, {"party"})
    assert booking(confirmed["booking_id"]) == record
    assert len(cal_booking_posts(cal_double)) == posts


def test_three_of_ten_cancelled_early_get_their_full_share_back(
    api: ApiClient, cal_double: CalDouble, stripe_double: StripeDouble
) -> None:
    # Given a party of 10 paid in full (400.00), one leaving member seated in Cal.com
    confirmed = confirmed_party(api, 10, [member(1), member(2, email=False)], payment_type="full")
    assert confirmed["amount_paid"] == 40000
    assert seats_left(api, confirmed["slot"]) == 2

    # When the payer cancels three seats (Potter 1 and two unnamed) four days ahead (free until 48 h)
    response = api.post(
        "/bookings/manage/party/cancel",
        {"token": confirmed["manage_token"], "seats": 3, "leaving": ["potter1@example.com"]},
    )

    # Then their share of what was paid, 3 x 40.00, is refunded in Stripe, once
    assert response.status == 200, response.body
    refunds = stripe_refunds(confirmed["payment_intent_id"])
    assert [(r["amount"], r["metadata"]["purpose"]) for r in refunds] == [(12000, "party_cancellation")]
    # And the booking is a party of 7 at the price per seat it was booked at, its three seats freed
    record = booking(confirmed["booking_id"])
    assert (record.participants, record.total, record.balance_due, record.amount_refunded) == (7, 28000, 0, 12000)
    assert [entry.name for entry in record.party] == ["Potter 2"]
    assert len(record.seats) == 7
    assert seats_left(api, confirmed["slot"]) == 5
    assert any(line.reason.startswith("3 of 10 seats cancelled by the client") for line in record.history)
    assert record.money_state is None
    # And Potter 1's Cal.com seat is given back, the payer's stays
    assert cal_emails(cal_double) == [PAYER["email"]]
    assert booking(confirmed["booking_id"]).status == "CONFIRMED"
    assert response.body["booking"]["participants"] == 7

    # When the payer sends the same cancellation again (its answer was lost)
    refund_posts = len(stripe_posts(stripe_double, "/v1/refunds"))
    again = api.post(
        "/bookings/manage/party/cancel",
        {"token": confirmed["manage_token"], "seats": 3, "leaving": ["potter1@example.com"]},
    )
    # Then a member who left already cannot leave again, and no money moves
    assert (again.status, again.error_fields) == (422, {"leaving"})
    assert len(stripe_posts(stripe_double, "/v1/refunds")) == refund_posts


def test_late_cancellation_refunds_the_share_less_the_fee_and_the_rest_cancels_right(
    api: ApiClient, clock: Clock, stripe_double: StripeDouble
) -> None:
    # Given a party of 10 paid in full (400.00), and 24 h to the start (inside the 48 h of the late fee)
    confirmed = confirmed_party(api, 10, [], payment_type="full")
    travel_to(clock, when(confirmed["slot"]) - timedelta(hours=24))

    # When three seats are cancelled
    response = api.post("/bookings/manage/party/cancel", {"token": confirmed["manage_token"], "seats": 3})

    # Then their share 120.00 less the late fee of 50% of their price (60.00) is refunded: 60.00
    assert response.status == 200, response.body
    refunds = stripe_refunds(confirmed["payment_intent_id"])
    assert [r["amount"] for r in refunds] == [6000]
    record = booking(confirmed["booking_id"])
    assert (record.participants, record.total, record.party_fees_kept, record.party_refunds_due) == (
        7,
        28000,
        6000,
        6000,
    )
    # And the view offers the rest's own late terms: 280.00 paid for 7 seats, half kept
    assert response.body["cancellation"]["refund"] == 14000

    # When the payer then cancels the whole booking
    cancelled = api.post("/bookings/manage/cancel", {"token": confirmed["manage_token"]})

    # Then the remaining seats' share less their fee is refunded: 400 - 60 - 60 kept for the three - 140 kept
    assert cancelled.status == 200, cancelled.body
    assert sorted(r["amount"] for r in stripe_refunds(confirmed["payment_intent_id"])) == [6000, 14000]
    assert booking(confirmed["booking_id"]).amount_refunded == 20000
    assert items_with_prefix("SLOT#") == []


def test_a_deposit_party_cancelling_late_gets_nothing_back_and_owes_less(api: ApiClient, clock: Clock) -> None:
    # Given a party of 10 that paid the 200.00 deposit, 24 h before the start
    confirmed = confirmed_party(api, 10, [])
    travel_to(clock, when(confirmed["slot"]) - timedelta(hours=24))

    # When 5 seats are cancelled: their paid share (100.00) is exactly the fee (50% of their 200.00)
    response = api.post("/bookings/manage/party/cancel", {"token": confirmed["manage_token"], "seats": 5})

    # Then nothing is refunded, and the balance due drops by their share of it
    assert response.status == 200, response.body
    assert stripe_refunds(confirmed["payment_intent_id"]) == []
    record = booking(confirmed["booking_id"])
    assert (record.participants, record.total, record.balance_due, record.amount_refunded) == (5, 20000, 10000, 0)


def test_a_dashboard_refund_in_between_is_respected(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a party of 10 paid in full, and 40.00 refunded by a person in the Stripe Dashboard (no metadata)
    confirmed = confirmed_party(api, 10, [], payment_type="full")
    stripe_client().v1.refunds.create(params={"payment_intent": confirmed["payment_intent_id"], "amount": 4000})

    # When three seats are cancelled early
    response = api.post("/bookings/manage/party/cancel", {"token": confirmed["manage_token"], "seats": 3})

    # Then their share is of what the party still has paid (360.00, spread over 10 seats): 108.00
    assert response.status == 200, response.body
    refunds = stripe_refunds(confirmed["payment_intent_id"])
    assert sorted(r["amount"] for r in refunds) == [4000, 10800]
    record = booking(confirmed["booking_id"])
    assert record.amount_refunded == 14800
    assert {entry.purpose for entry in record.refunds} == {"made in Stripe", "party_cancellation"}

    # When the rest cancel early too, they get the rest of what was paid
    cancelled = api.post("/bookings/manage/cancel", {"token": confirmed["manage_token"]})
    assert cancelled.status == 200, cancelled.body
    assert sum(r["amount"] for r in stripe_refunds(confirmed["payment_intent_id"])) == 40000


def test_bad_seat_cancellations_are_refused_naming_the_field_with_nothing_written(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    confirmed = confirmed_party(api, 4, [member(1)], payment_type="full")
    before = booking(confirmed["booking_id"])
    token = confirmed["manage_token"]
    cases = [
        ({"token": token, "seats": 4}, "seats"),  # the payer's own seat goes only with the whole booking
        ({"token": token, "seats": 0}, "seats"),
        ({"token": token, "seats": 1, "leaving": ["Nobody"]}, "leaving"),
        ({"token": token, "seats": 1, "leaving": ["Potter 1", "potter1@example.com"]}, "leaving"),
        ({"token": token, "seats": 3}, "leaving"),  # only 2 seats are unnamed: say who else leaves
    ]
    for body, field in cases:
        response = api.post("/bookings/manage/party/cancel", body)
        assert (response.status, response.error_fields) == (422, {field}), (body, response.body)
    assert booking(confirmed["booking_id"]) == before
    assert stripe_posts(stripe_double, "/v1/refunds") == []


def test_a_member_seat_cancelled_in_cal_com_is_not_the_payers_and_the_booking_cancelled_takes_them_all(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given a confirmed party of 3 with two members seated in Cal.com, well ahead of the start
    confirmed = confirmed_party(api, 3, [member(1), member(2)])
    record = booking(confirmed["booking_id"])
    uid, seat = record.cal_booking_uid, record.party[0].cal_seat_uid
    assert seat is not None

    # When a member cancels their own seat in Cal.com and its webhook (no metadata, only that attendee) arrives
    raw, headers = cal_double.build_webhook(
        "BOOKING_CANCELLED", uid, seat_uid=seat, secret=os.environ["CAL_WEBHOOK_SECRET"]
    )
    cal_double.cancel_seat(uid, seat)
    delivered = api.request("POST", "/webhooks/cal", raw=raw, headers=headers)

    # Then the payer's booking is not cancelled by it: the member's seat is given back, their share refunded
    # by the policy (well ahead: in full), as if the payer had cancelled it through the manage link
    assert delivered.status == 200, delivered.body
    after = booking(confirmed["booking_id"])
    assert after.status == "CONFIRMED"
    assert (after.participants, [m.name for m in after.party]) == (2, ["Potter 2"])
    assert sum(r["amount"] for r in stripe_refunds(record.payment_intent_id or "")) == record.amount_paid // 3
    assert after.history[-1].actor == "cal.com"

    # When the payer cancels the whole booking through the manage link
    cancelled = api.post("/bookings/manage/cancel", {"token": confirmed["manage_token"]})

    # Then every seat of the party is gone from Cal.com too
    assert cancelled.status == 200, cancelled.body
    assert live_cal_bookings(cal_double) == []
