"""Recurring bookings (issue 14, bullet 4): a weekly (or every N weeks) series of one service, with payments.

Cal.com takes no payment on a recurring event (its issue #2794); here each occurrence is one of our bookings
(`series_id`, `occurrence` 1..n) with its own Cal.com booking, so one occurrence can be cancelled alone, and the
series is paid with ONE PaymentIntent:

- Dates: the first start, then every `every_weeks` weeks at the same wall-clock time in the business's time zone
  (a DST change keeps 10:00 at 10:00). The client previews which dates are free (`preview`, GET
  /availability/series) and books the series, leaving out dates with `recurrence.skip` (never the first).
- Hold: every occurrence's booking and seats, and the SERIES item, in ONE DynamoDB transaction (all or nothing;
  count x (1 + seats) + 2 items, at most 100). A date not bookable: 409 `series_dates_unavailable` naming each
  such date and why, nothing held.
- Payment, the catalog's `recurrence.payment`: `per_occurrence` prices each occurrence as a booking (a deposit
  each, or the full price each, as the client chose) and charges the sum now; `series` charges every
  occurrence's full price now. Each occurrence records its share (`amount_due_now`); a deposit's balance is
  collected per occurrence later from the card saved with the series payment.
- Paid (webhook, create-token, cleanup job, reconciliation: `record_payment`): every occurrence becomes PAID
  with its share. The Stripe webhook then confirms every occurrence in Cal.com; /bookings/verify confirms the
  first (the occurrence its token names) and the cleanup job confirms any left PAID, as for any booking.
- Money of one occurrence: `money/ledger.series_share` (its share of the charge, its own refunds, its part of a
  Dashboard refund). Cancelling one occurrence (its manage link) or this-and-the-rest (`cancel_rest`) is the
  ordinary cancellation of each occurrence, priced by the policy on its own start and share, refunded under its
  own money lease as a partial refund of the series charge carrying its booking id.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from booking.api_models import LinkToken, RequestBody
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import series as series_store
from booking.domain.catalog import STRIPE_MINIMUM_CHARGE, Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.domain.pricing import PaymentType, quote
from booking.errors import (
    BookingNotFound,
    Conflict,
    DomainError,
    InvalidRequest,
    InvalidSlot,
    PaymentAmountMismatch,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from booking.flows import payment_outcomes
from booking.flows.availability import business_date, calendar_starts, check_bookable
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers import payments
from booking.providers.payments import PaymentIntentView

if TYPE_CHECKING:
    from booking.flows.intents import BookingRequest, PaymentStart

S = BookingStatus


class Recurrence(BaseModel):
    """The client's series: `count` dates every `every_weeks` weeks from the start, less the `skip` dates."""

    every_weeks: int
    count: int
    skip: list[date] = Field(default_factory=list)


class SeriesDatesUnavailable(Conflict):
    code = "series_dates_unavailable"

    def __init__(self, unavailable: list[DateCheck]) -> None:
        named = ", ".join(f"{check.date} ({check.reason})" for check in unavailable)
        super().__init__(
            f"These dates of the series are not free: {named}. Nothing was held; skip them "
            "(recurrence.skip) or pick another start.",
            fields={"recurrence": f"not free: {named}"},
            unavailable=[check.model_dump(mode="json") for check in unavailable],
        )


class NotASeries(Conflict):
    code = "not_a_series"

    def __init__(self, booking_id: str) -> None:
        super().__init__("This booking is not part of a recurring series.", booking_id=booking_id)


# --- which dates ---------------------------------------------------------------------------------------------


def business_zone() -> ZoneInfo:
    return ZoneInfo(get_catalog().business.time_zone)


def pattern(start: datetime, every_weeks: int, count: int) -> list[datetime]:
    """`count` starts every `every_weeks` weeks at the first start's wall-clock time in the business's zone."""
    zone = business_zone()
    local = start.astimezone(zone)
    return [
        datetime.combine(local.date() + timedelta(weeks=every_weeks * k), local.time(), zone).astimezone(UTC)
        for k in range(count)
    ]


class DateCheck(BaseModel):
    date: dt.date = Field(description="The business's date")
    start: datetime
    free: bool
    reason: str | None = Field(
        description="Why not: taken, not_offered, blocked_date, inside_minimum_notice, in_past, beyond_booking_window"
    )
    seats_left: int


def check_dates(
    service: Service,
    starts: list[datetime],
    participants: int,
    now: datetime,
    *,
    listed: Collection[datetime] | None = None,
) -> list[tuple[DateCheck, list[int]]]:
    """Each start: free for the party or why not, with the seat numbers free now. `listed`: Cal.com's starts from
    the shared cache (a preview), else Cal.com is asked for each date (a hold: money follows it)."""
    zone = business_zone()
    checked = []
    for start in starts:
        reason: str | None = None
        free_seats: list[int] = []
        try:
            check_bookable(service, start, now, buffers=True, listed=listed)
        except InvalidSlot as exc:
            reason = str(exc.details.get("reason"))
        if reason is None:
            free_seats = store.free_seat_numbers(service.cal_event_type_id, start, service.capacity, now)
            if len(free_seats) < participants:
                reason = "taken"
        checked.append(
            (
                DateCheck(
                    date=start.astimezone(zone).date(),
                    start=start.astimezone(zone),
                    free=reason is None,
                    reason=reason,
                    seats_left=len(free_seats),
                ),
                free_seats,
            )
        )
    return checked


class SeriesPreview(BaseModel):
    service_id: str
    every_weeks: int
    count: int
    payment: Literal["per_occurrence", "series"] = Field(description="How the catalog has this series paid")
    time_zone: str = Field(description="The business's: dates and starts are its wall-clock times")
    dates: list[DateCheck]
    free: int = Field(description="How many of the dates are free")


def validate_recurrence(service: Service, recurrence: Recurrence, start: datetime, participants: int) -> list[datetime]:
    """The series' starts, after checking it against the catalog (422 naming the recurrence field)."""
    policy = service.recurrence
    if policy is None:
        raise InvalidRequest(f"{service.name} cannot be booked as a series.", fields={"recurrence": "not offered"})
    if recurrence.every_weeks not in policy.every_weeks:
        raise InvalidRequest(
            f"{service.name} repeats every {' or '.join(map(str, policy.every_weeks))} week(s).",
            fields={"recurrence.every_weeks": f"one of {policy.every_weeks}"},
        )
    if not 2 <= recurrence.count <= policy.max_occurrences:
        raise InvalidRequest(
            f"A series of {service.name} has 2 to {policy.max_occurrences} dates.",
            fields={"recurrence.count": f"2 to {policy.max_occurrences}"},
        )
    items = series_store.transaction_items(recurrence.count, participants, idempotency=True)
    if items > series_store.MAX_TRANSACTION_ITEMS:
        most = (series_store.MAX_TRANSACTION_ITEMS - 2) // (2 + participants)
        raise InvalidRequest(
            f"A series of {recurrence.count} for {participants} is too large to hold at once; at most {most} dates.",
            fields={"recurrence.count": f"at most {most} for {participants} participants"},
        )
    starts = pattern(start, recurrence.every_weeks, recurrence.count)
    zone = business_zone()
    dates = [s.astimezone(zone).date() for s in starts]
    unknown = [d for d in recurrence.skip if d not in dates]
    if unknown:
        raise InvalidRequest(
            f"{unknown[0]} is not a date of this series.",
            fields={"recurrence.skip": f"not in the series: {unknown[0]}"},
        )
    if dates[0] in recurrence.skip:
        raise InvalidRequest(
            "The first date cannot be skipped: start the series on a later date.",
            fields={"recurrence.skip": "not the first date"},
        )
    return [s for s, d in zip(starts, dates, strict=True) if d not in recurrence.skip]


def preview(service_id: str, start: datetime, every_weeks: int, count: int, participants: int = 1) -> SeriesPreview:
    """Which dates of the series are free now (the client then books it, skipping the others)."""
    service = get_catalog().service(service_id)
    try:
        starts = validate_recurrence(service, Recurrence(every_weeks=every_weeks, count=count), start, participants)
    except InvalidRequest as exc:  # the preview's query names the fields without the body's `recurrence.`
        fields = {name.removeprefix("recurrence."): why for name, why in exc.fields.items()}
        raise InvalidRequest(
            exc.message, fields={"service_id" if f == "recurrence" else f: w for f, w in fields.items()}
        ) from None
    now = clock_now()
    # From the shared cache of Cal.com's weeks: a preview of 26 dates would otherwise be 26 Cal.com calls
    listed = calendar_starts(service, starts, now)
    checks = [check for check, _ in check_dates(service, starts, participants, now, listed=listed)]
    policy = service.recurrence
    assert policy is not None  # validate_recurrence refused a service without one
    return SeriesPreview(
        service_id=service.id,
        every_weeks=every_weeks,
        count=count,
        payment=policy.payment,
        time_zone=get_catalog().business.time_zone,
        dates=checks,
        free=sum(1 for check in checks if check.free),
    )


# --- holding and paying --------------------------------------------------------------------------------------


class OccurrenceStart(BaseModel):
    booking_id: str
    occurrence: int
    start: datetime
    amount_due_now: int = Field(description="This occurrence's share of the series payment")
    total: int
    balance_due: int


class SeriesStart(BaseModel):
    series_id: str
    payment: Literal["per_occurrence", "series"]
    every_weeks: int
    occurrences: list[OccurrenceStart]


def new_series_id() -> str:
    return f"sr_{secrets.token_hex(12)}"


def start_series(
    service: Service,
    request: BookingRequest,
    role: str | None,
    claim: tuple[str, str, str] | None,
    now: datetime,
    publishable_key: str,
) -> PaymentStart:
    """Hold every occurrence in one transaction and open the series' one PaymentIntent."""
    from booking.flows.intents import draft_hold, new_booking_id

    recurrence = request.recurrence
    assert recurrence is not None
    for field, given in (
        ("promo_code", request.promo_code),
        ("package", request.package_id),
        ("backup_start", request.backup_start),
    ):
        if given:
            raise InvalidRequest(
                "A series takes no promo code, package or backup time.", fields={field: "not with a series"}
            )
    starts = validate_recurrence(service, recurrence, request.start, request.participants)
    policy = service.recurrence
    assert policy is not None
    payment_type: PaymentType = "full" if policy.payment == "series" else request.payment_type
    price = quote(service, payment_type, request.currency, 0, participants=request.participants, role=role)
    due_now = price.amount_due_now * len(starts)
    minimum = STRIPE_MINIMUM_CHARGE.get(price.currency, 1)
    if 0 < due_now < minimum:
        raise InvalidRequest("The amount due is below the smallest card charge.", fields={"payment_type": "too small"})
    series_id = new_series_id()
    drafts = [
        draft_hold(
            service,
            start,
            request.attendee,
            price,
            now,
            booking_id=new_booking_id(),
            notify_email=request.notify.email,
            notify_sms=request.notify.sms,
            participants=request.participants,
            idempotency_key_hash=claim[0] if claim and number == 1 else None,
            party=request.party,
            role=role,
            series_id=series_id,
            occurrence=number,
        )
        for number, start in enumerate(starts, start=1)
    ]
    series = series_store.Series(
        series_id=series_id,
        service_id=service.id,
        payment=policy.payment,
        every_weeks=recurrence.every_weeks,
        currency=price.currency,
        amount_due_now=due_now,
        occurrences=[
            series_store.Occurrence(
                booking_id=d.booking_id, occurrence=d.occurrence or 0, start=d.slot_start, share=d.amount_due_now
            )
            for d in drafts
        ],
        created_at=now,
    )
    held = _hold(service, series, drafts, claim, now)
    if held is None:  # a concurrent retry of the same request held it first: answer as it will
        assert claim is not None
        recorded = store.idempotent_booking(claim[0], claim[1])
        first = store.get_booking(recorded[0]) if recorded else None
        if first is None:
            raise BookingNotFound(drafts[0].booking_id)
        return answer(first, publishable_key)
    logger.append_keys(booking_id=drafts[0].booking_id, series_id=series_id)
    metrics.add_metric(name="SeriesHeld", unit="Count", value=1)
    return answer(held[0], publishable_key)


def _hold(
    service: Service,
    series: series_store.Series,
    drafts: list[Booking],
    claim: tuple[str, str, str] | None,
    now: datetime,
) -> list[Booking] | None:
    """All occurrences with their seats in one transaction; a seat taken meanwhile: read the seats again and retry
    while every date still fits. None when the client's key was claimed by a concurrent retry."""
    participants = drafts[0].participants
    for _attempt in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        checks = check_dates(service, [d.slot_start for d in drafts], participants, now)
        unavailable = [check for check, _ in checks if not check.free]
        if unavailable:
            metrics.add_metric(name="SeriesRefused", unit="Count", value=1)
            raise SeriesDatesUnavailable(unavailable)
        bookings = [
            draft.model_copy(update={"seat_number": seats[0], "extra_seat_numbers": seats[1:participants]})
            for draft, (_, seats) in zip(drafts, checks, strict=True)
        ]
        try:
            days = [business_date(b.slot_start) for b in bookings]
            series_store.create_held_series(series, bookings, idempotency=claim, now=now, days=days)
        except (series_store.SeatsTaken, store.DateBlocked):
            continue  # read the dates again: a date blocked since is named by check_dates
        except store.IdempotencyKeyClaimed:
            return None
        return bookings
    raise store.StaleBooking(drafts[0].booking_id)  # seats keep changing under us: the client retries


def answer(first: Booking, publishable_key: str) -> PaymentStart:
    """The create-intent answer of a series (also its idempotent replay): the series' PaymentIntent, opened once."""
    from booking.flows import intents, tokens

    series = series_store.get(first.series_id or "")
    if series is None:
        raise BookingNotFound(first.booking_id)
    bookings = series_store.bookings_of(series)
    if first.nothing_to_pay:
        issued = tokens.issue_unpaid_token(first)
        start = intents._payment_start(
            first, publishable_key, None, None, token=issued.token, verify_url=issued.verify_url
        )
    else:
        intent = _open_payment(series, first, bookings)
        assert intent.client_secret is not None
        start = intents._payment_start(first, publishable_key, intent.id, intent.client_secret)
    return start.model_copy(
        update={
            "amount_due_now": sum(b.amount_due_now for b in bookings),
            "total": sum(b.total for b in bookings),
            "balance_due": sum(b.balance_due for b in bookings),
            "series": SeriesStart(
                series_id=series.series_id,
                payment=series.payment,
                every_weeks=series.every_weeks,
                occurrences=[
                    OccurrenceStart(
                        booking_id=b.booking_id,
                        occurrence=b.occurrence or 0,
                        start=b.slot_start,
                        amount_due_now=b.amount_due_now,
                        total=b.total,
                        balance_due=b.balance_due,
                    )
                    for b in bookings
                ],
            ),
        }
    )


def _open_payment(series: series_store.Series, first: Booking, bookings: list[Booking]) -> PaymentIntentView:
    """The series' one PaymentIntent (deterministic key: a retry gets the same one), recorded on every occurrence."""
    if series.payment_intent_id:
        return payments.retrieve_payment_intent(series.payment_intent_id)
    try:
        customer_id = payments.create_customer(first) if first.payment_type == "deposit" else None
        intent = payments.create_series_payment_intent(
            first,
            series_id=series.series_id,
            amount=series.amount_due_now,
            occurrences=len(series.occurrences),
            customer_id=customer_id,
        )
    except (PaymentProviderUnavailable, PaymentProviderError) as exc:
        _release_after_provider_failure(bookings, exc)
        raise
    series_store.attach_payment(series, intent.id, customer_id, intent.status)
    return intent


def _release_after_provider_failure(bookings: list[Booking], error: Exception) -> None:
    """Stripe failed: free every date and forget the client key so a retry of the same request starts afresh."""
    metrics.add_metric(name="PaymentProviderFailed", unit="Count", value=1)
    for booking in bookings:
        current = store.get_booking(booking.booking_id)
        if current is None or current.status != S.HELD or current.payment_intent_id:
            return  # a concurrent retry got the PaymentIntent: the holds are theirs now
        try:
            store.release_seat(
                current,
                S.EXPIRED,
                actor="system",
                reason=f"payment provider failed: {error}",
                now=clock_now(),
                forget_idempotency_key=current.occurrence == 1,
            )
        except store.StaleBooking:
            logger.warning("series hold changed while releasing it after a provider failure")


def record_payment(booking_id: str, intent: PaymentIntentView, *, actor: str) -> Booking:
    """`payment_outcomes.record_payment`, for a series PaymentIntent too: every occurrence PAID with its share.
    The booking `booking_id` as it is after."""
    series_id = intent.metadata.get("series_id")
    if not series_id:
        return payment_outcomes.record_payment(booking_id, intent, actor=actor)
    record_series_payment(series_id, intent, actor=actor)
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    return booking


def record_series_payment(series_id: str, intent: PaymentIntentView, *, actor: str) -> list[Booking]:
    """The series' PaymentIntent succeeded: each occurrence records its share as its own payment (a lapsed hold
    whose date was taken meanwhile loses that date alone, refunded by the lost-slot rules)."""
    series = series_store.get(series_id)
    if series is None:
        raise BookingNotFound(intent.metadata.get("booking_id") or series_id)
    if intent.status == "succeeded" and (
        intent.amount_received != series.amount_due_now or intent.currency != series.currency
    ):
        first = store.get_booking(series.first_booking_id)
        received, expected = f"{intent.amount_received} {intent.currency}", f"{series.amount_due_now} {series.currency}"
        if first is not None:
            flag(first, "amount_mismatch", f"series {series_id}: received {received}, expected {expected}")
        raise PaymentAmountMismatch(series.amount_due_now, intent.amount_received, intent.currency)
    return [
        payment_outcomes.record_payment(
            occurrence.booking_id,
            intent.model_copy(update={"amount": occurrence.share, "amount_received": occurrence.share}),
            actor=actor,
        )
        for occurrence in series.occurrences
    ]


def payment_succeeded(intent: PaymentIntentView, *, actor: str) -> str:
    """The Stripe webhook: every occurrence PAID, then each confirmed in Cal.com (its own Cal.com booking);
    one the calendar cannot take now stays PAID for the cleanup job."""
    from booking.webhooks.stripe_events import finish_booking

    series_id = intent.metadata["series_id"]
    try:
        bookings = record_series_payment(series_id, intent, actor=actor)
    except PaymentAmountMismatch:
        return "flagged: amount differs from the series' price"
    outcomes = [
        f"{b.occurrence}: {finish_booking(b.booking_id, actor=actor) if b.status == S.PAID else b.status.value}"
        for b in bookings
    ]
    metrics.add_metric(name="SeriesPaid", unit="Count", value=1)
    return f"series {series_id} paid; " + "; ".join(outcomes)


def settle_siblings(booking: Booking) -> None:
    """A refund or dispute on the series charge: every occurrence settles against Stripe (a Dashboard refund is
    allocated to one of them by `ledger.series_share`, whichever occurrence the event named)."""
    series = series_store.get(booking.series_id or "")
    if series is None:
        return
    for occurrence in series.occurrences:
        if occurrence.booking_id == booking.booking_id:
            continue
        sibling = store.get_booking(occurrence.booking_id)
        if sibling is not None:
            settle(sibling, stripe_changed=True)


# --- the client's series (manage link) -----------------------------------------------------------------------


class OccurrenceView(BaseModel):
    booking_id: str
    occurrence: int
    start: datetime
    end: datetime
    status: str
    amount_paid: int
    amount_refunded: int
    balance_due: int
    manage_url: str | None = Field(description="This occurrence's own manage link (cancel or move it alone)")
    can_cancel: bool
    refund_if_cancelled: int = Field(description="What cancelling it now refunds (its share, less the policy's fee)")
    cancellation_reason: str


class SeriesCancelRequest(RequestBody):
    token: LinkToken = Field(description="The manage link's token of any occurrence of the series")
    from_occurrence: int | None = Field(
        default=None, ge=1, le=26, description="Cancel from this occurrence on (default: the link's own)"
    )


class SeriesView(BaseModel):
    series_id: str
    service_id: str
    payment: Literal["per_occurrence", "series"]
    every_weeks: int
    currency: str
    occurrences: list[OccurrenceView]


def _series_of(booking: Booking) -> series_store.Series:
    series = series_store.get(booking.series_id or "") if booking.series_id else None
    if series is None:
        raise NotASeries(booking.booking_id)
    return series


def _client_view(series: series_store.Series) -> SeriesView:
    from booking.flows import manage

    now = clock_now()
    service = get_catalog().service(series.service_id)

    def occurrence_view(b: Booking) -> OccurrenceView:
        offer = manage._cancellation(b, service, now)
        return OccurrenceView(
            booking_id=b.booking_id,
            occurrence=b.occurrence or 0,
            start=b.slot_start,
            end=b.slot_end,
            status=b.status.value.lower(),
            amount_paid=b.amount_paid,
            amount_refunded=b.amount_refunded,
            balance_due=b.balance_due,
            manage_url=manage.issue_link(b.booking_id),
            can_cancel=offer.allowed,
            refund_if_cancelled=offer.refund if offer.allowed else 0,
            cancellation_reason=offer.reason,
        )

    return SeriesView(
        series_id=series.series_id,
        service_id=series.service_id,
        payment=series.payment,
        every_weeks=series.every_weeks,
        currency=series.currency,
        occurrences=[occurrence_view(b) for b in series_store.bookings_of(series)],
    )


def view(token: str) -> SeriesView:
    """Every occurrence of the series the manage link's booking belongs to (whoever holds one occurrence's link
    paid for the series: the same client)."""
    from booking.flows import manage

    return _client_view(_series_of(manage._open(token)))


def cancel_rest(token: str, from_occurrence: int | None) -> SeriesView:
    """Cancel "this and the rest": every occurrence from `from_occurrence` (default: the link's own) that the
    client may still cancel, each as its own manage link would (Cal.com first, then the policy's refund of its
    share under its money lease). Occurrences already cancelled are done; ones that started are left. A failure
    stops the walk: calling again carries on where it stopped."""
    from booking.flows import manage

    booking = manage._open(token)
    series = _series_of(booking)
    first = from_occurrence if from_occurrence is not None else booking.occurrence or 1
    if not 1 <= first <= len(series.occurrences):
        raise InvalidRequest(
            f"The series has occurrences 1 to {len(series.occurrences)}.",
            fields={"from_occurrence": f"1 to {len(series.occurrences)}"},
        )
    cancelled = 0
    for occurrence in series.occurrences[first - 1 :]:
        current = store.get_booking(occurrence.booking_id)
        if current is None or current.status in (S.CANCELLED, S.EXPIRED):
            continue
        if manage._cancel_refusal(current, clock_now()) is not None:
            continue  # started, or otherwise closed: not the client's to cancel now
        _cancel_as_client(current)
        cancelled += 1
    metrics.add_metric(name="SeriesRestCancelled", unit="Count", value=1)
    logger.info("series cancelled from an occurrence", extra={"from": first, "cancelled": cancelled})
    return _client_view(series)


def _cancel_as_client(booking: Booking) -> Booking:
    """One occurrence cancelled by its client, as `manage.cancel` does it: the client's pricing written first
    (Cal.com's own BOOKING_CANCELLED then prices it the same way), Cal.com, then the cancellation and refund."""
    from booking.flows import calendar_sync, cancellation

    booking_id = booking.booking_id
    try:
        store.update_fields(booking_id, {"cancel_refund": "policy"}, condition=store.status_is(booking.status))
    except store.StaleBooking:
        raise Conflict("The booking changed meanwhile; look at it again.", booking_id=booking_id) from None
    reason = f"occurrence {booking.occurrence} cancelled by the client with the rest of series {booking.series_id}"
    try:
        calendar_sync.cancel_there(booking, reason)
    except DomainError:
        store.update_fields(booking_id, {"cancel_refund": None}, condition=store.status_is(booking.status))
        raise
    return cancellation.cancel(
        booking_id,
        cancelled_at=clock_now(),
        by_business=False,
        actor="client",
        reason=reason,
        cancelled_start=booking.slot_start,
    )


# --- the owner's view ----------------------------------------------------------------------------------------


class SiblingView(BaseModel):
    booking_id: str
    occurrence: int
    start: datetime
    status: BookingStatus
    href: str = Field(description="The owner's view of this occurrence")


class OwnerSeries(BaseModel):
    series_id: str
    occurrence: int = Field(description="This booking is occurrence `occurrence` of `of`")
    of: int
    payment: Literal["per_occurrence", "series"]
    every_weeks: int
    payment_intent_id: str | None = Field(description="The series' one PaymentIntent")
    amount_due_now: int = Field(description="What the series charged at booking (every occurrence's share)")
    occurrences: list[SiblingView]


def owner_series(booking: Booking) -> OwnerSeries | None:
    """The series of a booking for the owner's booking view (None for a booking of no series)."""
    series = series_store.get(booking.series_id) if booking.series_id else None
    if series is None:
        return None
    return OwnerSeries(
        series_id=series.series_id,
        occurrence=booking.occurrence or 0,
        of=len(series.occurrences),
        payment=series.payment,
        every_weeks=series.every_weeks,
        payment_intent_id=series.payment_intent_id,
        amount_due_now=series.amount_due_now,
        occurrences=[
            SiblingView(
                booking_id=b.booking_id,
                occurrence=b.occurrence or 0,
                start=b.slot_start,
                status=b.status,
                href=f"/admin/bookings/{b.booking_id}",
            )
            for b in series_store.bookings_of(series)
        ],
    )
