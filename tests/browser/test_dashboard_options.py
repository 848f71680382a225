"""The owner's dashboard views for the booking options (issue 12) in a real browser against the spawned runner: the
owner creates a promo code (a refused value shown by its field first) and deactivates it; blocks a day that holds a
booking with a backup time (moved) and one without (cancelled, refunded), each linked to its detail, revokes the
moved booking's manage link and unblocks the day; refunds a package's unused share; staff see every view without an
action button. Views are reached by keyboard from the labelled navigation.

The runner is shared with the other browser tests: the bookings here are on days 280-330 days ahead that no other
test uses, every blocked day is unblocked again, and the assertions look only at what these tests made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import stripe
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from local.runner import DOUBLE_STRIPE_KEY
from tests.browser.conftest import Site, console_errors, wait_css, wait_text
from tests.browser.pages import dialog_screenshots, set_date
from tests.browser.test_dashboard import confirm_in_dialog

Axe = Callable[[WebDriver], None]
Shots = Callable[[WebDriver, str], Any]

BLOCK_SERVICE = "brow-lamination"  # 89.99, a deposit of 45.00
BLOCK_DAYS_AHEAD = 280
PACKAGE_DAYS_AHEAD = 300
TIME_ZONE = "America/Los_Angeles"  # the business's (catalog.json)


# ---- the API around the pages ------------------------------------------------------------------------------------


def owner_headers(site: Site, role: str = "owner") -> dict[str, str]:
    return {"Authorization": f"Bearer {site.owner_token(role)}", "Idempotency-Key": str(uuid.uuid4())}


def stripe_client(site: Site) -> stripe.StripeClient:
    return stripe.StripeClient(DOUBLE_STRIPE_KEY, base_addresses={"api": site.stripe}, max_network_retries=0)


def week_of_slots(site: Site, service_id: str, first_day: date) -> list[dict[str, Any]]:
    answer = site.get("/availability", params={"service_id": service_id, "start": first_day.isoformat(), "days": 7})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["days"])


def business_today(site: Site) -> date:
    return datetime.now(ZoneInfo(site.get("/config").json()["business"]["time_zone"])).date()


def day_with_slots(site: Site, service_id: str, days_ahead: int, wanted: int) -> tuple[str, list[str]]:
    """The first day from `days_ahead` on with `wanted` free starts: (its date, the starts). Days are counted from
    the business's today, as the API's booking window is (UTC's is a day ahead of it in the business's evening)."""
    first = business_today(site) + timedelta(days=days_ahead)
    for week in range(4):
        for listed in week_of_slots(site, service_id, first + timedelta(days=7 * week)):
            if len(listed["slots"]) >= wanted:
                return listed["date"], [slot["start"] for slot in listed["slots"]]
    raise AssertionError(f"no day with {wanted} free slots of {service_id}")


def pay_and_verify(site: Site, intent: dict[str, Any]) -> None:
    """What the widget does after create-intent: pay with a test card (as Stripe.js would), get the token, verify."""
    paid = stripe_client(site).v1.payment_intents.confirm(
        intent["payment_intent_id"],
        params={"payment_method": "pm_card_visa", "return_url": f"{site.url}/book/verify/"},
    )
    assert paid.status == "succeeded"
    token = site.post(
        "/bookings/create-token",
        json={"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
    )
    assert token.status_code == 201, token.text
    verified = site.post("/bookings/verify", json={"token": token.json()["token"]})
    assert verified.status_code == 200, verified.text


def confirmed_booking(site: Site, service_id: str, start: str, name: str, **options: Any) -> str:
    attendee = {"name": name, "email": f"{name.split()[0].lower()}@example.com", "time_zone": TIME_ZONE}
    body = {"service_id": service_id, "start": start, "attendee": attendee, "payment_type": "deposit", **options}
    intent = site.post("/payments/create-intent", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert intent.status_code == 201, intent.text
    answer = intent.json()
    if answer.get("payment_intent_id"):
        pay_and_verify(site, answer)
    else:  # nothing due (a package credit): straight to verify
        verified = site.post("/bookings/verify", json={"token": answer["token"]})
        assert verified.status_code == 200, verified.text
    return str(answer["booking_id"])


# ---- the dashboard -------------------------------------------------------------------------------------------------


def sign_in(driver: WebDriver, site: Site, role: str = "owner") -> None:
    driver.get(f"{site.url}/admin/")
    wait_css(driver, f"#dev-token-{role}").click()
    wait_text(driver, "#who-role", role.title())


def go_to(driver: WebDriver, view: str) -> None:
    """Reach a view from the keyboard: Tab to its link in the navigation, Enter."""
    link = driver.find_element(By.CSS_SELECTOR, f'nav.dash-nav a[data-view="{view}"]')
    driver.execute_script("arguments[0].focus()", driver.find_element(By.ID, "main"))
    for _ in range(12):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element == link:
            break
    else:
        raise AssertionError(f"Tab never reached the {view} link")
    link.send_keys(Keys.ENTER)
    wait_css(driver, f"#view-{view}")
    WebDriverWait(driver, 10).until(lambda d: link.get_attribute("aria-current") == "page")
    # The view's heading has the focus, so a screen reader starts there
    heading = driver.find_element(By.ID, f"{view}-title")
    WebDriverWait(driver, 10).until(lambda d: d.switch_to.active_element == heading, "the view's heading has no focus")


def row(driver: WebDriver, selector: str, timeout: float = 20) -> WebElement:
    return wait_css(driver, selector, timeout)


def row_text(driver: WebDriver, selector: str, timeout: float = 20) -> str:
    """The row's text, read again if the list is drawn anew meanwhile (it refreshes while a block's run goes on)."""
    stable = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return str(stable.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).text or False))


def click_css(driver: WebDriver, selector: str, timeout: float = 20) -> None:
    """Click the element, found again if the list was drawn anew between finding and clicking it."""
    stable = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    stable.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).click() or True)


def no_console_errors(driver: WebDriver) -> None:
    # A refused request (the 422 shown by field) is logged by Chromium as a failed resource: not a page error.
    errors = [e for e in console_errors(driver) if "favicon" not in e and "status of 4" not in e]
    assert not errors, errors


def test_owner_creates_a_promo_code_and_deactivates_it(
    site: Site, driver: WebDriver, axe_check: Axe, screenshots: Shots
) -> None:
    code = "OPT" + uuid.uuid4().hex[:8].upper()
    sign_in(driver, site)
    go_to(driver, "promos")
    wait_css(driver, "#promos, #promos-empty")

    # A percent over 100: the API refuses it, and the form says so next to the value
    driver.find_element(By.ID, "p-code").send_keys(code.lower())
    driver.find_element(By.ID, "p-value").send_keys("150")
    driver.find_element(By.ID, "p-max-uses").send_keys("10")
    driver.find_element(By.ID, "promo-create").click()
    error = wait_css(driver, "#p-value-error")
    assert "100" in error.text
    assert driver.find_element(By.ID, "p-value").get_attribute("aria-invalid") == "true"
    assert driver.switch_to.active_element == driver.find_element(By.ID, "p-value")

    value = driver.find_element(By.ID, "p-value")
    value.clear()
    value.send_keys("25")
    driver.find_element(By.ID, "promo-create").click()
    listed = row(driver, f'#promos tr[data-code="{code}"]')
    cells = listed.text
    assert "25% off" in cells and "0 of 10" in cells and "Active" in cells, cells
    assert listed.find_element(By.CSS_SELECTOR, "td:nth-child(4)").text == "10"  # remaining
    assert not driver.find_element(By.ID, "p-value-error").is_displayed()
    axe_check(driver)
    screenshots(driver, "dashboard-promos")

    # Deactivate, confirmed first
    listed.find_element(By.CSS_SELECTOR, f'[data-deactivate="{code}"]').click()
    dialog_screenshots(driver, "dashboard-promo-deactivate")
    confirm_in_dialog(
        driver, [f"Clients can no longer book with {code}", "10 of its 10 uses stay unused"], f"Deactivate {code}"
    )
    WebDriverWait(driver, 20).until(
        lambda d: "Inactive" in d.find_element(By.CSS_SELECTOR, f'#promos tr[data-code="{code}"]').text
    )
    assert not driver.find_elements(By.CSS_SELECTOR, f'[data-deactivate="{code}"]')
    listed_api = site.get("/admin/promo-codes", headers=owner_headers(site)).json()["promo_codes"]
    assert [p["active"] for p in listed_api if p["code"] == code] == [False]
    no_console_errors(driver)


@pytest.fixture(scope="module")
def blocked_day_bookings(site: Site) -> dict[str, Any]:
    """Two confirmed bookings on one day: one whose client gave a backup time on the next free day, one without."""
    day, starts = day_with_slots(site, BLOCK_SERVICE, BLOCK_DAYS_AHEAD, 2)
    _, later_starts = day_with_slots(site, BLOCK_SERVICE, (date.fromisoformat(day) - business_today(site)).days + 1, 1)
    return {
        "day": day,
        "backup": later_starts[0],
        "moved": confirmed_booking(site, BLOCK_SERVICE, starts[0], "Mona Backupper", backup_start=later_starts[0]),
        "cancelled": confirmed_booking(site, BLOCK_SERVICE, starts[1], "Carl Nobackup"),
    }


def test_owner_blocks_a_day_one_booking_moves_to_its_backup_one_is_cancelled_and_refunded(
    site: Site, driver: WebDriver, blocked_day_bookings: dict[str, Any], axe_check: Axe, screenshots: Shots
) -> None:
    day = blocked_day_bookings["day"]
    sign_in(driver, site)
    go_to(driver, "blocks")
    wait_css(driver, "#blocks, #blocks-empty")

    # A last day before the first is refused by the form, next to the field
    set_date(driver, "b-from", day)
    set_date(driver, "b-to", "2000-01-01")
    driver.find_element(By.ID, "block-submit").click()
    assert "before the first" in wait_css(driver, "#b-to-error").text
    # A day past the booking window is the API's to refuse: confirmed, then shown by its field
    set_date(driver, "b-to", "")
    set_date(driver, "b-from", (date.fromisoformat(day) + timedelta(days=400)).isoformat())
    driver.find_element(By.ID, "block-submit").click()
    confirm_in_dialog(driver, ["No one can book this day"], "Block and move or cancel")
    assert "booking window" in wait_css(driver, "#b-from-error").text
    WebDriverWait(driver, 10).until(lambda d: d.switch_to.active_element == d.find_element(By.ID, "b-from"))
    set_date(driver, "b-from", day)

    driver.find_element(By.ID, "b-reason").send_keys("coach away")
    driver.find_element(By.ID, "block-submit").click()
    dialog_screenshots(driver, "dashboard-block-confirm")
    confirm_in_dialog(
        driver, ["No one can book this day", "cancelled in Cal.com and refunded in full"], "Block and move or cancel"
    )

    wait_css(driver, "#block-result", timeout=60)

    def texts(d: WebDriver) -> list[str]:
        """The result's figures and rows, read in one go (the result may be drawn anew meanwhile: read again)."""
        return [
            d.find_element(By.ID, "tally-blocked").text,
            d.find_element(By.ID, "tally-moved").text,
            d.find_element(By.ID, "tally-cancelled").text,
            d.find_element(By.ID, "block-result").text,
            d.find_element(By.CSS_SELECTOR, f'#block-users tr[data-booking="{blocked_day_bookings["moved"]}"]').text,
            d.find_element(
                By.CSS_SELECTOR, f'#block-users tr[data-booking="{blocked_day_bookings["cancelled"]}"]'
            ).text,
        ]

    blocked, moved_count, cancelled_count, result, moved, cancelled = WebDriverWait(
        driver, 10, ignored_exceptions=(StaleElementReferenceException,)
    ).until(texts)
    assert (blocked, moved_count, cancelled_count) == ("1", "1", "1")
    assert "1 booking moved to the backup time, 1 booking cancelled with a full refund" in result
    assert "Mona Backupper" in moved and "Moved to" in moved, moved
    assert "Carl Nobackup" in cancelled and "$45.00 refunded" in cancelled, cancelled
    # The list has the block with its counts
    assert "coach away" in row_text(driver, f'#blocks tr[data-from="{day}"]')
    axe_check(driver)
    screenshots(driver, "dashboard-blocked")

    # Each changed booking links to its detail (found again: the result may have been drawn anew since, as the
    # block's run recorded its last outcome)
    moved_link = f'#block-users tr[data-booking="{blocked_day_bookings["moved"]}"] a[data-booking-link]'
    WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, moved_link).click() or True
    )
    wait_text(driver, "#detail-title", "Mona Backupper")
    assert driver.find_element(By.ID, "view-bookings").is_displayed()
    assert not driver.find_element(By.ID, "view-blocks").is_displayed()
    owner_view = site.get(f"/admin/bookings/{blocked_day_bookings['moved']}", headers=owner_headers(site)).json()
    assert datetime.fromisoformat(owner_view["start"]) == datetime.fromisoformat(blocked_day_bookings["backup"])
    options = driver.find_element(By.ID, "d-options-section").text
    assert "Backup time" in options and "Manage link\nThe client has one" in options, options

    # The owner revokes the client's manage link, confirmed first
    driver.find_element(By.ID, "act-revoke-link").click()
    confirm_in_dialog(driver, ["stops working at once", "no money moves"], "Revoke the link")
    wait_text(driver, "#action-result", "revoked")
    assert "None (not issued, or revoked)" in driver.find_element(By.ID, "d-options-section").text
    assert not driver.find_element(By.ID, "act-revoke-link").is_enabled()
    axe_check(driver)
    screenshots(driver, "dashboard-booking-options")
    driver.back()  # the address keeps the view: Back returns to the blocked dates
    wait_css(driver, "#block-result")

    # Unblock, confirmed first; the day is offered again
    click_css(driver, f'#blocks tr[data-from="{day}"] [data-unblock]')
    confirm_in_dialog(driver, ["1 booking moved and 1 booking cancelled stay as they are"], "Unblock")
    WebDriverWait(driver, 20).until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'#blocks tr[data-from="{day}"]'))
    blocks = site.get("/admin/blocked-dates", headers=owner_headers(site)).json()["blocked_dates"]
    assert all(b["block"]["from"] != day for b in blocks)
    no_console_errors(driver)


@pytest.fixture(scope="module")
def used_package(site: Site) -> dict[str, Any]:
    """A coaching-3 package (3 sessions, $500.00) bought, paid and used for one session."""
    buyer = {"name": "Pia Packager", "email": "pia@example.com", "phone": "+15555550123", "time_zone": TIME_ZONE}
    bought = site.post(
        "/packages/purchase",
        json={"package_id": "coaching-3", "buyer": buyer},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert bought.status_code == 201, bought.text
    package = bought.json()
    paid = stripe_client(site).v1.payment_intents.confirm(
        package["payment_intent_id"], params={"payment_method": "pm_card_visa", "return_url": package["package_url"]}
    )
    assert paid.status == "succeeded"
    seen = site.get(f"/packages/{package['package_id']}", headers={"X-Package-Secret": package["secret"]})
    assert seen.status_code == 200 and seen.json()["status"] == "active", seen.text
    _, starts = day_with_slots(site, "skin-coaching", PACKAGE_DAYS_AHEAD, 1)
    booking = confirmed_booking(
        site,
        "skin-coaching",
        starts[0],
        "Pia Packager",
        payment_type="full",
        attendee=buyer,
        package={"id": package["package_id"], "secret": package["secret"]},
    )
    return {"package_id": package["package_id"], "booking_id": booking}


def test_owner_refunds_the_unused_share_of_a_package(
    site: Site, driver: WebDriver, used_package: dict[str, Any], axe_check: Axe, screenshots: Shots
) -> None:
    package_id = used_package["package_id"]
    sign_in(driver, site)
    go_to(driver, "packages")
    listed = row(driver, f'#packages tr[data-package="{package_id}"]')
    assert "Pia Packager" in listed.text and "1 of 3" in listed.text and "Active" in listed.text, listed.text

    listed.find_element(By.CSS_SELECTOR, "a[data-package-link]").click()
    detail = wait_text(driver, "#package-title", "Pia Packager")
    assert driver.switch_to.active_element == detail
    bookings = driver.find_element(By.ID, "package-detail").text
    assert "Skin Coaching" in bookings and "Used" in bookings, bookings
    axe_check(driver)
    screenshots(driver, "dashboard-package")

    # 2 of 3 sessions unused: 500.00 x 2 / 3, rounded down
    driver.find_element(By.ID, "act-package-refund").click()
    dialog_screenshots(driver, "dashboard-package-refund")
    confirm_in_dialog(driver, ["Refund $333.33 to the buyer's card", "2 unused of 3 sessions"], "Refund $333.33")
    wait_text(driver, "#package-result", "Refunded $333.33")
    assert "Refunded" in driver.find_element(By.CSS_SELECTOR, "#package-detail .kit-badge").text
    assert not driver.find_element(By.ID, "act-package-refund").is_enabled()
    owner_view = site.get(f"/admin/packages/{package_id}", headers=owner_headers(site)).json()
    assert owner_view["status"] == "refunded" and owner_view["amount_refunded"] == 33333
    listed = row(driver, f'#packages tr[data-package="{package_id}"]')
    assert "Refunded" in listed.text

    # The booking the credit paid for names its package
    driver.find_element(By.CSS_SELECTOR, f'#package-detail a[data-booking-link="{used_package["booking_id"]}"]').click()
    wait_text(driver, "#detail-title", "Pia Packager")
    assert package_id in driver.find_element(By.ID, "d-options-section").text
    no_console_errors(driver)


@pytest.fixture
def staff_block(site: Site) -> Iterator[str]:
    """A blocked day with no booking on it (the staff test's to see), unblocked afterwards."""
    day = (datetime.now(UTC).date() + timedelta(days=BLOCK_DAYS_AHEAD + 40)).isoformat()
    made = site.post("/admin/blocked-dates", json={"date": day, "reason": "training"}, headers=owner_headers(site))
    assert made.status_code == 201, made.text
    block_id = made.json()["block"]["block_id"]
    yield day
    gone = requests.delete(f"{site.api}/admin/blocked-dates/{block_id}", headers=owner_headers(site), timeout=30)
    assert gone.status_code == 200, gone.text


def test_staff_see_every_view_without_action_buttons(
    site: Site,
    driver: WebDriver,
    used_package: dict[str, Any],
    staff_block: str,
    axe_check: Axe,
    screenshots: Shots,
) -> None:
    sign_in(driver, site, "staff")

    go_to(driver, "promos")
    row(driver, '#promos tr[data-code="WIMD25"]')  # the seeded code
    assert driver.find_element(By.ID, "promos-staff-note").is_displayed()
    assert not driver.find_elements(By.ID, "promo-form") and not driver.find_elements(
        By.CSS_SELECTOR, "[data-deactivate]"
    )
    axe_check(driver)

    go_to(driver, "blocks")
    assert "training" in row(driver, f'#blocks tr[data-from="{staff_block}"]').text
    assert not driver.find_elements(By.ID, "block-form") and not driver.find_elements(By.CSS_SELECTOR, "[data-unblock]")
    axe_check(driver)
    screenshots(driver, "dashboard-staff-blocks")

    go_to(driver, "packages")
    row(driver, f'#packages tr[data-package="{used_package["package_id"]}"] a[data-package-link]').click()
    wait_text(driver, "#package-title", "Pia Packager")
    assert not driver.find_elements(By.ID, "act-package-refund")
    assert "only owners can refund" in driver.find_element(By.ID, "packages-staff-note").text
    axe_check(driver)
    screenshots(driver, "dashboard-staff-package")

    # The booking's detail: its options shown, no owner action
    driver.find_element(By.CSS_SELECTOR, f'#package-detail a[data-booking-link="{used_package["booking_id"]}"]').click()
    wait_text(driver, "#detail-title", "Pia Packager")
    assert "Booking options" in driver.find_element(By.ID, "detail").text
    assert not driver.find_elements(By.ID, "act-revoke-link") and not driver.find_elements(By.ID, "act-refund")
    no_console_errors(driver)
