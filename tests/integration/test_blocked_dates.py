"""Issue 12, item 5: the owner blocks dates. Availability stops offering them at once; each live booking on them
moves to its backup start when that is still free (in Cal.com too, same payment) or is cancelled by the business
with a full refund; the answer counts what happened and lists the clients to tell.

Every request goes through the handler entry points (signed dev tokens for the owner); Stripe and Cal.com are the
doubles, whose objects are what we assert on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from local.cal_double import CalDouble
from local.stripe_double import StripeDouble
from tests.integration.helpers import (
    CONSULT,
    MONDAY,
    cal_booking_posts,
    instant,
    iso,
    local,
    next_weekday,
    payment_intent_creates,
    travel_to,
)
from tests.integration.test_stripe_truth import refunded_amounts
from tests.support import (
    ATTENDEE,
    ApiClient,
    ApiResponse,
    Clock,
    Worker,
    alerts,
    booking,
    owner_headers,
    unique_key,
)

FACIAL_DEPOSIT = 8250  # signature-facial: 16500 usd, 50% deposit


@pytest.fixture
def tuesday(clock: Clock) -> Iterator[date]:
    """Monday 08:00 business time; Tuesday is the date the owner blocks (its 10:00 is 26 h ahead)."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    yield monday + timedelta(days=1)


def block(api: ApiClient, body: dict[str, Any], *, key: str | None = None, role: str = "owner") -> ApiResponse:
    headers = owner_headers(role) | {"Idempotency-Key": key or unique_key()}  # type: ignore[arg-type]
    return api.post("/admin/blocked-dates", body, headers=headers)


def listed(api: ApiClient) -> list[dict[str, Any]]:
    response = api.request("GET", "/admin/blocked-dates", headers=owner_headers("staff"))
    assert response.status == 200, response.body
    return list(response.body["blocked_dates"])


def slots_on(api: ApiClient, day: date, service_id: str = "signature-facial") -> list[str]:
    response = api.get("/availability", service_id=service_id, start=day.isoformat(), days=1)
    assert response.status == 200, response.body
    return [slot["start"] for slot in response.body["days"][0]["slots"]]


def intent(api: ApiClient, start: datetime, backup: datetime | None = None, **attendee: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": "signature-facial",
        "start": iso(start),
        "attendee": ATTENDEE | attendee,
        "payment_type": "deposit",
    }
    if backup is not None:
        body["backup_start"] = iso(backup)
    response = api.post("/payments/create-intent", body)
    assert response.status == 201, response.body
    return dict(response.body)


def confirmed(api: ApiClient, start: datetime, backup: datetime | None = None, **attendee: str) -> dict[str, Any]:
    from tests.support import pay

    created = intent(api, start, backup, **attendee)
    pay(created["payment_intent_id"])
    token = api.create_token(created)
    assert token.status == 201, token.body
    assert api.verify(token.body["token"]).status == 200
    return created


def cal_start(cal_double: CalDouble, booking_id: str) -> datetime:
    uid = booking(booking_id).cal_booking_uid
    found = cal_double.booking(uid)
    assert found["status"] != "cancelled", found
    return instant(found["start"])


def test_blocking_a_date_moves_one_booking_to_its_backup_and_cancels_the_others_with_a_full_refund(
    api: ApiClient, cal_double: CalDouble, stripe_double: StripeDouble, tuesday: date
) -> None:
    wednesday = tuesday + timedelta(days=1)
    # Given on Tuesday: one booking whose backup (Wednesday 10:00) is free, one whose backup was taken since,
    # one with no backup, and a client still paying (an unpaid hold)
    moving = confirmed(api, local(tuesday, 10), local(wednesday, 10), name="Mo Ving", email="mo@example.com")
    unlucky = confirmed(api, local(tuesday, 13), local(wednesday, 11), name="Un Lucky", email="un@example.com")
    confirmed(api, local(wednesday, 11), name="Early Bird", email="early@example.com")  # takes unlucky's backup
    plain = confirmed(api, local(tuesday, 15), name="No Backup", email="nb@example.com")
    paying = intent(api, local(tuesday, 16), name="Still Paying", email="sp@example.com")
    assert slots_on(api, tuesday)  # Cal.com offers Tuesday
    intents_before = len(payment_intent_creates(stripe_double))

    # When the owner blocks Tuesday
    response = block(api, {"date": tuesday.isoformat(), "reason": "training day", "notify": True})

    # Then one booking moved, three were cancelled (the hold among them), and each client is listed to be told
    assert response.status == 201, response.body
    result = response.body
    assert result["block"]["from"] == result["block"]["to"] == tuesday.isoformat()
    assert result["block"]["reason"] == "training day" and result["block"]["created_by"]
    assert (result["blocked"], result["moved"], result["cancelled"]) == (1, 1, 3)
    assert result["complete"] is True and result["failed"] == []
    told = {entry["booking_id"]: entry for entry in result["users_to_notify"]}
    assert set(told) == {b["booking_id"] for b in (moving, unlucky, plain, paying)}
    assert told[moving["booking_id"]]["outcome"] == "moved"
    assert told[moving["booking_id"]]["email"] == "mo@example.com"
    assert instant(told[moving["booking_id"]]["start"]) == local(tuesday, 10)
    assert instant(told[moving["booking_id"]]["new_start"]) == local(wednesday, 10)
    for cancelled, refunded in ((unlucky, FACIAL_DEPOSIT), (plain, FACIAL_DEPOSIT), (paying, 0)):
        assert told[cancelled["booking_id"]]["outcome"] == "cancelled"
        assert told[cancelled["booking_id"]]["refunded"] == refunded

    # The moved booking: at its backup in Cal.com and here, on the same PaymentIntent, nothing charged again
    moved = booking(moving["booking_id"])
    assert moved.status.value == "CONFIRMED" and moved.slot_start == local(wednesday, 10)
    assert moved.payment_intent_id == moving["payment_intent_id"] and moved.amount_paid == FACIAL_DEPOSIT
    assert cal_start(cal_double, moving["booking_id"]) == local(wednesday, 10)
    assert len(payment_intent_creates(stripe_double)) == intents_before
    assert refunded_amounts(moving["payment_intent_id"]) == []
    assert moved.reschedule_count == 0  # the business moved it: not one of the client's reschedules
    # The cancelled ones: cancelled by the business in Cal.com and here, the deposit refunded in full in Stripe
    for cancelled in (unlucky, plain):
        gone = booking(cancelled["booking_id"])
        assert gone.status.value == "CANCELLED" and gone.cancelled_by == "business"
        assert refunded_amounts(cancelled["payment_intent_id"]) == [FACIAL_DEPOSIT]
        assert cal_double.booking(gone.cal_booking_uid)["status"] == "cancelled"
    # The hold: its PaymentIntent cancelled, so the client cannot pay for a closed day
    held = booking(paying["booking_id"])
    assert held.status.value == "CANCELLED"
    assert stripe_double.get_object(paying["payment_intent_id"])["status"] == "canceled"

    # Availability lists nothing on Tuesday though Cal.com still offers it (for every service); create-intent
    # refuses it; the owner's list shows the block and its outcome
    assert slots_on(api, tuesday) == [] and slots_on(api, tuesday, CONSULT) == []
    assert slots_on(api, wednesday)
    refused = api.post(
        "/payments/create-intent",
        {"service_id": "signature-facial", "start": iso(local(tuesday, 14)), "attendee": ATTENDEE},
    )
    assert refused.status == 422 and refused.body["error"]["reason"] == "blocked_date"
    (shown,) = listed(api)
    assert shown["block"]["block_id"] == result["block"]["block_id"]
    assert (shown["moved"], shown["cancelled"], len(shown["users_to_notify"])) == (1, 3, 4)


def test_the_same_block_retried_moves_and_refunds_nothing_twice(
    api: ApiClient, cal_double: CalDouble, tuesday: date
) -> None:
    wednesday = tuesday + timedelta(days=1)
    moving = confirmed(api, local(tuesday, 10), local(wednesday, 10))
    plain = confirmed(api, local(tuesday, 11), name="No Backup", email="nb@example.com")
    key = unique_key()
    first = block(api, {"date": tuesday.isoformat()}, key=key)
    assert first.status == 201, first.body
    cal_calls = len(cal_double.request_log)

    again = block(api, {"date": tuesday.isoformat()}, key=key)

    assert again.status == 201, again.body
    assert again.body == first.body
    assert len(cal_double.request_log) == cal_calls  # nothing asked of Cal.com again
    assert refunded_amounts(plain["payment_intent_id"]) == [FACIAL_DEPOSIT]
    assert booking(moving["booking_id"]).slot_start == local(wednesday, 10)
    assert len(listed(api)) == 1
    # the same key with another body is refused, naming the key
    reused = block(api, {"date": wednesday.isoformat()}, key=key)
    assert reused.status == 422 and "Idempotency-Key" in reused.error_fields


def test_a_calendar_outage_leaves_bookings_failed_and_alerted_and_the_same_post_finishes_them(
    api: ApiClient, cal_double: CalDouble, tuesday: date
) -> None:
    wednesday = tuesday + timedelta(days=1)
    moving = confirmed(api, local(tuesday, 10), local(wednesday, 10))
    key = unique_key()
    body = {"from": tuesday.isoformat(), "to": tuesday.isoformat(), "reason": "flood"}
    # Given Cal.com down while the owner blocks Tuesday
    cal_double.set_mode("down")
    first = block(api, body, key=key)
    cal_double.set_mode("normal")
    # Then the date is blocked at once, the booking is listed as not decided, and the owner is alerted
    assert first.status == 201, first.body
    assert (first.body["moved"], first.body["cancelled"], first.body["complete"]) == (0, 0, False)
    assert [f["booking_id"] for f in first.body["failed"]] == [moving["booking_id"]]
    assert slots_on(api, tuesday) == []
    assert booking(moving["booking_id"]).slot_start == local(tuesday, 10)
    assert any(moving["booking_id"] in alert["subject"] for alert in alerts())
    assert "blocked_date_unresolved" in {f.code for f in booking(moving["booking_id"]).flags}

    # When the owner sends the same request again
    second = block(api, body, key=key)

    # Then it finishes: the booking is at its backup, once
    assert second.status == 201, second.body
    assert (second.body["moved"], second.body["failed"], second.body["complete"]) == (1, [], True)
    assert cal_start(cal_double, moving["booking_id"]) == local(wednesday, 10)


def test_a_refund_stripe_refused_midway_is_made_by_the_same_post_once(
    api: ApiClient, stripe_double: StripeDouble, tuesday: date
) -> None:
    plain = confirmed(api, local(tuesday, 10))
    key = unique_key()
    # Given Stripe down while the block cancels the booking: cancelled here and in Cal.com, its refund not made
    stripe_double.set_down(True)
    first = block(api, {"date": tuesday.isoformat()}, key=key)
    stripe_double.set_down(False)
    assert first.status == 201, first.body
    assert [f["booking_id"] for f in first.body["failed"]] == [plain["booking_id"]]
    assert booking(plain["booking_id"]).status.value == "CANCELLED"
    assert refunded_amounts(plain["payment_intent_id"]) == []

    # When the owner sends the same request again
    second = block(api, {"date": tuesday.isoformat()}, key=key)

    # Then the booking is listed as cancelled, refunded in full, once
    assert second.status == 201, second.body
    assert (second.body["cancelled"], second.body["failed"], second.body["complete"]) == (1, [], True)
    assert second.body["users_to_notify"][0]["refunded"] == FACIAL_DEPOSIT
    assert refunded_amounts(plain["payment_intent_id"]) == [FACIAL_DEPOSIT]


def test_a_paid_booking_not_yet_in_calendar_moves_its_seat_and_is_confirmed_there_at_the_backup(
    api: ApiClient, cal_double: CalDouble, tuesday: date
) -> None:
    from tests.support import pay

    wednesday = tuesday + timedelta(days=1)
    created = intent(api, local(tuesday, 10), local(wednesday, 10))
    pay(created["payment_intent_id"])
    token = api.create_token(created)  # PAID; the client has not reached /book/verify yet
    assert token.status == 201, token.body

    response = block(api, {"date": tuesday.isoformat()})

    assert response.status == 201 and response.body["moved"] == 1, response.body
    paid = booking(created["booking_id"])
    assert paid.status.value == "PAID" and paid.slot_start == local(wednesday, 10)
    assert cal_booking_posts(cal_double) == []  # its seat moved; nothing was booked in Cal.com on Tuesday
    # the client's verify then books the backup time in Cal.com
    assert api.verify(token.body["token"]).status == 200
    assert cal_start(cal_double, created["booking_id"]) == local(wednesday, 10)


def test_unblocking_offers_the_dates_again_and_leaves_the_bookings_as_they_are(api: ApiClient, tuesday: date) -> None:
    plain = confirmed(api, local(tuesday, 10))
    created = block(api, {"date": tuesday.isoformat(), "notify": False})
    assert created.status == 201 and slots_on(api, tuesday) == []
    assert (created.body["cancelled"], created.body["users_to_notify"]) == (1, [])  # the owner tells no one
    block_id = created.body["block"]["block_id"]

    staff = api.request("DELETE", f"/admin/blocked-dates/{block_id}", headers=owner_headers("staff"))
    assert staff.status == 403
    removed = api.request("DELETE", f"/admin/blocked-dates/{block_id}", headers=owner_headers())

    assert removed.status == 200, removed.body
    assert removed.body["block"]["block_id"] == block_id
    assert slots_on(api, tuesday)
    assert listed(api) == []
    assert booking(plain["booking_id"]).status.value == "CANCELLED"
    again = api.request("DELETE", f"/admin/blocked-dates/{block_id}", headers=owner_headers())
    assert again.status == 404 and again.error_code == "block_not_found"


def test_staff_cannot_block_dates(api: ApiClient, tuesday: date) -> None:
    response = block(api, {"date": tuesday.isoformat()}, role="staff")
    assert response.status == 403
    assert listed(api) == [] and slots_on(api, tuesday)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "+2", "to": "+1"}, "to"),  # from after to
        ({"from": "+1", "to": "+91"}, "to"),  # 91 days
        ({"date": "2027-02-30"}, "date"),  # no such date
        ({"date": "tomorrow"}, "date"),
        ({"from": "+1"}, "to"),
        ({}, "date"),
        ({"date": "+1", "from": "+1", "to": "+2"}, "date"),
        ({"date": "-2"}, "date"),  # in the past (today is Monday)
        ({"date": "+1", "reason": "x" * 501}, "reason"),
        ({"date": "+1", "when": "now"}, "when"),
    ],
)
def test_bad_ranges_are_refused_naming_the_field(
    api: ApiClient, tuesday: date, body: dict[str, str], field: str
) -> None:
    def resolve(value: str) -> str:
        return (tuesday + timedelta(days=int(value))).isoformat() if value[:1] in "+-" else value

    sent = {name: resolve(value) if name in ("date", "from", "to") else value for name, value in body.items()}
    response = block(api, sent)
    assert response.status == 422, response.body
    assert field in response.error_fields, response.body
    assert listed(api) == []


def test_a_range_closes_exactly_its_days_in_the_business_time_zone(api: ApiClient, tuesday: date) -> None:
    wednesday, thursday, friday = (tuesday + timedelta(days=n) for n in (1, 2, 3))
    response = block(api, {"from": wednesday.isoformat(), "to": thursday.isoformat(), "reason": "conference"})
    assert response.status == 201 and response.body["blocked"] == 2, response.body

    week = api.get("/availability", service_id="signature-facial", start=tuesday.isoformat(), days=4)
    assert week.status == 200, week.body
    open_days = {day["date"] for day in week.body["days"] if day["slots"]}
    assert open_days == {tuesday.isoformat(), friday.isoformat()}
    # a client in Tokyo sees the same instants: none of them falls on the business's Wednesday or Thursday
    tokyo = api.get(
        "/availability", service_id="signature-facial", start=tuesday.isoformat(), days=5, time_zone="Asia/Tokyo"
    )
    assert tokyo.status == 200, tokyo.body
    offered = [instant(slot["start"]) for day in tokyo.body["days"] for slot in day["slots"]]
    assert offered and all(local(wednesday, 0) > start or start >= local(friday, 0) for start in offered)
    refused = api.post(
        "/payments/create-intent",
        {"service_id": "signature-facial", "start": iso(local(thursday, 16)), "attendee": ATTENDEE},
    )
    assert refused.status == 422 and refused.body["error"]["reason"] == "blocked_date"


def test_the_same_block_sent_twice_at_once_decides_each_booking_once(
    api: ApiClient, cal_double: CalDouble, tuesday: date
) -> None:
    wednesday = tuesday + timedelta(days=1)
    moving = confirmed(api, local(tuesday, 10), local(wednesday, 10))
    plain = confirmed(api, local(tuesday, 11), name="No Backup", email="nb@example.com")
    key = unique_key()
    workers = [Worker(lambda: block(api, {"date": tuesday.isoformat()}, key=key)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    answers = [worker.result for worker in workers]
    assert all(a.status in (201, 409) for a in answers) and any(a.status == 201 for a in answers), answers
    assert all(a.error_code == "block_in_progress" for a in answers if a.status == 409)
    final = block(api, {"date": tuesday.isoformat()}, key=key)
    assert (final.body["moved"], final.body["cancelled"], final.body["complete"]) == (1, 1, True), final.body
    assert refunded_amounts(plain["payment_intent_id"]) == [FACIAL_DEPOSIT]
    reschedules = [r for r in cal_double.request_log if r.method == "POST" and r.path.endswith("/reschedule")]
    assert len(reschedules) == 1
    assert cal_start(cal_double, moving["booking_id"]) == local(wednesday, 10)


def test_a_paid_booking_an_earlier_attempt_may_have_booked_is_confirmed_then_rescheduled_in_calendar(
    api: ApiClient, cal_double: CalDouble, tuesday: date
) -> None:
    from tests.support import pay

    wednesday = tuesday + timedelta(days=1)
    created = intent(api, local(tuesday, 10), local(wednesday, 10))
    pay(created["payment_intent_id"])
    token = api.create_token(created)
    assert token.status == 201, token.body
    cal_double.set_mode("down")
    assert api.verify(token.body["token"]).status == 503  # PAID, one attempt made: it may have reached Cal.com
    cal_double.set_mode("normal")
    assert booking(created["booking_id"]).cal_attempts >= 1

    response = block(api, {"date": tuesday.isoformat()})

    assert response.status == 201 and response.body["moved"] == 1, response.body
    moved = booking(created["booking_id"])
    assert moved.status.value == "CONFIRMED" and moved.slot_start == local(wednesday, 10)
    assert cal_start(cal_double, created["booking_id"]) == local(wednesday, 10)
    live = [b for b in cal_double.bookings() if b["status"] != "cancelled"]
    assert len(live) == 1  # the Tuesday booking it made on the way was moved, not left behind


def test_a_booking_whose_slot_was_lost_moves_to_its_backup_and_the_cleanup_job_confirms_it(
    api: ApiClient, cal_double: CalDouble, lam: Any, clock: Clock, tuesday: date
) -> None:
    from tests.support import pay, run_job

    brow, brow_event_type = "brow-lamination", 3815419  # a 48 h rebook window after a lost slot
    wednesday = tuesday + timedelta(days=1)
    body = {
        "service_id": brow,
        "start": iso(local(tuesday, 9, 45)),
        "backup_start": iso(local(wednesday, 9, 45)),
        "attendee": ATTENDEE,
    }
    created = api.post("/payments/create-intent", body)
    assert created.status == 201, created.body
    pay(created.body["payment_intent_id"])
    token = api.create_token(created.body)
    assert token.status == 201, token.body
    cal_double.take_slot(brow_event_type, local(tuesday, 9, 45))  # someone booked it directly in Cal.com
    assert api.verify(token.body["token"]).error_code == "slot_unavailable"
    booking_id = created.body["booking_id"]
    assert booking(booking_id).status.value == "SLOT_UNAVAILABLE"

    response = block(api, {"date": tuesday.isoformat()})

    assert response.status == 201 and response.body["moved"] == 1, response.body
    moved = booking(booking_id)
    assert moved.status.value == "PAID" and moved.slot_start == local(wednesday, 9, 45)
    clock.advance(minutes=5)
    run_job(lam, "ExpireHoldsFunction")
    assert booking(booking_id).status.value == "CONFIRMED"
    assert cal_start(cal_double, booking_id) == local(wednesday, 9, 45)
