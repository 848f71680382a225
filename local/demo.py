"""The booking flow as the marketing site drives it, against the local runner, printing every step.

services -> availability -> create-intent -> confirm the card with Stripe (as Stripe.js would)
-> create-token -> verify -> the confirmed booking -> its confirmation email -> the clock moves to a day before the
session and the reminder goes. With no runner listening it starts an embedded one. Every demo ends with the messages
its flow sent (the runner's local outbox: nothing leaves the machine).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from local.runner import DOUBLE_CAL_KEY, DOUBLE_STRIPE_KEY, LocalEnvironment

SERVICE_ID = "signature-facial"  # the seed's example: 60 minutes, 165.00 USD, 50% deposit
WEEKS_TO_SEARCH = 6


class DemoFailed(RuntimeError):
    pass


def _show(step: str, response: requests.Response) -> dict[str, Any]:
    body = response.json() if response.content else {}
    print(f"\n== {step}  -> HTTP {response.status_code}")
    print(json.dumps(body, indent=2)[:1800])
    if not response.ok:
        raise DemoFailed(f"{step} failed with HTTP {response.status_code}")
    return body


def _first_slot(session: requests.Session, api: str, not_before: datetime | None = None) -> dict[str, Any]:
    """The first free slot (from `not_before` on, when given)."""
    params: dict[str, Any] = {"service_id": SERVICE_ID, "days": 7}  # no start: this week, in the business's zone
    for _ in range(WEEKS_TO_SEARCH):
        response = session.get(f"{api}/availability", params=params)
        availability = _show(f"GET /availability {params}", response) if not response.ok else response.json()
        slots = [slot for day in availability["days"] for slot in day["slots"]]
        print(f"\n== GET /availability {params}  -> HTTP {response.status_code}: {len(slots)} free slots")
        if not_before is not None:
            slots = [slot for slot in slots if datetime.fromisoformat(slot["start"]) >= not_before]
            print(f"   {len(slots)} of them from {not_before.isoformat(timespec='minutes')} on")
        if slots:
            print(f"   first: {slots[0]}")
            return slots[0]
        # Week navigation, as the site's "next week" button does.
        params["start"] = (date.fromisoformat(availability["days"][-1]["date"]) + timedelta(days=1)).isoformat()
    raise DemoFailed("no free slot in the next weeks")


def _confirm_card(info: dict[str, Any], payment_intent_id: str, card: str = "pm_card_visa") -> str:
    """What Stripe.js does in the browser; here through the real stripe client and a test card."""
    import stripe

    key = DOUBLE_STRIPE_KEY if info.get("stripe") == "double" else os.environ["STRIPE_SECRET_KEY"]
    client = stripe.StripeClient(key, base_addresses={"api": info["stripe_api"]})
    intent = client.v1.payment_intents.confirm(
        payment_intent_id, params={"payment_method": card, "return_url": "http://localhost:8080/book/return"}
    )
    print(f"\n== Stripe: confirm {payment_intent_id} with the test card {card}  -> {intent.status}")
    print(f"   amount_received={intent.amount_received} {intent.currency}")
    return str(intent.status)


def _cal_booking(info: dict[str, Any], uid: str) -> dict[str, Any]:
    key = DOUBLE_CAL_KEY if info.get("cal") == "double" else os.environ["CAL_API_KEY"]
    response = requests.get(
        f"{info['cal_api']}/v2/bookings/{uid}",
        headers={"cal-api-version": "2024-08-13", "Authorization": f"Bearer {key}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"]


def walk(api: str, *, close_tab: bool = False) -> dict[str, Any]:
    session = requests.Session()
    info = session.get(f"{api}/_local", timeout=5).json()
    services = _show("GET /services", session.get(f"{api}/services"))
    assert any(service["id"] == SERVICE_ID for service in services["services"])
    # More than a day ahead, so the service's reminder (24 h before) is planned and the demo can show it.
    slot = _first_slot(session, api, None if close_tab else _runner_now(info) + timedelta(hours=REMINDER_LEAD_HOURS))
    intent = _show(
        "POST /payments/create-intent",
        session.post(
            f"{api}/payments/create-intent",
            json={
                "service_id": SERVICE_ID,
                "start": slot["start"],
                "attendee": {"name": "Ada Lovelace", "email": "ada@example.com", "time_zone": "America/New_York"},
                "payment_type": "deposit",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        ),
    )
    _confirm_card(info, intent["payment_intent_id"])
    if close_tab:
        return _wait_for_webhooks(session, api, info, intent["booking_id"])
    token = _show(
        "POST /bookings/create-token",
        session.post(
            f"{api}/bookings/create-token",
            json={"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
        ),
    )
    confirmation = _show(
        "POST /bookings/verify", session.post(f"{api}/bookings/verify", json={"token": token["token"]})
    )
    cal = _cal_booking(info, confirmation["cal_booking_uid"])
    print("\n== The booking")
    print(f"   {confirmation['status'].upper()}: {cal['title']} on {cal['start']} for {cal['attendees'][0]['name']}")
    print(
        f"   paid {confirmation['amount_paid'] / 100:.2f} {confirmation['currency'].upper()} now, "
        f"balance due {confirmation['balance_due'] / 100:.2f}; Cal.com uid {confirmation['cal_booking_uid']}"
    )
    seen = _outbox_ids(session, api)
    print("\n== The client's confirmation (GET /_local/outbox?to=ada@example.com)")
    _print_messages(_outbox(session, api, to="ada@example.com")[-1:])
    reminder_at = datetime.fromisoformat(slot["start"]) - timedelta(hours=24) + timedelta(minutes=1)
    print("\n== A day before the session: the clock moves there and the scheduled functions run")
    _advance(session, api, seconds=(reminder_at - _runner_now(info)).total_seconds())
    reminders = [message for message in _outbox(session, api, to="ada@example.com") if message["id"] not in seen]
    _print_messages(reminders)
    if not any(message["subject"].startswith("Reminder") for message in reminders):
        raise DemoFailed("no reminder was sent when the clock reached a day before the session")
    return confirmation


REMINDER_LEAD_HOURS = 26  # the default service's reminder is 24 h before; 2 h more keep it planned


def _runner_now(info: dict[str, Any]) -> datetime:
    """The runner's clock (moved by an earlier demo or a developer's `make clock`)."""
    return datetime.now(UTC) + timedelta(seconds=float(info.get("clock_offset_seconds") or 0))


def _outbox(session: requests.Session, api: str, to: str | None = None) -> list[dict[str, Any]]:
    """The runner's local outbox, oldest first, each message with an `id` (its channel and provider id)."""
    response = session.get(f"{api}/_local/outbox", params={"to": to} if to else None, timeout=120)
    response.raise_for_status()
    return [
        message | {"id": f"{message['channel']}:{message['message_id']}"} for message in response.json()["messages"]
    ]


def _outbox_ids(session: requests.Session, api: str) -> set[str]:
    return {message["id"] for message in _outbox(session, api)}


def _print_messages(messages: list[dict[str, Any]], lines: int = 4) -> None:
    """Subject, recipient and the first lines of each email; each text message whole."""
    if not messages:
        print("   (none)")
    for message in messages:
        if message["channel"] == "sms":
            print(f"   SMS to {message['to']}: {message['text']}")
            continue
        attached = ", ".join(item["filename"] for item in message["attachments"])
        print(f"   EMAIL to {message['to']}: {message['subject']}" + (f"  [attached: {attached}]" if attached else ""))
        body = [line.strip() for line in message["text"].splitlines() if line.strip()]
        for line in body[:lines]:
            print(f"     | {line}")


def _wait_for_status(session: requests.Session, api: str, booking_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = session.get(f"{api}/admin/bookings/{booking_id}", headers=_owner_headers())
        if response.ok and response.json().get("status") == status:
            return response.json()
        time.sleep(0.3)
    raise DemoFailed(f"booking {booking_id} did not become {status} within 30 s")


def _wait_for_webhooks(session: requests.Session, api: str, info: dict[str, Any], booking_id: str) -> dict[str, Any]:
    """The client closed the tab: only Stripe's webhook can finish the booking. Then they cancel in Cal.com."""
    print("\n== The client closes the tab. Stripe delivers payment_intent.succeeded to /webhooks/stripe ...")
    confirmed = _wait_for_status(session, api, booking_id, "CONFIRMED")
    payment = confirmed["payment"]
    print(f"   CONFIRMED by webhooks alone: Cal.com uid {confirmed['cal_booking_uid']}")
    print(f"   paid {payment['amount_paid']} {payment['currency']}, balance due {payment['balance_due']}")
    if info.get("cal") != "double":
        return confirmed
    print("\n== The client cancels in Cal.com; Cal.com sends BOOKING_CANCELLED to /webhooks/cal ...")
    session.post(
        f"{info['cal_api']}/_double/bookings/{confirmed['cal_booking_uid']}/cancel",
        json={"reason": "cannot make it", "by": confirmed["client_email"]},
        timeout=10,
    ).raise_for_status()
    cancelled = _wait_for_status(session, api, booking_id, "CANCELLED")
    refunds = cancelled["refunds"]
    print(f"   CANCELLED: {cancelled['history'][-1]['reason']}")
    for refund in refunds or [{"amount": 0, "reason": "the cancellation policy keeps the whole payment as the fee"}]:
        print(f"   refund {refund['amount']} {cancelled['payment']['currency']}: {refund['reason']}")
    return cancelled


def _invoke(session: requests.Session, api: str, function: str) -> dict[str, Any]:
    result = session.post(f"{api}/_local/invoke/{function}", json={}, timeout=120).json()["result"]
    print(f"   invoked {function}: {result}")
    return result


def _advance(session: requests.Session, api: str, *, run_schedules: bool = True, **delta: float) -> None:
    """Move the runner's clock; it then runs the scheduled functions once each, unless `run_schedules` is False (the
    jobs demo runs each job itself, to show what it does)."""
    seconds = timedelta(**delta).total_seconds()
    body = {"advance_seconds": seconds, "run_schedules": run_schedules}
    answer = session.post(f"{api}/_local/clock", json=body, timeout=300).json()
    ran = f"; ran {', '.join(answer['ran'])}" if answer.get("ran") else ""
    print(
        f"   (clock moved forward {timedelta(seconds=round(seconds))}; offset now "
        f"{timedelta(seconds=round(answer['clock_offset_seconds']))}{ran})"
    )
    for logical_id, error in (answer.get("errors") or {}).items():
        print(f"   {logical_id} failed: {error}")


def _slot_listed(session: requests.Session, api: str, service_id: str, start: str) -> bool:
    day = start[:10]
    response = session.get(f"{api}/availability", params={"service_id": service_id, "start": day, "days": 2})
    return any(slot["start"] == start for d in response.json().get("days", []) for slot in d["slots"])


def _hold(session: requests.Session, api: str, service_id: str, name: str) -> tuple[dict[str, Any], str]:
    params: dict[str, Any] = {"service_id": service_id, "days": 7}
    for _ in range(WEEKS_TO_SEARCH):
        week = session.get(f"{api}/availability", params=params).json()
        slots = [slot for day in week["days"] for slot in day["slots"]]
        if slots:
            break
        params["start"] = (date.fromisoformat(week["days"][-1]["date"]) + timedelta(days=1)).isoformat()
    # Not the earliest slot: the demo moves the clock 16 minutes, which could take a slot at the edge of the
    # service's minimum notice out of the listing, whatever the time of day.
    earliest = datetime.fromisoformat(slots[0]["start"])
    later = [slot for slot in slots if datetime.fromisoformat(slot["start"]) >= earliest + timedelta(hours=2)]
    start = (later or slots)[0]["start"]
    attendee = {"name": name, "email": f"{name.split()[0].lower()}@example.com", "time_zone": "America/Chicago"}
    body = {"service_id": service_id, "start": start, "attendee": attendee, "payment_type": "deposit"}
    response = session.post(f"{api}/payments/create-intent", json=body)
    if response.status_code != 201:
        _show("POST /payments/create-intent", response)
    return response.json(), start


def walk_jobs(api: str) -> dict[str, Any]:
    """The scheduled jobs on the local runner: expiry, a vanished client, the 72 h payout."""
    session = requests.Session()
    info = session.get(f"{api}/_local", timeout=5).json()
    if info.get("stripe") != "double" or info.get("cal") != "double":
        raise DemoFailed("the jobs demo drives the doubles: run it without real provider keys")

    print("\n== 1. An abandoned hold frees its slot after expiry")
    held, start = _hold(session, api, SERVICE_ID, "Alan Turing")
    print(
        f"   held {start} for {held['booking_id']} (expires {held['hold_expires_at']}); listed now: "
        f"{_slot_listed(session, api, SERVICE_ID, start)}"
    )
    _advance(session, api, minutes=16, run_schedules=False)
    _invoke(session, api, "ExpireHoldsFunction")
    expired = _wait_for_status(session, api, held["booking_id"], "EXPIRED")
    print(
        f"   {expired['status']}: {expired['history'][-1]['reason']}; listed again: "
        f"{_slot_listed(session, api, SERVICE_ID, start)}"
    )

    print("\n== 2. A client pays and vanishes while Cal.com is down; the cleanup job finishes the booking")
    vanished, _ = _hold(session, api, SERVICE_ID, "Grace Hopper")
    session.post(f"{info['cal_api']}/_double/mode", json={"mode": "down"}, timeout=10).raise_for_status()
    _confirm_card(info, vanished["payment_intent_id"])
    paid = _wait_for_status(session, api, vanished["booking_id"], "PAID")
    print(f"   the webhook recorded the payment but could not book: {paid['status']}")
    session.post(f"{info['cal_api']}/_double/mode", json={"mode": "normal"}, timeout=10).raise_for_status()
    _advance(session, api, minutes=4, run_schedules=False)
    _invoke(session, api, "ExpireHoldsFunction")
    confirmed = _wait_for_status(session, api, vanished["booking_id"], "CONFIRMED")
    print(f"   {confirmed['status']} by the cleanup job: Cal.com uid {confirmed['cal_booking_uid']}")

    print("\n== 3. 72 h after a payment, its provider is paid, exactly once")
    brow, _ = _hold(session, api, "brow-lamination", "Katherine Johnson")
    _confirm_card(info, brow["payment_intent_id"])
    _wait_for_status(session, api, brow["booking_id"], "CONFIRMED")
    _invoke(session, api, "PayoutsCronFunction")
    _advance(session, api, hours=72, run_schedules=False)
    _invoke(session, api, "PayoutsCronFunction")
    _invoke(session, api, "PayoutsCronFunction")
    transfers = _stripe_transfers(info, brow["booking_id"])
    for transfer in transfers:
        print(
            f"   Stripe transfer {transfer['id']}: {transfer['amount']} {transfer['currency']} to "
            f"{transfer['destination']} from {transfer['source_transaction']}"
        )
    if len(transfers) != 1:
        raise DemoFailed(f"expected exactly one transfer, found {len(transfers)}")
    return session.get(f"{api}/admin/bookings/{brow['booking_id']}", headers=_owner_headers()).json()


def _authenticate(info: dict[str, Any], payment_intent_id: str) -> None:
    """The client passes 3-D Secure in Stripe.js (the Stripe double's test control for it)."""
    url = f"{info['stripe_api']}/_double/payment_intents/{payment_intent_id}/succeed"
    requests.post(url, json={}, timeout=10).raise_for_status()
    print(f"   the client authenticated {payment_intent_id} (3-D Secure) and it succeeded")


def _owner(session: requests.Session, api: str, booking_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = _owner_headers() | {"Idempotency-Key": str(uuid.uuid4())}
    response = session.post(f"{api}/admin/bookings/{booking_id}/{action}", json=body, headers=headers)
    answer = response.json()
    print(f"\n== POST /admin/bookings/{booking_id}/{action} {body}  -> HTTP {response.status_code}")
    print(f"   {answer.get('message') or answer}")
    if not response.ok:
        raise DemoFailed(f"{action} failed with HTTP {response.status_code}")
    return answer


def _history(booking: dict[str, Any]) -> None:
    payment = booking["payment"]
    print(
        f"   {booking['booking_id']} {booking['status']}: paid {payment['amount_paid']}, refunded "
        f"{payment['amount_refunded']}, balance due {payment['balance_due']} ({payment['balance_state']})"
    )
    for line in booking["history"]:
        print(f"     {line['at'][:19]}  {line['actor']:<28} {line['reason']}")


def walk_owner(api: str) -> dict[str, Any]:
    """The owner's money, signed in with a dev token: bookings with a balance due, a partial refund, the balance
    collected from the saved card, and a card needing the client answered with a pay link the client completes."""
    session = requests.Session()
    info = session.get(f"{api}/_local", timeout=5).json()
    if info.get("stripe") != "double":
        raise DemoFailed("the owner demo drives the Stripe double: run it without real provider keys")

    print("\n== 1. Two clients pay deposits; Bea's card asks for 3-D Secure every time")
    ada, _ = _hold(session, api, SERVICE_ID, "Ada Byron")
    _confirm_card(info, ada["payment_intent_id"])
    bea, _ = _hold(session, api, SERVICE_ID, "Bea Authenticated")
    if _confirm_card(info, bea["payment_intent_id"], "pm_card_authenticationRequired") == "requires_action":
        _authenticate(info, bea["payment_intent_id"])
    for held in (ada, bea):
        _wait_for_status(session, api, held["booking_id"], "CONFIRMED")

    print("\n== 2. The owner lists the bookings with a balance due")
    listed = session.get(f"{api}/admin/bookings", params={"balance_due": "true"}, headers=_owner_headers()).json()
    for row in listed["bookings"]:
        due = row["payment"]["balance_due"]
        print(f"   {row['booking_id']}  {row['client_name']:<18} {row['start']}  balance due {due}")

    print("\n== 3. A partial refund (Ada's session started late)")
    _owner(session, api, ada["booking_id"], "refund", {"amount": 2000, "reason": "session started 20 minutes late"})

    print("\n== 4. The balances, from the cards saved with the deposits")
    _owner(session, api, ada["booking_id"], "collect-balance", {"method": "card_on_file"})
    answer = _owner(session, api, bea["booking_id"], "collect-balance", {"method": "card_on_file"})
    pay_url = answer["collection"]["pay_url"]
    print(f"   pay link for Bea: {pay_url}")

    print("\n== 5. Bea opens the pay link; the page confirms the payment with Stripe.js")
    token = pay_url.split("token=", 1)[1]
    _show("POST /bookings/pay", session.post(f"{api}/bookings/pay", json={"token": token}))
    _authenticate(info, answer["collection"]["payment_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        bea_now = session.get(f"{api}/admin/bookings/{bea['booking_id']}", headers=_owner_headers()).json()
        if bea_now["payment"]["balance_state"] == "paid":
            break
        time.sleep(0.3)
    else:
        raise DemoFailed("Stripe's payment_intent.succeeded did not mark Bea's balance paid within 30 s")
    print(f"   pay link now: {session.post(f'{api}/bookings/pay', json={'token': token}).json()['status']}")

    print("\n== 6. Each step is in the bookings' history")
    final = {}
    for held in (ada, bea):
        final = session.get(f"{api}/admin/bookings/{held['booking_id']}", headers=_owner_headers()).json()
        _history(final)
    return final


COACHING = "skin-coaching"  # seed 003's call: 200.00 USD or 270.00 CAD, the coach calls the client (phone needed)
PACKAGE = "coaching-3"  # 3 coaching calls paid upfront
CLIENT = {"name": "Wim Demo", "email": "wim@example.com", "time_zone": "America/Toronto", "phone": "+14165550123"}


def _slots(session: requests.Session, api: str, service_id: str, count: int) -> list[str]:
    """`count` free starts of the service on one day, the first 2 h after the earliest (clock-safe), or fewer."""
    params: dict[str, Any] = {"service_id": service_id, "days": 7}
    for _ in range(WEEKS_TO_SEARCH):
        week = session.get(f"{api}/availability", params=params).json()
        slots = [slot["start"] for day in week["days"] for slot in day["slots"]]
        if slots:
            earliest = datetime.fromisoformat(slots[0])
            later = [start for start in slots if datetime.fromisoformat(start) >= earliest + timedelta(hours=2)]
            return later[:count] or slots[:count]
        params["start"] = (date.fromisoformat(week["days"][-1]["date"]) + timedelta(days=1)).isoformat()
    raise DemoFailed(f"no free slot for {service_id} in the next weeks")


def _book(session: requests.Session, api: str, body: dict[str, Any], step: str) -> dict[str, Any]:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    return _show(step, session.post(f"{api}/payments/create-intent", json=body, headers=headers))


def _verify_link(session: requests.Session, api: str, info: dict[str, Any], verify_url: str) -> dict[str, Any]:
    """What /book/verify does with the link's token; prints the Cal.com booking it made."""
    token = verify_url.split("token=", 1)[1]
    confirmation = _show("POST /bookings/verify", session.post(f"{api}/bookings/verify", json={"token": token}))
    cal = _cal_booking(info, confirmation["cal_booking_uid"])
    print(
        f"   Cal.com: {cal['title']} on {cal['start']} ({cal['status']}); manage link {confirmation.get('manage_url')}"
    )
    return confirmation


def walk_options(api: str) -> dict[str, Any]:
    """Seed 003's booking options: a free session with WIMD25, a package bought and used, a blocked date moving a
    booking to the client's backup time."""
    session = requests.Session()
    info = session.get(f"{api}/_local", timeout=5).json()
    if info.get("stripe") != "double" or info.get("cal") != "double":
        raise DemoFailed("the options demo drives the doubles: run it without real provider keys")
    first, second = _slots(session, api, COACHING, 2)
    third = _other_day(session, api, second)  # the day the owner blocks holds only this booking

    print("\n== 1. A free session with the promo code WIMD25 (no card, no Stripe)")
    _show("GET /promo/WIMD25", session.get(f"{api}/promo/WIMD25", params={"service_id": COACHING}))
    free = _book(
        session,
        api,
        {"service_id": COACHING, "start": first, "attendee": CLIENT, "promo_code": "WIMD25"},
        "POST /payments/create-intent (promo_code WIMD25)",
    )
    if free["payment_intent_id"] is not None or not free["verify_url"]:
        raise DemoFailed("a 100% promo code should book without a payment")
    _verify_link(session, api, info, free["verify_url"])

    print("\n== 2. A package of 3 coaching calls, bought in CAD, then one call booked with a credit")
    bought = _show(
        "POST /packages/purchase",
        session.post(
            f"{api}/packages/purchase",
            json={"package_id": PACKAGE, "currency": "cad", "buyer": CLIENT},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        ),
    )
    _confirm_card(info, bought["payment_intent_id"])
    secret = {"X-Package-Secret": bought["secret"]}
    _show(
        f"GET /packages/{bought['package_id']}", session.get(f"{api}/packages/{bought['package_id']}", headers=secret)
    )
    credit = _book(
        session,
        api,
        {
            "service_id": COACHING,
            "start": second,
            "attendee": CLIENT,
            "package": {"id": bought["package_id"], "secret": bought["secret"]},
        },
        "POST /payments/create-intent (package credit)",
    )
    _verify_link(session, api, info, credit["verify_url"])
    package = session.get(f"{api}/packages/{bought['package_id']}", headers=secret).json()
    print(f"   package: {package['credits_used']} used, {package['credits_remaining']} remaining")

    print("\n== 3. A deposit booking with a backup time; the owner blocks its date and it moves there")
    held = _book(
        session,
        api,
        {"service_id": COACHING, "start": third, "attendee": CLIENT, "backup_start": _other_day(session, api, third)},
        "POST /payments/create-intent (backup_start)",
    )
    _confirm_card(info, held["payment_intent_id"])
    booked = _wait_for_status(session, api, held["booking_id"], "CONFIRMED")
    blocked_day = _business_date(session, api, third)  # the owner blocks dates in the business's time zone
    answer = _show(
        "POST /admin/blocked-dates",
        session.post(
            f"{api}/admin/blocked-dates",
            json={"date": blocked_day, "reason": "coach away", "notify": True},
            headers=_owner_headers() | {"Idempotency-Key": str(uuid.uuid4())},
        ),
    )
    print(f"   blocked {answer['blocked']} day(s): moved {answer['moved']}, cancelled {answer['cancelled']}")
    moved = session.get(f"{api}/admin/bookings/{held['booking_id']}", headers=_owner_headers()).json()
    cal = _cal_booking(info, moved["cal_booking_uid"])
    print(f"   {moved['booking_id']} was {booked['start']}, now {moved['start']} (Cal.com: {cal['start']})")
    day = session.get(f"{api}/availability", params={"service_id": COACHING, "start": blocked_day, "days": 1}).json()
    print(f"   {blocked_day} now offers {sum(len(d['slots']) for d in day['days'])} slots")
    return moved


def _other_day(session: requests.Session, api: str, start: str) -> str:
    """A free start of the coaching service on another day than `start` (the backup must survive the block)."""
    next_day = (date.fromisoformat(start[:10]) + timedelta(days=1)).isoformat()
    params: dict[str, Any] = {"service_id": COACHING, "start": next_day, "days": 14}
    week = session.get(f"{api}/availability", params=params).json()
    for day in week["days"]:
        for slot in day["slots"]:
            return slot["start"]
    raise DemoFailed("no free backup time in the two weeks after the booking")


def _business_date(session: requests.Session, api: str, start: str) -> str:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(session.get(f"{api}/config").json()["business"]["time_zone"])
    return datetime.fromisoformat(start).astimezone(zone).date().isoformat()


def _stripe_transfers(info: dict[str, Any], booking_id: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{info['stripe_api']}/v1/transfers",
        params={"transfer_group": f"booking_{booking_id}"},
        headers={"Authorization": f"Bearer {DOUBLE_STRIPE_KEY}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["data"]


def _owner_headers() -> dict[str, str]:
    """The owner signed in: a dev token of the local runner's key (.local/), as `make token` prints."""
    from local.dev_auth import DevSigner

    return {"Authorization": f"Bearer {DevSigner.local().token('owner')}"}


def _clock_offset(api: str) -> float:
    return float(requests.get(f"{api}/_local", timeout=5).json().get("clock_offset_seconds") or 0)


def _restore_clock(api: str, offset: float) -> None:
    """Put the runner's clock back where the demo found it: the jobs demo moves it days ahead, and a runner left
    there would expire the next holds and list next week's slots as today's."""
    if _clock_offset(api) != offset:
        requests.post(f"{api}/_local/clock", json={"offset_seconds": offset}, timeout=10).raise_for_status()
        print(f"\n(clock put back: offset {timedelta(seconds=offset)}, as before the demo)")


def run_demo(
    api: str,
    *,
    close_tab: bool = False,
    jobs: bool = False,
    owner: bool = False,
    options: bool = False,
    workshops: bool = False,
) -> int:
    embedded: LocalEnvironment | None = None
    try:
        requests.get(f"{api}/_local", timeout=2)
    except requests.ConnectionError:
        print(
            f"No local runner at {api}; starting an embedded one (run `make run` in another terminal to keep one up)."
        )
        embedded = LocalEnvironment(port=0).start()
        api = embedded.api_url
    offset = _clock_offset(api)
    session = requests.Session()
    try:
        before = _outbox_ids(session, api)
        if workshops:
            from local.demo_workshops import walk_workshops

            final = walk_workshops(api)
        elif options:
            final = walk_options(api)
        else:
            final = walk_jobs(api) if jobs else walk_owner(api) if owner else walk(api, close_tab=close_tab)
        sent = [message for message in _outbox(session, api) if message["id"] not in before]
        page = f"; all of them: {api}/_local/outbox/page" if embedded is None else ""  # an embedded one stops
        print(f"\n== The messages this demo sent ({len(sent)}{page})")
        _print_messages(sent, lines=2)
    except DemoFailed as exc:
        print(f"\nDEMO FAILED: {exc}")
        return 1
    finally:
        try:
            _restore_clock(api, offset)
        finally:
            if embedded is not None:
                embedded.stop()
    print(f"\nDemo finished: booking {final['booking_id']} is {final['status'].upper()}.")
    return 0
