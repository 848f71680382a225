"""The booking path with half the DynamoDB work (issue 15): create-intent's booking id derives from the client's
Idempotency-Key (a replay's hold meets the booking already there), the booking token names its booking and is kept
on it as a hash, verify's calendar lease is one conditional write that also checks the token, and the confirmation
issues the manage link in its own write. Same answers, same invariants as before."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from booking.dal.items import BookingItem, ManageTokenItem
from booking.flows.manage import issue_link
from booking.secrets import link_token
from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    cal_booking_posts,
    items_with_prefix,
    live_cal_bookings,
    payment_intent_creates,
    product_now,
    stripe_posts,
    travel_to,
)
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    booking,
    deliver_stripe,
    owner_headers,
    pay,
    stripe_event,
    unique_key,
)

OTHER_ATTENDEE = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Chicago"}
CAPACITY_SERVICE = "ceramics-workshop"  # several seats a slot: a second hold of the same request would fit


def bookings_of(booking_id: str) -> list[dict[str, Any]]:
    return [item for item in items_with_prefix("BOOKING#") if item["booking_id"]["S"] == booking_id]


# --- create-intent: the booking id derives from the client's key ----------------------------------------------


def test_a_replayed_request_answers_the_same_booking_with_no_second_hold_or_payment_intent(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a booking made with a client key
    key, slot = unique_key(), api.first_slot()
    first = api.create_intent(start=slot, idempotency_key=key)
    assert first.status == 201, first.body
    # When the same request is sent again
    again = api.create_intent(start=slot, idempotency_key=key)
    # Then the answer is the same booking and PaymentIntent, with one booking, one seat and one PaymentIntent
    assert again.status == 201, again.body
    assert again.body == first.body
    assert len(items_with_prefix("BOOKING#")) == 1
    assert len(items_with_prefix("SLOT#")) == 1
    assert len(payment_intent_creates(stripe_double)) == 1
    # And no idempotency record was written: the booking's id is the key's
    assert items_with_prefix("IDEMPOTENCY#") == []


def test_a_replay_in_a_slot_with_room_for_more_takes_no_second_seat(api: ApiClient) -> None:
    # Given a booking of a slot with several seats, made with a client key
    key, slot = unique_key(), api.first_slot(CAPACITY_SERVICE)
    first = api.create_intent(service_id=CAPACITY_SERVICE, start=slot, idempotency_key=key)
    assert first.status == 201, first.body
    # When the request is replayed (another seat would be free)
    again = api.create_intent(service_id=CAPACITY_SERVICE, start=slot, idempotency_key=key)
    # Then it is the same booking, still one seat taken
    assert (again.status, again.body["booking_id"]) == (201, first.body["booking_id"])
    assert len(items_with_prefix("SLOT#")) == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a booking made with a client key
    key, slots = unique_key(), api.free_slots()
    assert api.create_intent(start=slots[0]["start"], idempotency_key=key).status == 201
    written = len(items_with_prefix(""))
    # When the key is sent with another request (another time, then another client)
    other_time = api.create_intent(start=slots[1]["start"], idempotency_key=key)
    other_client = api.create_intent(start=slots[0]["start"], attendee=OTHER_ATTENDEE, idempotency_key=key)
    # Then both are refused naming the header, and nothing more is written
    for response in (other_time, other_client):
        assert response.status == 422, response.body
        assert response.error_code == "idempotency_key_reused"
    assert len(items_with_prefix("")) == written
    assert len(payment_intent_creates(stripe_double)) == 1


def test_a_replay_after_the_hold_lapsed_is_409_naming_the_booking(api: ApiClient, clock: Clock) -> None:
    # Given a booking made with a client key whose hold lapsed unpaid
    key, slot = unique_key(), api.first_slot()
    first = api.create_intent(start=slot, idempotency_key=key)
    assert first.status == 201
    clock.advance(minutes=16)
    # When the same request is replayed
    again = api.create_intent(start=slot, idempotency_key=key)
    # Then the answer says the hold expired (409), as before: the booking is found from the key
    assert again.status == 409, again.body
    assert again.body["error"]["booking_id"] == first.body["booking_id"]


def test_a_replay_the_slot_rules_now_refuse_still_answers_the_booking(api: ApiClient, clock: Clock) -> None:
    # Given a booking made with a client key 5 minutes before its start entered the minimum notice (12 h)
    start = datetime.fromisoformat(api.first_slot())
    travel_to(clock, start - timedelta(hours=12, minutes=5))
    key = unique_key()
    first = api.create_intent(start=start.isoformat(), idempotency_key=key)
    assert first.status == 201, first.body
    # When the same request is replayed 10 minutes later (a new request for that start would be refused)
    clock.advance(minutes=10)
    assert api.create_intent(start=start.isoformat(), attendee=OTHER_ATTENDEE).status == 422
    again = api.create_intent(start=start.isoformat(), idempotency_key=key)
    # Then it answers the booking made the first time (its hold still live)
    assert again.status == 201, again.body
    assert again.body["booking_id"] == first.body["booking_id"]
    assert len(items_with_prefix("SLOT#")) == 1


def test_concurrent_replays_make_one_booking_and_one_payment_intent(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given one request sent five times at once with the same key (a client retrying on a flaky network)
    key, slot = unique_key(), api.first_slot(CAPACITY_SERVICE)
    barrier = threading.Barrier(5)

    def send(_: int) -> ApiResponse:
        barrier.wait()
        return api.create_intent(service_id=CAPACITY_SERVICE, start=slot, idempotency_key=key)

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(send, range(5)))
    # Then every answer that holds names the same booking, and one booking, one seat, one PaymentIntent exist
    held = [a for a in answers if a.status == 201]
    assert held, [a.body for a in answers]
    assert {a.body["booking_id"] for a in held} == {held[0].body["booking_id"]}
    assert {a.body["payment_intent_id"] for a in held} == {held[0].body["payment_intent_id"]}
    assert all(a.status in (201, 409) for a in answers), [a.body for a in answers]
    assert len(items_with_prefix("BOOKING#")) == 1
    assert len(items_with_prefix("SLOT#")) == 1
    created = [r for r in payment_intent_creates(stripe_double) if r.status == 200 and not r.replayed]
    assert len(created) == 1


def test_a_retry_after_the_provider_failed_holds_anew_under_the_keys_next_id(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a create-intent with a client key whose PaymentIntent failed (the hold released, the request forgotten)
    key, slot = unique_key(), api.first_slot()
    stripe_double.set_down(True)
    failed = api.create_intent(start=slot, idempotency_key=key)
    assert failed.status == 503
    [released] = items_with_prefix("BOOKING#")
    assert released["status"]["S"] == "EXPIRED" and "request_fingerprint" not in released
    stripe_double.set_down(False)
    # When the client retries with the same key
    retry = api.create_intent(start=slot, idempotency_key=key)
    # Then a new booking holds the slot (the released one stays, EXPIRED, for the record) with its own PaymentIntent
    assert retry.status == 201, retry.body
    assert retry.body["booking_id"] != released["booking_id"]["S"]
    assert booking(released["booking_id"]["S"]).status == "EXPIRED"
    # And a replay of the retry answers the retry's booking
    replay = api.create_intent(start=slot, idempotency_key=key)
    assert (replay.status, replay.body["booking_id"]) == (201, retry.body["booking_id"])


def test_without_a_key_every_request_is_a_new_booking(api: ApiClient) -> None:
    slot = api.first_slot(CAPACITY_SERVICE)
    one = api.create_intent(service_id=CAPACITY_SERVICE, start=slot)
    two = api.create_intent(service_id=CAPACITY_SERVICE, start=slot)
    assert one.status == two.status == 201
    assert one.body["booking_id"] != two.body["booking_id"]
    assert len(items_with_prefix("SLOT#")) == 2


# --- the booking token on the booking ---------------------------------------------------------------------------


def test_a_token_is_kept_on_its_booking_only_as_a_hash_and_names_the_booking(api: ApiClient) -> None:
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    assert token.startswith(intent["booking_id"] + ".")
    [item] = bookings_of(intent["booking_id"])
    assert item["token_hashes"]["SS"] == [hashlib.sha256(token.encode()).hexdigest()[:32]]
    assert token.rsplit(".", 1)[1] not in str(item)
    assert items_with_prefix("TOKEN#") == []


def test_a_token_with_a_wrong_secret_or_another_expiry_is_404(api: ApiClient) -> None:
    # Given a paid booking with its token
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    booking_id, expiry, secret = token.split(".")
    # When the secret is changed, or the expiry pushed later (the hash covers it)
    wrong_secret = f"{booking_id}.{expiry}.{secret[:-2]}xx"
    later = f"{booking_id}.{int(expiry) + 3600}.{secret}"
    # Then each is unknown, and the booking is not confirmed
    for forged in (wrong_secret, later):
        response = api.verify(forged)
        assert (response.status, response.error_code) == (404, "token_not_found"), response.body
    assert booking(intent["booking_id"]).status == "PAID"


def test_a_token_of_an_unknown_booking_or_another_bookings_is_404(api: ApiClient) -> None:
    mine = api.paid_booking()
    theirs = api.paid_booking(start=api.free_slots()[1]["start"], attendee=OTHER_ATTENDEE)
    token = api.create_token(mine).body["token"]
    _, expiry, secret = token.split(".")
    unknown = api.verify(f"bk_{'0' * 24}.{expiry}.{secret}")
    moved = api.verify(f"{theirs['booking_id']}.{expiry}.{secret}")
    for response in (unknown, moved, api.verify("not-a-token"), api.verify("bk_x.1.y")):
        assert (response.status, response.error_code) == (404, "token_not_found"), response.body
    assert booking(theirs["booking_id"]).status == "HELD"


def test_an_expired_token_is_410_and_confirms_nothing(api: ApiClient, clock: Clock) -> None:
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    clock.advance(minutes=31)
    response = api.verify(token)
    assert (response.status, response.error_code) == (410, "token_expired")
    assert booking(intent["booking_id"]).status == "PAID"


def test_a_used_token_answers_the_same_confirmation_and_books_once(api: ApiClient, cal_double: CalDouble) -> None:
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    first = api.verify(token)
    again = api.verify(token)
    assert first.status == again.status == 200
    assert first.body == again.body and first.body["manage_url"]
    assert len(cal_booking_posts(cal_double)) == 1


def test_asking_for_tokens_again_and_again_keeps_the_booking_small(api: ApiClient) -> None:
    # Given a paid booking whose client asks for a token ten times (each one stays usable until the eighth after)
    intent = api.paid_booking()
    tokens = [api.create_token(intent).body["token"] for _ in range(10)]
    # Then the booking keeps at most eight hashes, and the newest token works
    assert len(booking(intent["booking_id"]).token_hashes) <= 8
    assert api.verify(tokens[-1]).status == 200


# --- verify: one conditional write leases the confirmation ----------------------------------------------------


def test_verify_racing_the_payment_webhook_confirms_once(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given a paid booking with its token, and Stripe's payment_intent.succeeded arriving as the client verifies
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    barrier = threading.Barrier(3)

    def verify() -> ApiResponse:
        barrier.wait()
        return api.verify(token)

    def webhook() -> ApiResponse:
        barrier.wait()
        return deliver_stripe(api, stripe_double, event["id"])

    with ThreadPoolExecutor(max_workers=3) as pool:
        verifies = [pool.submit(verify), pool.submit(verify)]
        delivered = pool.submit(webhook)
        answers = [f.result() for f in verifies]
    # Then the booking is confirmed once in Cal.com, and both verifies answer that confirmation
    assert delivered.result().status == 200, delivered.result().body
    assert [a.status for a in answers] == [200, 200], [a.body for a in answers]
    assert answers[0].body["cal_booking_uid"] == answers[1].body["cal_booking_uid"]
    assert len(live_cal_bookings(cal_double)) == 1
    record = booking(intent["booking_id"])
    assert record.status == "CONFIRMED" and record.cal_booking_uid == answers[0].body["cal_booking_uid"]


def test_verify_after_the_webhook_confirmed_answers_its_confirmation(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given the client paid, got a token, and Stripe's webhook confirmed the booking before the client verified
    intent = api.paid_booking()
    token = api.create_token(intent).body["token"]
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    assert booking(intent["booking_id"]).status == "CONFIRMED"
    # When the client verifies
    response = api.verify(token)
    # Then it answers the confirmation (with the manage link), and nothing more is booked
    assert response.status == 200, response.body
    assert response.body["cal_booking_uid"] == booking(intent["booking_id"]).cal_booking_uid
    assert response.body["manage_url"]
    assert len(cal_booking_posts(cal_double)) == 1


def test_the_confirmation_issues_the_manage_link_in_its_own_write(api: ApiClient) -> None:
    confirmed = api.confirmed_booking()
    record = booking(confirmed["booking_id"])
    token = confirmed["manage_url"].split("token=", 1)[1]
    assert record.manage_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert api.post("/bookings/manage", {"token": token}).status == 200


def test_a_verify_token_of_a_booking_paid_by_stripes_webhook_first_still_works(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given the payment webhook recorded the payment before create-token (the token is then its own write)
    intent = api.create_intent().body
    pay(intent["payment_intent_id"])
    stripe_double.set_down(False)
    token = api.create_token(intent)
    assert token.status == 201
    assert api.verify(token.body["token"]).status == 200
    assert len(stripe_posts(stripe_double, "/v1/payment_intents")) >= 1


def test_a_manage_link_issued_before_tokens_named_their_booking_still_opens_and_revokes(api: ApiClient) -> None:
    # Given a booking whose link was issued in the bare form, with its MANAGE# item (before this change)
    confirmed = api.confirmed_booking()
    bid = confirmed["booking_id"]
    bare = link_token(f"manage-link:{bid}:0")
    bare_hash = hashlib.sha256(bare.encode()).hexdigest()
    BookingItem(f"BOOKING#{bid}", "BOOKING").update(actions=[BookingItem.manage_token_hash.set(bare_hash)])
    ManageTokenItem(
        f"MANAGE#{bare_hash}", "MANAGE", booking_id=bid, issued_at=product_now(), expires_ttl=product_now()
    ).save()
    # Then the emails still name that link, and it opens the booking
    url = issue_link(bid)
    assert url is not None and url.endswith(f"token={bare}")
    assert api.post("/bookings/manage", {"token": bare}).status == 200
    # And revoking it deletes its item; the next link names the booking
    headers = owner_headers() | {"Idempotency-Key": unique_key()}
    assert api.post(f"/admin/bookings/{bid}/manage-link/revoke", {}, headers=headers).status == 200
    assert items_with_prefix("MANAGE#") == []
    assert api.post("/bookings/manage", {"token": bare}).status == 404
    fresh = issue_link(bid)
    assert fresh is not None and f"token={bid}." in fresh
