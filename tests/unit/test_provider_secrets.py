"""Provider keys in AWS: each read from its own Secrets Manager secret (moto here), named by NAME_ARN in the
function's environment, and kept for five minutes. (Replaces test_secrets.py's single shared secret.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import boto3
import pytest

from booking import secrets
from booking.settings import get_settings


@pytest.fixture
def stripe_key_secret(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The Stripe key's secret like the template's, named by STRIPE_SECRET_KEY_ARN, no key in the environment."""
    client = boto3.client("secretsmanager")
    name = f"booking-deposits/test-{uuid.uuid4().hex[:8]}/stripe-secret-key"
    arn = client.create_secret(Name=name, SecretString=json.dumps({"stripe_secret_key": "sk_test_from_the_secret"}))
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.setenv("STRIPE_SECRET_KEY_ARN", arn["ARN"])
    get_settings.cache_clear()
    yield arn["ARN"]
    get_settings.cache_clear()  # the environment is restored after this fixture: read it again


def test_a_key_comes_from_its_own_secret_and_is_kept_for_the_cache_period(stripe_key_secret: str) -> None:
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_from_the_secret"
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stripe_key_secret, SecretString=json.dumps({"stripe_secret_key": "sk_test_rotated"})
    )
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_from_the_secret"
    secrets._provider().clear_cache()
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_rotated"


def test_a_function_not_told_a_keys_secret_cannot_read_it(
    stripe_key_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function told only the Stripe key's secret (as the template tells the catalog only Cal.com's)
    monkeypatch.delenv("CAL_API_KEY", raising=False)
    monkeypatch.delenv("CAL_API_KEY_ARN", raising=False)
    # Then another key is a configuration error naming the variable, never a read of someone else's secret
    with pytest.raises(secrets.MissingSecret, match="set CAL_API_KEY_ARN"):
        secrets.provider_secret("cal_api_key")


def test_an_unfilled_secret_is_a_configuration_error(stripe_key_secret: str) -> None:
    # The stack creates each secret with only a generated placeholder until the owner puts the key
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stripe_key_secret, SecretString=json.dumps({"stripe_secret_key": "", "placeholder": "x"})
    )
    secrets._provider().clear_cache()
    with pytest.raises(secrets.MissingSecret, match="stripe_secret_key is missing"):
        secrets.provider_secret("stripe_secret_key")


def test_the_environment_wins_over_the_secret(stripe_key_secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_local")
    assert secrets.provider_secret("stripe_secret_key") == "sk_test_local"
