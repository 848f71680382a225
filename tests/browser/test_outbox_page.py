"""The local runner's outbox page (issue 13, item 5): what the product would have emailed, each email's HTML
rendered as the client would read it, in a real Chromium. The booking is made through the real site flow (the
runner's notifier sends its confirmation from the table's stream); a day 360+ ahead no other test uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import Site, wait_css
from tests.browser.test_dashboard import confirmed_booking
from tests.browser.test_dashboard_messages import wait_messages
from tests.browser.test_dashboard_options import day_with_slots

SERVICE = "signature-facial"


def test_the_outbox_page_shows_the_confirmation_as_the_client_would_read_it(
    site: Site, driver: WebDriver, screenshots: Callable[[WebDriver, str], Any]
) -> None:
    _, starts = day_with_slots(site, SERVICE, 365, 1)
    booking_id = confirmed_booking(site, starts[0], "Outbox Reader")
    listed = wait_messages(site, booking_id, {"confirmed"})
    client = listed[0]["recipient"]

    driver.get(f"{site.api}/_local/outbox/page?to={client}")
    heading = wait_css(driver, "h1")
    assert heading.text == f"Local outbox to {client}"
    frames = driver.find_elements(By.CSS_SELECTOR, "iframe")
    assert frames, driver.page_source[:500]
    assert "allow-scripts" not in (frames[0].get_attribute("sandbox") or "")  # an email's HTML runs no script
    driver.switch_to.frame(frames[0])
    deadline = time.monotonic() + 10
    while "is confirmed" not in driver.find_element(By.TAG_NAME, "body").text:
        assert time.monotonic() < deadline, driver.find_element(By.TAG_NAME, "body").text
        time.sleep(0.2)
    email_text = driver.find_element(By.TAG_NAME, "body").text
    assert "Hello Outbox Reader" in email_text and "See, reschedule or cancel" in email_text
    driver.switch_to.default_content()
    screenshots(driver, "local-outbox-page")

    # The JSON twin says the same, with the calendar file attached
    answer = requests.get(f"{site.api}/_local/outbox", params={"to": client}, timeout=10).json()
    (confirmation,) = [m for m in answer["messages"] if m["subject"].startswith("Booked")]
    assert [a["filename"] for a in confirmation["attachments"]] == ["booking.ics"]
