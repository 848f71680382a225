"""The product's AWS clients (DynamoDB through PynamoDB, Secrets Manager, SNS) all come from one botocore session.

A botocore session loads and parses the endpoint rules and each service's model once. PynamoDB opens a new
session for every connection (one per model class, plus the transactions'), and boto3 and Powertools'
parameters one more each, so a cold start parsed the same JSON up to six times: 50-140 ms per client on the
benchmark machine, against a few ms for every client after the first of a shared session
(bench/cold_start.py). botocore sessions are not thread-safe for making clients, so there is one per thread:
Lambda runs one thread per execution environment, the local runner one per container.

PynamoDB also makes a client per connection, so each model class had its own HTTP connection pool: a first
event touching three model classes opened three TLS connections to DynamoDB, each loading the CA bundle
(~16 ms) and shaking hands. Connections asking for the same client (service, region, endpoint, options) share
one here: one TLS connection to DynamoDB per container.
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


class _SharedClients:
    """The thread's session as PynamoDB sees it: connections with the same settings get the same client."""

    def __init__(self, real: botocore.session.Session) -> None:
        self._real = real
        self._clients: dict[str, Any] = {}

    def create_client(
        self, service_name: str, region_name: str | None = None, endpoint_url: str | None = None, **options: Any
    ) -> Any:
        config = options.get("config")
        settings = getattr(config, "_user_provided_options", None) if config is not None else None
        key = repr((service_name, region_name, endpoint_url, sorted(options), sorted((settings or {}).items())))
        found = self._clients.get(key)
        # PynamoDB asks again when a client has no credentials (botocore caches empty ones): make a new one then.
        signer = getattr(found, "_request_signer", None)
        if found is None or (signer is not None and not signer._credentials):
            found = self._clients[key] = self._real.create_client(
                service_name, region_name=region_name, endpoint_url=endpoint_url, **options
            )
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _pynamodb_session() -> _SharedClients:
    found: _SharedClients | None = getattr(_local, "pynamodb_session", None)
    if found is None:
        found = _local.pynamodb_session = _SharedClients(session())
    return found


def share_session_with_pynamodb() -> None:
    """PynamoDB calls botocore's get_session() for each connection it opens: make that the thread's session, whose
    clients its connections share."""
    pynamodb_connection.get_session = _pynamodb_session
