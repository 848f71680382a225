"""Sending never loses a message and never sends one twice: SES refusing and recovering, a message that keeps
failing (failed, the owner told), the SMS switch, packages' messages, the owner's view of a booking's messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.integration.helpers import iso
from tests.integration.test_packages import CLIENT as BUYER
from tests.integration.test_packages import booked, paid_package, starts
from tests.notify.conftest import FROM, body, deliver, emails, sweep, texts
from tests.notify.test_messages_flow import CLIENT, records
from tests.support import ATTENDEE, ApiClient, Clock, owner_headers

PHONE = "+14155550123"


def ses_refuses() -> None:
    """SES stops accepting our From address (the identity was removed): every send is MessageRejected."""
    boto3.client("sesv2").delete_email_identity(EmailIdentity=FROM)


def ses_accepts() -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity=FROM)


def message(booking_id: str, key: str) -> Any:
    from booking.notify.outbox import messages_of

    (found,) = [m for m in messages_of(f"BOOKING#{booking_id}") if f"{m.message_key}#{m.channel}" == key]
    return found


def test_ses_failing_then_recovering_sends_the_confirmation_once_after_its_backoff(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    ses_refuses()
    try:
        bid = api.confirmed_booking(start=iso(tuesday))["booking_id"]  # the booking is confirmed regardless
        deliver(lam)
        waiting = message(bid, "confirmed#email")
        assert (waiting.status, waiting.attempts) == ("PENDING", 1) and "MessageRejected" in (waiting.last_error or "")
        assert emails(CLIENT) == []
    finally:
        ses_accepts()
    assert sweep(lam)["sent"] == 0  # its backoff has not run out
    clock.advance(seconds=61)
    assert sweep(lam)["sent"] == 1
    assert sweep(lam)["sent"] == 0
    sent = message(bid, "confirmed#email")
    assert (sent.status, sent.attempts, sent.last_error) == ("SENT", 2, None)
    assert len(emails(CLIENT)) == 1


def test_a_message_that_keeps_failing_is_failed_after_its_attempts_and_shown_to_the_owner(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    ses_refuses()
    try:
        bid = api.confirmed_booking(start=iso(tuesday))["booking_id"]
        deliver(lam)
        for _ in range(8):
            clock.advance(hours=4)
            sweep(lam)
            deliver(lam)  # the alert item about it
    finally:
        ses_accepts()
    failed = message(bid, "confirmed#email")
    assert (failed.status, failed.attempts) == ("FAILED", 6)
    clock.advance(hours=4)
    assert sweep(lam)["sent"] == 0 or message(bid, "confirmed#email").status == "FAILED"
    listed = api.request("GET", "/admin/alerts", headers=owner_headers())
    assert any(a["code"] == "message_failed" and a["booking_id"] == bid for a in listed.body["alerts"]), listed.body
    shown = api.request("GET", f"/admin/bookings/{bid}/messages", headers=owner_headers())
    assert shown.status == 200, shown.body
    assert any(m["status"] == "FAILED" and "MessageRejected" in m["last_error"] for m in shown.body["messages"])


@pytest.fixture
def sms_on(monkeypatch: pytest.MonkeyPatch, notifications: None) -> None:
    from booking.settings import get_settings

    monkeypatch.setenv("SMS_ENABLED", "true")
    get_settings.cache_clear()


def test_sms_stays_off_by_default_even_for_a_client_who_asked(api: ApiClient, lam: LocalLambda, tuesday: Any) -> None:
    bid = api.confirmed_booking(start=iso(tuesday), attendee=ATTENDEE | {"phone": PHONE}, notify={"sms": True})[
        "booking_id"
    ]
    deliver(lam)
    assert texts() == []
    assert not [key for key in records(bid) if key.endswith("#sms")]


def test_with_sms_on_a_client_who_asked_gets_texts_and_one_who_did_not_gets_none(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any, sms_on: None
) -> None:
    asked = api.confirmed_booking(start=iso(tuesday), attendee=ATTENDEE | {"phone": PHONE}, notify={"sms": True})
    other = {"name": "Quiet", "email": "quiet@example.com", "time_zone": "UTC", "phone": "+14155550999"}
    api.confirmed_booking(start=iso(tuesday + timedelta(hours=2)), attendee=other)
    deliver(lam)
    assert [phone for phone, _ in texts()] == [PHONE]
    assert "Aura" in texts()[0][1] and len(texts()[0][1]) <= 320
    clock.advance(hours=2, minutes=1)  # the 24 h reminder of the first booking
    sweep(lam)
    assert [phone for phone, _ in texts()] == [PHONE, PHONE]
    assert records(asked["booking_id"])["confirmed#sms"] == "SENT"


def test_a_bought_package_and_each_credit_used_are_emailed_to_the_buyer(
    api: ApiClient, lam: LocalLambda, stripe_double: StripeDouble, notifications: None
) -> None:
    package = paid_package(api, stripe_double)
    deliver(lam)
    (bought,) = emails(BUYER["email"])
    assert "3" in body(bought) and "Your package is ready" in bought["Subject"]
    (start,) = starts(api, 1)
    session = booked(api, package, start)
    deliver(lam)
    used = [m for m in emails(BUYER["email"]) if m["Subject"].startswith("Credit used")]
    assert len(used) == 1 and "2 of 3" in body(used[0]), [m["Subject"] for m in emails(BUYER["email"])]
    assert session["booking_id"] and "Skin Coaching Call" in body(used[0])


def test_the_stream_is_still_read_after_a_failed_transaction(lam: LocalLambda) -> None:
    """moto rolls a failed transaction back by restoring a copy of the whole table, stream included: the pump asks
    for a fresh iterator after its last record each time, so what is written afterwards is still delivered, and
    nothing of the failed transaction is (as in DynamoDB's stream)."""
    import os

    from botocore.exceptions import ClientError

    from local.streams import StreamPump

    table = os.environ["TABLE_NAME"]
    dynamodb = boto3.client("dynamodb")
    pump = StreamPump(table)
    pump.records()

    def booking_item(booking_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"BOOKING#{booking_id}"}, "sk": {"S": "BOOKING"}}

    dynamodb.put_item(TableName=table, Item=booking_item("b_before"))
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in pump.records()] == ["BOOKING#b_before"]
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": booking_item("b_rolled_back")}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": booking_item("b_before"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    dynamodb.put_item(TableName=table, Item=booking_item("b_after"))
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in pump.records()] == ["BOOKING#b_after"]
