"""Start a booking: price it, hold the slot, open the PaymentIntent (POST /payments/create-intent).

Prices come from the catalog in the currency the client picks; a promo code's use or a package's credit is taken
in the hold's own transaction. A booking with nothing to pay (a free service, a 100% code, a package credit) never
reaches Stripe: it is held and paid at 0 in that transaction and answered with its verify link at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from booking.clock import now as clock_now
from booking.clock import to_utc
from booking.dal import bookings as store
from booking.dal import promos as promo_store
from booking.dal import waitlist as waitlist_store
from booking.dal.transaction import Transaction
from booking.digests import digest, fingerprint
from booking.domain.catalog import STRIPE_MINIMUM_CHARGE, Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Attendee, Booking, Participant, check_phone
from booking.domain.pricing import PaymentType, Quote, discount_of, quote
from booking.domain.pricing import list_price as price_of
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidSlot,
    PackageUnavailable,
    PaymentProviderError,
    PaymentProviderUnavailable,
    PromoUnavailable,
    SlotTaken,
)
from booking.flows import series, tokens
from booking.flows.availability import check_bookable
from booking.flows.packages import usable_package
from booking.flows.party import check_party
from booking.flows.series import Recurrence, SeriesStart
from booking.observability import logger, metrics
from booking.providers import payments
from booking.roles import verified_role
from booking.settings import get_settings, stripe_publishable_key

OPERATION = "create-intent"


class NotifyChoice(BaseModel):
    """The client's choice of messages about the booking (stored on it as notify_email / notify_sms)."""

    email: bool = True
    sms: bool = False


class BookingRequest(BaseModel):
    """A validated create-intent request (the HTTP model is mapped to this by the handler)."""

    service_id: str
    start: datetime
    attendee: Attendee
    payment_type: PaymentType
    currency: str | None = None
    promo_code: str | None = None
    package_id: str | None = None
    package_secret: str | None = None
    backup_start: datetime | None = None
    notify: NotifyChoice = Field(default_factory=NotifyChoice)
    participants: int = 1
    party: list[Participant] = Field(default_factory=list)
    role_token: str | None = None
    recurrence: Recurrence | None = None  # a recurring series (flows/series.py)

    def fingerprint(self) -> str:
        return fingerprint(self)


class PaymentStart(BaseModel):
    booking_id: str
    payment_intent_id: str | None = Field(description="None when nothing is due (no payment at all)")
    client_secret: str | None = Field(description="For Stripe.js; None when nothing is due")
    payment_type: PaymentType
    amount_due_now: int
    total: int
    balance_due: int
    currency: str
    discount: int = Field(description="Taken off the list price by the promo code or the package credit")
    promo_code: str | None
    package_id: str | None
    hold_expires_at: datetime
    publishable_key: str = Field(description="Stripe's publishable key, for Stripe(pk) with client_secret")
    token: str | None = Field(description="Nothing due: the booking is paid already; verify with this token")
    verify_url: str | None = Field(description="Nothing due: where the client confirms the booking")
    notify: NotifyChoice = Field(description="The client's choice of messages, as stored on the booking")
    participants: int = Field(default=1, description="Seats the booking takes, the payer's included")
    role: str | None = Field(default=None, description="The client's signed role the booking was priced with")
    list_price: int | None = Field(default=None, description="The price before a code or credit, as priced at booking")
    series: SeriesStart | None = Field(
        default=None,
        description="A recurring series: its occurrences (booking_id is the first's; amounts are the series' sums)",
    )


def new_booking_id() -> str:
    return f"bk_{secrets.token_hex(12)}"


def hash_key(idempotency_key: str) -> str:
    return digest(idempotency_key)


def start_booking(request: BookingRequest, idempotency_key: str | None = None) -> PaymentStart:
    publishable_key = stripe_publishable_key()  # before anything is held: without it the client cannot pay
    now = clock_now()
    claim = (hash_key(idempotency_key), OPERATION, request.fingerprint()) if idempotency_key else None
    if claim:
        recorded = store.idempotent_booking(claim[0], OPERATION)
        if recorded:
            return _replay(recorded, claim[2], publishable_key)

    service = get_catalog().service(request.service_id)
    check_phone(service, request.attendee, request.notify.sms)
    check_party(service, request.participants, request.party, request.attendee.email)
    start = check_bookable(service, request.start, now, buffers=True)
    backup_start = _backup_start(service, request, start, now)
    role = verified_role(request.role_token, service, now)  # signed by the site (seed 004), before anything is held
    if request.recurrence is not None:
        return series.start_series(service, request, role, claim, now, publishable_key)
    price = _price(service, request, now, role)
    draft = draft_hold(
        service,
        start,
        request.attendee,
        price,
        now,
        booking_id=new_booking_id(),
        notify_email=request.notify.email,
        notify_sms=request.notify.sms,
        participants=request.participants,
        idempotency_key_hash=claim[0] if claim else None,
        promo_code=request.promo_code,
        discount=price.discount,
        package_id=request.package_id,
        backup_start=backup_start,
        party=request.party,
        role=role,
    )
    booking = _hold(draft, service.capacity, claim, now)
    logger.append_keys(booking_id=booking.booking_id)
    metrics.add_metric(name="SlotHeld", unit="Count", value=1)
    return _answer(booking, publishable_key)


def draft_hold(
    service: Service,
    start: datetime,
    attendee: Attendee,
    price: Quote,
    now: datetime,
    *,
    booking_id: str,
    notify_email: bool,
    notify_sms: bool,
    participants: int = 1,
    **fields: Any,
) -> Booking:
    """The booking a hold writes, priced by `price`: HELD until its payment, or PAID at once when nothing is due
    (no payment at all). `fields`: what the caller adds (its promo code, series, waitlist entry...)."""
    nothing_due = price.amount_due_now == 0
    return Booking(
        booking_id=booking_id,
        status=BookingStatus.PAID if nothing_due else BookingStatus.HELD,
        service_id=service.id,
        event_type_id=service.cal_event_type_id,
        slot_start=start,
        slot_end=start + timedelta(minutes=service.duration_minutes),
        attendee=attendee,
        payment_type=price.payment_type,
        currency=price.currency,
        total=price.total,
        amount_due_now=price.amount_due_now,
        balance_due=price.balance_due,
        hold_expires_at=to_utc(now) + timedelta(minutes=get_settings().hold_minutes),
        paid_at=now if nothing_due else None,
        provider_account=None if nothing_due else service.provider_account,
        notify_email=notify_email,
        notify_sms=notify_sms,
        participants=participants,
        list_price=price.list_price,
        created_at=now,
        updated_at=now,
        **fields,
    )


def _price(service: Service, request: BookingRequest, now: datetime, role: str | None) -> Quote:
    """The catalog's price for the party and role in the client's currency, less the promo code's discount; a
    package credit pays it all."""
    list_price = price_of(service, request.currency, participants=request.participants, role=role)
    discount = 0
    if request.package_id:
        if request.promo_code:
            raise InvalidRequest(
                "A session booked with a package takes no promo code.", fields={"promo_code": "not with a package"}
            )
        usable_package(request.package_id, request.package_secret or "", service, now)
        discount = list_price.amount
    elif request.promo_code:
        if list_price.amount == 0:
            raise InvalidRequest(f"{service.name} is free; it takes no promo code.", fields={"promo_code": "free"})
        promo = promo_store.usable(request.promo_code, service.id, now)
        if promo is None:
            raise PromoUnavailable
        discount = discount_of(promo.kind, int(promo.value), list_price.amount)  # type: ignore[arg-type]
    price = quote(
        service, request.payment_type, list_price.currency, discount, participants=request.participants, role=role
    )
    minimum = STRIPE_MINIMUM_CHARGE.get(price.currency, 1)
    if 0 < price.amount_due_now < minimum:
        field = "payment_type" if price.payment_type == "deposit" and price.total >= minimum else "promo_code"
        raise InvalidRequest(
            f"After the discount, {price.amount_due_now} is below the smallest amount a card can be charged"
            + ("; choose to pay in full." if field == "payment_type" else "."),
            fields={field: "amount due is below the minimum charge"},
        )
    return price


def _backup_start(service: Service, request: BookingRequest, start: datetime, now: datetime) -> datetime | None:
    """The client's second choice (used if the owner blocks the first's date): another offered start."""
    if request.backup_start is None:
        return None
    try:
        backup = check_bookable(service, request.backup_start, now)
    except InvalidSlot as exc:
        raise InvalidRequest(f"Backup time: {exc.message}", fields={"backup_start": exc.details["reason"]}) from None
    if backup == start:
        raise InvalidRequest("The backup time must differ from the booked time.", fields={"backup_start": "same"})
    return backup


def _answer(booking: Booking, publishable_key: str) -> PaymentStart:
    if booking.series_id:
        return series.answer(booking, publishable_key)
    if not booking.nothing_to_pay:
        return _open_payment(booking, publishable_key)
    issued = tokens.issue_unpaid_token(booking)  # paid at 0: straight to /book/verify
    return _payment_start(booking, publishable_key, None, None, token=issued.token, verify_url=issued.verify_url)


def _payment_start(
    booking: Booking,
    publishable_key: str,
    payment_intent_id: str | None,
    client_secret: str | None,
    *,
    token: str | None = None,
    verify_url: str | None = None,
) -> PaymentStart:
    return PaymentStart(
        booking_id=booking.booking_id,
        payment_intent_id=payment_intent_id,
        client_secret=client_secret,
        payment_type=booking.payment_type,
        amount_due_now=booking.amount_due_now,
        total=booking.total,
        balance_due=booking.balance_due,
        currency=booking.currency,
        discount=booking.discount,
        promo_code=booking.promo_code,
        package_id=booking.package_id,
        hold_expires_at=booking.hold_expires_at,
        publishable_key=publishable_key,
        token=token,
        verify_url=verify_url,
        notify=NotifyChoice(email=booking.notify_email, sms=booking.notify_sms),
        participants=booking.participants,
        role=booking.role,
        list_price=booking.list_price,
    )


def _hold(draft: Booking, capacity: int, claim: tuple[str, str, str] | None, now: datetime) -> Booking:
    """Take `participants` free seats of the slot in one transaction (one seat unless a party books)."""
    try:
        return hold_seats(draft, capacity, claim, now)
    except store.IdempotencyKeyClaimed as exc:
        assert claim is not None  # a concurrent retry of the same request won the race: answer as it will
        return _booking_or_404(exc.booking_id)
    except store.PromoUnavailable:
        metrics.add_metric(name="PromoRefused", unit="Count", value=1)
        raise PromoUnavailable from None
    except store.PackageUnavailable:
        raise PackageUnavailable("no credit left for this session") from None
    except store.SeatTaken:
        metrics.add_metric(name="SlotTaken", unit="Count", value=1)
        raise SlotTaken from None


def hold_seats(
    draft: Booking,
    capacity: int,
    claim: tuple[str, str, str] | None,
    now: datetime,
    extra: Callable[[Transaction], None] | None = None,
) -> Booking:
    """Write the draft with `draft.participants` free seats of its slot. A one-seat booking tries the seats in
    order; a party reads which are free and takes that many, reading again if another booking took one meanwhile
    (every seat is still a conditional put). Raises store.SeatTaken when the party no longer fits.

    `extra`: more writes for the hold's transaction (a waitlist offer's). Without it, a hold of a waitlist service
    checks that nobody waits for the slot (store.PeopleWaiting: the freed seats are theirs)."""
    if extra is None and get_catalog().service(draft.service_id).waitlist:
        extra = partial(waitlist_store.check_nobody_waiting, event_type_id=draft.event_type_id, start=draft.slot_start)

    def attempt(first: int, others: list[int]) -> Booking | None:
        """The draft written with these seats, or None when another booking took one of them meanwhile."""
        booking = draft.model_copy(update={"seat_number": first, "extra_seat_numbers": others})
        try:
            store.create_held_booking(booking, idempotency=claim, now=now, extra=extra)
        except store.PeopleWaiting:
            raise  # a SeatTaken too, but no other seat of the slot is free for this hold either
        except store.SeatTaken:
            return None
        return booking

    if draft.participants == 1:
        for seat_number in range(capacity):
            if (held := attempt(seat_number, [])) is not None:
                return held
        raise store.SeatTaken
    for _attempt in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        free = store.free_seat_numbers(draft.event_type_id, draft.slot_start, capacity, now)
        if len(free) < draft.participants:
            break
        first, *others = free[: draft.participants]
        if (held := attempt(first, others)) is not None:
            return held
    raise store.SeatTaken


def _open_payment(booking: Booking, publishable_key: str) -> PaymentStart:
    """The booking's PaymentIntent: created once (deterministic Idempotency-Key), read back on a replay."""
    if booking.payment_intent_id:
        intent = payments.retrieve_payment_intent(booking.payment_intent_id)
    else:
        try:
            customer_id = booking.customer_id
            if booking.payment_type == "deposit" and not customer_id:
                customer_id = payments.create_customer(booking)
            intent = payments.create_payment_intent(booking, customer_id)
        except (PaymentProviderUnavailable, PaymentProviderError) as exc:
            _release_after_provider_failure(booking, exc)
            raise
        booking = store.attach_payment_intent(booking.booking_id, intent.id, customer_id, intent.status)
    assert intent.client_secret is not None
    return _payment_start(booking, publishable_key, intent.id, intent.client_secret)


def _release_after_provider_failure(booking: Booking, error: Exception) -> None:
    """Stripe failed: free the slot and forget the client key so a retry of the same request starts afresh."""
    metrics.add_metric(name="PaymentProviderFailed", unit="Count", value=1)
    current = store.get_booking(booking.booking_id)
    if current is None or current.status != BookingStatus.HELD or current.payment_intent_id:
        return  # a concurrent retry got the PaymentIntent: the hold is theirs now
    try:
        store.release_seat(
            current,
            BookingStatus.EXPIRED,
            actor="system",
            reason=f"payment provider failed: {error}",
            now=clock_now(),
            forget_idempotency_key=True,
        )
    except store.StaleBooking:
        logger.warning("hold changed while releasing it after a provider failure")


def _booking_or_404(booking_id: str) -> Booking:
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    return booking


def _replay(recorded: tuple[str, str], fingerprint: str, publishable_key: str) -> PaymentStart:
    """The same client request again: answer as the first time, or say why it cannot be the same."""
    booking_id, recorded_fingerprint = recorded
    if recorded_fingerprint != fingerprint:
        raise IdempotencyKeyReused
    booking = _booking_or_404(booking_id)
    logger.append_keys(booking_id=booking_id)
    if booking.status == BookingStatus.HELD and not booking.hold_is_live(clock_now()):
        raise BookingClosed(booking_id, "EXPIRED", "The hold on this slot has expired; please start again.")
    if booking.status in (BookingStatus.EXPIRED, BookingStatus.CANCELLED):
        raise BookingClosed(booking_id, booking.status.value)
    metrics.add_metric(name="IdempotentReplay", unit="Count", value=1)
    return _answer(booking, publishable_key)
