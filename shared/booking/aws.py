"""The product's AWS clients (DynamoDB through PynamoDB, Secrets Manager, SNS) all come from one botocore session.

A botocore session loads and parses the endpoint rules and each service's model once. PynamoDB opens a new
session for every connection (one per model class, plus the transactions'), and boto3 and Powertools'
parameters one more each, so a cold start parsed the same JSON up to six times: 50-140 ms per client on the
benchmark machine, against a few ms for every client after the first of a shared session
(bench/cold_start.py). botocore sessions are not thread-safe for making clients, so there is one per thread:
Lambda runs one thread per execution environment, the local runner one per container.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import botocore.session
from pynamodb.connection import base as pynamodb_connection

_local = threading.local()


def session() -> botocore.session.Session:
    found: botocore.session.Session | None = getattr(_local, "session", None)
    if found is None:
        found = _local.session = botocore.session.get_session()
    return found


@cache
def client(service: str) -> Any:
    """The container's client of an AWS service (clients are thread-safe; the region is Lambda's AWS_REGION)."""
    return session().create_client(service)


def share_session_with_pynamodb() -> None:
    """PynamoDB calls botocore's get_session() for each connection it opens: make that the thread's session."""
    pynamodb_connection.get_session = session
