"""DynamoDB Streams for the local runner and the tests: read the table's stream (moto keeps it) and hand its
records to a function as Lambda's event source mapping would: `{"Records": [...]}` with eventSource
"aws:dynamodb", the template's FilterCriteria applied (only the sort keys it names).

In AWS the mapping polls the stream; here `StreamPump.records()` reads everything new since its last call, and
`EventSourceMapping.poll()` (the runner calls it every half second) delivers it to the function with the
template's batch size and retries. botocore resolves the streams endpoint from the stream ARN's account
(`{account}.streams-ddb...`), which moto does not route, so the client is given the endpoint moto serves.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import boto3

from local.template import load_template


def _endpoint(region: str) -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or f"https://streams.dynamodb.{region}.amazonaws.com"


def stream_filters(logical_id: str) -> list[dict[str, Any]]:
    """The FilterCriteria patterns of the function's DynamoDB event (JSON patterns, as the template has them)."""
    events = load_template()["Resources"][logical_id]["Properties"].get("Events", {})
    patterns: list[dict[str, Any]] = []
    for event in events.values():
        if event.get("Type") == "DynamoDB":
            for entry in event["Properties"].get("FilterCriteria", {}).get("Filters", []):
                patterns.append(json.loads(entry["Pattern"]))
    return patterns


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event-filtering subset the template uses: nested objects, lists of exact values and of prefixes
    (`{"prefix": "SEAT#"}`)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(sub, value.get(key)) for key, sub in pattern.items())
    if isinstance(pattern, list):
        return any(
            isinstance(value, str) and value.startswith(option["prefix"])
            if isinstance(option, dict) and set(option) == {"prefix"}
            else value == option
            for option in pattern
        )
    return bool(pattern == value)


class StreamPump:
    """The table's stream, read from where the last `pump()` stopped (a fresh table has a fresh stream)."""

    def __init__(self, table_name: str, logical_id: str = "NotificationsFunction") -> None:
        self.table_name = table_name
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.filters = stream_filters(logical_id)
        self._stream_arn: str | None = None
        self._shard = ""
        self._last_sequence: str | None = None
        # Clients of a session of its own, made once: the runner polls from its own thread, and boto3's default
        # session is not safe to make clients from in two threads at once.
        session = boto3.session.Session(region_name=self.region)
        self._dynamodb = session.client("dynamodb")
        self._streams = session.client("dynamodbstreams", endpoint_url=_endpoint(self.region))

    def records(self) -> list[dict[str, Any]]:
        """Every record written since the last call (the whole stream the first time), filtered."""
        arn = self._dynamodb.describe_table(TableName=self.table_name)["Table"].get("LatestStreamArn")
        if not arn:
            return []
        streams = self._streams
        if arn != self._stream_arn:  # the table was made again (the tests do, per test): start at its beginning
            self._shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            self._stream_arn, self._last_sequence = arn, None
        # A fresh iterator after the last record read, each time: moto replaces a table's shard object when it
        # rolls back a failed transaction, and an iterator kept across calls would read the old one for ever (in
        # DynamoDB an iterator also expires after 15 minutes).
        position: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._last_sequence}
            if self._last_sequence
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=self._shard, **position)["ShardIterator"]
        found: list[dict[str, Any]] = []
        while True:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            iterator = answer["NextShardIterator"]
            found.extend(answer["Records"])
            if len(answer["Records"]) < 1000:
                break
        if found:
            self._last_sequence = found[-1]["dynamodb"]["SequenceNumber"]
        return [
            record | {"eventSourceARN": arn}
            for record in found
            if not self.filters or any(matches(pattern, record) for pattern in self.filters)
        ]

    def events(self, batch_size: int = 50) -> list[dict[str, Any]]:
        """The new records as Lambda events of at most `batch_size` records each."""
        found = self.records()
        return [{"Records": found[start : start + batch_size]} for start in range(0, len(found), batch_size)]


def stream_functions() -> dict[str, dict[str, Any]]:
    """The functions with a DynamoDB event in the template, and that event's properties."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event.get("Type") == "DynamoDB":
                found[logical_id] = dict(event["Properties"])
    return found


class EventSourceMapping:
    """Lambda's DynamoDB event source mapping of one function, as the template configures it: batches of BatchSize;
    a batch whose invocation fails is retried, from its first failed record when the function reports
    `batchItemFailures` (ReportBatchItemFailures), until MaximumRetryAttempts, then set aside in `dead_letters`
    (the template's OnFailure queue). Records are delivered in order: nothing after a failing batch goes first.

    Not emulated: BisectBatchOnFunctionError (a failing batch is retried whole) and the batching window.
    """

    def __init__(
        self, table_name: str, logical_id: str, invoke: Callable[[str, dict[str, Any]], Any], *, say: Any = None
    ) -> None:
        properties = stream_functions()[logical_id]
        self.logical_id = logical_id
        self.batch_size = int(properties.get("BatchSize", 100))
        self.max_retries = int(properties.get("MaximumRetryAttempts", -1))  # -1: until the record expires
        self.pump = StreamPump(table_name, logical_id)
        self.dead_letters: list[dict[str, Any]] = []
        self.delivered = 0
        self._invoke = invoke
        self._pending: list[dict[str, Any]] = []
        self._retries = 0
        self._lock = threading.Lock()
        self._log = say or logging.getLogger("local")

    def poll(self) -> int:
        """Read what is new and deliver everything pending, batch after batch; stops at a failing batch (retried at
        the next poll). Returns the number of records delivered. One poll at a time (the runner's thread, or a
        request that wants the stream caught up first)."""
        with self._lock:
            self._pending.extend(self.pump.records())
            delivered = 0
            while self._pending:
                batch = self._pending[: self.batch_size]
                done = self._deliver(batch)
                if done == 0:
                    break
                del self._pending[:done]
                delivered += done
            self.delivered += delivered
            return delivered

    def _deliver(self, batch: list[dict[str, Any]]) -> int:
        """How many records of the batch are done with (processed, or given up on); 0: retry it at the next poll."""
        try:
            result = self._invoke(self.logical_id, {"Records": batch})
        except Exception as exc:
            return self._failed(batch, f"{type(exc).__name__}: {exc}", exc)
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            self._retries = 0
            return len(batch)
        numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        failed = {str(item.get("itemIdentifier")) for item in failures}
        # Lambda retries from the first failed record; an identifier that is not in the batch fails all of it.
        first = 0 if failed - set(numbers) else min(numbers.index(number) for number in failed)
        if first:
            self._retries = 0  # the records before it are done; the rest is a new batch with its own retries
            return first
        return self._failed(batch, f"{len(failed)} record(s) reported failed", None)

    def _failed(self, batch: list[dict[str, Any]], reason: str, exc: Exception | None) -> int:
        self._retries += 1
        if 0 <= self.max_retries < self._retries:
            self._log.error(
                "%s: %d stream record(s) failed %d times (%s); set aside, as the OnFailure queue would",
                self.logical_id,
                len(batch),
                self._retries,
                reason,
            )
            self.dead_letters.append({"function": self.logical_id, "reason": reason, "records": batch})
            self._retries = 0
            return len(batch)
        if self._retries == 1:  # the trace once; its retries in one line each
            self._log.error(
                "%s failed on %d stream record(s), retrying: %s", self.logical_id, len(batch), reason, exc_info=exc
            )
        else:
            self._log.warning(
                "%s: retry %d failed (%d record(s)): %s", self.logical_id, self._retries - 1, len(batch), reason
            )
        return 0
