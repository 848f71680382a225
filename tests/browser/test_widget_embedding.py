"""The widget as a site developer uses it: one module script and one element on a page of another origin, themed
with CSS custom properties set on an ancestor."""

from __future__ import annotations

from collections.abc import Callable

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import Site, console_errors, wait_css

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Studio on another host</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script type="module" src="{kit}/booking-widget.js"></script>
<style>.brand {{ --bw-accent: rgb(0, 100, 0); --bw-radius: 3px; }}</style></head>
<body><main><h1>Our studio</h1>
<div class="brand"><booking-widget api="{api}"></booking-widget></div></main></body></html>
"""


def test_the_widget_embeds_on_another_origin_and_takes_the_sites_theme(
    site: Site,
    driver: WebDriver,
    marketing_page: Callable[[str], str],
    axe_check: Callable[[WebDriver], None],
) -> None:
    driver.get(marketing_page(PAGE.format(kit=site.url, api=site.api)))
    try:
        wait_css(driver, "booking-widget .bw-service").click()
        week = wait_css(driver, "booking-widget .bw-week-nav .bw-btn")
    except TimeoutException:
        raise AssertionError(f"the widget never rendered its services and week: {console_errors(driver)}") from None
    accent = driver.execute_script(
        "return getComputedStyle(document.querySelector('booking-widget')).getPropertyValue('--bw-accent').trim()"
    )
    assert accent == "rgb(0, 100, 0)"
    # The week buttons are drawn with the site's accent and radius, not the widget's defaults.
    assert week.value_of_css_property("color") in ("rgb(0, 100, 0)", "rgba(0, 100, 0, 1)")
    assert week.value_of_css_property("border-top-left-radius") == "3px"
    assert not [m for m in console_errors(driver) if "CORS" in m or "blocked" in m], console_errors(driver)
    axe_check(driver)
