"""Message templates (issue 13 item 1): every kind renders the facts the client needs, in the booking's currency,
in the client's time zone (and the business's when it differs), with a plain-text twin of the HTML, an SMS within
two segments, escaped HTML and strict fields."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from jinja2 import UndefinedError

from booking.notify.messages import SMS_KINDS, Kind, MessageContext
from booking.notify.render import SMS_LIMIT, TEMPLATES, environment, format_when, render, short_when

KINDS: tuple[str, ...] = get_args(Kind)
START = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 15:00 in London, 10:00 in New York
MANAGE = "https://studio.example/manage?booking=bk_1&token=abc"
PAY = "https://studio.example/pay?link=pl_1&token=xyz"
BOOKING = {
    "business_name": "Calm Studio",
    "business_time_zone": "Europe/London",
    "site_url": "https://studio.example",
    "reply_to": "hello@studio.example",
    "booking_id": "bk_1",
    "client_name": "Ana Silva",
    "client_time_zone": "America/New_York",
    "service_name": "Deep tissue massage",
    "start": START,
    "end": START + timedelta(hours=1),
    "currency": "usd",
    "total": 12000,
    "paid": 6000,
    "balance_due": 6000,
    "manage_url": MANAGE,
    "calendar_uid": "bk_1@studio.example",
}
PACKAGE = {
    "business_name": "Calm Studio",
    "business_time_zone": "Europe/London",
    "site_url": "https://studio.example",
    "reply_to": "hello@studio.example",
    "client_name": "Ana Silva",
    "client_time_zone": "America/New_York",
    "currency": "usd",
    "package_id": "pkg_1",
    "package_name": "3-session package",
    "credits_total": 3,
    "manage_url": "https://studio.example/package?package=pkg_1",
}
# A realistic context of each kind: what events.py would build for it.
REALISTIC: dict[str, dict[str, Any]] = {
    "confirmed": {**BOOKING, "preparation": "Drink plenty of water.\nArrive 10 minutes early."},
    "reminder": {**BOOKING, "hours_before": 24, "preparation": "Drink plenty of water."},
    "rescheduled": {**BOOKING, "previous_start": START - timedelta(days=2), "sequence": 1},
    "cancelled": {**BOOKING, "cancelled_by": "client", "refund_expected": 6000},
    "payment_received": {**BOOKING, "amount": 6000, "purpose": "balance", "paid": 12000, "balance_due": 0},
    "payment_action": {**BOOKING, "amount": 6000, "purpose": "balance", "pay_url": PAY},
    "refund_issued": {**BOOKING, "amount": 6000, "refunded": 6000},
    "slot_lost": {**BOOKING, "rebook_until": START + timedelta(days=3)},
    "package_bought": {
        **PACKAGE,
        "paid": 50000,
        "total": 50000,
        "package_expires_at": datetime(2027, 12, 1, 12, tzinfo=UTC),
    },
    "credit_used": {
        **PACKAGE,
        "booking_id": "bk_2",
        "service_name": "Deep tissue massage",
        "start": START,
        "package_credit": True,
        "total": 0,
        "paid": 0,
        "balance_due": 0,
        "credits_left": 2,
    },
    "waitlist_joined": {**BOOKING, "position": 2, "participants": 3},
    "waitlist_offer": {
        **BOOKING,
        "amount": 6000,
        "hold_until": START - timedelta(days=2),
        "pay_url": PAY,
        "participants": 2,
    },
    "member_booked": {**BOOKING, "member_name": "Bea Costa"},
    "member_cancelled": {**BOOKING, "member_name": "Bea Costa", "cancelled_by": "client"},
    "owner_alert": {
        "business_name": "Calm Studio",
        "business_time_zone": "Europe/London",
        "site_url": "https://studio.example",
        "alert_subject": "A refund failed",
        "alert_message": "Booking bk_1: Stripe declined the refund.\n  Refund it from the dashboard.",
        "dashboard_url": "https://studio.example/admin",
    },
}
# The least each kind is rendered with: every template must cope with the optional fields left out.
MINIMUM: dict[str, dict[str, Any]] = {
    "confirmed": {"service_name": "Massage", "start": START, "calendar_uid": "bk_1@studio.example"},
    "reminder": {"service_name": "Massage", "start": START},
    "rescheduled": {"service_name": "Massage", "start": START, "calendar_uid": "bk_1@studio.example"},
    "cancelled": {"service_name": "Massage"},
    "payment_received": {"amount": 6000},
    "payment_action": {"amount": 6000},
    "refund_issued": {"amount": 6000, "refunded": 6000},
    "slot_lost": {"service_name": "Massage"},
    "package_bought": {"package_name": "3-session package", "credits_total": 3},
    "credit_used": {
        "package_name": "3-session package",
        "service_name": "Massage",
        "credits_total": 3,
        "credits_left": 2,
    },
    "waitlist_joined": {"service_name": "Massage"},
    "waitlist_offer": {"service_name": "Massage"},
    "member_booked": {
        "service_name": "Massage",
        "start": START,
        "member_name": "Bea",
        "client_name": "Ana",
        "calendar_uid": "bk_1@studio.example",
    },
    "member_cancelled": {
        "service_name": "Massage",
        "start": START,
        "member_name": "Bea",
        "client_name": "Ana",
        "calendar_uid": "bk_1@studio.example",
    },
    "owner_alert": {},
}


def context(kind: str, **changes: Any) -> MessageContext:
    return MessageContext.model_validate({**REALISTIC[kind], "kind": kind, **changes})


def test_the_folder_holds_a_text_and_html_template_per_kind_and_an_sms_per_sms_kind() -> None:
    # Given the template folder / Then each kind has its .txt and .html, SMS kinds their .sms, and nothing is stray
    expected = {f"{kind}.{ext}" for kind in KINDS for ext in ("txt", "html")}
    expected |= {f"{kind}.sms" for kind in SMS_KINDS}
    expected |= {"base.txt", "base.html", "ui.html", "words.txt"}
    assert {path.name for path in TEMPLATES.iterdir()} == expected


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_an_email_with_the_business_in_subject_and_footer_and_an_html_twin(kind: str) -> None:
    # Given a realistic context of the kind / When it is rendered
    rendered = render(context(kind))
    # Then the subject is one short line naming the business
    assert rendered.subject.endswith(" - Calm Studio")
    assert "\n" not in rendered.subject and len(rendered.subject) <= 100
    # And the text ends with the business's footer, the HTML is a whole accessible page with the same footer
    assert rendered.text.rstrip().splitlines()[-3:-1] == ["Calm Studio", "https://studio.example"]
    assert rendered.html.startswith("<!doctype html>")
    assert '<html lang="en">' in rendered.html
    assert rendered.html.count("<h1") == 1
    assert "max-width:600px" in rendered.html
    assert '<a href="https://studio.example"' in rendered.html
    assert "<img" not in rendered.html
    assert f"<title>{rendered.subject}</title>" in rendered.html
    # And an SMS exists exactly for the SMS kinds, within two segments
    assert (rendered.sms != "") == (kind in SMS_KINDS)
    assert len(rendered.sms) <= SMS_LIMIT


@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_with_the_minimum_context_of_its_kind(kind: str) -> None:
    # Given only the fields a kind cannot do without (StrictUndefined fails on any misspelt field)
    ctx = MessageContext(
        kind=kind, business_name="Calm Studio", business_time_zone="Europe/London", site_url="https://s.example"
    )
    ctx = ctx.model_copy(update=MINIMUM[kind])
    # When it is rendered / Then text and HTML come out, and no field prints as "None"
    rendered = render(ctx)
    assert "Calm Studio" in rendered.text and "Calm Studio" in rendered.html
    assert "None" not in rendered.text + rendered.html + rendered.sms + rendered.subject


def test_a_misspelt_field_fails_the_render_instead_of_printing_a_blank() -> None:
    # Given the templates' environment / When a template names a field the context lacks / Then it raises
    with pytest.raises(UndefinedError):
        environment().from_string("When: {{ strat }}").render(dict(context("confirmed")))


def test_confirmed_tells_what_was_paid_what_is_due_the_preparation_and_the_manage_link() -> None:
    # Given a 120.00 USD deposit booking, 60.00 paid, a client in New York and a business in London
    rendered = render(context("confirmed"))
    # Then the subject names the service and the client's time
    assert rendered.subject == "Booked: Deep tissue massage, Tue 1 Dec 10:00 - Calm Studio"
    for body in (rendered.text, rendered.html):
        assert "Paid" in body and "60.00 USD of 120.00 USD" in body
        assert "60.00 USD, due at your appointment" in body
        assert "Tuesday 1 December 2026, 10:00 (America/New_York) [15:00 Europe/London]" in body
        assert "Arrive 10 minutes early." in body
    # And the manage link is in both (escaped as an HTML attribute), and the SMS
    assert MANAGE in rendered.text
    assert f'href="{MANAGE.replace("&", "&amp;")}"' in rendered.html
    assert MANAGE in rendered.sms
    assert "Drink plenty of water.\nArrive 10 minutes early." in rendered.text
    # And the calendar invitation is attached
    assert [a.content_type for a in rendered.attachments] == ["text/calendar; charset=utf-8; method=REQUEST"]


def test_confirmed_with_a_package_credit_says_so_and_asks_for_nothing() -> None:
    rendered = render(context("confirmed", package_credit=True, total=0, paid=0, balance_due=0))
    assert "Paid with: one credit of your package" in rendered.text
    assert "one credit of your package" in rendered.html
    assert "due at your appointment" not in rendered.text + rendered.html + rendered.sms
    assert "Paid:" not in rendered.text


def test_a_free_booking_says_nothing_is_due() -> None:
    rendered = render(context("confirmed", total=0, paid=0, balance_due=0))
    assert "Price: free, nothing to pay" in rendered.text
    assert "free, nothing to pay" in rendered.html


@pytest.mark.parametrize(
    ("currency", "paid", "total", "expected_paid", "expected_total"),
    [
        ("usd", 6000, 12000, "60.00 USD", "120.00 USD"),
        ("cad", 4550, 9100, "45.50 CAD", "91.00 CAD"),
        ("jpy", 6000, 12000, "6000 JPY", "12000 JPY"),  # zero-decimal: no cents
    ],
)
def test_amounts_are_in_the_bookings_currency(
    currency: str, paid: int, total: int, expected_paid: str, expected_total: str
) -> None:
    # Given a booking in the currency / When its confirmation and its refund are rendered
    confirmed = render(context("confirmed", currency=currency, paid=paid, total=total, balance_due=total - paid))
    refund = render(context("refund_issued", currency=currency, amount=paid, refunded=paid))
    # Then every amount is written in that currency
    assert f"Paid: {expected_paid} of {expected_total}" in confirmed.text
    assert f"{expected_paid} of {expected_total}" in confirmed.html
    assert f"{expected_paid} due at your appointment" in confirmed.sms
    assert refund.subject == f"Refund: {expected_paid} - Calm Studio"
    assert f"Total refunded: {expected_paid}" in refund.text


def test_one_time_zone_is_shown_once_when_client_and_business_share_it() -> None:
    rendered = render(context("confirmed", client_time_zone="Europe/London"))
    assert "When: Tuesday 1 December 2026, 15:00 (Europe/London)\n" in rendered.text
    assert "[" not in rendered.text


def test_without_a_client_time_zone_the_business_zone_is_used() -> None:
    rendered = render(context("reminder", client_time_zone=None))
    assert "When: Tuesday 1 December 2026, 15:00 (Europe/London)\n" in rendered.text
    assert "(Europe/London)" in rendered.sms


def test_format_when_gives_the_businesss_day_too_when_the_clocks_are_on_different_days() -> None:
    # Given 23:30 UTC on 1 Dec: 08:30 on 2 Dec in Tokyo, 23:30 on 1 Dec in London
    moment = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert (
        format_when(moment, "Asia/Tokyo", "Europe/London")
        == "Wednesday 2 December 2026, 08:30 (Asia/Tokyo) [Tue 1 Dec 23:30 Europe/London]"
    )


def test_format_when_follows_summer_time_and_omits_a_zone_that_shows_the_same_clock() -> None:
    # Given 14:00 UTC in July: 15:00 BST in London, 10:00 EDT in New York
    moment = datetime(2026, 7, 7, 14, tzinfo=UTC)
    assert format_when(moment, "Europe/London") == "Tuesday 7 July 2026, 15:00 (Europe/London)"
    assert format_when(moment, "America/New_York", "Europe/London") == (
        "Tuesday 7 July 2026, 10:00 (America/New_York) [15:00 Europe/London]"
    )
    # And Lisbon keeps London's clock in summer, so nothing is repeated
    assert format_when(moment, "Europe/Lisbon", "Europe/London") == "Tuesday 7 July 2026, 15:00 (Europe/Lisbon)"
    assert short_when(moment, "America/New_York") == "Tue 7 Jul 10:00"


@pytest.mark.parametrize(
    ("hours", "words"),
    [(24, "in 24 hours"), (2, "in 2 hours"), (1, "in 1 hour"), (48, "in 2 days"), (36, "in 36 hours")],
)
def test_reminder_says_how_soon_and_repeats_the_time_the_note_the_balance_and_the_link(hours: int, words: str) -> None:
    rendered = render(context("reminder", hours_before=hours))
    assert rendered.subject == "Reminder: Deep tissue massage, Tue 1 Dec 10:00 - Calm Studio"
    assert f"Your Deep tissue massage with Calm Studio is {words}." in rendered.text
    assert words in rendered.html and words in rendered.sms
    for body in (rendered.text, rendered.html):
        assert "Tuesday 1 December 2026, 10:00 (America/New_York) [15:00 Europe/London]" in body
        assert "Drink plenty of water." in body
        assert "60.00 USD, due at your appointment" in body
    assert MANAGE in rendered.text and MANAGE in rendered.sms
    assert rendered.attachments == ()


def test_rescheduled_shows_the_old_and_the_new_time_and_moves_the_calendar_event() -> None:
    rendered = render(context("rescheduled", sequence=2))
    assert rendered.subject == "Moved: Deep tissue massage, now Tue 1 Dec 10:00 - Calm Studio"
    assert "Was: Sunday 29 November 2026, 10:00 (America/New_York) [15:00 Europe/London]" in rendered.text
    assert "Now: Tuesday 1 December 2026, 10:00 (America/New_York) [15:00 Europe/London]" in rendered.text
    assert "Sunday 29 November 2026" in rendered.html and "Tuesday 1 December 2026" in rendered.html
    assert "moved to Tue 1 Dec 10:00" in rendered.sms and "was Sun 29 Nov 10:00" in rendered.sms
    assert MANAGE in rendered.text and MANAGE in rendered.sms
    (ics,) = rendered.attachments
    assert b"UID:bk_1@studio.example\r\n" in ics.data and b"SEQUENCE:2\r\n" in ics.data


@pytest.mark.parametrize(
    ("by", "sentence"),
    [
        ("client", "You cancelled your booking with Calm Studio."),
        ("business", "Calm Studio cancelled your booking."),
        ("calendar", "Your booking was cancelled in Calm Studio's calendar."),
        (None, "Your booking with Calm Studio has been cancelled."),
    ],
)
def test_cancelled_says_who_cancelled(by: str | None, sentence: str) -> None:
    rendered = render(context("cancelled", cancelled_by=by))
    assert sentence in rendered.text
    assert sentence.replace("'", "&#39;") in rendered.html


def test_cancelled_with_a_refund_says_how_much_and_when_it_arrives_and_cancels_the_calendar_event() -> None:
    rendered = render(context("cancelled", refund_expected=4500))
    assert rendered.subject == "Cancelled: Deep tissue massage, Tue 1 Dec 10:00 - Calm Studio"
    refund = "A refund of 45.00 USD is on its way; card refunds take 5-10 business days to appear on your statement."
    assert refund in rendered.text and refund in rendered.html
    assert "A refund of 45.00 USD is on its way" in rendered.sms
    (ics,) = rendered.attachments
    assert ics.content_type == "text/calendar; charset=utf-8; method=CANCEL"
    assert b"METHOD:CANCEL\r\n" in ics.data and b"STATUS:CANCELLED\r\n" in ics.data


@pytest.mark.parametrize("refund_expected", [None, 0])
def test_cancelled_without_a_refund_names_the_policy(refund_expected: int | None) -> None:
    rendered = render(context("cancelled", refund_expected=refund_expected))
    for body in (rendered.text, rendered.html, rendered.sms):
        assert "No refund is due under the cancellation policy." in body
        assert "refund of" not in body


def test_cancelled_with_nothing_paid_does_not_talk_about_refunds() -> None:
    rendered = render(context("cancelled", refund_expected=None, paid=0, total=0, balance_due=0))
    assert "refund" not in rendered.text.lower() and "refund" not in rendered.sms.lower()


def test_a_cancellation_without_a_start_has_no_calendar_attachment() -> None:
    rendered = render(context("cancelled", start=None, end=None))
    assert rendered.attachments == ()
    assert "When:" not in rendered.text


@pytest.mark.parametrize(
    ("purpose", "words"),
    [
        ("balance", "the balance of your booking"),
        ("late_cancel_fee", "the late cancellation fee"),
        ("no_show_fee", "the missed appointment (no-show) fee"),
        ("reschedule_fee", "the late reschedule fee"),
    ],
)
def test_payment_received_names_the_purpose_the_total_paid_and_what_remains(purpose: str, words: str) -> None:
    rendered = render(context("payment_received", purpose=purpose, amount=2500, paid=8500, balance_due=3500))
    assert rendered.subject == "Payment received: 25.00 USD - Calm Studio"
    assert f"Calm Studio received your payment of 25.00 USD for {words}." in rendered.text
    assert words in rendered.html
    assert "Total paid: 85.00 USD" in rendered.text and "85.00 USD" in rendered.html
    assert "Still to pay: 35.00 USD" in rendered.text and "35.00 USD" in rendered.html


def test_payment_received_for_the_whole_balance_says_nothing_more_is_due() -> None:
    rendered = render(context("payment_received"))
    assert "Total paid: 120.00 USD" in rendered.text
    assert "Nothing more is due." in rendered.text and "nothing more is due" in rendered.html


def test_payment_action_gives_the_pay_link_in_text_html_and_sms() -> None:
    rendered = render(context("payment_action", purpose="no_show_fee", amount=3000))
    assert rendered.subject == "Action needed: confirm your payment of 30.00 USD - Calm Studio"
    assert "your bank needs you to confirm this payment" in rendered.text
    assert "the missed appointment (no-show) fee" in rendered.text
    assert PAY in rendered.text and PAY in rendered.sms
    assert f'href="{PAY.replace("&", "&amp;")}"' in rendered.html
    assert "Confirm the payment" in rendered.html


def test_payment_action_without_a_pay_link_asks_the_client_to_reply() -> None:
    rendered = render(context("payment_action", pay_url=None))
    assert "Please reply to this email and Calm Studio will send you a way to pay." in rendered.text
    assert "http" not in rendered.sms


def test_refund_issued_gives_the_amount_the_total_refunded_and_the_delay() -> None:
    rendered = render(context("refund_issued", amount=2000, refunded=5000))
    assert "This refund: 20.00 USD" in rendered.text
    assert "Total refunded: 50.00 USD" in rendered.text
    for body in (rendered.text, rendered.html):
        assert "5-10 business days" in body
    assert "50.00 USD" in rendered.html


def test_slot_lost_with_a_rebook_window_keeps_the_payment_and_asks_for_another_time() -> None:
    rendered = render(context("slot_lost"))
    assert rendered.subject == "Please pick another time: Deep tissue massage - Calm Studio"
    deadline = "Friday 4 December 2026, 10:00 (America/New_York) [15:00 Europe/London]"
    for body in (rendered.text, rendered.html):
        assert "Your payment of 60.00 USD is safe." in body
        assert f"Please pick another time before {deadline}" in body
        assert "you get a full refund of 60.00 USD" in body
    assert MANAGE in rendered.text and MANAGE in rendered.sms
    assert "Pick another time before Fri 4 Dec 10:00" in rendered.sms


def test_slot_lost_without_a_rebook_window_refunds_in_full() -> None:
    rendered = render(context("slot_lost", rebook_until=None))
    assert rendered.subject == "Your booking could not be made: Deep tissue massage - Calm Studio"
    for body in (rendered.text, rendered.html):
        assert "A full refund of 60.00 USD is on its way" in body
        assert "pick another time" not in body.lower()
    assert "A full refund of 60.00 USD is on its way" in rendered.sms


def test_slot_lost_paid_with_a_credit_gives_the_credit_back() -> None:
    rendered = render(context("slot_lost", rebook_until=None, package_credit=True, paid=0, total=0, balance_due=0))
    assert "The credit is back in your package" in rendered.text
    assert "refund" not in rendered.text.lower()


def test_package_bought_lists_credits_expiry_and_how_to_book_with_it() -> None:
    rendered = render(context("package_bought"))
    assert rendered.subject == "Your package is ready: 3-session package - Calm Studio"
    for body in (rendered.text, rendered.html):
        assert "3 sessions" in body
        assert "500.00 USD" in body
        assert "Wednesday 1 December 2027" in body
        assert "pkg_1" in body
        assert "Use a package" in body
    assert "go to https://studio.example, tick" in rendered.text
    assert 'href="https://studio.example/package?package=pkg_1"' in rendered.html


def test_credit_used_tells_credits_left_and_the_sessions_time() -> None:
    rendered = render(context("credit_used"))
    assert rendered.subject == "Credit used: Deep tissue massage, Tue 1 Dec 10:00 - Calm Studio"
    assert "Credits left: 2 of 3" in rendered.text and "2 of 3" in rendered.html
    assert "Tuesday 1 December 2026, 10:00 (America/New_York) [15:00 Europe/London]" in rendered.text


def test_owner_alert_keeps_the_message_as_written_and_links_the_dashboard() -> None:
    rendered = render(context("owner_alert", alert_message="Refund failed <b>bk_1</b>\n  next: retry"))
    assert rendered.subject == "A refund failed - Calm Studio"
    assert "Refund failed <b>bk_1</b>\n  next: retry" in rendered.text
    assert "Refund failed &lt;b&gt;bk_1&lt;/b&gt;\n  next: retry" in rendered.html
    assert "white-space:pre-wrap" in rendered.html
    assert "https://studio.example/admin" in rendered.text
    assert 'href="https://studio.example/admin"' in rendered.html


@pytest.mark.parametrize("kind", KINDS)
def test_names_and_notes_are_escaped_in_html_and_kept_as_written_in_text(kind: str) -> None:
    # Given a client, a business and a note with markup in them
    hostile = "<script>alert(1)</script>"
    rendered = render(
        context(
            kind,
            client_name=hostile,
            member_name=hostile,  # a party member's messages greet the member
            business_name="Tom & <Jerry>",
            service_name=f"Massage {hostile}",
            preparation=hostile,
            package_name=f"Pack {hostile}",
            alert_subject=f"Alert {hostile}",
            alert_message=hostile,
        )
    )
    # Then the HTML shows them as text and never as markup
    assert "<script" not in rendered.html
    assert "<Jerry>" not in rendered.html
    assert "Tom &amp; &lt;Jerry&gt;" in rendered.html
    # And the text keeps them as they were written
    assert "Tom & <Jerry>" in rendered.text
    if kind != "owner_alert":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
        assert f"Hello {hostile}," in rendered.text


@pytest.mark.parametrize("kind", sorted(SMS_KINDS))
def test_an_sms_with_long_names_stays_within_two_segments_and_keeps_its_link(kind: str) -> None:
    # Given names as long as an owner may type them
    rendered = render(context(kind, business_name="B" * 120, service_name="S" * 200))
    # Then the SMS is cut to fit, never the link at its end
    assert len(rendered.sms) <= SMS_LIMIT
    link = PAY if kind in ("payment_action", "waitlist_offer") else MANAGE
    if kind == "cancelled":
        assert rendered.sms.endswith("A refund of 60.00 USD is on its way (5-10 business days).")
    else:
        assert rendered.sms.endswith(link)


def test_sms_stays_in_the_gsm_alphabet_for_our_own_words() -> None:
    # Given ordinary names / Then every SMS is plain ASCII, so a segment holds 160 characters, not 70
    for kind in SMS_KINDS:
        assert render(context(kind)).sms.isascii()


def test_importing_render_does_not_load_jinja() -> None:
    # Given a fresh interpreter / When the module is imported (every function's cold start) / Then Jinja waits
    shared = Path(__file__).resolve().parents[2] / "shared"
    code = "import sys, booking.notify.render; print('jinja2' in sys.modules)"
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], cwd=shared, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
