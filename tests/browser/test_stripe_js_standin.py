"""The Stripe.js stand-in alone, in headless Chromium: a page on another origin loads `<double>/v3/` and pays with
the Payment Element exactly as the site kit does (docs/stripe-js.md), against an in-process Stripe double."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import stripe
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from local.stripe_double import StripeDouble
from tests.browser.conftest import console_errors, wait_css, wait_text

PK = "pk_test_local_double"

# The calls and result fields the site kit relies on, nothing else.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pay a deposit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="{stripe_js}"></script></head>
<body><main><h1>Pay a deposit</h1>
<form id="pay"><div id="payment-element"></div><button type="submit">Pay</button></form>
<p id="result" role="status"></p></main>
<script>
  const query = new URLSearchParams(location.search);
  const result = document.getElementById("result");
  const stripe = Stripe(query.get("pk"));
  if (query.get("redirect_status")) {{
    stripe.retrievePaymentIntent(query.get("payment_intent_client_secret")).then(({{paymentIntent}}) => {{
      result.textContent = `returned ${{query.get("redirect_status")}} ${{paymentIntent.id}} ${{paymentIntent.status}}`;
    }});
  }} else {{
    const appearance = {{variables: {{colorPrimary: "#0a2540"}}}};
    const elements = stripe.elements({{clientSecret: query.get("secret"), appearance}});
    const element = elements.create("payment");
    element.mount("#payment-element");
    window.completeness = [];
    element.on("change", (event) => window.completeness.push(event.complete));
    document.getElementById("pay").addEventListener("submit", async (event) => {{
      event.preventDefault();
      const {{error: invalid}} = await elements.submit();
      if (invalid) {{
        result.textContent = `error ${{invalid.type}} ${{invalid.message}}`;
        return;
      }}
      const {{paymentIntent, error}} = await stripe.confirmPayment({{
        elements, confirmParams: {{return_url: location.href.split("?")[0] + "?pk=" + query.get("pk")}},
        redirect: query.get("redirect") || "if_required"}});
      result.textContent = error
        ? `error ${{error.type}} ${{error.code}} ${{error.decline_code || "-"}}`
        : `paid ${{paymentIntent.status}}`;
    }});
  }}
</script></body></html>"""


class PageServer:
    """The merchant's page, served from an origin other than the double's (so every API call crosses origins)."""

    def __init__(self, stripe_js: str) -> None:
        body = PAGE.format(stripe_js=stripe_js).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Silence per-request logs."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # "localhost" against the double's 127.0.0.1: two origins, as a site and js.stripe.com are.
        self.url = f"http://localhost:{self.server.server_address[1]}/pay"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def double() -> Iterator[StripeDouble]:
    stub = StripeDouble()
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def page(double: StripeDouble) -> Iterator[PageServer]:
    server = PageServer(f"{double.url}/v3/")
    yield server
    server.close()


@pytest.fixture
def open_payment(double: StripeDouble, page: PageServer, driver: WebDriver) -> Callable[..., Any]:
    server = stripe.StripeClient("sk_test_local", base_addresses={"api": double.url})

    def open_page(**query: str) -> Any:
        pi = server.v1.payment_intents.create(params={"amount": 8250, "currency": "usd"})
        driver.get(f"{page.url}?{urlencode({'pk': PK, 'secret': pi.client_secret, **query})}")
        wait_css(driver, "input[name=cardnumber]")
        return pi

    return open_page


def fill_card(driver: WebDriver, number: str, expiry: str = "1234", cvc: str = "123") -> None:
    for name, value in (("cardnumber", number), ("exp-date", expiry), ("cvc", cvc)):
        field = driver.find_element("css selector", f"input[name='{name}']")
        field.clear()
        field.send_keys(value)


def pay(driver: WebDriver) -> None:
    driver.execute_script("document.getElementById('result').textContent = ''")
    driver.find_element("css selector", "#pay button").click()


def test_payment_element_validates_then_a_declined_card_then_a_good_one(
    open_payment: Callable[..., Any], driver: WebDriver, axe_check: Callable[[WebDriver], None]
) -> None:
    # Given the Payment Element, mounted with labelled inputs
    open_payment()
    for label in ("Card number", "Expiration (MM / YY)", "CVC"):
        assert driver.find_element("xpath", f"//label[normalize-space()='{label}']").get_attribute("for")

    # When the customer pays without a card number
    pay(driver)

    # Then elements.submit() answers Stripe's validation error, shown beside the field
    wait_text(driver, "#result", "error validation_error Your card number is incomplete.")
    number = driver.find_element("css selector", "input[name=cardnumber]")
    assert number.get_attribute("aria-invalid") == "true"
    assert driver.switch_to.active_element == number
    axe_check(driver)

    # When a declined card is used
    fill_card(driver, "4000000000000002")
    assert number.get_attribute("value") == "4000 0000 0000 0002"
    assert driver.execute_script("return window.completeness.at(-1)") is True
    pay(driver)

    # Then confirmPayment resolves Stripe's card error
    wait_text(driver, "#result", "error card_error card_declined generic_decline")

    # When a good card is used next
    fill_card(driver, "4242424242424242")
    pay(driver)

    # Then the payment succeeds
    wait_text(driver, "#result", "paid succeeded")
    # No script error (the decline's 402 is logged by Chromium as a failed resource, as with real Stripe.js)
    assert not [line for line in console_errors(driver) if "Failed to load resource" not in line]


def test_three_d_secure_dialog_completes_or_fails_the_authentication(
    open_payment: Callable[..., Any], driver: WebDriver, double: StripeDouble, axe_check: Callable[[WebDriver], None]
) -> None:
    # Given a card that always asks for 3-D Secure
    pi = open_payment()
    fill_card(driver, "4000002760003184")
    pay(driver)

    # When the test authentication dialog opens
    dialog = wait_css(driver, "dialog[open]")
    title = driver.find_element("id", dialog.get_attribute("aria-labelledby") or "")
    assert title.text == "Test payment authentication"
    assert driver.switch_to.active_element.get_attribute("id") == "stripe-3ds-complete"
    axe_check(driver)
    # Tab stays on the dialog's two choices
    driver.switch_to.active_element.send_keys("\t")
    assert driver.switch_to.active_element.get_attribute("id") == "stripe-3ds-fail"

    # And the customer fails it
    driver.find_element("id", "stripe-3ds-fail").click()

    # Then confirmPayment resolves Stripe's authentication failure, and the dialog is gone
    wait_text(driver, "#result", "error invalid_request_error payment_intent_authentication_failure")
    assert not driver.find_elements("css selector", "dialog")
    assert double.get_object(pi.id)["status"] == "requires_payment_method"  # type: ignore[index]

    # When the customer tries again and completes the authentication
    pay(driver)
    wait_css(driver, "dialog[open]")
    driver.find_element("id", "stripe-3ds-complete").click()

    # Then the payment succeeded
    wait_text(driver, "#result", "paid succeeded")
    assert double.get_object(pi.id)["status"] == "succeeded"  # type: ignore[index]


def test_redirect_always_returns_with_stripes_query_parameters(
    open_payment: Callable[..., Any], driver: WebDriver
) -> None:
    # Given confirmPayment with the default redirect
    pi = open_payment(redirect="always")
    fill_card(driver, "4242424242424242")

    # When the payment succeeds
    pay(driver)

    # Then the browser lands on return_url with Stripe's parameters, and the page reads the PaymentIntent back
    WebDriverWait(driver, 20).until(lambda d: "redirect_status" in d.current_url)
    query = parse_qs(urlsplit(driver.current_url).query)
    assert query["payment_intent"] == [pi.id]
    assert query["payment_intent_client_secret"] == [pi.client_secret]
    assert query["redirect_status"] == ["succeeded"]
    wait_text(driver, "#result", f"returned succeeded {pi.id} succeeded")
