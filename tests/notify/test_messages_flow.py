"""Each event of a booking's life becomes its message, once, through the notifier's real entry points: the table's
stream (as Lambda's event source mapping hands it over) and the 5-minute sweep. SES and SNS are moto's: the
messages below are what they accepted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from local.lambda_runtime import LocalLambda
from tests.integration.helpers import iso, travel_to
from tests.integration.test_manage_link import manage, token_of
from tests.integration.test_owner_money import act, saved_card_needing_authentication
from tests.integration.test_rebook import refused_by_cal
from tests.notify.conftest import OWNER, attachment, body, deliver, emails, sweep
from tests.support import ATTENDEE, ApiClient, Clock, booking

CLIENT = ATTENDEE["email"]
FACIAL_DEPOSIT = 8250


def subjects(to: str = CLIENT) -> list[str]:
    return [message["Subject"] for message in emails(to)]


def records(booking_id: str) -> dict[str, str]:
    from booking.notify.outbox import messages_of

    return {f"{m.message_key}#{m.channel}": m.status for m in messages_of(f"BOOKING#{booking_id}")}


def test_a_confirmed_deposit_booking_is_emailed_once_with_what_was_paid_the_link_and_its_calendar_file(
    api: ApiClient, lam: LocalLambda, tuesday: Any
) -> None:
    confirmed = api.confirmed_booking(start=iso(tuesday))
    deliver(lam)
    deliver(lam)  # nothing new on the stream: nothing more

    (sent,) = emails(CLIENT)
    assert sent["Subject"].startswith("Booked: Signature Facial")
    text, html = body(sent), body(sent, "html")
    assert "82.50 USD" in text and "165.00 USD" in text  # paid, of the price; the rest is due
    manage_url = confirmed["manage_url"]
    assert manage_url in text and manage_url.replace("&", "&amp;") in html  # the same link the verify page gave
    assert manage(api, token_of(manage_url)).status == 200
    calendar = attachment(sent, "booking.ics")
    assert calendar is not None and b"BEGIN:VEVENT" in calendar and b"METHOD:REQUEST" in calendar
    assert records(confirmed["booking_id"]) == {
        "confirmed#email": "SENT",
        f"reminder:24:{iso_z(tuesday)}#email": "PENDING",
    }


def iso_z(moment: Any) -> str:
    from booking.notify.events import iso as message_iso

    return message_iso(moment.astimezone(__import__("datetime").UTC))


def test_a_replayed_stream_batch_and_two_workers_at_once_send_one_confirmation(
    api: ApiClient, lam: LocalLambda, tuesday: Any
) -> None:
    from local.streams import StreamPump
    from tests.support import Worker

    api.confirmed_booking(start=iso(tuesday))
    pump = StreamPump(__import__("os").environ["TABLE_NAME"])
    events = pump.events()
    workers = [Worker(lambda: [lam.invoke("NotificationsFunction", event) for event in events]) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert all(worker.error is None for worker in workers), [worker.error for worker in workers]
    for event in events:  # Lambda retrying the whole batch later
        lam.invoke("NotificationsFunction", event)
    assert len(emails(CLIENT)) == 1


def test_the_reminder_goes_at_its_time_once_and_not_for_a_booking_made_inside_it(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    confirmed = api.confirmed_booking(start=iso(tuesday))
    deliver(lam)
    assert sweep(lam)["sent"] == 0  # 2 h early

    travel_to(clock, tuesday - timedelta(hours=24, minutes=-1))
    assert sweep(lam)["sent"] == 1
    assert sweep(lam)["sent"] == 0
    reminder = [m for m in emails(CLIENT) if m["Subject"].startswith("Reminder")]
    assert len(reminder) == 1 and "24 hours" in body(reminder[0])
    assert records(confirmed["booking_id"])[f"reminder:24:{iso_z(tuesday)}#email"] == "SENT"

    late = api.confirmed_booking(
        start=iso(tuesday - timedelta(hours=1)), attendee=ATTENDEE | {"email": "late@example.com"}
    )
    deliver(lam)
    assert records(late["booking_id"]) == {"confirmed#email": "SENT"}  # booked 23 h ahead: no 24 h reminder


def test_a_reschedule_moves_the_reminder_and_a_cancellation_withdraws_it(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    confirmed = api.confirmed_booking(start=iso(tuesday))
    token = token_of(confirmed["manage_url"])
    deliver(lam)
    later = tuesday + timedelta(days=1, hours=1)
    moved = manage(api, token, "reschedule", start=iso(later))
    assert moved.status == 200, moved.body
    deliver(lam)

    kept = records(confirmed["booking_id"])
    assert kept[f"reminder:24:{iso_z(tuesday)}#email"] == "WITHDRAWN"
    assert kept[f"reminder:24:{iso_z(later)}#email"] == "PENDING"
    rescheduled = [m for m in emails(CLIENT) if m["Subject"].startswith("Moved")]
    assert len(rescheduled) == 1 and attachment(rescheduled[0], "booking.ics") is not None

    travel_to(clock, tuesday - timedelta(hours=23))  # the old reminder's time: nothing goes
    assert sweep(lam)["sent"] == 0

    assert manage(api, token, "cancel").status == 200
    deliver(lam)
    travel_to(clock, later - timedelta(hours=23))
    assert sweep(lam)["sent"] == 0
    assert records(confirmed["booking_id"])[f"reminder:24:{iso_z(later)}#email"] == "WITHDRAWN"
    (cancelled,) = [m for m in emails(CLIENT) if m["Subject"].startswith("Cancelled")]
    assert "82.50 USD" in body(cancelled)  # a free cancellation refunds the whole deposit
    assert b"METHOD:CANCEL" in (attachment(cancelled, "booking.ics") or b"")
    assert not [m for m in emails(CLIENT) if m["Subject"].startswith("Reminder")]


def test_refunds_and_balance_payments_each_get_their_message(api: ApiClient, lam: LocalLambda, tuesday: Any) -> None:
    bid = api.confirmed_booking(start=iso(tuesday))["booking_id"]
    assert act(api, bid, "refund", {"amount": 1000, "reason": "goodwill"}).status == 200
    assert act(api, bid, "collect-balance", {"method": "card_on_file"}).status == 200
    deliver(lam)
    deliver(lam)

    got = subjects()
    assert sum(s.startswith("Refund") for s in got) == 1, got
    assert sum(s.startswith("Payment received") for s in got) == 1, got
    (refund,) = [m for m in emails(CLIENT) if m["Subject"].startswith("Refund")]
    assert "10.00 USD" in body(refund)


def test_a_balance_needing_the_client_sends_the_pay_link(
    api: ApiClient, lam: LocalLambda, stripe_double: Any, tuesday: Any
) -> None:
    bid = saved_card_needing_authentication(api, stripe_double, tuesday)["booking_id"]
    collection = act(api, bid, "collect-balance", {"method": "card_on_file"}).body["collection"]
    deliver(lam)
    (action,) = [m for m in emails(CLIENT) if collection["pay_url"] in body(m)]
    assert "82.50 USD" in body(action)


def test_a_lost_slot_tells_the_client_their_payment_is_safe(
    api: ApiClient, lam: LocalLambda, cal_double: Any, notifications: None
) -> None:
    from tests.integration.test_rebook import BROW, BROW_EVENT_TYPE

    intent, _ = refused_by_cal(api, cal_double, BROW, BROW_EVENT_TYPE)
    deliver(lam)
    assert (
        records(intent["booking_id"]).get(f"slot_lost:{iso_z(booking(intent['booking_id']).slot_start)}#email")
        == "SENT"
    )


def test_owner_alerts_are_emailed_to_the_owner_once(api: ApiClient, lam: LocalLambda, tuesday: Any) -> None:
    from booking.owner.alerts import alert_about

    assert alert_about("Something to look at", "Details.", "test_case", cause="test:1")
    assert not alert_about("Something to look at", "Details.", "test_case", cause="test:1")
    deliver(lam)
    deliver(lam)
    assert [m["Subject"] for m in emails(OWNER)] == [m["Subject"] for m in emails(OWNER)][:1]
    assert len(emails(OWNER)) == 1 and "Details." in body(emails(OWNER)[0])


def test_a_blocked_date_tells_the_client_who_was_moved_and_the_one_who_was_cancelled(
    api: ApiClient, lam: LocalLambda, tuesday: Any
) -> None:
    from tests.integration.test_blocked_dates import block, confirmed

    day = tuesday.date()
    moving = confirmed(api, tuesday, tuesday + timedelta(days=1), name="Mo Ving", email="mo@example.com")
    staying = confirmed(api, tuesday + timedelta(hours=3), name="No Backup", email="nb@example.com")
    deliver(lam)
    answer = block(api, {"date": day.isoformat(), "reason": "training day", "notify": True})
    assert answer.status == 201, answer.body
    deliver(lam)

    moved = [m for m in emails("mo@example.com") if m["Subject"].startswith("Moved")]
    assert len(moved) == 1 and attachment(moved[0], "booking.ics") is not None
    cancelled = [m for m in emails("nb@example.com") if m["Subject"].startswith("Cancelled")]
    assert len(cancelled) == 1 and "82.50 USD" in body(cancelled[0])  # the business cancelled: all of it back
    assert records(moving["booking_id"])[f"reminder:24:{iso_z(tuesday + timedelta(days=1))}#email"] == "PENDING"
    assert records(staying["booking_id"])[f"reminder:24:{iso_z(tuesday + timedelta(hours=3))}#email"] == "WITHDRAWN"


def test_a_booking_moved_away_and_back_gets_its_first_reminder_again(
    api: ApiClient, lam: LocalLambda, tuesday: Any
) -> None:
    confirmed = api.confirmed_booking(start=iso(tuesday))
    token = token_of(confirmed["manage_url"])
    deliver(lam)
    assert manage(api, token, "reschedule", start=iso(tuesday + timedelta(days=1))).status == 200
    deliver(lam)
    assert manage(api, token, "reschedule", start=iso(tuesday)).status == 200
    deliver(lam)
    kept = records(confirmed["booking_id"])
    assert kept[f"reminder:24:{iso_z(tuesday)}#email"] == "PENDING"
    assert kept[f"reminder:24:{iso_z(tuesday + timedelta(days=1))}#email"] == "WITHDRAWN"
    assert sum(m["Subject"].startswith("Moved") for m in emails(CLIENT)) == 2


def test_three_sweeps_at_once_send_a_due_reminder_once(
    api: ApiClient, lam: LocalLambda, clock: Clock, tuesday: Any
) -> None:
    from tests.support import Worker

    api.confirmed_booking(start=iso(tuesday))
    deliver(lam)
    travel_to(clock, tuesday - timedelta(hours=24, minutes=-1))
    workers = [Worker(lambda: sweep(lam)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert all(worker.error is None for worker in workers), [worker.error for worker in workers]
    assert sum(worker.result["sent"] for worker in workers) == 1
    assert sum(m["Subject"].startswith("Reminder") for m in emails(CLIENT)) == 1


def test_a_refund_made_in_the_stripe_dashboard_is_told_once_with_its_amount(
    api: ApiClient, lam: LocalLambda, stripe_double: Any, tuesday: Any
) -> None:
    from tests.integration.test_stripe_truth import dashboard_refund
    from tests.support import deliver_stripe, stripe_event

    confirmed = api.confirmed_booking(start=iso(tuesday))
    charge = booking(confirmed["booking_id"]).charge_id
    dashboard_refund(confirmed["payment_intent_id"], 1500)  # the owner, outside our code
    event = stripe_event(stripe_double, "charge.refunded", charge)["id"]
    assert deliver_stripe(api, stripe_double, event).status == 200
    assert deliver_stripe(api, stripe_double, event).status == 200  # Stripe sends it again
    deliver(lam)

    (refund,) = [m for m in emails(CLIENT) if m["Subject"].startswith("Refund")]
    assert "15.00 USD" in body(refund)
