"""Seed 004's booking features as a client meets them in the widget, in a real browser: a party of 10 at the group
rate, a full time's waitlist, a resident artist signed in on the site (free; a refused sign-in goes on at the
public price), and a weekly series of workshops with one of its dates taken.

All on the ceramics workshop (12 seats, 50.00 a seat, 40.00 from 10 people, 50% deposit, resident artists free,
a weekly series of up to 6 paid in full, 30 minutes kept after each booking), which no other browser test books,
each test in weeks of its own after those the other tests use for the first-seven-weeks services (0-10): the
owner's list is by start, whatever the service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import pages
from tests.browser.conftest import Site, wait_css, wait_text

Axe = Callable[[WebDriver], None]
Shots = Callable[[WebDriver, str], tuple[Path, Path]]

CERAMICS = "ceramics-workshop"
TIMES = "\u00d7"  # the multiplication sign the widget writes prices with
PARTY_WEEK, WAITLIST_WEEK, ARTIST_WEEK, REFUSED_WEEK, SERIES_WEEK = 11, 12, 13, 14, 15


def set_number(driver: WebDriver, field: str, value: int) -> WebElement:
    box = driver.find_element(By.CSS_SELECTOR, f'.bw-field[data-field="{field}"] input')
    box.send_keys("\ue009a")  # Ctrl+A: the typed value replaces what was there
    box.send_keys(str(value))
    return box


def fill_seats(site: Site, start: str, seats: int, name: str) -> None:
    """Another party takes `seats` seats of the time (a hold through the API)."""
    body = {
        "service_id": CERAMICS,
        "start": start,
        "attendee": {"name": name, "email": f"{name.split()[0].lower()}@example.com", "time_zone": "UTC"},
        "participants": seats,
    }
    response = site.post("/payments/create-intent", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text


def slot_at(driver: WebDriver, start: str) -> WebElement:
    """The week's time button starting at `start` (the widget lists starts in the browser's zone)."""
    at = datetime.fromisoformat(start)

    def find(d: WebDriver) -> WebElement | None:
        for slot in d.find_elements(By.CSS_SELECTOR, ".bw-slot"):
            if datetime.fromisoformat(str(slot.get_attribute("data-start"))) == at:
                return slot
        return None

    return WebDriverWait(driver, 20).until(find, f"no time at {start} in the week shown")


def week_starts(site: Site, weeks_ahead: int) -> list[dict[str, Any]]:
    """The workshop's slots `weeks_ahead` weeks on, as /availability lists them."""
    first = pages.first_free_start(site, CERAMICS, weeks_ahead)
    day = first[:10]
    params = {"service_id": CERAMICS, "days": 7, "start": day, "time_zone": pages.BROWSER_ZONE}
    week = site.get("/availability", params=params).json()
    return [slot for listed in week["days"] for slot in listed["slots"]]


def test_a_party_of_ten_books_at_the_group_rate(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    pages.open_widget(driver, site)
    listed = driver.find_element(By.CSS_SELECTOR, f'.bw-service[data-service="{CERAMICS}"]').text
    assert "$50.00 a person" in listed and "groups up to 12" in listed and "$40.00 a person from 10" in listed
    pages.choose_service(driver, CERAMICS, weeks_ahead=PARTY_WEEK)
    # Each time says its seats left (to the eye, and in its accessible name)
    slot = pages.first_slot(driver)
    assert "12 seats left" in slot.text and "12 seats left" in str(slot.get_attribute("aria-label"))
    screenshots(driver, "seed004-party-week")
    start = pages.pick_slot(driver)

    # One person: 50.00; ten: the group rate, 10 x 40.00 = 400.00, and half of it as the deposit
    people = driver.find_element(By.CSS_SELECTOR, '.bw-field[data-field="participants"] input')
    assert people.get_attribute("value") == "1" and people.get_attribute("max") == "12"
    assert driver.find_element(By.CSS_SELECTOR, ".bw-price").is_displayed() is False
    set_number(driver, "participants", 13)
    wait_text(driver, '.bw-field[data-field="participants"] .bw-field-error', "from 1 to 12")
    set_number(driver, "participants", 10)
    price = wait_text(driver, ".bw-price", f"10 {TIMES} $40.00 = $400.00")
    assert "Group rate from 10 people." in price.text and price.get_attribute("aria-live") == "polite"
    deposit = driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[value="deposit"])').text
    assert "$200.00 deposit" in deposit and "$200.00 is due at your appointment" in deposit
    full = driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[value="full"])').text
    assert "Pay in full: $400.00" in full

    # The others' names are optional, behind a disclosure; one named with an email, one with a name only
    toggle = driver.find_element(By.CSS_SELECTOR, ".bw-disclosure")
    assert toggle.find_element(By.CSS_SELECTOR, ".bw-disclosure-text").text == "Add the names of the others (optional)"
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not driver.find_element(By.CSS_SELECTOR, ".bw-members").is_displayed()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert len(driver.find_elements(By.CSS_SELECTOR, ".bw-member")) == 9
    assert driver.switch_to.active_element == driver.find_element(By.CSS_SELECTOR, '[data-field="party.0.name"] input')
    driver.switch_to.active_element.send_keys("Bea Potter")
    driver.find_element(By.CSS_SELECTOR, '[data-field="party.0.email"] input').send_keys("bea@example.com")
    driver.find_element(By.CSS_SELECTOR, '[data-field="party.1.name"] input').send_keys("Cy Glaze")
    pages.fill_details(driver, "Ada Clay", "ada@example.com")
    screenshots(driver, "seed004-party-details")
    axe_check(driver)

    # The payment step shows what the API priced: 400.00 for 10, 200.00 now
    pages.continue_to_payment(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "$200.00"
    assert driver.find_element(By.CSS_SELECTOR, ".bw-priced").text == "$400.00"
    assert "Price (10 people)" in driver.find_element(By.CSS_SELECTOR, ".bw-amounts").text
    assert driver.find_element(By.CSS_SELECTOR, ".bw-balance").text == "$200.00"
    screenshots(driver, "seed004-party-payment")
    pages.pay(driver, pages.GOOD_CARD)

    facts = pages.confirmed_page(driver)
    assert facts, "the verify page shows the booking"
    [booking] = pages.bookings_at(site, start)
    booking = pages.wait_booking(site, booking["booking_id"], "CONFIRMED")
    assert booking["participants"] == 10
    assert booking["payment"]["total"] == 40000 and booking["payment"]["amount_paid"] == 20000
    named = [(m["name"], m["email"]) for m in booking["party"]]
    assert named == [("Bea Potter", "bea@example.com"), ("Cy Glaze", None)]
    screenshots(driver, "seed004-party-confirmed")
    axe_check(driver)


def test_a_full_time_offers_its_waitlist(site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots) -> None:
    # Given a time whose 12 seats another group holds
    start = week_starts(site, WAITLIST_WEEK)[0]["start"]
    fill_seats(site, start, 12, "Gus Group")

    pages.open_widget(driver, site)
    pages.choose_service(driver, CERAMICS, weeks_ahead=WAITLIST_WEEK)
    full = slot_at(driver, start)
    # Shown as full with a waitlist, and still a button that leads somewhere (not a disabled dead end)
    assert "bw-slot-full" in str(full.get_attribute("class")) and full.is_enabled()
    assert "Full: waitlist" in full.text and "Full: waitlist" in str(full.get_attribute("aria-label"))
    screenshots(driver, "seed004-waitlist-week")
    axe_check(driver)
    full.click()

    heading = wait_text(driver, ".bw-step-title", "Join the waitlist")
    assert driver.switch_to.active_element == heading
    assert "This time is full." in driver.find_element(By.CSS_SELECTOR, ".bw-summary").text
    assert "email you a link to pay" in driver.find_element(By.CSS_SELECTOR, ".bw-waitlist-intro").text
    # The details are asked for first
    driver.find_element(By.CSS_SELECTOR, ".bw-join-waitlist").click()
    wait_css(driver, '.bw-field[data-field="name"] input[aria-invalid="true"]')
    set_number(driver, "participants", 2)
    pages.fill_details(driver, "Wanda Wait", "wanda@example.com")
    screenshots(driver, "seed004-waitlist-join")
    axe_check(driver)
    driver.find_element(By.CSS_SELECTOR, ".bw-join-waitlist").click()

    position = wait_text(driver, ".bw-position", "You are number 1 in line for 2 people.")
    assert position.get_attribute("data-position") == "1"
    assert driver.switch_to.active_element == driver.find_element(By.CSS_SELECTOR, ".bw-step-title")
    after = driver.find_element(By.CSS_SELECTOR, ".bw-waitlist-next").text
    assert "wanda@example.com a link to pay" in after
    status = driver.find_element(By.CSS_SELECTOR, ".bw > [role=status]")
    WebDriverWait(driver, 5).until(lambda d: "number 1 in line" in status.get_attribute("textContent"))
    screenshots(driver, "seed004-waitlist-joined")
    axe_check(driver)

    # The owner sees her in the slot's line
    at = datetime.fromisoformat(start)
    window = {"from": at.isoformat(), "to": (at + timedelta(minutes=1)).isoformat()}
    lines = pages.owner_get(site, "/admin/waitlist", service_id=CERAMICS, **window)
    [line] = [line for line in lines["lines"] if datetime.fromisoformat(line["start"]) == at]
    assert [(e["email"], e["participants"], e["status"]) for e in line["entries"]] == [
        ("wanda@example.com", 2, "WAITING")
    ]

    # She may leave the line from the same page (the secret given when joining)
    driver.find_element(By.CSS_SELECTOR, ".bw-leave-waitlist").click()
    wait_text(driver, ".bw-step-title", "You left the waitlist")
    lines = pages.owner_get(site, "/admin/waitlist", service_id=CERAMICS, **window)
    [line] = [line for line in lines["lines"] if datetime.fromisoformat(line["start"]) == at]
    assert [e["status"] for e in line["entries"]] == ["LEFT"]


def test_a_resident_artist_signed_in_on_the_site_books_free(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    pages.open_widget(driver, site)
    # The demo page's stand-in for the site's sign-in (the local runner mints the token)
    sign_in = wait_css(driver, "#demo-sign-in button")
    assert sign_in.text == "Sign in as a resident artist (demo)"
    sign_in.click()
    wait_text(driver, "#demo-sign-in [role=status]", "Signed in as a resident artist")
    assert driver.execute_script("return document.querySelector('booking-widget').getAttribute('role-token')")
    pages.choose_service(driver, CERAMICS, weeks_ahead=ARTIST_WEEK)
    start = pages.pick_slot(driver)
    assert "You are signed in." in wait_css(driver, ".bw-role-note").text
    assert driver.find_element(By.CSS_SELECTOR, ".bw-continue").text == "Continue"
    pages.fill_details(driver, "Rita Resident", "rita@example.com")
    screenshots(driver, "seed004-artist-details")
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()

    # The price is the API's, for her role: free, and nothing to pay
    heading = wait_text(driver, ".bw-step-title", "Resident artist: free")
    assert driver.switch_to.active_element == heading
    assert driver.find_element(By.CSS_SELECTOR, ".bw-priced").text == "free"
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "Nothing"
    assert driver.find_elements(By.CSS_SELECTOR, 'input[name="cardnumber"]') == []
    screenshots(driver, "seed004-artist-free")
    axe_check(driver)
    driver.find_element(By.CSS_SELECTOR, ".bw-confirm-booking").click()

    facts = pages.confirmed_page(driver)
    assert facts["Paid"] == "Nothing: no payment needed"
    [booking] = pages.bookings_at(site, start)
    assert booking["role"] == "resident_artist" and booking["payment"]["total"] == 0


def test_a_refused_sign_in_goes_on_at_the_public_price(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    minted = site.post("/_local/site-token", json={"role": "resident_artist"})
    minted.raise_for_status()
    forged = minted.json()["token"][:-6] + "AAAAAA"  # its signature no longer verifies
    pages.open_widget(driver, site)
    driver.execute_script("document.querySelector('booking-widget').setAttribute('role-token', arguments[0])", forged)
    pages.choose_service(driver, CERAMICS, weeks_ahead=REFUSED_WEEK)
    start = pages.pick_slot(driver)
    pages.fill_details(driver, "Fay Forged", "fay@example.com")
    driver.find_element(By.CSS_SELECTOR, ".bw-continue").click()

    notice = wait_notice_error(driver, "The sign-in token was not accepted")
    assert "continue at the public price" in notice.text
    go = driver.find_element(By.CSS_SELECTOR, ".bw-public-price")
    assert driver.switch_to.active_element == go
    assert pages.bookings_at(site, start) == []  # nothing held
    screenshots(driver, "seed004-artist-refused")
    axe_check(driver)
    go.click()
    wait_css(driver, '.bw-pay-element input[name="cardnumber"]')
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "$25.00"
    [booking] = pages.bookings_at(site, start)
    assert booking["role"] is None and booking["payment"]["total"] == 5000


def wait_notice_error(driver: WebDriver, text: str) -> WebElement:
    return wait_text(driver, '.bw-notice[data-kind="error"]', text)


def test_a_weekly_series_books_its_free_dates_with_one_payment(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    # Given the workshop's first time of a week, and the same time three weeks later full
    first = week_starts(site, SERIES_WEEK)[0]["start"]
    at = datetime.fromisoformat(first)
    fourth = next(
        slot["start"]
        for slot in week_starts(site, SERIES_WEEK + 3)
        if datetime.fromisoformat(slot["start"]).date() == (at + timedelta(weeks=3)).date()
        and slot["start"][11:16] == first[11:16]
    )
    fill_seats(site, fourth, 12, "Tom Taken")

    pages.open_widget(driver, site)
    assert "weekly series" in driver.find_element(By.CSS_SELECTOR, f'.bw-service[data-service="{CERAMICS}"]').text
    pages.choose_service(driver, CERAMICS, weeks_ahead=SERIES_WEEK)
    slot_at(driver, first).click()
    wait_css(driver, "form.bw-form")
    # "Just this date" at first; "Weekly" opens the sessions and a preview of the dates
    assert driver.find_element(By.CSS_SELECTOR, 'input[name$="-repeat"][value="0"]').is_selected()
    assert not driver.find_element(By.CSS_SELECTOR, ".bw-repeat-details").is_displayed()
    driver.find_element(By.CSS_SELECTOR, 'label.bw-option:has(input[name$="-repeat"][value="1"])').click()
    set_number(driver, "sessions", 4)
    summary = wait_text(driver, ".bw-series-summary", "3 of 4 dates are free")
    assert "we book those 3" in summary.text
    dates = driver.find_elements(By.CSS_SELECTOR, ".bw-series-dates li")
    assert [d.get_attribute("data-free") for d in dates] == ["true", "true", "true", "false"]
    assert "Not free: taken" in dates[3].text
    # A series takes no backup, code or package; it is paid in full now: 3 x 50.00
    assert not driver.find_element(By.CSS_SELECTOR, ".bw-extras").is_displayed()
    assert wait_text(driver, ".bw-price", f"3 sessions {TIMES} $50.00 = $150.00")
    assert "The series in full now: $150.00" in driver.find_element(By.CSS_SELECTOR, ".bw-series-due").text
    pages.fill_details(driver, "Sam Series", "sam@example.com")
    screenshots(driver, "seed004-series-details")
    axe_check(driver)

    pages.continue_to_payment(driver)
    assert driver.find_element(By.CSS_SELECTOR, ".bw-due-now").text == "$150.00"
    assert "Price (3 sessions)" in driver.find_element(By.CSS_SELECTOR, ".bw-amounts").text
    assert len(driver.find_elements(By.CSS_SELECTOR, ".bw-occurrences li")) == 3
    screenshots(driver, "seed004-series-payment")
    pages.pay(driver, pages.GOOD_CARD)

    pages.confirmed_page(driver)
    [held] = pages.bookings_at(site, first)
    series = pages.wait_booking(site, held["booking_id"], "CONFIRMED")["series"]
    booked = [pages.wait_booking(site, o["booking_id"], "CONFIRMED") for o in series["occurrences"]]
    assert [b["occurrence"] for b in booked] == [1, 2, 3]
    assert [datetime.fromisoformat(b["start"]).astimezone(at.tzinfo).date() for b in booked] == [
        (at + timedelta(weeks=week)).date() for week in range(3)
    ]
    assert len({b["series_id"] for b in booked}) == 1
    assert [b["payment"]["amount_paid"] for b in booked] == [5000, 5000, 5000]
    [taken] = pages.bookings_at(site, fourth)
    assert taken["client_name"] == "Tom Taken"
    screenshots(driver, "seed004-series-confirmed")
