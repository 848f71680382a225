"""Prepaid packages: a client buys N sessions of some services upfront and books them one at a time.

Buying is a PaymentIntent like a booking's (metadata purpose "package"); the package becomes ACTIVE when Stripe says
it succeeded, by its webhook or when the client reads the package. A credit is taken in a booking's hold
transaction and given back by a cancellation the policy allows (flows/cancellation.py). The owner's refund pays back
the unused credits' share of the price, read against what Stripe already refunded.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import datetime, timedelta
from typing import Literal, cast
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from booking import cursors
from booking.api_models import AttendeeIn, PriceOut, RequestBody
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import packages as package_store
from booking.dal.items import PackageItem
from booking.dal.packages import PackageRecord, PackageStatus
from booking.digests import digest, fingerprint
from booking.domain.catalog import Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Attendee, Booking, TransitionRecord
from booking.domain.policy import package_refund_share
from booking.domain.pricing import format_amount
from booking.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    MoneyInFlight,
    PackageNotFound,
    PackageNotRefundable,
    PackageUnavailable,
    PurchaseComplete,
)
from booking.observability import logger, metrics
from booking.owner.alerts import orphan_payment
from booking.providers import payments
from booking.providers.payments import PaymentIntentView, RefundView
from booking.settings import get_settings, stripe_publishable_key


def usable_package(package_id: str, secret: str, service: Service, now: datetime) -> PackageItem:
    """The package if its secret matches and it has a credit for `service` now (the hold's transaction checks the
    credit again). An unknown id and a wrong secret answer the same: ids are not enumerable."""
    item = package_store.get(package_id)
    if item is None or not hmac.compare_digest(item.secret_hash, digest(secret)):
        raise PackageUnavailable("unknown package or wrong secret")
    if item.status != "ACTIVE":
        state = "not paid yet" if item.status == "PENDING" else f"the package is {item.status.lower()}"
        raise PackageUnavailable(state)
    if item.expires_at is not None and item.expires_at <= now:
        raise PackageUnavailable(f"the package expired on {item.expires_at.date().isoformat()}")
    if service.id not in item.services:
        raise PackageUnavailable(f"the package does not cover {service.name}")
    if item.credits_used >= item.sessions:
        raise PackageUnavailable(f"all {item.sessions} sessions are used")
    return item


# --- buying a package ---------------------------------------------------------------------------------------------


class PurchaseRequest(RequestBody):
    package_id: str = Field(min_length=1, max_length=64, description="The catalog's package id (GET /config)")
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$", description="One of the package's")
    buyer: AttendeeIn


class PackagePurchase(BaseModel):
    package_id: str
    secret: str = Field(description="Keep it: it shows the package and books with it (sent as X-Package-Secret)")
    package_url: str = Field(description="SITE_BASE_URL/book/package?id=...&secret=...")
    payment_intent_id: str
    client_secret: str
    publishable_key: str = Field(description="Stripe's publishable key, for Stripe(pk) with client_secret")
    amount: int
    currency: str
    sessions: int
    name: str


def new_package_id() -> str:
    return f"pkg_{secrets.token_hex(12)}"


def purchase(request: PurchaseRequest, idempotency_key: str | None) -> PackagePurchase:
    """A PENDING package and its PaymentIntent (metadata purpose "package"); it becomes ACTIVE once Stripe says the
    payment succeeded (webhook, or the client's next read). A replay of the same request (same Idempotency-Key)
    answers the same package and PaymentIntent with a new secret: only the secret's hash is kept."""
    publishable_key = stripe_publishable_key()  # before anything is written: without it the client cannot pay
    now = clock_now()
    claim = (digest(idempotency_key), fingerprint(request)) if idempotency_key else None
    if claim:
        recorded = package_store.claimed_purchase(claim[0])
        if recorded:
            return _replay(recorded, claim[1], publishable_key)
    offer = get_catalog().package(request.package_id)
    price = offer.price_in(request.currency)
    secret = secrets.token_urlsafe(32)
    package = package_store.PackageRecord(
        package_id=new_package_id(),
        catalog_id=offer.id,
        name=offer.name,
        buyer=request.buyer.to_domain(),
        secret_hash=digest(secret),
        sessions=offer.sessions,
        services=list(offer.services),
        currency=price.currency,
        price=price.amount,
        status=PackageStatus.PENDING,
        idempotency_key_hash=claim[0] if claim else None,
        created_at=now,
        updated_at=now,
    )
    try:
        package_store.create_pending(package, idempotency=claim, now=now)
    except package_store.IdempotencyKeyClaimed as exc:
        assert claim is not None  # a concurrent retry of the same request won the race
        return _replay((exc.claimed_by, claim[1]), claim[1], publishable_key)
    logger.append_keys(package_id=package.package_id)
    metrics.add_metric(name="PackageBought", unit="Count", value=1)
    return _open_payment(package, secret, publishable_key)


def _open_payment(package: PackageRecord, secret: str, publishable_key: str) -> PackagePurchase:
    """The package's PaymentIntent: created once (deterministic Idempotency-Key), read back on a replay."""
    if package.payment_intent_id:
        intent = payments.retrieve_payment_intent(package.payment_intent_id)
    else:
        intent = payments.create_package_payment_intent(
            package.package_id, amount=package.price, currency=package.currency, name=package.name
        )
        package = package_store.attach_payment_intent(package.package_id, intent.id, clock_now())
    assert intent.client_secret is not None
    query = urlencode({"id": package.package_id, "secret": secret})
    return PackagePurchase(
        package_id=package.package_id,
        secret=secret,
        package_url=f"{str(get_settings().site_base_url).rstrip('/')}/book/package?{query}",
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        publishable_key=publishable_key,
        amount=package.price,
        currency=package.currency,
        sessions=package.sessions,
        name=package.name,
    )


def _replay(recorded: tuple[str, str], request_fingerprint: str, publishable_key: str) -> PackagePurchase:
    package_id, recorded_fingerprint = recorded
    if recorded_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused
    package = package_store.read(package_id)
    if package is None:
        raise PackageNotFound
    if package.status != PackageStatus.PENDING:
        raise PurchaseComplete(package_id, package.status.value)
    secret = secrets.token_urlsafe(32)
    try:
        package = package_store.new_secret(package_id, digest(secret), clock_now())
    except package_store.PackageChanged:
        raise PurchaseComplete(package_id, "ACTIVE") from None
    metrics.add_metric(name="IdempotentReplay", unit="Count", value=1)
    return _open_payment(package, secret, publishable_key)


# --- paid: the package becomes usable -------------------------------------------------------------------------


def payment_succeeded(intent: PaymentIntentView, *, actor: str) -> str:
    """Stripe's webhook: the package's PaymentIntent succeeded. A payment no package accounts for (unknown package,
    another amount) is never dropped silently: the owner is alerted once, as for an orphan booking payment."""
    package_id = intent.metadata.get("package_id") or ""
    package = package_store.read(package_id)
    logger.append_keys(package_id=package_id)
    activated = _activate(package, intent, actor=actor) if package is not None else None
    if activated is None or activated.status == PackageStatus.PENDING:
        why = f"package {package_id} is unknown" if activated is None else f"package {package_id} was not activated"
        metrics.add_metric(name="OrphanPayment", unit="Count", value=1)
        orphan_payment(intent.id, intent.amount_received or intent.amount, intent.currency, why)
        return "orphan package payment: the owner alerted"
    return activated.status.value.lower()


def _activate(package: PackageRecord, intent: PaymentIntentView, *, actor: str) -> PackageRecord:
    if package.status != PackageStatus.PENDING or intent.status != "succeeded":
        return package
    if intent.id != package.payment_intent_id or intent.amount_received != package.price:
        logger.error("package payment does not match", extra={"payment_intent_id": intent.id})
        return package  # stays PENDING: the webhook alerts the owner
    offer_days = get_catalog().package(package.catalog_id).expires_days
    now = clock_now()
    try:
        activated = package_store.activate(
            package, expires_at=now + timedelta(days=offer_days) if offer_days else None, actor=actor, now=now
        )
    except package_store.PackageChanged:
        return package_store.read(package.package_id) or package  # activated meanwhile by the other path
    metrics.add_metric(name="PackageActivated", unit="Count", value=1)
    return activated


def payment_canceled(package_id: str, reason: str | None) -> str:
    """The package's PaymentIntent was cancelled unpaid: the package is CANCELLED (nothing to refund)."""
    try:
        package_store.cancel_pending(
            package_id,
            actor="stripe",
            reason=f"PaymentIntent canceled ({reason or 'no reason given'})",
            now=clock_now(),
        )
    except package_store.PackageChanged:
        return "nothing to cancel"
    return "package cancelled unpaid"


# --- what the client and the owner see ----------------------------------------------------------------------------

CreditState = Literal["used", "returned", "forfeited"]
ViewStatus = Literal["pending", "active", "refunded", "cancelled", "expired"]
SPENT = frozenset({BookingStatus.CANCELLED, BookingStatus.NO_SHOW, BookingStatus.EXPIRED})


class PackageBooking(BaseModel):
    booking_id: str
    service_id: str
    start: datetime
    status: BookingStatus
    credit: CreditState = Field(description="used: the session holds it; returned: given back; forfeited: lost")


class PackageView(BaseModel):
    package_id: str
    catalog_id: str
    name: str
    status: ViewStatus
    sessions: int
    credits_used: int
    credits_remaining: int = Field(description="Sessions not used (bookable only while the status is active)")
    expires_at: datetime | None
    services: list[str]
    price: PriceOut
    bookings: list[PackageBooking]


class OwnerPackage(PackageView):
    buyer: Attendee
    payment_intent_id: str | None
    paid_at: datetime | None
    amount_refunded: int
    created_at: datetime
    history: list[TransitionRecord]


def credit_state(booking: Booking, package: PackageRecord) -> CreditState:
    """Whether the booking's credit is still spent on it: held by a live session (used), kept by the business after
    a late cancellation or a no-show (forfeited), or given back."""
    if booking.booking_id not in package.booking_ids:
        return "returned"
    return "forfeited" if booking.status in SPENT or booking.no_show else "used"


def _status(package: PackageRecord, now: datetime) -> ViewStatus:
    if package.status == PackageStatus.ACTIVE and package.expired(now):
        return "expired"
    return cast(ViewStatus, package.status.value.lower())


def _view_fields(package: PackageRecord) -> dict[str, object]:
    found = [b for b in (store.get_booking(i) for i in sorted(package.booked_ids)) if b is not None]
    return {
        "package_id": package.package_id,
        "catalog_id": package.catalog_id,
        "name": package.name,
        "status": _status(package, clock_now()),
        "sessions": package.sessions,
        "credits_used": package.credits_used,
        "credits_remaining": package.credits_remaining,
        "expires_at": package.expires_at,
        "services": package.services,
        "price": PriceOut(amount=package.price, currency=package.currency),
        "bookings": [
            PackageBooking(
                booking_id=b.booking_id,
                service_id=b.service_id,
                start=b.slot_start,
                status=b.status,
                credit=credit_state(b, package),
            )
            for b in sorted(found, key=lambda b: (b.slot_start, b.booking_id))
        ],
    }


def client_view(package_id: str, secret: str | None) -> PackageView:
    """The package for whoever holds its secret. A pending package whose payment succeeded is activated here too
    (as create-token does for a booking), so a lost webhook never leaves a paid package unusable."""
    package = _authorized(package_id, secret)
    if package.status == PackageStatus.PENDING and package.payment_intent_id:
        intent = payments.retrieve_payment_intent(package.payment_intent_id)
        if intent.status == "succeeded":
            package = _activate(package, intent, actor="client")
        elif intent.status == "canceled":
            payment_canceled(package_id, "seen on read")
            package = package_store.read(package_id) or package
    return PackageView.model_validate(_view_fields(package))


def _authorized(package_id: str, secret: str | None) -> PackageRecord:
    package = package_store.read(package_id) if package_id.startswith("pkg_") else None
    # The same answer for an unknown id and a wrong secret: ids cannot be enumerated.
    if package is None or not secret or not hmac.compare_digest(package.secret_hash, digest(secret)):
        raise PackageNotFound
    logger.append_keys(package_id=package_id)
    return package


def owner_view(package_id: str) -> OwnerPackage:
    package = package_store.read(package_id)
    if package is None:
        raise PackageNotFound
    return _owner(package)


def _owner(package: PackageRecord) -> OwnerPackage:
    return OwnerPackage.model_validate(
        _view_fields(package)
        | {
            "buyer": package.buyer,
            "payment_intent_id": package.payment_intent_id,
            "paid_at": package.paid_at,
            "amount_refunded": package.amount_refunded,
            "created_at": package.created_at,
            "history": package.history,
        }
    )


class OwnerPackageSummary(BaseModel):
    package_id: str
    catalog_id: str
    name: str
    status: ViewStatus
    buyer: Attendee
    sessions: int
    credits_used: int
    credits_remaining: int
    price: PriceOut
    amount_refunded: int
    expires_at: datetime | None
    created_at: datetime


class OwnerPackages(BaseModel):
    packages: list[OwnerPackageSummary]  # newest purchase first
    next_cursor: str | None  # pass as `cursor` for the next page; null: this is the last page


def owner_list(limit: int, cursor: str | None) -> OwnerPackages:
    after = _decode_cursor(cursor) if cursor else None
    found, resume = package_store.list_packages(limit, after)
    now = clock_now()
    return OwnerPackages(
        packages=[
            OwnerPackageSummary(
                package_id=p.package_id,
                catalog_id=p.catalog_id,
                name=p.name,
                status=_status(p, now),
                buyer=p.buyer,
                sessions=p.sessions,
                credits_used=p.credits_used,
                credits_remaining=p.credits_remaining,
                price=PriceOut(amount=p.price, currency=p.currency),
                amount_refunded=p.amount_refunded,
                expires_at=p.expires_at,
                created_at=p.created_at,
            )
            for p in found
        ],
        next_cursor=cursors.encode(f"{resume[0]}|{resume[1].isoformat()}") if resume else None,
    )


def _decode_cursor(cursor: str) -> tuple[str, datetime]:
    try:
        package_id, at = cursors.decode(cursor).split("|", 1)
        if not package_id.startswith("pkg_"):
            raise ValueError(package_id)
        return package_id, datetime.fromisoformat(at)
    except ValueError as exc:
        raise InvalidRequest(
            "The cursor is not one this list gave.",
            fields={"cursor": "use next_cursor from the previous page, unchanged"},
        ) from exc


# --- the owner refunds the unused credits ---------------------------------------------------------------------

REFUND_PURPOSE = "package_refund"
LEASE = timedelta(seconds=60)  # longer than the Stripe calls of one refund; a crashed worker's lease lapses
LEASE_WAIT_SECONDS = 5.0
LEASE_POLL_SECONDS = 0.1


class PackageRefundRequest(RequestBody):
    reason: str = Field(default="refund of the unused sessions", min_length=1, max_length=500)


class PackageRefund(BaseModel):
    message: str
    refunded: int = Field(description="What this request refunded now (0 when it was already done)")
    package: OwnerPackage


def refund(package_id: str, body: PackageRefundRequest, *, actor: str, request: str) -> PackageRefund:
    """Refund the unused credits' share of the price and stop the package (REFUNDED), once.

    Under the package's money lease, taken with the status change before any Stripe call, the refunds Stripe has
    for the PaymentIntent are read first (ours and the Dashboard's), and only the share not yet returned is
    refunded, under a key derived from what Stripe already has. A retry (any Idempotency-Key, any time, after
    Stripe forgot its own key) reads the refund it made and refunds nothing more."""
    holder = secrets.token_hex(8)
    package = _lease(package_id, holder, actor=actor, reason=body.reason)
    try:
        refunds = payments.refunds_of(package.payment_intent_id or "")
        intent = payments.retrieve_payment_intent(package.payment_intent_id or "")
        returned = sum(r.amount for r in refunds if r.counts)
        mine = [r for r in refunds if r.request == request and r.counts]
        share = package_refund_share(price=package.price, sessions=package.sessions, credits_used=package.credits_used)
        owed = min(share - returned, intent.amount_received - returned)
        made: list[RefundView] = []
        if not mine and owed > 0:
            attempt = sum(1 for r in refunds if r.purpose == REFUND_PURPOSE)
            made = [
                payments.create_package_refund(
                    package.package_id,
                    package.payment_intent_id or "",
                    owed,
                    purpose=REFUND_PURPOSE,
                    reason=body.reason,
                    key=payments.package_key(package.package_id, f"refund:{attempt}"),
                    request=request,
                )
            ]
            metrics.add_metric(name="PackageRefunded", unit="Count", value=1)
        known = {r.refund_id for r in refunds} | {r.refund_id for r in made}
        recorded = package_store.finish_refund(
            package_id,
            holder,
            new_refund_ids=known - package.refund_ids,
            amount_refunded=returned + sum(r.amount for r in made if r.counts),
            now=clock_now(),
        )
    except BaseException:
        package_store.end_lease(package_id, holder)
        raise
    # The same request again answers what it refunded the first time; another request, what it added (maybe 0).
    refunded = sum(r.amount for r in mine or made)
    unused = package.sessions - package.credits_used
    message = (
        f"Refunded {format_amount(refunded, package.currency)} for {unused} unused sessions."
        if refunded
        else f"Nothing more to refund: {format_amount(returned, package.currency)} already returned."
    )
    return PackageRefund(message=message, refunded=refunded, package=_owner(recorded))


def stripe_refunded(package_id: str) -> str:
    """Stripe reports a refund of the package's payment (ours, or one made in the Dashboard): the owner's view
    shows what Stripe says was returned. Money is never decided here: the owner's refund reads Stripe itself."""
    package = package_store.read(package_id)
    if package is None or not package.payment_intent_id:
        return "ignored: unknown package"
    logger.append_keys(package_id=package_id)
    refunds = payments.refunds_of(package.payment_intent_id)
    returned = sum(r.amount for r in refunds if r.counts)
    new = {r.refund_id for r in refunds} - package.refund_ids
    if not new and returned == package.amount_refunded:
        return f"package refunds recorded: {returned}"
    if not package_store.record_stripe_refunds(
        package_id, new_refund_ids=new, amount_refunded=returned, now=clock_now()
    ):
        return "a refund of ours is in flight or recorded it: it records what Stripe says"
    return f"package refunds recorded: {returned}"


def _lease(package_id: str, holder: str, *, actor: str, reason: str) -> PackageRecord:
    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    while True:
        now = clock_now()
        try:
            package = package_store.start_refund(
                package_id,
                holder,
                actor=actor,
                reason=f"refund of the unused sessions: {reason}",
                now=now,
                until=now + LEASE,
            )
        except package_store.PackageChanged:
            current = package_store.read(package_id)
            if current is None:
                raise PackageNotFound from None
            raise PackageNotRefundable(package_id, current.status.value) from None
        if package is not None:
            logger.append_keys(package_id=package_id)
            return package
        if time.monotonic() >= deadline:
            raise MoneyInFlight("Another refund of this package is in progress; try again in a moment.")
        time.sleep(LEASE_POLL_SECONDS)
