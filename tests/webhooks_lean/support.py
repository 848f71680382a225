"""What the lean-webhook tests observe: the product's DynamoDB requests (PynamoDB's dispatch), its Stripe
requests, and the webhook inbox's items."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.integration.helpers import scan_table


@contextmanager
def dynamodb_requests(patched: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts every DynamoDB request the product makes inside the block, by operation (GetItem, UpdateItem, ...):
    at botocore's level, so a request made with botocore directly (an update returning the item a failed condition
    found, dal/bookings._update_returning) is counted too."""
    from botocore.client import BaseClient

    real = BaseClient._make_api_call
    seen: Counter[str] = Counter()

    def call(client: BaseClient, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            seen[operation_name] += 1
        return real(client, operation_name, operation_kwargs)

    with patched.context() as scoped:
        scoped.setattr(BaseClient, "_make_api_call", call)
        yield seen


def failing_dynamodb(patched: pytest.MonkeyPatch, fails: Callable[[str, dict[str, Any]], bool]) -> None:
    """DynamoDB answers an internal error to the product's requests for which fails(operation, kwargs) holds."""
    from botocore.exceptions import ClientError
    from pynamodb.connection.base import Connection

    real = Connection.dispatch

    def dispatch(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> dict[str, Any]:
        if fails(operation_name, operation_kwargs):
            error = {"Error": {"Code": "InternalServerError", "Message": "test fault"}}
            raise ClientError(error, operation_name)  # type: ignore[arg-type]
        return real(self, operation_name, operation_kwargs)

    patched.setattr(Connection, "dispatch", dispatch)


def stripe_posts(patched: pytest.MonkeyPatch) -> list[str]:
    """The paths of the product's POSTs to the Stripe double from now on (refunds, reversals, transfers, ...)."""
    base = os.environ["STRIPE_API_BASE"]
    real = requests.Session.request
    posts: list[str] = []

    def request(self: requests.Session, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if str(url).startswith(base) and method.upper() == "POST":
            posts.append(urlsplit(str(url)).path)
        return real(self, method, url, *args, **kwargs)

    patched.setattr(requests.Session, "request", request)
    return posts


def inbox_items() -> list[dict[str, Any]]:
    """The webhook inbox's items (DynamoDB JSON)."""
    return [item for item in scan_table() if item["pk"]["S"].startswith("EVENT#")]
