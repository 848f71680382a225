"""The waitlist of full slots (seed 004): who waits for a seat, in the order they joined, and the offers made to them.

| item    | pk                                 | sk                          | what                                  |
|---------|------------------------------------|-----------------------------|---------------------------------------|
| state   | WAITLIST#{event_type_id}           | SLOT#{start Z}              | `waiting`: parties waiting now        |
| entry   | WAITLIST#{event_type_id}#{start Z} | ENTRY#{joined}#{entry_id}   | one party in line (FIFO by sort key)  |
| claim   | WAITLIST#{event_type_id}#{start Z} | EMAIL#{sha256(email)}       | one entry per attendee email and slot |
| pointer | WAITLIST#{entry_id}                | POINTER                     | the entry's keys (DELETE by id)       |

The states of one event type share a partition, so availability and the owner's list read a date range with one
Query (no index, no scan). An entry moves WAITING -> OFFERED -> BOOKED | LAPSED, or WAITING -> LEFT; each move is a
transaction conditional on the status read, and keeps the state's `waiting` equal to the parties WAITING: a hold
for anyone but an offer is refused while `waiting` > 0 (`check_nobody_waiting`, in the hold's own transaction), so
a seat freed while people wait goes to them. An offer (WAITING -> OFFERED) is written in the transaction that
creates its HELD booking (`offer_writes`, the hook of dal/bookings.create_held_booking): never offered twice, never
a hold without its seats.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from booking.clock import iso_z
from booking.dal.items import AttendeeMap, TableMeta, TransitionMap
from booking.dal.transaction import Transaction, TransactionCancelled
from booking.digests import digest
from booking.domain.models import Attendee, TransitionRecord


class EntryStatus(StrEnum):
    WAITING = "WAITING"  # in line
    OFFERED = "OFFERED"  # a hold of its seats is theirs to pay (the booking `booking_id`)
    BOOKED = "BOOKED"  # the offer was paid: a booking like any other from here
    LAPSED = "LAPSED"  # the offer's hold ended unpaid: the seats passed to the next in line
    LEFT = "LEFT"  # the client left the line


class EntryChanged(Exception):
    """The entry (or the slot's line) changed since it was read: read again and decide again."""


class WaitlistStateItem(Model):
    """One slot's line: how many parties wait now (the hold's ConditionCheck reads it)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # WAITLIST#{event_type_id}
    sk = UnicodeAttribute(range_key=True)  # SLOT#{start Z}
    service_id = UnicodeAttribute()
    start = UTCDateTimeAttribute()
    waiting = NumberAttribute(default=0)
    joined = NumberAttribute(default=0)  # every party that ever joined (the owner's list)
    updated_at = UTCDateTimeAttribute()


class WaitlistEntryItem(Model):
    """One party waiting for a slot. Attribute names stay clear of the table's index keys (status, slot_start)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # WAITLIST#{event_type_id}#{start Z}
    sk = UnicodeAttribute(range_key=True)  # ENTRY#{joined Z}#{entry_id}
    entry_id = UnicodeAttribute()
    service_id = UnicodeAttribute()
    event_type_id = NumberAttribute()
    start = UTCDateTimeAttribute()
    attendee = AttendeeMap()
    participants = NumberAttribute()
    payment_type = UnicodeAttribute()
    currency = UnicodeAttribute()
    notify_email = BooleanAttribute()
    notify_sms = BooleanAttribute()
    entry_status = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    offers = NumberAttribute(default=0)  # offers made so far (an offer Stripe never opened goes back in line)
    booking_id = UnicodeAttribute(null=True)  # the current or last offer's booking
    offered_at = UTCDateTimeAttribute(null=True)
    history = ListAttribute(of=TransitionMap, default=list)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class WaitlistKeyItem(Model):
    """The claim of an attendee's email on a slot's line, or the pointer from an entry id to the entry."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # EMAIL#{sha256(email)} | POINTER
    entry_pk = UnicodeAttribute()
    entry_sk = UnicodeAttribute()


class WaitlistEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry_id: str
    service_id: str
    event_type_id: int
    start: datetime
    attendee: Attendee
    participants: int
    payment_type: str
    currency: str
    notify_email: bool
    notify_sms: bool
    status: EntryStatus
    secret_hash: str = Field(repr=False, exclude=True)  # the leave secret's SHA-256 (never shown)
    offers: int = 0
    booking_id: str | None = None
    offered_at: datetime | None = None
    history: list[TransitionRecord] = []
    created_at: datetime
    updated_at: datetime

    @property
    def keys(self) -> tuple[str, str]:
        return slot_pk(self.event_type_id, self.start), f"ENTRY#{joined_key(self.created_at)}#{self.entry_id}"


class SlotLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    service_id: str
    start: datetime
    waiting: int
    joined: int


def slot_pk(event_type_id: int, start: datetime) -> str:
    return f"WAITLIST#{event_type_id}#{iso_z(start)}"


def joined_key(moment: datetime) -> str:
    """The join time in the entry's sort key: UTC to the microsecond, fixed width, so the line's order is FIFO."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state_keys(event_type_id: int, start: datetime) -> tuple[str, str]:
    return f"WAITLIST#{event_type_id}", f"SLOT#{iso_z(start)}"


def _claim_sk(email: str) -> str:
    return f"EMAIL#{digest(email.strip().lower())}"


def _pointer_pk(entry_id: str) -> str:
    return f"WAITLIST#{entry_id}"


def to_entry(item: WaitlistEntryItem) -> WaitlistEntry:
    return WaitlistEntry(
        entry_id=item.entry_id,
        service_id=item.service_id,
        event_type_id=int(item.event_type_id),
        start=item.start,
        attendee=Attendee(**item.attendee.as_dict()),
        participants=int(item.participants),
        payment_type=item.payment_type,
        currency=item.currency,
        notify_email=bool(item.notify_email),
        notify_sms=bool(item.notify_sms),
        status=EntryStatus(item.entry_status),
        secret_hash=item.secret_hash,
        offers=int(item.offers or 0),
        booking_id=item.booking_id,
        offered_at=item.offered_at,
        history=[TransitionRecord(**record.as_dict()) for record in item.history or []],
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


# --- reads -------------------------------------------------------------------------------------------------


def entries(event_type_id: int, start: datetime) -> list[WaitlistEntry]:
    """Every entry of a slot's line, in the order they joined (one consistent Query)."""
    pk = slot_pk(event_type_id, start)
    return [
        to_entry(item)
        for item in WaitlistEntryItem.query(pk, WaitlistEntryItem.sk.startswith("ENTRY#"), consistent_read=True)
    ]


def entry(entry_id: str) -> WaitlistEntry | None:
    try:
        pointer = WaitlistKeyItem.get(_pointer_pk(entry_id), "POINTER", consistent_read=True)
        return to_entry(WaitlistEntryItem.get(pointer.entry_pk, pointer.entry_sk, consistent_read=True))
    except DoesNotExist:
        return None


def claimed_entry(event_type_id: int, start: datetime, email: str) -> WaitlistEntry | None:
    """The entry an attendee email holds in a slot's line (waiting, offered or booked), if any."""
    try:
        claim = WaitlistKeyItem.get(slot_pk(event_type_id, start), _claim_sk(email), consistent_read=True)
        return to_entry(WaitlistEntryItem.get(claim.entry_pk, claim.entry_sk, consistent_read=True))
    except DoesNotExist:
        return None


def waiting(event_type_id: int, start: datetime) -> int:
    try:
        return int(WaitlistStateItem.get(*state_keys(event_type_id, start), consistent_read=True).waiting)
    except DoesNotExist:
        return 0


def lines(event_type_id: int, first: datetime, last: datetime) -> list[SlotLine]:
    """The lines of an event type's slots starting in [first, last]: one Query of its states' partition."""
    pk, _ = state_keys(event_type_id, first)
    condition = WaitlistStateItem.sk.between(f"SLOT#{iso_z(first)}", f"SLOT#{iso_z(last)}")
    return [
        SlotLine(service_id=item.service_id, start=item.start, waiting=int(item.waiting), joined=int(item.joined))
        for item in WaitlistStateItem.query(pk, condition)
    ]


# --- writes ------------------------------------------------------------------------------------------------


def check_nobody_waiting(tx: Transaction, event_type_id: int, start: datetime) -> None:
    """In a hold's transaction: the slot's line is empty (no state yet, or nobody waiting). Label "waiting"."""
    pk, sk = state_keys(event_type_id, start)
    tx.check(
        "waiting", WaitlistStateItem, pk, sk, WaitlistStateItem.pk.does_not_exist() | (WaitlistStateItem.waiting <= 0)
    )


def _record(entry: WaitlistEntry, target: EntryStatus, actor: str, reason: str, now: datetime) -> TransitionMap:
    record = TransitionRecord(at=now, actor=actor, source=entry.status.value, target=target.value, reason=reason)
    return TransitionMap(**record.model_dump())


def _state_update(tx: Transaction, entry: WaitlistEntry, change: int, now: datetime, *, joined: int = 0) -> None:
    pk, sk = state_keys(entry.event_type_id, entry.start)
    actions = [
        WaitlistStateItem.waiting.add(change),
        WaitlistStateItem.service_id.set(entry.service_id),
        WaitlistStateItem.start.set(entry.start),
        WaitlistStateItem.updated_at.set(now),
    ]
    if joined:
        actions.append(WaitlistStateItem.joined.add(joined))
    condition = None if change > 0 else WaitlistStateItem.waiting >= -change
    tx.update("waitlist_state", WaitlistStateItem(pk, sk), actions, condition)


def join(entry: WaitlistEntry, now: datetime) -> tuple[WaitlistEntry, bool]:
    """Put the party at the back of the slot's line, once per attendee email: (the entry, whether it is new). A
    second join with the same email answers the entry that email holds."""
    pk, sk = entry.keys
    item = WaitlistEntryItem(
        pk,
        sk,
        entry_id=entry.entry_id,
        service_id=entry.service_id,
        event_type_id=entry.event_type_id,
        start=entry.start,
        attendee=AttendeeMap(**entry.attendee.model_dump()),
        participants=entry.participants,
        payment_type=entry.payment_type,
        currency=entry.currency,
        notify_email=entry.notify_email,
        notify_sms=entry.notify_sms,
        entry_status=EntryStatus.WAITING.value,
        secret_hash=entry.secret_hash,
        history=[TransitionMap(at=now, actor="client", source="NEW", target="WAITING", reason="joined the waitlist")],
        created_at=now,
        updated_at=now,
    )
    tx = Transaction()
    tx.put(
        "claim",
        WaitlistKeyItem(pk, _claim_sk(entry.attendee.email), entry_pk=pk, entry_sk=sk),
        WaitlistKeyItem.pk.does_not_exist(),
    )
    tx.put(
        "pointer",
        WaitlistKeyItem(_pointer_pk(entry.entry_id), "POINTER", entry_pk=pk, entry_sk=sk),
        WaitlistKeyItem.pk.does_not_exist(),
    )
    tx.put("entry", item, WaitlistEntryItem.pk.does_not_exist())
    _state_update(tx, entry, 1, now, joined=1)
    for _attempt in range(3):
        try:
            tx.commit()
            return to_entry(item), True
        except TransactionCancelled as exc:
            if "claim" in exc.failed:
                held = claimed_entry(entry.event_type_id, entry.start, entry.attendee.email)
                if held is not None:
                    return held, False
            if not exc.conflicted:
                raise EntryChanged(entry.entry_id) from exc
    raise EntryChanged(entry.entry_id)


def _move(
    tx: Transaction,
    entry: WaitlistEntry,
    target: EntryStatus,
    *,
    actor: str,
    reason: str,
    now: datetime,
    fields: list[Action] | None = None,
    condition: Condition | None = None,
) -> None:
    pk, sk = entry.keys
    actions = [
        WaitlistEntryItem.entry_status.set(target.value),
        WaitlistEntryItem.updated_at.set(now),
        WaitlistEntryItem.history.set(WaitlistEntryItem.history.append([_record(entry, target, actor, reason, now)])),
        *(fields or []),
    ]
    unchanged = (WaitlistEntryItem.entry_status == entry.status.value) & (WaitlistEntryItem.offers == entry.offers)
    tx.update(
        "waitlist_entry",
        WaitlistEntryItem(pk, sk),
        actions,
        unchanged & condition if condition is not None else unchanged,
    )


def offer_writes(entry: WaitlistEntry, booking_id: str, now: datetime) -> Callable[[Transaction], None]:
    """The hook for the offer's hold transaction: WAITING -> OFFERED (as read: never offered twice) and one party
    fewer waiting. Labels "waitlist_entry" and "waitlist_state"."""

    def writes(tx: Transaction) -> None:
        _move(
            tx,
            entry,
            EntryStatus.OFFERED,
            actor="system",
            reason=f"seats freed: offered as booking {booking_id}",
            now=now,
            fields=[
                WaitlistEntryItem.booking_id.set(booking_id),
                WaitlistEntryItem.offers.add(1),
                WaitlistEntryItem.offered_at.set(now),
            ],
        )
        _state_update(tx, entry, -1, now)

    return writes


def end_offer(entry: WaitlistEntry, target: EntryStatus, *, reason: str, now: datetime) -> None:
    """An offer's outcome: BOOKED (paid), LAPSED (its hold ended unpaid: the email may join again, at the back), or
    WAITING again (Stripe never opened its payment, so the client never had it: back in its place in line)."""
    assert entry.status == EntryStatus.OFFERED and target in (
        EntryStatus.BOOKED,
        EntryStatus.LAPSED,
        EntryStatus.WAITING,
    )
    tx = Transaction()
    _move(
        tx,
        entry,
        target,
        actor="system",
        reason=reason,
        now=now,
        condition=WaitlistEntryItem.booking_id == entry.booking_id,
    )
    if target == EntryStatus.LAPSED:
        tx.delete("claim", WaitlistKeyItem(entry.keys[0], _claim_sk(entry.attendee.email)))
    if target == EntryStatus.WAITING:
        _state_update(tx, entry, 1, now)
    _commit(tx, entry)


def leave(entry: WaitlistEntry, now: datetime) -> None:
    """WAITING -> LEFT: one party fewer waiting; the email may join again (at the back)."""
    tx = Transaction()
    _move(tx, entry, EntryStatus.LEFT, actor="client", reason="left the waitlist", now=now)
    tx.delete("claim", WaitlistKeyItem(entry.keys[0], _claim_sk(entry.attendee.email)))
    _state_update(tx, entry, -1, now)
    _commit(tx, entry)


def _commit(tx: Transaction, entry: WaitlistEntry) -> None:
    try:
        tx.commit()
    except TransactionCancelled as exc:
        raise EntryChanged(entry.entry_id) from exc
