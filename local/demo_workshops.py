"""Seed 004's workshop against the local runner, printing every step (`make demo ARGS=--workshops`).

A party of 10 books the ceramics workshop at the group rate and names two of its members; a resident artist signed
in on the business's site books a seat free; the last seat goes, and the next client joins the waitlist. The party
gives two seats back through its manage link (their share refunded by policy), and the waitlist's first party is
offered them with a pay link, pays, and is booked. Then a weekly series of three sessions is previewed, booked and
paid in one payment, and the owner's report of the day is printed.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from local.demo import (
    DemoFailed,
    _book,
    _cal_booking,
    _confirm_card,
    _outbox,
    _owner_headers,
    _print_messages,
    _show,
    _verify_link,
    _wait_for_status,
)

WORKSHOP = "ceramics-workshop"  # 12 seats, 50.00 a seat, 40.00 from 10 people, resident artists free
PARTY = {"name": "Frida Kahlo", "email": "frida@example.com", "time_zone": "America/Mexico_City"}
ARTIST = {"name": "Ruth Asawa", "email": "ruth@example.com", "time_zone": "America/Los_Angeles"}
LAST = {"name": "Isamu Noguchi", "email": "isamu@example.com", "time_zone": "America/New_York"}
WAITING = {"name": "Lucie Rie", "email": "lucie@example.com", "time_zone": "Europe/London"}
WEEKS_TO_SEARCH = 8
OFFER_WAIT_SECONDS = 30


def _empty_slot(session: requests.Session, api: str, *, after: str | None = None) -> str:
    """A workshop start with all its seats free, at least three days ahead (seats given back then are refunded in
    full: the workshop is free to cancel until 48 h before) and, given `after`, on a later day."""
    first_day = date.fromisoformat(_business_today(session, api)) + timedelta(days=3)
    params: dict[str, Any] = {"service_id": WORKSHOP, "days": 7, "start": first_day.isoformat()}
    for _ in range(WEEKS_TO_SEARCH):
        week = session.get(f"{api}/availability", params=params, timeout=30).json()
        for day in week["days"]:
            for slot in day["slots"]:
                later = after is None or datetime.fromisoformat(slot["start"]).date() > date.fromisoformat(after[:10])
                if slot["seats_left"] == 12 and later:
                    return str(slot["start"])
        params["start"] = (date.fromisoformat(week["days"][-1]["date"]) + timedelta(days=1)).isoformat()
    raise DemoFailed("no empty workshop in the next weeks")


def _seats_left(session: requests.Session, api: str, start: str) -> int:
    day = session.get(
        f"{api}/availability", params={"service_id": WORKSHOP, "start": start[:10], "days": 1}, timeout=30
    ).json()
    slots = [slot for entry in day["days"] for slot in entry["slots"]]
    found = [slot for slot in slots if datetime.fromisoformat(slot["start"]) == datetime.fromisoformat(start)]
    return int(found[0]["seats_left"]) if found else 0


def _pay_and_verify(session: requests.Session, api: str, info: dict[str, Any], intent: dict[str, Any]) -> Any:
    _confirm_card(info, intent["payment_intent_id"])
    token = _show(
        "POST /bookings/create-token",
        session.post(
            f"{api}/bookings/create-token",
            json={"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
            timeout=30,
        ),
    )
    return _verify_link(session, api, info, f"?token={token['token']}")


def _offer(session: requests.Session, api: str, start: str) -> dict[str, Any]:
    """The waitlist's open offer for the slot, as the owner sees it (the stream makes it within a second)."""
    day = start[:10]
    deadline = time.monotonic() + OFFER_WAIT_SECONDS
    while time.monotonic() < deadline:
        lines = session.get(
            f"{api}/admin/waitlist",
            params={"service_id": WORKSHOP, "from": day, "to": day},
            headers=_owner_headers(),
            timeout=30,
        ).json()["lines"]
        for line in lines:
            for entry in line["entries"]:
                if entry["status"] == "OFFERED" and entry["pay_url"]:
                    return dict(entry)
        time.sleep(0.5)
    raise DemoFailed("the freed seats were not offered to the waitlist")


def walk_workshops(api: str) -> dict[str, Any]:
    session = requests.Session()
    info = session.get(f"{api}/_local", timeout=5).json()
    if info.get("stripe") != "double" or info.get("cal") != "double":
        raise DemoFailed("the workshops demo drives the doubles: run it without real provider keys")
    start = _empty_slot(session, api)

    print("\n== 1. A party of 10 at the group rate (10 x 40.00), two of its members named")
    party = _book(
        session,
        api,
        {
            "service_id": WORKSHOP,
            "start": start,
            "attendee": PARTY,
            "participants": 10,
            "party": [
                {"name": "Diego Rivera", "email": "diego@example.com"},
                {"name": "Tina Modotti", "email": "tina@example.com"},
            ],
        },
        "POST /payments/create-intent (participants 10)",
    )
    confirmation = _pay_and_verify(session, api, info, party)
    cal = _cal_booking(info, confirmation["cal_booking_uid"])
    print(f"   Cal.com attendees: {', '.join(attendee['name'] for attendee in cal.get('attendees', []))}")
    print(f"   seats left: {_seats_left(session, api, start)}")

    print("\n== 2. A resident artist signed in on the business's site books a seat free (no card, no Stripe)")
    token = _show(
        "POST /_local/site-token (the site's sign-in)",
        session.post(f"{api}/_local/site-token", json={"role": "resident_artist"}, timeout=10),
    )
    artist = _book(
        session,
        api,
        {"service_id": WORKSHOP, "start": start, "attendee": ARTIST, "role_token": token["token"]},
        "POST /payments/create-intent (role_token)",
    )
    if artist["payment_intent_id"] is not None or artist["role"] != "resident_artist":
        raise DemoFailed("a resident artist's seat should be free")
    _verify_link(session, api, info, artist["verify_url"])

    print("\n== 3. The last seat goes; the next client joins the waitlist for two")
    last = _book(
        session, api, {"service_id": WORKSHOP, "start": start, "attendee": LAST}, "POST /payments/create-intent"
    )
    _pay_and_verify(session, api, info, last)
    print(f"   seats left: {_seats_left(session, api, start)}")
    joined = _show(
        "POST /waitlist",
        session.post(
            f"{api}/waitlist",
            json={"service_id": WORKSHOP, "start": start, "attendee": WAITING, "participants": 2},
            timeout=30,
        ),
    )
    print(f"   {WAITING['name']} is number {joined['position']} in line")

    print("\n== 4. The party gives two seats back through its manage link: their share, refunded by policy")
    manage_token = confirmation["manage_url"].split("token=", 1)[1]
    _show(
        "POST /bookings/manage/party/cancel",
        session.post(f"{api}/bookings/manage/party/cancel", json={"token": manage_token, "seats": 2}, timeout=60),
    )

    print("\n== 5. The freed seats are offered to the waitlist: a hold and an email with the pay link")
    offer = _offer(session, api, start)
    print(f"   offered to {offer['name']} until {offer['hold_expires_at']}: {offer['pay_url']}")
    _print_messages(_outbox(session, api, to=WAITING["email"])[-1:])
    held = session.get(f"{api}/admin/bookings/{offer['booking_id']}", headers=_owner_headers(), timeout=30).json()
    _confirm_card(info, held["payment"]["payment_intent_id"])  # what the pay page does with the link
    _wait_for_status(session, api, offer["booking_id"], "CONFIRMED")
    print(f"   {WAITING['name']}'s party of 2 is booked; seats left: {_seats_left(session, api, start)}")

    print("\n== 6. A weekly course of three workshops, previewed, then held and paid in one payment")
    first = _empty_slot(session, api, after=start)
    series = {"service_id": WORKSHOP, "start": first, "every_weeks": 1, "count": 3}
    _show("GET /availability/series", session.get(f"{api}/availability/series", params=series, timeout=30))
    course = _book(
        session,
        api,
        {"service_id": WORKSHOP, "start": first, "attendee": PARTY, "recurrence": {"every_weeks": 1, "count": 3}},
        "POST /payments/create-intent (recurrence weekly x3)",
    )
    _confirm_card(info, course["payment_intent_id"])
    lead = _wait_for_status(session, api, course["booking_id"], "CONFIRMED")
    print(f"   the course's first session is {lead['status']}; the cleanup job confirms the others within minutes")

    print("\n== 7. The owner's report of the workshop: from today to the workshop's day")
    today = _business_today(session, api)
    response = session.get(
        f"{api}/admin/reports",
        params={"service_id": WORKSHOP, "from": today, "to": max(today, start[:10])},
        headers=_owner_headers(),
        timeout=30,
    )
    if not response.ok:
        _show("GET /admin/reports", response)
    totals = response.json()["services"][0]["totals"]
    print(f"== GET /admin/reports  -> HTTP {response.status_code}")
    print(
        f"   holds {totals['holds']}, paid {totals['holds_paid']}, appointments {totals['bookings']} "
        f"{totals['by_status']}, payments failed {totals['payments_failed']} of "
        f"{totals['payments_succeeded'] + totals['payments_failed']}"
    )
    for money in totals["money"]:
        print(
            f"   {money['currency'].upper()}: collected {money['collected'] / 100:.2f} (deposits "
            f"{money['deposits'] / 100:.2f}, in full {money['full_payments'] / 100:.2f}), refunded "
            f"{money['refunded'] / 100:.2f}, balance outstanding {money['balance_outstanding'] / 100:.2f}"
        )
    return dict(lead)


def _business_today(session: requests.Session, api: str) -> str:
    """The business's date now on the runner's clock (the report's days are the business's)."""
    config = session.get(f"{api}/config", timeout=30).json()
    offset = float(session.get(f"{api}/_local", timeout=5).json().get("clock_offset_seconds") or 0)
    now = datetime.now(ZoneInfo(config["business"]["time_zone"])) + timedelta(seconds=offset)
    return now.date().isoformat()
