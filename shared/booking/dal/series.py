"""A recurring series (issue 14, bullet 4): the SERIES item and the one transaction that holds every occurrence.

| item   | pk                  | sk     | indexes |
|--------|---------------------|--------|---------|
| series | SERIES#{series_id}  | SERIES | -       |

The item lists the occurrences (booking id, number, start, share of the series' one PaymentIntent). It is written
in the same transaction as the occurrences' bookings and seats, so a series never exists half held, and it is what
the ledger of one occurrence reads to count only its share of the series charge (`money/ledger.py`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from booking.dal import blocks
from booking.dal import bookings as store
from booking.dal.items import BookingItem, TableMeta
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.domain.models import Booking

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit on the items of one TransactWriteItems


class OccurrenceMap(MapAttribute):
    booking_id = UnicodeAttribute()
    occurrence = NumberAttribute()
    start = UTCDateTimeAttribute()
    share = NumberAttribute()


class SeriesItem(Model):
    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    service_id = UnicodeAttribute()
    payment = UnicodeAttribute()
    every_weeks = NumberAttribute()
    currency = UnicodeAttribute()
    amount_due_now = NumberAttribute()
    occurrences = ListAttribute(of=OccurrenceMap)
    payment_intent_id = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


class Occurrence(BaseModel):
    model_config = ConfigDict(frozen=True)

    booking_id: str
    occurrence: int  # 1 = the first
    start: datetime
    share: int  # this occurrence's part of the series PaymentIntent (its amount_due_now)


class Series(BaseModel):
    model_config = ConfigDict(frozen=True)

    series_id: str
    service_id: str
    payment: Literal["per_occurrence", "series"]
    every_weeks: int
    currency: str
    amount_due_now: int  # the series PaymentIntent's amount: the sum of the shares
    occurrences: list[Occurrence]  # in occurrence order
    payment_intent_id: str | None = None
    customer_id: str | None = None
    created_at: datetime

    @property
    def first_booking_id(self) -> str:
        return self.occurrences[0].booking_id


class SeatsTaken(Exception):
    """Some occurrences' seats were taken meanwhile (their numbers)."""

    def __init__(self, occurrences: set[int]) -> None:
        super().__init__(f"seats taken for occurrences {sorted(occurrences)}")
        self.occurrences = occurrences


def series_pk(series_id: str) -> str:
    return f"SERIES#{series_id}"


def transaction_items(count: int, seats_each: int, *, idempotency: bool) -> int:
    """Items of the series' hold's one transaction: each booking, its seats and its date's block check, the series,
    the claim."""
    return count * (2 + seats_each) + 1 + (1 if idempotency else 0)


def get(series_id: str) -> Series | None:
    try:
        item = SeriesItem.get(series_pk(series_id), "SERIES", consistent_read=True)
    except DoesNotExist:
        return None
    return Series(
        series_id=series_id,
        service_id=item.service_id,
        payment=item.payment,  # type: ignore[arg-type]
        every_weeks=int(item.every_weeks),
        currency=item.currency,
        amount_due_now=int(item.amount_due_now),
        occurrences=sorted(
            (
                Occurrence(booking_id=o.booking_id, occurrence=int(o.occurrence), start=o.start, share=int(o.share))
                for o in item.occurrences
            ),
            key=lambda o: o.occurrence,
        ),
        payment_intent_id=item.payment_intent_id,
        customer_id=item.customer_id,
        created_at=item.created_at,
    )


def bookings_of(series: Series) -> list[Booking]:
    """The occurrences' bookings as they are now (one consistent read each), in occurrence order."""
    return [b for b in (store.get_booking(o.booking_id) for o in series.occurrences) if b is not None]


def create_held_series(
    series: Series,
    bookings: list[Booking],
    *,
    idempotency: tuple[str, str, str] | None,
    now: datetime,
    days: list[date] | None = None,
) -> None:
    """Write the series, every occurrence's booking and all their seats in ONE transaction (all or nothing); with a
    client key, claim it (for the first occurrence) in the same one; `days` (the occurrences' business dates) each
    checked not blocked in it. Raises SeatsTaken naming the occurrences whose seats are not free,
    store.DateBlocked, or store.IdempotencyKeyClaimed."""
    tx = Transaction()
    for day in days or []:
        blocks.check_open(tx, day, label=f"blocked:{day.isoformat()}")
    tx.put(
        "series",
        SeriesItem(
            series_pk(series.series_id),
            "SERIES",
            service_id=series.service_id,
            payment=series.payment,
            every_weeks=series.every_weeks,
            currency=series.currency,
            amount_due_now=series.amount_due_now,
            occurrences=[OccurrenceMap(**o.model_dump()) for o in series.occurrences],
            created_at=now,
        ),
        SeriesItem.pk.does_not_exist(),
    )
    for booking in bookings:
        reason = f"slot held for payment (occurrence {booking.occurrence} of series {booking.series_id})"
        item = store.new_booking_item(booking, now, reason=reason)
        tx.put(f"booking:{booking.occurrence}", item, BookingItem.pk.does_not_exist())
        store.put_seats(tx, booking, now, prefix=f"seat:{booking.occurrence}:")
    if idempotency:
        store.put_claim(tx, idempotency, series.first_booking_id, now)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "idempotency" in exc.failed and idempotency:
            claimed = store.idempotent_booking(idempotency[0], idempotency[1])
            if claimed:
                raise store.IdempotencyKeyClaimed(claimed[0]) from exc
        if any(label.startswith("blocked:") for label in exc.failed | exc.conflicted):
            raise store.DateBlocked from exc
        taken = {int(label.split(":")[1]) for label in exc.failed | exc.conflicted if label.startswith("seat:")}
        if taken:
            raise SeatsTaken(taken) from exc
        raise store.StaleBooking(series.first_booking_id) from exc


def attach_payment(series: Series, payment_intent_id: str, customer_id: str | None, status: str) -> None:
    """Record the series' one PaymentIntent on the series and on every occurrence, in one transaction (each never
    points at two different ones)."""
    tx = Transaction()
    same = SeriesItem.payment_intent_id.does_not_exist() | (SeriesItem.payment_intent_id == payment_intent_id)
    series_ref = SeriesItem(series_pk(series.series_id), "SERIES")
    tx.update(
        "series",
        series_ref,
        [SeriesItem.payment_intent_id.set(payment_intent_id), *_customer(SeriesItem.customer_id, customer_id)],
        SeriesItem.pk.exists() & same,
    )
    for occurrence in series.occurrences:
        tx.update(
            f"booking:{occurrence.occurrence}",
            BookingItem(store.booking_pk(occurrence.booking_id), "BOOKING"),
            [
                BookingItem.payment_intent_id.set(payment_intent_id),
                BookingItem.payment_status.set(status),
                *_customer(BookingItem.customer_id, customer_id),
            ],
            BookingItem.pk.exists()
            & (BookingItem.payment_intent_id.does_not_exist() | (BookingItem.payment_intent_id == payment_intent_id)),
        )
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise store.StaleBooking(series.first_booking_id) from exc


def _customer(attribute: UnicodeAttribute, customer_id: str | None) -> list:  # type: ignore[type-arg]
    return [attribute.set(customer_id)] if customer_id else []
