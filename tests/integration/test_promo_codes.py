"""Promo codes and free services (issue 12, bullets 1-2): the owner's codes, GET /promo without enumeration, a use
taken in the hold's transaction (40 clients racing for the last one), given back by an expired hold, and bookings
with nothing to pay that never reach Stripe yet are confirmed in Cal.com like any other."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta
from typing import Any

import pytest
from botocore.client import BaseClient

from local.cal_double import CalDouble
from local.dev_auth import DevRole
from local.lambda_runtime import LocalLambda, http_event
from local.seed import seed_promo_codes
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    CONSULT,
    FACIAL,
    items_with_prefix,
    live_cal_bookings,
    live_seats_per_slot,
    payment_intent_creates,
    product_now,
    scan_table,
)
from tests.support import ApiClient, ApiResponse, booking, owner_headers, run_job, unique_key

BROWS = "brow-lamination"
INTRO_CALL = "intro-call"  # the shipped free service
CLEANUP = "ExpireHoldsFunction"


def attendee(n: int) -> dict[str, str]:
    return {"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "America/Denver"}


def book(api: ApiClient, start: str, code: str | None, *, service_id: str = FACIAL, n: int = 0) -> ApiResponse:
    body: dict[str, Any] = {"service_id": service_id, "start": start, "attendee": attendee(n)}
    if code is not None:
        body["promo_code"] = code
    return api.post("/payments/create-intent", body)


def create_code(api: ApiClient, role: DevRole = "owner", key: str | None = None, **body: Any) -> ApiResponse:
    headers = owner_headers(role) | {"Idempotency-Key": key or unique_key()}
    return api.post("/admin/promo-codes", body, headers=headers)


def deactivate(api: ApiClient, code: str, role: DevRole = "owner") -> ApiResponse:
    headers = owner_headers(role) | {"Idempotency-Key": unique_key()}
    return api.post(f"/admin/promo-codes/{code}/deactivate", headers=headers)


def listed(api: ApiClient, role: DevRole = "owner") -> dict[str, dict[str, Any]]:
    response = api.request("GET", "/admin/promo-codes", headers=owner_headers(role))
    assert response.status == 200, response.body
    return {promo["code"]: promo for promo in response.body["promo_codes"]}


def promo_item(code: str) -> dict[str, Any]:
    [item] = [i for i in items_with_prefix("PROMO") if i["sk"]["S"] == f"CODE#{code}"]
    return item


def uses_taken(code: str) -> int:
    return int(promo_item(code)["uses_taken"]["N"])


def slots(api: ApiClient, service_id: str) -> list[str]:
    return [slot["start"] for slot in api.free_slots(service_id)]


def stripe_calls(stripe_double: StripeDouble) -> int:
    return len(stripe_double.requests)


# --- the use is taken with the hold -------------------------------------------------------------------------------


def test_forty_clients_racing_for_the_last_use_exactly_one_wins(
    api: ApiClient, stripe_double: StripeDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 10% code with two uses, one already taken by a booking
    assert create_code(api, code="LAST10", kind="percent", value=10, max_uses=2).status == 201
    # Two event types: 41 different slots, no seat shared
    choices = [(FACIAL, start) for start in slots(api, FACIAL)] + [(BROWS, start) for start in slots(api, BROWS)]
    assert len(choices) >= 41, len(choices)
    first = book(api, choices[0][1], "LAST10", service_id=choices[0][0])
    assert first.status == 201, first.body
    intents_before = len(payment_intent_creates(stripe_double))

    # When 40 clients ask for the last use at the same moment, each for a free slot of their own
    def client(n: int) -> ApiResponse:
        service_id, start = choices[n + 1]
        return book(api, start, "last10", service_id=service_id, n=n)

    # All 40 have read the code usable (one use left) before any of them writes its hold: only the hold's
    # transaction can tell them apart
    from booking.dal import bookings

    all_checked = threading.Barrier(40)
    hold = bookings.create_held_booking

    def hold_together(*args: Any, **kwargs: Any) -> None:
        with suppress(threading.BrokenBarrierError):
            all_checked.wait(10)
        hold(*args, **kwargs)

    monkeypatch.setattr(bookings, "create_held_booking", hold_together)
    with ThreadPoolExecutor(max_workers=40) as pool:
        responses = list(pool.map(client, range(40)))
    assert not all_checked.broken
    # Then exactly one holds its slot with the code, the 39 others are told the code cannot be used
    statuses = Counter(response.status for response in responses)
    assert statuses == {201: 1, 409: 39}, [r.body for r in responses if r.status not in (201, 409)]
    assert {r.error_code for r in responses if r.status == 409} == {"promo_unavailable"}
    assert all(r.error_fields == {"promo_code"} for r in responses if r.status == 409)
    # And the code is used exactly up, the losers hold nothing and opened no PaymentIntent
    assert uses_taken("LAST10") == 2
    assert listed(api)["LAST10"]["uses_remaining"] == 0
    [winner] = [r for r in responses if r.status == 201]
    assert winner.body["promo_code"] == "LAST10" and winner.body["discount"] > 0
    assert sum(live_seats_per_slot().values()) == 2
    assert len(items_with_prefix("BOOKING#")) == 2
    assert len(payment_intent_creates(stripe_double)) == intents_before + 1


def test_the_26th_use_of_the_seeded_free_code_fails_and_a_free_booking_never_reaches_stripe(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given seed 003's WIMD25 as the local runner seeds it (a free session, 25 uses, every service)
    assert seed_promo_codes() == ["WIMD25"]
    assert seed_promo_codes() == []  # a restart keeps it (and its uses) as it is
    starts = slots(api, FACIAL)
    assert len(starts) >= 26
    # When one client books with it
    before = stripe_calls(stripe_double)
    answer = book(api, starts[0], "wimd25")
    # Then the booking is paid at 0 without any request to Stripe
    assert answer.status == 201, answer.body
    assert stripe_calls(stripe_double) == before
    body = answer.body
    assert (body["payment_intent_id"], body["client_secret"]) == (None, None)
    assert (body["total"], body["amount_due_now"], body["balance_due"], body["discount"]) == (0, 0, 0, 16500)
    assert body["promo_code"] == "WIMD25" and body["token"] and body["verify_url"]
    paid = booking(body["booking_id"])
    assert paid.status == "PAID" and paid.amount_paid == 0 and paid.payment_intent_id is None
    assert [(h.source, h.target) for h in paid.history] == [("NEW", "HELD"), ("HELD", "PAID")]
    # And /bookings/verify with the answer's token confirms it in Cal.com like any booking
    confirmation = api.verify(body["token"])
    assert confirmation.status == 200, confirmation.body
    assert booking(body["booking_id"]).status == "CONFIRMED"
    assert [b["uid"] for b in live_cal_bookings(cal_double)] == [confirmation.body["cal_booking_uid"]]
    assert stripe_calls(stripe_double) == before
    # When 24 more clients use it, then a 26th tries
    for n in range(1, 25):
        assert book(api, starts[n], "WIMD25", n=n).status == 201
    refused = book(api, starts[25], "WIMD25", n=25)
    # Then the 26th is refused, holds nothing, and the code shows 25 of 25 used
    assert refused.status == 409 and refused.error_code == "promo_unavailable", refused.body
    assert uses_taken("WIMD25") == 25 and listed(api)["WIMD25"]["uses_remaining"] == 0
    assert len(items_with_prefix("BOOKING#")) == 25
    assert stripe_calls(stripe_double) == before


def test_an_expired_hold_gives_its_use_back(api: ApiClient, lam: LocalLambda, clock: Any) -> None:
    # Given a one-use 20% code held by a booking nobody pays for
    assert create_code(api, code="ONCE20", kind="percent", value=20, max_uses=1).status == 201
    starts = slots(api, FACIAL)
    held = book(api, starts[0], "ONCE20")
    assert held.status == 201, held.body
    assert held.body["payment_intent_id"] and held.body["discount"] == 3300  # 20% of 16500
    assert book(api, starts[1], "ONCE20", n=1).error_code == "promo_unavailable"
    # When the hold lapses and the cleanup job expires it
    clock.advance(minutes=16)
    assert run_job(lam, CLEANUP)["holds_expired"] == 1
    # Then the use is back: the code shows it, and another client can book with it
    assert booking(held.body["booking_id"]).status == "EXPIRED"
    assert uses_taken("ONCE20") == 0
    assert book(api, starts[1], "ONCE20", n=1).status == 201


# --- GET /promo -------------------------------------------------------------------------------------------------


def check(api: ApiClient, code: str, **query: Any) -> ApiResponse:
    query.setdefault("service_id", FACIAL)
    return api.get(f"/promo/{code}", **query)


def test_a_valid_code_says_what_the_booking_would_cost(api: ApiClient) -> None:
    # Given a 25% code with 10 uses
    assert create_code(api, code="SPRING25", kind="percent", value=25, max_uses=10).status == 201
    # When the page checks it, in any case
    answer = check(api, "spring25")
    # Then it is valid, with its uses left and the price before and after
    assert answer.status == 200, answer.body
    assert answer.body == {
        "code": "SPRING25",
        "valid": True,
        "uses_remaining": 10,
        "price": {"amount": 16500, "currency": "usd"},
        "discounted_price": {"amount": 12375, "currency": "usd"},
        "message": "SPRING25: 25% off.",
    }
    # And an amount code in another service's terms
    assert create_code(api, code="TENOFF", kind="amount", value=1000, max_uses=3, services=[BROWS]).status == 201
    brows = check(api, "TENOFF", service_id=BROWS).body
    assert brows["valid"] and brows["discounted_price"] == {"amount": 7999, "currency": "usd"}


def record_dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any, Any]]:
    """(operation, key, consistent read, condition) of every DynamoDB call from now on."""
    calls: list[tuple[str, str, Any, Any]] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            key = json.dumps(params.get("Key"), sort_keys=True)
            calls.append((operation, key, params.get("ConsistentRead"), params.get("ConditionExpression")))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def test_unknown_exhausted_inactive_and_expired_codes_answer_alike_after_the_same_work(
    api: ApiClient, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a code used up, one deactivated, one past its dates, one not started, one for another service
    now = product_now()
    assert create_code(api, code="USEDUP", kind="free", max_uses=1).status == 201
    assert book(api, slots(api, FACIAL)[0], "USEDUP").status == 201
    assert create_code(api, code="STOPPED", kind="percent", value=50, max_uses=5).status == 201
    assert deactivate(api, "STOPPED").status == 200
    until = (now + timedelta(hours=1)).isoformat()
    assert create_code(api, code="LAPSED", kind="percent", value=50, max_uses=5, valid_until=until).status == 201
    later = (now + timedelta(days=30)).isoformat()
    assert create_code(api, code="NOTYET", kind="percent", value=50, max_uses=5, valid_from=later).status == 201
    assert create_code(api, code="BROWSONLY", kind="free", max_uses=5, services=[BROWS]).status == 201
    clock.advance(hours=2)
    # When the page checks each of them and a code that never existed, recording the DynamoDB work of each
    calls = record_dynamodb_calls(monkeypatch)
    answers: dict[str, dict[str, Any]] = {}
    work: dict[str, list[tuple[str, str, Any, Any]]] = {}
    for code in ("NOSUCHCODE", "USEDUP", "STOPPED", "LAPSED", "NOTYET", "BROWSONLY"):
        calls.clear()
        answer = check(api, code)
        assert answer.status == 200, answer.body
        answers[code] = answer.body
        work[code] = [call for call in calls if call[0] != "DescribeTable"]
    # Then every answer is the same but for the code: not valid, no uses, no price after
    assert {code: body["code"] for code, body in answers.items()} == {code: code for code in answers}
    shapes = {json.dumps({k: v for k, v in body.items() if k != "code"}, sort_keys=True) for body in answers.values()}
    assert len(shapes) == 1
    assert answers["NOSUCHCODE"]["valid"] is False and answers["NOSUCHCODE"]["discounted_price"] is None
    assert answers["NOSUCHCODE"]["uses_remaining"] == 0
    # And each did the same DynamoDB work: count the caller's request, read the code's item (consistently)
    shapes_of_work = {
        code: [(op, key.replace(f"CODE#{code}", "CODE#<CODE>"), *rest) for op, key, *rest in calls_of]
        for code, calls_of in work.items()
    }
    assert len({json.dumps(w) for w in shapes_of_work.values()}) == 1, shapes_of_work
    assert [op for op, *_ in shapes_of_work["NOSUCHCODE"]] == ["UpdateItem", "GetItem"]


def test_too_many_checks_from_one_address_are_refused_and_write_nothing(
    api: ApiClient, lam: LocalLambda, clock: Any
) -> None:
    from booking.settings import get_settings

    limit = get_settings().promo_checks_per_minute
    # Given the clock just past the start of a minute (all the checks below fall in one window)
    now = product_now()
    clock.advance(seconds=60 - now.second - now.microsecond / 1e6 + 1)
    # When one address checks codes `limit` times
    for n in range(limit):
        assert check(api, f"GUESS{n:03d}").status == 200
    table = scan_table()
    # Then the next check is 429 rate_limited with Retry-After, and nothing at all was written for it
    refused = check(api, "GUESS999")
    assert refused.status == 429 and refused.error_code == "rate_limited", refused.body
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert scan_table() == table
    [counter] = items_with_prefix("RATE#promo-check#")
    assert int(counter["count"]["N"]) == limit and "127.0.0.1" not in json.dumps(counter)  # the address is hashed
    # And another address is still served
    other = lam.invoke(
        "CatalogFunction",
        http_event(
            "GET",
            "/promo/GUESS999",
            query={"service_id": FACIAL},
            route_key="GET /promo/{code}",
            source_ip="203.0.113.7",
        ),
    )
    assert other["statusCode"] == 200, other
    # And the first address is served again in the next minute
    clock.advance(seconds=60)
    assert check(api, "GUESS999").status == 200


def test_the_check_validates_what_it_is_asked(api: ApiClient) -> None:
    assert check(api, "WIMD25", service_id="nope").error_code == "unknown_service"
    assert check(api, "WIMD25", currency="eur").error_fields == {"currency"}
    assert check(api, "no").status == 422  # too short to be a code
    assert check(api, "WIMD25", service_id=INTRO_CALL).body["price"] == {"amount": 0, "currency": "usd"}


# --- the owner's codes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "percent", "value": 0}, "value"),
        ({"kind": "percent", "value": 101}, "value"),
        ({"kind": "percent"}, "value"),
        ({"kind": "amount", "value": 0}, "value"),
        ({"kind": "amount", "value": -500}, "value"),
        ({"kind": "free", "value": 100}, "value"),
        ({"kind": "free", "max_uses": 0}, "max_uses"),
        ({"kind": "free", "services": ["no-such-service"]}, "services"),
        ({"kind": "free", "valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}, "valid_until"),
        ({"kind": "free", "code": "a b"}, "code"),
        ({"kind": "bogus"}, "kind"),
        ({"kind": "free", "uses_taken": 3}, "uses_taken"),
    ],
)
def test_owner_creating_an_invalid_code_is_told_which_field(api: ApiClient, body: dict[str, Any], field: str) -> None:
    response = create_code(api, **({"code": "BAD1", "max_uses": 5} | body))
    assert response.status == 422 and field in response.error_fields, response.body
    assert items_with_prefix("PROMO") == []


def test_owner_creates_lists_and_deactivates_codes(api: ApiClient) -> None:
    # Given an owner creating a free code for two services
    key = unique_key()
    body = {"code": "Friends", "kind": "free", "max_uses": 3, "services": [BROWS, FACIAL]}
    created = create_code(api, key=key, **body)
    assert created.status == 201, created.body
    assert created.body | {"created_at": None} == {
        "code": "FRIENDS",
        "kind": "free",
        "value": None,
        "max_uses": 3,
        "uses_taken": 0,
        "uses_remaining": 3,
        "valid_from": None,
        "valid_until": None,
        "services": [BROWS, FACIAL],
        "active": True,
        "created_at": None,
    }
    # When the request is retried with its key: the same code, created once; the key with another body is refused
    assert create_code(api, key=key, **body).body == created.body
    assert create_code(api, key=key, **(body | {"max_uses": 4})).error_code == "idempotency_key_reused"
    # And the same code again under another key is a conflict
    duplicate = create_code(api, **(body | {"code": "friends"}))
    assert duplicate.status == 409 and duplicate.error_code == "promo_code_exists", duplicate.body
    # When a client books with it, the list shows the use
    assert book(api, slots(api, FACIAL)[0], "FRIENDS").status == 201
    assert (listed(api)["FRIENDS"]["uses_taken"], listed(api)["FRIENDS"]["uses_remaining"]) == (1, 2)
    # When the owner deactivates it (twice: the same answer)
    stopped = deactivate(api, "friends")
    assert stopped.status == 200 and stopped.body["active"] is False, stopped.body
    assert deactivate(api, "FRIENDS").body == stopped.body
    # Then create-intent refuses it, and the list shows it inactive
    refused = book(api, slots(api, FACIAL)[1], "FRIENDS", n=1)
    assert refused.status == 409 and refused.error_code == "promo_unavailable"
    assert listed(api)["FRIENDS"]["active"] is False
    assert deactivate(api, "NOSUCH").error_code == "promo_code_not_found"


def test_staff_may_list_codes_but_not_create_or_deactivate_them(api: ApiClient) -> None:
    assert create_code(api, code="OWNERS", kind="percent", value=10, max_uses=1).status == 201
    assert list(listed(api, "staff")) == ["OWNERS"]
    assert create_code(api, "staff", code="STAFFS", kind="free", max_uses=1).status == 403
    assert deactivate(api, "OWNERS", "staff").status == 403
    assert listed(api)["OWNERS"]["active"] is True
    no_key = api.post("/admin/promo-codes", {"code": "NOKEY", "kind": "free", "max_uses": 1}, headers=owner_headers())
    assert no_key.status == 422 and no_key.error_fields == {"Idempotency-Key"}
    assert api.get("/admin/promo-codes").status == 401


# --- free services --------------------------------------------------------------------------------------------


def test_a_free_service_books_without_stripe_and_is_confirmed_in_cal_com(
    api: ApiClient, stripe_double: StripeDouble, cal_double: CalDouble
) -> None:
    # Given the shipped intro call (price 0)
    start = slots(api, INTRO_CALL)[0]
    # When a client books it
    answer = book(api, start, None, service_id=INTRO_CALL)
    # Then it is paid at 0 with no Stripe request at all, and verify confirms it in Cal.com
    assert answer.status == 201, answer.body
    assert stripe_double.requests == []
    assert (answer.body["payment_intent_id"], answer.body["total"], answer.body["amount_due_now"]) == (None, 0, 0)
    assert booking(answer.body["booking_id"]).status == "PAID"
    confirmed = api.verify(answer.body["token"])
    assert confirmed.status == 200, confirmed.body
    assert booking(answer.body["booking_id"]).status == "CONFIRMED"
    assert len(live_cal_bookings(cal_double)) == 1
    assert stripe_double.requests == []


def test_a_code_on_a_free_service_is_refused_and_spends_no_use(api: ApiClient) -> None:
    # Given WIMD25 (seeded with 25 uses) and the free intro call
    seed_promo_codes()
    # When a client adds the code to the free booking / Then 422 names it, nothing is held, no use is spent
    answer = book(api, slots(api, INTRO_CALL)[0], "WIMD25", service_id=INTRO_CALL)
    assert answer.status == 422, answer.body
    assert answer.error_fields == {"promo_code"}
    assert listed(api)["WIMD25"]["uses_taken"] == 0
    assert not items_with_prefix("BOOKING#")


def test_a_100_percent_code_holds_both_seats_of_a_slot_for_good_without_stripe(
    api: ApiClient, stripe_double: StripeDouble
) -> None:
    # Given a capacity-2 service and a 100% code: two clients in one slot, both paid at 0
    assert create_code(api, code="DUO", kind="percent", value=100, max_uses=2, services=[CONSULT]).status == 201
    start = slots(api, CONSULT)[0]
    answers = [book(api, start, "DUO", service_id=CONSULT, n=n) for n in range(2)]
    assert [a.status for a in answers] == [201, 201], [a.body for a in answers]
    assert [(a.body["total"], a.body["payment_intent_id"]) for a in answers] == [(0, None), (0, None)]
    assert stripe_double.requests == []
    # And both seats are kept for good (no hold to lapse)
    assert list(live_seats_per_slot(product_now() + timedelta(days=1)).values()) == [2]
