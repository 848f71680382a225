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
        marker = {
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
        items = [marker, *(_add(partition, day, delta[(partition, day)], table) for partition, day in part)]
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
