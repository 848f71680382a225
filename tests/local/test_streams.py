"""The runner's DynamoDB event source mapping: the template's batch size and retries, as Lambda applies them."""

from __future__ import annotations

from typing import Any

import pytest

from local.streams import EventSourceMapping, stream_functions


class Stream:
    """A stream that has `written` new records at the next read, then none."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    def records(self) -> list[dict[str, Any]]:
        new, self.written = self.written, []
        return new


def record(number: int) -> dict[str, Any]:
    return {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": f"{number:021d}", "Keys": {"sk": {"S": "BOOKING"}}}}


@pytest.fixture
def stream() -> Stream:
    return Stream()


def mapping_over(stream: Stream, invoke: Any) -> EventSourceMapping:
    mapping = EventSourceMapping("table", "NotificationsFunction", invoke)
    mapping.pump = stream  # type: ignore[assignment]
    return mapping


def test_records_are_delivered_in_batches_of_the_templates_size_in_order(stream: Stream) -> None:
    batches: list[list[str]] = []
    mapping = mapping_over(
        stream, lambda _, event: batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
    )
    size = int(stream_functions()["NotificationsFunction"]["BatchSize"])
    stream.written = [record(n) for n in range(size + 3)]

    assert mapping.poll() == size + 3
    assert [len(batch) for batch in batches] == [size, 3]
    assert [number for batch in batches for number in batch] == [f"{n:021d}" for n in range(size + 3)]


def test_a_failing_batch_is_retried_at_the_next_poll_and_nothing_after_it_goes_first(stream: Stream) -> None:
    calls: list[int] = []

    def invoke(_: str, event: dict[str, Any]) -> None:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("DynamoDB throttled")

    mapping = mapping_over(stream, invoke)
    stream.written = [record(1), record(2)]
    assert mapping.poll() == 0  # failed: kept
    stream.written = [record(3)]
    assert mapping.poll() == 3  # retried with what came since, in order
    assert calls == [2, 3] and mapping.dead_letters == []


def test_reported_item_failures_retry_from_the_first_failed_record(stream: Stream) -> None:
    seen: list[list[str]] = []

    def invoke(_: str, event: dict[str, Any]) -> dict[str, Any]:
        numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        seen.append(numbers)
        return {"batchItemFailures": [{"itemIdentifier": numbers[1]}]} if len(seen) == 1 else {"batchItemFailures": []}

    mapping = mapping_over(stream, invoke)
    stream.written = [record(1), record(2), record(3)]
    assert mapping.poll() == 3
    assert seen == [[f"{n:021d}" for n in (1, 2, 3)], [f"{n:021d}" for n in (2, 3)]]


def test_a_batch_failing_past_the_templates_retries_is_set_aside(stream: Stream) -> None:
    def invoke(_: str, event: dict[str, Any]) -> None:
        raise RuntimeError("bug")

    mapping = mapping_over(stream, invoke)
    retries = int(stream_functions()["NotificationsFunction"]["MaximumRetryAttempts"])
    stream.written = [record(1)]
    delivered = [mapping.poll() for _ in range(retries + 1)]

    assert delivered == [0] * retries + [1]
    [letter] = mapping.dead_letters
    assert letter["records"] == [record(1)] and "RuntimeError: bug" in letter["reason"]
