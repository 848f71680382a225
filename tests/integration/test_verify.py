"""POST /bookings/verify: redeem the token and create exactly one Cal.com booking, whatever happens."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from local.cal_double import CalDouble
from tests.integration.helpers import FACIAL_EVENT_TYPE, cal_booking_posts, instant, live_cal_bookings
from tests.support import ATTENDEE, ApiClient, Clock, booking

CONFIRMATION_FIELDS = {
    "booking_id",
    "service_id",
    "status",
    "cal_booking_uid",
    "start",
    "end",
    "amount_paid",
    "balance_due",
    "currency",
    "payment_type",
    "promo_code",
    "package_id",
    "manage_url",
}


def paid_with_token(api: ApiClient, **kwargs: Any) -> tuple[dict[str, Any], str]:
    """A booking paid at Stripe, recorded PAID, with its token; returns (intent + slot, token)."""
    slot = kwargs.pop("start", None) or api.first_slot()
    intent = api.paid_booking(start=slot, **kwargs)
    token = api.create_token(intent)
    assert token.status == 201, token.body
    assert booking(intent["booking_id"]).status == "PAID"
    return {**intent, "start": slot}, token.body["token"]


def test_verify_is_200_with_the_confirmation(api: ApiClient) -> None:
    # Given a paid booking and its token
    intent, token = paid_with_token(api)
    # When the verify page redeems it
    response = api.verify(token)
    # Then the booking is confirmed with its slot and money
    assert response.status == 200, response.body
    assert set(response.body) == CONFIRMATION_FIELDS
    assert response.body["booking_id"] == intent["booking_id"]
    assert response.body["service_id"] == "signature-facial"
    assert response.body["status"] == "confirmed"
    assert instant(response.body["start"]) == instant(intent["start"])
    assert instant(response.body["end"]) - instant(response.body["start"]) == timedelta(minutes=60)
    assert (response.body["amount_paid"], response.body["balance_due"]) == (8250, 8250)
    assert (response.body["currency"], response.body["payment_type"]) == ("usd", "deposit")


def test_verify_creates_the_cal_booking_with_the_contracts_headers_and_our_ids(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given a paid booking and its token
    intent, token = paid_with_token(api)
    # When it is verified
    response = api.verify(token)
    # Then Cal.com got one POST /v2/bookings, versioned and authenticated, for the attendee, with our ids
    [post] = cal_booking_posts(cal_double)
    assert post.status == 201
    assert post.headers["cal-api-version"] == "2024-08-13"
    assert post.headers["authorization"] == "Bearer cal_test_suite"
    assert post.json["eventTypeId"] == FACIAL_EVENT_TYPE
    assert instant(post.json["start"].replace("Z", "+00:00")) == instant(intent["start"])
    assert post.json["attendee"]["name"] == ATTENDEE["name"]
    assert post.json["attendee"]["email"] == ATTENDEE["email"]
    assert post.json["attendee"]["timeZone"] == ATTENDEE["time_zone"]
    assert post.json["metadata"]["booking_id"] == intent["booking_id"]
    assert post.json["metadata"]["payment_intent_id"] == intent["payment_intent_id"]
    # And the Cal.com booking is the one the confirmation names
    [cal] = cal_double.bookings()
    assert cal["uid"] == response.body["cal_booking_uid"]
    assert cal["metadata"]["booking_id"] == intent["booking_id"]


def test_verify_moves_the_booking_to_confirmed_with_the_cal_uid(api: ApiClient) -> None:
    intent, token = paid_with_token(api)
    response = api.verify(token)
    record = booking(intent["booking_id"])
    assert record.status == "CONFIRMED"
    assert record.cal_booking_uid == response.body["cal_booking_uid"]
    assert (record.history[-1].source, record.history[-1].target) == ("PAID", "CONFIRMED")


def test_verify_again_returns_the_same_confirmation_and_books_once(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a verified token
    _, token = paid_with_token(api)
    first = api.verify(token)
    # When the page is reloaded and verifies again
    second = api.verify(token)
    # Then the same confirmation, and still one Cal.com booking
    assert first.status == 200 and second.status == 200
    assert second.body == first.body
    assert len(cal_double.bookings()) == 1
    assert len(cal_booking_posts(cal_double)) == 1


def test_two_verifies_at_once_book_once(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a paid booking and its token
    intent, token = paid_with_token(api)
    # When two tabs verify at the same moment
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(api.verify, [token, token]))
    # Then both get the same confirmation and Cal.com has exactly one booking
    assert [r.status for r in responses] == [200, 200], [r.body for r in responses]
    assert responses[0].body == responses[1].body
    assert len(cal_double.bookings()) == 1
    assert len(cal_booking_posts(cal_double)) == 1
    assert booking(intent["booking_id"]).status == "CONFIRMED"


def test_unknown_token_is_404_token_not_found(api: ApiClient, cal_double: CalDouble) -> None:
    response = api.verify("A" * 43)
    assert response.status == 404
    assert response.error_code == "token_not_found"
    assert response.error_fields == {"token"}
    assert cal_booking_posts(cal_double) == []


def test_too_short_token_is_404_token_not_found(api: ApiClient) -> None:
    # A cut link is an unknown token, not a validation error (tests/integration/test_api_edge.py has more)
    response = api.verify("abc")
    assert response.status == 404
    assert response.error_code == "token_not_found"
    assert response.error_fields == {"token"}


def test_expired_token_is_410_and_books_nothing(api: ApiClient, cal_double: CalDouble, clock: Clock) -> None:
    intent, token = paid_with_token(api)
    clock.advance(minutes=31)
    response = api.verify(token)
    assert response.status == 410
    assert response.error_code == "token_expired"
    assert cal_booking_posts(cal_double) == []
    assert booking(intent["booking_id"]).status == "PAID"


def test_slot_taken_in_cal_is_409_and_the_booking_is_slot_unavailable_and_flagged(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given a paid booking, and someone booked the same time directly in Cal.com
    intent, token = paid_with_token(api)
    cal_double.take_slot(FACIAL_EVENT_TYPE, intent["start"])
    # When the client verifies
    response = api.verify(token)
    # Then they are told to pick another time
    assert response.status == 409
    assert response.error_code == "slot_unavailable"
    assert response.body["error"]["action"] == "pick_another_time"
    # And the booking is SLOT_UNAVAILABLE with the reason in its history, flagged for the owner, money kept
    record = booking(intent["booking_id"])
    assert record.status == "SLOT_UNAVAILABLE"
    last = record.history[-1]
    assert (last.source, last.target, last.actor) == ("PAID", "SLOT_UNAVAILABLE", "client")
    assert "Cal.com refused the slot" in last.reason
    assert record.has_flag("slot_unavailable_after_payment")
    assert record.amount_paid == 8250
    assert record.cal_booking_uid is None
    # And only the outside booking exists in Cal.com
    [outside] = cal_double.bookings()
    assert outside["attendees"][0]["email"] == "someone.else@example.com"


def test_cal_down_is_503_with_retry_after_and_the_booking_stays_paid_then_recovers(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given Cal.com is down
    intent, token = paid_with_token(api)
    cal_double.set_mode("down")
    # When the client verifies
    response = api.verify(token)
    # Then a retryable 503, and nothing lost: the booking is still PAID
    assert response.status == 503
    assert response.error_code == "calendar_unavailable"
    assert int(response.headers["retry-after"]) > 0
    record = booking(intent["booking_id"])
    assert record.status == "PAID"
    assert record.amount_paid == 8250
    assert cal_double.bookings() == []
    # When Cal.com is back and the client retries
    cal_double.set_mode("normal")
    again = api.verify(token)
    # Then the booking is confirmed, once
    assert again.status == 200, again.body
    assert len(cal_double.bookings()) == 1
    assert booking(intent["booking_id"]).status == "CONFIRMED"


def test_cal_slower_than_the_timeout_is_503_and_the_booking_stays_paid(api: ApiClient, cal_double: CalDouble) -> None:
    # Given Cal.com answers after 0.6 s while our timeout is 0.5 s (CAL_TIMEOUT_SECONDS)
    intent, token = paid_with_token(api)
    cal_double.set_mode("slow", 0.6)
    # When the client verifies
    response = api.verify(token)
    # Then 503 and the booking is still PAID
    assert response.status == 503
    assert response.error_code == "calendar_unavailable"
    assert booking(intent["booking_id"]).status == "PAID"
    # And when Cal.com is fast again, a retry confirms it, adopting the booking the slow call made
    cal_double.set_mode("normal")
    again = api.verify(token)
    assert again.status == 200, again.body
    assert len(live_cal_bookings(cal_double)) == 1
    assert live_cal_bookings(cal_double)[0]["uid"] == again.body["cal_booking_uid"]


def test_lost_answer_from_cal_is_resolved_by_finding_our_booking_not_booking_twice(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given Cal.com will create the booking but the answer is lost (500 after processing)
    intent, token = paid_with_token(api)
    cal_double.fail_next(1, 500, after_processing=True)
    # When the client verifies
    response = api.verify(token)
    # Then the retry looked the booking up by our metadata instead of creating a second
    assert response.status == 200, response.body
    [cal] = cal_double.bookings()
    assert cal["metadata"]["booking_id"] == intent["booking_id"]
    assert response.body["cal_booking_uid"] == cal["uid"]
    assert len(cal_booking_posts(cal_double)) == 1
    lookups = [r for r in cal_double.request_log if r.method == "GET" and r.path == "/v2/bookings"]
    assert lookups, "the booking was not looked up after the ambiguous failure"
    assert booking(intent["booking_id"]).status == "CONFIRMED"


def test_attendee_phone_is_sent_to_cal_within_its_contract(api: ApiClient, cal_double: CalDouble) -> None:
    # Given a client who gave a phone number
    _, token = paid_with_token(api, attendee={**ATTENDEE, "phone": "+14155550100"})
    # When verified / Then Cal.com gets it as the attendee's phoneNumber (and the contract check passes)
    assert api.verify(token).status == 200
    [post] = cal_booking_posts(cal_double)
    assert post.json["attendee"]["phoneNumber"] == "+14155550100"


def test_cal_throttling_once_is_retried_and_books_once(api: ApiClient, cal_double: CalDouble) -> None:
    # Given Cal.com answers 429 to the first call
    _, token = paid_with_token(api)
    cal_double.fail_next(1, 429)
    # When verified / Then the booking is made, once
    response = api.verify(token)
    assert response.status == 200, response.body
    assert len(cal_double.bookings()) == 1
    assert [post.status for post in cal_booking_posts(cal_double)] == [429, 201]


def test_cal_error_before_processing_is_retried_after_looking_for_our_booking(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given Cal.com fails the first create with a 500 without creating anything
    intent, token = paid_with_token(api)
    cal_double.fail_next(1, 500)
    # When verified
    response = api.verify(token)
    # Then the retry found nothing of ours and created the booking, once
    assert response.status == 200, response.body
    assert len(cal_double.bookings()) == 1
    assert [post.status for post in cal_booking_posts(cal_double)] == [500, 201]
    assert booking(intent["booking_id"]).cal_booking_uid == response.body["cal_booking_uid"]
