"""The owner's alerts as items: what was sent to the owner's topic, kept where the dashboard can list it.

| item  | pk                      | sk    | indexes                                 |
|-------|-------------------------|-------|-----------------------------------------|
| alert | ALERT#{sha256(cause)}   | ALERT | Attention (partition "ALERT", by time) |

One item per cause (a flag raised on a booking, an orphan PaymentIntent, a webhook set aside): a conditional put, so a
cause retried by Stripe or the cleanup job is recorded and sent once. The item rides the AttentionIndex in its own
"ALERT" partition (bookings with open flags are in "OPEN"), so listing the newest alerts is one Query of a small
partition and needs no index of its own. Items expire after ALERT_TTL (DynamoDB's TTL deletes them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from booking import cursors
from booking.dal.items import TableMeta
from booking.digests import digest

ALERTS_PARTITION = "ALERT"  # the AttentionIndex partition of alerts (bookings with open flags: "OPEN")
ALERT_TTL = timedelta(days=90)


class AlertIndex(GlobalSecondaryIndex["AlertItem"]):
    """The table's AttentionIndex as seen from alert items: partition "ALERT", ordered by when raised."""

    class Meta:
        index_name = "AttentionIndex"
        projection = AllProjection()

    attention = UnicodeAttribute(hash_key=True)
    attention_since = UTCDateTimeAttribute(range_key=True)


class AlertItem(Model):
    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ALERT#{sha256(cause)}
    sk = UnicodeAttribute(range_key=True, default="ALERT")
    cause = UnicodeAttribute()
    code = UnicodeAttribute()
    subject = UnicodeAttribute()
    message = UnicodeAttribute()
    booking_id = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    amount = NumberAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    attention = UnicodeAttribute(default=ALERTS_PARTITION)
    attention_since = UTCDateTimeAttribute()  # when it was raised
    alert_index = AlertIndex()
    expires_ttl = TTLAttribute()


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str = Field(description="Stable id of the alert (a digest of its cause)")
    cause: str = Field(description="What it is about, e.g. `orphan_payment:pi_...` or `flag:bk_...:disputed:{when}`")
    code: str = Field(description="The case: a flag code, `orphan_payment`, `webhook_set_aside`, ...")
    subject: str
    message: str
    booking_id: str | None = None
    payment_intent_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    at: datetime


class AlertPage(BaseModel):
    alerts: list[Alert]
    resume: dict[str, Any] | None


def alert_pk(cause: str) -> str:
    return f"ALERT#{digest(cause)}"


def record(alert: Alert) -> bool:
    """Store the alert once per cause; False when its cause was recorded already (nothing written)."""
    item = AlertItem(
        pk=alert_pk(alert.cause),
        cause=alert.cause,
        code=alert.code,
        subject=alert.subject,
        message=alert.message,
        booking_id=alert.booking_id,
        payment_intent_id=alert.payment_intent_id,
        amount=alert.amount,
        currency=alert.currency,
        attention_since=alert.at,
        expires_ttl=alert.at + ALERT_TTL,
    )
    try:
        item.save(condition=AlertItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def to_alert(item: AlertItem) -> Alert:
    return Alert(
        alert_id=item.pk.removeprefix("ALERT#"),
        cause=item.cause,
        code=item.code,
        subject=item.subject,
        message=item.message,
        booking_id=item.booking_id,
        payment_intent_id=item.payment_intent_id,
        amount=int(item.amount) if item.amount is not None else None,
        currency=item.currency,
        at=item.attention_since,
    )


def newest(limit: int, resume: dict[str, Any] | None = None) -> AlertPage:
    """The newest alerts first, a page at a time (`resume`: the previous page's)."""
    query = AlertItem.alert_index.query(
        # One more than a page: when DynamoDB had only `limit` left, there is no resume key (no empty last page)
        ALERTS_PARTITION,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=resume,
        page_size=limit + 1,
    )
    alerts = [to_alert(item) for item in query]
    return AlertPage(alerts=alerts, resume=query.last_evaluated_key)


def encode_resume(key: dict[str, Any]) -> str:
    """The index's resume key as an opaque cursor: its three attributes (pk, sk, attention_since)."""
    return cursors.encode("|".join([key["pk"]["S"], key["attention_since"]["S"]]))


def decode_resume(cursor: str) -> dict[str, Any]:
    """The resume key of `encode_resume`; ValueError when it is not one."""
    raw = cursors.decode(cursor)
    pk, _, since = raw.partition("|")
    if not pk.startswith("ALERT#") or len(pk) != len("ALERT#") + 64 or not since:
        raise ValueError("not an alert cursor")
    UTCDateTimeAttribute().deserialize(since)  # raises ValueError when it is not one of ours
    return {
        "pk": {"S": pk},
        "sk": {"S": "ALERT"},
        "attention": {"S": ALERTS_PARTITION},
        "attention_since": {"S": since},
    }


def get(pk: str) -> Alert | None:
    """One alert by its item key (ALERT#...): the notifier reads what it emails the owner."""
    try:
        return to_alert(AlertItem.get(pk, "ALERT", consistent_read=True))
    except AlertItem.DoesNotExist:
        return None
