"""What a client does on the site kit's pages, step by step, for the browser tests (the booking widget on the demo
page, the verify and pay pages), and the API calls a test makes around them (another client, the owner)."""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import requests
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from local.runner import DOUBLE_STRIPE_KEY
from tests.browser.conftest import BROWSER_ZONE, SCREENSHOTS, Site, wait_css, wait_text

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
THREE_DS_CARD = "4000002760003184"


def open_widget(driver: WebDriver, site: Site) -> None:
    driver.get(f"{site.url}/")
    wait_css(driver, "booking-widget .bw-service")


def choose_service(driver: WebDriver, service_id: str, weeks_ahead: int = 0) -> None:
    """Picks the service, then moves `weeks_ahead` weeks on (tests keep to their own weeks)."""
    driver.find_element(By.CSS_SELECTOR, f'.bw-service[data-service="{service_id}"]').click()
    wait_css(driver, ".bw-days")
    for _ in range(weeks_ahead):
        next_week(driver)


def next_week(driver: WebDriver) -> None:
    before = week_label(driver)
    driver.find_element(By.CSS_SELECTOR, ".bw-next").click()
    WebDriverWait(driver, 20).until(lambda d: week_label(d) not in (before, None), "the next week never loaded")
    wait_css(driver, ".bw-days")


def week_label(driver: WebDriver) -> str | None:
    """The week shown (read in one step: the widget redraws the week as it loads)."""
    script = "const l = document.querySelector('.bw-week-label'); return l ? l.textContent : null"
    return driver.execute_script(script)  # type: ignore[no-any-return]


def first_slot(driver: WebDriver) -> WebElement:
    return wait_css(driver, ".bw-slot")


def pick_slot(driver: WebDriver) -> str:
    """Clicks the first free time shown; answers its start."""
    slot = first_slot(driver)
    start = str(slot.get_attribute("data-start"))
    slot.click()
    wait_css(driver, "form.bw-form")
    return start


def fill_details(driver: WebDriver, name: str, email: str, phone: str = "") -> None:
    for field, value in (("name", name), ("email", email), ("phone", phone)):
        box = driver.find_element(By.CSS_SELECTOR, f'.bw-field[data-field="{field}"] input')
        box.clear()
        if value:
            box.send_keys(value)


def continue_to_payment(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()
    wait_css(driver, '.bw-pay-element input[name="cardnumber"]')
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".bw-pay").is_enabled())


def type_card(driver: WebDriver, number: str, scope: str = "") -> None:
    """Types a test card into the Stripe.js stand-in's Payment Element (any future date, any CVC)."""
    for name, value in (("cardnumber", number), ("exp-date", "1234"), ("cvc", "123")):
        box = driver.find_element(By.CSS_SELECTOR, f'{scope} input[name="{name}"]'.strip())
        box.send_keys("\ue009a")  # Ctrl+A, then the new value replaces what was there
        box.send_keys("\ue017")
        box.send_keys(value)


def pay(driver: WebDriver, card: str) -> None:
    type_card(driver, card, ".bw-pay-element")
    driver.find_element(By.CSS_SELECTOR, ".bw-pay").click()


def complete_3ds(driver: WebDriver) -> None:
    wait_css(driver, "#stripe-3ds-complete").click()


def wait_state(driver: WebDriver, state: str, timeout: float = 30) -> None:
    """The verify or pay page's final state (body[data-state])."""
    try:
        # The widget leaves for the verify page meanwhile: a body read just before that is stale; read it again.
        WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == state
        )
    except TimeoutException:
        text = driver.find_element(By.TAG_NAME, "body").text[:800]
        raise AssertionError(f"the page never reached {state!r} ({driver.current_url}); it shows:\n{text}") from None


def confirmed_page(driver: WebDriver) -> dict[str, str]:
    """The verify page's confirmation as {label: value}."""
    wait_state(driver, "confirmed")
    labels = driver.find_elements(By.CSS_SELECTOR, ".kit-facts dt")
    values = driver.find_elements(By.CSS_SELECTOR, ".kit-facts dd")
    return {label.text: value.text for label, value in zip(labels, values, strict=True)}


def wait_notice(driver: WebDriver, text: str) -> WebElement:
    return wait_text(driver, ".bw-notice", text)


# ---- around the pages: the API as another client or the owner --------------------------------------------------


def owner_get(site: Site, path: str, **params: Any) -> dict[str, Any]:
    response = site.get(path, params=params, headers={"Authorization": f"Bearer {site.owner_token()}"})
    response.raise_for_status()
    return dict(response.json())


def wait_booking(
    site: Site, booking_id: str, status: str, *, balance_state: str | None = None, timeout: float = 30
) -> dict[str, Any]:
    """The booking as the owner sees it once it has `status` (and `balance_state`)."""
    deadline = time.monotonic() + timeout
    booking: dict[str, Any] = {}
    while time.monotonic() < deadline:
        booking = owner_get(site, f"/admin/bookings/{booking_id}")
        if booking["status"] == status and balance_state in (None, booking["payment"]["balance_state"]):
            return booking
        time.sleep(0.3)
    raise AssertionError(
        f"{booking_id} is {booking.get('status')} ({booking.get('payment', {}).get('balance_state')}) "
        f"after {timeout} s, not {status}"
    )


def bookings_at(site: Site, start: str) -> list[dict[str, Any]]:
    """The owner's list of the bookings starting at `start` (any status)."""
    at = datetime.fromisoformat(start)
    window = {"from": at.isoformat(), "to": (at + timedelta(minutes=1)).isoformat(), "limit": 50}
    listed = owner_get(site, "/admin/bookings", **window)
    return [b for b in listed["bookings"] if datetime.fromisoformat(b["start"]) == at]


def hold_through_api(
    site: Site, service_id: str, start: str, name: str, payment_type: str = "deposit"
) -> dict[str, Any]:
    """Another client takes the time: create-intent through the API."""
    body = {
        "service_id": service_id,
        "start": start,
        "attendee": {"name": name, "email": f"{name.split()[0].lower()}@example.com", "time_zone": "UTC"},
        "payment_type": payment_type,
    }
    response = site.post("/payments/create-intent", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    return dict(response.json())


def first_free_start(site: Site, service_id: str, weeks_ahead: int) -> str:
    """The first free start of the service `weeks_ahead` weeks on, as /availability lists it."""
    params: dict[str, Any] = {"service_id": service_id, "days": 7, "time_zone": BROWSER_ZONE}  # the widget's weeks
    week = site.get("/availability", params=params).json()
    for _ in range(weeks_ahead):
        params["start"] = (date.fromisoformat(week["days"][-1]["date"]) + timedelta(days=1)).isoformat()
        week = site.get("/availability", params=params).json()
    return str(next(slot["start"] for day in week["days"] for slot in day["slots"]))


def confirm_card_at_stripe(site: Site, payment_intent_id: str, payment_method: str) -> str:
    """What Stripe.js does for a client, server side against the Stripe double (secret key)."""
    response = requests.post(
        f"{site.stripe}/v1/payment_intents/{payment_intent_id}/confirm",
        data={"payment_method": payment_method, "return_url": f"{site.url}/book/verify/"},
        auth=(DOUBLE_STRIPE_KEY, ""),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["status"])


def pass_3ds_at_stripe(site: Site, payment_intent_id: str) -> None:
    requests.post(
        f"{site.stripe}/_double/payment_intents/{payment_intent_id}/succeed", json={}, timeout=10
    ).raise_for_status()


def owner_action(site: Site, booking_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {site.owner_token()}", "Idempotency-Key": str(uuid.uuid4())}
    response = site.post(f"/admin/bookings/{booking_id}/{action}", json=body, headers=headers)
    assert response.ok, response.text
    return dict(response.json())


def stripe_down(site: Site, *, down: bool) -> None:
    """Stripe stops answering (503), or answers again."""
    requests.post(f"{site.stripe}/_double/down", json={"down": down, "status": 503}, timeout=10).raise_for_status()


def take_in_cal(site: Site, event_type_id: int, start: str) -> None:
    """Someone books the time straight in Cal.com (outside our flow)."""
    response = requests.post(
        f"{site.cal}/_double/take-slot",
        json={"eventTypeId": event_type_id, "start": start, "emitWebhook": False},
        timeout=10,
    )
    response.raise_for_status()


def set_date(driver: WebDriver, element_id: str, value: str) -> None:
    # Chromium's date input takes typed digits in the locale's order; setting the value is what a picker does.
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]", element_id, value)


def dialog_screenshots(driver: WebDriver, name: str, dialog: str = "dialog#confirm") -> None:
    """An open modal dialog as the user sees it: the viewport at desktop size and 360 px wide (the full-page
    capture of `screenshots` re-lays the page out and loses the dialog's top layer)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    try:
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-desktop.png"))
        driver.set_window_size(360, 780)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-phone.png"))
        script = "return document.querySelector(arguments[0]).getBoundingClientRect().width"
        width = driver.execute_script(script, dialog)
        assert width <= 360, f"{name}: the dialog is wider than the phone"
    finally:
        driver.set_window_size(size["width"], size["height"])
