"""Test harness: AWS in moto (in-process), Stripe and Cal.com as HTTP doubles on loopback, handlers loaded
from template.yaml and invoked with API Gateway HTTP API v2 events, exactly as the local runner does.
"""

from __future__ import annotations

import os

# Configuration is read once per container, as in Lambda: set it before any product module is imported.
os.environ.update(
    {
        "TABLE_NAME": "booking-deposits-test",
        "STAGE": "test",
        "SITE_BASE_URL": "https://site.example",
        "STRIPE_SECRET_KEY": "sk_test_suite",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_suite",
        "STRIPE_WEBHOOK_SECRET": "whsec_suite",
        "CAL_API_KEY": "cal_test_suite",
        "CAL_WEBHOOK_SECRET": "cal_whsec_suite",
        "LINK_SIGNING_KEY": "link_signing_key_suite",
        "POWERTOOLS_SERVICE_NAME": "booking-deposits",
        "POWERTOOLS_METRICS_NAMESPACE": "BookingDepositsTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "STRIPE_MAX_NETWORK_RETRIES": "1",
        "CAL_TIMEOUT_SECONDS": "0.5",
        "CONFIRM_DEADLINE_SECONDS": "3",
        "OWNER_ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:owner-alerts-test",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("LOCAL_CLOCK_OFFSET_SECONDS", None)

from collections.abc import Iterator

import boto3
import pytest
import stripe
from moto import mock_aws

from local.aws import create_app_tables, fake_credentials, serialize_dynamodb
from local.cal_double import CalDouble, CalEventType
from local.lambda_runtime import LocalLambda
from local.stripe_double import StripeDouble
from tests.iam_recorder import AccessRecorder
from tests.support import DEV_SIGNER, ApiClient

fake_credentials()
# The SDK waits at least 0.5 s between retries; the doubles answer instantly, so keep the suite fast.
stripe._http_client.HTTPClient.INITIAL_DELAY = 0.01
stripe._http_client.HTTPClient.MAX_DELAY = 0.02


@pytest.fixture(scope="session")
def stripe_double() -> Iterator[StripeDouble]:
    from booking.clock import now

    double = StripeDouble(clock=now, deliver_webhooks=False)
    os.environ["STRIPE_API_BASE"] = double.start()
    yield double
    double.stop()


@pytest.fixture(scope="session")
def cal_double() -> Iterator[CalDouble]:
    from booking.clock import now
    from booking.domain.catalog import get_catalog

    catalog = get_catalog()
    # A service taking several clients per slot is a seated Cal.com event type with one seat per client.
    event_types = {
        s.cal_event_type_id: CalEventType(
            id=s.cal_event_type_id,
            slug=s.id,
            title=s.name,
            length_minutes=s.duration_minutes,
            seats_per_time_slot=s.capacity if s.capacity > 1 else None,
            before_event_buffer=s.buffer_before_minutes,  # set on the event type in Cal.com too (README)
            after_event_buffer=s.buffer_after_minutes,
        )
        for s in catalog.services
    }
    double = CalDouble(event_types, catalog.business.time_zone, clock=now, strict_contract=True, send_webhooks=False)
    os.environ["CAL_API_BASE"] = double.start()
    yield double
    double.stop()


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    with mock_aws():
        serialize_dynamodb()
        yield


@pytest.fixture(scope="session")
def access_recorder() -> AccessRecorder:
    """What each function does to AWS, against what the template grants it (tests/iam_recorder.py)."""
    recorder = AccessRecorder()
    recorder.install()
    return recorder


@pytest.fixture(scope="session")
def lam(aws: None, stripe_double: StripeDouble, cal_double: CalDouble, access_recorder: AccessRecorder) -> LocalLambda:
    from booking.settings import get_settings

    get_settings.cache_clear()  # the doubles' URLs are known only now
    # The gateway checks tokens against the suite's in-memory dev key (tests.support.owner_headers signs them).
    return LocalLambda(user_pool=DEV_SIGNER.pool)


def reset_world(stripe_double: StripeDouble, cal_double: CalDouble) -> None:
    """An empty table and doubles with no history (also between hypothesis examples)."""
    client = boto3.client("dynamodb")
    table = os.environ["TABLE_NAME"]
    if table in client.list_tables()["TableNames"]:
        client.delete_table(TableName=table)
    create_app_tables(table)
    sns = boto3.client("sns")
    for topic in sns.list_topics()["Topics"]:
        sns.delete_topic(TopicArn=topic["TopicArn"])
    sns.create_topic(Name="owner-alerts-test")
    stripe_double.reset()
    cal_double.reset()


@pytest.fixture(autouse=True)
def fresh_world(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with an empty table and doubles with no history, and leaves no contract violation and
    no use of an AWS permission the template does not grant the function that used it."""
    if "lam" not in request.fixturenames and "api" not in request.fixturenames:
        yield
        return
    stripe_double: StripeDouble = request.getfixturevalue("stripe_double")
    cal_double: CalDouble = request.getfixturevalue("cal_double")
    request.getfixturevalue("lam")
    recorder: AccessRecorder = request.getfixturevalue("access_recorder")
    reset_world(stripe_double, cal_double)
    recorder.take_violations()
    yield
    violations = cal_double.contract_violations
    assert not violations, f"requests to Cal.com broke its OpenAPI contract: {violations}"
    ungranted = recorder.take_violations()
    assert not ungranted, "functions used AWS permissions template.yaml does not grant:\n" + "\n".join(ungranted)


@pytest.fixture
def api(lam: LocalLambda) -> ApiClient:
    return ApiClient(lam)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """Move the product's clock (and the doubles') forward: clock.advance(minutes=16)."""
    from tests.support import Clock

    return Clock(monkeypatch)
