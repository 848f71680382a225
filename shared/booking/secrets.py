"""Provider keys: Secrets Manager in AWS (one JSON secret, cached), environment variables locally.

The secret named by APP_SECRETS_NAME holds {"stripe_secret_key", "stripe_webhook_secret", "cal_api_key",
"cal_webhook_secret", "admin_api_token"}. An environment variable of the upper-case name (STRIPE_SECRET_KEY,
...) wins: that is how the local runner and the tests pass keys; the template never sets them.
"""

from __future__ import annotations

import os
from typing import Literal

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
    from aws_lambda_powertools.utilities import parameters

    values = parameters.get_secret(secrets_name, transform="json", max_age=SECRET_CACHE_SECONDS)
    value = values.get(name) if isinstance(values, dict) else None
    if not value:
        raise MissingSecret(f"{name} is missing from secret {secrets_name}")
    return str(value)
