"""The widget's "Text me a reminder" (issue 13): offered only when the business sends texts (SmsEnabled, which
GET /config says) and only once a phone is given; ticked, the booking asks for texts, and the runner's outbox
holds the text message the client gets. A runner of its own, with texts switched on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from local.spawn import spawned_runner
from tests.browser import pages
from tests.browser.conftest import Site, wait_css
from tests.browser.test_dashboard_messages import wait_messages

FACIAL = "signature-facial"
PHONE = "+14155550142"


@pytest.fixture(scope="module")
def texting_site() -> Iterator[Site]:
    with spawned_runner({"LOCAL_CAL_RATE_LIMIT": "0", "SMS_ENABLED": "true"}) as runner:
        yield Site(runner, "http://127.0.0.1:1")


def test_a_client_who_ticks_text_me_a_reminder_gets_texts(
    texting_site: Site, driver: WebDriver, axe_check: Callable[[WebDriver], None], screenshots: Any
) -> None:
    site = texting_site
    assert requests.get(f"{site.api}/config", timeout=10).json()["notifications"] == {"sms": True}
    pages.open_widget(driver, site)
    pages.choose_service(driver, FACIAL, weeks_ahead=2)
    start = pages.pick_slot(driver)
    # No phone: nothing to text, so no offer
    pages.fill_details(driver, "Tex Ting", "tex@example.com")
    box = driver.find_element(By.CSS_SELECTOR, ".bw-sms")
    assert not box.is_displayed()
    # A phone: the offer appears, and is ticked
    pages.fill_details(driver, "Tex Ting", "tex@example.com", PHONE)
    wait_css(driver, ".bw-sms").find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    axe_check(driver)
    screenshots(driver, "widget-text-me-a-reminder")
    pages.continue_to_payment(driver)
    pages.pay(driver, pages.GOOD_CARD)
    pages.confirmed_page(driver)

    (booking,) = pages.bookings_at(site, start)
    listed = wait_messages(site, booking["booking_id"], {"confirmed"})
    assert {(m["kind"], m["channel"]) for m in listed} >= {("confirmed", "email"), ("confirmed", "sms")}
    texts = requests.get(f"{site.api}/_local/outbox", params={"to": PHONE}, timeout=10).json()["messages"]
    assert [m["channel"] for m in texts] == ["sms"] and "Aura Aesthetics" in texts[0]["text"]


def test_without_texts_switched_on_the_widget_never_offers_them(site: Site, driver: WebDriver) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, FACIAL, weeks_ahead=3)
    pages.pick_slot(driver)
    pages.fill_details(driver, "No Text", "notext@example.com", PHONE)
    assert driver.find_elements(By.CSS_SELECTOR, ".bw-sms") == []
