"""The clients' link tokens (manage, pay): derived from a message under the link signing key, which in AWS comes from
its own generated secret (template: LinkSigningKeySecret) and locally from LINK_SIGNING_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator

import boto3
import pytest

from booking import secrets
from booking.settings import get_settings


@pytest.fixture
def generated_key_secret(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The secret as CloudFormation generates it ({"link_signing_key": 48 characters}), named by its _ARN variable."""
    client = boto3.client("secretsmanager")
    name = f"booking-deposits/test-{uuid.uuid4().hex[:8]}/link-signing-key"
    arn = client.create_secret(Name=name, SecretString=json.dumps({"link_signing_key": "k" * 48}))["ARN"]
    monkeypatch.delenv("LINK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("LINK_SIGNING_KEY_ARN", arn)
    get_settings.cache_clear()
    yield arn
    secrets._provider().clear_cache()
    get_settings.cache_clear()


def test_a_token_is_the_hmac_of_its_message_under_the_key(generated_key_secret: str) -> None:
    expected = hmac.new(b"k" * 48, b"manage-link:b1:0", hashlib.sha256).digest()
    token = secrets.link_token("manage-link:b1:0")
    assert token == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert len(token) == 43 and "=" not in token  # 256 bits, URL-safe, as the API's LinkToken takes it


def test_the_same_message_gives_the_same_token_and_any_change_another(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINK_SIGNING_KEY", "one key")
    first = secrets.link_token("pay-link:pi_1")
    assert secrets.link_token("pay-link:pi_1") == first
    assert secrets.link_token("pay-link:pi_2") != first
    assert secrets.link_token("manage-link:pi_1:0") != first
    monkeypatch.setenv("LINK_SIGNING_KEY", "another key")
    assert secrets.link_token("pay-link:pi_1") != first


def test_a_function_not_told_the_key_cannot_name_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINK_SIGNING_KEY", raising=False)
    monkeypatch.delenv("LINK_SIGNING_KEY_ARN", raising=False)
    get_settings.cache_clear()  # the suite's environment names no secret: these settings are the same after it
    with pytest.raises(secrets.MissingSecret, match="set LINK_SIGNING_KEY_ARN"):
        secrets.link_token("manage-link:b1:0")
