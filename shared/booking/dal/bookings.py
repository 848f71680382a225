"""Bookings, their held seats, tokens and client idempotency records.

Every write here is conditional. A booking changes status only through `transition` and friends, whose
condition is "the status is still the one the caller decided on"; a caller whose view went stale gets
`StaleBooking` and decides again on a fresh read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import botocore.exceptions
from pynamodb.attributes import Attribute, MapAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action

from booking.clock import iso_z
from booking.dal import packages, promos
from booking.dal.items import (
    AttendeeMap,
    BookingItem,
    FlagMap,
    IdempotencyItem,
    ParticipantMap,
    PaymentMap,
    RefundMap,
    SeatItem,
    TokenItem,
    TransitionMap,
)
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.domain.lifecycle import BookingStatus, check_transition
from booking.domain.models import Booking, BookingToken, Flag, Participant, RefundRecord, Seat, TransitionRecord

CONFIRM_GRACE = timedelta(minutes=3)  # a PAID booking is due for the cleanup job's confirmation after this
SEAT_TTL_MARGIN = timedelta(days=1)  # garbage-collect lapsed holds a day after expiry (expiry itself is in code)
IDEMPOTENCY_TTL = timedelta(hours=24)
INBOX_TTL = timedelta(days=30)
INBOX_FIRST_RETRY = timedelta(minutes=2)  # the webhook's own delivery (and Stripe's retries) get this long first
INBOX_MAX_RETRY = timedelta(hours=2)
MAX_EVENT_ATTEMPTS = 8  # then the event is set aside and its booking flagged (about 7 h after it arrived)
MAX_OPTIMISTIC_ATTEMPTS = 5


class StaleBooking(Exception):
    """The booking changed since it was read: read it again and decide again."""


class BookingChanged(StaleBooking):
    """The booking changed while its money lease was held: decide again on the new state."""


class SeatTaken(Exception):
    """Another live booking holds this seat."""


class PromoUnavailable(Exception):
    """The promo code cannot be used now (unknown, inactive, outside its dates, not for this service, used up)."""


class PackageUnavailable(Exception):
    """The package has no credit for this booking (not paid, used up, expired, refunded, another service)."""


class PeopleWaiting(SeatTaken):
    """The slot's waitlist has parties waiting: its freed seats are theirs (dal/waitlist.py), not a new hold's."""


class DateBlocked(Exception):
    """The owner blocked the business's date of the hold (its transaction's check of dal/blocks' day item)."""


class IdempotencyKeyClaimed(Exception):
    """The client's key made a booking already: `booking_id`, and that booking as it is when the failed write
    returned it (None when it must be read: a claim record, or a transaction of the same request in flight)."""

    def __init__(self, booking_id: str, existing: Booking | None = None) -> None:
        super().__init__(booking_id)
        self.booking_id = booking_id
        self.existing = existing


def booking_pk(booking_id: str) -> str:
    return f"BOOKING#{booking_id}"


def seat_keys(seat: Seat) -> tuple[str, str]:
    return f"SLOT#{seat.event_type_id}#{iso_z(seat.start)}", f"SEAT#{seat.number}"


def _plain(value: Any) -> Any:
    if isinstance(value, MapAttribute):
        return {name: _plain(getattr(value, name)) for name in value.get_attributes()}
    if isinstance(value, list):
        return [_plain(entry) for entry in value]
    return value


def to_booking(item: BookingItem) -> Booking:
    values = {name: _plain(getattr(item, name)) for name in Booking.model_fields}
    return Booking.model_validate({name: value for name, value in values.items() if value is not None})


def due_at(status: BookingStatus, booking: Booking, now: datetime) -> datetime:
    """When the scheduled jobs should next look at a booking in this status (the DueIndex sort key)."""
    if status == BookingStatus.HELD:
        return booking.hold_expires_at
    if status == BookingStatus.PAID:
        return now + CONFIRM_GRACE
    if status == BookingStatus.CONFIRMED:
        return booking.slot_start
    return now


# --- reads -----------------------------------------------------------------------------------------------


def get_booking(booking_id: str) -> Booking | None:
    try:
        return to_booking(BookingItem.get(booking_pk(booking_id), "BOOKING", consistent_read=True))
    except DoesNotExist:
        return None


def bookings_due(
    status: BookingStatus,
    before: datetime,
    limit: int | None = None,
    *,
    unchecked_since: datetime | None = None,
    read_at_most: int | None = None,
) -> Iterator[Booking]:
    """Bookings in `status` whose due time has come, oldest first (DueIndex: never a scan). The index holds keys
    (and `cal_checked_at`): the bookings are read in one consistent BatchGetItem per 100. `unchecked_since`: only
    those whose Cal.com booking was not checked since then (decided on the index entry, before any read);
    `read_at_most`: the first so many of those."""
    entries = BookingItem.status_index.query(status, BookingItem.due_at <= before, limit=limit)
    pks = [
        entry.pk
        for entry in entries
        if unchecked_since is None or entry.cal_checked_at is None or entry.cal_checked_at < unchecked_since
    ]
    yield from _read_in_order(pks[:read_at_most])


def _read_in_order(pks: list[str]) -> Iterator[Booking]:
    """The bookings of these keys, in this order, read in batches (one request per 100); gone ones left out."""
    for start in range(0, len(pks), 100):
        page = pks[start : start + 100]
        keys = [(pk, "BOOKING") for pk in page]
        found = {item.pk: item for item in BookingItem.batch_get(keys, consistent_read=True)}
        yield from (to_booking(found[pk]) for pk in page if pk in found)


def flagged_bookings(limit: int) -> list[Booking]:
    """Bookings with flags awaiting the owner, oldest first (AttentionIndex)."""
    return [to_booking(item) for item in BookingItem.attention_index.query("OPEN", limit=limit)]


def payouts_due(state: str, before: datetime, limit: int | None = None) -> Iterator[Booking]:
    """Bookings whose provider payout is in `state` and due (PayoutIndex), oldest first."""
    for item in BookingItem.payout_index.query(state, BookingItem.payout_due_at <= before, limit=limit):
        yield to_booking(item)


def live_seat_counts(event_type_id: int, start: datetime, end: datetime, now: datetime) -> Counter[datetime]:
    """How many seats are held for each slot start of an event type in [start, end)."""
    counts: Counter[datetime] = Counter()
    condition = SeatItem.slot_start.between(iso_z(start), iso_z(end))
    for seat in SeatItem.slot_index.query(f"EVENT_TYPE#{event_type_id}", condition):
        if seat.hold_expires_at is None or seat.hold_expires_at > now:
            counts[datetime.fromisoformat(seat.slot_start.split("#")[0].replace("Z", "+00:00"))] += 1
    return counts


def free_seat_numbers(event_type_id: int, start: datetime, capacity: int, now: datetime) -> list[int]:
    """The seat numbers of a slot nobody holds now (one consistent Query of the slot's seats)."""
    taken = {
        int(seat.sk.removeprefix("SEAT#"))
        for seat in SeatItem.query(f"SLOT#{event_type_id}#{iso_z(start)}", consistent_read=True)
        if seat.hold_expires_at is None or seat.hold_expires_at > now
    }
    return [number for number in range(capacity) if number not in taken]


def seat_holder(seat: Seat, now: datetime) -> str | None:
    """The booking holding this seat now, or None if it is free (absent or lapsed)."""
    try:
        item = SeatItem.get(*seat_keys(seat), consistent_read=True)
    except DoesNotExist:
        return None
    if item.hold_expires_at is not None and item.hold_expires_at <= now:
        return None
    return item.booking_id


def idempotent_booking(key_hash: str, operation: str) -> tuple[str, str] | None:
    """(booking_id, request fingerprint) recorded for a client Idempotency-Key, if any."""
    try:
        item = IdempotencyItem.get(f"IDEMPOTENCY#{key_hash}", operation, consistent_read=True)
    except DoesNotExist:
        return None
    return item.booking_id, item.fingerprint


def get_token(token_hash: str) -> BookingToken | None:
    try:
        item = TokenItem.get(f"TOKEN#{token_hash}", "TOKEN", consistent_read=True)
    except DoesNotExist:
        return None
    return BookingToken.model_validate(
        {"token_hash": token_hash}
        | {name: getattr(item, name) for name in BookingToken.model_fields if name != "token_hash"}
    )


# --- writes ----------------------------------------------------------------------------------------------


def _booking_ref(booking_id: str) -> BookingItem:
    return BookingItem(booking_pk(booking_id), "BOOKING")


def _seat_item(booking: Booking, seat: Seat, hold_until: datetime | None) -> SeatItem:
    pk, sk = seat_keys(seat)
    return SeatItem(
        pk,
        sk,
        booking_id=booking.booking_id,
        slot_event_type=f"EVENT_TYPE#{seat.event_type_id}",
        slot_start=f"{iso_z(seat.start)}#{seat.number}",
        hold_expires_at=hold_until,
        expires_ttl=hold_until + SEAT_TTL_MARGIN if hold_until else None,
    )


def _seat_is_free(now: datetime) -> Condition:
    return SeatItem.pk.does_not_exist() | (SeatItem.hold_expires_at.exists() & (SeatItem.hold_expires_at <= now))


def _seat_is_free_or_mine(booking_id: str, now: datetime) -> Condition:
    return _seat_is_free(now) | (SeatItem.booking_id == booking_id)


def _attribute_value(attribute: Attribute[Any], value: Any) -> Any:
    """Domain values (pydantic) to the item attribute's own types (maps and lists of maps)."""
    maps = {
        "attendee": AttendeeMap,
        "flags": FlagMap,
        "history": TransitionMap,
        "refunds": RefundMap,
        "payments": PaymentMap,
        "party": ParticipantMap,
    }
    map_type = maps.get(attribute.attr_name)
    if map_type is None or value is None:
        return value
    if isinstance(value, list):
        return [map_type(**entry.model_dump()) for entry in value]
    return map_type(**value.model_dump())


def _set_fields(fields: dict[str, Any]) -> list[Action]:
    actions: list[Action] = []
    for name, value in fields.items():
        attribute = getattr(BookingItem, name)
        if name == "token_hashes" and value:
            actions.append(attribute.add(set(value)))  # added to, never replaced: a token issued meanwhile stays
            continue
        actions.append(attribute.remove() if value is None else attribute.set(_attribute_value(attribute, value)))
    return actions


def _moved(record: TransitionRecord, due: datetime, now: datetime) -> list[Action]:
    """What every status change writes: the status, when the jobs look next, and the history entry."""
    return [
        BookingItem.status.set(record.target),
        BookingItem.due_at.set(due),
        BookingItem.updated_at.set(now),
        BookingItem.history.set(BookingItem.history.append([TransitionMap(**record.model_dump())])),
    ]


def _transition_update(
    booking: Booking, target: BookingStatus, *, actor: str, reason: str, now: datetime, fields: dict[str, Any]
) -> tuple[list[Action], Condition, Booking]:
    """The update that moves `booking` to `target`, its condition, and the booking it leaves behind.

    That booking is the caller's, with exactly what the update writes: a transaction returns no attributes,
    and its status condition guarantees it changed the booking the caller read (fields it does not write are
    as fresh as that read), so callers of the transactions below need not read the booking again.
    """
    if target != booking.status:  # same status = an event in the history (e.g. rescheduled), not a transition
        check_transition(booking.status, target)
    record = TransitionRecord(at=now, actor=actor, source=booking.status.value, target=target.value, reason=reason)
    changed = booking.model_copy(update=fields)
    actions = [*_moved(record, due_at(target, changed, now), now), *_set_fields(fields)]
    after = changed.model_copy(update={"status": target, "updated_at": now, "history": [*booking.history, record]})
    # Status AND slot as read: a reschedule that moved the booking meanwhile changes the seat a cancellation
    # must free, so the caller reads again instead of freeing the old seat and leaving the new one held.
    unchanged = (
        (BookingItem.status == booking.status.value)
        & (BookingItem.slot_start == booking.slot_start)
        & (BookingItem.seat_number == booking.seat_number)
    )
    return actions, unchanged, after


# Not written while at the domain's default (absent reads back as it): every write of a booking bills its whole
# size by the KB, and a new booking fits in one. Never a list something appends to (list_append needs the list)
# nor an attribute a condition compares (seat_number, amount_paid).
SPARSE_DEFAULTS = frozenset(
    {
        "extra_seat_numbers",
        "participants",
        "party_fees_kept",
        "party_refunds_due",
        "reschedule_count",
        "amount_refunded",
        "transfer_amount",
        "transfer_reversed",
        "payout_attempts",
        "money_attempts",
        "cal_attempts",
        "discount",
        "notify_email",
        "notify_sms",
    }
)


def _stored(booking: Booking, name: str) -> bool:
    value = getattr(booking, name)
    if value is None:
        return False
    return name not in SPARSE_DEFAULTS or value != Booking.model_fields[name].get_default(call_default_factory=True)


def new_booking_item(
    booking: Booking, now: datetime, *, reason: str = "slot held for payment", paid_with: str = "nothing"
) -> BookingItem:
    """The item of a booking just held: HELD, or HELD then PAID at once when nothing is due (`paid_with` says
    what paid it), its history starting there."""
    paid = booking.status == BookingStatus.PAID
    item = BookingItem(
        booking_pk(booking.booking_id),
        "BOOKING",
        due_at=due_at(BookingStatus.PAID if paid else BookingStatus.HELD, booking, now),
        **{
            name: _attribute_value(getattr(BookingItem, name), getattr(booking, name))
            for name in Booking.model_fields
            if _stored(booking, name)
        },
    )
    item.history = [TransitionMap(at=now, actor="client", source="NEW", target="HELD", reason=reason)]
    if paid:
        item.history.append(
            TransitionMap(at=now, actor="client", source="HELD", target="PAID", reason=f"paid with {paid_with}")
        )
    return item


def put_seats(tx: Transaction, booking: Booking, now: datetime, *, prefix: str = "seat") -> None:
    """Put every seat of a booking just held, each on condition it is free: held until the hold's end, or for
    good when nothing is due. Labels: `prefix` for the first seat, `{prefix}{n}` for a party's others."""
    hold_until = booking.hold_expires_at if booking.status == BookingStatus.HELD else None
    for index, seat in enumerate(booking.seats):
        tx.put(prefix if index == 0 else f"{prefix}{index}", _seat_item(booking, seat, hold_until), _seat_is_free(now))


def put_claim(tx: Transaction, idempotency: tuple[str, str, str], booking_id: str, now: datetime) -> None:
    """Claim a client's Idempotency-Key (key hash, operation, request fingerprint) for the booking, once."""
    key_hash, operation, fingerprint = idempotency
    claim = IdempotencyItem(
        f"IDEMPOTENCY#{key_hash}",
        operation,
        booking_id=booking_id,
        fingerprint=fingerprint,
        expires_ttl=now + IDEMPOTENCY_TTL,
    )
    tx.put("idempotency", claim, IdempotencyItem.pk.does_not_exist())


def create_held_booking(
    booking: Booking,
    *,
    idempotency: tuple[str, str, str] | None,
    now: datetime,
    extra: Callable[[Transaction], None] | None = None,
) -> None:
    """Write the HELD booking and its seat in one transaction; with a client key, claim it in the same one; with
    a promo code, take one of its uses; with a package, take one of its credits.

    A booking with nothing to pay (free, a 100% code, a package credit) is written PAID with its seat for good:
    held and paid at 0 in the one transaction, no payment provider involved.

    `idempotency` = (key hash, operation, request fingerprint). Raises SeatTaken, IdempotencyKeyClaimed,
    PromoUnavailable or PackageUnavailable.

    `extra` adds writes of the caller's to the same transaction: a waitlist offer's entry moves to OFFERED with its
    hold, and any other hold of a waitlist service checks that nobody waits (label "waiting": PeopleWaiting); every
    hold of flows/intents.hold_seats checks its date is not blocked (label "blocked": DateBlocked).
    """
    paid_with = f"a credit of package {booking.package_id}" if booking.package_id else "nothing"
    if booking.promo_code and not booking.package_id:
        paid_with = f"nothing (promo code {booking.promo_code})"
    tx = Transaction()
    item = new_booking_item(booking, now, paid_with=paid_with)
    tx.put("booking", item, BookingItem.pk.does_not_exist(), return_old=booking.request_fingerprint is not None)
    put_seats(tx, booking, now)
    if booking.promo_code:
        promos.take_use(tx, booking.promo_code, booking.service_id, now)
    if booking.package_id:
        packages.take_credit(tx, booking.package_id, booking.booking_id, booking.service_id, now)
    if idempotency:
        put_claim(tx, idempotency, booking.booking_id, now)
    if extra is not None:
        extra(tx)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if booking.request_fingerprint and ("booking" in exc.failed or "booking" in exc.conflicted):
            # The id derives from the client's key: the booking there is this key's (or the same request's, in flight)
            raw = exc.items.get("booking")
            existing = to_booking(BookingItem.from_raw_data(raw)) if raw else None
            raise IdempotencyKeyClaimed(booking.booking_id, existing) from exc
        if "idempotency" in exc.failed and idempotency:
            claimed = idempotent_booking(idempotency[0], idempotency[1])
            if claimed:
                raise IdempotencyKeyClaimed(claimed[0]) from exc
        if "waiting" in exc.failed:
            raise PeopleWaiting from exc
        if "blocked" in exc.failed | exc.conflicted:  # a block written (or being written) on the date: refused
            raise DateBlocked from exc
        if _seat_failed(exc, conflicts=True):
            raise SeatTaken from exc
        if "promo" in exc.failed:
            raise PromoUnavailable from exc
        if "package" in exc.failed:
            raise PackageUnavailable from exc
        raise StaleBooking(booking.booking_id) from exc


def transition(
    booking: Booking,
    target: BookingStatus,
    *,
    actor: str,
    reason: str,
    now: datetime,
    fields: dict[str, Any] | None = None,
    condition: Condition | None = None,
) -> Booking:
    """Move a booking to `target` if it is still in the status the caller read. Returns the new booking."""
    actions, status_condition, _ = _transition_update(
        booking, target, actor=actor, reason=reason, now=now, fields=fields or {}
    )
    item = _booking_ref(booking.booking_id)
    try:
        item.update(
            actions=actions, condition=status_condition & condition if condition is not None else status_condition
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise StaleBooking(booking.booking_id) from exc
        raise
    return to_booking(item)


def take_seat_for_good(
    booking: Booking, target: BookingStatus, *, actor: str, reason: str, now: datetime, fields: dict[str, Any]
) -> Booking:
    """Transition and make the booking's seat permanent in one transaction (payment arrived).

    Raises SeatTaken when another live booking holds the seat (the hold lapsed and someone took it).
    """
    actions, condition, after = _transition_update(booking, target, actor=actor, reason=reason, now=now, fields=fields)
    tx = Transaction()
    tx.update("booking", _booking_ref(booking.booking_id), actions, condition)
    for label, seat in _seat_labels(booking):
        tx.put(label, _seat_item(booking, seat, None), _seat_is_free_or_mine(booking.booking_id, now))
    if booking.promo_code and booking.status == BookingStatus.EXPIRED:
        promos.retake_use(tx, booking.promo_code)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if _seat_failed(exc):
            raise SeatTaken from exc
        raise StaleBooking(booking.booking_id) from exc
    return after


def release_seat(
    booking: Booking,
    target: BookingStatus,
    *,
    actor: str,
    reason: str,
    now: datetime,
    fields: dict[str, Any] | None = None,
    forget_idempotency_key: bool = False,
    give_back_credit: bool = False,
) -> Booking:
    """Transition and free the booking's seat (if it still holds it) in one transaction. A hold ending unpaid
    gives its promo code's use back; `give_back_credit` returns the package credit the booking holds.
    `forget_idempotency_key`: a retry with the client's key makes a new hold (its claim deleted, or, for a booking
    whose id derives from the key, its fingerprint removed: the retry holds under the key's next id)."""
    fields = dict(fields or {})
    if forget_idempotency_key and booking.request_fingerprint:
        fields["request_fingerprint"] = None
    actions, condition, after = _transition_update(booking, target, actor=actor, reason=reason, now=now, fields=fields)
    tx = Transaction()
    tx.update("booking", _booking_ref(booking.booking_id), actions, condition)
    free_held_seats(tx, booking)
    if forget_idempotency_key and booking.idempotency_key_hash:
        tx.delete("idempotency", IdempotencyItem(f"IDEMPOTENCY#{booking.idempotency_key_hash}", "create-intent"))
    if booking.promo_code and booking.status == BookingStatus.HELD and target != BookingStatus.PAID:
        promos.give_back_use(tx, booking.promo_code)
    if give_back_credit and booking.package_id:
        packages.give_back_credit(tx, booking.package_id, booking.booking_id, now)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise StaleBooking(booking.booking_id) from exc
    return after


def _seat_labels(booking: Booking) -> list[tuple[str, Seat]]:
    """Transaction labels of the booking's seats: "seat" for the first, "seat1"... for a party's others."""
    return [("seat" if index == 0 else f"seat{index}", seat) for index, seat in enumerate(booking.seats)]


def _seat_failed(exc: TransactionCancelled, *, conflicts: bool = False) -> bool:
    labels = exc.failed | exc.conflicted if conflicts else exc.failed
    return any(label.startswith("seat") for label in labels)


def free_held_seats(tx: Transaction, booking: Booking, seats: list[Seat] | None = None) -> None:
    """Delete, in `tx`, those of the booking's seats (default: all) it still holds (one consistent read each: a
    lapsed hold's seat may belong to another booking by now)."""
    for index, seat in enumerate(booking.seats if seats is None else seats):
        pk, sk = seat_keys(seat)
        if _seat_owner(pk, sk) == booking.booking_id:
            tx.delete(f"free_seat{index}", SeatItem(pk, sk), SeatItem.booking_id == booking.booking_id)


def _seat_owner(pk: str, sk: str) -> str | None:
    try:
        return SeatItem.get(pk, sk, consistent_read=True).booking_id
    except DoesNotExist:
        return None


def status_is(status: BookingStatus) -> Condition:
    return BookingItem.status == status.value


def payout_state_is(state: str | None) -> Condition:
    return BookingItem.payout_state.does_not_exist() if state is None else BookingItem.payout_state == state


def update_fields(booking_id: str, fields: dict[str, Any], *, condition: Condition | None = None) -> Booking:
    """Change payment/calendar details without a status change (still conditional when it matters)."""
    item = _booking_ref(booking_id)
    exists = BookingItem.pk.exists()
    try:
        item.update(actions=_set_fields(fields), condition=exists & condition if condition is not None else exists)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise StaleBooking(booking_id) from exc
        raise
    return to_booking(item)


def attach_payment_intent(booking_id: str, payment_intent_id: str, customer_id: str | None, status: str) -> Booking:
    """Record the booking's PaymentIntent; a booking never points at two different ones."""
    condition = BookingItem.payment_intent_id.does_not_exist() | (BookingItem.payment_intent_id == payment_intent_id)
    return update_fields(
        booking_id,
        {"payment_intent_id": payment_intent_id, "customer_id": customer_id, "payment_status": status},
        condition=condition,
    )


def record_payment_failure(booking_id: str, status: str, error: str | None, now: datetime) -> None:
    """Why the last payment attempt failed, for a booking not paid yet (a late event never overwrites a success)."""
    try:
        _booking_ref(booking_id).update(
            actions=[
                BookingItem.payment_status.set(status),
                BookingItem.payment_error.set(error or "payment failed"),
                BookingItem.updated_at.set(now),
            ],
            condition=BookingItem.pk.exists() & (BookingItem.amount_paid == 0),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def add_flag(booking_id: str, flag: Flag) -> tuple[Booking | None, bool]:
    """Flag a booking for the owner, once per flag code: (the booking, whether this call added the flag)."""
    item = _booking_ref(booking_id)
    try:
        item.update(
            actions=[
                BookingItem.flags.set(BookingItem.flags.append([FlagMap(**flag.model_dump())])),
                BookingItem.flag_codes.add({flag.code}),
                BookingItem.attention.set("OPEN"),
                BookingItem.attention_since.set(flag.at),
            ],
            condition=BookingItem.pk.exists() & ~BookingItem.flag_codes.contains(flag.code),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return get_booking(booking_id), False  # flagged already (or no such booking)
        raise
    return to_booking(item), True


def acquire_money_lease(booking_id: str, holder: str, *, now: datetime, until: datetime) -> Booking | None:
    """Mark a money movement in flight on the booking: one worker at a time decides and moves this booking's
    money. Returns the booking as it is now (strongly consistent), or None while another worker holds the lease."""
    item = _booking_ref(booking_id)
    free = BookingItem.money_lease_until.does_not_exist() | (BookingItem.money_lease_until <= now)
    try:
        item.update(
            actions=[BookingItem.money_lease.set(holder), BookingItem.money_lease_until.set(until)],
            condition=BookingItem.pk.exists() & free,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return to_booking(item)


def release_money_lease(
    booking_id: str, holder: str, fields: dict[str, Any], *, unchanged_since: datetime | None
) -> Booking:
    """Write what the lease holder decided (money state, payout) and end the lease, if it still holds it and,
    with `unchanged_since`, if nobody changed the booking since (else BookingChanged: decide again)."""
    item = _booking_ref(booking_id)
    actions = [*_set_fields(fields), BookingItem.money_lease.remove(), BookingItem.money_lease_until.remove()]
    condition = BookingItem.money_lease == holder
    if unchanged_since is not None:
        condition = condition & (BookingItem.updated_at == unchanged_since)
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        current = get_booking(booking_id)
        if unchanged_since is not None and current is not None and current.money_lease == holder:
            raise BookingChanged(booking_id) from exc
        raise StaleBooking(booking_id) from exc  # the lease ran out and another worker took over
    return to_booking(item)


def update_under_money_lease(booking_id: str, holder: str, fields: dict[str, Any]) -> Booking:
    """Change money fields while holding the lease (condition: we still hold it)."""
    return update_fields(booking_id, fields, condition=BookingItem.money_lease == holder)


def record_refunds(
    booking_id: str,
    holder: str,
    new: list[RefundRecord],
    *,
    amount_refunded: int,
    failed_refund_ids: frozenset[str],
    now: datetime,
) -> Booking:
    """Copy what Stripe says was refunded onto the booking: each refund recorded once, by its Stripe id (the
    condition names every id), the refunded total and the refunds Stripe reports failed."""
    item = _booking_ref(booking_id)
    actions: list[Action] = [BookingItem.amount_refunded.set(amount_refunded), BookingItem.updated_at.set(now)]
    condition = BookingItem.money_lease == holder
    if new:
        actions.append(BookingItem.refunds.set(BookingItem.refunds.append([RefundMap(**r.model_dump()) for r in new])))
        actions.append(BookingItem.refund_ids.add({r.refund_id for r in new}))
        for refund in new:
            condition = condition & ~BookingItem.refund_ids.contains(refund.refund_id)
    if failed_refund_ids:
        actions.append(BookingItem.failed_refund_ids.add(set(failed_refund_ids)))
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise StaleBooking(booking_id) from exc
        raise
    return to_booking(item)


def note_under_money_lease(booking_id: str, holder: str, record: TransitionRecord) -> Booking:
    """A line in the booking's history for a money action that changes no status (an owner's refund, a balance
    collected), written while holding the money lease."""
    item = _booking_ref(booking_id)
    try:
        item.update(
            actions=[BookingItem.history.set(BookingItem.history.append([TransitionMap(**record.model_dump())]))],
            condition=BookingItem.money_lease == holder,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise StaleBooking(booking_id) from exc
        raise
    return to_booking(item)


def move_collection(booking_id: str, due: datetime) -> None:
    """A scheduled balance collection follows its booking to a new time (only while it is still scheduled)."""
    with suppress(StaleBooking):  # collected, cancelled or owed meanwhile: nothing scheduled to move
        update_fields(booking_id, {"money_due_at": due}, condition=BookingItem.money_state == "COLLECT")


def money_owed(limit: int, before: datetime) -> list[str]:
    """Bookings whose money waits for the sweep, due first (MoneyIndex, keys only): a refund or reversal still
    owed (OWED), then a balance to collect on schedule (COLLECT)."""
    ids: list[str] = []
    for state in ("OWED", "COLLECT"):
        found = BookingItem.money_index.query(state, BookingItem.money_due_at <= before, limit=limit - len(ids))
        ids += [item.pk.removeprefix("BOOKING#") for item in found]
        if len(ids) >= limit:
            break
    return ids


def payment_intent_owner(payment_intent_id: str) -> tuple[str | None, str | None]:
    """(booking id, package id) whose first payment is this PaymentIntent (PaymentIntentIndex), or neither.

    The index holds every item with a `payment_intent_id`: bookings and packages, and pay links too (a pay link
    names its balance's PaymentIntent, which no booking item holds as its own), so the item's key says which."""
    for item in BookingItem.payment_intent_index.query(payment_intent_id, limit=4):
        if item.pk.startswith("BOOKING#"):
            return item.pk.removeprefix("BOOKING#"), None
        if item.pk.startswith("PACKAGE#"):
            return None, item.pk.removeprefix("PACKAGE#")
    return None, None


def booking_ids_by_cal_uid(uid: str, limit: int = 100) -> list[str]:
    """Our bookings linked to a Cal.com booking: one, or one per seat of a seated (capacity > 1) booking."""
    return [item.pk.removeprefix("BOOKING#") for item in BookingItem.cal_uid_index.query(uid, limit=limit)]


def move_booking(
    booking: Booking,
    *,
    start: datetime,
    end: datetime,
    cal_uid: str,
    capacity: int,
    actor: str,
    reason: str,
    now: datetime,
    count_reschedule: bool = True,
) -> Booking:
    """Cal.com moved the booking: free the old seat and take one of the new slot in one transaction. A move the
    client asked for (here or in Cal.com) counts toward the service's reschedule cap; the business's does not."""
    fields: dict[str, Any] = {"cal_booking_uid": cal_uid}
    if count_reschedule:
        fields["reschedule_count"] = booking.reschedule_count + 1
    return move_to_slot(
        booking,
        booking.status,
        start=start,
        end=end,
        capacity=capacity,
        actor=actor,
        reason=reason,
        now=now,
        fields=fields,
    )


def move_to_slot(
    booking: Booking,
    target: BookingStatus,
    *,
    start: datetime,
    end: datetime,
    capacity: int,
    actor: str,
    reason: str,
    now: datetime,
    fields: dict[str, Any],
) -> Booking:
    """Move the booking to another start (and `target` status): take free seats of the new slot for good, as many
    as its party takes (the same conditional seat writes as a payment's), and free the old seats the booking still
    holds, in one transaction. Raises SeatTaken when the party no longer fits the new slot, StaleBooking when the
    booking changed since it was read (a reschedule and a rebook both go through here)."""
    held_old = [seat for seat in booking.seats if _seat_owner(*seat_keys(seat)) == booking.booking_id]
    party = booking.participants > 1
    for attempt in range(MAX_OPTIMISTIC_ATTEMPTS if party else capacity):
        # One seat tries the seats in order; a party reads which are free and takes that many (again if one went).
        numbers = free_seat_numbers(booking.event_type_id, start, capacity, now) if party else [attempt]
        if len(numbers) < booking.participants:
            break
        first, *others = numbers[: booking.participants]
        placed = {"slot_start": start, "slot_end": end, "seat_number": first, "extra_seat_numbers": others}
        moved = booking.model_copy(update=placed)
        actions, condition, after = _transition_update(
            booking, target, actor=actor, reason=reason, now=now, fields=fields | placed
        )
        tx = Transaction()
        tx.update("booking", _booking_ref(booking.booking_id), actions, condition)
        for index, seat in enumerate(held_old):
            tx.delete(f"old_seat{index}", SeatItem(*seat_keys(seat)), SeatItem.booking_id == booking.booking_id)
        for label, seat in _seat_labels(moved):
            tx.put(label, _seat_item(moved, seat, None), _seat_is_free_or_mine(booking.booking_id, now))
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "booking" in exc.failed or "booking" in exc.conflicted:
                raise StaleBooking(booking.booking_id) from exc
            if _seat_failed(exc):
                continue
            raise StaleBooking(booking.booking_id) from exc
        return after
    raise SeatTaken


def save_party(booking: Booking, party: list[Participant], *, actor: str, reason: str, now: datetime) -> Booking:
    """Write the party's names, emails and Cal.com seats, with a line in the history, if the booking is as read
    (its `updated_at`): two changes of the party never overwrite each other."""
    actions, condition, after = _transition_update(
        booking, booking.status, actor=actor, reason=reason, now=now, fields={"party": party}
    )
    item = _booking_ref(booking.booking_id)
    try:
        item.update(actions=actions, condition=condition & (BookingItem.updated_at == booking.updated_at))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise StaleBooking(booking.booking_id) from exc
        raise
    return after


def release_party_seats(
    booking: Booking,
    seats: list[Seat],
    *,
    holder: str,
    actor: str,
    reason: str,
    now: datetime,
    fields: dict[str, Any],
) -> Booking:
    """Some of a party cancel: the booking's new party, price and shares, and their seats freed, in one transaction,
    by the holder of the booking's money lease, on the booking as read (its `updated_at`)."""
    actions, condition, after = _transition_update(
        booking, booking.status, actor=actor, reason=reason, now=now, fields=fields
    )
    condition = condition & (BookingItem.updated_at == booking.updated_at) & (BookingItem.money_lease == holder)
    tx = Transaction()
    tx.update("booking", _booking_ref(booking.booking_id), actions, condition)
    free_held_seats(tx, booking, seats)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise StaleBooking(booking.booking_id) from exc
    return after


def acquire_calendar_lease(booking: Booking, *, now: datetime, until: datetime) -> Booking | None:
    """Give one worker the right to talk to Cal.com for this PAID booking; None if another holds it."""
    item = _booking_ref(booking.booking_id)
    condition = (BookingItem.status == BookingStatus.PAID.value) & (
        BookingItem.cal_lease_until.does_not_exist() | (BookingItem.cal_lease_until <= now)
    )
    try:
        item.update(
            actions=[BookingItem.cal_lease_until.set(until), BookingItem.cal_attempts.add(1)], condition=condition
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return to_booking(item)


def release_calendar_lease(booking_id: str, *, error: str) -> None:
    item = _booking_ref(booking_id)
    try:
        item.update(
            actions=[BookingItem.cal_lease_until.remove(), BookingItem.cal_last_error.set(error)],
            condition=BookingItem.status == BookingStatus.PAID.value,
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


MAX_TOKENS = 8  # booking tokens kept on a booking; issuing more starts the set again (older ones stop working)


def add_token(booking_id: str, token_hash: str, expires_at: datetime) -> Booking:
    """Make a booking token redeemable: its hash joins the booking's (at most MAX_TOKENS, so that asking again and
    again cannot grow the item), and `token_expires_at` is its expiry. Returns the booking as it is now."""
    item = _booking_ref(booking_id)
    expiry = BookingItem.token_expires_at.set(expires_at)
    room = BookingItem.token_hashes.does_not_exist() | (size(BookingItem.token_hashes) < MAX_TOKENS)
    try:
        item.update(
            actions=[BookingItem.token_hashes.add({token_hash}), expiry], condition=BookingItem.pk.exists() & room
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        item.update(actions=[BookingItem.token_hashes.set({token_hash}), expiry], condition=BookingItem.pk.exists())
    return to_booking(item)


def lease_for_token(booking_id: str, token_hash: str, *, now: datetime, until: datetime) -> tuple[Booking | None, bool]:
    """The calendar lease of `acquire_calendar_lease`, taken in the one write that also checks that the booking
    issued this token (/bookings/verify reads nothing first). Returns (the booking, whether this call leased it):
    leased, the booking as it is now; not, the booking as the failed condition found it (None: no such booking)."""
    condition = (
        BookingItem.token_hashes.contains(token_hash)
        & (BookingItem.status == BookingStatus.PAID.value)
        & (BookingItem.cal_lease_until.does_not_exist() | (BookingItem.cal_lease_until <= now))
    )
    actions = [BookingItem.cal_lease_until.set(until), BookingItem.cal_attempts.add(1)]
    return _update_returning(booking_id, actions, condition)


def _update_returning(booking_id: str, actions: list[Action], condition: Condition) -> tuple[Booking | None, bool]:
    """One conditional UpdateItem of the booking: (the booking as it is now, True), or when the condition failed
    (the booking as the failed condition found it, None if there is none, False)."""
    connection = BookingItem._get_connection()
    request = connection.connection.get_operation_kwargs(
        connection.table_name,
        booking_pk(booking_id),
        "BOOKING",
        actions=actions,
        condition=condition,
        return_values="ALL_NEW",
        return_values_on_condition_failure="ALL_OLD",
    )
    try:
        # botocore's own call: PynamoDB's error drops the item a failed condition returns
        answer = connection.connection.client._make_api_call("UpdateItem", request)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        found = exc.response.get("Item")
        return (to_booking(BookingItem.from_raw_data(found)) if found else None), False
    return to_booking(BookingItem.from_raw_data(answer["Attributes"])), True


def transition_by_id(
    booking_id: str, source: BookingStatus, target: BookingStatus, *, actor: str, reason: str, now: datetime
) -> tuple[Booking | None, bool]:
    """`transition` without reading the booking first: one conditional update (the status is still `source`) that
    writes what `transition` writes for a target whose due time depends on nothing read (status, due_at, updated_at,
    the history entry). Returns (the booking now, True), or (the booking as it is, False) when it is not in
    `source` (None: no such booking)."""
    check_transition(source, target)
    if target in (BookingStatus.HELD, BookingStatus.PAID, BookingStatus.CONFIRMED):
        raise ValueError(f"{target.value}'s due time depends on the booking: use transition")
    record = TransitionRecord(at=now, actor=actor, source=source.value, target=target.value, reason=reason)
    # due_at(target, ...) is the transition's time for every other status
    return _update_returning(booking_id, _moved(record, now, now), BookingItem.status == source.value)


# --- rebook ---------------------------------------------------------------------------------------------

# A DueIndex sort key below every real due time: a lost booking whose refund is decided waits for no job, and
# the rebook sweep's range starts above it (so decided bookings never fill its page).
NOTHING_DUE = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _due_instead(actions: list[Action], due: datetime) -> list[Action]:
    """A transition's actions with the status's default due time (`due_at`) replaced by `due`."""
    return [action for action in actions if action.values[0].path != ["due_at"]] + [BookingItem.due_at.set(due)]


def lose_slot(
    booking: Booking,
    *,
    actor: str,
    reason: str,
    now: datetime,
    fields: dict[str, Any],
    due: datetime,
    give_back_credit: bool = False,
) -> Booking:
    """SLOT_UNAVAILABLE, due at `due` (its rebook window's end, or NOTHING_DUE), and the seat freed if the booking
    still holds it (Cal.com refused the slot), in one transaction; with `give_back_credit` (refunded at once) the
    package credit it took goes back in that transaction too."""
    actions, condition, after = _transition_update(
        booking, BookingStatus.SLOT_UNAVAILABLE, actor=actor, reason=reason, now=now, fields=fields
    )
    tx = Transaction()
    tx.update("booking", _booking_ref(booking.booking_id), _due_instead(actions, due), condition)
    free_held_seats(tx, booking)
    if give_back_credit and booking.package_id:
        packages.give_back_credit(tx, booking.package_id, booking.booking_id, now)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise StaleBooking(booking.booking_id) from exc
    return after


def rebook_windows_ended(before: datetime, limit: int) -> Iterator[Booking]:
    """Lost bookings whose rebook window ended before `before`, oldest first (DueIndex, above NOTHING_DUE)."""
    condition = BookingItem.due_at.between(NOTHING_DUE + timedelta(seconds=1), before)
    entries = BookingItem.status_index.query(BookingStatus.SLOT_UNAVAILABLE.value, condition, limit=limit)
    yield from _read_in_order([entry.pk for entry in entries])


def close_rebook_window(booking: Booking, *, actor: str, reason: str, now: datetime, fields: dict[str, Any]) -> Booking:
    """Record in the history that the lost booking's rebook window closed and write `fields` (the refund owed), in
    one write conditional on the booking still lost at the slot read and no refund decided yet; a package credit
    the booking took goes back in the same transaction."""
    actions, condition, after = _transition_update(
        booking, BookingStatus.SLOT_UNAVAILABLE, actor=actor, reason=reason, now=now, fields=fields
    )
    tx = Transaction()
    tx.update(
        "booking",
        _booking_ref(booking.booking_id),
        _due_instead(actions, NOTHING_DUE),
        condition & BookingItem.auto_refund_reason.does_not_exist(),
    )
    if booking.package_id:
        packages.give_back_credit(tx, booking.package_id, booking.booking_id, now)
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise StaleBooking(booking.booking_id) from exc
    return after


def nothing_due(booking: Booking) -> None:
    """Take a lost booking whose refund is decided out of the rebook sweep's range (one lost before windows)."""
    try:
        _booking_ref(booking.booking_id).update(
            actions=[BookingItem.due_at.set(NOTHING_DUE)],
            condition=(BookingItem.status == BookingStatus.SLOT_UNAVAILABLE.value)
            & BookingItem.auto_refund_reason.exists(),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
