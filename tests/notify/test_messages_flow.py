"""Each event of a booking's life becomes its message, once, through the notifier's real entry point."""

from __future__ import annotations

from tests.notify.conftest import attachment, body, deliver, emails
from tests.support import ATTENDEE, ApiClient


def test_a_confirmed_deposit_booking_is_emailed_once_with_its_calendar_file(api: ApiClient, lam, notifications) -> None:
    booking = api.confirmed_booking()
    deliver(lam)
    sent = emails(ATTENDEE["email"])
    assert [m["Subject"] for m in sent][:1] and len(sent) == 1, [m["Subject"] for m in sent]
    text = body(sent[0])
    assert "Aura Aesthetics" in text
    assert attachment(sent[0], "booking.ics") is not None
    deliver(lam)
    assert len(emails(ATTENDEE["email"])) == 1
    assert booking["booking_id"]
