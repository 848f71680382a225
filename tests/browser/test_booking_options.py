"""The booking options of issue 12 as a client meets them in a real browser: a promo code that makes a session free
(no card at all), a price in another currency with the phone the service requires, a package bought and then used
for a booking, and the manage link's page (what a cancellation refunds before confirming it, a reschedule, a
cancellation inside the free window).

All on the coaching service (and its package), each test in a week of its own that no other browser test books in
(theirs are the first seven weeks, then ~200-300 days on: the owner lists bookings by start, whatever the service).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import pages
from tests.browser.conftest import Site, wait_css, wait_text

Axe = Callable[[WebDriver], None]
Shots = Callable[[WebDriver, str], tuple[Path, Path]]

COACHING = "skin-coaching"  # 200.00 USD or 270.00 CAD, 50% deposit, a phone required, 2 reschedules
PACKAGE = "coaching-3"  # 3 coaching calls, 500.00 USD or 675.00 CAD
PHONE = "+14155550123"
# Weeks from now, one per test: after the weeks the client pages' tests use (0-6)
MANAGE_WEEK, FREE_WEEK, CAD_WEEK, PACKAGE_WEEK = 7, 8, 9, 10


def apply_promo(driver: WebDriver, code: str) -> str:
    """Types a promo code, applies it; answers what the widget says about it."""
    box = driver.find_element(By.CSS_SELECTOR, '.bw-field[data-field="promo_code"] input')
    box.clear()
    box.send_keys(code)
    driver.find_element(By.CSS_SELECTOR, ".bw-apply").click()
    return str(wait_css(driver, ".bw-promo-result:not(:empty)").text)


def details(driver: WebDriver) -> dict[str, str]:
    """A page's facts list as {label: value}, without waiting for a state."""
    labels = driver.find_elements(By.CSS_SELECTOR, ".kit-facts dt")
    values = driver.find_elements(By.CSS_SELECTOR, ".kit-facts dd")
    return {label.text: value.text for label, value in zip(labels, values, strict=True)}


def test_a_free_session_with_a_promo_code_and_a_backup_time(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given the coaching call's first week, a time and a backup time from the same week
    pages.open_widget(driver, site)
    pages.choose_service(driver, COACHING, weeks_ahead=FREE_WEEK)
    start = pages.pick_slot(driver)
    driver.find_element(By.CSS_SELECTOR, '[data-action="pick-backup"]').click()
    wait_text(driver, ".bw-step-title", "Pick a backup time")
    own = wait_css(driver, f'.bw-slot[data-start="{start}"]')  # the week's slots come after the title
    assert not own.is_enabled() and "your chosen time" in str(own.get_attribute("aria-label"))
    backup = next(s for s in driver.find_elements(By.CSS_SELECTOR, ".bw-slot") if s.is_enabled())
    backup_start = str(backup.get_attribute("data-start"))
    backup.click()
    assert wait_css(driver, ".bw-backup[data-backup]").get_attribute("data-backup") == backup_start

    # When a made-up code is tried: the one generic message, the price unchanged
    refused = apply_promo(driver, "NOPE4242")
    assert refused and "applied" not in refused
    assert driver.find_element(By.CSS_SELECTOR, ".bw-continue").text == "Continue to payment"
    # Then WIMD25 (typed in lower case): nothing to pay, no payment choice, a "Book now"
    assert apply_promo(driver, "wimd25") == "WIMD25 applied: $0.00 instead of $200.00."
    assert driver.find_elements(By.CSS_SELECTOR, ".bw-option input[name$='payment-type']") == []
    assert "nothing to pay" in driver.find_element(By.CSS_SELECTOR, ".bw-nothing-due").text
    submit = driver.find_element(By.CSS_SELECTOR, ".bw-continue")
    assert submit.text == "Book now"
    # The phone is required for this service: asked for before anything is held
    pages.fill_details(driver, "Fran Free", "fran@example.com")
    submit.click()
    phone = wait_css(driver, '.bw-field[data-field="phone"] input[aria-invalid="true"]')
    assert driver.switch_to.active_element == phone
    assert "phone" in driver.find_element(By.CSS_SELECTOR, '.bw-field[data-field="phone"] .bw-field-error').text
    screenshots(driver, "options-free-promo-details")
    axe_check(driver)
    pages.fill_details(driver, "Fran Free", "fran@example.com", PHONE)
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()

    # Then straight to the verify page, no card asked: confirmed, nothing paid, a manage link
    facts = pages.confirmed_page(driver)
    assert driver.find_elements(By.CSS_SELECTOR, 'input[name="cardnumber"]') == []
    assert facts["Paid"] == "Nothing: no payment needed" and facts["Due at your appointment"] == "Nothing"
    assert "/book/manage" in str(driver.find_element(By.CSS_SELECTOR, ".kit-manage-link").get_attribute("href"))
    [booking] = pages.bookings_at(site, start)
    assert booking["status"] == "CONFIRMED" and booking["payment"]["amount_paid"] == 0
    screenshots(driver, "options-free-confirmed")
    axe_check(driver)


def test_a_booking_in_cad_with_a_phone_number(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    pages.open_widget(driver, site)
    service = driver.find_element(By.CSS_SELECTOR, f'.bw-service[data-service="{COACHING}"]').text
    assert "also in CAD" in service
    pages.choose_service(driver, COACHING, weeks_ahead=CAD_WEEK)
    start = pages.pick_slot(driver)
    # The deposit follows the currency picked
    assert "$100.00 deposit" in driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[value="deposit"])').text
    driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[value="cad"])').click()
    deposit = driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[value="deposit"])').text
    assert "CA$135.00 deposit" in deposit and "CA$135.00 is due at your appointment" in deposit
    axe_check(driver)
    pages.fill_details(driver, "Cam Canada", "cam@example.com", PHONE)
    pages.continue_to_payment(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "CA$135.00"
    screenshots(driver, "options-cad-payment")
    pages.pay(driver, pages.GOOD_CARD)

    facts = pages.confirmed_page(driver)
    assert facts["Paid"] == "CA$135.00 deposit" and facts["Due at your appointment"] == "CA$135.00"
    [booking] = pages.bookings_at(site, start)
    assert booking["status"] == "CONFIRMED" and booking["payment"]["amount_paid"] == 13500
    assert booking["payment"]["currency"] == "cad" and booking["client_phone"] == PHONE
    axe_check(driver)


def test_a_package_bought_then_used_for_a_booking(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given the package page: the catalog's package, its price in either currency, the buyer's details
    driver.get(f"{site.url}/book/package/")
    pages.wait_state(driver, "buy")
    assert driver.find_element(By.CSS_SELECTOR, f'input[name="package"][value="{PACKAGE}"]').is_selected()
    axe_check(driver)
    screenshots(driver, "options-package-buy")
    for field, value in (("name", "Pat Package"), ("email", "pat@example.com")):
        driver.find_element(By.CSS_SELECTOR, f'.kit-field[data-field="{field}"] input').send_keys(value)
    driver.find_element(By.CSS_SELECTOR, ".kit-continue").click()
    # When paid with a card through the Payment Element
    wait_css(driver, '#payment-element input[name="cardnumber"]')
    assert driver.find_element(By.CSS_SELECTOR, ".kit-pay").text == "Pay $500.00"
    pages.type_card(driver, pages.GOOD_CARD, "#payment-element")
    driver.find_element(By.CSS_SELECTOR, ".kit-pay").click()

    # Then its page: active, three sessions left, none booked
    WebDriverWait(driver, 30).until(lambda d: "id=pkg_" in d.current_url, "the package's page never opened")
    package_url = driver.current_url
    assert "secret=" in package_url
    pages.wait_state(driver, "active")
    facts = details(driver)
    assert (facts["Sessions"], facts["Used"], facts["Remaining"]) == ("3", "0", "3")
    screenshots(driver, "options-package-active")
    axe_check(driver)

    # When the client books a session from it: the widget lists the covered service, the package already filled in
    driver.find_element(By.CSS_SELECTOR, ".kit-book-session").click()
    wait_css(driver, "booking-widget .bw-package-intro")
    assert [s.get_attribute("data-service") for s in driver.find_elements(By.CSS_SELECTOR, ".bw-service")] == [COACHING]
    pages.choose_service(driver, COACHING, weeks_ahead=PACKAGE_WEEK)
    start = pages.pick_slot(driver)
    assert driver.find_element(By.CSS_SELECTOR, f"#{_widget_uid(driver)}-use-package").is_selected()
    assert "package" in driver.find_element(By.CSS_SELECTOR, ".bw-nothing-due").text
    assert not driver.find_element(By.CSS_SELECTOR, ".bw-currency").is_displayed()
    screenshots(driver, "options-package-book")
    axe_check(driver)
    pages.fill_details(driver, "Pat Package", "pat@example.com", PHONE)
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()

    # Then confirmed without a card, and the package shows the credit used by that booking
    facts = pages.confirmed_page(driver)
    assert facts["Paid"].startswith("Nothing")
    [booking] = pages.bookings_at(site, start)
    assert booking["status"] == "CONFIRMED"
    driver.get(package_url)
    pages.wait_state(driver, "active")
    facts = details(driver)
    assert (facts["Used"], facts["Remaining"]) == ("1", "2")
    listed = driver.find_element(By.CSS_SELECTOR, f'.kit-package-bookings li[data-booking="{booking["booking_id"]}"]')
    assert "credit used" in listed.text
    axe_check(driver)


def _widget_uid(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.querySelector('booking-widget').uid"))


# ---- the manage link ---------------------------------------------------------------------------------------------


@pytest.fixture
def managed_booking(site: Site) -> dict[str, Any]:
    """A coaching call paid with a deposit (through the API, as the widget does), and its confirmation."""
    start = pages.first_free_start(site, COACHING, weeks_ahead=MANAGE_WEEK)
    body = {
        "service_id": COACHING,
        "start": start,
        "attendee": {"name": "Mia Manage", "email": "mia@example.com", "phone": PHONE, "time_zone": "UTC"},
        "payment_type": "deposit",
    }
    held = site.post("/payments/create-intent", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert held.status_code == 201, held.text
    intent = held.json()
    assert pages.confirm_card_at_stripe(site, intent["payment_intent_id"], "pm_card_visa") == "succeeded"
    issued = site.post(
        "/bookings/create-token",
        json={"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
    )
    assert issued.status_code == 201, issued.text
    verified = site.post("/bookings/verify", json={"token": issued.json()["token"]})
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def test_the_manage_page_reschedules_then_cancels_with_the_refund_shown_first(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots, managed_booking: dict[str, Any]
) -> None:
    # Given the confirmation's manage link, opened weeks before the call (inside the free cancellation window)
    booking_id = managed_booking["booking_id"]
    driver.get(managed_booking["manage_url"])
    pages.wait_state(driver, "ready")
    assert details(driver)["Booking reference"] == booking_id
    # What a cancellation would refund is shown before anything is done
    assert "We refund $100.00 to your card." in driver.find_element(By.CSS_SELECTOR, ".kit-cancel-terms").text
    assert "2 more times" in driver.find_element(By.CSS_SELECTOR, ".kit-reschedule-terms").text
    screenshots(driver, "options-manage")
    axe_check(driver)

    # When the client moves it to another day of its week (the widget opens on this week)
    driver.find_element(By.CSS_SELECTOR, ".kit-reschedule").click()
    wait_css(driver, "booking-widget .bw-days")
    for _ in range(MANAGE_WEEK):
        pages.next_week(driver)
    booked_day = datetime.fromisoformat(managed_booking["start"]).date()
    slot = next(
        s
        for s in driver.find_elements(By.CSS_SELECTOR, ".bw-slot")
        if datetime.fromisoformat(str(s.get_attribute("data-start"))).date() > booked_day
    )
    new_start = str(slot.get_attribute("data-start"))
    slot.click()
    assert "Moving it costs nothing." in wait_css(driver, ".bw-move-note").text
    axe_check(driver)
    wait_css(driver, ".bw-rebook").click()

    # Then the page shows it at the new time, one reschedule fewer left
    pages.wait_state(driver, "rescheduled")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Your booking is moved"
    assert details(driver)["Rescheduled"] == "Once"
    assert "once more" in driver.find_element(By.CSS_SELECTOR, ".kit-reschedule-terms").text
    [moved] = pages.bookings_at(site, new_start)
    assert moved["booking_id"] == booking_id and moved["status"] == "CONFIRMED"

    # When the client cancels: a dialog repeats the refund; "Keep my booking" changes nothing
    driver.find_element(By.CSS_SELECTOR, ".kit-cancel").click()
    dialog = wait_css(driver, "dialog.kit-dialog")
    assert "We refund $100.00 to your card." in dialog.text
    assert driver.switch_to.active_element == driver.find_element(By.CSS_SELECTOR, ".kit-keep")
    pages.dialog_screenshots(driver, "options-manage-cancel-dialog", "dialog.kit-dialog")
    axe_check(driver)
    driver.find_element(By.CSS_SELECTOR, ".kit-keep").click()
    WebDriverWait(driver, 5).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog.kit-dialog"))
    assert driver.switch_to.active_element == driver.find_element(By.CSS_SELECTOR, ".kit-cancel")
    driver.find_element(By.CSS_SELECTOR, ".kit-cancel").click()
    wait_css(driver, ".kit-confirm-cancel").click()

    # Then cancelled with the deposit refunded in full, as the owner sees it too
    pages.wait_state(driver, "cancelled")
    assert "We refunded $100.00" in driver.find_element(By.CSS_SELECTOR, ".kit-status").text
    assert details(driver)["Refunded"] == "$100.00"
    booking = pages.owner_get(site, f"/admin/bookings/{booking_id}")
    assert booking["payment"]["amount_refunded"] == 10000
    screenshots(driver, "options-manage-cancelled")
    axe_check(driver)
