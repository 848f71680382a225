"""create-intent's `notify: {email, sms}`: the client's choice of messages, stored on the booking, echoed in the
answer, part of the request an Idempotency-Key names; a text message needs a phone number."""

from __future__ import annotations

from tests.integration.helpers import items_with_prefix
from tests.support import ATTENDEE, ApiClient, booking, unique_key

WITH_PHONE = {**ATTENDEE, "phone": "+14155550100"}


def test_without_notify_the_client_gets_emails_and_no_texts(api: ApiClient) -> None:
    # When a booking is started without a choice
    response = api.create_intent()
    # Then emails yes, texts no: stored and echoed
    assert response.status == 201, response.body
    assert response.body["notify"] == {"email": True, "sms": False}
    stored = booking(response.body["booking_id"])
    assert (stored.notify_email, stored.notify_sms) == (True, False)


def test_the_clients_choice_is_stored_on_the_booking_and_echoed(api: ApiClient) -> None:
    # When the client asks for texts and no emails, with a phone number
    response = api.create_intent(attendee=WITH_PHONE, notify={"email": False, "sms": True})
    # Then the booking carries that choice, and the answer says so
    assert response.status == 201, response.body
    assert response.body["notify"] == {"email": False, "sms": True}
    stored = booking(response.body["booking_id"])
    assert (stored.notify_email, stored.notify_sms) == (False, True)


def test_a_partial_choice_keeps_the_other_default(api: ApiClient) -> None:
    response = api.create_intent(attendee=WITH_PHONE, notify={"sms": True})
    assert response.status == 201, response.body
    assert response.body["notify"] == {"email": True, "sms": True}


def test_texts_without_a_phone_number_are_422_naming_attendee_phone_and_write_nothing(api: ApiClient) -> None:
    # When texts are asked for but no phone number is given
    response = api.create_intent(notify={"sms": True})
    # Then the request is refused, naming the missing phone, and nothing is held
    assert response.status == 422, response.body
    assert response.error_fields == {"attendee.phone"}
    assert not items_with_prefix("BOOKING#")
    assert not items_with_prefix("SLOT#")


def test_an_unknown_notify_key_is_422_naming_it(api: ApiClient) -> None:
    response = api.create_intent(notify={"email": True, "push": True})
    assert response.status == 422, response.body
    assert response.error_fields == {"notify.push"}
    assert not items_with_prefix("BOOKING#")


def test_a_key_reused_with_another_choice_is_refused(api: ApiClient) -> None:
    # Given a booking started with a key and texts on
    key = unique_key()
    slot = api.first_slot()
    first = api.create_intent(start=slot, attendee=WITH_PHONE, notify={"sms": True}, idempotency_key=key)
    assert first.status == 201, first.body
    # When the same key comes with texts off, then with the same choice again
    reused = api.create_intent(start=slot, attendee=WITH_PHONE, notify={"sms": False}, idempotency_key=key)
    replay = api.create_intent(start=slot, attendee=WITH_PHONE, notify={"sms": True}, idempotency_key=key)
    # Then another choice is another request; the same one is the first answer again
    assert reused.status == 422, reused.body
    assert reused.error_code == "idempotency_key_reused"
    assert replay.status == 201, replay.body
    assert replay.body["booking_id"] == first.body["booking_id"]
    assert replay.body["notify"] == {"email": True, "sms": True}
