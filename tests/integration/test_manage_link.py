"""Issue 12, bullet 6: the client's own bookings through the manage link of the confirmation.

Every request goes through the handler entry points (verify, manage, the Cal.com webhook, the owner's revoke);
Stripe is the real `stripe` client against the Stripe double, whose PaymentIntents and refunds are the ledger we
assert on; Cal.com is the Cal.com double, whose bookings we read.

The service is seed 003's skin coaching call: 20000 usd, 50% deposit, free cancellation until 24 h before (then
50% of the price is kept), at most 2 reschedules, a reschedule within 24 h costs 25% of the price.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from booking.flows.manage import issue_link, manage_url
from booking.secrets import link_token
from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration import test_packages as packages
from tests.integration.helpers import (
    MONDAY,
    instant,
    iso,
    live_cal_bookings,
    live_seats_per_slot,
    local,
    next_weekday,
    scan_table,
    stripe_posts,
    travel_to,
)
from tests.integration.test_owner_money import intents_of, of_purpose
from tests.integration.test_stripe_truth import on_stripe_http, refunded_amounts
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    booking,
    deliver_cal,
    deliver_stripe,
    owner_headers,
    pay,
    stripe_event,
    unique_key,
)

COACHING = "skin-coaching"
COACHING_EVENT_TYPE = 3815422
PRICE, DEPOSIT, LATE_CANCEL_FEE, LATE_RESCHEDULE_FEE = 20000, 10000, 10000, 5000
CLIENT = {"name": "Mia Chen", "email": "mia@example.com", "time_zone": "America/Vancouver", "phone": "+16045550123"}


@pytest.fixture
def monday(clock: Clock) -> Iterator[datetime]:
    """Monday 08:00 business time; the booking is on Tuesday at 09:00 (25 h ahead: free to cancel, not late). The
    call's slots are 45 minutes apart from 09:00 (09:00, 09:45, 10:30, ...)."""
    day = next_weekday(MONDAY)
    travel_to(clock, local(day, 8))
    yield local(day + timedelta(days=1), 9)


def coaching(api: ApiClient, start: datetime, payment_type: str = "deposit") -> dict[str, Any]:
    return api.confirmed_booking(service_id=COACHING, start=iso(start), payment_type=payment_type, attendee=CLIENT)


def token_of(manage_url: str) -> str:
    return parse_qs(urlsplit(manage_url).query)["token"][0]


def manage(api: ApiClient, token: str, action: str = "", **body: Any) -> ApiResponse:
    return api.post(f"/bookings/manage{'/' + action if action else ''}", {"token": token, **body})


def cal_status(cal_double: CalDouble, uid: str) -> str:
    return str(cal_double.booking(uid)["status"])


def client_booking(api: ApiClient, start: datetime, payment_type: str = "deposit") -> tuple[str, str]:
    """A confirmed coaching call: (booking id, manage token)."""
    confirmed = coaching(api, start, payment_type)
    return confirmed["booking_id"], token_of(confirmed["manage_url"])


# --- the link ---------------------------------------------------------------------------------------------------


def test_the_confirmation_carries_a_manage_link_that_opens_the_booking(api: ApiClient, monday: datetime) -> None:
    # Given a coaching call confirmed through /bookings/verify
    confirmed = coaching(api, monday)
    manage_url = confirmed["manage_url"]
    assert manage_url.startswith("https://site.example/book/manage?token=")
    # When the verify page is opened again, it shows the same link (issued once, never stored in clear)
    again = api.verify(confirmed["token"])
    assert again.status == 200 and again.body["manage_url"] == manage_url
    token = token_of(manage_url)
    assert token not in str(scan_table())
    # ... kept only as its hash on the booking, which the token names (no item of its own)
    assert token.startswith(confirmed["booking_id"] + ".")
    assert booking(confirmed["booking_id"]).manage_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert [item for item in scan_table() if item["pk"]["S"].startswith("MANAGE#")] == []

    # When the client opens the link
    opened = manage(api, token)

    # Then it shows the booking and what cancelling or moving it now would cost: nothing
    assert opened.status == 200, opened.body
    shown = opened.body["booking"]
    assert shown["booking_id"] == confirmed["booking_id"]
    assert (shown["service_id"], shown["service_name"], shown["status"]) == (
        COACHING,
        "Skin Coaching Call (45 min)",
        "confirmed",
    )
    assert instant(shown["start"]) == monday
    assert (shown["total"], shown["amount_paid"], shown["balance_due"], shown["reschedule_count"]) == (
        PRICE,
        DEPOSIT,
        PRICE - DEPOSIT,
        0,
    )
    assert shown["attendee_name"] == "Mia Chen"
    assert opened.body["cancellation"] | {"reason": ""} == {
        "allowed": True,
        "refund": DEPOSIT,
        "fee": 0,
        "credit_returned": None,
        "reason": "",
    }
    assert "full refund" in opened.body["cancellation"]["reason"]
    assert opened.body["reschedule"] | {"reason": ""} == {"allowed": True, "remaining": 2, "fee": 0, "reason": ""}


def test_an_unknown_token_is_404_and_the_link_ends_a_week_after_the_meeting(
    api: ApiClient, clock: Clock, monday: datetime
) -> None:
    _, token = client_booking(api, monday)
    assert manage(api, "not-a-token").error_code == "token_not_found"
    assert manage(api, token[:-2]).status == 404
    travel_to(clock, monday + timedelta(days=7, minutes=30))  # the call ends at 09:45: a week later, still open
    assert manage(api, token).status == 200
    travel_to(clock, monday + timedelta(days=7, minutes=46))
    expired = manage(api, token)
    assert expired.status == 410 and expired.error_code == "token_expired"


def test_a_booking_confirmed_by_stripes_webhook_alone_gets_a_link_that_opens_it(
    api: ApiClient, stripe_double: StripeDouble, monday: datetime
) -> None:
    # Given a coaching call paid by a client who closed the tab: Stripe's webhook confirmed it, no verify token
    # was ever issued
    intent = api.paid_booking(service_id=COACHING, start=iso(monday), attendee=CLIENT)
    event = stripe_event(stripe_double, "payment_intent.succeeded", intent["payment_intent_id"])
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    bid = intent["booking_id"]
    # (its confirmation issued the manage link in the same write)
    assert booking(bid).status == "CONFIRMED" and booking(bid).manage_token_hash is not None

    # When the confirmation email names its manage link
    url = issue_link(bid)

    # Then the link is issued once, the same every time, and opens the booking
    assert url and url.startswith("https://site.example/book/manage?token=")
    assert hashlib.sha256(token_of(url).encode()).hexdigest() == booking(bid).manage_token_hash
    assert issue_link(bid) == url and manage_url(booking(bid)) == url
    assert [item for item in scan_table() if item["pk"]["S"].startswith("MANAGE#")] == []
    opened = manage(api, token_of(url))
    assert opened.status == 200, opened.body
    assert opened.body["booking"]["booking_id"] == bid and opened.body["cancellation"]["allowed"]


def test_the_verify_page_and_the_emails_name_the_same_link(api: ApiClient, monday: datetime) -> None:
    confirmed = coaching(api, monday)
    assert issue_link(confirmed["booking_id"]) == confirmed["manage_url"]
    assert manage_url(booking(confirmed["booking_id"])) == confirmed["manage_url"]


def test_a_cancelled_booking_names_no_link(api: ApiClient, monday: datetime) -> None:
    bid, token = client_booking(api, monday)
    assert manage(api, token, "cancel").status == 200
    assert issue_link(bid) is None
    assert manage(api, token).status == 200  # the link given out still shows the cancellation


def test_another_signing_key_names_another_token_that_opens_nothing(
    api: ApiClient, monday: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a booking whose link was issued under the deployment's key
    confirmed = coaching(api, monday)
    bid, token = confirmed["booking_id"], token_of(confirmed["manage_url"])
    with monkeypatch.context() as patched:
        # When the key is another one (a function given the wrong secret, or someone guessing it)
        patched.setenv("LINK_SIGNING_KEY", "not-the-deployments-key")
        forged = link_token(f"manage-link:{bid}:0")
        # Then it derives another token, which opens nothing, and names no link for the booking
        assert forged != token
        assert (manage(api, forged).status, manage(api, forged).error_code) == (404, "token_not_found")
        assert issue_link(bid) is None
    assert issue_link(bid) == confirmed["manage_url"]
    assert manage(api, token).status == 200


# --- cancelling -------------------------------------------------------------------------------------------------


def test_a_client_cancelling_inside_the_free_window_gets_everything_back(
    api: ApiClient, cal_double: CalDouble, monday: datetime
) -> None:
    # Given a call paid in full, 26 h ahead
    confirmed = coaching(api, monday, "full")
    bid, pi, uid, token = (
        confirmed["booking_id"],
        confirmed["payment_intent_id"],
        confirmed["cal_booking_uid"],
        token_of(confirmed["manage_url"]),
    )
    # The view says what cancelling now refunds, before the client decides
    before = manage(api, token).body["cancellation"]
    assert (before["allowed"], before["refund"], before["fee"]) == (True, PRICE, 0)

    # When the client cancels through the link
    cancelled = manage(api, token, "cancel")

    # Then everything paid is refunded, once, and the Cal.com booking is cancelled
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["booking"]["status"] == "cancelled"
    assert cancelled.body["cancellation"] | {"reason": ""} == {
        "allowed": False,
        "refund": PRICE,
        "fee": 0,
        "credit_returned": None,
        "reason": "",
    }
    assert refunded_amounts(pi) == [PRICE]
    assert cal_status(cal_double, uid) == "cancelled"
    assert booking(bid).cancelled_by == "client"
    assert live_seats_per_slot() == {}
    # And Cal.com's BOOKING_CANCELLED that follows (it names the business: our API key cancelled it) changes nothing
    _webhook_changes_nothing(api, cal_double, bid, "BOOKING_CANCELLED", uid)
    assert refunded_amounts(pi) == [PRICE]


def test_a_client_cancelling_outside_the_free_window_pays_the_policys_fee(
    api: ApiClient, cal_double: CalDouble, clock: Clock, monday: datetime
) -> None:
    # Given a call paid in full, and 4 h before it
    confirmed = coaching(api, monday, "full")
    bid, pi, uid, token = (
        confirmed["booking_id"],
        confirmed["payment_intent_id"],
        confirmed["cal_booking_uid"],
        token_of(confirmed["manage_url"]),
    )
    travel_to(clock, monday - timedelta(hours=4))
    before = manage(api, token).body["cancellation"]
    assert (before["allowed"], before["refund"], before["fee"]) == (True, PRICE - LATE_CANCEL_FEE, LATE_CANCEL_FEE)
    assert "fee 50% of the price" in before["reason"]

    # When the client cancels
    cancelled = manage(api, token, "cancel")

    # Then the fee is kept and the rest refunded; Cal.com's booking is cancelled
    assert cancelled.status == 200, cancelled.body
    assert (cancelled.body["cancellation"]["refund"], cancelled.body["cancellation"]["fee"]) == (
        PRICE - LATE_CANCEL_FEE,
        LATE_CANCEL_FEE,
    )
    assert refunded_amounts(pi) == [PRICE - LATE_CANCEL_FEE]
    assert cal_status(cal_double, uid) == "cancelled"
    _webhook_changes_nothing(api, cal_double, bid, "BOOKING_CANCELLED", uid)
    assert refunded_amounts(pi) == [PRICE - LATE_CANCEL_FEE]


def test_calcoms_webhook_arriving_before_our_cancellation_still_prices_it_as_the_clients(
    api: ApiClient, cal_double: CalDouble, clock: Clock, monday: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a late cancellation whose BOOKING_CANCELLED (naming the business: our API key cancelled it) is handled
    # the moment Cal.com answers our cancel, before our own cancellation runs
    confirmed = coaching(api, monday, "full")
    uid, pi, token = confirmed["cal_booking_uid"], confirmed["payment_intent_id"], token_of(confirmed["manage_url"])
    travel_to(clock, monday - timedelta(hours=4))
    base = os.environ["CAL_API_BASE"]
    real = requests.Session.request
    delivered: list[int] = []

    def request(self: requests.Session, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        response = real(self, method, url, *args, **kwargs)
        if str(url).startswith(base) and method.upper() == "POST" and str(url).endswith(f"/{uid}/cancel"):
            delivered.append(deliver_cal(api, cal_double, "BOOKING_CANCELLED", uid).status)
        return response

    monkeypatch.setattr(requests.Session, "request", request)

    cancelled = manage(api, token, "cancel")

    # Then the policy's fee is kept all the same
    assert delivered == [200]
    assert cancelled.status == 200, cancelled.body
    assert refunded_amounts(pi) == [PRICE - LATE_CANCEL_FEE]
    assert cancelled.body["cancellation"]["refund"] == PRICE - LATE_CANCEL_FEE


def test_a_cancelled_booking_still_shows_but_cannot_be_cancelled_or_moved_again(
    api: ApiClient, cal_double: CalDouble, monday: datetime
) -> None:
    confirmed = coaching(api, monday)
    token, pi = token_of(confirmed["manage_url"]), confirmed["payment_intent_id"]
    assert manage(api, token, "cancel").status == 200

    shown = manage(api, token)
    again = manage(api, token, "cancel")
    moved = manage(api, token, "reschedule", start=iso(monday + timedelta(days=1, hours=1)))

    assert shown.status == 200 and shown.body["booking"]["status"] == "cancelled"
    assert shown.body["cancellation"]["allowed"] is False and shown.body["reschedule"]["allowed"] is False
    assert shown.body["cancellation"]["refund"] == DEPOSIT
    assert (again.status, again.error_code) == (409, "booking_closed")
    assert (moved.status, moved.error_code) == (409, "booking_closed")
    assert refunded_amounts(pi) == [DEPOSIT]
    assert live_cal_bookings(cal_double) == []


def test_a_booking_cancelled_in_calcom_shows_cancelled_through_the_link(
    api: ApiClient, cal_double: CalDouble, monday: datetime
) -> None:
    confirmed = coaching(api, monday)
    cal_double.cancel_booking(confirmed["cal_booking_uid"], "cannot make it", by=CLIENT["email"])
    assert deliver_cal(api, cal_double, "BOOKING_CANCELLED", confirmed["cal_booking_uid"]).status == 200

    shown = manage(api, token_of(confirmed["manage_url"]))

    assert shown.body["booking"]["status"] == "cancelled"
    assert shown.body["cancellation"]["refund"] == DEPOSIT
    assert manage(api, token_of(confirmed["manage_url"]), "cancel").status == 409


def test_a_package_sessions_link_says_whether_its_credit_comes_back(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, monday: datetime
) -> None:
    # Given two sessions booked with a package's credits (nothing paid): Tuesday and Wednesday at 09:00
    package = packages.paid_package(api, stripe_double)
    sessions = [packages.booked(api, package, iso(monday + timedelta(days=days))) for days in (0, 1)]
    soon, later = (token_of(session["manage_url"]) for session in sessions)
    # And it is Tuesday 05:00: the first is inside 24 h, the second 28 h ahead
    travel_to(clock, monday - timedelta(hours=4))

    soon_view, later_view = manage(api, soon).body, manage(api, later).body

    # Then each view says what a cancellation does to its credit; moving a session costs no fee (nothing paid)
    assert soon_view["cancellation"]["credit_returned"] is False
    assert later_view["cancellation"]["credit_returned"] is True
    assert soon_view["cancellation"]["refund"] == soon_view["cancellation"]["fee"] == 0
    assert soon_view["booking"]["package_id"] == package["package_id"]
    assert soon_view["reschedule"]["allowed"] is True and soon_view["reschedule"]["fee"] == 0
    # And cancelling both through the links does what the views said
    assert manage(api, soon, "cancel").status == 200 and manage(api, later, "cancel").status == 200
    assert packages.credits(packages.view(api, package)) == {
        sessions[0]["booking_id"]: "forfeited",
        sessions[1]["booking_id"]: "returned",
    }


# --- rescheduling -----------------------------------------------------------------------------------------------


def test_a_reschedule_to_a_free_slot_moves_it_in_calcom_and_here_on_the_same_payment(
    api: ApiClient, cal_double: CalDouble, stripe_double: StripeDouble, monday: datetime
) -> None:
    confirmed = coaching(api, monday)
    bid, old_uid, token = confirmed["booking_id"], confirmed["cal_booking_uid"], token_of(confirmed["manage_url"])
    new_start = monday + timedelta(days=1, minutes=45)  # Wednesday 09:45

    moved = manage(api, token, "reschedule", start=iso(new_start))

    assert moved.status == 200, moved.body
    assert instant(moved.body["booking"]["start"]) == new_start
    assert moved.body["booking"]["reschedule_count"] == 1
    assert moved.body["reschedule"]["remaining"] == 1 and moved.body["reschedule"]["fee"] == 0
    after = booking(bid)
    assert after.payment_intent_id == confirmed["payment_intent_id"] and after.amount_paid == DEPOSIT
    assert [i.id for i in intents_of(bid)] == [confirmed["payment_intent_id"]]  # no new charge
    [live] = live_cal_bookings(cal_double)
    assert live["uid"] == after.cal_booking_uid != old_uid
    assert instant(live["start"]) == new_start
    assert cal_status(cal_double, old_uid) == "cancelled"
    assert list(live_seats_per_slot().values()) == [1]
    # And Cal.com's BOOKING_RESCHEDULED that follows finds it moved already
    _webhook_changes_nothing(api, cal_double, bid, "BOOKING_RESCHEDULED", after.cal_booking_uid)
    assert booking(bid).reschedule_count == 1


def test_a_taken_slot_is_refused_and_nothing_changes(api: ApiClient, cal_double: CalDouble, monday: datetime) -> None:
    # Given another client holding Wednesday 09:45 while they pay
    confirmed = coaching(api, monday)
    bid, token = confirmed["booking_id"], token_of(confirmed["manage_url"])
    taken = monday + timedelta(days=1, minutes=45)
    other = {**CLIENT, "name": "Noor Haddad", "email": "noor@example.com"}
    assert api.create_intent(service_id=COACHING, start=iso(taken), attendee=other).status == 201
    before = booking(bid)

    refused = manage(api, token, "reschedule", start=iso(taken))

    assert (refused.status, refused.error_code) == (409, "slot_taken")
    after = booking(bid)
    assert (after.slot_start, after.reschedule_count, after.cal_booking_uid) == (
        before.slot_start,
        0,
        before.cal_booking_uid,
    )
    assert instant(cal_double.booking(before.cal_booking_uid)["start"]) == monday
    assert cal_status(cal_double, before.cal_booking_uid) == "accepted"


def test_past_the_services_cap_a_reschedule_is_refused(api: ApiClient, monday: datetime) -> None:
    bid, token = client_booking(api, monday)
    for days in (1, 2):
        assert manage(api, token, "reschedule", start=iso(monday + timedelta(days=days))).status == 200

    shown = manage(api, token)
    refused = manage(api, token, "reschedule", start=iso(monday + timedelta(days=3)))

    assert shown.body["reschedule"]["allowed"] is False and shown.body["reschedule"]["remaining"] == 0
    assert (refused.status, refused.error_code) == (409, "reschedule_limit")
    assert booking(bid).slot_start == monday + timedelta(days=2) and booking(bid).reschedule_count == 2


def test_a_late_reschedule_charges_the_fee_to_the_saved_card_once(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, monday: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deposit booking, and 22 h before it (inside the 24 h of a late reschedule)
    bid, token = client_booking(api, monday)
    travel_to(clock, monday - timedelta(hours=22))
    assert manage(api, token).body["reschedule"]["fee"] == LATE_RESCHEDULE_FEE
    new_start = monday + timedelta(days=1, minutes=45)
    # The first answer of Stripe is lost after it charged (the client library retries with the same key)
    lost: list[str] = []

    def lose_first_answer(send: Any, method: str, path: str, url: str, body: str) -> Any:
        answer = send()
        if method == "POST" and path == "/v1/payment_intents" and "reschedule_fee" in body and not lost:
            lost.append(body)
            raise requests.ConnectionError("the answer was lost")
        return answer

    on_stripe_http(monkeypatch, lose_first_answer)

    moved = manage(api, token, "reschedule", start=iso(new_start))
    retried = manage(api, token, "reschedule", start=iso(new_start))  # the client did not hear the answer

    assert moved.status == 200, moved.body
    assert retried.status == 200 and retried.body == moved.body
    [fee] = of_purpose(bid, "reschedule_fee")
    assert (fee.amount, fee.status) == (LATE_RESCHEDULE_FEE, "succeeded")
    charges = [
        r
        for r in stripe_posts(stripe_double, "/v1/payment_intents")
        if r.params.get("metadata", {}).get("purpose") == "reschedule_fee"
    ]
    assert len(lost) == 1
    assert [r.replayed for r in charges] == [False, True]  # the answer lost, then Stripe's replay of it
    assert charges[0].idempotency_key == charges[1].idempotency_key == f"booking:{bid}:reschedule_fee:0"
    assert charges[0].params["off_session"] == "true"
    after = booking(bid)
    assert after.slot_start == new_start and after.reschedule_count == 1
    assert after.amount_paid == DEPOSIT + LATE_RESCHEDULE_FEE
    assert after.balance_due == PRICE - DEPOSIT  # a fee is not part of the price
    assert [(p.purpose, p.amount, p.status) for p in after.payments] == [
        ("reschedule_fee", LATE_RESCHEDULE_FEE, "succeeded")
    ]


def test_a_cancellation_after_a_late_reschedule_keeps_the_reschedule_fee(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, monday: datetime
) -> None:
    # Given a booking moved late (fee paid) to a day later, and the client cancelling 26 h before the new start
    bid, token = client_booking(api, monday)
    travel_to(clock, monday - timedelta(hours=22))
    new_start = monday + timedelta(days=2, minutes=45)
    assert manage(api, token, "reschedule", start=iso(new_start)).status == 200
    travel_to(clock, new_start - timedelta(hours=26))
    # When the page shows what cancelling refunds, and the client cancels
    offer = manage(api, token).body["cancellation"]
    cancelled = manage(api, token, "cancel")
    # Then inside the free window the deposit comes back in full, the fee for the late move stays paid
    assert (offer["refund"], offer["fee"]) == (DEPOSIT, LATE_RESCHEDULE_FEE)
    assert cancelled.status == 200, cancelled.body
    refunds = [r for r in stripe_posts(stripe_double, "/v1/refunds")]
    assert [int(r.params["amount"]) for r in refunds] == [DEPOSIT]
    assert booking(bid).amount_refunded == DEPOSIT


def test_a_late_fee_the_card_cannot_pay_moves_nothing(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, clock: Clock, monday: datetime
) -> None:
    # Given a deposit paid with a card that asks for 3-D Secure every time: off-session, it needs the client
    intent = api.create_intent(service_id=COACHING, start=iso(monday), attendee=CLIENT)
    assert pay(intent.body["payment_intent_id"], "pm_card_authenticationRequired").status == "requires_action"
    stripe_double.succeed_payment_intent(intent.body["payment_intent_id"])
    confirmation = api.verify(api.create_token(intent.body).body["token"])
    bid, token = intent.body["booking_id"], token_of(confirmation.body["manage_url"])
    travel_to(clock, monday - timedelta(hours=5))

    refused = manage(api, token, "reschedule", start=iso(monday + timedelta(days=1)))

    assert (refused.status, refused.error_code) == (409, "reschedule_fee_failed")
    assert refused.body["error"]["fee"] == LATE_RESCHEDULE_FEE
    after = booking(bid)
    assert (after.slot_start, after.reschedule_count, after.amount_paid) == (monday, 0, DEPOSIT)
    assert [i.status for i in of_purpose(bid, "reschedule_fee")] == ["canceled"]  # nothing left open to pay
    assert [instant(b["start"]) for b in live_cal_bookings(cal_double)] == [monday]


def test_a_slot_lost_in_calcom_after_the_fee_refunds_the_fee(
    api: ApiClient, cal_double: CalDouble, clock: Clock, monday: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a late reschedule to a time someone books directly in Cal.com while the fee is being charged
    bid, token = client_booking(api, monday)
    travel_to(clock, monday - timedelta(hours=20))
    wanted = monday + timedelta(days=1, minutes=90)

    def take_it_first(send: Any, method: str, path: str, url: str, body: str) -> Any:
        if method == "POST" and path == "/v1/payment_intents" and "reschedule_fee" in body:
            cal_double.take_slot(COACHING_EVENT_TYPE, wanted, emit_webhook=False)
        return send()

    on_stripe_http(monkeypatch, take_it_first)

    refused = manage(api, token, "reschedule", start=iso(wanted))

    # Then nothing moved and the fee went back
    assert refused.status in (409, 422), refused.body
    assert refused.error_code in ("slot_taken", "slot_not_offered")
    [fee] = of_purpose(bid, "reschedule_fee")
    assert refunded_amounts(fee.id) == [LATE_RESCHEDULE_FEE]
    after = booking(bid)
    assert (after.slot_start, after.reschedule_count) == (monday, 0)
    assert after.amount_refunded == LATE_RESCHEDULE_FEE


# --- the owner revokes it ---------------------------------------------------------------------------------------


def test_a_revoked_link_is_404_and_the_verify_page_then_gives_a_new_one(api: ApiClient, monday: datetime) -> None:
    confirmed = coaching(api, monday)
    bid, token = confirmed["booking_id"], token_of(confirmed["manage_url"])
    headers = owner_headers() | {"Idempotency-Key": unique_key()}

    revoked = api.post(f"/admin/bookings/{bid}/manage-link/revoke", {"note": "shared by mistake"}, headers=headers)
    again = api.post(f"/admin/bookings/{bid}/manage-link/revoke", {"note": "shared by mistake"}, headers=headers)

    assert revoked.status == 200, revoked.body
    assert revoked.body["message"] == "Manage link revoked."
    assert again.status == 200 and again.body["message"] == "The booking has no manage link."
    assert any(
        line["reason"] == "manage link revoked: shared by mistake" for line in revoked.body["booking"]["history"]
    )
    gone = manage(api, token)
    assert (gone.status, gone.error_code) == (404, "token_not_found")
    assert manage(api, token, "cancel").status == 404
    assert [item for item in scan_table() if item["pk"]["S"].startswith("MANAGE#")] == []
    # The verify link (still valid) gives a new manage link, never the revoked one back
    fresh = api.verify(confirmed["token"]).body["manage_url"]
    assert fresh and token_of(fresh) != token
    assert manage(api, token_of(fresh)).status == 200
    assert manage(api, token).status == 404
    assert issue_link(bid) == fresh  # ... and the emails name that new one


def test_after_a_revocation_the_next_link_named_is_a_new_one(api: ApiClient, monday: datetime) -> None:
    # Given a booking whose link was revoked, and nobody opened the verify page since
    bid, token = client_booking(api, monday)
    headers = owner_headers() | {"Idempotency-Key": unique_key()}
    assert api.post(f"/admin/bookings/{bid}/manage-link/revoke", {}, headers=headers).status == 200
    # When a message names the booking's link
    fresh = manage_url(booking(bid))
    # Then it is a new link that works; the old one stays dead
    assert fresh and token_of(fresh) != token
    assert manage(api, token_of(fresh)).status == 200
    assert manage(api, token).status == 404
    assert booking(bid).manage_token_hash == hashlib.sha256(token_of(fresh).encode()).hexdigest()


def test_only_owners_revoke_links(api: ApiClient, monday: datetime) -> None:
    bid, token = client_booking(api, monday)
    staff = api.post(
        f"/admin/bookings/{bid}/manage-link/revoke",
        headers=owner_headers("staff") | {"Idempotency-Key": unique_key()},
    )
    anonymous = api.post(f"/admin/bookings/{bid}/manage-link/revoke", headers={"Idempotency-Key": unique_key()})
    assert (staff.status, anonymous.status) == (403, 401)
    assert manage(api, token).status == 200


# --- helpers ----------------------------------------------------------------------------------------------------


def _webhook_changes_nothing(api: ApiClient, cal_double: CalDouble, bid: str, trigger: str, uid: str) -> None:
    before = booking(bid)
    answer = deliver_cal(api, cal_double, trigger, uid)
    assert answer.status == 200, answer.body
    after = booking(bid)
    same = ("status", "slot_start", "amount_refunded", "reschedule_count", "cal_booking_uid", "history", "refunds")
    assert {name: getattr(after, name) for name in same} == {name: getattr(before, name) for name in same}
