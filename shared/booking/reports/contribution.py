"""What one booking, or one webhook event, contributes to the daily report counters: a pure function of its item.

A changed item moves the aggregates by `contribution(new) - contribution(old)` (booking.reports.stream), so every
counter is a sum over the items as they are now, whatever order the changes came in. Each fact lands on its own day
in the business's time zone:

- the booking's created day: one hold; converted when it was ever paid (or kept its slot without paying: free,
  package credit); the first payment's outcome (succeeded, or failed with the error Stripe gave);
- each payment's own day: the money collected (the first payment as a deposit or a full payment, each balance and
  fee after it as its purpose says) and a later payment's outcome;
- each refund's own day: the money refunded (a refund Stripe reported failed counts nothing);
- the slot's day: the booking by its status now, a late cancellation, the balance still outstanding.

Payment outcomes are what the booking records: its last word on each payment (a client whose card was declined and
who then paid with another card counts one succeeded payment), see docs/decisions.md.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import SLOT_KEEPING, BookingStatus
from booking.domain.models import Booking

# Counter names (attributes of a day's item). Money counters carry the currency: f"{name}#{currency}".
HOLDS = "holds"
HOLDS_PAID = "holds_paid"
PAYMENTS_OK = "payments_ok"
PAYMENTS_FAILED = "payments_failed"
LATE_CANCELLATIONS = "late_cancellations"
STATUS = "status#"  # + BookingStatus
DEPOSITS, FULL_PAYMENTS, BALANCES, FEES = "deposits", "full_payments", "balances", "fees"
REFUNDED, OUTSTANDING = "refunded", "outstanding"
MONEY = (DEPOSITS, FULL_PAYMENTS, BALANCES, FEES, REFUNDED, OUTSTANDING)
WEBHOOKS = "webhooks"
WEBHOOK_BUCKET = "webhook_ms#"  # + the bucket's upper bound in milliseconds

# Processing time (received -> processed) of the webhook events whose handling failed on delivery and a retry
# finished (the inbox keeps only those; an event handled on delivery writes nothing to count, its time is the
# WebhookProcessingMs metric): upper bounds in ms. The 5 s target is a bound, so "p95 within 5 s" is read exactly;
# between bounds a percentile is known to its bucket (reported as the upper bound).
WEBHOOK_BOUNDS_MS = (100, 250, 500, 1000, 2000, 3000, 5000, 10000, 30000, 60000, 300000, 3600000)

WEBHOOKS_PARTITION = "REPORT#:webhooks"  # not a service id (ids are slugs): the business-wide webhook figures
BALANCE_OUTSTANDING = frozenset({BookingStatus.PAID, BookingStatus.CONFIRMED, BookingStatus.COMPLETED})
FEE_PURPOSES = frozenset({"late_cancel_fee", "no_show_fee", "reschedule_fee"})

Day = tuple[str, date]  # (partition key, the business's day)
Contribution = dict[Day, Counter[str]]


def business_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(get_catalog().business.time_zone)).date()


def report_partition(service_id: str) -> str:
    return f"REPORT#{service_id}"


def money(name: str, currency: str) -> str:
    return f"{name}#{currency}"


def of_booking(booking: Booking) -> Contribution:
    found: Contribution = {}
    partition = report_partition(booking.service_id)

    def add(moment: datetime, name: str, value: int = 1) -> None:
        if value:
            found.setdefault((partition, business_day(moment)), Counter())[name] += value

    created, slot = booking.created_at, booking.slot_start
    add(created, HOLDS)
    if booking.paid_at is not None or booking.status in SLOT_KEEPING:
        add(created, HOLDS_PAID)
    if booking.payment_intent_id and not booking.nothing_to_pay:
        if booking.paid_at is not None:
            add(created, PAYMENTS_OK)
        elif booking.payment_error:
            add(created, PAYMENTS_FAILED)

    later_paid = [p for p in booking.payments if p.status == "succeeded"]
    first = booking.amount_paid - sum(p.amount for p in later_paid)
    if first > 0:
        name = DEPOSITS if booking.payment_type == "deposit" else FULL_PAYMENTS
        add(booking.paid_at or created, money(name, booking.currency), first)
    for payment in booking.payments:
        if payment.status == "succeeded":
            name = BALANCES if payment.purpose == "balance" else FEES
            add(payment.at, money(name, booking.currency), payment.amount)
        if payment.method != "offline":
            if payment.status == "succeeded":
                add(payment.at, PAYMENTS_OK)
            elif payment.error:
                add(payment.at, PAYMENTS_FAILED)
    for refund in booking.refunds:
        if refund.refund_id not in booking.failed_refund_ids:
            add(refund.at, money(REFUNDED, booking.currency), refund.amount)

    add(slot, STATUS + booking.status.value)
    if is_late_cancellation(booking):
        add(slot, LATE_CANCELLATIONS)
    if booking.status in BALANCE_OUTSTANDING and booking.balance_due > 0:
        add(slot, money(OUTSTANDING, booking.currency), booking.balance_due)
    return found


def is_late_cancellation(booking: Booking) -> bool:
    """Cancelled by the client (or by the owner pricing it as the client's) inside the service's fee window."""
    if booking.status != BookingStatus.CANCELLED or booking.cancelled_at is None or booking.cancel_refund == "none":
        return False
    by_business = booking.cancel_refund == "full" or (
        booking.cancel_refund is None and booking.cancelled_by == "business"
    )
    if by_business:
        return False
    policy = get_catalog().service(booking.service_id).cancellation
    hours_ahead = (booking.start_for_policy - booking.cancelled_at).total_seconds() / 3600
    return hours_ahead < policy.free_until_hours


def of_webhook(received_at: datetime, processed_at: datetime | None) -> Contribution:
    """A kept webhook event (its handling failed on delivery) once a retry processed it: one more on its received
    day, in its processing time's bucket."""
    if processed_at is None:
        return {}
    elapsed_ms = max((processed_at - received_at).total_seconds() * 1000, 0)
    bound = next((b for b in WEBHOOK_BOUNDS_MS if elapsed_ms <= b), WEBHOOK_BOUNDS_MS[-1])
    counters = Counter({WEBHOOKS: 1, f"{WEBHOOK_BUCKET}{bound}": 1})
    return {(WEBHOOKS_PARTITION, business_day(received_at)): counters}


def difference(new: Contribution, old: Contribution) -> Contribution:
    """new - old, per day and counter, without the zeros (a change that moves no figure writes nothing)."""
    found: Contribution = {}
    for day in new.keys() | old.keys():
        delta = Counter(new.get(day, Counter()))
        delta.subtract(old.get(day, Counter()))
        nonzero = Counter({name: value for name, value in delta.items() if value})
        if nonzero:
            found[day] = nonzero
    return found
