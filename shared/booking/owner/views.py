"""The owner's view: every booking with what was paid, what is due and what happened to it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from booking import cursors
from booking.dal import alerts as alert_store
from booking.dal import bookings as store
from booking.dal import listing
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import BalanceState, Booking, Flag, Participant, Payment, TransitionRecord
from booking.errors import BookingNotFound, InvalidRequest
from booking.flows.series import OwnerSeries, owner_series
from booking.notify import outbox
from booking.notify.messages import Channel, Kind

MAX_RANGE = timedelta(days=366)  # the longest date range one list request may ask for


class PaymentView(BaseModel):
    payment_type: str
    currency: str
    total: int
    deposit: int
    amount_paid: int
    balance_due: int
    amount_refunded: int
    payment_status: str | None
    payment_error: str | None
    payment_intent_id: str | None
    charge_id: str | None
    dispute_id: str | None
    dispute_status: str | None
    money_settled: bool  # False while a refund or reversal is still owed (the cleanup job retries it)
    balance_state: BalanceState  # "paid" = paid in full; "awaiting_client" = a pay link is out
    later_payments: list[Payment]  # the balance and fees, by card or offline


class OwnerFlag(BaseModel):
    code: str
    reason: str
    at: datetime
    open: bool
    resolved_at: datetime | None
    resolved_by: str | None  # the owner or staff member who closed it
    resolution: str | None  # their note

    @classmethod
    def of(cls, flag: Flag) -> OwnerFlag:
        return cls(**flag.model_dump(), open=flag.is_open)


class OwnerRefund(BaseModel):
    refund_id: str
    amount: int
    purpose: str  # ours (cancellation, full_refund) or "made in Stripe" (the Dashboard)
    reason: str
    at: datetime
    failed: bool  # Stripe reported it failed: nothing went back to the client


class PayoutView(BaseModel):
    state: str | None
    due_at: datetime | None
    transfer_id: str | None
    transferred: int
    reversed: int
    error: str | None


class OwnerBooking(BaseModel):
    booking_id: str
    status: BookingStatus
    service_id: str
    start: datetime
    end: datetime
    client_name: str
    client_email: str
    client_phone: str | None
    payment: PaymentView
    cal_booking_uid: str | None
    participants: int = 1  # seats the booking takes, the client's included (a group booking: flows/party.py)
    party: list[Participant] = Field(default_factory=list)  # the other members named, with their Cal.com seats
    party_fees_kept: int = 0  # kept of the party's cancelled seats (the policy's fee)
    party_refunds_due: int = 0  # refunds decided for the party's cancelled seats
    flags: list[OwnerFlag]  # open ones first, then the resolved ones; each in the order raised
    refunds: list[OwnerRefund]
    payout: PayoutView
    history: list[TransitionRecord]
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancelled_start: datetime | None  # the start of the Cal.com booking that was cancelled (the policy's)
    no_show: str | None
    promo_code: str | None
    discount: int  # taken off the list price by the promo code or the package credit
    role: str | None = None  # the client's signed role the booking was priced with (seed 004)
    series_id: str | None = None  # a recurring series this booking is occurrence `occurrence` of
    occurrence: int | None = None
    series: OwnerSeries | None = None  # the booking's view only: the series and its other occurrences
    list_price: int | None = None  # the price before a code or credit, as priced at booking
    package_id: str | None  # the package whose credit paid for it
    backup_start: datetime | None  # the client's second choice, used when the date is blocked
    reschedule_count: int
    manage_link: bool  # the client holds a manage link (the owner may revoke it)
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, booking: Booking) -> OwnerBooking:
        return cls(
            booking_id=booking.booking_id,
            status=booking.status,
            service_id=booking.service_id,
            start=booking.slot_start,
            end=booking.slot_end,
            client_name=booking.attendee.name,
            client_email=booking.attendee.email,
            client_phone=booking.attendee.phone,
            payment=PaymentView(
                payment_type=booking.payment_type,
                currency=booking.currency,
                total=booking.total,
                deposit=booking.amount_due_now,
                amount_paid=booking.amount_paid,
                balance_due=booking.balance_due,
                amount_refunded=booking.amount_refunded,
                payment_status=booking.payment_status,
                payment_error=booking.payment_error,
                payment_intent_id=booking.payment_intent_id,
                charge_id=booking.charge_id,
                dispute_id=booking.dispute_id,
                dispute_status=booking.dispute_status,
                money_settled=booking.money_state != "OWED",
                balance_state=booking.balance_state,
                later_payments=booking.payments,
            ),
            cal_booking_uid=booking.cal_booking_uid,
            participants=booking.participants,
            party=booking.party,
            party_fees_kept=booking.party_fees_kept,
            party_refunds_due=booking.party_refunds_due,
            flags=[OwnerFlag.of(flag) for flag in sorted(booking.flags, key=lambda flag: not flag.is_open)],
            refunds=[
                OwnerRefund(**refund.model_dump(), failed=refund.refund_id in booking.failed_refund_ids)
                for refund in booking.refunds
            ],
            payout=PayoutView(
                state=booking.payout_state,
                due_at=booking.payout_due_at,
                transfer_id=booking.transfer_id,
                transferred=booking.transfer_amount,
                reversed=booking.transfer_reversed,
                error=booking.payout_error,
            ),
            history=booking.history,
            cancelled_at=booking.cancelled_at,
            cancelled_by=booking.cancelled_by,
            cancelled_start=booking.cancelled_slot_start,
            no_show=booking.no_show,
            promo_code=booking.promo_code,
            discount=booking.discount,
            role=booking.role,
            list_price=booking.list_price,
            series_id=booking.series_id,
            occurrence=booking.occurrence,
            package_id=booking.package_id,
            backup_start=booking.backup_start,
            reschedule_count=booking.reschedule_count,
            manage_link=booking.manage_token_hash is not None,
            created_at=booking.created_at,
            updated_at=booking.updated_at,
        )


class OwnerBookings(BaseModel):
    bookings: list[OwnerBooking]  # in start order
    next_cursor: str | None  # pass as `cursor` for the next page; null: this is the last page


def booking(booking_id: str) -> OwnerBooking:
    found = store.get_booking(booking_id)
    if found is None:
        raise BookingNotFound(booking_id)
    view = OwnerBooking.of(found)
    return view.model_copy(update={"series": owner_series(found)}) if found.series_id else view


class OwnerMessage(BaseModel):
    """One message about the booking through one channel, and where it stands."""

    message_key: str = Field(description='What it is about: "confirmed", "reminder:24:<start>", "refund:<id>", ...')
    kind: Kind
    channel: Channel
    recipient: str = Field(description="The address or phone number it goes to (as the booking shows the client's)")
    status: Literal["PENDING", "SENDING", "SENT", "FAILED", "WITHDRAWN"]
    attempts: int = Field(description="Sends tried so far")
    last_error: str | None = Field(description="Why the last try failed (SES's or SNS's answer)")
    send_at: datetime | None = Field(description="While pending: when it is due (a reminder's time, a retry's)")
    sent_at: datetime | None
    created_at: datetime
    withdrawn_reason: str | None = Field(description="Why it will not be sent (the booking moved or ended)")


class OwnerMessages(BaseModel):
    messages: list[OwnerMessage]  # oldest first


def booking_messages(booking_id: str) -> OwnerMessages:
    """What the client (and the owner) were or will be told about the booking, by email or text."""
    found = store.get_booking(booking_id)
    if found is None:
        raise BookingNotFound(booking_id)
    fields = set(OwnerMessage.model_fields)
    return OwnerMessages(
        messages=[
            OwnerMessage.model_validate(message.model_dump(include=fields))
            for message in outbox.messages_of(store.booking_pk(booking_id))
        ]
    )


def bookings(
    status: BookingStatus | None,
    flagged: bool,
    limit: int,
    *,
    balance_due: bool = False,
    start_from: str | None = None,
    start_to: str | None = None,
    cursor: str | None = None,
) -> OwnerBookings:
    """Bookings in start order, filtered, a page at a time. `start_from`/`start_to`: ISO dates (a date `to`
    includes its whole day) or date-times (a date-time `to` is exclusive), UTC without an offset. `cursor`:
    the previous page's `next_cursor`. A page may hold fewer than `limit` bookings and still have a
    `next_cursor` (each page reads a bounded part of the index): the list ends when `next_cursor` is null."""
    filters = _filters(status, flagged, balance_due, start_from, start_to)
    page = listing.list_bookings(filters, limit, _resume_key(cursor, filters) if cursor else None)
    return OwnerBookings(
        bookings=[OwnerBooking.of(b) for b in page.bookings],
        next_cursor=_cursor(page.resume) if page.resume else None,
    )


def _filters(
    status: BookingStatus | None, flagged: bool, balance_due: bool, start_from: str | None, start_to: str | None
) -> listing.ListingFilter:
    filters = listing.ListingFilter(
        status=status,
        flagged=flagged,
        balance_due=balance_due,
        start_from=_instant(start_from, "from", day_end=False) if start_from else None,
        start_before=_instant(start_to, "to", day_end=True) if start_to else None,
    )
    if filters.start_from is not None and filters.start_before is not None:
        if filters.start_before <= filters.start_from:
            raise InvalidRequest("The date range ends before it starts.", fields={"to": "must be after from"})
        if filters.start_before - filters.start_from > MAX_RANGE:
            raise InvalidRequest(
                f"The date range is longer than {MAX_RANGE.days} days.",
                fields={"to": f"at most {MAX_RANGE.days} days after from"},
            )
    return filters


class MoneyTotals(BaseModel):
    deposits_taken: int = Field(
        default=0, description="What clients paid when booking: the deposit, or the full price paid up front"
    )
    paid_total: int = Field(default=0, description="Everything received: up front, balances, fees, offline")
    refunded_total: int = Field(default=0, description="Everything refunded (ours and the Stripe Dashboard's)")
    balance_due: int = Field(default=0, description="Balances still to collect (paid, confirmed, completed bookings)")

    def add(self, booking: Booking) -> None:
        later = sum(p.amount for p in booking.payments if p.status == "succeeded")
        self.deposits_taken += max(booking.amount_paid - later, 0)
        self.paid_total += booking.amount_paid
        self.refunded_total += booking.amount_refunded
        if booking.status in listing.BALANCE_COLLECTABLE:
            self.balance_due += max(booking.balance_due, 0)


class OwnerSummary(MoneyTotals):
    count: int = Field(description="Bookings the filters select")
    currency: str = Field(description="The currency of the money figures (the one most bookings use)")
    by_status: dict[str, int] = Field(description="How many bookings in each status (only those present)")
    by_currency: dict[str, MoneyTotals] = Field(
        description="The same figures per currency, when the range holds bookings in several"
    )


def summary(
    status: BookingStatus | None,
    flagged: bool,
    *,
    balance_due: bool = False,
    start_from: str | None = None,
    start_to: str | None = None,
) -> OwnerSummary:
    """Totals of every booking the listing with the same filters would page through, computed here (from the
    same index queries; the cost is the range's bookings)."""
    filters = _filters(status, flagged, balance_due, start_from, start_to)
    try:
        found = listing.all_matching(filters)
    except listing.RangeTooLarge as exc:
        raise InvalidRequest(
            f"The range holds more than {listing.MAX_SUMMARY_BOOKINGS} bookings; ask for a shorter one.",
            fields={"from": "narrow the date range"},
        ) from exc
    by_currency: dict[str, MoneyTotals] = {}
    for found_booking in found:
        by_currency.setdefault(found_booking.currency, MoneyTotals()).add(found_booking)
    counts = Counter(b.currency for b in found)
    currency = counts.most_common(1)[0][0] if counts else get_catalog().services[0].price.currency
    return OwnerSummary(
        count=len(found),
        currency=currency,
        by_status=dict(Counter(b.status.value for b in found)),
        by_currency=by_currency,
        **(by_currency.get(currency) or MoneyTotals()).model_dump(),
    )


class OwnerAlerts(BaseModel):
    alerts: list[alert_store.Alert]  # newest first
    next_cursor: str | None  # pass as `cursor` for the next page; null: this is the last page


def alerts(limit: int, cursor: str | None = None) -> OwnerAlerts:
    """The owner's alerts (orphan payments, flags, webhooks set aside), newest first, a page at a time."""
    resume = None
    if cursor:
        try:
            resume = alert_store.decode_resume(cursor)
        except ValueError as exc:
            raise InvalidRequest(
                "The cursor is not one this list gave.",
                fields={"cursor": "use next_cursor from the previous page, unchanged"},
            ) from exc
    page = alert_store.newest(limit, resume)
    return OwnerAlerts(alerts=page.alerts, next_cursor=alert_store.encode_resume(page.resume) if page.resume else None)


def _instant(value: str, field: str, *, day_end: bool) -> datetime:
    """An ISO date (midnight UTC; the next midnight as an end, so the day is included) or date-time (UTC if
    it has no offset)."""
    try:
        if len(value) == len("2026-03-01"):
            midnight = datetime.combine(date.fromisoformat(value), time(), UTC)
            return midnight + timedelta(days=1) if day_end else midnight
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError) as exc:  # OverflowError: the day after 9999-12-31
        raise InvalidRequest(
            f"{field} is not an ISO date or date-time.", fields={field: "e.g. 2026-03-01 or 2026-03-01T09:00:00+01:00"}
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _cursor(resume: listing.ResumeKey) -> str:
    """Opaque to the caller: where the next page starts, as URL-safe base64 of a small JSON document."""
    return cursors.encode(resume.model_dump_json())


def _resume_key(cursor: str, filters: listing.ListingFilter) -> listing.ResumeKey:
    """The cursor as this list wrote it, for a booking inside the requested range; anything else is a 422."""
    try:
        resume = listing.ResumeKey.model_validate_json(cursors.decode(cursor))
        if resume.slot_start.tzinfo is None or not filters.admits_start(resume.slot_start):
            raise ValueError("outside the range")
    except ValueError as exc:  # binascii.Error and pydantic's ValidationError are ValueErrors too
        raise InvalidRequest(
            "The cursor is not one this list gave for this date range.",
            fields={"cursor": "use next_cursor from the previous page, unchanged"},
        ) from exc
    return resume
