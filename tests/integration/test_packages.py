"""Issue 12, packages: a client buys prepaid sessions (one PaymentIntent), books them one at a time with no payment,
gets a credit back for a cancellation inside the free window, and the owner refunds the unused credits' share.

Through the handler entry points: the real `stripe` client against the Stripe double (its objects are the ledger we
assert on), signed webhooks from both doubles, the owner's signed dev token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration.helpers import payment_intent_creates, product_now, travel_to
from tests.integration.test_stripe_truth import dashboard_refund, on_stripe_http, refunded_amounts, stripe_refunds
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    Worker,
    alerts,
    booking,
    deliver_cal,
    deliver_stripe,
    owner_headers,
    pay,
    stripe_client,
    stripe_event,
    unique_key,
)

COACHING, PACKAGE, PRICE = "skin-coaching", "coaching-3", 50000  # 3 sessions, free cancellation until 24 h
CLIENT = {"name": "Grace Hopper", "email": "grace@example.com", "phone": "+14165550100", "time_zone": "America/Toronto"}


def buy(api: ApiClient, **body: Any) -> dict[str, Any]:
    response = api.post(
        "/packages/purchase", {"package_id": PACKAGE, "buyer": CLIENT} | body, headers={"Idempotency-Key": unique_key()}
    )
    assert response.status == 201, response.body
    return response.body


def read(api: ApiClient, package_id: str, secret: str | None) -> ApiResponse:
    headers = {"X-Package-Secret": secret} if secret is not None else {}
    return api.request("GET", f"/packages/{package_id}", headers=headers)


def view(api: ApiClient, package: dict[str, Any]) -> dict[str, Any]:
    response = read(api, package["package_id"], package["secret"])
    assert response.status == 200, response.body
    return response.body


def paid_package(api: ApiClient, stripe_double: StripeDouble) -> dict[str, Any]:
    """Bought, paid with the card in the browser, and activated by Stripe's signed webhook."""
    package = buy(api)
    pay(package["payment_intent_id"])
    event = stripe_event(stripe_double, "payment_intent.succeeded", package["payment_intent_id"])
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    return package


def starts(api: ApiClient, count: int, *, after: datetime | None = None) -> list[str]:
    """`count` free coaching starts, away from the minimum notice's edge, each on its own day-hour."""
    slots = [datetime.fromisoformat(s["start"]) for s in api.free_slots(COACHING)]
    earliest = max(slots[0] + timedelta(hours=2), after or slots[0])
    chosen = [s for s in slots if s >= earliest][:count]
    assert len(chosen) == count, "not enough coaching slots"
    return [s.isoformat() for s in chosen]


def book_with(api: ApiClient, package: dict[str, Any], start: str) -> ApiResponse:
    return api.post(
        "/payments/create-intent",
        {
            "service_id": COACHING,
            "start": start,
            "attendee": CLIENT,
            "package": {"id": package["package_id"], "secret": package["secret"]},
        },
    )


def booked(api: ApiClient, package: dict[str, Any], start: str) -> dict[str, Any]:
    """A session booked with a credit: nothing to pay, straight to verify, confirmed in Cal.com."""
    started = book_with(api, package, start)
    assert started.status == 201, started.body
    assert started.body["payment_intent_id"] is None and started.body["token"], started.body
    confirmation = api.verify(started.body["token"])
    assert confirmation.status == 200, confirmation.body
    return started.body | confirmation.body


def owner_refund(api: ApiClient, package_id: str, key: str | None = None) -> ApiResponse:
    return api.post(
        f"/admin/packages/{package_id}/refund",
        {"reason": "client moved away"},
        headers=owner_headers() | {"Idempotency-Key": key or unique_key()},
    )


def credits(body: dict[str, Any]) -> dict[str, str]:
    return {b["booking_id"]: b["credit"] for b in body["bookings"]}


# --- buying ----------------------------------------------------------------------------------------------------


def test_a_package_is_bought_with_one_payment_intent_and_activated_by_the_signed_webhook(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a package the site offers, bought: pending until paid, its PaymentIntent tagged as a package's
    offered = {p["id"]: p for p in api.get("/config").body["packages"]}
    assert offered[PACKAGE]["sessions"] == 3 and offered[PACKAGE]["price"] == {"amount": PRICE, "currency": "usd"}
    package = buy(api)
    assert package["amount"] == PRICE and package["currency"] == "usd" and package["sessions"] == 3
    assert package["package_url"].startswith("https://site.example/book/package?id=pkg_")
    assert view(api, package)["status"] == "pending"
    intent = stripe_double.get_object(package["payment_intent_id"])
    assert intent is not None and intent["metadata"] == {"package_id": package["package_id"], "purpose": "package"}
    # When the client pays and Stripe's signed webhook arrives
    pay(package["payment_intent_id"])
    event = stripe_event(stripe_double, "payment_intent.succeeded", package["payment_intent_id"])
    delivered = deliver_stripe(api, stripe_double, event["id"])
    # Then the package is active: 3 credits, expiring 180 days from now, nothing booked yet
    assert delivered.status == 200, delivered.body
    body = view(api, package)
    assert (body["status"], body["credits_used"], body["credits_remaining"], body["bookings"]) == ("active", 0, 3, [])
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=179) < expires - product_now() <= timedelta(days=180)
    # And no booking path saw it (an orphan payment would have alerted the owner)
    assert delivered.body["outcome"] == "active" and alerts() == []


def test_a_paid_package_is_activated_by_reading_it_when_the_webhook_was_lost(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a paid package whose webhook never arrived
    package = buy(api)
    pay(package["payment_intent_id"])
    # When the client reads it
    body = view(api, package)
    # Then Stripe was asked and the package is active; the late webhook changes nothing
    assert body["status"] == "active" and body["credits_remaining"] == 3
    event = stripe_event(stripe_double, "payment_intent.succeeded", package["payment_intent_id"])
    assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    assert view(api, package) == body


def test_a_wrong_secret_is_answered_like_an_unknown_package(api: ApiClient, stripe_double: StripeDouble) -> None:
    package = paid_package(api, stripe_double)
    wrong = read(api, package["package_id"], "not-the-secret")
    missing = read(api, package["package_id"], None)
    unknown = read(api, "pkg_" + "0" * 24, package["secret"])
    assert wrong.status == missing.status == unknown.status == 404
    assert wrong.body == missing.body == unknown.body
    assert wrong.error_code == "package_not_found"


def test_an_unknown_catalog_package_or_currency_is_refused_by_field(api: ApiClient) -> None:
    unknown = api.post("/packages/purchase", {"package_id": "coaching-99", "buyer": CLIENT})
    currency = api.post("/packages/purchase", {"package_id": PACKAGE, "currency": "eur", "buyer": CLIENT})
    assert unknown.status == 422 and unknown.error_fields == {"package_id"}
    assert currency.status == 422 and currency.error_fields == {"currency"}
    cad = buy(api, currency="cad")
    assert (cad["amount"], cad["currency"]) == (67500, "cad")


def test_a_replayed_purchase_answers_the_same_package_with_a_new_secret(api: ApiClient) -> None:
    key = unique_key()
    body = {"package_id": PACKAGE, "buyer": CLIENT}
    first = api.post("/packages/purchase", body, headers={"Idempotency-Key": key})
    again = api.post("/packages/purchase", body, headers={"Idempotency-Key": key})
    assert first.status == again.status == 201
    assert again.body["package_id"] == first.body["package_id"]
    assert again.body["payment_intent_id"] == first.body["payment_intent_id"]
    # only the secret's hash is kept: the replay hands out a new one, the lost one stops working
    assert read(api, first.body["package_id"], again.body["secret"]).status == 200
    assert read(api, first.body["package_id"], first.body["secret"]).status == 404


# --- using it ---------------------------------------------------------------------------------------------------


def test_a_package_is_used_three_times_then_refused(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given an active 3-session package
    package = paid_package(api, stripe_double)
    first, second, third, fourth = starts(api, 4)
    # When three sessions are booked with it
    sessions = [booked(api, package, start) for start in (first, second, third)]
    # Then each is confirmed in Cal.com, and Stripe saw no PaymentIntent but the package's
    for session in sessions:
        assert cal_double.booking(session["cal_booking_uid"])["status"] == "accepted"
    assert len(payment_intent_creates(stripe_double)) == 1
    # And a fourth is refused, naming the package
    refused = book_with(api, package, fourth)
    assert refused.status == 409 and refused.error_code == "package_unavailable"
    assert refused.error_fields == {"package"}
    body = view(api, package)
    assert (body["credits_used"], body["credits_remaining"]) == (3, 0)
    assert credits(body) == {s["booking_id"]: "used" for s in sessions}


def test_an_expired_package_refuses_bookings(api: ApiClient, stripe_double: StripeDouble, clock: Clock) -> None:
    # Given an active package, and 181 days later
    package = paid_package(api, stripe_double)
    clock.advance(days=181)
    # When the client books with it
    refused = book_with(api, package, starts(api, 1)[0])
    # Then refused; the package shows as expired with its credits unused
    assert refused.status == 409 and refused.error_code == "package_unavailable"
    body = view(api, package)
    assert (body["status"], body["credits_used"], body["credits_remaining"]) == ("expired", 0, 3)


# --- cancelling a session ---------------------------------------------------------------------------------------


def test_a_cancellation_inside_the_free_window_gives_the_credit_back_and_a_late_one_forfeits_it(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given two sessions booked with a package
    package = paid_package(api, stripe_double)
    early, late = (booked(api, package, start) for start in starts(api, 2))
    # When the client cancels one in Cal.com 48 h ahead, and the other 2 h ahead
    for session, hours in ((early, 48), (late, 2)):
        cal_double.cancel_booking(session["cal_booking_uid"], "plans changed", CLIENT["email"])
        at = datetime.fromisoformat(session["start"]) - timedelta(hours=hours)
        assert (
            deliver_cal(api, cal_double, "BOOKING_CANCELLED", session["cal_booking_uid"], created_at=at).status == 200
        )
    # Then the early one's credit is back, the late one's is spent; no money moved
    body = view(api, package)
    assert credits(body) == {early["booking_id"]: "returned", late["booking_id"]: "forfeited"}
    assert (body["credits_used"], body["credits_remaining"]) == (1, 2)
    assert stripe_refunds(package["payment_intent_id"]) == []


def test_a_session_whose_slot_cal_com_refuses_gets_its_credit_back_and_leaves_nothing_owed(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given a session booked with a credit, and someone booking that time directly in Cal.com before verify
    package = paid_package(api, stripe_double)
    [start] = starts(api, 1)
    started = book_with(api, package, start)
    assert started.status == 201, started.body
    cal_double.take_slot(booking(started.body["booking_id"]).event_type_id, start)
    # When the client verifies: the slot is lost (the coaching call refunds at once: no rebook window)
    assert api.verify(started.body["token"]).error_code == "slot_unavailable"
    # Then the credit is back in the same transaction, and no money is owed (nothing was paid)
    lost = booking(started.body["booking_id"])
    assert (lost.status, lost.money_state) == ("SLOT_UNAVAILABLE", None)
    body = view(api, package)
    assert credits(body) == {started.body["booking_id"]: "returned"}
    assert (body["credits_used"], body["credits_remaining"]) == (0, 3)


def test_two_concurrent_cancellations_give_the_credit_back_once(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given a session booked with a package, cancelled by the client well ahead
    package = paid_package(api, stripe_double)
    session = booked(api, package, starts(api, 1)[0])
    uid, start = session["cal_booking_uid"], datetime.fromisoformat(session["start"])
    cal_double.cancel_booking(uid, "plans changed", CLIENT["email"])
    # When two cancellation events (not duplicates of each other) are handled at the same time
    workers = [
        Worker(
            lambda h=hours: deliver_cal(
                api, cal_double, "BOOKING_CANCELLED", uid, created_at=start - timedelta(hours=h)
            )
        )
        for hours in (48, 47)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    # Then the one credit came back once
    assert all(worker.error is None and worker.result.status == 200 for worker in workers)
    body = view(api, package)
    assert (body["credits_used"], body["credits_remaining"]) == (0, 3)
    assert credits(body) == {session["booking_id"]: "returned"}


@pytest.mark.parametrize(("refund", "credit"), [("full", "returned"), ("none", "forfeited")])
def test_the_owner_cancelling_a_session_returns_the_credit_by_the_refund_choice(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble, refund: str, credit: str
) -> None:
    # Given a session booked with a package
    package = paid_package(api, stripe_double)
    session = booked(api, package, starts(api, 1)[0])
    # When the owner cancels it, giving everything back or keeping it
    cancelled = api.post(
        f"/admin/bookings/{session['booking_id']}/cancel",
        {"reason": "coach unavailable", "refund": refund},
        headers=owner_headers() | {"Idempotency-Key": unique_key()},
    )
    # Then cancelled in Cal.com too, and the credit follows the choice
    assert cancelled.status == 200, cancelled.body
    assert cal_double.booking(session["cal_booking_uid"])["status"] == "cancelled"
    assert credits(view(api, package)) == {session["booking_id"]: credit}


def test_a_no_show_forfeits_the_credit(api: ApiClient, stripe_double: StripeDouble, clock: Clock) -> None:
    # Given a session booked with a package, and its time has passed
    package = paid_package(api, stripe_double)
    session = booked(api, package, starts(api, 1)[0])
    travel_to(clock, datetime.fromisoformat(session["start"]) + timedelta(minutes=50))
    # When the owner marks the client absent
    marked = api.post(
        f"/admin/bookings/{session['booking_id']}/no-show",
        {"note": "did not call in"},
        headers=owner_headers() | {"Idempotency-Key": unique_key()},
    )
    # Then the credit is spent on it
    assert marked.status == 200, marked.body
    body = view(api, package)
    assert credits(body) == {session["booking_id"]: "forfeited"}
    assert (body["credits_used"], body["credits_remaining"]) == (1, 2)


# --- the owner's refund -----------------------------------------------------------------------------------------


def test_the_owner_refunds_the_unused_sessions_share_once_and_the_package_stops(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a package with one session used
    package = paid_package(api, stripe_double)
    first, later = starts(api, 2)
    booked(api, package, first)
    # When the owner refunds it, then again with another Idempotency-Key
    refunded = owner_refund(api, package["package_id"])
    again = owner_refund(api, package["package_id"])
    # Then 2/3 of the price went back once (rounded down), and the package takes no more bookings
    assert refunded.status == 200, refunded.body
    assert refunded.body["refunded"] == PRICE * 2 // 3 == 33333
    assert again.status == 200 and again.body["refunded"] == 0
    assert refunded_amounts(package["payment_intent_id"]) == [33333]
    assert again.body["package"]["status"] == "refunded" and again.body["package"]["amount_refunded"] == 33333
    assert (again.body["package"]["credits_used"], again.body["package"]["credits_remaining"]) == (1, 2)
    refused = book_with(api, package, later)
    assert refused.status == 409 and refused.error_code == "package_unavailable"
    # And the owner's views show it
    listed = api.request("GET", "/admin/packages", headers=owner_headers("staff"))
    assert listed.status == 200 and [p["package_id"] for p in listed.body["packages"]] == [package["package_id"]]
    one = api.request("GET", f"/admin/packages/{package['package_id']}", headers=owner_headers("staff"))
    assert one.status == 200 and one.body["buyer"]["email"] == CLIENT["email"]
    assert [line["target"] for line in one.body["history"]] == ["PENDING", "ACTIVE", "REFUNDED", "REFUNDED"]


def test_two_owner_refunds_at_once_refund_once(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a package with one session used
    package = paid_package(api, stripe_double)
    booked(api, package, starts(api, 1)[0])
    # When two owners (two Idempotency-Keys) refund it at the same moment
    workers = [Worker(lambda: owner_refund(api, package["package_id"])) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    # Then the refund in flight on the package made the other wait and find it done: one refund at Stripe
    assert all(worker.error is None and worker.result.status == 200 for worker in workers)
    assert sorted(worker.result.body["refunded"] for worker in workers) == [0, 33333]
    assert refunded_amounts(package["payment_intent_id"]) == [33333]


def test_a_dashboard_refund_counts_toward_the_share(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a package with one session used, and 100.00 refunded in the Stripe Dashboard
    package = paid_package(api, stripe_double)
    booked(api, package, starts(api, 1)[0])
    dashboard_refund(package["payment_intent_id"], 10000)
    # When the owner refunds the unused sessions
    response = owner_refund(api, package["package_id"])
    # Then only what the share still lacks is refunded
    assert response.status == 200, response.body
    assert response.body["refunded"] == 33333 - 10000
    assert refunded_amounts(package["payment_intent_id"]) == [10000, 23333]
    assert response.body["package"]["amount_refunded"] == 33333


def test_a_dashboard_refund_shows_on_the_package_when_stripe_reports_it(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a paid package, refunded 100.00 in the Stripe Dashboard
    package = paid_package(api, stripe_double)
    refund = dashboard_refund(package["payment_intent_id"], 10000)
    # When Stripe's signed charge.refunded arrives (twice: Stripe may deliver an event again)
    event = stripe_event(stripe_double, "charge.refunded", refund.charge)
    for _ in range(2):
        assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    # Then the owner sees what Stripe returned, once; no money moved by us, the package still books
    seen = api.request("GET", f"/admin/packages/{package['package_id']}", headers=owner_headers("staff"))
    assert seen.status == 200, seen.body
    assert (seen.body["amount_refunded"], seen.body["status"]) == (10000, "active")
    assert refunded_amounts(package["payment_intent_id"]) == [10000]


def test_a_dispute_of_a_packages_payment_alerts_the_owner_once(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given a paid package whose payment the buyer disputes with the bank
    package = paid_package(api, stripe_double)
    charge = stripe_client().v1.payment_intents.retrieve(package["payment_intent_id"]).latest_charge
    dispute = stripe_double.create_dispute(str(charge))
    # When Stripe's charge.dispute.created arrives (and again)
    event = stripe_event(stripe_double, "charge.dispute.created", str(dispute["id"]))
    for _ in range(2):
        assert deliver_stripe(api, stripe_double, event["id"]).status == 200
    # Then the owner is alerted once, naming the package
    disputed = [a for a in alerts() if package["package_id"] in a["subject"]]
    assert [a["subject"] for a in disputed] == [f"[package {package['package_id']}] Payment disputed; payout blocked"]


def test_a_refund_retried_after_stripe_forgot_its_key_reads_stripe_and_never_refunds_twice(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a package with one session used, and an owner refund whose answer from Stripe was lost
    package = paid_package(api, stripe_double)
    booked(api, package, starts(api, 1)[0])
    key = unique_key()

    def answer_lost(send: Any, method: str, path: str, url: str, body: str) -> Any:
        response = send()
        if method == "POST" and path == "/v1/refunds":
            import requests

            raise requests.exceptions.ReadTimeout("the answer was lost (test fault)")
        return response

    with monkeypatch.context() as patched:
        on_stripe_http(patched, answer_lost)
        lost = owner_refund(api, package["package_id"], key)
    assert lost.status >= 500
    assert refunded_amounts(package["payment_intent_id"]) == [33333]  # Stripe did refund
    # When it is retried 25 h later (Stripe forgot its Idempotency-Key), and once more with a new key
    clock.advance(hours=25)
    retried = owner_refund(api, package["package_id"], key)
    fresh = owner_refund(api, package["package_id"])
    # Then the refund Stripe already has is found, not repeated
    assert retried.status == 200, retried.body
    assert retried.body["refunded"] == 33333 and fresh.body["refunded"] == 0
    assert refunded_amounts(package["payment_intent_id"]) == [33333]
    assert retried.body["package"]["amount_refunded"] == 33333
