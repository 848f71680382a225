"""The owner's dashboard in a real browser against the spawned runner: the owner signs in with the local dev token,
filters the bookings, refunds part of one and collects another's balance (each confirmed with its amount first),
sees both in the histories and the totals, and finds an orphan payment in "Needs attention"; staff read only.

The runner is shared with the other browser tests: these bookings are brow laminations on a day ~200 days ahead
that no other test uses, and the assertions look only at them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
import stripe
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from local.runner import DOUBLE_STRIPE_KEY
from tests.browser.conftest import Site, console_errors, wait_css, wait_text
from tests.browser.pages import dialog_screenshots, set_date

SERVICE = "brow-lamination"  # 89.99: a 45.00 deposit and a 44.99 balance
DEPOSIT, BALANCE = 4500, 4499
DAYS_AHEAD = 200


def stripe_client(site: Site) -> stripe.StripeClient:
    return stripe.StripeClient(DOUBLE_STRIPE_KEY, base_addresses={"api": site.stripe}, max_network_retries=0)


def free_starts(site: Site, first_day: date, wanted: int) -> list[str]:
    """`wanted` free starts on one day, from `first_day` on."""
    for week in range(6):
        day = first_day + timedelta(days=7 * week)
        answer = site.get("/availability", params={"service_id": SERVICE, "start": day.isoformat(), "days": 7})
        assert answer.status_code == 200, answer.text
        for listed in answer.json()["days"]:
            if len(listed["slots"]) >= wanted:
                return [slot["start"] for slot in listed["slots"][:wanted]]
    raise AssertionError("no day with enough free slots")


def confirmed_booking(site: Site, start: str, name: str) -> str:
    """The site's flow through the API: hold, pay with a test card (as Stripe.js would), token, verify."""
    attendee = {"name": name, "email": f"{name.split()[0].lower()}@example.com", "time_zone": "America/Los_Angeles"}
    intent = site.post(
        "/payments/create-intent",
        json={"service_id": SERVICE, "start": start, "attendee": attendee, "payment_type": "deposit"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert intent.status_code == 201, intent.text
    body = intent.json()
    paid = stripe_client(site).v1.payment_intents.confirm(
        body["payment_intent_id"], params={"payment_method": "pm_card_visa", "return_url": f"{site.url}/book/return"}
    )
    assert paid.status == "succeeded"
    token = site.post(
        "/bookings/create-token",
        json={"booking_id": body["booking_id"], "payment_intent_id": body["payment_intent_id"]},
    )
    assert token.status_code == 201, token.text
    verified = site.post("/bookings/verify", json={"token": token.json()["token"]})
    assert verified.status_code == 200, verified.text
    return str(body["booking_id"])


def orphan_payment(site: Site, amount: int) -> str:
    """A payment on the business's Stripe account that no booking of ours made (no metadata), succeeded: the
    double delivers payment_intent.succeeded to the runner."""
    intent = stripe_client(site).v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method_types": ["card"]}
    )
    requests.post(f"{site.stripe}/_double/payment_intents/{intent.id}/succeed", json={}, timeout=10).raise_for_status()
    token = site.owner_token()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = site.get("/admin/alerts", params={"limit": 100}, headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        if any(alert["payment_intent_id"] == intent.id for alert in listed.json()["alerts"]):
            return str(intent.id)
        time.sleep(0.5)
    raise AssertionError(f"no alert for the orphan payment {intent.id}")


def utc_day(start: str) -> str:
    return datetime.fromisoformat(start).astimezone(UTC).date().isoformat()


def row_of(driver: WebDriver, name: str) -> WebElement:
    return driver.find_element(By.XPATH, f"//table[@id='bookings']//tr[.//button[normalize-space()='{name}']]")


def listed_rows(driver: WebDriver, count: int) -> None:
    """Wait until the bookings table shows `count` rows and is not loading."""
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script(
            "const t = document.getElementById('bookings');"
            "return !t.hasAttribute('aria-busy') && t.tBodies[0].rows.length === arguments[0]",
            count,
        ),
        f"the bookings table never showed {count} rows",
    )


def open_booking(driver: WebDriver, name: str) -> WebElement:
    row_of(driver, name).find_element(By.TAG_NAME, "button").click()
    return wait_text(driver, "#detail-title", name)


def confirm_in_dialog(driver: WebDriver, expected_effect: list[str], expected_button: str) -> None:
    dialog = wait_css(driver, "dialog#confirm[open]")
    effect = dialog.find_element(By.ID, "confirm-effect").text
    for text in expected_effect:
        assert text in effect, effect
    go = dialog.find_element(By.ID, "confirm-go")
    assert go.text == expected_button
    # The dialog has the focus, so a keyboard user is inside it
    assert driver.execute_script("return document.getElementById('confirm').contains(document.activeElement)")
    go.click()
    WebDriverWait(driver, 30).until(lambda d: not d.find_element(By.ID, "confirm").get_attribute("open"))


def history_lines(driver: WebDriver) -> list[str]:
    table = driver.find_element(By.XPATH, "//table[caption[starts-with(normalize-space(), 'History')]]")
    return [row.text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]


@pytest.fixture(scope="module")
def two_bookings(site: Site) -> dict[str, Any]:
    day = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
    first, second = free_starts(site, day, 2)
    return {
        "refund": confirmed_booking(site, first, "Dana Refundwell"),
        "collect": confirmed_booking(site, second, "Eli Balancer"),
        "day": utc_day(first),
        "orphan": orphan_payment(site, 3100),
    }


def test_the_owner_refunds_part_of_one_booking_and_collects_anothers_balance(
    site: Site,
    driver: WebDriver,
    two_bookings: dict[str, Any],
    axe_check: Callable[[WebDriver], None],
    screenshots: Callable[[WebDriver, str], Any],
) -> None:
    # The owner signs in with the local dev token
    driver.get(f"{site.url}/admin/")
    wait_css(driver, "#dev-token-owner").click()
    wait_css(driver, "#app")
    wait_text(driver, "#who-role", "Owner")
    # The orphan payment is in "Needs attention"
    wait_text(driver, "#alerts", two_bookings["orphan"])
    assert "$31.00" in driver.find_element(By.ID, "alerts").text

    # Filters: confirmed bookings on the day of ours
    Select(driver.find_element(By.ID, "f-status")).select_by_value("CONFIRMED")
    set_date(driver, "f-from", two_bookings["day"])
    set_date(driver, "f-to", two_bookings["day"])
    driver.find_element(By.ID, "apply").click()
    wait_text(driver, "#t-count", "2")
    listed_rows(driver, 2)
    assert row_of(driver, "Dana Refundwell") and row_of(driver, "Eli Balancer")
    assert driver.find_element(By.ID, "t-deposits").text == "$90.00"
    assert driver.find_element(By.ID, "t-balance").text == "$89.98"

    # A partial refund of Dana's deposit, its amount confirmed first
    open_booking(driver, "Dana Refundwell")
    driver.find_element(By.ID, "act-refund").click()
    amount = wait_css(driver, "#c-amount")
    amount.clear()
    amount.send_keys("20")
    driver.find_element(By.ID, "c-reason").send_keys("started late")
    dialog_screenshots(driver, "dashboard-refund-confirm")
    confirm_in_dialog(driver, ["Refund $20.00 to the client's card", "$25.00 stays paid"], "Refund $20.00")
    wait_text(driver, "#action-result", "efund")
    assert any("owner:" in line and "started late" in line for line in history_lines(driver)), history_lines(driver)
    refunds = driver.find_element(By.XPATH, "//table[caption[normalize-space()='Refunds']]").text
    assert "$20.00" in refunds and "re_" in refunds

    # Eli's balance charged to the card saved with the deposit
    open_booking(driver, "Eli Balancer")
    driver.find_element(By.ID, "act-collect").click()
    confirm_in_dialog(driver, ["Charge the balance of $44.99 to the card saved"], "Collect $44.99")
    wait_text(driver, "#action-result", "")
    payments = driver.find_element(By.XPATH, "//table[caption[normalize-space()='Payments']]").text
    assert "Balance Card on file $44.99 Succeeded" in payments
    assert any("owner:" in line and "balance" in line.lower() for line in history_lines(driver)), history_lines(driver)
    # Totals follow: Dana's 20.00 refunded, only her balance still due
    wait_text(driver, "#t-refunded", "$20.00")
    listed_rows(driver, 2)
    assert driver.find_element(By.ID, "t-balance").text == "$44.99"

    # Dana's history still shows the refund, naming the owner
    open_booking(driver, "Dana Refundwell")
    assert any("owner:" in line for line in history_lines(driver)), history_lines(driver)
    assert not [e for e in console_errors(driver) if "favicon" not in e]
    axe_check(driver)
    screenshots(driver, "dashboard-owner")


def test_staff_read_without_money_buttons(
    site: Site,
    driver: WebDriver,
    two_bookings: dict[str, Any],
    axe_check: Callable[[WebDriver], None],
    screenshots: Callable[[WebDriver, str], Any],
) -> None:
    driver.get(f"{site.url}/admin/")
    wait_css(driver, "#dev-token-staff").click()
    wait_text(driver, "#who-role", "Staff")
    set_date(driver, "f-from", two_bookings["day"])
    set_date(driver, "f-to", two_bookings["day"])
    driver.find_element(By.ID, "f-to").send_keys(Keys.ENTER)  # the form submits from the keyboard
    wait_text(driver, "#t-count", "2")
    listed_rows(driver, 2)
    open_booking(driver, "Dana Refundwell")
    detail = driver.find_element(By.ID, "detail")
    assert not detail.find_elements(By.ID, "act-refund") and not detail.find_elements(By.ID, "act-collect")
    assert "only owners can refund" in detail.text
    axe_check(driver)
    screenshots(driver, "dashboard-staff")


def test_a_refused_token_goes_back_to_sign_in(
    site: Site,
    driver: WebDriver,
    axe_check: Callable[[WebDriver], None],
    screenshots: Callable[[WebDriver, str], Any],
) -> None:
    driver.get(f"{site.url}/admin/")
    paste = wait_css(driver, "#paste-token")
    paste.send_keys("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDAsImNvZ25pdG86Z3JvdXBzIjpbIm93bmVyIl19.bad")
    driver.find_element(By.CSS_SELECTOR, "#paste-form button[type=submit]").click()
    wait_text(driver, "#problem", "Sign in again")
    assert driver.find_element(By.ID, "sign-in").is_displayed()
    axe_check(driver)
    screenshots(driver, "dashboard-sign-in")
