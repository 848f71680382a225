"""Browser tests: the site kit in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)
against a spawned local runner, as a client and the owner use it.

- `site`: one runner (API + site kit + doubles) shared by the browser tests; each test makes its own bookings.
- `driver`: a fresh browser per test (no cookies or storage carried over), 1280x900.
- `axe_check(driver)`: axe-core (npm) injected into the page; any serious or critical violation fails the test.
- `screenshots(driver, name)`: the whole page at desktop width and at 360 px, in test-artifacts/screenshots/.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from local.spawn import SpawnedRunner, free_port, spawned_runner
from local.template import ROOT

AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BROWSER_ZONE = "UTC"  # the zone Chromium shows times in (driver)
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
DESKTOP = (1280, 900)
PHONE_WIDTH = 360


@dataclass
class Site:
    """The spawned runner as the browser tests reach it: over HTTP only."""

    runner: SpawnedRunner
    # Another site (a business's marketing site on its own host) that embeds the widget; the API allows its origin.
    marketing_origin: str

    @property
    def info(self) -> dict[str, Any]:
        return self.runner.info

    @property
    def api(self) -> str:
        return self.runner.api

    @property
    def url(self) -> str:
        return str(self.runner.info["site"])

    @property
    def stripe(self) -> str:
        return str(self.runner.info["stripe_api"])

    @property
    def cal(self) -> str:
        return str(self.runner.info["cal_api"])

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.api}{path}", timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.api}{path}", timeout=30, **kwargs)

    def advance_clock(self, seconds: float) -> None:
        self.post("/_local/clock", json={"advance_seconds": seconds}).raise_for_status()

    def owner_token(self, role: str = "owner") -> str:
        response = requests.get(f"{self.url}/_local/dev-token", params={"role": role}, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    marketing = f"http://127.0.0.1:{free_port()}"
    # No Cal.com rate limit: the tests load a week of availability far more often than one visitor would.
    with spawned_runner({"LOCAL_CAL_RATE_LIMIT": "0", "SITE_ORIGINS": marketing}) as runner:
        yield Site(runner, marketing)


@pytest.fixture
def marketing_page(site: Site) -> Iterator[Callable[[str], str]]:
    """Serve one HTML page at the marketing site's origin (not the kit's); returns its URL."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", int(site.marketing_origin.rsplit(":", 1)[1])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(html: str) -> str:
        pages["/"] = html.encode()
        return f"{site.marketing_origin}/"

    try:
        yield serve
    finally:
        server.shutdown()
        server.server_close()


def _chromium_options(user_data_dir: str) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium and chromium-driver")
    options.binary_location = chromium
    # Background networking off: this machine's closed network refuses Chromium's calls home, and they are noise.
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture
def driver() -> Iterator[WebDriver]:
    chromedriver = shutil.which("chromedriver")
    if chromedriver is None:
        pytest.fail("chromedriver is not installed: `make test` installs Debian's chromium-driver")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        # The packaged driver, given explicitly: Selenium Manager never tries to download one.
        # Chromium shows times in TZ: one zone whatever the machine's, which the tests' own /availability calls
        # name too (pages.first_free_start), so "today" and the weeks are the widget's (the server's default start is
        # today in the asked zone, which is not the business's between its evening and UTC's midnight).
        service = Service(chromedriver, env={**os.environ, "TZ": BROWSER_ZONE})
        browser = webdriver.Chrome(service=service, options=_chromium_options(profile))
        shown = browser.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert shown in (BROWSER_ZONE, f"Etc/{BROWSER_ZONE}"), f"Chromium shows times in {shown}, not {BROWSER_ZONE}"
        browser.set_script_timeout(30)
        try:
            yield browser
        finally:
            browser.quit()


def console_errors(driver: WebDriver) -> list[str]:
    """The page's console errors so far (a failing fetch, an uncaught exception)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def _axe(driver: WebDriver) -> list[dict[str, Any]]:
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE_SCRIPT.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
           .then(done).catch(e => done({error: String(e)}));
        """,
        AXE_TAGS,
    )
    if "error" in result:
        pytest.fail(f"axe-core failed on {driver.current_url}: {result['error']}")
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


@pytest.fixture
def axe_check() -> Callable[[WebDriver], None]:
    def check(driver: WebDriver) -> None:
        bad = _axe(driver)
        if bad:
            lines = [
                f"{v['impact']} {v['id']}: {v['help']} -> "
                + "; ".join(
                    " ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
                    for node in v["nodes"][:5]
                )
                for v in bad
            ]
            pytest.fail(f"accessibility violations on {driver.current_url}:\n" + "\n".join(lines))

    return check


def _full_page_png(driver: WebDriver, width: int, mobile: bool) -> bytes:
    """The whole page at `width` CSS pixels (the device metrics Chrome's DevTools use), not just the viewport."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": DESKTOP[1], "deviceScaleFactor": 1, "mobile": mobile},
    )
    try:
        height = int(driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)"))
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(max(height, 200), 6000), "scale": 1},
            },
        )
        return base64.b64decode(shot["data"])
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def screenshots() -> Callable[[WebDriver, str], tuple[Path, Path]]:
    def save(driver: WebDriver, name: str) -> tuple[Path, Path]:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        desktop, phone = SCREENSHOTS / f"{name}-desktop.png", SCREENSHOTS / f"{name}-phone.png"
        desktop.write_bytes(_full_page_png(driver, DESKTOP[0], mobile=False))
        phone.write_bytes(_full_page_png(driver, PHONE_WIDTH, mobile=True))
        overflow = driver.execute_script(
            """
            const frame = document.documentElement;
            return frame.scrollWidth > frame.clientWidth + 1 ? frame.scrollWidth : 0;
            """
        )
        # A page wider than the phone shows a sideways scroll bar: the 360 px layout is broken.
        assert not overflow, f"{name}: the page is wider than the window"
        return desktop, phone

    return save


def wait_css(driver: WebDriver, selector: str, timeout: float = 20) -> WebElement:
    """The first element matching `selector` once it is visible."""
    return WebDriverWait(driver, timeout).until(
        expected_conditions.visibility_of_element_located(("css selector", selector)),
        message=f"{selector} not visible on {driver.current_url}",
    )


def wait_text(driver: WebDriver, selector: str, text: str, timeout: float = 30) -> WebElement:
    """The element matching `selector` once its text contains `text`."""
    try:
        WebDriverWait(driver, timeout).until(
            expected_conditions.text_to_be_present_in_element(("css selector", selector), text)
        )
    except TimeoutException:
        shown = [element.text for element in driver.find_elements("css selector", selector)]
        raise AssertionError(
            f"{text!r} never appeared in {selector} on {driver.current_url}; it shows {shown}"
        ) from None
    return driver.find_element("css selector", selector)


def page_json(driver: WebDriver, script: str) -> Any:
    """Evaluate `script` (an expression) in the page and return its JSON value."""
    return json.loads(driver.execute_script(f"return JSON.stringify({script})"))
