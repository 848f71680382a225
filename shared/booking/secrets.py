"""Provider keys: Secrets Manager in AWS (one secret per key, cached), environment variables locally.

Each key has its own secret, and a function is told (and allowed by IAM) only the secrets it needs: the
environment variable NAME_ARN (STRIPE_SECRET_KEY_ARN, CAL_WEBHOOK_SECRET_ARN, ...) names the secret of key
`name`, a JSON object `{name: value}`. A function whose environment has no NAME_ARN cannot read that key, and
its role could not either (README, Permissions). An environment variable of the upper-case name itself
(STRIPE_SECRET_KEY, ...) wins: that is how the local runner and the tests pass keys; the template never sets them.

A secret is read with one GetSecretValue on a client of the container's shared botocore session (booking.aws)
and kept for SECRET_CACHE_SECONDS, what Powertools Parameters' SecretsProvider did: it cost ~28 ms more on a
first event (it imports boto3 and its own provider machinery; bench/cold_start.py --imports).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from functools import cache
from typing import Any, Literal

from booking.aws import client
from booking.settings import get_settings

SecretName = Literal[
    "stripe_secret_key", "stripe_webhook_secret", "cal_api_key", "cal_webhook_secret", "link_signing_key"
]
SECRET_CACHE_SECONDS = 300


class MissingSecret(RuntimeError):
    pass


def provider_secret(name: SecretName) -> str:
    from_env = os.environ.get(name.upper())
    if from_env:
        return from_env
    secret_id = getattr(get_settings(), f"{name}_arn")
    if not secret_id:
        raise MissingSecret(
            f"{name} is not configured for this function: set {name.upper()}_ARN (or {name.upper()} locally)"
        )
    value = _secret(secret_id).get(name)
    if not value:
        raise MissingSecret(f"{name} is missing from secret {secret_id}")
    return str(value)


class _SecretCache:
    """Each secret's JSON object, read once per SECRET_CACHE_SECONDS (per container)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> dict[str, Any]:
        with self._lock:
            found = self._values.get(secret_id)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        answer = client("secretsmanager").get_secret_value(SecretId=secret_id)
        try:
            values = json.loads(answer.get("SecretString") or "{}")
        except ValueError:
            values = {}
        values = values if isinstance(values, dict) else {}
        with self._lock:
            self._values[secret_id] = (time.monotonic() + SECRET_CACHE_SECONDS, values)
        return values

    def clear_cache(self) -> None:
        with self._lock:
            self._values.clear()


@cache
def _provider() -> _SecretCache:
    return _SecretCache()


def _secret(secret_id: str) -> dict[str, Any]:
    return _provider().get(secret_id)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a credential or signature from a request with ours, as bytes: a header may
    hold any characters (HTTP APIs deliver them decoded), and `hmac.compare_digest` refuses non-ASCII `str`."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def link_token(message: str) -> str:
    """The token of a client's link (manage, pay): HMAC-SHA256 of `message` under the link signing key, URL-safe
    base64. Derived, never stored (only its hash is), so any function allowed to read the key names the same link:
    the page that confirms a booking and the email about it agree."""
    mac = hmac.new(provider_secret("link_signing_key").encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
