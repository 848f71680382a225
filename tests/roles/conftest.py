"""Roles (seed 004): the business's site sign-in, served on loopback (its JWKS over HTTP), and the product
configured to trust it (ROLE_JWKS_URL / ROLE_ISSUER; settings are cached per process: cleared both ways)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.site_sign_in import SiteSignIn


@pytest.fixture(scope="session")
def site() -> Iterator[SiteSignIn]:
    sign_in = SiteSignIn()
    sign_in.start()
    yield sign_in
    sign_in.stop()


def configure(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    from booking.roles import forget_keys
    from booking.settings import get_settings

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    forget_keys()


@pytest.fixture
def roles_on(site: SiteSignIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[SiteSignIn]:
    """The product trusts `site`'s tokens (ROLE_JWKS_URL, ROLE_ISSUER; no audience, claim `role`)."""
    from booking.roles import forget_keys
    from booking.settings import get_settings

    site.extra_keys.clear()
    configure(monkeypatch, ROLE_JWKS_URL=site.jwks_url, ROLE_ISSUER=site.issuer)
    yield site
    monkeypatch.undo()  # the test's settings too (CATALOG_PATH, ROLE_AUDIENCE...), before they are read again
    get_settings.cache_clear()
    forget_keys()
