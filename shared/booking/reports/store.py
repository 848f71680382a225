"""The report aggregates' items, and the only code of booking.reports that talks to DynamoDB.

| item    | pk                                     | sk               | attributes                                |
|---------|----------------------------------------|------------------|-------------------------------------------|
| day     | REPORT#{service_id}, REPORT#:webhooks  | DAY#{yyyy-mm-dd} | a number per counter (ADD only)           |
| applied | STREAM#{stream eventID}[#{part}]       | STREAM           | the record was applied (TTL 2 days)       |

Counter names are data (a status, a currency, a histogram bucket), so these items go through the low-level client
(PynamoDB models declare their attributes). A record's marker and its ADDs are one transaction: the marker's
`attribute_not_exists` makes a redelivered record change nothing. Lambda keeps a stream record at most 24 h, so a
marker kept two days outlives every redelivery.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from booking.aws import client
from booking.reports.contribution import Contribution
from booking.settings import get_settings

MARKER_TTL = timedelta(days=2)
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


def _day_key(partition: str, day: date) -> dict[str, Any]:
    return {"pk": {"S": partition}, "sk": {"S": f"DAY#{day.isoformat()}"}}


def _add(partition: str, day: date, counters: Counter[str], table: str) -> dict[str, Any]:
    names = sorted(counters)
    return {
        "Update": {
            "TableName": table,
            "Key": _day_key(partition, day),
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(names))),
            "ExpressionAttributeNames": {f"#c{i}": name for i, name in enumerate(names)},
            "ExpressionAttributeValues": {f":c{i}": {"N": str(counters[name])} for i, name in enumerate(names)},
        }
    }


def _marker(marker_id: str, now: datetime, table: str) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "pk": {"S": f"STREAM#{marker_id}"},
                "sk": {"S": "STREAM"},
                "expires_ttl": {"N": str(int((now + MARKER_TTL).timestamp()))},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def fits_together(deltas: list[Contribution]) -> bool:
    """Whether these records' markers and their days' ADDs (one per day) fit in one transaction."""
    return len(deltas) + len({key for delta in deltas for key in delta}) <= MAX_TRANSACTION_ITEMS


def apply_together(records: list[tuple[str, Contribution]], now: datetime) -> int:
    """Apply several records' deltas in one transaction: each record's marker, and one ADD per day with their sum
    (a transaction may not touch an item twice). If any was applied before (a redelivery), each is applied on its
    own instead, and the ones applied before change nothing. Returns how many were applied now."""
    if len(records) == 1:
        return int(apply_once(*records[0], now))
    table = get_settings().table_name
    total: dict[tuple[str, date], Counter[str]] = {}
    for _, delta in records:
        for key, counters in delta.items():
            total.setdefault(key, Counter()).update(counters)
    items = [
        *(_marker(record_id, now, table) for record_id, _ in records),
        *(_add(partition, day, counters, table) for (partition, day), counters in sorted(total.items()) if counters),
    ]
    dynamodb = client("dynamodb")
    try:
        dynamodb.transact_write_items(TransactItems=items)
    except dynamodb.exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons", [])
        if not any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons[: len(records)]):
            raise  # a conflict or a throttle: the stream retries from the first of these records
        return sum(apply_once(record_id, delta, now) for record_id, delta in records)
    return len(records)


def apply_once(record_id: str, delta: Contribution, now: datetime) -> bool:
    """Add `delta` to its days once for this stream record. False: it was applied before (a redelivery).

    A change touching more days than one transaction holds is split in parts, each with its own marker (the split
    is the same on every delivery: days in order), so each part is applied once."""
    table = get_settings().table_name
    days = sorted(delta)
    per_part = MAX_TRANSACTION_ITEMS - 1
    parts = [days[start : start + per_part] for start in range(0, len(days), per_part)]
    applied = False
    for number, part in enumerate(parts):
        marker_id = record_id if len(parts) == 1 else f"{record_id}#{number}"
        items = [
            _marker(marker_id, now, table),
            *(_add(partition, day, delta[(partition, day)], table) for partition, day in part),
        ]
        dynamodb = client("dynamodb")
        try:
            dynamodb.transact_write_items(TransactItems=items)
            applied = True
        except dynamodb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if not reasons or reasons[0].get("Code") != "ConditionalCheckFailed":
                raise  # a conflict or a throttle: the stream retries the record
    return applied


def days(partition: str, first: date, last: date) -> dict[date, Counter[str]]:
    """The counters of each day of [first, last] that has any: one Query (pages only past 1 MB: years of days)."""
    found: dict[date, Counter[str]] = {}
    request: dict[str, Any] = {
        "TableName": get_settings().table_name,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
        "ExpressionAttributeValues": {
            ":pk": {"S": partition},
            ":first": {"S": f"DAY#{first.isoformat()}"},
            ":last": {"S": f"DAY#{last.isoformat()}"},
        },
    }
    while True:
        answer = client("dynamodb").query(**request)
        for item in answer.get("Items", []):
            day = date.fromisoformat(item["sk"]["S"].removeprefix("DAY#"))
            found[day] = Counter(
                {name: int(value["N"]) for name, value in item.items() if name not in ("pk", "sk") and "N" in value}
            )
        if "LastEvaluatedKey" not in answer:
            return found
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
