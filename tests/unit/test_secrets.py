"""Provider keys in AWS: read from the stack's Secrets Manager secret (moto here), kept for five minutes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import boto3
import pytest

from booking import secrets
from booking.settings import get_settings


@pytest.fixture
def app_secret(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A secret like the template's, named by APP_SECRETS_NAME, with no key in the environment."""
    client = boto3.client("secretsmanager")
    name = f"booking-deposits/test-{uuid.uuid4().hex[:8]}"
    client.create_secret(Name=name, SecretString=json.dumps({"stripe_secret_key": "sk_test_from_the_secret"}))
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.setenv("APP_SECRETS_NAME", name)
    get_settings.cache_clear()
    yield name
    get_settings.cache_clear()  # the environment is restored after this fixture: read it again


def test_a_key_comes_from_the_secret_and_is_kept_for_the_cache_period(
    app_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the key in the secret
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_from_the_secret"

    # When the secret changes, the container keeps the key it read (Powertools' cache, five minutes) ...
    boto3.client("secretsmanager").put_secret_value(
        SecretId=app_secret, SecretString=json.dumps({"stripe_secret_key": "sk_test_rotated"})
    )
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_from_the_secret"
    # ... and reads the new one once the cache is gone (a new container, or after SECRET_CACHE_SECONDS)
    secrets._provider().clear_cache()
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_rotated"


def test_a_key_missing_from_the_secret_is_a_configuration_error(
    app_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAL_API_KEY", raising=False)
    with pytest.raises(secrets.MissingSecret, match="cal_api_key is missing"):
        secrets.provider_secret("cal_api_key")


def test_the_environment_wins_over_the_secret(app_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_local")
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_local"
