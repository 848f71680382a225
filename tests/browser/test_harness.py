"""The browser harness itself: the packaged Chromium runs module scripts, and the accessibility check can fail."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import Site

BAD_PAGE = """<!doctype html><html><head><title>bad</title></head><body>
<main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><button></button>
<p style="color:#bbb;background:#fff">low contrast text</p></main></body></html>"""


def test_axe_check_fails_a_page_with_serious_violations(
    driver: WebDriver, axe_check: Callable[[WebDriver], None]
) -> None:
    driver.get("data:text/html;charset=utf-8," + quote(BAD_PAGE))
    with pytest.raises(pytest.fail.Exception) as failure:
        axe_check(driver)
    message = str(failure.value)
    assert "image-alt" in message and "button-name" in message and "color-contrast" in message


def test_the_runner_serves_the_site_kit_with_its_api_and_module_scripts(site: Site, driver: WebDriver) -> None:
    driver.get(f"{site.url}/site-config.json")
    assert site.api in driver.page_source
    # A module script from the site's origin runs and reaches the API across origins (CORS).
    driver.get(f"{site.url}/")
    driver.execute_script(
        """
        const script = document.createElement('script');
        script.type = 'module';
        script.textContent = `
          const {api} = await (await fetch('/site-config.json')).json();
          const answer = await fetch(api + '/config');
          const type = answer.headers.get('content-type') || '';
          document.documentElement.dataset.probe = 'config ' + answer.status + ' ' + type;`;
        document.head.append(script);
        """
    )
    probe = "return document.documentElement.dataset.probe || ''"
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(probe), "the module script never ran")
    assert driver.execute_script(probe) == "config 200 application/json"
