"""Cal.com's rate limit (429) reaches the site as its own 503, `calendar_rate_limited`, with Cal.com's own wait as
`Retry-After`, not as the calendar "not answering"."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from local.cal_double import CalDouble
from tests.integration.helpers import FACIAL
from tests.support import ApiClient, Clock


@pytest.fixture
def one_call_a_minute(cal_double: CalDouble, monkeypatch: pytest.MonkeyPatch) -> CalDouble:
    """The session's Cal.com double, throttling our key after one call a minute (as Cal.com does after 120)."""
    monkeypatch.setattr(cal_double, "rate_limit_per_minute", 1)
    return cal_double


def slots_calls(cal_double: CalDouble) -> list[int]:
    return [entry.status for entry in cal_double.request_log if entry.path == "/v2/slots"]


def later_week() -> str:
    """A week nobody has asked for yet: not in the availability cache, so Cal.com is asked for it."""
    from booking.clock import now

    return (now().date() + timedelta(days=28)).isoformat()


def test_availability_while_cal_throttles_us_is_a_503_with_cals_wait(
    api: ApiClient, one_call_a_minute: CalDouble, clock: Clock
) -> None:
    # Given the site used Cal.com's whole allowance for this minute
    assert api.get("/availability", service_id=FACIAL).status == 200

    # When it asks at once for a week the cache does not hold, and again 45 s later
    throttled = api.get("/availability", service_id=FACIAL, start=later_week())
    clock.advance(seconds=45)
    later = api.get("/availability", service_id=FACIAL, start=later_week())

    # Then each answer is a 503 of its own code, whose Retry-After is what is left of Cal.com's 60 s block
    assert (throttled.status, throttled.error_code) == (503, "calendar_rate_limited"), throttled.body
    assert throttled.headers["retry-after"] == "60"
    assert "60 seconds" in throttled.body["error"]["message"]
    assert (later.status, later.error_code, later.headers["retry-after"]) == (503, "calendar_rate_limited", "15")
    # And the product did not hammer Cal.com while blocked: the week backs off until Cal.com's wait is over, so
    # the second ask is answered without calling Cal.com at all
    assert slots_calls(one_call_a_minute) == [200, 429]


def test_availability_after_cals_wait_is_served_again(
    api: ApiClient, one_call_a_minute: CalDouble, clock: Clock
) -> None:
    # Given a throttled request and the wait it was told
    assert api.get("/availability", service_id=FACIAL).status == 200
    wait = int(api.get("/availability", service_id=FACIAL, start=later_week()).headers["retry-after"])

    # When the site retries after that many seconds
    clock.advance(seconds=wait)
    retried = api.get("/availability", service_id=FACIAL, start=later_week())

    # Then Cal.com lets the key through and the week is listed
    assert retried.status == 200, retried.body
    assert retried.body["service_id"] == FACIAL and len(retried.body["days"]) == 7
    assert slots_calls(one_call_a_minute) == [200, 429, 200]


def test_a_429_that_names_no_wait_is_retried_then_told_as_cals_whole_window(
    api: ApiClient, cal_double: CalDouble
) -> None:
    # Given Cal.com answers 429 without any rate-limit header, to every attempt the client makes
    cal_double.fail_next(10, 429)

    # When the site asks for availability
    response = api.get("/availability", service_id=FACIAL)

    # Then the client tried its bounded number of times and the site is told Cal.com's whole 60 s window
    assert (response.status, response.error_code, response.headers["retry-after"]) == (
        503,
        "calendar_rate_limited",
        "60",
    )
    assert slots_calls(cal_double) == [429] * len(slots_calls(cal_double)) and len(slots_calls(cal_double)) > 1


# --- the client's reading of a 429 (Cal.com's headers, without the double) ---------------------------------


def cal_answer(status: int, headers: dict[str, str], body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = json.dumps(body).encode()
    return response


THROTTLED = {"status": "error", "error": {"code": "ThrottlerException", "message": "Too many requests."}}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "42"}, 42.0),
        ({"X-RateLimit-Remaining-Default": "0", "X-RateLimit-Reset-Default": "17"}, 17.0),
        # A custom tier still open does not hold the key back; the blocked one says how long
        (
            {
                "X-RateLimit-Remaining-Burst": "3",
                "X-RateLimit-Reset-Burst": "1",
                "X-RateLimit-Remaining-Default": "0",
                "X-RateLimit-Reset-Default": "33",
            },
            33.0,
        ),
        ({}, None),
    ],
)
def test_throttle_wait_reads_retry_after_then_the_blocked_limits_reset(
    headers: dict[str, str], expected: float | None
) -> None:
    from booking.providers.calcom import throttle_wait

    assert throttle_wait(cal_answer(429, headers, THROTTLED)) == expected


def test_throttle_wait_reads_a_date_and_a_unix_timestamp_as_moments() -> None:
    from booking.providers.calcom import throttle_wait

    # Retry-After may be an HTTP date; Cal's docs describe Reset as a Unix timestamp
    in_a_minute = datetime.now(UTC) + timedelta(seconds=60)
    dated = throttle_wait(cal_answer(429, {"Retry-After": format_datetime(in_a_minute, usegmt=True)}, THROTTLED))
    stamped = throttle_wait(
        cal_answer(
            429,
            {"X-RateLimit-Remaining-Default": "0", "X-RateLimit-Reset-Default": str(int(time.time()) + 30)},
            THROTTLED,
        )
    )
    assert dated is not None and 55 <= dated <= 60
    assert stamped is not None and 28 <= stamped <= 30


class ScriptedCal:
    """Cal.com's answers in order, as the client's HTTP session sees them."""

    def __init__(self, *answers: requests.Response) -> None:
        self.answers = list(answers)
        self.calls = 0

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        return self.answers.pop(0)


def test_a_throttle_shorter_than_a_second_is_waited_out_and_a_longer_one_is_raised_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from booking.providers import calcom

    client = calcom.CalClient("https://api.cal.example", "cal_test", timeout_seconds=1, max_attempts=3)
    monday = datetime(2050, 9, 5, tzinfo=UTC)
    ok = cal_answer(200, {}, {"status": "success", "data": {"2050-09-05": [{"start": "2050-09-05T16:00:00Z"}]}})

    # Given Cal.com lets the key through again 0.05 s after a 429
    short = ScriptedCal(cal_answer(429, {"Retry-After": "0.05"}, THROTTLED), ok)
    monkeypatch.setattr(calcom, "_session", lambda: short)
    # Then the client waits and gets the slots
    assert [slot.start for slot in client.slots(1, monday, monday + timedelta(days=1), "UTC")] == [
        datetime(2050, 9, 5, 16, tzinfo=UTC)
    ]
    assert short.calls == 2

    # Given Cal.com blocks the key for 37.2 s
    long = ScriptedCal(cal_answer(429, {"Retry-After": "37.2"}, THROTTLED), ok)
    monkeypatch.setattr(calcom, "_session", lambda: long)
    # Then the client raises at once with the wait rounded up, and sends nothing more
    with pytest.raises(calcom.CalendarThrottled) as raised:
        client.slots(1, monday, monday + timedelta(days=1), "UTC")
    assert raised.value.retry_after_seconds == 38 and long.calls == 1
    assert isinstance(raised.value, calcom.CalendarDown)  # the booking flows keep treating it as "not now"
