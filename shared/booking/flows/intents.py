"""Start a booking: price it, hold the slot, open the PaymentIntent (POST /payments/create-intent).

Prices come from the catalog in the currency the client picks; a promo code's use or a package's credit is taken
in the hold's own transaction. A booking with nothing to pay (a free service, a 100% code, a package credit) never
reaches Stripe: it is held and paid at 0 in that transaction and answered with its verify link at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from booking.clock import now as clock_now
from booking.clock import to_utc
from booking.dal import blocks
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
    DomainError,
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
from booking.flows.availability import blocked_date, business_date, check_bookable
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


FINGERPRINT_CHARS = 32  # what a booking keeps of its request's fingerprint: 128 bits tell two requests apart
MAX_KEY_GENERATIONS = 20  # holds one client key may make, each released after the payment provider failed


def booking_id_for_key(idempotency_key: str, generation: int = 1) -> str:
    """The id of the booking a client key makes: a replay's hold meets the booking already there (its failed
    condition returns it), so nothing is read before the hold. A hold released because the payment provider
    failed forgets its request: the retry holds under the next generation's id (and so its own Stripe keys)."""
    scope = f"{OPERATION}:{idempotency_key}" + (f":{generation}" if generation > 1 else "")
    return f"bk_{digest(scope)[:24]}"


class Keyed(NamedTuple):
    """A request with a client key: the key and the request's fingerprint."""

    key: str
    fingerprint: str


def hash_key(idempotency_key: str) -> str:
    return digest(idempotency_key)


class _Replayed(Exception):
    """The hold met the booking the same request made before: answer with it."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(booking.booking_id)
        self.booking = booking


def start_booking(request: BookingRequest, idempotency_key: str | None = None) -> PaymentStart:
    publishable_key = stripe_publishable_key()  # before anything is held: without it the client cannot pay
    if idempotency_key is None:
        return _start(request, None, None, publishable_key)
    fingerprint = request.fingerprint()
    if request.recurrence is not None:  # a series claims its key in a record of its own (flows/series.py)
        claim = (hash_key(idempotency_key), OPERATION, fingerprint)
        recorded = store.idempotent_booking(claim[0], OPERATION)
        if recorded:
            return _replay(recorded, fingerprint, publishable_key)
        return _start(request, claim, None, publishable_key)
    keyed = Keyed(idempotency_key, fingerprint[:FINGERPRINT_CHARS])
    try:
        return _start(request, None, keyed, publishable_key)
    except _Replayed as replay:
        return _answer(replay.booking, publishable_key)
    except (IdempotencyKeyReused, BookingClosed):
        raise
    except DomainError:
        # Refused before anything was written (a slot no longer bookable, taken...): a replay of a request that
        # made its booking earlier is still answered with it.
        earlier = _made_before(keyed, publishable_key)
        if earlier is None:
            raise
        return earlier


def _start(
    request: BookingRequest,
    claim: tuple[str, str, str] | None,
    keyed: Keyed | None,
    publishable_key: str,
) -> PaymentStart:
    """Validate, price and hold. `claim`: a series' key record; `keyed`: a booking whose id derives from the
    client's key."""
    now = clock_now()
    service = get_catalog().service(request.service_id)
    check_phone(service, request.attendee, request.notify.sms)
    check_party(service, request.participants, request.party, request.attendee.email)
    # a series checks each date's block here (its preview's reasons); a single hold in its own transaction
    start = check_bookable(service, request.start, now, buffers=True, check_blocks=request.recurrence is not None)
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
        booking_id=booking_id_for_key(keyed.key) if keyed else new_booking_id(),
        notify_email=request.notify.email,
        notify_sms=request.notify.sms,
        participants=request.participants,
        request_fingerprint=keyed.fingerprint if keyed else None,
        promo_code=request.promo_code,
        discount=price.discount,
        package_id=request.package_id,
        backup_start=backup_start,
        party=request.party,
        role=role,
    )
    booking = _hold(draft, service.capacity, claim, now, keyed)
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


def _hold(
    draft: Booking,
    capacity: int,
    claim: tuple[str, str, str] | None,
    now: datetime,
    keyed: Keyed | None = None,
    generation: int = 1,
) -> Booking:
    """Take `participants` free seats of the slot in one transaction (one seat unless a party books)."""
    try:
        return hold_seats(draft, capacity, claim, now)
    except store.IdempotencyKeyClaimed as exc:
        if keyed is None:
            assert claim is not None  # a concurrent retry of the same request won the race: answer as it will
            return _booking_or_404(exc.booking_id)
        existing = exc.existing or _await_booking(exc.booking_id)
        if existing is None:  # the same request's hold in flight failed after all (its slot was taken)
            raise SlotTaken from None
        if _forgotten(existing):
            if generation >= MAX_KEY_GENERATIONS:
                raise BookingClosed(existing.booking_id, "EXPIRED", "Please start again with a new request.") from None
            retry = draft.model_copy(update={"booking_id": booking_id_for_key(keyed.key, generation + 1)})
            return _hold(retry, capacity, claim, now, keyed, generation + 1)
        raise _Replayed(_replayed(existing, existing.request_fingerprint, keyed.fingerprint)) from None
    except store.PromoUnavailable:
        metrics.add_metric(name="PromoRefused", unit="Count", value=1)
        raise PromoUnavailable from None
    except store.PackageUnavailable:
        raise PackageUnavailable("no credit left for this session") from None
    except store.SeatTaken:
        metrics.add_metric(name="SlotTaken", unit="Count", value=1)
        raise SlotTaken from None
    except store.DateBlocked:
        raise blocked_date() from None


def _forgotten(booking: Booking) -> bool:
    """A keyed hold released because the payment provider failed (release_seat removed its fingerprint)."""
    return booking.request_fingerprint is None and booking.status == BookingStatus.EXPIRED


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
    checks that nobody waits for the slot (store.PeopleWaiting: the freed seats are theirs). Every hold checks in
    the same transaction that its business date is not blocked (store.DateBlocked): no Query of the blocks first,
    and a block written meanwhile either refuses it or finds it among the date's bookings."""
    if extra is None and get_catalog().service(draft.service_id).waitlist:
        extra = partial(waitlist_store.check_nobody_waiting, event_type_id=draft.event_type_id, start=draft.slot_start)
    day = business_date(draft.slot_start)

    def writes(tx: Transaction) -> None:
        blocks.check_open(tx, day)
        if extra is not None:
            extra(tx)

    def attempt(first: int, others: list[int]) -> Booking | None:
        """The draft written with these seats, or None when another booking took one of them meanwhile."""
        booking = draft.model_copy(update={"seat_number": first, "extra_seat_numbers": others})
        try:
            store.create_held_booking(booking, idempotency=claim, now=now, extra=writes)
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


def _await_booking(booking_id: str) -> Booking | None:
    """The booking a concurrent transaction of the same request is writing (a transaction conflict): read until
    it is there, briefly."""
    for wait in (0.0, 0.05, 0.1, 0.2, 0.4):
        time.sleep(wait)
        if (booking := store.get_booking(booking_id)) is not None:
            return booking
    return None


def _made_before(keyed: Keyed, publishable_key: str) -> PaymentStart | None:
    """The answer to a request this key made a booking with before, or None when it made none (read only when a
    keyed request is refused: a replay of a booking made meanwhile, or made before ids derived from keys)."""
    for generation in range(1, MAX_KEY_GENERATIONS + 1):
        booking = store.get_booking(booking_id_for_key(keyed.key, generation))
        if booking is None:
            break
        if not _forgotten(booking):
            return _answer(_replayed(booking, booking.request_fingerprint, keyed.fingerprint), publishable_key)
    recorded = store.idempotent_booking(hash_key(keyed.key), OPERATION)
    return _replay(recorded, keyed.fingerprint, publishable_key) if recorded else None


def _replay(recorded: tuple[str, str], fingerprint: str, publishable_key: str) -> PaymentStart:
    """The same client request again (a key record): answer as the first time, or say why it cannot be the same."""
    booking_id, recorded_fingerprint = recorded
    if not _same_request(recorded_fingerprint, fingerprint):
        raise IdempotencyKeyReused
    return _answer(_replayed(_booking_or_404(booking_id), recorded_fingerprint, fingerprint), publishable_key)


def _same_request(recorded: str | None, fingerprint: str) -> bool:
    """Whether a recorded fingerprint (a key record's whole one, or a booking's first FINGERPRINT_CHARS) is this
    request's."""
    return recorded is not None and recorded[:FINGERPRINT_CHARS] == fingerprint[:FINGERPRINT_CHARS]


def _replayed(booking: Booking, recorded_fingerprint: str | None, fingerprint: str) -> Booking:
    """The booking the same request made, if it may be answered again; else why not (422 another request with the
    key, 409 the hold has ended)."""
    if not _same_request(recorded_fingerprint, fingerprint):
        raise IdempotencyKeyReused
    booking_id = booking.booking_id
    logger.append_keys(booking_id=booking_id)
    if booking.status == BookingStatus.HELD and not booking.hold_is_live(clock_now()):
        raise BookingClosed(booking_id, "EXPIRED", "The hold on this slot has expired; please start again.")
    if booking.status in (BookingStatus.EXPIRED, BookingStatus.CANCELLED):
        raise BookingClosed(booking_id, booking.status.value)
    metrics.add_metric(name="IdempotentReplay", unit="Count", value=1)
    return booking
