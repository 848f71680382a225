"""The site kit as the local runner serves it at SITE_BASE_URL: the static files of `site/`, as any host would.

Two answers are the runner's own, because a deployment supplies them differently:
- `GET /site-config.json` -> `{"api": "<the API's base URL>"}`: where the pages find the API (a deployment writes
  this file next to the pages; README, Deploy).
- `GET /_local/dev-token?role=owner|staff[&email=...]` -> a dev access token the local API accepts, for the
  dashboard's local sign-in (deployed, the dashboard signs in through Cognito's hosted UI instead).
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local.dev_auth import ACCESS_TOKEN_MINUTES, DevSigner
from local.template import ROOT

SITE_ROOT = ROOT / "site"
ROLES = ("owner", "staff")

# The types browsers insist on: a module script served as anything but JavaScript is refused.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def site_file(url_path: str, root: Path = SITE_ROOT) -> Path | None:
    """The file a URL path names under `root` (a folder means its index.html); None outside `root` or missing."""
    relative = unquote(url_path).lstrip("/")
    candidate = (root / relative).resolve()
    if candidate != root.resolve() and root.resolve() not in candidate.parents:
        return None  # `..` tricks
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


class SiteServer:
    """Serves `site/` on its own port (its own origin, like a marketing site beside the API) until stopped."""

    def __init__(
        self, host: str, port: int, *, api_url: Callable[[], str], signer: DevSigner, root: Path = SITE_ROOT
    ) -> None:
        self._api_url, self._signer, self._root = api_url, signer, root
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._serving: threading.Thread | None = None

    def start(self) -> None:
        self._serving = threading.Thread(target=self._server.serve_forever, name="local-site", daemon=True)
        self._serving.start()

    def stop(self) -> None:
        if self._serving is not None:  # shutdown() waits for a serve_forever loop, forever if none ever ran
            self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request; GET and HEAD only, as a static host."""
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8"}, b"Method Not Allowed\n"
        url = urlsplit(raw_path)
        if url.path == "/site-config.json":
            return self._json({"api": self._api_url()})
        if url.path == "/_local/dev-token":
            return self._dev_token(parse_qs(url.query))
        path = site_file(url.path, self._root)
        if path is None:
            body = b"<!doctype html><html lang=en><title>Not found</title><h1>Not found</h1></html>\n"
            return 404, {"Content-Type": "text/html; charset=utf-8"}, body
        if path.name == "index.html" and not url.path.endswith(("/", ".html")):
            # /admin -> /admin/, as static hosts do: the page's relative links resolve against its folder.
            return 308, {"Location": url.path + "/" + (f"?{url.query}" if url.query else "")}, b""
        content_type = (
            CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        # no-store: a developer editing a page sees the change on reload, not a cached copy. Any origin may load the
        # kit: a marketing site elsewhere imports booking-widget.js as a module script, which browsers fetch with CORS.
        headers = {"Content-Type": content_type, "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
        return 200, headers, path.read_bytes()

    def _dev_token(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        role = (query.get("role") or ["owner"])[0]
        if role not in ROLES:
            return self._json({"error": {"code": "validation_error", "message": f"role must be one of {ROLES}"}}, 422)
        email = (query.get("email") or [None])[0]
        token = self._signer.token(role, email=email) if email else self._signer.token(role)
        return self._json({"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_MINUTES * 60})

    @staticmethod
    def _json(payload: dict[str, Any], status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(payload).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the API's log is what a developer reads."""

            def _serve(self) -> None:
                status, headers, body = site.answer(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

        return Handler
