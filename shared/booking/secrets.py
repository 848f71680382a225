"""Provider keys: Secrets Manager in AWS (one JSON secret, cached), environment variables locally.

The secret named by APP_SECRETS_NAME holds {"stripe_secret_key", "stripe_webhook_secret", "cal_api_key",
"cal_webhook_secret", "admin_api_token"}. An environment variable of the upper-case name (STRIPE_SECRET_KEY,
...) wins: that is how the local runner and the tests pass keys; the template never sets them.

The secret is read through Powertools Parameters (cached for SECRET_CACHE_SECONDS), on a client of the
container's shared botocore session (booking.aws) so no second session parses botocore's models.
"""

from __future__ import annotations

import hmac
import os
from functools import cache
from typing import Any, Literal

from booking.aws import client
from booking.settings import get_settings

SecretName = Literal[
    "stripe_secret_key",
    "stripe_webhook_secret",
    "cal_api_key",
    "cal_webhook_secret",
    "admin_api_token",
]
SECRET_CACHE_SECONDS = 300


class MissingSecret(RuntimeError):
    pass


def provider_secret(name: SecretName) -> str:
    from_env = os.environ.get(name.upper())
    if from_env:
        return from_env
    secrets_name = get_settings().app_secrets_name
    if not secrets_name:
        raise MissingSecret(f"{name} is not configured: set APP_SECRETS_NAME (or {name.upper()} locally)")
    value = _secret(secrets_name).get(name)
    if not value:
        raise MissingSecret(f"{name} is missing from secret {secrets_name}")
    return str(value)


@cache
def _provider() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))


def _secret(secrets_name: str) -> dict[str, Any]:
    values = _provider().get(secrets_name, transform="json", max_age=SECRET_CACHE_SECONDS)
    return values if isinstance(values, dict) else {}


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a credential or signature from a request with ours, as bytes: a header may
    hold any characters (HTTP APIs deliver them decoded), and `hmac.compare_digest` refuses non-ASCII `str`."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))
