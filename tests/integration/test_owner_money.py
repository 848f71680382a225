"""Issue 10: the owner's money actions through the admin API (refund, cancel, collect the balance, no-show), several
payments per booking, pay links, and the money moments the schedule runs on its own.

Every request goes through the handler entry points with a signed dev token (the local gateway verifies it);
Stripe is the real `stripe` client against the Stripe double, whose objects are the ledger we assert on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import MONDAY, iso, local, next_weekday, scan_table, travel_to
from tests.integration.test_stripe_truth import (
    dashboard_refund,
    net_transferred,
    on_stripe_http,
    refunded_amounts,
    stripe_refunds,
    transfers,
)
from tests.support import (
    ApiClient,
    ApiResponse,
    Clock,
    Worker,
    alerts,
    deliver_stripe,
    owner_headers,
    pay,
    run_job,
    stripe_client,
    stripe_event,
    unique_key,
)

FACIAL_PRICE, FACIAL_DEPOSIT = 16500, 8250  # signature-facial: 50% deposit, no-show fee 100% of the price
BROW, BROW_DEPOSIT, BROW_PRICE = "brow-lamination", 4500, 8999  # provider acct_1LocalBrowArtist gets 80%
CLEANUP, PAYOUTS = "ExpireHoldsFunction", "PayoutsCronFunction"
OWNER_EMAIL = "owner@example.com"


def act(
    api: ApiClient, booking_id: str, action: str, body: Any = None, *, key: str | None = None, **headers: str
) -> ApiResponse:
    request_headers = owner_headers(email=OWNER_EMAIL) | {"Idempotency-Key": key or unique_key()} | headers
    return api.post(f"/admin/bookings/{booking_id}/{action}", body, headers=request_headers)


def view(api: ApiClient, booking_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/admin/bookings/{booking_id}", headers=owner_headers())
    assert response.status == 200, response.body
    return response.body


def intents_of(booking_id: str) -> list[Any]:
    """Every PaymentIntent Stripe has for the booking (its metadata names it)."""
    found = stripe_client().v1.payment_intents.list(params={"limit": 100}).data
    return [intent for intent in found if intent.to_dict().get("metadata", {}).get("booking_id") == booking_id]


def of_purpose(booking_id: str, purpose: str) -> list[Any]:
    return [i for i in intents_of(booking_id) if i.to_dict().get("metadata", {}).get("purpose") == purpose]


def history_reasons(body: dict[str, Any]) -> list[str]:
    return [f"{line['actor']}: {line['reason']}" for line in body["history"]]


@pytest.fixture
def tuesday(clock: Clock) -> Iterator[Any]:
    """Monday 08:00 business time; a facial on Tuesday at 10:00 is 26 h ahead (free cancellation until 24 h)."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    yield local(monday + timedelta(days=1), 10)


def confirmed(api: ApiClient, start: Any, **kwargs: Any) -> dict[str, Any]:
    return api.confirmed_booking(start=iso(start), **kwargs)


def saved_card_needing_authentication(api: ApiClient, stripe_double: StripeDouble, start: Any) -> dict[str, Any]:
    """A deposit paid with a card that asks for 3-D Secure every time (pm_card_authenticationRequired): the
    client authenticated on-session, so the card is saved, but an off-session charge needs the client again."""
    intent = api.create_intent(start=iso(start))
    assert intent.status == 201, intent.body
    assert pay(intent.body["payment_intent_id"], "pm_card_authenticationRequired").status == "requires_action"
    stripe_double.succeed_payment_intent(intent.body["payment_intent_id"])  # the client passed 3-D Secure
    token = api.create_token(intent.body)
    assert token.status == 201, token.body
    assert api.verify(token.body["token"]).status == 200
    return intent.body


def brow_paid_out(api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any) -> str:
    """A brow lamination on Wednesday 09:00 whose provider was paid their 80% of the deposit 73 h later."""
    bid = confirmed(api, tuesday + timedelta(days=1, hours=-1), service_id=BROW)["booking_id"]
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    assert net_transferred(bid) == BROW_DEPOSIT * 80 // 100
    return str(bid)


# --- refunds ---------------------------------------------------------------------------------------------------


def test_owner_refunds_part_of_a_booking_once_and_the_history_names_them(api: ApiClient, tuesday: Any) -> None:
    booking = confirmed(api, tuesday)
    bid, pi = booking["booking_id"], booking["payment_intent_id"]
    key = unique_key()

    first = act(api, bid, "refund", {"amount": 2000, "reason": "late start"}, key=key)
    again = act(api, bid, "refund", {"amount": 2000, "reason": "late start"}, key=key)

    assert first.status == 200, first.body
    assert first.body["refunded"] == 2000
    assert again.status == 200 and again.body["refunded"] == 2000
    assert refunded_amounts(pi) == [2000]  # the retry found its refund and made none
    body = first.body["booking"]
    assert body["status"] == "CONFIRMED"
    assert body["payment"]["amount_refunded"] == 2000
    assert any(r.startswith(f"owner:{OWNER_EMAIL}: refunded 20.00 USD") for r in history_reasons(view(api, bid)))
    reused = act(api, bid, "refund", {"amount": 1000, "reason": "other"}, key=key)
    assert reused.status == 422 and reused.error_code == "idempotency_key_reused"


def test_an_over_refund_is_refused_naming_the_amount_and_counts_dashboard_refunds(api: ApiClient, tuesday: Any) -> None:
    booking = confirmed(api, tuesday)
    bid, pi = booking["booking_id"], booking["payment_intent_id"]
    dashboard_refund(pi, 3000)  # outside our code; no webhook delivered: Stripe is the ledger

    too_much = act(api, bid, "refund", {"amount": FACIAL_DEPOSIT - 3000 + 1, "reason": "goodwill"})
    assert too_much.status == 422, too_much.body
    assert "amount" in too_much.error_fields
    assert refunded_amounts(pi) == [3000]

    rest = act(api, bid, "refund", {"reason": "goodwill"})  # no amount: all that is still refundable
    assert rest.status == 200, rest.body
    assert rest.body["refunded"] == FACIAL_DEPOSIT - 3000
    assert sum(refunded_amounts(pi)) == FACIAL_DEPOSIT
    nothing = act(api, bid, "refund", {"reason": "again"})
    assert nothing.status == 409 and nothing.error_code == "nothing_refundable"


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "x", "amount": 0}, {"reason": "x", "amount": "ten"}, {"reason": "x", "x": 1}],
)
def test_a_bad_refund_request_is_a_422_naming_the_field_and_moves_nothing(
    api: ApiClient, tuesday: Any, body: dict[str, Any]
) -> None:
    booking = confirmed(api, tuesday)
    response = act(api, booking["booking_id"], "refund", body)
    assert response.status == 422, response.body
    assert response.error_fields
    assert refunded_amounts(booking["payment_intent_id"]) == []


def test_owner_actions_need_an_idempotency_key_and_the_owner_group(api: ApiClient, tuesday: Any) -> None:
    booking = confirmed(api, tuesday)
    path = f"/admin/bookings/{booking['booking_id']}/refund"
    no_key = api.post(path, {"reason": "x"}, headers=owner_headers())
    staff = api.post(path, {"reason": "x"}, headers=owner_headers("staff") | {"Idempotency-Key": unique_key()})
    assert no_key.status == 422 and "Idempotency-Key" in no_key.error_fields
    assert staff.status == 403 and staff.error_code == "forbidden"
    assert refunded_amounts(booking["payment_intent_id"]) == []


def test_a_refund_after_the_payout_takes_the_providers_share_back(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    bid = brow_paid_out(api, lam, clock, tuesday)

    response = act(api, bid, "refund", {"amount": 1000, "reason": "discount"})

    assert response.status == 200, response.body
    assert net_transferred(bid) == (BROW_DEPOSIT - 1000) * 80 // 100


def test_an_owner_refund_whose_answer_was_lost_is_not_made_again_a_day_later(
    api: ApiClient, clock: Clock, tuesday: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    booking = confirmed(api, tuesday + timedelta(days=3))
    bid, pi = booking["booking_id"], booking["payment_intent_id"]
    key = unique_key()

    def answer_lost(send: Any, method: str, path: str, url: str, body: str) -> Any:
        response = send()
        if method == "POST" and path == "/v1/refunds":
            import requests

            raise requests.exceptions.ReadTimeout("the answer was lost (test fault)")
        return response

    with monkeypatch.context() as patched:
        on_stripe_http(patched, answer_lost)
        lost = act(api, bid, "refund", {"amount": 1500, "reason": "late"}, key=key)
    assert lost.status >= 500
    clock.advance(hours=25)  # Stripe has forgotten its Idempotency-Key
    retried = act(api, bid, "refund", {"amount": 1500, "reason": "late"}, key=key)

    assert retried.status == 200, retried.body
    assert [r.amount for r in stripe_refunds(pi)] == [1500]


# --- cancel ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("choice", "refunded"), [("policy", 0), ("full", FACIAL_DEPOSIT), ("none", 0)])
def test_owner_cancels_in_cal_com_frees_the_seat_and_refunds_as_chosen(
    api: ApiClient, cal_double: CalDouble, clock: Clock, tuesday: Any, choice: str, refunded: int
) -> None:
    booking = confirmed(api, tuesday)
    bid, pi, uid = booking["booking_id"], booking["payment_intent_id"], booking["cal_booking_uid"]
    travel_to(clock, tuesday - timedelta(hours=2))  # late: the policy keeps the 50% deposit

    response = act(api, bid, "cancel", {"reason": "owner is ill", "refund": choice})

    assert response.status == 200, response.body
    assert response.body["booking"]["status"] == "CANCELLED"
    assert cal_double.booking(uid)["status"] == "cancelled"
    assert sum(refunded_amounts(pi)) == refunded
    again = act(api, bid, "cancel", {"reason": "owner is ill", "refund": choice})
    assert again.status == 200 and sum(refunded_amounts(pi)) == refunded
    seats = [item for item in scan_table() if item["pk"]["S"].startswith("SLOT#")]
    assert bid not in {seat["booking_id"]["S"] for seat in seats}  # the seat is free for someone else


def test_cancelling_a_cancelled_booking_another_way_is_a_409(api: ApiClient, tuesday: Any) -> None:
    booking = confirmed(api, tuesday)
    assert act(api, booking["booking_id"], "cancel", {"reason": "r", "refund": "full"}).status == 200
    other = act(api, booking["booking_id"], "cancel", {"reason": "r", "refund": "none"})
    assert other.status == 409 and other.error_code == "booking_closed"


# --- the balance -----------------------------------------------------------------------------------------------


def test_the_balance_is_charged_to_the_saved_card_and_the_booking_is_paid_in_full(
    api: ApiClient, stripe_double: StripeDouble, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday)
    bid = booking["booking_id"]

    response = act(api, bid, "collect-balance", {"method": "card_on_file"})

    assert response.status == 200, response.body
    assert response.body["collection"]["outcome"] == "paid"
    payment = response.body["booking"]["payment"]
    assert payment["balance_due"] == 0 and payment["amount_paid"] == FACIAL_PRICE
    assert payment["balance_state"] == "paid"
    [balance] = of_purpose(bid, "balance")
    assert balance.status == "succeeded" and balance.amount == FACIAL_PRICE - FACIAL_DEPOSIT
    webhook = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "payment_intent.succeeded", balance.id)["id"]
    )
    assert webhook.status == 200
    after = view(api, bid)
    assert not {flag["code"] for flag in after["flags"]}  # a second payment of a known purpose is expected
    assert after["payment"]["amount_paid"] == FACIAL_PRICE
    twice = act(api, bid, "collect-balance", {"method": "card_on_file"})
    assert twice.status == 409 and twice.error_code == "nothing_due"


def test_collecting_a_balance_twice_at_once_charges_once(api: ApiClient, tuesday: Any) -> None:
    booking = confirmed(api, tuesday)
    bid = booking["booking_id"]
    workers = [Worker(lambda: act(api, bid, "collect-balance", {"method": "card_on_file"})) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    answers = sorted(worker.result.status for worker in workers)
    assert answers.count(200) == 1 and set(answers) <= {200, 409}, [w.result.body for w in workers]
    [balance] = of_purpose(bid, "balance")
    assert balance.status == "succeeded"
    assert view(api, bid)["payment"]["amount_paid"] == FACIAL_PRICE


def test_a_card_needing_authentication_gets_a_pay_link_the_client_completes(
    api: ApiClient, stripe_double: StripeDouble, tuesday: Any
) -> None:
    booking = saved_card_needing_authentication(api, stripe_double, tuesday)
    bid = booking["booking_id"]

    response = act(api, bid, "collect-balance", {"method": "card_on_file"})

    assert response.status == 200, response.body
    collection = response.body["collection"]
    assert collection["outcome"] == "awaiting_client"
    assert "/book/pay?token=" in collection["pay_url"]
    assert response.body["booking"]["payment"]["balance_state"] == "awaiting_client"
    token = collection["pay_url"].split("token=", 1)[1]
    page = api.post("/bookings/pay", {"token": token})
    assert page.status == 200, page.body
    assert page.body["status"] == "requires_payment"
    assert page.body["client_secret"] and page.body["payment_method"]
    assert page.body["amount"] == FACIAL_PRICE - FACIAL_DEPOSIT

    [balance] = of_purpose(bid, "balance")
    stripe_double.succeed_payment_intent(balance.id)  # the client confirms with Stripe.js on the pay page
    webhook = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "payment_intent.succeeded", balance.id)["id"]
    )

    assert webhook.status == 200, webhook.body
    after = view(api, bid)
    assert after["payment"]["balance_due"] == 0 and after["payment"]["balance_state"] == "paid"
    assert api.post("/bookings/pay", {"token": token}).body["status"] == "paid"
    assert api.post("/bookings/pay", {"token": "x" * 43}).status == 404

    # A dispute of that balance reaches the booking (its PaymentIntent is indexed only by the pay link's item)
    dispute = stripe_double.create_dispute(str(of_purpose(bid, "balance")[0].latest_charge))
    disputed = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", str(dispute["id"]))["id"]
    )
    assert disputed.status == 200 and disputed.body["outcome"].startswith("flagged"), disputed.body


def test_a_balance_paid_offline_closes_the_open_card_payment(
    api: ApiClient, stripe_double: StripeDouble, tuesday: Any
) -> None:
    booking = saved_card_needing_authentication(api, stripe_double, tuesday)
    bid = booking["booking_id"]
    pay_url = act(api, bid, "collect-balance", {"method": "card_on_file"}).body["collection"]["pay_url"]

    response = act(api, bid, "collect-balance", {"method": "offline"})

    assert response.status == 200, response.body
    assert response.body["booking"]["payment"]["balance_due"] == 0
    assert [i.status for i in of_purpose(bid, "balance")] == ["canceled"]
    closed = api.post("/bookings/pay", {"token": pay_url.split("token=", 1)[1]})
    assert closed.status == 410 and closed.error_code == "payment_closed"
    assert any("balance of 8250 paid (offline" in r for r in history_reasons(view(api, bid)))


# --- no-show ---------------------------------------------------------------------------------------------------


def test_a_no_show_keeps_the_deposit_and_charges_the_rest_of_the_fee_once(
    api: ApiClient, clock: Clock, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday)
    bid = booking["booking_id"]
    early = act(api, bid, "no-show")
    assert early.status == 409 and early.error_code == "meeting_not_started"
    travel_to(clock, tuesday + timedelta(hours=2))

    response = act(api, bid, "no-show", {"note": "did not come"})
    again = act(api, bid, "no-show", {"note": "did not come"})

    assert response.status == 200, response.body
    assert response.body["booking"]["status"] == "NO_SHOW"
    [fee] = of_purpose(bid, "no_show_fee")
    assert fee.status == "succeeded" and fee.amount == FACIAL_PRICE - FACIAL_DEPOSIT  # 100% fee less the deposit
    assert again.status == 200 and len(of_purpose(bid, "no_show_fee")) == 1
    assert refunded_amounts(booking["payment_intent_id"]) == []


def test_a_no_show_fee_the_card_cannot_pay_alerts_the_owner_with_a_pay_link(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, tuesday: Any
) -> None:
    booking = saved_card_needing_authentication(api, stripe_double, tuesday)
    travel_to(clock, tuesday + timedelta(hours=2))
    response = act(api, booking["booking_id"], "no-show")
    assert response.status == 200, response.body
    codes = {flag["code"] for flag in response.body["booking"]["flags"]}
    assert "no_show_fee_unpaid" in codes
    assert any("book/pay?token=" in alert["message"] for alert in alerts())


# --- the schedule's money moments ------------------------------------------------------------------------------


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The shipped catalog with the facial set to collect its balance 24 h ahead and charge a 100% late fee."""
    from booking.settings import get_settings

    shipped = json.loads(Path("shared/booking/domain/catalog.json").read_text())
    facial = shipped["services"][0]
    facial["balance_collection"] = {"hours_before_start": 24}
    facial["cancellation"] = {"free_until_hours": 24, "late_fee_percent": 100, "charge_uncovered_fee": True}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(shipped))
    monkeypatch.setenv("CATALOG_PATH", str(path))
    get_settings.cache_clear()
    yield shipped
    monkeypatch.delenv("CATALOG_PATH")
    get_settings.cache_clear()


def test_the_balance_is_collected_on_schedule_once(
    api: ApiClient, lam: LocalLambda, clock: Clock, catalog: Any, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday + timedelta(days=2))  # Thursday 10:00
    bid = booking["booking_id"]
    run_job(lam, CLEANUP)
    assert of_purpose(bid, "balance") == []  # not yet: 24 h before the start

    travel_to(clock, tuesday + timedelta(days=1, hours=1))  # Wednesday 11:00, 23 h ahead
    run_job(lam, CLEANUP)
    run_job(lam, CLEANUP)

    [balance] = of_purpose(bid, "balance")
    assert balance.status == "succeeded"
    assert view(api, bid)["payment"]["balance_due"] == 0
    assert any(r.startswith("schedule: balance of 8250 paid") for r in history_reasons(view(api, bid)))


def test_a_late_cancellation_charges_the_uncovered_fee_once(
    api: ApiClient, cal_double: CalDouble, clock: Clock, catalog: Any, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday)
    bid = booking["booking_id"]
    travel_to(clock, tuesday - timedelta(hours=2))

    response = act(api, bid, "cancel", {"reason": "client called", "refund": "policy"})

    assert response.status == 200, response.body
    [fee] = of_purpose(bid, "late_cancel_fee")
    assert fee.status == "succeeded" and fee.amount == FACIAL_PRICE - FACIAL_DEPOSIT
    assert refunded_amounts(booking["payment_intent_id"]) == []
    assert act(api, bid, "cancel", {"reason": "client called", "refund": "policy"}).status == 200
    assert len(of_purpose(bid, "late_cancel_fee")) == 1


def test_a_refund_spans_payments_latest_first(api: ApiClient, tuesday: Any) -> None:
    booking = confirmed(api, tuesday)
    bid = booking["booking_id"]
    assert act(api, bid, "collect-balance", {"method": "card_on_file"}).status == 200
    [balance] = of_purpose(bid, "balance")

    response = act(api, bid, "refund", {"amount": 10000, "reason": "service cut short"})

    assert response.status == 200, response.body
    assert refunded_amounts(balance.id) == [FACIAL_PRICE - FACIAL_DEPOSIT]
    assert refunded_amounts(booking["payment_intent_id"]) == [10000 - (FACIAL_PRICE - FACIAL_DEPOSIT)]
    assert view(api, booking["booking_id"])["payment"]["amount_refunded"] == 10000


def test_the_provider_gets_a_share_of_a_balance_paid_after_the_payout(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    bid = brow_paid_out(api, lam, clock, tuesday)
    assert act(api, bid, "collect-balance", {"method": "card_on_file"}).status == 200
    run_job(lam, PAYOUTS)
    assert net_transferred(bid) == BROW_DEPOSIT * 80 // 100  # the balance waits its own hold period

    clock.advance(hours=73)
    run_job(lam, PAYOUTS)

    assert net_transferred(bid) == BROW_PRICE * 80 // 100
    assert len(transfers(bid)) == 2


def test_a_balance_paid_through_the_pay_link_whose_webhook_was_lost_is_found_by_the_cleanup_job(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, tuesday: Any
) -> None:
    booking = saved_card_needing_authentication(api, stripe_double, tuesday)
    bid = booking["booking_id"]
    assert act(api, bid, "collect-balance", {"method": "card_on_file"}).status == 200
    [balance] = of_purpose(bid, "balance")
    stripe_double.succeed_payment_intent(balance.id)  # paid on the pay page; payment_intent.succeeded never arrives

    run_job(lam, CLEANUP)

    after = view(api, bid)
    assert after["payment"]["balance_state"] == "paid" and after["payment"]["amount_paid"] == FACIAL_PRICE
    assert [p["method"] for p in after["payment"]["later_payments"]] == ["pay_link"]
    assert any(r.startswith("client: balance of 8250 paid (pay_link") for r in history_reasons(after))


def test_an_owner_cancel_of_a_booking_the_client_already_cancelled_in_cal_com_is_priced_the_owners_way(
    api: ApiClient, cal_double: CalDouble, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday)
    bid, pi = booking["booking_id"], booking["payment_intent_id"]
    cal_double.cancel_booking(booking["cal_booking_uid"], "plans changed", "ada@example.com")  # webhook not here

    response = act(api, bid, "cancel", {"reason": "client called", "refund": "full"})

    assert response.status == 200, response.body
    assert response.body["booking"]["status"] == "CANCELLED"
    assert sum(refunded_amounts(pi)) == FACIAL_DEPOSIT


def test_the_provider_is_paid_from_the_charge_left_after_a_refunded_balance(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    bid = confirmed(api, tuesday + timedelta(days=1, hours=-1), service_id=BROW)["booking_id"]
    assert act(api, bid, "collect-balance", {"method": "card_on_file"}).status == 200
    assert act(api, bid, "refund", {"amount": BROW_PRICE - BROW_DEPOSIT, "reason": "balance waived"}).status == 200
    clock.advance(hours=73)

    run_job(lam, PAYOUTS)

    assert net_transferred(bid) == BROW_DEPOSIT * 80 // 100
    assert view(api, bid)["payout"]["state"] == "PAID"


def test_a_no_show_of_a_booking_cancelled_in_cal_com_is_refused(
    api: ApiClient, cal_double: CalDouble, clock: Clock, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday)
    cal_double.cancel_booking(booking["cal_booking_uid"], "host unwell", "host@example.com")  # webhook lost
    travel_to(clock, tuesday + timedelta(hours=2))

    response = act(api, booking["booking_id"], "no-show")

    assert response.status == 409 and response.error_code == "booking_closed"
    assert of_purpose(booking["booking_id"], "no_show_fee") == []


def test_a_dispute_lost_on_the_deposit_still_pays_the_provider_their_share_of_the_balance(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock, tuesday: Any
) -> None:
    bid = confirmed(api, tuesday + timedelta(days=1, hours=-1), service_id=BROW)["booking_id"]
    charge = view(api, bid)["payment"]["charge_id"]
    dispute = stripe_double.create_dispute(charge)  # the deposit's charge
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"])
    assert act(api, bid, "collect-balance", {"method": "card_on_file"}).status == 200
    clock.advance(hours=73)
    run_job(lam, PAYOUTS)
    assert view(api, bid)["payout"]["state"] == "BLOCKED"

    stripe_double.close_dispute(dispute["id"], "lost")
    closed = deliver_stripe(
        api, stripe_double, stripe_event(stripe_double, "charge.dispute.closed", dispute["id"])["id"]
    )
    clock.advance(hours=1)
    run_job(lam, PAYOUTS)

    assert closed.status == 200, closed.body
    assert net_transferred(bid) == (BROW_PRICE - BROW_DEPOSIT) * 80 // 100  # the balance's share; the deposit was lost
    assert view(api, bid)["payout"]["state"] == "PAID"


def test_a_balance_paid_offline_counts_toward_the_late_cancellation_fee(
    api: ApiClient, clock: Clock, catalog: Any, tuesday: Any
) -> None:
    booking = confirmed(api, tuesday)
    bid = booking["booking_id"]
    assert act(api, bid, "collect-balance", {"method": "offline"}).status == 200  # the rest paid in cash
    travel_to(clock, tuesday - timedelta(hours=2))

    response = act(api, bid, "cancel", {"reason": "client called", "refund": "policy"})

    assert response.status == 200, response.body
    assert of_purpose(bid, "late_cancel_fee") == []  # the 100% fee is covered: deposit by card, balance in cash
    assert refunded_amounts(booking["payment_intent_id"]) == []


def test_a_scheduled_balance_the_card_cannot_pay_alerts_the_owner_with_a_pay_link_and_is_not_retried(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, clock: Clock, catalog: Any, tuesday: Any
) -> None:
    booking = saved_card_needing_authentication(api, stripe_double, tuesday + timedelta(days=2))
    bid = booking["booking_id"]
    travel_to(clock, tuesday + timedelta(days=1, hours=1))  # inside the 24 h before the start

    run_job(lam, CLEANUP)
    clock.advance(hours=6)
    run_job(lam, CLEANUP)

    [balance] = of_purpose(bid, "balance")  # one attempt, no retry off-session
    assert balance.status == "requires_payment_method"
    after = view(api, bid)
    assert after["payment"]["balance_state"] == "awaiting_client"
    assert "balance_awaiting_client" in {flag["code"] for flag in after["flags"]}
    assert any("book/pay?token=" in alert["message"] for alert in alerts())
