"""GET /admin/reports: per service and per day or ISO week, the figures the daily aggregates hold, with the rates
computed from the sums (a rate of rates would weigh a quiet day like a busy one).

Cost: one Query per service (and one for the webhook figures) over the range's day items, whatever the number of
bookings. Money is in the currency's minor unit, per currency.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from booking.clock import now as clock_now
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.errors import InvalidRequest, UnknownService
from booking.reports import contribution as c
from booking.reports import store

MAX_DAYS = 366  # the longest range one request may ask for (from and to included)
DEFAULT_DAYS = 30
Group = Literal["day", "week"]

TARGET_REFUND_RATE = 0.05  # seed 004: refund rate under 5%
TARGET_PAYMENT_SUCCESS = 0.99  # ... payment success over 99%
TARGET_WEBHOOK_P95_MS = 5000  # ... webhooks processed within 5 s


class Targets(BaseModel):
    refund_rate: float = Field(default=TARGET_REFUND_RATE, description="Refund rate to stay under")
    payment_success_rate: float = Field(default=TARGET_PAYMENT_SUCCESS, description="Payment success to stay over")
    webhook_p95_ms: int = Field(default=TARGET_WEBHOOK_P95_MS, description="Webhook processing p95 to stay under")


class MoneyFigures(BaseModel):
    currency: str
    deposits: int = Field(description="Deposits collected (the first payment of a deposit booking)")
    full_payments: int = Field(description="Full prices paid up front")
    balances: int = Field(description="Balances collected after the deposit")
    fees: int = Field(description="Late-cancellation, no-show and reschedule fees collected")
    collected: int = Field(description="All of the above")
    refunded: int = Field(description="Refunds made in the period (a refund Stripe reported failed counts nothing)")
    refund_rate: float | None = Field(description="refunded / collected in the period (None when nothing collected)")
    balance_outstanding: int = Field(
        description="Balances still to collect on the period's appointments (paid, confirmed, completed)"
    )


class PeriodFigures(BaseModel):
    period: str = Field(description="The day (yyyy-mm-dd) or the ISO week (yyyy-Www)")
    start: date = Field(description="First day of the period inside the range")
    end: date = Field(description="Last day of the period inside the range")
    bookings: int = Field(description="Bookings whose appointment is in the period (any status)")
    by_status: dict[str, int] = Field(description="Those bookings by their status now")
    no_shows: int
    late_cancellations: int = Field(description="Cancelled by the client inside the service's fee window")
    holds: int = Field(description="Bookings made (held) in the period")
    holds_paid: int = Field(description="Of those, how many were paid (or kept their slot with nothing to pay)")
    conversion_rate: float | None = Field(description="holds_paid / holds")
    payments_succeeded: int
    payments_failed: int
    payment_failure_rate: float | None = Field(description="failed / (succeeded + failed)")
    money: list[MoneyFigures] = Field(description="Per currency, the currencies with any figure")


class WebhookFigures(BaseModel):
    period: str
    start: date
    end: date
    processed: int = Field(
        description="Webhook events (Stripe and Cal.com) received in the period whose handling failed on delivery and "
        "that a retry processed later (events handled on delivery are not stored: their processing time is the "
        "WebhookProcessingMs metric)"
    )
    p50_ms: int | None = Field(
        description="Median time of those events from the first delivery to the retry that processed them, to its "
        "bucket's bound"
    )
    p95_ms: int | None = Field(description="95th percentile of the same, to its bucket's bound")


class ServiceReport(BaseModel):
    service_id: str = Field(description="A catalog service id, or `all` for every service together")
    name: str
    periods: list[PeriodFigures]
    totals: PeriodFigures


class Report(BaseModel):
    from_date: date = Field(alias="from", serialization_alias="from")
    to_date: date = Field(alias="to", serialization_alias="to")
    group: Group
    time_zone: str = Field(description="The business's time zone: the days are its days")
    webhook_buckets_ms: list[int] = Field(description="Upper bounds of the processing-time buckets (resolution)")
    targets: Targets
    services: list[ServiceReport] = Field(description="Each service asked for, then `all` (their sum)")
    webhooks: list[WebhookFigures]
    webhooks_total: WebhookFigures

    model_config = {"populate_by_name": True}


def _parse_day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"`{field}` is not a date.", fields={field: "a date, yyyy-mm-dd"}) from exc


def date_range(start_from: str | None, start_to: str | None) -> tuple[date, date]:
    """The range's first and last days (included); without them, the last 30 days up to today (business time)."""
    first, last = _parse_day(start_from, "from"), _parse_day(start_to, "to")
    if last is None:
        last = c.business_day(clock_now()) if first is None else first + timedelta(days=DEFAULT_DAYS - 1)
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise InvalidRequest("The range ends before it starts.", fields={"to": "on or after from"})
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidRequest(
            f"The range is longer than {MAX_DAYS} days.", fields={"to": f"at most {MAX_DAYS} days from `from`"}
        )
    return first, last


def _periods(first: date, last: date, group: Group) -> list[tuple[str, date, date]]:
    if group == "day":
        return [(d.isoformat(), d, d) for d in (first + timedelta(days=i) for i in range((last - first).days + 1))]
    found: list[tuple[str, date, date]] = []
    monday = first - timedelta(days=first.weekday())
    while monday <= last:
        year, week, _ = monday.isocalendar()
        found.append((f"{year}-W{week:02d}", max(monday, first), min(monday + timedelta(days=6), last)))
        monday += timedelta(days=7)
    return found


def _sum(days: dict[date, Counter[str]], start: date, end: date) -> Counter[str]:
    total: Counter[str] = Counter()
    for day, counters in days.items():
        if start <= day <= end:
            total.update(counters)
    return total


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(period: str, start: date, end: date, counters: Counter[str]) -> PeriodFigures:
    by_status = {
        status.value: counters[c.STATUS + status.value] for status in BookingStatus if counters[c.STATUS + status.value]
    }
    currencies = sorted({name.split("#", 1)[1] for name in counters if name.split("#", 1)[0] in c.MONEY})
    money = []
    for currency in currencies:
        amount = {name: counters[c.money(name, currency)] for name in c.MONEY}
        collected = amount[c.DEPOSITS] + amount[c.FULL_PAYMENTS] + amount[c.BALANCES] + amount[c.FEES]
        money.append(
            MoneyFigures(
                currency=currency,
                deposits=amount[c.DEPOSITS],
                full_payments=amount[c.FULL_PAYMENTS],
                balances=amount[c.BALANCES],
                fees=amount[c.FEES],
                collected=collected,
                refunded=amount[c.REFUNDED],
                refund_rate=_rate(amount[c.REFUNDED], collected),
                balance_outstanding=amount[c.OUTSTANDING],
            )
        )
    ok, failed = counters[c.PAYMENTS_OK], counters[c.PAYMENTS_FAILED]
    return PeriodFigures(
        period=period,
        start=start,
        end=end,
        bookings=sum(by_status.values()),
        by_status=by_status,
        no_shows=by_status.get(BookingStatus.NO_SHOW.value, 0),
        late_cancellations=counters[c.LATE_CANCELLATIONS],
        holds=counters[c.HOLDS],
        holds_paid=counters[c.HOLDS_PAID],
        conversion_rate=_rate(counters[c.HOLDS_PAID], counters[c.HOLDS]),
        payments_succeeded=ok,
        payments_failed=failed,
        payment_failure_rate=_rate(failed, ok + failed),
        money=money,
    )


def percentile_ms(counters: Counter[str], share: float) -> int | None:
    """The bucket bound under which `share` of the period's webhooks were processed."""
    total = counters[c.WEBHOOKS]
    if not total:
        return None
    seen = 0
    for bound in c.WEBHOOK_BOUNDS_MS:
        seen += counters[f"{c.WEBHOOK_BUCKET}{bound}"]
        if seen >= share * total:
            return bound
    return c.WEBHOOK_BOUNDS_MS[-1]


def _webhooks(period: str, start: date, end: date, counters: Counter[str]) -> WebhookFigures:
    return WebhookFigures(
        period=period,
        start=start,
        end=end,
        processed=counters[c.WEBHOOKS],
        p50_ms=percentile_ms(counters, 0.5),
        p95_ms=percentile_ms(counters, 0.95),
    )


def report(start_from: str | None, start_to: str | None, service_id: str | None, group: Group) -> Report:
    first, last = date_range(start_from, start_to)
    catalog = get_catalog()
    if service_id is not None and service_id not in {s.id for s in catalog.services}:
        raise UnknownService(service_id)
    services = [s for s in catalog.services if service_id is None or s.id == service_id]
    periods = _periods(first, last, group)
    everything: dict[date, Counter[str]] = {}
    reports = []
    for service in services:
        days = store.days(c.report_partition(service.id), first, last)
        for day, counters in days.items():
            everything.setdefault(day, Counter()).update(counters)
        reports.append(_service_report(service.id, service.name, days, periods, first, last))
    reports.append(_service_report("all", "All services", everything, periods, first, last))
    hooks = store.days(c.WEBHOOKS_PARTITION, first, last)
    return Report(
        from_date=first,
        to_date=last,
        group=group,
        time_zone=catalog.business.time_zone,
        webhook_buckets_ms=list(c.WEBHOOK_BOUNDS_MS),
        targets=Targets(),
        services=reports,
        webhooks=[_webhooks(name, start, end, _sum(hooks, start, end)) for name, start, end in periods],
        webhooks_total=_webhooks("total", first, last, _sum(hooks, first, last)),
    )


def _service_report(
    service_id: str,
    name: str,
    days: dict[date, Counter[str]],
    periods: list[tuple[str, date, date]],
    first: date,
    last: date,
) -> ServiceReport:
    return ServiceReport(
        service_id=service_id,
        name=name,
        periods=[_figures(period, start, end, _sum(days, start, end)) for period, start, end in periods],
        totals=_figures("total", first, last, _sum(days, first, last)),
    )


COUNT_COLUMNS = (
    "bookings",
    *(f"status_{status.value.lower()}" for status in BookingStatus),
    "no_shows",
    "late_cancellations",
    "holds",
    "holds_paid",
    "conversion_rate",
    "payments_succeeded",
    "payments_failed",
    "payment_failure_rate",
)
MONEY_COLUMNS = (
    "deposits",
    "full_payments",
    "balances",
    "fees",
    "collected",
    "refunded",
    "refund_rate",
    "balance_outstanding",
)
WEBHOOK_COLUMNS = ("webhooks_processed", "webhook_p50_ms", "webhook_p95_ms")


def as_csv(found: Report) -> str:
    """One row per service (then `all`) and period; money columns per currency (minor units), e.g.
    `collected_usd`; the webhook figures (business-wide) on the `all` rows."""
    currencies = sorted({m.currency for s in found.services for p in s.periods for m in p.money})
    header = [
        "service_id",
        "period",
        "start",
        "end",
        *COUNT_COLUMNS,
        *(f"{column}_{currency}" for currency in currencies for column in MONEY_COLUMNS),
        *WEBHOOK_COLUMNS,
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    hooks = {w.period: w for w in found.webhooks}
    for service in found.services:
        for period in service.periods:
            money = {m.currency: m for m in period.money}
            counts = period.model_dump()
            row: list[object] = [service.service_id, period.period, period.start, period.end]
            row += [
                period.by_status.get(column.removeprefix("status_").upper(), 0)
                if column.startswith("status_")
                else _cell(counts[column])
                for column in COUNT_COLUMNS
            ]
            for currency in currencies:
                figures = money.get(currency)
                row += [_cell(getattr(figures, column)) if figures else 0 for column in MONEY_COLUMNS]
            hook = hooks[period.period] if service.service_id == "all" else None
            row += [_cell(hook.processed), _cell(hook.p50_ms), _cell(hook.p95_ms)] if hook else ["", "", ""]
            writer.writerow(row)
    return out.getvalue()


def _cell(value: object) -> object:
    return "" if value is None else value
