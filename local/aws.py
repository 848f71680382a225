"""AWS for the local runner and the tests: DynamoDB in moto, made to behave like the real service under load.

moto's DynamoDB applies a transaction by snapshotting the table and restoring the snapshot when a condition
fails, and checks conditions before writing without a lock. Under concurrent requests that loses writes and
lets two conditional writes both succeed, which real DynamoDB never does (single-item writes are
linearizable, transactions serializable). One lock around each DynamoDB request restores that contract, so
our races (20 clients on one slot) test our conditions, not moto's threading.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import threading
from typing import Any

import boto3

from local.template import create_tables

_dynamodb_lock = threading.RLock()
_patched = False


def serialize_dynamodb() -> None:
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _dynamodb_lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _share_stream_records_in_snapshots()
    _patched = True


def _share_stream_records_in_snapshots() -> None:
    """moto snapshots the whole table (a deep copy) before every transaction, to restore it if one fails, and the
    table's stream is part of it: with a few thousand stream records (a runner up for a while) that copy made each
    transaction ~8x slower. A stream record never changes once written, so the snapshot's stream keeps the same
    records in a list of its own: a restore still drops what the failed transaction appended."""
    from moto.dynamodb.models.table import StreamShard

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone.table = memo.get(id(self.table), self.table)
        clone.items = list(self.items)
        return clone

    StreamShard.__deepcopy__ = __deepcopy__  # type: ignore[attr-defined]


def fake_credentials(region: str = "us-east-1") -> None:
    """Credentials moto accepts and real AWS never would, so nothing local can reach an account."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }
    )


def start_moto_server(host: str = "127.0.0.1", port: int = 0) -> tuple[Any, str]:
    """moto in server mode on loopback; AWS_ENDPOINT_URL points every boto3/PynamoDB client at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    serialize_dynamodb()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url = f"http://{bound_host}:{bound_port}"
    os.environ["AWS_ENDPOINT_URL"] = url
    return server, url


def create_app_tables(table_name: str) -> None:
    client = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION", "us-east-1"))
    create_tables(client, {"BookingsTable": table_name})


def create_alerts_topic(name: str) -> str:
    """The owner's alert topic (in moto); its ARN is what OWNER_ALERTS_TOPIC_ARN names."""
    return boto3.client("sns", region_name=os.environ.get("AWS_REGION", "us-east-1")).create_topic(Name=name)[
        "TopicArn"
    ]


def published_alerts(topic_arn: str) -> list[dict[str, str]]:
    """What was published to the topic, oldest first (moto keeps it; nothing is e-mailed)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    region = topic_arn.split(":")[3]
    topic = sns_backends[DEFAULT_ACCOUNT_ID][region].topics[topic_arn]
    return [{"subject": subject or "", "message": message} for _, message, subject, *_ in topic.sent_notifications]


def verify_email_identity(address: str) -> None:
    """Verify the From address in moto's SES (SES refuses to send from an unverified identity, and so does moto)."""
    boto3.client("sesv2", region_name=os.environ.get("AWS_REGION", "us-east-1")).create_email_identity(
        EmailIdentity=address
    )
