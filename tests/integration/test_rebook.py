"""POST /bookings/rebook: a paid booking whose slot was lost moves to another time on the same payment within its
service's rebook window; when the window ends unused, the cleanup job refunds it in full (issue 10, item 4)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from booking.flows.manage import manage_url
from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    FACIAL,
    FACIAL_EVENT_TYPE,
    cal_booking_posts,
    instant,
    items_with_prefix,
    live_cal_bookings,
    product_now,
)
from tests.support import ApiClient, ApiResponse, Clock, alerts, booking, pay, run_job, stripe_client

BROW = "brow-lamination"  # the catalog's service with "rebook_window_hours": 48 (45 min, 8999 usd, 50%)
BROW_EVENT_TYPE = 3815419
WINDOW = timedelta(hours=48)
CLEANUP = "ExpireHoldsFunction"
OTHER = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Chicago"}


def rebook(api: ApiClient, token: str, start: str) -> ApiResponse:
    return api.post("/bookings/rebook", {"token": token, "start": start})


def refunds_for(payment_intent_id: str) -> list[Any]:
    return list(stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100}).data)


def stripe_posts_since(stripe_double: StripeDouble, count: int) -> list[Any]:
    return [r for r in stripe_double.requests[count:] if r.method == "POST"]


def other_slots(api: ApiClient, service_id: str, *taken: str) -> list[str]:
    """Free starts of the service other than `taken`, away from the minimum notice (the clock moves in tests)."""
    lost = {instant(start) for start in taken}
    earliest = product_now() + timedelta(hours=4)
    return [
        slot["start"]
        for slot in api.free_slots(service_id)
        if instant(slot["start"]) not in lost and instant(slot["start"]) >= earliest
    ]


def late_payment_slot_lost(api: ApiClient, clock: Clock, service_id: str = BROW) -> tuple[dict[str, Any], ApiResponse]:
    """My hold lapsed, another client took the slot, then I paid: (my intent + slot, create-token's answer)."""
    slot = api.first_slot(service_id)
    mine = api.create_intent(service_id=service_id, start=slot).body
    clock.advance(minutes=16)
    theirs = api.create_intent(service_id=service_id, start=slot, attendee=OTHER)
    assert theirs.status == 201, theirs.body
    pay(mine["payment_intent_id"])
    return {**mine, "start": slot, "theirs": theirs.body["booking_id"]}, api.create_token(mine)


def refused_by_cal(
    api: ApiClient, cal_double: CalDouble, service_id: str, event_type: int
) -> tuple[dict[str, Any], str]:
    """A paid booking whose slot someone took directly in Cal.com, then verified: (intent + slot, its token)."""
    slot = api.first_slot(service_id)
    intent = api.paid_booking(service_id=service_id, start=slot)
    token = api.create_token(intent)
    assert token.status == 201, token.body
    cal_double.take_slot(event_type, slot)
    lost = api.verify(token.body["token"])
    assert (lost.status, lost.error_code) == (409, "slot_unavailable"), lost.body
    return {**intent, "start": slot, "verify": lost.body}, token.body["token"]


def test_late_payment_whose_slot_was_taken_rebooks_on_the_same_payment_and_is_confirmed(
    api: ApiClient, clock: Clock, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given my hold lapsed, another client took the slot, and my payment then arrived
    mine, response = late_payment_slot_lost(api, clock)
    # Then create-token tells me to pick another time before the window ends, with a token for it
    assert (response.status, response.error_code) == (409, "slot_unavailable"), response.body
    error = response.body["error"]
    assert (error["action"], error["service_id"]) == ("pick_another_time", BROW)  # the page shows its slots
    assert product_now() + WINDOW - timedelta(minutes=1) < instant(error["rebook_until"]) <= product_now() + WINDOW
    # And nothing is refunded: the booking waits for my choice, flagged for the owner
    lost = booking(mine["booking_id"])
    assert lost.status == "SLOT_UNAVAILABLE" and lost.auto_refund_reason is None and lost.money_state is None
    assert lost.amount_paid == mine["amount_due_now"] and refunds_for(mine["payment_intent_id"]) == []
    assert lost.has_flag("late_payment_slot_lost")
    sent = [a for a in alerts() if mine["booking_id"] in a["subject"]]
    assert len(sent) == 1 and "pick another time until" in sent[0]["message"]

    # When I pick another time with that token
    new_start = other_slots(api, BROW, mine["start"])[0]
    posts_before = len(stripe_double.requests)
    rebooked = rebook(api, error["token"], new_start)

    # Then the booking is confirmed at the new time, on the same payment
    assert rebooked.status == 200, rebooked.body
    assert rebooked.body["status"] == "confirmed" and rebooked.body["confirmation_pending"] is False
    assert instant(rebooked.body["start"]) == instant(new_start)
    assert rebooked.body["amount_paid"] == mine["amount_due_now"]
    [cal] = live_cal_bookings(cal_double)
    assert cal["uid"] == rebooked.body["cal_booking_uid"] and instant(cal["start"]) == instant(new_start)
    assert rebooked.body["manage_url"].startswith("http")  # the client can manage the booking at its new time
    assert cal["metadata"]["booking_id"] == mine["booking_id"]
    assert cal["metadata"]["payment_intent_id"] == mine["payment_intent_id"]
    # And Stripe was asked for nothing new: no PaymentIntent, no charge, no refund; the first payment is kept
    assert stripe_posts_since(stripe_double, posts_before) == []
    assert refunds_for(mine["payment_intent_id"]) == []
    intent = stripe_client().v1.payment_intents.retrieve(mine["payment_intent_id"])
    assert (intent.status, intent.amount_received) == ("succeeded", mine["amount_due_now"])
    stored = booking(mine["booking_id"])
    assert stored.status == "CONFIRMED" and stored.payment_intent_id == mine["payment_intent_id"]
    assert (stored.amount_paid, stored.amount_refunded, stored.money_state) == (mine["amount_due_now"], 0, None)
    assert stored.payout_state == "DUE"  # the provider is paid 72 h after the payment, as for any booking
    # And the history says what happened, in order
    steps = [(h.source, h.target, h.actor) for h in stored.history]
    assert steps[-2:] == [("SLOT_UNAVAILABLE", "PAID", "client"), ("PAID", "CONFIRMED", "client")]
    assert f"rebooked from {lost.slot_start.isoformat()}" in stored.history[-2].reason
    # And the seats: mine at the new time, the other client's at the old one
    seats = {item["pk"]["S"]: item["booking_id"]["S"] for item in items_with_prefix("SLOT#")}
    assert sorted(seats.values()) == sorted([mine["booking_id"], mine["theirs"]])

    # When the same rebook is sent again (the client retried)
    again = rebook(api, error["token"], new_start)
    # Then the same answer, and still one Cal.com booking
    assert (again.status, again.body) == (200, rebooked.body)
    assert len(cal_booking_posts(cal_double)) == 1


def test_rebook_after_the_window_is_409_and_the_cleanup_job_refunds_in_full_once(
    api: ApiClient, clock: Clock, lam: LocalLambda, stripe_double: StripeDouble
) -> None:
    # Given a late payment whose slot was lost, and the client did not pick another time
    mine, response = late_payment_slot_lost(api, clock)
    token = response.body["error"]["token"]
    new_start = other_slots(api, BROW, mine["start"])[-1]
    # When the cleanup job runs within the window, nothing happens
    clock.advance(hours=47)
    assert run_job(lam, CLEANUP)["rebook_windows_closed"] == 0
    assert refunds_for(mine["payment_intent_id"]) == []
    # When the window has ended and the client tries to rebook
    clock.advance(hours=1, minutes=1)
    late = rebook(api, token, new_start)
    # Then 409 rebook_window_closed, and the booking is unchanged
    assert (late.status, late.error_code) == (409, "rebook_window_closed"), late.body
    assert booking(mine["booking_id"]).status == "SLOT_UNAVAILABLE"
    # When the cleanup job runs (twice)
    first = run_job(lam, CLEANUP)
    second = run_job(lam, CLEANUP)
    # Then the payment is refunded in full, once, the owner is told, and the reason is in the history
    assert (first["rebook_windows_closed"], second["rebook_windows_closed"]) == (1, 0)
    assert [r.amount for r in refunds_for(mine["payment_intent_id"])] == [mine["amount_due_now"]]
    refunded = booking(mine["booking_id"])
    assert refunded.status == "SLOT_UNAVAILABLE" and refunded.amount_refunded == mine["amount_due_now"]
    assert refunded.money_state is None and "no other time chosen within 48 h" in (refunded.auto_refund_reason or "")
    assert refunded.has_flag("rebook_window_closed")
    assert any("no other time chosen" in a["message"] for a in alerts() if mine["booking_id"] in a["subject"])
    assert refunded.history[-1].actor == "cleanup" and "refunded in full" in refunded.history[-1].reason
    # And a rebook now is still refused
    assert rebook(api, token, new_start).error_code == "rebook_window_closed"


def test_a_service_without_a_window_refunds_a_lost_slot_at_once(
    api: ApiClient, clock: Clock, cal_double: CalDouble
) -> None:
    # Given the facial (rebook_window_hours 0): a late payment whose slot was taken, and one Cal.com refused
    late, response = late_payment_slot_lost(api, clock, FACIAL)
    refused, token = refused_by_cal(api, cal_double, FACIAL, FACIAL_EVENT_TYPE)
    # Then both are told the slot is gone, with no window and no token, and both are refunded in full at once
    assert (response.status, response.error_code) == (409, "slot_unavailable")
    for error in (response.body["error"], refused["verify"]["error"]):
        assert "rebook_until" not in error and "token" not in error
    for intent in (late, refused):
        assert [r.amount for r in refunds_for(intent["payment_intent_id"])] == [intent["amount_due_now"]]
        assert booking(intent["booking_id"]).auto_refund_reason.endswith("refunded in full")
    # And a rebook with the booking's token is refused
    assert (rebook(api, token, other_slots(api, FACIAL)[0]).error_code) == "rebook_window_closed"


def test_two_rebooks_at_once_to_two_times_exactly_one_wins(api: ApiClient, cal_double: CalDouble, clock: Clock) -> None:
    # Given Cal.com refused my paid brow lamination at verify: the answer gives the window, my token stays valid
    mine, token = refused_by_cal(api, cal_double, BROW, BROW_EVENT_TYPE)
    assert "rebook_until" in mine["verify"]["error"] and "token" not in mine["verify"]["error"]
    assert booking(mine["booking_id"]).refunds == []
    # And the booking keeps the token's hash through the window, though the token's own expiry is 30 minutes
    assert len(booking(mine["booking_id"]).token_hashes) == 1
    # Even after the token's own 30 minutes: verify says the slot is lost and until when to pick another
    clock.advance(minutes=31)
    assert api.verify(token).body["error"]["rebook_until"] == mine["verify"]["error"]["rebook_until"]
    first, second = other_slots(api, BROW, mine["start"])[:2]
    barrier = threading.Barrier(2)

    def ask(start: str) -> ApiResponse:
        barrier.wait()
        return rebook(api, token, start)

    # When two rebooks to two different times arrive at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = dict(zip((first, second), pool.map(ask, (first, second)), strict=True))

    # Then exactly one wins; the other is told the booking moved already
    assert sorted(a.status for a in answers.values()) == [200, 409], {s: a.body for s, a in answers.items()}
    [(won, answer)] = [(start, a) for start, a in answers.items() if a.status == 200]
    [lost] = [a for a in answers.values() if a.status == 409]
    assert lost.error_code == "already_rebooked" and instant(lost.body["error"]["start"]) == instant(won)
    stored = booking(mine["booking_id"])
    assert stored.status == "CONFIRMED" and instant(stored.slot_start.isoformat()) == instant(won)
    # And my booking holds one seat (the winner's), and Cal.com has one booking of mine, at that time
    mine_seats = [i for i in items_with_prefix("SLOT#") if i["booking_id"]["S"] == mine["booking_id"]]
    assert len(mine_seats) == 1 and mine_seats[0]["pk"]["S"].endswith(instant(won).strftime("%Y-%m-%dT%H:%M:%SZ"))
    ours = [b for b in live_cal_bookings(cal_double) if b["metadata"].get("booking_id") == mine["booking_id"]]
    assert [instant(b["start"]) for b in ours] == [instant(won)] and ours[0]["uid"] == answer.body["cal_booking_uid"]


def test_rebook_to_a_slot_someone_holds_is_409_and_changes_nothing(
    api: ApiClient, clock: Clock, stripe_double: StripeDouble
) -> None:
    # Given my lost booking, and another client holding the time I want
    mine, response = late_payment_slot_lost(api, clock)
    wanted = other_slots(api, BROW, mine["start"])[0]
    assert api.create_intent(service_id=BROW, start=wanted, attendee=OTHER | {"email": "x@example.com"}).status == 201
    before = booking(mine["booking_id"])
    seats_before = items_with_prefix("SLOT#")
    posts_before = len(stripe_double.requests)
    # When I ask for that time
    taken = rebook(api, response.body["error"]["token"], wanted)
    # Then 409 slot_taken, and nothing changed: the booking, the seats, Stripe
    assert (taken.status, taken.error_code) == (409, "slot_taken"), taken.body
    after = booking(mine["booking_id"])
    assert (after.status, after.slot_start, len(after.history)) == (
        "SLOT_UNAVAILABLE",
        before.slot_start,
        len(before.history),
    )
    assert items_with_prefix("SLOT#") == seats_before
    assert stripe_posts_since(stripe_double, posts_before) == []
    # And another free time still works
    assert rebook(api, response.body["error"]["token"], other_slots(api, BROW, mine["start"], wanted)[0]).status == 200


def test_calendar_down_leaves_the_rebooked_booking_paid_and_the_cleanup_job_confirms_it(
    api: ApiClient, clock: Clock, cal_double: CalDouble, lam: LocalLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given my lost booking, and Cal.com goes down right after it listed the slots for my new time
    mine, response = late_payment_slot_lost(api, clock)
    new_start = other_slots(api, BROW, mine["start"])[0]
    listed = cal_double.calendar.available_slots

    def list_then_go_down(*args: Any, **kwargs: Any) -> Any:
        slots = listed(*args, **kwargs)
        cal_double.set_mode("down")
        return slots

    monkeypatch.setattr(cal_double.calendar, "available_slots", list_then_go_down)
    # When I rebook
    pending = rebook(api, response.body["error"]["token"], new_start)
    # Then the new time is mine and paid; the confirmation is pending
    assert pending.status == 200, pending.body
    assert (pending.body["status"], pending.body["confirmation_pending"]) == ("paid", True)
    assert pending.body["cal_booking_uid"] is None and instant(pending.body["start"]) == instant(new_start)
    # When Cal.com is back and the cleanup job runs
    monkeypatch.undo()
    cal_double.set_mode("normal")
    clock.advance(minutes=4)
    assert run_job(lam, CLEANUP)["bookings_confirmed"] == 1
    # Then the booking is confirmed at the new time, and no "link expired" alert was raised for it
    stored = booking(mine["booking_id"])
    assert stored.status == "CONFIRMED" and instant(stored.slot_start.isoformat()) == instant(new_start)
    assert not stored.has_flag("token_expired_unconfirmed")


def test_rebook_input_is_checked(api: ApiClient, clock: Clock) -> None:
    mine, response = late_payment_slot_lost(api, clock)
    token = response.body["error"]["token"]
    start = other_slots(api, BROW, mine["start"])[0]
    # Missing or malformed fields: 422 naming each
    assert api.post("/bookings/rebook", {"token": token}).error_fields == {"start"}
    assert api.post("/bookings/rebook", {"start": start}).error_fields == {"token"}
    assert rebook(api, token, start.replace("+", "").split("T")[0]).error_fields == {"start"}
    assert rebook(api, "short", start).error_fields == {"token"}
    # An unknown token: 404
    unknown = rebook(api, "x" * 43, start)
    assert (unknown.status, unknown.error_code) == (404, "token_not_found")
    # A start the calendar does not offer: 422 like create-intent
    odd = (instant(start) + timedelta(minutes=7)).isoformat()
    not_offered = rebook(api, token, odd)
    assert (not_offered.status, not_offered.error_code, not_offered.error_fields) == (
        422,
        "slot_not_offered",
        {"start"},
    )
    # A booking whose slot was not lost: 409
    confirmed = api.confirmed_booking(service_id=BROW, start=start, attendee=OTHER)
    closed = rebook(api, confirmed["token"], other_slots(api, BROW, mine["start"], start)[0])
    assert (closed.status, closed.error_code) == (409, "booking_closed")
    assert booking(mine["booking_id"]).status == "SLOT_UNAVAILABLE"


# --- through the manage link (the slot-lost message names it) ----------------------------------------------------


def manage(api: ApiClient, url: str, action: str = "", **body: Any) -> ApiResponse:
    token = parse_qs(urlsplit(url).query)["token"][0]
    return api.post(f"/bookings/manage{'/' + action if action else ''}", {"token": token, **body})


def test_a_lost_booking_s_manage_link_says_so_and_moves_it_on_the_same_payment(
    api: ApiClient, clock: Clock, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given a late payment whose slot was taken: the slot-lost message names the booking's manage link
    mine, _ = late_payment_slot_lost(api, clock)
    url = manage_url(booking(mine["booking_id"]))
    assert url

    # When the client opens it
    shown = manage(api, url)

    # Then it says the slot was lost, that cancelling refunds everything, and that another time may be picked
    assert shown.status == 200, shown.body
    assert shown.body["booking"]["status"] == "slot_unavailable"
    assert shown.body["cancellation"] | {"reason": ""} == {
        "allowed": True,
        "refund": mine["amount_due_now"],
        "fee": 0,
        "credit_returned": None,
        "reason": "",
    }
    assert shown.body["reschedule"]["allowed"] and "pick another time until" in shown.body["reschedule"]["reason"]

    # When the client picks another time through the link
    new_start = other_slots(api, BROW, mine["start"])[0]
    posts_before = len(stripe_double.requests)
    moved = manage(api, url, "reschedule", start=new_start)

    # Then the booking is rebooked (not moved in Cal.com: it had no Cal.com booking) on the same payment
    assert moved.status == 200, moved.body
    assert moved.body["booking"]["status"] == "confirmed"
    assert instant(moved.body["booking"]["start"]) == instant(new_start)
    assert moved.body["booking"]["reschedule_count"] == 0  # a rebook is not one of the client's reschedules
    [cal] = live_cal_bookings(cal_double)
    assert instant(cal["start"]) == instant(new_start) and cal["metadata"]["booking_id"] == mine["booking_id"]
    assert stripe_posts_since(stripe_double, posts_before) == []
    stored = booking(mine["booking_id"])
    assert [(h.source, h.target) for h in stored.history][-2:] == [("SLOT_UNAVAILABLE", "PAID"), ("PAID", "CONFIRMED")]
    # And the same link keeps working at the new time, and the same request again changes nothing
    assert manage_url(stored) == url
    again = manage(api, url, "reschedule", start=new_start)
    assert (again.status, again.body) == (200, moved.body)


def test_cancelling_a_lost_booking_through_its_link_refunds_it_in_full_once(
    api: ApiClient, clock: Clock, lam: LocalLambda
) -> None:
    mine, _ = late_payment_slot_lost(api, clock)
    url = manage_url(booking(mine["booking_id"]))
    assert url

    cancelled = manage(api, url, "cancel")
    again = manage(api, url, "cancel")

    assert cancelled.status == 200, cancelled.body
    assert [r.amount for r in refunds_for(mine["payment_intent_id"])] == [mine["amount_due_now"]]
    stored = booking(mine["booking_id"])
    assert stored.status == "SLOT_UNAVAILABLE" and stored.amount_refunded == mine["amount_due_now"]
    assert "the client chose the refund" in (stored.auto_refund_reason or "")
    assert stored.history[-1].actor == "client"
    assert cancelled.body["cancellation"]["allowed"] is False
    assert cancelled.body["cancellation"]["refund"] == mine["amount_due_now"]
    assert cancelled.body["reschedule"]["allowed"] is False
    assert (again.status, again.error_code) == (409, "booking_closed")
    # Nothing more to do for the cleanup job, and no other time may be picked now
    clock.advance(hours=49)
    assert run_job(lam, CLEANUP)["rebook_windows_closed"] == 0
    assert len(refunds_for(mine["payment_intent_id"])) == 1
    late = manage(api, url, "reschedule", start=other_slots(api, BROW, mine["start"])[0])
    assert (late.status, late.error_code) == (409, "rebook_window_closed")


def test_after_the_window_a_lost_booking_s_link_offers_no_other_time(api: ApiClient, clock: Clock) -> None:
    mine, _ = late_payment_slot_lost(api, clock)
    url = manage_url(booking(mine["booking_id"]))
    assert url
    clock.advance(hours=48, minutes=1)

    shown = manage(api, url)
    moved = manage(api, url, "reschedule", start=other_slots(api, BROW, mine["start"])[0])

    assert shown.status == 200 and shown.body["reschedule"]["allowed"] is False
    assert shown.body["cancellation"]["allowed"]  # the refund is owed either way: asking for it takes it now
    assert (moved.status, moved.error_code) == (409, "rebook_window_closed")
    assert booking(mine["booking_id"]).status == "SLOT_UNAVAILABLE"
