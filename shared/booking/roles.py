"""The client's role (seed 004: "resident artists book free, the public pays"), from a claim the business's site signs.

The business's own site signs its members in; with a booking it passes the member's token (a JWT) as create-intent's
`role_token`. The role is never a field the client types: it is read from that token only after the token verifies
against the site's published public keys (ROLE_JWKS_URL), issuer (ROLE_ISSUER) and, when set, audience
(ROLE_AUDIENCE). Only asymmetric signatures are accepted (RS256, ES256): never `none`, never an HMAC (a site's public
key used as an HMAC secret would otherwise forge tokens). The claim named by ROLE_CLAIM (default `role`) holds a role
or a list of them (`cognito:groups`): the first role the service prices wins. A verified role the service does not
price books at the public price. The role is applied when the slot is held, never at payment.

The site's keys are fetched once per container and kept JWKS_TTL_SECONDS; a token naming a key not in them fetches
them again (key rotation), at most once per REFETCH_FLOOR_SECONDS so made-up key ids cannot turn bookings into a
flood of requests to the site.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from booking.domain.catalog import Service
from booking.errors import RoleKeysUnavailable, RoleTokenRefused
from booking.observability import logger
from booking.settings import MissingSetting, get_settings

if TYPE_CHECKING:  # joserfc (and cryptography under it) loads only when a token arrives: most bookings carry none
    from joserfc.jwk import KeySet

ALGORITHMS = ("RS256", "ES256")  # asymmetric only: what OIDC providers and Cognito sign with
KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
LEEWAY_SECONDS = 60  # clock skew between the site's sign-in and us
JWKS_TTL_SECONDS = 300
REFETCH_FLOOR_SECONDS = 30
JWKS_TIMEOUT_SECONDS = 3.0
MAX_TOKEN_LENGTH = 8192


@dataclass
class _CachedKeys:
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float  # time.monotonic(): freshness is real time, whatever the product clock says


_cache: dict[str, _CachedKeys] = {}
_lock = threading.Lock()


def verified_role(token: str | None, service: Service, now: datetime) -> str | None:
    """The role `token` proves, chosen for `service`; None without a token. Raises RoleTokenRefused (422 naming
    role_token) for a token that does not verify or when roles are off, RoleKeysUnavailable when the site's keys
    cannot be read."""
    if token is None:
        return None
    settings = get_settings()
    if not settings.role_jwks_url:
        raise RoleTokenRefused("roles are not configured for this business", reason="roles_off")
    if not settings.role_issuer:
        raise MissingSetting("ROLE_JWKS_URL is set without ROLE_ISSUER (template parameter RoleIssuer)")
    claims = verify(token, now)
    return choose_role(claims.get(settings.role_claim), service)


def choose_role(value: Any, service: Service) -> str:
    """The role of a verified claim: a string as it is, or the first of a list the service prices (else the
    first). A missing, empty or non-string claim is refused: the site signed something other than a role."""
    name = get_settings().role_claim
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(role, str) and role for role in value):
        return next((role for role in value if service.role_price(role) is not None), value[0])
    raise RoleTokenRefused(f"the token has no {name} claim naming a role", reason="no_role")


def verify(token: str, now: datetime) -> dict[str, Any]:
    """The claims of a token signed by one of the site's keys with an accepted algorithm, issued by ROLE_ISSUER
    (for ROLE_AUDIENCE when set), not expired and already valid (LEEWAY_SECONDS either way)."""
    from joserfc import jws, jwt
    from joserfc.errors import (
        BadSignatureError,
        ExpiredTokenError,
        InvalidClaimError,
        JoseError,
        MissingClaimError,
    )

    settings = get_settings()
    if len(token) > MAX_TOKEN_LENGTH:
        raise RoleTokenRefused("the token is too long", reason="malformed")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise RoleTokenRefused("the token is not a signed JWT", reason="malformed") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise RoleTokenRefused(f"tokens signed with {algorithm!r} are not accepted", reason="algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise RoleTokenRefused("the token names no signing key (kid)", reason="unknown_key")
    key = _key(settings.role_jwks_url, kid)
    if key is None:
        raise RoleTokenRefused("the token's signing key is not one of the site's", reason="unknown_key")
    if key.key_type != KEY_TYPES[algorithm] or key.get("alg", algorithm) != algorithm:
        raise RoleTokenRefused(f"the key {kid} does not sign {algorithm}", reason="algorithm")
    try:
        decoded = jwt.decode(token, key, algorithms=[algorithm])
    except BadSignatureError:
        raise RoleTokenRefused("the token's signature does not verify", reason="signature") from None
    except (JoseError, ValueError):
        raise RoleTokenRefused("the token cannot be read", reason="malformed") from None
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": settings.role_issuer},
        "exp": {"essential": True},
    }
    if settings.role_audience:
        options["aud"] = {"essential": True, "value": settings.role_audience}
    registry = jwt.JWTClaimsRegistry(now=int(now.timestamp()), leeway=LEEWAY_SECONDS, **options)
    try:
        registry.validate(decoded.claims)
    except ExpiredTokenError:
        raise RoleTokenRefused("the token has expired; sign in again", reason="expired") from None
    except MissingClaimError as exc:
        raise RoleTokenRefused(f"the token lacks {exc.claim}", reason="claims") from None
    except InvalidClaimError as exc:
        what = {"iss": "the token is from another issuer", "aud": "the token is for another audience"}
        message = what.get(exc.claim, f"the token's {exc.claim} is not valid (e.g. not valid yet)")
        raise RoleTokenRefused(message, reason="claims") from None
    return decoded.claims


def _key(url: str, kid: str) -> Any:
    """The site's key `kid`: from the cache while fresh; fetched again when stale, or when unknown and the last
    fetch is older than REFETCH_FLOOR_SECONDS."""
    with _lock:
        cached = _cache.get(url)
        age = time.monotonic() - cached.fetched_at if cached else JWKS_TTL_SECONDS + 1.0
        if cached is None or age > JWKS_TTL_SECONDS or (kid not in cached.kids and age > REFETCH_FLOOR_SECONDS):
            try:
                cached = _fetch(url)
            except RoleKeysUnavailable:
                if cached is None:
                    raise
                # The site is down: its last keys still verify; ask it again after the floor, not on every booking.
                logger.warning("the site's sign-in keys could not be fetched again; using the cached ones")
                cached.fetched_at = time.monotonic() - JWKS_TTL_SECONDS + REFETCH_FLOOR_SECONDS
            _cache[url] = cached
    return cached.keys.get_by_kid(kid) if kid in cached.kids else None


def _fetch(url: str) -> _CachedKeys:
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        response = requests.get(url, timeout=JWKS_TIMEOUT_SECONDS, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise RoleKeysUnavailable("The site's sign-in keys cannot be read right now; please try again.") from exc
    # Public signing keys of the accepted types only: an "oct" (HMAC) key in the set would let anyone holding the
    # published set forge tokens, and a private key has no place in it (kept, as its public half, when present).
    usable = [
        {name: value for name, value in entry.items() if name not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
        for entry in (document.get("keys") if isinstance(document, dict) else None) or []
        if isinstance(entry, dict)
        and entry.get("kty") in KEY_TYPES.values()
        and entry.get("use", "sig") == "sig"
        and isinstance(entry.get("kid"), str)
    ]
    try:
        keys = KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # a malformed key: the site's document to fix
        raise RoleKeysUnavailable("The site's sign-in keys are not a valid JWKS.") from exc
    return _CachedKeys(keys=keys, kids=frozenset(str(key.kid) for key in keys), fetched_at=time.monotonic())


def forget_keys() -> None:
    """Drop the cached keys (tests; a container otherwise keeps them JWKS_TTL_SECONDS)."""
    with _lock:
        _cache.clear()
