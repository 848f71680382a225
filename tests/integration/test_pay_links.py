"""Pay links derived from the PaymentIntent under the link signing key (flows/pay_links.py): the owner's collection
and the notifier name the same link, which is stored once.

Through the handler entry points (the owner's collect-balance, the client's /bookings/pay) with the Stripe double;
the link's item is read from the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from booking.dal import bookings as store
from booking.flows.pay_links import PAY_LINK_DAYS, link_for, pay_url
from booking.providers import payments
from local.stripe_double import StripeDouble
from tests.integration.helpers import MONDAY, local, next_weekday, scan_table, travel_to
from tests.integration.test_owner_money import act, of_purpose, saved_card_needing_authentication
from tests.support import ApiClient, Clock


@pytest.fixture
def tuesday(clock: Clock) -> Iterator[datetime]:
    """Monday 08:00 business time; a facial on Tuesday at 10:00 (the owner's money tests' day)."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    yield local(monday + timedelta(days=1), 10)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def pay_link_items() -> list[dict[str, Any]]:
    return [item for item in scan_table() if item["pk"]["S"].startswith("PAYLINK#")]


def awaiting_client(api: ApiClient, stripe_double: StripeDouble, start: Any) -> tuple[str, str]:
    """A balance the saved card could not pay (3-D Secure): (booking id, the pay link the owner was given)."""
    bid = saved_card_needing_authentication(api, stripe_double, start)["booking_id"]
    collected = act(api, bid, "collect-balance", {"method": "card_on_file"})
    assert collected.status == 200, collected.body
    assert collected.body["collection"]["outcome"] == "awaiting_client"
    return bid, collected.body["collection"]["pay_url"]


def test_the_same_payment_has_one_link_however_often_it_is_given_out(
    api: ApiClient, stripe_double: StripeDouble, tuesday: Any
) -> None:
    # Given a balance awaiting the client, its pay link given to the owner
    bid, url = awaiting_client(api, stripe_double, tuesday)

    # When the owner asks to collect it again (another request) and the notifier names the link
    again = act(api, bid, "collect-balance", {"method": "card_on_file"})
    [balance] = of_purpose(bid, "balance")

    # Then all three are the same link, stored once, and it opens the payment
    assert again.status == 200, again.body
    assert again.body["collection"]["pay_url"] == url
    assert pay_url(balance.id) == url
    assert len(pay_link_items()) == 1
    page = api.post("/bookings/pay", {"token": token_of(url)})
    assert page.status == 200 and page.body["status"] == "requires_payment", page.body


def test_giving_the_link_out_again_later_extends_it_and_never_shortens_it(
    api: ApiClient, stripe_double: StripeDouble, clock: Clock, tuesday: Any
) -> None:
    bid, url = awaiting_client(api, stripe_double, tuesday)
    [balance] = of_purpose(bid, "balance")
    [first] = pay_link_items()
    booking, intent = store.get_booking(bid), payments.retrieve_payment_intent(balance.id)
    assert booking is not None

    # Given out again 3 days later: valid PAY_LINK_DAYS from then
    clock.advance(days=3)
    assert link_for(booking, intent) == url
    [extended] = pay_link_items()
    assert int(extended["expires_ttl"]["N"]) - int(first["expires_ttl"]["N"]) == timedelta(days=3).total_seconds()
    assert extended["issued_at"] == first["issued_at"]

    # Past its first expiry, the link still opens (it was extended); past the extended one, it has expired
    clock.advance(days=PAY_LINK_DAYS - 2)
    assert api.post("/bookings/pay", {"token": token_of(url)}).status == 200
    clock.advance(days=3)
    expired = api.post("/bookings/pay", {"token": token_of(url)})
    assert (expired.status, expired.error_code) == (410, "token_expired")


def test_another_signing_key_names_another_link_that_opens_nothing(
    api: ApiClient, stripe_double: StripeDouble, tuesday: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bid, url = awaiting_client(api, stripe_double, tuesday)
    [balance] = of_purpose(bid, "balance")
    with monkeypatch.context() as patched:
        patched.setenv("LINK_SIGNING_KEY", "not-the-deployments-key")
        forged = pay_url(balance.id)
    assert forged != url
    opened = api.post("/bookings/pay", {"token": token_of(forged)})
    assert (opened.status, opened.error_code) == (404, "token_not_found")
    assert pay_url(balance.id) == url
