"""Webhooks that change nothing write nothing, and only an event whose processing fails is stored.

Per booking (the site's flow: the client verified, so the webhooks arrive after the booking is confirmed):
payment_intent.succeeded is one GetItem, our own BOOKING_CREATED one GetItem, MEETING_ENDED a GetItem and the
COMPLETED update. An event whose processing raises is kept in the inbox for the cleanup job (and Stripe, answered
an error, redelivers it); if it cannot even be kept, the answer is a 503 so the provider delivers it again.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.support import ApiClient, Clock, booking, deliver_cal, deliver_stripe, run_job, stripe_client, stripe_event
from tests.webhooks_lean.support import dynamodb_requests, failing_dynamodb, inbox_items

CLEANUP = "ExpireHoldsFunction"


def dashboard_refund(payment_intent_id: str, amount: int) -> Any:
    """A person refunds in the Stripe Dashboard (nothing of ours on it); Stripe sends charge.refunded."""
    return stripe_client().v1.refunds.create(params={"payment_intent": payment_intent_id, "amount": amount})


def test_a_confirmed_bookings_webhooks_cost_one_read_each_and_meeting_ended_one_write(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a booking the client verified (paid, confirmed in Cal.com) before any webhook arrived
    confirmed = api.confirmed_booking()
    booking_id, uid = confirmed["booking_id"], confirmed["cal_booking_uid"]
    paid = stripe_event(stripe_double, "payment_intent.succeeded", confirmed["payment_intent_id"])
    history = len(booking(booking_id).history)
    # When Stripe's payment_intent.succeeded and Cal.com's BOOKING_CREATED arrive
    with dynamodb_requests(monkeypatch) as succeeded_requests:
        succeeded = deliver_stripe(api, stripe_double, paid["id"])
    with dynamodb_requests(monkeypatch) as created_requests:
        created = deliver_cal(api, cal_double, "BOOKING_CREATED", uid)
    # Then each answers 200 with what it found, after one GetItem, and writes nothing
    assert (succeeded.status, succeeded.body["outcome"]) == (200, "recorded: booking CONFIRMED")
    assert (created.status, created.body["outcome"]) == (200, "linked (CONFIRMED)")
    assert succeeded_requests == {"GetItem": 1} and created_requests == {"GetItem": 1}
    assert len(booking(booking_id).history) == history
    # When the meeting ends (MEETING_ENDED), and the event comes again
    with dynamodb_requests(monkeypatch) as ended_requests:
        ended = deliver_cal(api, cal_double, "MEETING_ENDED", uid)
    with dynamodb_requests(monkeypatch) as again_requests:
        again = deliver_cal(api, cal_double, "MEETING_ENDED", uid)
    # Then the booking is COMPLETED by one conditional update straight from the event's booking id, and the copy's
    # update is refused (its failed condition returns the booking: nothing written)
    assert (ended.status, ended.body["outcome"]) == (200, "completed")
    assert ended_requests == {"UpdateItem": 1}
    assert (again.status, again.body["outcome"]) == (200, "ignored: booking is COMPLETED")
    assert again_requests == {"UpdateItem": 1}
    stored = booking(booking_id)
    assert stored.status == "COMPLETED" and len(stored.history) == history + 1
    # ... and no event was stored: the inbox holds only events whose processing failed
    assert inbox_items() == []


def test_an_event_whose_processing_fails_is_kept_and_the_cleanup_job_finishes_it(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock
) -> None:
    # Given a booking paid in full, refunded 2000 in the Stripe Dashboard while Stripe's API is down for us
    confirmed = api.confirmed_booking(payment_type="full")
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    refund = dashboard_refund(pi, 2000)
    event = stripe_event(stripe_double, "charge.refunded", booking(booking_id).charge_id)
    stripe_double.set_down(True)
    # When charge.refunded arrives, and Stripe redelivers it (the answer was an error)
    first = deliver_stripe(api, stripe_double, event["id"])
    second = deliver_stripe(api, stripe_double, event["id"])
    # Then both answer 503 and the event waits in the inbox once, with both failures counted
    assert (first.status, second.status) == (503, 503)
    [kept] = inbox_items()
    assert kept["pk"]["S"] == f"EVENT#stripe#{event['id']}" and kept["inbox_state"]["S"] == "PENDING"
    assert kept["attempts"]["N"] == "2" and "PaymentProviderUnavailable" in kept["last_error"]["S"]
    # When Stripe is back and the cleanup job runs after the backoff
    stripe_double.set_down(False)
    clock.advance(minutes=10)
    assert run_job(lam, CLEANUP)["events_reprocessed"] == 1
    # Then the refund is on the booking, and the event is marked processed (off the retry queue)
    stored = booking(booking_id)
    assert stored.amount_refunded == 2000 and [r.refund_id for r in stored.refunds] == [refund.id]
    [done] = inbox_items()
    assert "processed_at" in done and "inbox_state" not in done and "retry_at" not in done
    clock.advance(hours=3)
    assert run_job(lam, CLEANUP)["events_reprocessed"] == 0


def test_an_event_that_can_neither_be_processed_nor_kept_answers_503_for_the_provider_to_redeliver(
    api: ApiClient, stripe_double: StripeDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Dashboard refund whose charge.refunded finds Stripe down, and DynamoDB refusing the inbox's write
    confirmed = api.confirmed_booking(payment_type="full")
    booking_id, pi = confirmed["booking_id"], confirmed["payment_intent_id"]
    dashboard_refund(pi, 3000)
    event = stripe_event(stripe_double, "charge.refunded", booking(booking_id).charge_id)
    stripe_double.set_down(True)
    with monkeypatch.context() as scoped:
        failing_dynamodb(
            scoped, lambda operation, kwargs: operation == "PutItem" and kwargs["Item"]["pk"]["S"].startswith("EVENT#")
        )
        # When it arrives
        response = deliver_stripe(api, stripe_double, event["id"])
    # Then 503 event_not_kept: nothing was stored, the provider must deliver it again
    assert (response.status, response.error_code) == (503, "event_not_kept"), response.body
    assert inbox_items() == []
    # When Stripe redelivers it once both are back
    stripe_double.set_down(False)
    again = deliver_stripe(api, stripe_double, event["id"])
    # Then it is processed on delivery, and nothing is stored
    assert again.status == 200 and again.body["outcome"] == "refunded total 3000"
    assert booking(booking_id).amount_refunded == 3000 and inbox_items() == []
