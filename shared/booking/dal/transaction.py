"""A DynamoDB transaction whose cancellation says which of our writes failed its condition.

DynamoDB reports one reason per item in the order the items were sent; PynamoDB sends condition checks,
then deletes, then puts, then updates, whatever order they were added in. We record a label per write in
that same order so the caller gets names back, not positions.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from booking.dal.items import TableMeta


class TransactionCancelled(Exception):
    """`failed`: labels whose condition did not hold. `conflicted`: labels another transaction was writing.
    `items`: the items as they were, of the failed writes that asked for them (`put(..., return_old=True)`)."""

    def __init__(
        self,
        failed: set[str],
        conflicted: set[str],
        cause: TransactWriteError,
        items: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"transaction cancelled: conditions {sorted(failed)}, conflicts {sorted(conflicted)}")
        self.failed = failed
        self.conflicted = conflicted
        self.cause = cause
        self.items = items or {}


_connection: Connection | None = None


def _get_connection() -> Connection:
    global _connection  # one connection per container, like PynamoDB's own per-model connections
    if _connection is None:
        _connection = Connection(
            region=TableMeta.region,
            connect_timeout_seconds=TableMeta.connect_timeout_seconds,
            read_timeout_seconds=TableMeta.read_timeout_seconds,
            max_retry_attempts=TableMeta.max_retry_attempts,
        )
    return _connection


class Transaction:
    def __init__(self) -> None:
        self._ops: dict[str, list[tuple[str, Any]]] = {"check": [], "delete": [], "put": [], "update": []}

    def put(self, label: str, item: Model, condition: Condition | None = None, *, return_old: bool = False) -> None:
        """`return_old`: a failed condition returns the item as it is (ALL_OLD), in TransactionCancelled.items."""
        self._ops["put"].append((label, (item, condition, "ALL_OLD" if return_old else None)))

    def update(self, label: str, item: Model, actions: list[Action], condition: Condition | None = None) -> None:
        self._ops["update"].append((label, (item, actions, condition)))

    def delete(self, label: str, item: Model, condition: Condition | None = None) -> None:
        self._ops["delete"].append((label, (item, condition)))

    def check(self, label: str, model: type[Model], hash_key: str, range_key: str, condition: Condition) -> None:
        """A condition on an item the transaction does not write (ConditionCheck: it may not exist at all)."""
        self._ops["check"].append((label, (model, hash_key, range_key, condition)))

    def commit(self) -> None:
        labels = [label for kind in ("check", "delete", "put", "update") for label, _ in self._ops[kind]]
        try:
            with TransactWrite(connection=_get_connection()) as tx:
                for _, (model, hash_key, range_key, condition) in self._ops["check"]:
                    tx.condition_check(model, hash_key, range_key, condition)
                for _, (item, condition, return_values) in self._ops["put"]:
                    tx.save(item, condition=condition, return_values=return_values)
                for _, (item, actions, condition) in self._ops["update"]:
                    tx.update(item, actions=actions, condition=condition)
                for _, (item, condition) in self._ops["delete"]:
                    tx.delete(item, condition=condition)
        except TransactWriteError as exc:
            if exc.cause_response_code != "TransactionCanceledException":
                raise
            codes = {
                label: reason.code for label, reason in zip(labels, exc.cancellation_reasons, strict=False) if reason
            }
            failed = {label for label, code in codes.items() if code == "ConditionalCheckFailed"}
            conflicted = {label for label, code in codes.items() if code == "TransactionConflict"}
            items = {
                label: reason.raw_item
                for label, reason in zip(labels, exc.cancellation_reasons, strict=False)
                if reason and reason.raw_item
            }
            raise TransactionCancelled(failed, conflicted, exc, items) from exc
