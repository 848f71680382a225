"""A stand-in for the business's own site sign-in (seed 004's roles): it signs its members' tokens and publishes
its public keys, as an OIDC provider or a Cognito user pool of the site would.

The product never signs these tokens; it only verifies them (booking/roles.py) against ROLE_JWKS_URL and
ROLE_ISSUER. Locally this server is both: `GET /.well-known/jwks.json` publishes an RSA key made per run and
`POST /token {"role": "resident_artist"}` (or `{"roles": [...]}`, `"minutes"`, `"sub"`) answers `{"token": ...}`,
the JWT a signed-in member's browser would pass as create-intent's `role_token`. The runner starts it, points
ROLE_JWKS_URL/ROLE_ISSUER at it and forwards `POST /_local/site-token` to it; tests use it as the site's JWKS.
Tokens carry the product's clock (LOCAL_CLOCK_OFFSET_SECONDS), so a demo that moves the clock still verifies.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"
TOKEN_MINUTES = 60
ROLE_CLAIM = "role"


class SiteSignIn:
    """The site's signing key, its JWKS over HTTP on loopback, and its tokens."""

    def __init__(self, key: RSAKey | None = None, *, audience: str | None = None) -> None:
        self.key = key or new_key()
        self.audience = audience
        self.extra_keys: list[dict[str, Any]] = []  # more public keys to publish (tests: a rotated key)
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""
        self.jwks_requests = 0

    # --- the site's published keys -----------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False), *self.extra_keys]}

    # --- tokens ------------------------------------------------------------------------------------------

    def claims(self, role: str | list[str] | None = "resident_artist", **overrides: Any) -> dict[str, Any]:
        """A member's claims; `overrides` replace claims (None removes one), for tests of refused tokens."""
        from booking.clock import now

        issued = int(now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": f"member-{uuid.uuid4().hex[:12]}",
            "iat": issued,
            "nbf": issued,
            "exp": issued + TOKEN_MINUTES * 60,
            "jti": str(uuid.uuid4()),
            ROLE_CLAIM: role,
        }
        if self.audience:
            claims["aud"] = self.audience
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, role: str | list[str] | None = "resident_artist", **overrides: Any) -> str:
        return self.sign(self.claims(role, **overrides))

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None, kid: str | None = None) -> str:
        """`claims` signed RS256 with the site's key (or `key`), its header naming `kid` (default the key's)."""
        signer = key or self.key
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": kid or signer.kid}
        return jwt.encode(header, claims, signer, algorithms=[ALGORITHM])

    # --- HTTP ----------------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the JWKS and the token route on `host`; the base URL (the issuer) is returned."""
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="site-sign-in", daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def mint(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /token's answer: a token for `{"role"}` or `{"roles": [...]}` (optional `minutes`, `sub`)."""
        role = payload.get("roles", payload.get("role"))
        valid_list = isinstance(role, list) and role and all(isinstance(item, str) and item for item in role)
        if not (isinstance(role, str) and role) and not valid_list:
            return 400, {"error": {"code": "validation_error", "message": 'Give {"role": "..."} or {"roles": [...]}'}}
        minutes = payload.get("minutes", TOKEN_MINUTES)
        if not isinstance(minutes, int) or not 1 <= minutes <= 24 * 60:
            return 400, {"error": {"code": "validation_error", "message": "minutes: 1 to 1440"}}
        claims = self.claims(role)
        claims["exp"] = claims["iat"] + minutes * 60
        if isinstance(payload.get("sub"), str):
            claims["sub"] = payload["sub"]
        return 200, {"token": self.sign(claims), "role": role, "expires_at": claims["exp"], "issuer": self.issuer}


def new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, private=True)
    key.ensure_kid()
    return key


def _handler(site: SiteSignIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/.well-known/jwks.json":
                site.jwks_requests += 1
                self._answer(200, site.jwks())
                return
            self._answer(404, {"error": {"code": "not_found", "message": "Unknown route"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400, {"error": {"code": "invalid_json", "message": "The body is not JSON."}})
                return
            if self.path.split("?")[0] != "/token" or not isinstance(payload, dict):
                self._answer(404, {"error": {"code": "not_found", "message": "POST /token {role}"}})
                return
            self._answer(*site.mint(payload))

    return Handler
