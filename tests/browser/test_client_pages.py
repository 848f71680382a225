"""The client's side of the site kit in a real browser: the booking widget on the demo page, the verify page and the
pay page, against the local runner with the Stripe.js stand-in (test cards typed into its Payment Element).

Each test books in its own week of its own service, so the shared runner's bookings never meet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import pages
from tests.browser.conftest import Site, wait_css, wait_text

Axe = Callable[[WebDriver], None]
Shots = Callable[[WebDriver, str], tuple[Path, Path]]

FACIAL, BROW, CONSULT = "signature-facial", "brow-lamination", "skin-consultation"
BROW_EVENT_TYPE = 3815419


def test_book_with_a_deposit_and_see_the_confirmation(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given a client in Tokyo on the demo page: the business's name from /config, the services with their deposits
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    pages.open_widget(driver, site)
    assert "Aura Aesthetics" in driver.find_element(By.TAG_NAME, "h1").text
    assert "$82.50 deposit" in driver.find_element(By.CSS_SELECTOR, f'.bw-service[data-service="{FACIAL}"]').text
    axe_check(driver)
    # When the client picks a week ahead: "earlier" goes back, but never before today
    pages.choose_service(driver, FACIAL)
    assert not driver.find_element(By.CSS_SELECTOR, ".bw-prev").is_enabled()
    assert driver.find_element(By.CSS_SELECTOR, ".bw-zone").text.endswith("your time zone: Asia/Tokyo (GMT+9)")
    pages.next_week(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".bw-prev").is_enabled()
    axe_check(driver)
    slot = pages.first_slot(driver)
    tokyo = datetime.fromisoformat(str(slot.get_attribute("data-start"))).astimezone(ZoneInfo("Asia/Tokyo"))
    assert slot.text == tokyo.strftime("%-I:%M %p")
    start = pages.pick_slot(driver)
    # The deposit is the default; the API's field error is shown beside the phone, which takes focus
    assert driver.find_element(By.CSS_SELECTOR, 'input[value="deposit"]').is_selected()
    pages.fill_details(driver, "Dana Deposit", "dana@example.com", "12345")
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()
    phone = wait_css(driver, '.bw-field[data-field="phone"] input[aria-invalid="true"]')
    error = driver.find_element(By.CSS_SELECTOR, '.bw-field[data-field="phone"] .bw-field-error')
    assert error.is_displayed() and error.get_attribute("id") in str(phone.get_attribute("aria-describedby"))
    assert driver.switch_to.active_element == phone
    axe_check(driver)
    pages.fill_details(driver, "Dana Deposit", "dana@example.com", "+14155550100")
    # A double click holds once
    driver.execute_script("const b = document.querySelector('.bw-continue'); b.click(); b.click();")
    wait_css(driver, '.bw-pay-element input[name="cardnumber"]')
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "$82.50"
    axe_check(driver)
    pages.pay(driver, pages.GOOD_CARD)

    # Then the verify page confirms it: when, what was paid, what is due
    facts = pages.confirmed_page(driver)
    assert "/book/verify" in driver.current_url
    assert facts["Service"] == "Signature Facial (60 min)"
    assert facts["When (your time)"].endswith("GMT+9") and facts["At the business (Los Angeles)"].endswith(
        ("PST", "PDT")
    )
    assert facts["Paid"] == "$82.50 deposit" and facts["Due at your appointment"] == "$82.50"
    assert [b["status"] for b in pages.bookings_at(site, start)] == ["CONFIRMED"]
    screenshots(driver, "client-deposit-confirmed")
    axe_check(driver)


def test_pay_in_full_a_service_without_a_deposit(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, CONSULT, weeks_ahead=1)
    pages.pick_slot(driver)
    # A full-only service offers one choice
    options = driver.find_elements(By.CSS_SELECTOR, ".bw-option input")
    assert [o.get_attribute("value") for o in options] == ["full"] and options[0].is_selected()
    pages.fill_details(driver, "Fay Full", "fay@example.com")
    pages.continue_to_payment(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".bw-pay").text == "Pay $50.00"
    pages.pay(driver, pages.GOOD_CARD)
    facts = pages.confirmed_page(driver)
    assert facts["Paid"] == "$50.00 (paid in full)" and facts["Due at your appointment"] == "Nothing: paid in full"
    screenshots(driver, "client-full-confirmed")
    axe_check(driver)


def test_pay_in_full_when_a_deposit_is_offered(site: Site, driver: WebDriver, axe_check: Axe) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, FACIAL, weeks_ahead=2)
    pages.pick_slot(driver)
    driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[value="full"])').click()
    pages.fill_details(driver, "Finn Full", "finn@example.com")
    pages.continue_to_payment(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "$165.00"
    pages.pay(driver, pages.GOOD_CARD)
    facts = pages.confirmed_page(driver)
    assert facts["Paid"] == "$165.00 (paid in full)"
    axe_check(driver)


def test_a_declined_card_then_a_good_one_on_the_same_hold(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, FACIAL, weeks_ahead=3)
    start = pages.pick_slot(driver)
    pages.fill_details(driver, "Dee Clined", "dee@example.com")
    pages.continue_to_payment(driver)
    pages.pay(driver, pages.DECLINED_CARD)
    message = wait_text(driver, ".bw-pay-error", "declined")
    assert "try another card" in message.text and "still held" in message.text
    screenshots(driver, "client-card-declined")
    axe_check(driver)
    pages.pay(driver, pages.GOOD_CARD)
    pages.confirmed_page(driver)
    # One booking, one PaymentIntent: the declined attempt and the good one were the same hold
    [booking] = pages.bookings_at(site, start)
    assert booking["status"] == "CONFIRMED" and booking["payment"]["amount_paid"] == 8250


def test_3d_secure_inside_the_payment(site: Site, driver: WebDriver, axe_check: Axe) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, CONSULT, weeks_ahead=2)
    pages.pick_slot(driver)
    pages.fill_details(driver, "Tess Secure", "tess@example.com")
    pages.continue_to_payment(driver)
    pages.pay(driver, pages.THREE_DS_CARD)
    pages.complete_3ds(driver)
    assert pages.confirmed_page(driver)["Paid"] == "$50.00 (paid in full)"
    axe_check(driver)


def test_a_payment_provider_outage_shows_the_message_and_a_retry_after_its_delay(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, CONSULT, weeks_ahead=3)
    pages.pick_slot(driver)
    pages.fill_details(driver, "Otto Outage", "otto@example.com")
    pages.stripe_down(site, down=True)
    try:
        driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()
        retry = wait_css(driver, ".bw-notice .bw-retry")
        notice = driver.find_element(By.CSS_SELECTOR, ".bw-notice").text
        assert "payment" in notice.lower() and "Retry in" in retry.text and not retry.is_enabled()
        screenshots(driver, "client-provider-outage")
        axe_check(driver)
    finally:
        pages.stripe_down(site, down=False)
    # Retry-After has passed: the same attempt goes through
    WebDriverWait(driver, 10).until(lambda d: retry.is_enabled(), "Retry never became available")
    retry.click()
    wait_css(driver, '.bw-pay-element input[name="cardnumber"]')


def test_a_slot_taken_while_choosing_and_then_while_paying(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given the week on screen, another client holds its first time through the API
    pages.open_widget(driver, site)
    pages.choose_service(driver, BROW, weeks_ahead=1)
    taken = str(pages.first_slot(driver).get_attribute("data-start"))
    pages.hold_through_api(site, BROW, taken, "Other Client")
    # When the client picks that time: the widget says so and shows the week again, without it
    assert pages.pick_slot(driver) == taken
    pages.fill_details(driver, "Sam Slot", "sam@example.com")
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()
    pages.wait_notice(driver, "Someone else is booking this time")
    assert taken not in [s.get_attribute("data-start") for s in driver.find_elements(By.CSS_SELECTOR, ".bw-slot")]
    screenshots(driver, "client-slot-taken-while-choosing")
    axe_check(driver)

    # When the next time is booked in Cal.com by someone else while the client pays
    start = pages.pick_slot(driver)
    pages.continue_to_payment(driver)
    pages.take_in_cal(site, BROW_EVENT_TYPE, start)
    pages.pay(driver, pages.GOOD_CARD)

    # Then the verify page keeps the payment and offers another time of the same service
    pages.wait_state(driver, "rebook")
    assert "Your time was taken" in driver.find_element(By.TAG_NAME, "h1").text
    assert "refund your payment in full" in driver.find_element(By.ID, "page-content").text
    wait_css(driver, "booking-widget .bw-slot")
    screenshots(driver, "client-slot-lost-rebook")
    axe_check(driver)
    new_start = str(pages.first_slot(driver).get_attribute("data-start"))
    assert new_start != start
    pages.first_slot(driver).click()
    wait_css(driver, ".bw-rebook").click()
    facts = pages.confirmed_page(driver)
    assert driver.find_element(By.TAG_NAME, "h1").text == "You're booked at your new time"
    assert facts["Paid"] == "$45.00 deposit"
    [moved] = pages.bookings_at(site, new_start)
    assert moved["status"] == "CONFIRMED" and moved["payment"]["amount_paid"] == 4500
    screenshots(driver, "client-rebooked")
    axe_check(driver)


def test_the_client_closes_the_tab_after_paying(site: Site, driver: WebDriver) -> None:
    pages.open_widget(driver, site)
    pages.choose_service(driver, FACIAL, weeks_ahead=4)
    pages.pick_slot(driver)
    pages.fill_details(driver, "Cleo Closed", "cleo@example.com")
    pages.continue_to_payment(driver)
    # The tab closes the moment Stripe has the payment: the page never gets to ask for its token
    driver.execute_script(
        """
        document.querySelector('booking-widget').addEventListener('bw-payment-confirmed', (event) => {
          window.paidBooking = event.detail.booking_id;
        });
        const fetchBefore = window.fetch;
        window.fetch = (url, init) =>
          String(url).includes('/bookings/create-token') ? new Promise(() => {}) : fetchBefore(url, init);
        """
    )
    pages.pay(driver, pages.GOOD_CARD)
    booking_id = WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.paidBooking"))
    driver.get("about:blank")
    # Then Stripe's webhook alone confirms the booking, as the owner sees it
    booking = pages.wait_booking(site, booking_id, "CONFIRMED")
    assert booking["client_email"] == "cleo@example.com" and booking["payment"]["amount_paid"] == 8250


def test_the_pay_page_for_a_balance_that_needs_the_client(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given a deposit paid with a card that asks for authentication every time, and the owner collecting the balance
    booking_id, pay_url = _balance_awaiting_the_client(site, weeks_ahead=5)

    # When the client opens the pay link and pays, authenticating with their bank
    driver.get(pay_url)
    pages.wait_state(driver, "ready")
    assert "$82.50" in driver.find_element(By.TAG_NAME, "h1").text
    assert "The balance of your booking" in driver.find_element(By.ID, "page-content").text
    axe_check(driver)
    # The saved card was declined for authentication (the PaymentIntent wants a payment method): a card again
    pages.type_card(driver, pages.THREE_DS_CARD, "#payment-element")
    driver.find_element(By.CSS_SELECTOR, ".kit-pay").click()
    pages.complete_3ds(driver)

    # Then the page says it is paid, and the owner sees the balance paid
    pages.wait_state(driver, "paid")
    assert "all paid" in driver.find_element(By.TAG_NAME, "h1").text
    screenshots(driver, "client-balance-paid")
    axe_check(driver)
    booking = pages.wait_booking(site, booking_id, "CONFIRMED", balance_state="paid")
    assert booking["payment"]["balance_due"] == 0
    # And the link, opened again, says it is paid
    driver.get(pay_url)
    pages.wait_state(driver, "paid")


def _balance_awaiting_the_client(site: Site, weeks_ahead: int) -> tuple[str, str]:
    """A facial's deposit paid with a card that always asks for 3-D Secure; the owner then charges the balance to
    it, which needs the client: the booking and its pay link."""
    start = pages.first_free_start(site, FACIAL, weeks_ahead=weeks_ahead)
    held = pages.hold_through_api(site, FACIAL, start, "Bea Authenticated")
    intent = held["payment_intent_id"]
    if pages.confirm_card_at_stripe(site, intent, "pm_card_authenticationRequired") == "requires_action":
        pages.pass_3ds_at_stripe(site, intent)
    pages.wait_booking(site, held["booking_id"], "CONFIRMED")
    answer = pages.owner_action(site, held["booking_id"], "collect-balance", {"method": "card_on_file"})
    assert answer["collection"]["outcome"] == "awaiting_client"
    return str(held["booking_id"]), str(answer["collection"]["pay_url"])


def test_a_pay_link_whose_balance_was_paid_another_way_says_so(site: Site, driver: WebDriver, axe_check: Axe) -> None:
    booking_id, pay_url = _balance_awaiting_the_client(site, weeks_ahead=6)
    pages.owner_action(site, booking_id, "collect-balance", {"method": "offline"})
    driver.get(pay_url)
    pages.wait_state(driver, "closed")
    assert driver.find_element(By.TAG_NAME, "h1").text == "This payment is closed"
    assert "nothing to pay" in driver.find_element(By.ID, "page-content").text
    axe_check(driver)


def test_the_verify_page_after_stripe_redirected_the_client(site: Site, driver: WebDriver, axe_check: Axe) -> None:
    # Given a payment whose authentication sent the client away and back (Stripe's return_url with its query)
    start = pages.first_free_start(site, BROW, weeks_ahead=3)
    held = pages.hold_through_api(site, BROW, start, "Rita Redirect")
    assert pages.confirm_card_at_stripe(site, held["payment_intent_id"], "pm_card_visa") == "succeeded"
    driver.get(
        f"{site.url}/book/verify/?booking_id={held['booking_id']}&service={BROW}"
        f"&payment_intent={held['payment_intent_id']}&redirect_status=succeeded"
    )
    # Then the page issues the token itself, confirms, and keeps a link that can be reloaded
    facts = pages.confirmed_page(driver)
    assert facts["Service"] == "Brow Lamination (45 min)" and facts["Paid"] == "$45.00 deposit"
    assert "token=" in driver.current_url and "payment_intent" not in driver.current_url
    driver.refresh()
    pages.confirmed_page(driver)
    axe_check(driver)


def test_a_bad_link_says_what_to_do(site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots) -> None:
    driver.get(f"{site.url}/book/verify?token=this-link-was-mangled-somewhere")
    pages.wait_state(driver, "bad-link")
    assert driver.find_element(By.TAG_NAME, "h1").text == "This booking link is not valid"
    assert "booking reference" in driver.find_element(By.ID, "page-content").text
    screenshots(driver, "client-verify-bad-link")
    axe_check(driver)
    driver.get(f"{site.url}/book/pay/?token=this-link-was-mangled-somewhere")
    pages.wait_state(driver, "bad-link")
    assert driver.find_element(By.TAG_NAME, "h1").text == "This payment link is not valid"
    axe_check(driver)
