"""A booking's messages in the owner's dashboard (issue 13): its detail lists what the client was told and what is
still to come, each with its channel, recipient and status: the confirmation sent, the reminder pending until its
time, a message SES refused shown failed with why. The runner's own notifier sends them (its table stream is
delivered to NotificationsFunction as Lambda would); the failed one is written as the notifier leaves a message
after its last try, since the runner's SES accepts its verified From address.

The runner is shared with the other browser tests: the booking is on a day 340-380 days ahead that no other test
uses, and the assertions look only at it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import Site, console_errors, wait_css, wait_text
from tests.browser.pages import owner_get
from tests.browser.test_dashboard import confirmed_booking
from tests.browser.test_dashboard_options import day_with_slots

SERVICE = "brow-lamination"
DAYS_AHEAD = 350
REFUSED = (
    "MessageRejected: Email address is not verified. The following identities failed the check: bookings@studio.example"
)


def messages(site: Site, booking_id: str) -> list[dict[str, Any]]:
    return list(owner_get(site, f"/admin/bookings/{booking_id}/messages")["messages"])


def wait_messages(site: Site, booking_id: str, kinds: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """The booking's messages once the runner's notifier has planned `kinds` (it reads the stream every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = messages(site, booking_id)
        statuses = {m["kind"]: m["status"] for m in listed}
        if kinds <= set(statuses) and statuses.get("confirmed") == "SENT":
            return listed
        assert time.monotonic() < deadline, f"the notifier did not get to {booking_id}: {listed}"
        time.sleep(0.5)


def failed_message(site: Site, booking_id: str, recipient: str) -> None:
    """A payment receipt as the notifier leaves it after its last try: FAILED, SES's refusal kept (in the runner's
    moto, the table the API reads)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # as pynamodb's UTCDateTimeAttribute stores it
    key = "payment:pi_browser_test"
    item = {
        "pk": f"BOOKING#{booking_id}",
        "sk": f"MSG#{key}#email",
        "message_key": key,
        "kind": "payment_received",
        "channel": "email",
        "recipient": recipient,
        "subject_id": booking_id,
        "context": "{}",
        "msg_status": "FAILED",
        "attempts": 6,
        "last_error": REFUSED,
        "created_at": now,
        "updated_at": now,
    }
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=site.info["dynamodb"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamodb.put_item(
        TableName="booking-deposits-local",
        Item={name: {"N": str(value)} if isinstance(value, int) else {"S": value} for name, value in item.items()},
        ConditionExpression="attribute_not_exists(pk)",
    )


@pytest.fixture
def booking_with_messages(site: Site) -> dict[str, Any]:
    _, starts = day_with_slots(site, SERVICE, DAYS_AHEAD, 1)
    booking_id = confirmed_booking(site, starts[0], "Grace Hopper")
    listed = wait_messages(site, booking_id, {"confirmed", "reminder"})
    failed_message(site, booking_id, listed[0]["recipient"])
    return {"booking_id": booking_id, "start": starts[0], "email": listed[0]["recipient"]}


def test_the_booking_detail_lists_its_messages_with_their_status(
    site: Site,
    driver: WebDriver,
    booking_with_messages: dict[str, Any],
    axe_check: Callable[[WebDriver], None],
    screenshots: Callable[[WebDriver, str], Any],
) -> None:
    booking_id = booking_with_messages["booking_id"]
    # The owner signs in and opens the booking
    driver.get(f"{site.url}/admin/")
    wait_css(driver, "#dev-token-owner").click()
    wait_css(driver, "#app")
    driver.get(f"{site.url}/admin/#bookings/{booking_id}")
    wait_text(driver, "#detail-title", "Grace Hopper")
    # The Messages section lists the three, each with its channel, recipient and status in words
    table = wait_css(driver, "#messages")
    rows = {row.get_attribute("data-kind"): row for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert set(rows) == {"confirmed", "reminder", "payment_received"}

    confirmation = rows["confirmed"].text
    assert "Booking confirmation" in confirmation and "Email" in confirmation
    assert booking_with_messages["email"] in confirmation
    assert rows["confirmed"].get_attribute("data-status") == "SENT" and "Sent" in confirmation

    reminder = rows["reminder"].text
    assert "Reminder, 24 h before" in reminder and "Pending" in reminder and "Due " in reminder
    assert rows["reminder"].get_attribute("data-status") == "PENDING"

    failed = rows["payment_received"].text
    assert "Payment receipt" in failed and "Failed" in failed
    assert "Email address is not verified" in failed and "6 tries" in failed
    badge = rows["payment_received"].find_element(By.CSS_SELECTOR, ".kit-badge")
    assert badge.get_attribute("data-kind") == "error"

    # The section is in the page's outline, and the page stays accessible
    heading = driver.find_element(By.ID, "d-messages")
    assert heading.tag_name == "h3" and heading.text == "Messages"
    axe_check(driver)
    screenshots(driver, "dashboard-booking-messages")
    assert not [e for e in console_errors(driver) if "favicon" not in e]


def test_a_booking_without_messages_says_so(site: Site, driver: WebDriver) -> None:
    # A hold that was never paid: nothing was sent or planned
    _, starts = day_with_slots(site, SERVICE, DAYS_AHEAD + 14, 1)
    intent = site.post(
        "/payments/create-intent",
        json={
            "service_id": SERVICE,
            "start": starts[0],
            "attendee": {"name": "Alan Turing", "email": "alan@example.com", "time_zone": "Europe/London"},
        },
    )
    assert intent.status_code == 201, intent.text
    driver.get(f"{site.url}/admin/")
    wait_css(driver, "#dev-token-staff").click()
    wait_css(driver, "#app")
    driver.get(f"{site.url}/admin/#bookings/{intent.json()['booking_id']}")
    wait_text(driver, "#detail-title", "Alan Turing")
    wait_text(driver, "#d-messages-section", "No message was sent or planned.")
    assert not [e for e in console_errors(driver) if "favicon" not in e]
