"""Helpers of the group booking tests (seed 004's ceramics workshop: 12 seats, 50.00 a seat, 10+ at 40.00)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.integration.helpers import WEDNESDAY, instant, next_weekday
from tests.support import ApiClient, ApiResponse, stripe_client

WORKSHOP = "ceramics-workshop"
WORKSHOP_EVENT_TYPE = 3815423
PAYER = {"name": "Grace Hopper", "email": "grace@example.com", "time_zone": "America/Los_Angeles"}


def member(n: int, *, email: bool = True) -> dict[str, str]:
    return {"name": f"Potter {n}", **({"email": f"potter{n}@example.com"} if email else {})}


def workshop_slot(api: ApiClient, days_ahead: int = 4) -> str:
    """The first workshop start of a Wednesday at least `days_ahead` days away (outside the 48 h free window)."""
    day = next_weekday(WEDNESDAY, days_ahead=days_ahead)
    response = api.get("/availability", service_id=WORKSHOP, start=day.isoformat(), days=1)
    assert response.status == 200, response.body
    return str(response.body["days"][0]["slots"][0]["start"])


def seats_left(api: ApiClient, start: str) -> int | None:
    """`seats_left` of the slot at `start` in GET /availability (None when it is not offered)."""
    moment = instant(start)
    response = api.get("/availability", service_id=WORKSHOP, start=moment.date().isoformat(), days=2)
    assert response.status == 200, response.body
    slots = [slot for day in response.body["days"] for slot in day["slots"] if instant(slot["start"]) == moment]
    return int(slots[0]["seats_left"]) if slots else None


def book_party(
    api: ApiClient, start: str, participants: int, party: list[dict[str, str]], **options: Any
) -> ApiResponse:
    return api.create_intent(
        service_id=WORKSHOP, start=start, attendee=PAYER, participants=participants, party=party, **options
    )


def token_of(manage_url: str) -> str:
    return parse_qs(urlsplit(manage_url).query)["token"][0]


def stripe_refunds(payment_intent_id: str) -> list[dict[str, Any]]:
    """The refunds Stripe (the double) has for the payment, oldest first."""
    listed = stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
    return sorted((refund.to_dict() for refund in listed.data), key=lambda refund: refund["created"])


def when(text: str) -> datetime:
    return instant(text)
