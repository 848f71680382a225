"""The runner's site server (the site kit at SITE_BASE_URL) and its CORS answer, without a browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc import jwt

from local import runner
from local.dev_auth import DevSigner
from local.site import SiteServer, site_file


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (tmp_path / "widget.js").write_text("export const x = 1;")
    (tmp_path / "index.html").write_text("<!doctype html><title>home</title>")
    (tmp_path.parent / "secret.txt").write_text("outside the site")
    return tmp_path


def _server(kit: Path) -> SiteServer:
    return SiteServer("127.0.0.1", 0, api_url=lambda: "http://127.0.0.1:3999", signer=DevSigner.local(), root=kit)


def test_static_files_are_served_with_the_types_browsers_need(kit: Path) -> None:
    site = _server(kit)
    try:
        status, headers, body = site.answer("GET", "/widget.js")
        assert (status, headers["Content-Type"], body) == (
            200,
            "text/javascript; charset=utf-8",
            b"export const x = 1;",
        )
        status, headers, body = site.answer("GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"home" in body
        assert site.answer("GET", "/admin/?x=1")[0] == 200
        status, headers, _ = site.answer("GET", "/admin?x=1")
        assert (status, headers["Location"]) == (308, "/admin/?x=1")
        assert site.answer("GET", "/missing.js")[0] == 404
        assert site.answer("POST", "/widget.js")[0] == 405
    finally:
        site.stop()


def test_nothing_outside_the_site_folder_is_served(kit: Path) -> None:
    assert site_file("/../secret.txt", kit) is None
    assert site_file("/%2e%2e/secret.txt", kit) is None
    assert site_file("/widget.js", kit) == (kit / "widget.js").resolve()


def test_site_config_names_the_api_and_the_dev_token_is_one_the_api_accepts(kit: Path) -> None:
    site = _server(kit)
    try:
        status, _, body = site.answer("GET", "/site-config.json")
        assert status == 200 and b'"api": "http://127.0.0.1:3999"' in body
        status, _, body = site.answer("GET", "/_local/dev-token?role=staff")
        assert status == 200
        import json

        token = json.loads(body)["access_token"]
        claims = jwt.decode(token, DevSigner.local().pool.jwks).claims
        assert claims["cognito:groups"] == ["staff"]
        assert site.answer("GET", "/_local/dev-token?role=admin")[0] == 422
    finally:
        site.stop()


def test_cors_allows_the_configured_origins_and_the_site_and_exposes_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SITE_BASE_URL", "http://localhost:8123")
    monkeypatch.setenv("SITE_ORIGINS", "https://aura.example, https://www.aura.example")
    assert runner.allowed_origins() == {"https://aura.example", "https://www.aura.example", "http://localhost:8123"}
    answer = runner._cors_headers("https://www.aura.example")
    assert answer["Access-Control-Allow-Origin"] == "https://www.aura.example"
    assert "retry-after" in answer["Access-Control-Expose-Headers"].lower()
    assert "Access-Control-Allow-Methods" not in answer
    preflight = runner._cors_headers("https://aura.example", preflight=True)
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert runner._cors_headers("https://evil.example") == {}
    monkeypatch.delenv("SITE_ORIGINS")
    # Without SITE_ORIGINS: the template's parameter default.
    assert "http://localhost:8080" in runner.allowed_origins()
