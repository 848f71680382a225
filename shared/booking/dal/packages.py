"""Packages a client bought: credits taken and given back inside the booking's own transactions.

A credit is taken in the hold's transaction (dal/bookings.create_held_booking) and recorded by booking id on the
package item, so a booking never holds two credits and the last credit goes to exactly one racing booking; a
cancellation that returns it (policy: inside the free window, or by the business) gives it back in the transaction
that cancels (dal/bookings.release_seat).

The package's own life is here too: bought PENDING with its purchase's Idempotency-Key claimed in the same
transaction, ACTIVE once paid, REFUNDED by the owner under a money lease on the package item (the refund marked
in flight before any Stripe call). Every write is conditional on the state the caller decided on.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from booking.dal.items import AttendeeMap, BookingItem, IdempotencyItem, PackageItem, TransitionMap
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.domain.models import Attendee, TransitionRecord


def package_pk(package_id: str) -> str:
    return f"PACKAGE#{package_id}"


def take_credit(tx: Transaction, package_id: str, booking_id: str, service_id: str, now: datetime) -> None:
    """One credit of an active, unexpired package that covers the service (label "package")."""
    usable = (
        (PackageItem.status == "ACTIVE")
        & (PackageItem.credits_used < PackageItem.sessions)
        & (PackageItem.expires_at.does_not_exist() | (PackageItem.expires_at > now))
        & PackageItem.services.contains(service_id)
        & (PackageItem.booking_ids.does_not_exist() | ~PackageItem.booking_ids.contains(booking_id))
    )
    tx.update(
        "package",
        PackageItem(package_pk(package_id), "PACKAGE"),
        [
            PackageItem.credits_used.add(1),
            PackageItem.booking_ids.add({booking_id}),
            PackageItem.booked_ids.add({booking_id}),
            PackageItem.updated_at.set(now),
        ],
        usable,
    )


def give_back_credit(tx: Transaction, package_id: str, booking_id: str, now: datetime) -> None:
    """Return the credit `booking_id` holds (label "package_return"); its condition makes it once only."""
    tx.update(
        "package_return",
        PackageItem(package_pk(package_id), "PACKAGE"),
        [
            PackageItem.credits_used.add(-1),
            PackageItem.booking_ids.delete({booking_id}),
            PackageItem.updated_at.set(now),
        ],
        PackageItem.booking_ids.contains(booking_id),
    )


def get(package_id: str) -> PackageItem | None:
    try:
        return PackageItem.get(package_pk(package_id), "PACKAGE", consistent_read=True)
    except DoesNotExist:
        return None


# --- the package's own life: bought (PENDING), paid (ACTIVE), refunded -------------------------------------------

PURCHASE_OPERATION = "package-purchase"
PURCHASE_KEY_TTL = timedelta(hours=24)  # as long as create-intent keeps a client's Idempotency-Key
PACKAGES_PARTITION = "PACKAGE"  # the package item's sort key: its StartIndex partition, by purchase time


class PackageStatus(StrEnum):
    PENDING = "PENDING"  # bought, its PaymentIntent not paid yet
    ACTIVE = "ACTIVE"  # paid: its credits book sessions
    REFUNDED = "REFUNDED"  # the owner refunded the unused credits: no more bookings
    CANCELLED = "CANCELLED"  # its PaymentIntent was cancelled unpaid


class PackageRecord(BaseModel):
    """A package a client bought, as the table has it (the money fields are copies of what Stripe says)."""

    model_config = ConfigDict(frozen=True)

    package_id: str
    catalog_id: str
    name: str
    buyer: Attendee
    secret_hash: str
    sessions: int
    credits_used: int = 0
    booking_ids: frozenset[str] = frozenset()  # holding a credit now
    booked_ids: frozenset[str] = frozenset()  # every booking that took a credit, returned or not
    services: list[str]
    currency: str
    price: int
    status: PackageStatus
    payment_intent_id: str | None = None
    paid_at: datetime | None = None
    expires_at: datetime | None = None
    amount_refunded: int = 0
    refund_ids: frozenset[str] = frozenset()
    money_lease: str | None = None
    money_lease_until: datetime | None = None
    idempotency_key_hash: str | None = None
    history: list[TransitionRecord] = []
    created_at: datetime
    updated_at: datetime

    @property
    def credits_remaining(self) -> int:
        return max(self.sessions - self.credits_used, 0)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class PackageChanged(Exception):
    """The package is not in the state the caller read: read it again and decide again."""


class IdempotencyKeyClaimed(Exception):
    """The purchase's Idempotency-Key was claimed by `claimed_by` (a concurrent retry of the same request)."""

    def __init__(self, claimed_by: str) -> None:
        super().__init__(claimed_by)
        self.claimed_by = claimed_by


def _ref(package_id: str) -> PackageItem:
    return PackageItem(package_pk(package_id), "PACKAGE")


def to_record(item: PackageItem) -> PackageRecord:
    values = {name: getattr(item, name, None) for name in PackageRecord.model_fields}
    values["buyer"] = {name: getattr(item.buyer, name) for name in item.buyer.get_attributes()}
    values["history"] = [{name: getattr(line, name) for name in line.get_attributes()} for line in item.history or []]
    return PackageRecord.model_validate({name: value for name, value in values.items() if value is not None})


def read(package_id: str) -> PackageRecord | None:
    item = get(package_id)
    return to_record(item) if item is not None else None


def _line(now: datetime, actor: str, source: str, target: str, reason: str) -> Action:
    return PackageItem.history.set(
        PackageItem.history.append([TransitionMap(at=now, actor=actor, source=source, target=target, reason=reason)])
    )


def _update(package_id: str, actions: list[Action], condition: Condition) -> PackageRecord:
    item = _ref(package_id)
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise PackageChanged(package_id) from exc
        raise
    return to_record(item)


def create_pending(package: PackageRecord, *, idempotency: tuple[str, str] | None, now: datetime) -> None:
    """Write the PENDING package; with a client key (its hash, the request's fingerprint), claim the key in the same
    transaction. Raises IdempotencyKeyClaimed (with the package id that claimed it)."""
    item = PackageItem(
        package_pk(package.package_id),
        "PACKAGE",
        listed_at=now,
        buyer=AttendeeMap(**package.buyer.model_dump()),
        history=[TransitionMap(at=now, actor="client", source="NEW", target="PENDING", reason="package bought")],
        **package.model_dump(
            exclude={"buyer", "history", "booking_ids", "booked_ids", "refund_ids"}, exclude_none=True
        ),
    )
    tx = Transaction()
    tx.put("package", item, PackageItem.pk.does_not_exist())
    if idempotency:
        key_hash, fingerprint = idempotency
        claim = IdempotencyItem(
            f"IDEMPOTENCY#{key_hash}",
            PURCHASE_OPERATION,
            booking_id=package.package_id,  # the item names what the key created: here a package
            fingerprint=fingerprint,
            expires_ttl=now + PURCHASE_KEY_TTL,
        )
        tx.put("idempotency", claim, IdempotencyItem.pk.does_not_exist())
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if "idempotency" in exc.failed and idempotency:
            claimed = claimed_purchase(idempotency[0])
            if claimed:
                raise IdempotencyKeyClaimed(claimed[0]) from exc
        raise PackageChanged(package.package_id) from exc


def claimed_purchase(key_hash: str) -> tuple[str, str] | None:
    """(package_id, request fingerprint) recorded for a purchase's Idempotency-Key, if any."""
    try:
        item = IdempotencyItem.get(f"IDEMPOTENCY#{key_hash}", PURCHASE_OPERATION, consistent_read=True)
    except DoesNotExist:
        return None
    return item.booking_id, item.fingerprint


def attach_payment_intent(package_id: str, payment_intent_id: str, now: datetime) -> PackageRecord:
    """The package's one PaymentIntent (the same one again on a retry; never another)."""
    return _update(
        package_id,
        [PackageItem.payment_intent_id.set(payment_intent_id), PackageItem.updated_at.set(now)],
        PackageItem.payment_intent_id.does_not_exist() | (PackageItem.payment_intent_id == payment_intent_id),
    )


def new_secret(package_id: str, secret_hash: str, now: datetime) -> PackageRecord:
    """Replace the secret of a package still unpaid (a replayed purchase: only its hash was kept)."""
    return _update(
        package_id,
        [PackageItem.secret_hash.set(secret_hash), PackageItem.updated_at.set(now)],
        PackageItem.status == PackageStatus.PENDING.value,
    )


def activate(package: PackageRecord, *, expires_at: datetime | None, actor: str, now: datetime) -> PackageRecord:
    """PENDING -> ACTIVE once its PaymentIntent succeeded; its credits lapse at `expires_at`."""
    actions = [
        PackageItem.status.set(PackageStatus.ACTIVE.value),
        PackageItem.paid_at.set(now),
        PackageItem.updated_at.set(now),
        _line(now, actor, "PENDING", "ACTIVE", f"paid ({package.payment_intent_id})"),
    ]
    if expires_at is not None:
        actions.append(PackageItem.expires_at.set(expires_at))
    condition = (PackageItem.status == PackageStatus.PENDING.value) & (
        PackageItem.payment_intent_id == (package.payment_intent_id or "")
    )
    return _update(package.package_id, actions, condition)


def cancel_pending(package_id: str, *, actor: str, reason: str, now: datetime) -> PackageRecord:
    """PENDING -> CANCELLED: its PaymentIntent was cancelled, nothing was paid."""
    return _update(
        package_id,
        [
            PackageItem.status.set(PackageStatus.CANCELLED.value),
            PackageItem.updated_at.set(now),
            _line(now, actor, "PENDING", "CANCELLED", reason),
        ],
        PackageItem.status == PackageStatus.PENDING.value,
    )


def start_refund(
    package_id: str, holder: str, *, actor: str, reason: str, now: datetime, until: datetime
) -> PackageRecord | None:
    """Mark the refund in flight (the money lease) and stop bookings (REFUNDED) in one conditional write, before
    any Stripe call. None while another worker holds the lease; PackageChanged when the package cannot be
    refunded (unknown, unpaid, cancelled)."""
    free = PackageItem.money_lease_until.does_not_exist() | (PackageItem.money_lease_until <= now)
    refundable = PackageItem.status.is_in(PackageStatus.ACTIVE.value, PackageStatus.REFUNDED.value)
    current = read(package_id)
    if current is None or current.status not in (PackageStatus.ACTIVE, PackageStatus.REFUNDED):
        raise PackageChanged(package_id)
    actions = [
        PackageItem.money_lease.set(holder),
        PackageItem.money_lease_until.set(until),
        PackageItem.status.set(PackageStatus.REFUNDED.value),
        PackageItem.updated_at.set(now),
        _line(now, actor, current.status.value, "REFUNDED", reason),
    ]
    try:
        return _update(package_id, actions, refundable & free)
    except PackageChanged:
        again = read(package_id)
        if again is not None and again.status in (PackageStatus.ACTIVE, PackageStatus.REFUNDED):
            return None  # refundable, so the lease is what is held
        raise


def finish_refund(
    package_id: str, holder: str, *, new_refund_ids: set[str], amount_refunded: int, now: datetime
) -> PackageRecord:
    """Record what Stripe says was refunded (each refund once, by its id) and end the lease, if still ours."""
    actions = [
        PackageItem.amount_refunded.set(amount_refunded),
        PackageItem.updated_at.set(now),
        PackageItem.money_lease.remove(),
        PackageItem.money_lease_until.remove(),
    ]
    condition = PackageItem.money_lease == holder
    if new_refund_ids:
        actions.append(PackageItem.refund_ids.add(new_refund_ids))
        for refund_id in new_refund_ids:
            condition = condition & (
                PackageItem.refund_ids.does_not_exist() | ~PackageItem.refund_ids.contains(refund_id)
            )
    return _update(package_id, actions, condition)


def record_stripe_refunds(package_id: str, *, new_refund_ids: set[str], amount_refunded: int, now: datetime) -> bool:
    """Copy what Stripe says was refunded (a refund made in the Dashboard) onto the package, while no refund of
    ours is in flight (its holder records it as the lease ends); each refund once, by its id. False if a refund
    is in flight or the refunds were recorded meanwhile."""
    condition = PackageItem.money_lease_until.does_not_exist() | (PackageItem.money_lease_until <= now)
    for refund_id in new_refund_ids:
        condition = condition & (PackageItem.refund_ids.does_not_exist() | ~PackageItem.refund_ids.contains(refund_id))
    actions = [PackageItem.amount_refunded.set(amount_refunded), PackageItem.updated_at.set(now)]
    if new_refund_ids:
        actions.append(PackageItem.refund_ids.add(new_refund_ids))
    try:
        _update(package_id, actions, condition)
    except PackageChanged:
        return False
    return True


def end_lease(package_id: str, holder: str) -> None:
    """The refund failed before it could be recorded: end the lease (the package stays REFUNDED; a retry reads
    Stripe and makes what is still owed)."""
    with suppress(PackageChanged):
        _update(
            package_id,
            [PackageItem.money_lease.remove(), PackageItem.money_lease_until.remove()],
            PackageItem.money_lease == holder,
        )


def list_packages(
    limit: int, after: tuple[str, datetime] | None
) -> tuple[list[PackageRecord], tuple[str, datetime] | None]:
    """Packages newest purchase first (StartIndex's "PACKAGE" partition, then each by key): a page and where the
    next one starts, as (package_id, purchase time)."""
    last_key = None
    if after is not None:
        last_key = {
            "pk": {"S": package_pk(after[0])},
            "sk": {"S": PACKAGES_PARTITION},
            "slot_start": {"S": UTCDateTimeAttribute().serialize(after[1])},
        }
    pages = BookingItem.start_index.query(
        PACKAGES_PARTITION, scan_index_forward=False, last_evaluated_key=last_key, page_size=limit
    ).page_iter
    keys: list[str] = []
    resume: tuple[str, datetime] | None = None
    for page in pages:
        items = page.get("Items") or []
        for position, raw in enumerate(items):
            keys.append(raw["pk"]["S"])
            if len(keys) == limit:
                more = position < len(items) - 1 or pages.last_evaluated_key is not None
                found = _batch(keys)
                if more and found:
                    resume = (found[-1].package_id, found[-1].created_at)
                return found, resume
    return _batch(keys), None


def _batch(pks: list[str]) -> list[PackageRecord]:
    items = {
        item.pk: item for item in PackageItem.batch_get([(pk, PACKAGES_PARTITION) for pk in pks], consistent_read=True)
    }
    return [to_record(items[pk]) for pk in pks if pk in items]
