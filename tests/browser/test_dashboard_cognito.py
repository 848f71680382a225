"""The dashboard's deployed sign-in, in a real browser: Cognito's hosted UI with the authorization-code flow and
PKCE (S256), played by a stand-in of Cognito's OAuth endpoints that checks what Cognito checks and issues access
tokens of the runner's user pool (the local dev key), which the local gateway's JWT authorizer then verifies."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from local.dev_auth import DevSigner
from local.spawn import free_port, spawned_runner
from tests.browser.conftest import Site, wait_css, wait_text

Axe = Callable[[WebDriver], None]
OWNER = "ana@example.com"


@dataclass
class HostedUi:
    """Cognito's /oauth2/authorize and /oauth2/token for one app client, as the dashboard uses them."""

    client_id: str
    redirect_uri: str
    signer: DevSigner
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        problems = [
            name
            for name, ok in (
                ("response_type", query.get("response_type") == "code"),
                ("client_id", query.get("client_id") == self.client_id),
                ("redirect_uri", query.get("redirect_uri") == self.redirect_uri),
                ("code_challenge_method", query.get("code_challenge_method") == "S256"),
                ("code_challenge", len(query.get("code_challenge", "")) == 43),
                ("state", bool(query.get("state"))),
            )
            if not ok
        ]
        if problems:
            return 400, {"Content-Type": "text/plain"}, f"invalid_request: {problems}".encode()
        # The owner typed their password on the hosted page; Cognito returns to the app with a one-time code.
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": query["code_challenge"], "scope": query.get("scope", "")}
        target = f"{self.redirect_uri}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": target}, b""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        ok = (
            grant is not None
            and form.get("grant_type") == "authorization_code"
            and form.get("client_id") == self.client_id
            and form.get("redirect_uri") == self.redirect_uri
            and challenge == grant["challenge"]
        )
        self.exchanges.append({"ok": ok, "scope": (grant or {}).get("scope")})
        if not ok:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": "invalid_grant"}).encode()
        tokens = {
            "access_token": self.signer.token("owner", email=OWNER),
            "id_token": "not-used-by-the-dashboard",
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(tokens).encode()


@pytest.fixture(scope="module")
def cognito_site() -> Iterator[tuple[Site, HostedUi]]:
    signer = DevSigner.local()
    site_port, ui_port = free_port(), free_port()
    redirect = f"http://localhost:{site_port}/admin/"
    hosted = HostedUi(signer.pool.client_id, redirect, signer)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            # Cognito's token endpoint answers browsers of the app's origin (a CORS request from the dashboard).
            self.send_header("Access-Control-Allow-Origin", "*")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            if url.path == "/oauth2/authorize":
                self._answer(*hosted.authorize(query))
            else:
                self._answer(404, {"Content-Type": "text/plain"}, b"not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/oauth2/token":
                self._answer(*hosted.token(form))
            else:
                self._answer(404, {"Content-Type": "text/plain"}, b"not found")

    server = ThreadingHTTPServer(("127.0.0.1", ui_port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "LOCAL_CAL_RATE_LIMIT": "0",
        "OWNER_SIGN_IN_MODE": "cognito",
        "OWNER_SIGN_IN_BASE_URL": f"http://127.0.0.1:{ui_port}",
        "OWNER_CLIENT_ID": signer.pool.client_id,
        "OWNER_REDIRECT_URI": redirect,
        "OWNER_LOGOUT_URL": f"http://localhost:{site_port}/",
    }
    try:
        with spawned_runner(env, site_port=site_port) as runner:
            yield Site(runner, marketing_origin="http://127.0.0.1:9"), hosted
    finally:
        server.shutdown()
        server.server_close()


def test_the_owner_signs_in_through_the_hosted_ui_with_pkce(
    cognito_site: tuple[Site, HostedUi], driver: WebDriver, axe_check: Axe
) -> None:
    site, hosted = cognito_site
    # Given the dashboard of a deployment with Cognito's hosted sign-in
    driver.get(f"{site.url}/admin/")
    button = wait_css(driver, "#sign-in-button")
    axe_check(driver)
    # When the owner signs in there and comes back with a code
    button.click()
    WebDriverWait(driver, 20).until(
        lambda d: urlsplit(d.current_url).path == "/admin/" and "code=" not in d.current_url
    )
    # Then the dashboard traded the code and its PKCE verifier for an access token the API's authorizer accepts
    wait_text(driver, "body", OWNER)
    wait_css(driver, "#bookings, table")
    assert hosted.exchanges == [{"ok": True, "scope": "openid email"}]
    assert "code=" not in driver.current_url and "state=" not in driver.current_url  # nothing left to replay
    axe_check(driver)


def test_a_sign_in_answer_that_was_not_asked_for_is_refused(
    cognito_site: tuple[Site, HostedUi], driver: WebDriver
) -> None:
    site, hosted = cognito_site
    before = len(hosted.exchanges)
    # Given a code and state this browser never asked for (a forged or replayed link)
    driver.get(f"{site.url}/admin/?code=stolen&state=guessed")
    # Then the page refuses it without calling the token endpoint, and offers to sign in again
    wait_text(driver, "body", "not for this page")
    assert len(hosted.exchanges) == before
    assert driver.find_element(By.ID, "sign-in-button").is_displayed()
