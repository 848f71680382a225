"""What the client sees when time runs out: a hold that ended before the payment, a verify link opened too late.

These move the clock, so they run on a runner of their own (the shared one keeps real time for the other tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from local.spawn import spawned_runner
from tests.browser import pages
from tests.browser.conftest import Site, wait_css, wait_text

Axe = Callable[[WebDriver], None]
Shots = Callable[[WebDriver, str], object]
BROW = "brow-lamination"


@pytest.fixture(scope="module")
def late_site() -> Iterator[Site]:
    with spawned_runner({"LOCAL_CAL_RATE_LIMIT": "0"}) as runner:
        yield Site(runner, marketing_origin="http://127.0.0.1:9")


def run_cleanup(site: Site) -> None:
    """The scheduled cleanup job, now (what EventBridge Scheduler runs every few minutes)."""
    site.post("/_local/invoke/ExpireHoldsFunction").raise_for_status()


def test_a_hold_that_ended_before_the_payment_charges_nothing_and_offers_the_times_again(
    late_site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given a client at the payment step of a held time
    pages.open_widget(driver, late_site)
    pages.choose_service(driver, BROW, weeks_ahead=1)
    start = pages.pick_slot(driver)
    pages.fill_details(driver, "Lena Late", "lena@example.com")
    pages.continue_to_payment(driver)
    [held] = pages.bookings_at(late_site, start)
    # When the hold runs out and the cleanup job expires it before the client pays
    late_site.advance_clock(16 * 60)
    run_cleanup(late_site)
    pages.pay(driver, pages.GOOD_CARD)

    # Then the widget says the hold ended, nothing was charged, and the times come back
    wait_text(driver, ".bw-step-title", "Your hold has ended")
    assert "nothing was charged" in driver.find_element(By.CSS_SELECTOR, "booking-widget .bw-body").text
    booking = pages.wait_booking(late_site, held["booking_id"], "EXPIRED")
    assert booking["payment"]["amount_paid"] == 0
    intent = requests.get(
        f"{late_site.stripe}/_double/objects/{booking['payment']['payment_intent_id']}", timeout=10
    ).json()
    assert intent["status"] == "canceled" and intent["amount_received"] == 0
    screenshots(driver, "client-hold-ended")
    axe_check(driver)
    driver.find_element(By.XPATH, "//booking-widget//button[normalize-space()='Pick a time again']").click()
    wait_css(driver, "booking-widget .bw-slot")


def test_a_verify_link_opened_after_it_expired_says_the_payment_is_safe(
    late_site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given a paid booking whose verify link (30 minutes) was never opened
    start = pages.first_free_start(late_site, BROW, weeks_ahead=2)
    held = pages.hold_through_api(late_site, BROW, start, "Vera Verify")
    assert pages.confirm_card_at_stripe(late_site, held["payment_intent_id"], "pm_card_visa") == "succeeded"
    issued = late_site.post(
        "/bookings/create-token",
        json={"booking_id": held["booking_id"], "payment_intent_id": held["payment_intent_id"]},
    )
    assert issued.status_code == 201, issued.text
    # When the client opens it an hour later
    late_site.advance_clock(60 * 60)
    driver.get(issued.json()["verify_url"])

    # Then the page says the link expired and that the payment is safe (webhooks confirmed the booking meanwhile)
    pages.wait_state(driver, "expired")
    assert driver.find_element(By.TAG_NAME, "h1").text == "This booking link has expired"
    assert "payment is safe" in driver.find_element(By.ID, "page-content").text.lower()
    pages.wait_booking(late_site, held["booking_id"], "CONFIRMED")
    screenshots(driver, "client-verify-expired")
    axe_check(driver)
