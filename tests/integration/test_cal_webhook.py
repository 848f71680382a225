"""POST /webhooks/cal: Cal.com's events keep our bookings true to the calendar."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.support import ApiClient, booking, deliver_cal, stripe_client

ATTENDEE_EMAIL = "ada@example.com"


def _refunds(payment_intent_id: str) -> list[int]:
    return [r.amount for r in stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id}).data]


def _items() -> list[dict[str, Any]]:
    import boto3

    return boto3.client("dynamodb").scan(TableName=os.environ["TABLE_NAME"])["Items"]


def test_booking_created_confirms_a_paid_booking(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a paid booking (create-token) whose Cal.com booking exists but our side did not record it yet
    from booking.providers.calcom import NewCalBooking, calendar

    intent = api.paid_booking()
    assert api.create_token(intent).status == 201
    stored = booking(intent["booking_id"])
    created = calendar().create_booking(
        NewCalBooking(
            event_type_id=stored.event_type_id,
            start=stored.slot_start,
            attendee_name="Ada Lovelace",
            attendee_email=ATTENDEE_EMAIL,
            attendee_time_zone="America/New_York",
            metadata={"booking_id": intent["booking_id"]},
        )
    )
    # When BOOKING_CREATED arrives
    response = deliver_cal(api, cal_double, "BOOKING_CREATED", created.uid)
    # Then the booking is CONFIRMED with that uid (payment deposit paid, client, slot kept)
    assert response.status == 200 and response.body["outcome"] == "confirmed"
    confirmed = booking(intent["booking_id"])
    assert confirmed.status == "CONFIRMED" and confirmed.cal_booking_uid == created.uid
    assert confirmed.amount_paid == 8250 and confirmed.balance_due == 8250


@pytest.mark.parametrize(
    ("hours_before", "cancelled_by", "payment_type", "refunded"),
    [
        pytest.param(48, "attendee", "deposit", 8250, id="free-window-deposit"),
        pytest.param(48, "attendee", "full", 16500, id="free-window-full"),
        pytest.param(2, "attendee", "deposit", 0, id="late-deposit-is-the-fee"),
        pytest.param(2, "attendee", "full", 8250, id="late-full-minus-50pct-fee"),
        pytest.param(2, "host", "deposit", 8250, id="host-cancels-full-refund"),
    ],
)
def test_cancellation_refunds_by_the_catalog_policy_once(
    api: ApiClient,
    cal_double: CalDouble,
    hours_before: int,
    cancelled_by: str,
    payment_type: str,
    refunded: int,
) -> None:
    # Given a confirmed booking (signature-facial: free until 24 h before, then a 50% fee)
    confirmed = api.confirmed_booking(payment_type=payment_type)
    uid = confirmed["cal_booking_uid"]
    start = datetime.fromisoformat(confirmed["start"])
    by = ATTENDEE_EMAIL if cancelled_by == "attendee" else cal_double.host.email
    cal_double.cancel_booking(uid, "plans changed", by)
    at = start - timedelta(hours=hours_before)
    # When BOOKING_CANCELLED arrives, and again (a replay of the same event)
    first = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=at)
    second = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=at)
    # Then CANCELLED, the policy's refund made exactly once, the slot free again
    assert first.status == 200 and second.status == 200 and second.body["outcome"] == first.body["outcome"]
    stored = booking(confirmed["booking_id"])
    assert stored.status == "CANCELLED" and stored.amount_refunded == refunded
    assert _refunds(confirmed["payment_intent_id"]) == ([refunded] if refunded else [])
    from booking.clock import now
    from booking.dal.bookings import seat_holder

    assert seat_holder(stored.seat, now()) is None


def test_a_second_cancellation_event_never_refunds_twice(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a cancelled, refunded booking
    confirmed = api.confirmed_booking()
    uid = confirmed["cal_booking_uid"]
    cal_double.cancel_booking(uid, "", ATTENDEE_EMAIL)
    start = datetime.fromisoformat(confirmed["start"])
    deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=48))
    # When another cancellation event for it arrives (different createdAt: not a duplicate)
    response = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=47))
    # Then nothing more is refunded
    assert response.status == 200
    assert _refunds(confirmed["payment_intent_id"]) == [8250]


def test_rescheduled_moves_booking_and_slot_holds(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a confirmed booking and another free slot
    confirmed = api.confirmed_booking()
    old_start = confirmed["start"]
    new_start = next(slot["start"] for slot in api.free_slots() if slot["start"] != old_start)
    moved = cal_double.reschedule_booking(confirmed["cal_booking_uid"], new_start, by=ATTENDEE_EMAIL)
    # When BOOKING_RESCHEDULED arrives
    response = deliver_cal(api, cal_double, "BOOKING_RESCHEDULED", moved["uid"])
    # Then the booking carries the new uid and time; the old slot is free, the new one held
    assert response.status == 200 and response.body["outcome"] == "moved"
    stored = booking(confirmed["booking_id"])
    assert stored.cal_booking_uid == moved["uid"] and stored.status == "CONFIRMED"
    assert stored.slot_start == datetime.fromisoformat(new_start)
    starts = [datetime.fromisoformat(slot["start"]) for slot in api.free_slots()]
    assert datetime.fromisoformat(old_start) in starts and datetime.fromisoformat(new_start) not in starts
    assert any("rescheduled" in entry.reason for entry in stored.history)


def test_rejected_by_host_refunds_in_full(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a confirmed deposit booking the host declines
    confirmed = api.confirmed_booking()
    cal_double.emit_booking_rejected(confirmed["cal_booking_uid"], "fully booked that day")
    # When BOOKING_REJECTED arrives
    response = deliver_cal(api, cal_double, "BOOKING_REJECTED", confirmed["cal_booking_uid"])
    # Then it is cancelled with a full refund
    assert response.status == 200
    stored = booking(confirmed["booking_id"])
    assert stored.status == "CANCELLED" and stored.amount_refunded == 8250
    assert _refunds(confirmed["payment_intent_id"]) == [8250]


def test_meeting_ended_completes_and_no_show_is_recorded(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a confirmed booking
    confirmed = api.confirmed_booking()
    uid = confirmed["cal_booking_uid"]
    # When the attendee is marked absent and the meeting ends
    assert (
        deliver_cal(
            api,
            cal_double,
            "BOOKING_NO_SHOW_UPDATED",
            uid,
            extra={"bookingUid": uid, "attendees": [{"email": ATTENDEE_EMAIL, "noShow": True}]},
        ).status
        == 200
    )
    assert deliver_cal(api, cal_double, "MEETING_ENDED", uid).status == 200
    # Then the booking is COMPLETED and the no-show is on record
    stored = booking(confirmed["booking_id"])
    assert stored.status == "COMPLETED" and stored.no_show and ATTENDEE_EMAIL in stored.no_show


def test_events_for_bookings_made_outside_our_flow_are_ignored(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a booking someone made directly in Cal.com
    start = api.first_slot()
    outside = cal_double.take_slot(3815418, start)
    # When its events arrive
    created = deliver_cal(api, cal_double, "BOOKING_CREATED", outside["uid"])
    cancelled = deliver_cal(api, cal_double, "BOOKING_CANCELLED", outside["uid"])
    # Then 200, ignored
    assert created.status == 200 and created.body["outcome"].startswith("ignored")
    assert cancelled.status == 200 and cancelled.body["outcome"].startswith("ignored")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 400, id="missing"),
        pytest.param({"X-Cal-Signature-256": "0" * 64}, 401, id="wrong"),
        pytest.param({"X-Cal-Signature-256": "no-secret-provided"}, 401, id="unsigned-cal-default"),
    ],
)
def test_bad_or_missing_signature_writes_nothing(
    api: ApiClient, cal_double: CalDouble, headers: dict[str, str], status: int
) -> None:
    # Given a real event about a confirmed booking, its signature stripped or wrong
    confirmed = api.confirmed_booking()
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "", ATTENDEE_EMAIL)
    raw, _ = cal_double.build_webhook("BOOKING_CANCELLED", confirmed["cal_booking_uid"], secret="cal_whsec_suite")
    before = _items()
    # When it is posted
    response = api.request("POST", "/webhooks/cal", raw=raw, headers=headers)
    # Then it is refused and nothing is written
    assert response.status == status and response.error_code == "invalid_signature"
    assert _items() == before


def test_signature_with_another_secret_is_refused(api: ApiClient, cal_double: CalDouble) -> None:
    confirmed = api.confirmed_booking()
    response = deliver_cal(api, cal_double, "BOOKING_CANCELLED", confirmed["cal_booking_uid"], secret="other")
    assert response.status == 401
    assert booking(confirmed["booking_id"]).status == "CONFIRMED"


def test_events_too_old_to_dedupe_are_ignored(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a correctly signed cancellation created 8 days ago (a replay we can no longer recognise)
    confirmed = api.confirmed_booking()
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "", ATTENDEE_EMAIL)
    from booking.clock import now

    response = deliver_cal(
        api, cal_double, "BOOKING_CANCELLED", confirmed["cal_booking_uid"], created_at=now() - timedelta(days=8)
    )
    # Then it changes nothing
    assert response.status == 200 and "too old" in response.body["outcome"]
    assert booking(confirmed["booking_id"]).status == "CONFIRMED"


def test_failed_handling_keeps_the_event_for_the_cleanup_job(
    api: ApiClient, cal_double: CalDouble, stripe_double: StripeDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Stripe down while a cancellation is handled (the refund fails)
    confirmed = api.confirmed_booking()
    uid = confirmed["cal_booking_uid"]
    cal_double.cancel_booking(uid, "", ATTENDEE_EMAIL)
    start = datetime.fromisoformat(confirmed["start"])
    stripe_double.set_down(True)
    # When the event arrives
    failed = deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=48))
    stripe_double.set_down(False)
    # Then 503, and the event waits in the inbox (Cal.com will not send it again)
    assert failed.status == 503
    from booking.clock import now
    from booking.webhooks.inbox import pending_events

    assert pending_events(now(), 10) == []  # its first retry waits a little (backoff)
    pending = pending_events(now() + timedelta(minutes=5), 10)
    assert [source for source, _, _ in pending] == ["cal"]
