"""The owner's reports view in a real browser against the spawned runner: a confirmed brow lamination and a hold,
240 days ahead (no other browser test books brow laminations that day; bookings stop at 365 days), reach the daily
aggregates through the runner's stream; the owner picks that period and the service, and reads the bookings and the
balance outstanding in the totals table, the chart (plain SVG) and the CSV link's file; then the last 30 days (the
money of every test's bookings, made today) as the chart's picture. axe-core on both; desktop and 360 px screenshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import stripe
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from local.runner import DOUBLE_STRIPE_KEY
from tests.browser.conftest import Site, console_errors, wait_css, wait_text
from tests.browser.pages import hold_through_api, owner_get, set_date

SERVICE = "brow-lamination"  # 89.99: a 45.00 deposit, 44.99 outstanding until the balance is collected
DAYS_AHEAD = 240  # no other browser test books brow laminations here (200, 280, 300, 350 are taken)
BUSINESS_TZ = "America/Los_Angeles"


def free_starts(site: Site, wanted: int) -> list[str]:
    first = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
    for week in range(4):
        day = first + timedelta(days=7 * week)
        answer = site.get("/availability", params={"service_id": SERVICE, "start": day.isoformat(), "days": 7})
        assert answer.status_code == 200, answer.text
        for listed in answer.json()["days"]:
            if len(listed["slots"]) >= wanted:
                return [slot["start"] for slot in listed["slots"][:wanted]]
    raise AssertionError("no day with enough free slots")


def confirmed(site: Site, start: str) -> str:
    intent = hold_through_api(site, SERVICE, start, "Rhea Reported")
    client = stripe.StripeClient(DOUBLE_STRIPE_KEY, base_addresses={"api": site.stripe}, max_network_retries=0)
    paid = client.v1.payment_intents.confirm(
        intent["payment_intent_id"], params={"payment_method": "pm_card_visa", "return_url": f"{site.url}/book/return"}
    )
    assert paid.status == "succeeded"
    token = site.post(
        "/bookings/create-token",
        json={"booking_id": intent["booking_id"], "payment_intent_id": intent["payment_intent_id"]},
    )
    assert token.status_code == 201, token.text
    assert site.post("/bookings/verify", json={"token": token.json()["token"]}).status_code == 200
    return str(intent["booking_id"])


def business_day(start: str) -> date:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(start).astimezone(ZoneInfo(BUSINESS_TZ)).date()


@pytest.fixture(scope="module")
def far_day(site: Site) -> date:
    """A confirmed booking and a hold on one far day, in the report's aggregates (the stream is polled)."""
    first, second = free_starts(site, 2)
    confirmed(site, first)
    hold_through_api(site, SERVICE, second, "Hal Holding")
    day = business_day(first)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        report = owner_get(site, "/admin/reports", **{"from": day.isoformat(), "to": day.isoformat()})
        if next(s for s in report["services"] if s["service_id"] == SERVICE)["totals"]["bookings"] >= 2:
            return day
        time.sleep(0.5)
    raise AssertionError("the bookings never reached the report")


def totals_row(driver: WebDriver, service_name: str) -> dict[str, str]:
    table = driver.find_element(By.ID, "report-totals-table")
    headings = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    for row in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        if cells[0] == service_name:
            return dict(zip(headings, cells, strict=True))
    raise AssertionError(f"no totals row for {service_name}")


def wait_report(driver: WebDriver, text: str) -> None:
    wait_text(driver, "#status", text)
    WebDriverWait(driver, 20).until(
        lambda d: not d.find_element(By.ID, "report-totals").get_attribute("aria-busy"), "the report kept loading"
    )


def test_the_owner_reads_a_periods_report_its_chart_and_its_csv(
    site: Site,
    driver: WebDriver,
    far_day: date,
    axe_check: Callable[[WebDriver], None],
    screenshots: Callable[[WebDriver, str], Any],
) -> None:
    # The owner signs in and opens Reports (the last 30 days by default)
    driver.get(f"{site.url}/admin/")
    wait_css(driver, "#dev-token-owner").click()
    wait_css(driver, "#app")
    driver.find_element(By.CSS_SELECTOR, '.dash-nav a[data-view="reports"]').click()
    wait_report(driver, "Report from")
    assert driver.find_element(By.CSS_SELECTOR, '.dash-nav a[data-view="reports"]').get_attribute("aria-current")
    # ... a chart of money per day, in SVG, named for screen readers, with a bar pair per day
    chart = wait_css(driver, "#report-svg")
    assert chart.get_attribute("role") == "img"
    assert "collected and refunded per day" in driver.find_element(By.ID, "rep-chart-title").get_attribute(
        "textContent"
    )
    assert len(driver.find_elements(By.CSS_SELECTOR, "#report-svg g[data-period]")) == 30
    assert driver.find_element(By.ID, "target-refund").text.startswith("Refund rate")
    axe_check(driver)
    screenshots(driver, "reports-recent")

    # When the owner asks for the far period and the brow lamination
    set_date(driver, "r-from", (far_day - timedelta(days=2)).isoformat())
    set_date(driver, "r-to", (far_day + timedelta(days=20)).isoformat())
    Select(driver.find_element(By.ID, "r-service")).select_by_value(SERVICE)
    Select(driver.find_element(By.ID, "r-group")).select_by_value("week")
    driver.find_element(By.ID, "report-apply").click()
    wait_report(driver, f"Report from {(far_day - timedelta(days=2)).isoformat()}")
    # Then the totals show the two bookings and the confirmed one's balance still to collect
    row = totals_row(driver, "Brow Lamination (45 min)")
    assert row["Bookings"] == "2", row
    assert row["Balance outstanding"] == "$44.99", row
    assert row["Amount collected"] == "$0.00"  # the money is on the day it was paid (today), not the appointment's
    assert len(driver.find_elements(By.CSS_SELECTOR, "#report-svg g[data-period]")) >= 3  # ISO weeks
    # ... and the CSV link is a file of the same report
    link = wait_css(driver, "#report-csv")
    assert link.get_attribute("download").endswith("-week.csv")
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('report-csv').href).then(r => r.text()).then(done, e => done(String(e)));"
    )
    header, *rows = text.strip().splitlines()
    assert header.startswith("service_id,period,start,end,bookings,")
    assert sum(int(line.split(",")[4]) for line in rows if line.startswith(SERVICE)) == 2
    assert not [e for e in console_errors(driver) if "favicon" not in e]
    axe_check(driver)
    screenshots(driver, "reports-far-period")


def test_a_bad_period_is_explained_in_the_form(site: Site, driver: WebDriver, far_day: date) -> None:
    driver.get(f"{site.url}/admin/#reports")
    wait_css(driver, "#dev-token-owner").click()
    wait_report(driver, "Report from")
    set_date(driver, "r-from", "2026-01-10")
    set_date(driver, "r-to", "2026-01-01")
    driver.find_element(By.ID, "report-apply").click()
    error = wait_css(driver, "#report-error")
    WebDriverWait(driver, 10).until(lambda d: "ends before it starts" in error.text, "no explanation")
