"""Issue 9, failures 11-13: Cal.com is the truth for the calendar. A cancellation is priced on the start of the
Cal.com booking that was cancelled, whatever order the reschedule and cancel webhooks come in; a cancellation and a
reschedule at once never leave a seat held; a lost webhook is repaired by reading Cal.com again.

Each test names the failure of issue 9 it guards against. Cal.com posts each webhook once: in these tests a webhook
reaches the product only when the test delivers it, so "lost" means never delivered.
"""

from __future__ import annotations

import os
import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    FACIAL,
    MONDAY,
    instant,
    iso,
    live_seats_per_slot,
    local,
    next_weekday,
    travel_to,
)
from tests.support import ApiClient, ApiResponse, Clock, Worker, owner_headers, run_job, stripe_client

CLEANUP = "ExpireHoldsFunction"
PAYOUTS = "PayoutsCronFunction"
OWNER = owner_headers()
ATTENDEE_EMAIL = "ada@example.com"

FACIAL_DEPOSIT = 8250  # signature facial: 16500, 50% deposit, free until 24 h, then a fee of 50% of the price
BROW = "brow-lamination"  # 8999, 50% deposit (4500), provider acct_1LocalBrowArtist paid 72 h after payment
BROW_DEPOSIT = 4500

HeldWebhook = tuple[bytes, dict[str, str]]


def owner_view(api: ApiClient, booking_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/admin/bookings/{booking_id}", headers=OWNER)
    assert response.status == 200, response.body
    return response.body


def flag_codes(view: dict[str, Any]) -> set[str]:
    return {flag["code"] for flag in view["flags"]}


def refunded_amounts(payment_intent_id: str) -> list[int]:
    """Stripe's refunds of the payment that count as money returned (succeeded or pending), sorted."""
    refunds = stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100}).data
    return sorted(r.amount for r in refunds if r.status in ("succeeded", "pending"))


def net_transferred(booking_id: str) -> int:
    found = stripe_client().v1.transfers.list(params={"transfer_group": f"booking_{booking_id}", "limit": 100}).data
    return sum(t.amount - t.amount_reversed for t in found)


def offered(api: ApiClient, service_id: str = FACIAL) -> set[datetime]:
    """Slot starts /availability offers this week (Cal.com's free slots minus our held seats)."""
    response = api.get("/availability", service_id=service_id, days=7)
    assert response.status == 200, response.body
    return {instant(slot["start"]) for day in response.body["days"] for slot in day["slots"]}


def monday_at(clock: Clock, hour: int, minute: int = 0) -> date:
    """Travel to a coming Monday at hour:minute business time; the week's weekdays are open 9-17."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, hour, minute))
    return monday


def held(cal_double: CalDouble, trigger: str, uid: str) -> HeldWebhook:
    """The webhook Cal.com sends now, signed, held back to be posted later (a late or reordered delivery)."""
    return cal_double.build_webhook(trigger, uid, secret=os.environ["CAL_WEBHOOK_SECRET"])


def post(api: ApiClient, webhook: HeldWebhook) -> ApiResponse:
    raw, headers = webhook
    return api.request("POST", "/webhooks/cal", raw=raw, headers=headers)


def reschedule_then_cancel(cal_double: CalDouble, uid: str, new_start: datetime) -> tuple[str, HeldWebhook]:
    """In Cal.com's UI the client moves the booking (a new uid replaces it), then cancels the new booking.

    Returns the new uid and the BOOKING_RESCHEDULED webhook Cal.com sent at the move (held, not delivered).
    """
    moved = cal_double.reschedule_booking(uid, new_start, by=ATTENDEE_EMAIL)
    rescheduled = held(cal_double, "BOOKING_RESCHEDULED", moved["uid"])
    cal_double.cancel_booking(moved["uid"], "cannot make it after all", ATTENDEE_EMAIL)
    return moved["uid"], rescheduled


# === failure 11 ================================================================================================


@pytest.mark.parametrize(
    ("now_at", "booked_at", "moved_to", "deliver_reschedule", "refund"),
    [
        pytest.param((13, 0), (1, 9), (4, 16), True, FACIAL_DEPOSIT, id="moved-20h-to-99h-cancel-before-reschedule"),
        pytest.param((7, 24), (1, 9), (0, 16), True, 0, id="moved-25.6h-to-8.6h-cancel-before-reschedule"),
        pytest.param((13, 0), (1, 9), (4, 16), False, FACIAL_DEPOSIT, id="moved-20h-to-99h-reschedule-webhook-lost"),
    ],
)
def test_failure_11_a_cancellation_is_priced_on_the_start_of_the_booking_that_was_cancelled(
    api: ApiClient,
    cal_double: CalDouble,
    clock: Clock,
    now_at: tuple[int, int],
    booked_at: tuple[int, int],
    moved_to: tuple[int, int],
    deliver_reschedule: bool,
    refund: int,
) -> None:
    """Failure 11: a cancellation was refunded against the booking's old start.

    Given a confirmed signature facial deposit (8250), booked on a Monday for Tuesday 9:00, that the client moves in
      Cal.com (from 20 h ahead to 99 h ahead, or from 25.6 h ahead to 8.6 h ahead) and then cancels at once
    When BOOKING_CANCELLED arrives before BOOKING_RESCHEDULED (or BOOKING_RESCHEDULED is lost)
    Then the refund follows the policy for the start of the Cal.com booking that was cancelled: 8250 (free, more
      than 24 h ahead) or 0 (late: the 50% fee is the whole deposit); the late reschedule is ignored, the booking
      stays CANCELLED and no seat stays held
    """
    monday = monday_at(clock, *now_at)
    old_start = local(monday + timedelta(days=booked_at[0]), booked_at[1])
    new_start = local(monday + timedelta(days=moved_to[0]), moved_to[1])
    confirmed = api.confirmed_booking(start=iso(old_start))
    assert owner_view(api, confirmed["booking_id"])["payment"]["amount_paid"] == FACIAL_DEPOSIT

    new_uid, rescheduled = reschedule_then_cancel(cal_double, confirmed["cal_booking_uid"], new_start)
    cancelled = post(api, held(cal_double, "BOOKING_CANCELLED", new_uid))
    late = post(api, rescheduled) if deliver_reschedule else None

    assert cancelled.status == 200, cancelled.body
    assert late is None or late.status == 200, late.body
    assert refunded_amounts(confirmed["payment_intent_id"]) == ([refund] if refund else [])
    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert not live_seats_per_slot(), "a seat stays held for a cancelled booking"


# === failure 12 ================================================================================================


def test_failure_12_a_cancellation_and_a_reschedule_at_once_leave_no_seat_held(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 12: a slot could stay blocked forever.

    Given a confirmed signature facial the client moves to another slot in Cal.com and then cancels
    When BOOKING_CANCELLED and BOOKING_RESCHEDULED are handled at once, the reschedule committing exactly while
      the cancellation is between its read of the booking and its write (before it looks at the seat)
    Then the booking is CANCELLED, no seat item is held, and /availability offers both slots again
    """
    from pynamodb.connection.base import Connection

    slots = [instant(slot["start"]) for slot in api.free_slots()]
    old_start, new_start = slots[2], slots[5]  # clear of the minimum notice while the test runs
    confirmed = api.confirmed_booking(start=iso(old_start))
    new_uid, rescheduled = reschedule_then_cancel(cal_double, confirmed["cal_booking_uid"], new_start)
    cancelled = held(cal_double, "BOOKING_CANCELLED", new_uid)

    cancel_thread: list[int] = []
    reschedule = Worker(lambda: post(api, rescheduled))
    real = Connection.dispatch

    def reschedule_commits_first(self: Connection, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        seat_read = operation == "GetItem" and str(kwargs.get("Key", {}).get("pk", {}).get("S", "")).startswith("SLOT#")
        if seat_read and threading.get_ident() in cancel_thread and not reschedule.is_alive() and not reschedule.ran:
            reschedule.ran = True
            reschedule.start()
            reschedule.join(15)
        return real(self, operation, kwargs)

    def cancel() -> ApiResponse:
        cancel_thread.append(threading.get_ident())
        return post(api, cancelled)

    with monkeypatch.context() as patched:
        patched.setattr(Connection, "dispatch", reschedule_commits_first)
        cancelling = Worker(cancel)
        cancelling.start()
        cancelling.join(60)
        if not reschedule.ran:  # the cancellation never looked at a seat: deliver the reschedule right after
            reschedule.ran = True
            reschedule.start()
        reschedule.join(60)
    assert reschedule.ran and cancelling.error is None and reschedule.error is None
    for response in (cancelling.result, reschedule.result):  # Cal.com never redelivers: the inbox job retries
        if response.status != 200:
            clock.advance(minutes=10)
            run_job(lam, CLEANUP)

    assert owner_view(api, confirmed["booking_id"])["status"] == "CANCELLED"
    assert not live_seats_per_slot(), "a seat stays held for a cancelled booking"
    assert {old_start, new_start} <= offered(api)


# === failure 13 ================================================================================================


def test_failure_13_a_lost_cancellation_of_a_booking_starting_soon_is_repaired_by_the_cleanup_job(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 13 (starting soon): a lost BOOKING_CANCELLED left the booking CONFIRMED and nothing refunded.

    Given a confirmed signature facial deposit (8250) starting in 44 h, cancelled by the client in Cal.com,
      whose BOOKING_CANCELLED webhook is lost
    When the cleanup job runs (it reads Cal.com again for bookings starting within 48 h)
    Then the booking is cancelled here with the policy's refund (free window: 8250), once, and flagged
      calendar_reconciled
    """
    monday = monday_at(clock, 13)
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=2), 9)))
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "cannot make it", ATTENDEE_EMAIL)  # webhook lost

    clock.advance(minutes=5)
    run_job(lam, CLEANUP)
    clock.advance(minutes=5)
    run_job(lam, CLEANUP)

    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert refunded_amounts(confirmed["payment_intent_id"]) == [FACIAL_DEPOSIT]
    assert "calendar_reconciled" in flag_codes(view)


def test_failure_13_a_lost_cancellation_is_repaired_before_the_payout(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Clock
) -> None:
    """Failure 13 (before the payout): a lost BOOKING_CANCELLED let the provider be paid 72 h later.

    Given a confirmed brow lamination deposit (4500) a week ahead, cancelled by the client in Cal.com the day it
      was booked, whose BOOKING_CANCELLED webhook is lost
    When the payout run comes 73 h later (the booking is still 3 days ahead: not yet in the cleanup job's window)
    Then it reads Cal.com first: the booking is cancelled with the policy's refund (free window: 4500), flagged
      calendar_reconciled, and the provider is paid nothing
    """
    monday = monday_at(clock, 13)
    confirmed = api.confirmed_booking(service_id=BROW, start=iso(local(monday + timedelta(days=7), 9)))
    assert owner_view(api, confirmed["booking_id"])["payment"]["amount_paid"] == BROW_DEPOSIT
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "cannot make it", ATTENDEE_EMAIL)  # webhook lost

    clock.advance(hours=73)
    run_job(lam, PAYOUTS)

    assert net_transferred(confirmed["booking_id"]) == 0
    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert refunded_amounts(confirmed["payment_intent_id"]) == [BROW_DEPOSIT]
    assert "calendar_reconciled" in flag_codes(view)


# === found by the chaos test ====================================================================================


def test_a_late_booking_created_of_the_booking_before_a_reschedule_is_not_a_duplicate(
    api: ApiClient, cal_double: CalDouble, clock: Clock
) -> None:
    """Given a confirmed booking that the client moved in Cal.com, the reschedule already handled here
    When the original booking's BOOKING_CREATED arrives late (held, reordered)
    Then it is ignored (Cal.com says that booking was rescheduled): no duplicate_calendar_booking flag, no alert
    """
    monday = monday_at(clock, 8)
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=2), 10)))
    uid, booking_id = confirmed["cal_booking_uid"], confirmed["booking_id"]
    created = held(cal_double, "BOOKING_CREATED", uid)
    moved = cal_double.reschedule_booking(uid, local(monday + timedelta(days=3), 11), by=ATTENDEE_EMAIL)
    assert post(api, held(cal_double, "BOOKING_RESCHEDULED", moved["uid"])).status == 200

    late = post(api, created)

    assert late.status == 200 and late.body["outcome"].startswith("ignored"), late.body
    view = owner_view(api, booking_id)
    assert "duplicate_calendar_booking" not in flag_codes(view)
    assert view["cal_booking_uid"] == moved["uid"] and view["status"] == "CONFIRMED"


def test_a_lost_cancellation_whose_canceller_cal_com_does_not_say_is_priced_for_the_client_and_flagged(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, clock: Clock
) -> None:
    """Given a confirmed skin consultation (5000 paid in full, free until 12 h, then a 100% fee; a seated event
      type, whose bookings Cal.com reads back without `cancelledByEmail`), cancelled in Cal.com 10 h before its
      start by the host, the BOOKING_CANCELLED webhook lost
    When the cleanup job finds it cancelled
    Then it is cancelled here and priced as the client's cancellation, the reversible choice (the fee is kept:
      no refund), and the owner's flag says Cal.com did not say who cancelled
    """
    monday = monday_at(clock, 8)
    confirmed = api.confirmed_booking(service_id="skin-consultation", start=iso(local(monday + timedelta(days=1), 10)))
    travel_to(clock, local(monday, 23, 55))
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "host is ill", cal_double.host.email)  # webhook lost

    run_job(lam, CLEANUP)

    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED"
    assert refunded_amounts(confirmed["payment_intent_id"]) == []
    [reconciled] = [flag for flag in view["flags"] if flag["code"] == "calendar_reconciled"]
    assert "does not say who cancelled" in reconciled["reason"]


def test_a_lost_cancellation_found_while_stripe_is_down_is_flagged_then_refunded_by_the_money_sweep(
    api: ApiClient, lam: LocalLambda, cal_double: CalDouble, stripe_double: StripeDouble, clock: Clock
) -> None:
    """Given a confirmed facial deposit (8250) starting in 44 h, cancelled by the client in Cal.com, the webhook lost
    When the cleanup job finds it while Stripe is down, and runs again once Stripe is back and the delay is over
    Then the booking is cancelled and flagged at once, and the refund is made by the money sweep, once
    """
    monday = monday_at(clock, 13)
    confirmed = api.confirmed_booking(start=iso(local(monday + timedelta(days=2), 9)))
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "cannot make it", ATTENDEE_EMAIL)  # webhook lost

    stripe_double.set_down(True)
    run_job(lam, CLEANUP)
    stripe_double.set_down(False)
    view = owner_view(api, confirmed["booking_id"])
    assert view["status"] == "CANCELLED" and "calendar_reconciled" in flag_codes(view)
    assert refunded_amounts(confirmed["payment_intent_id"]) == [] and not view["payment"]["money_settled"]

    clock.advance(minutes=10)
    run_job(lam, CLEANUP)
    run_job(lam, CLEANUP)

    assert refunded_amounts(confirmed["payment_intent_id"]) == [FACIAL_DEPOSIT]
    assert owner_view(api, confirmed["booking_id"])["payment"]["money_settled"]
