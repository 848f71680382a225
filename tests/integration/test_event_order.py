"""Order independence: a booking's Stripe and Cal.com events, duplicated and shuffled, end where an in-order
delivery ends, and Stripe sees at most one refund per booking.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.conftest import reset_world
from tests.support import ApiClient, booking, pay, stripe_client, stripe_event

EVENTS = ("payment_intent.succeeded", "BOOKING_CREATED", "BOOKING_CANCELLED")
_reference: dict[str, dict[str, Any]] = {}


def _scenario(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, start_from: str, payment_type: str
) -> dict[str, Any]:
    """What really happened, before any webhook is delivered; returns how to deliver each event.

    - "verified": the client paid, created the token and verified: CONFIRMED with the Cal.com uid.
    - "lost_confirmation": the client paid and created the token; verify's Cal.com booking landed but the
      Lambda died before recording it (PAID, no uid).
    Then the client cancels in Cal.com 2 h before the start (inside the 24 h fee window).
    """
    from booking.clock import now
    from booking.dal import bookings as store
    from booking.providers.calcom import NewCalBooking, calendar

    reset_world(stripe_double, cal_double)
    intent = api.create_intent(payment_type=payment_type).body
    pay(intent["payment_intent_id"])
    assert api.create_token(intent).status == 201
    stored = booking(intent["booking_id"])
    if start_from == "verified":
        token = api.create_token(intent).body["token"]
        uid = api.verify(token).body["cal_booking_uid"]
    else:
        assert store.acquire_calendar_lease(stored, now=now(), until=now() + timedelta(seconds=30)) is not None
        uid = (
            calendar()
            .create_booking(
                NewCalBooking(
                    event_type_id=stored.event_type_id,
                    start=stored.slot_start,
                    attendee_name=stored.attendee.name,
                    attendee_email=stored.attendee.email,
                    attendee_time_zone=stored.attendee.time_zone,
                    metadata={"booking_id": stored.booking_id, "payment_intent_id": intent["payment_intent_id"]},
                )
            )
            .uid
        )
        store.release_calendar_lease(stored.booking_id, error="the Lambda timed out")  # as the lease expiring would
    created = cal_double.build_webhook("BOOKING_CREATED", uid, secret="cal_whsec_suite")
    cal_double.cancel_booking(uid, "cannot make it", stored.attendee.email)
    cancelled = cal_double.build_webhook(
        "BOOKING_CANCELLED", uid, secret="cal_whsec_suite", created_at=stored.slot_start - timedelta(hours=2)
    )
    succeeded = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    raw = stripe_double.event_payload(succeeded["id"])
    return {
        "intent": intent,
        "cal_uid": uid,
        "payment_intent.succeeded": ("/webhooks/stripe", raw, None),
        "BOOKING_CREATED": ("/webhooks/cal", *created),
        "BOOKING_CANCELLED": ("/webhooks/cal", *cancelled),
    }


def _deliver(api: ApiClient, stripe_double: StripeDouble, scenario: dict[str, Any], name: str) -> int:
    path, raw, headers = scenario[name]
    if headers is None:  # Stripe signs at send time
        headers = {"Stripe-Signature": stripe_double.signature_header(raw, "whsec_suite")}
    return api.request("POST", path, raw=raw, headers=headers).status


def _outcome(scenario: dict[str, Any]) -> dict[str, Any]:
    from booking.clock import now
    from booking.dal.bookings import seat_holder

    stored = booking(scenario["intent"]["booking_id"])
    refunds = stripe_client().v1.refunds.list(params={"payment_intent": scenario["intent"]["payment_intent_id"]})
    return {
        "status": stored.status,
        "amount_paid": stored.amount_paid,
        "amount_refunded": stored.amount_refunded,
        "stripe_refunds": sorted(r.amount for r in refunds.data),
        "cal_uid_linked": stored.cal_booking_uid == scenario["cal_uid"],
        "slot_free": seat_holder(stored.seat, now()) is None,
        "cancelled_by": stored.cancelled_by,
        "flags": sorted(flag.code for flag in stored.flags),
    }


def _in_order(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, start_from: str, payment_type: str
) -> dict[str, Any]:
    key = f"{start_from}/{payment_type}"
    if key not in _reference:
        scenario = _scenario(api, stripe_double, cal_double, start_from, payment_type)
        for name in EVENTS:
            assert _deliver(api, stripe_double, scenario, name) == 200
        _reference[key] = _outcome(scenario)
    return _reference[key]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    start_from=st.sampled_from(["verified", "lost_confirmation"]),
    payment_type=st.sampled_from(["deposit", "full"]),
)
def test_any_order_with_duplicates_ends_like_in_order_delivery(
    api: ApiClient,
    stripe_double: StripeDouble,
    cal_double: CalDouble,
    data: st.DataObject,
    start_from: str,
    payment_type: str,
) -> None:
    # Given the in-order outcome, and the same three events shuffled with duplicates
    expected = _in_order(api, stripe_double, cal_double, start_from, payment_type)
    order = list(data.draw(st.permutations(EVENTS), label="order"))
    for duplicate in data.draw(st.lists(st.sampled_from(EVENTS), max_size=3), label="duplicates"):
        order.insert(data.draw(st.integers(0, len(order)), label="at"), duplicate)
    scenario = _scenario(api, stripe_double, cal_double, start_from, payment_type)
    # When they arrive in that order
    statuses = [_deliver(api, stripe_double, scenario, name) for name in order]
    # Then every delivery is accepted and the booking ends exactly as in order, with at most one refund
    assert statuses == [200] * len(order)
    outcome = _outcome(scenario)
    assert outcome == expected
    assert len(outcome["stripe_refunds"]) <= 1
    assert len(cal_double.bookings()) == 1  # never booked again in Cal.com


@pytest.mark.parametrize("start_from", ["verified", "lost_confirmation"])
def test_in_order_outcome_follows_the_policy(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, start_from: str
) -> None:
    # A deposit cancelled inside the fee window is exactly the fee; a full payment gets half back.
    deposit = _in_order(api, stripe_double, cal_double, start_from, "deposit")
    assert deposit["status"] == "CANCELLED" and deposit["stripe_refunds"] == [] and deposit["cal_uid_linked"]
    full = _in_order(api, stripe_double, cal_double, start_from, "full")
    assert full["status"] == "CANCELLED" and full["stripe_refunds"] == [8250] and full["slot_free"]
