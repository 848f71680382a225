"""Provider keys: Secrets Manager in AWS (one secret per key, cached), environment variables locally.

Each key has its own secret, and a function is told (and allowed by IAM) only the secrets it needs: the
environment variable NAME_ARN (STRIPE_SECRET_KEY_ARN, CAL_WEBHOOK_SECRET_ARN, ...) names the secret of key
`name`, a JSON object `{name: value}`. A function whose environment has no NAME_ARN cannot read that key, and
its role could not either (README, Permissions). An environment variable of the upper-case name itself
(STRIPE_SECRET_KEY, ...) wins: that is how the local runner and the tests pass keys; the template never sets them.

A secret is read through Powertools Parameters (cached for SECRET_CACHE_SECONDS), on a client of the
container's shared botocore session (booking.aws) so no second session parses botocore's models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
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


@cache
def _provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))


def _secret(secret_id: str) -> dict[str, Any]:
    values = _provider().get(secret_id, transform="json", max_age=SECRET_CACHE_SECONDS)
    return values if isinstance(values, dict) else {}


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
