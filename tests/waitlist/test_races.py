"""Fair under races: several promoters at once for the same freed seats (threads through TableChangesFunction)
never hold more seats than the slot has and never offer an entry twice; and a property test over random
sequences of joins, frees, payments and concurrent promotions (hypothesis) checks, after every step:

- held + booked seats <= capacity;
- an entry is offered at most once at a time (one live hold per OFFERED entry, none for any other);
- offers follow the line among parties that fit: no party still waits while a later one no larger was offered;
- nobody who fits the free seats is left waiting, and the line's `waiting` counts exactly the WAITING entries.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import waitlist as line_store
from booking.dal.items import SeatItem
from booking.dal.waitlist import EntryStatus, WaitlistEntry, joined_key
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Attendee, Booking
from booking.flows.intents import hold_seats, new_booking_id
from booking.waitlist import promote
from local.cal_double import CalDouble
from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from local.stripe_double import StripeDouble
from tests.conftest import reset_world
from tests.integration.helpers import CONSULT_EVENT_TYPE, instant
from tests.support import ApiClient
from tests.waitlist.conftest import CERAMICS, book, cancel, join, pump

PROMOTERS = 4


def live_seats(event_type_id: int, start: datetime) -> int:
    now = clock_now()
    return sum(
        1
        for seat in SeatItem.query(f"SLOT#{event_type_id}#{start:%Y-%m-%dT%H:%M:%SZ}", consistent_read=True)
        if seat.hold_expires_at is None or seat.hold_expires_at > now
    )


def test_several_promoters_at_once_hold_no_more_seats_than_freed_and_offer_no_one_twice(
    api: ApiClient, lam: LocalLambda, slot: datetime
) -> None:
    # Given a full slot with four people waiting, and both seats freed
    ann, bob = book(api, slot, "ann")["booking_id"], book(api, slot, "bob")["booking_id"]
    for name in ("cat", "dan", "eve", "fay"):
        assert join(api, slot, name).status == 201
    pump(lam, notify=False)
    cancel(api, ann)
    cancel(api, bob)
    freed = [
        record
        for record in StreamPump(os.environ["TABLE_NAME"], "TableChangesFunction").records()
        if record["eventName"] == "REMOVE"
    ]
    assert len(freed) == 2
    # When several workers deliver the freed seats at the same moment
    barrier = threading.Barrier(PROMOTERS)

    def promoter(_: int) -> dict[str, Any]:
        barrier.wait()
        return lam.invoke("TableChangesFunction", {"Records": freed})

    threads = [threading.Thread(target=promoter, args=(n,)) for n in range(PROMOTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the first two in line hold the two seats, each once; the others wait
    start = instant(slot.isoformat())
    entries = {e.attendee.name: e for e in line_store.entries(CONSULT_EVENT_TYPE, start)}
    assert [entries[n].status for n in ("Cat", "Dan", "Eve", "Fay")] == [EntryStatus.OFFERED] * 2 + [
        EntryStatus.WAITING
    ] * 2
    assert all(entries[n].offers == 1 for n in ("Cat", "Dan"))
    assert live_seats(CONSULT_EVENT_TYPE, start) == 2
    offers = [store.get_booking(entries[n].booking_id or "") for n in ("Cat", "Dan")]
    assert all(o is not None and o.status == BookingStatus.HELD and o.payment_intent_id for o in offers)
    assert line_store.waiting(CONSULT_EVENT_TYPE, start) == 2


# --- the property test (the flows themselves, several threads at once) ----------------------------------------


class World:
    """A ceramics workshop slot two days ahead: filled by direct holds, then joins, frees, payments, promotions."""

    def __init__(self) -> None:
        self.service = get_catalog().service(CERAMICS)
        self.start = (clock_now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        self.bookings: list[str] = []  # every booking of the slot, direct or offered
        self.joined = 0

    def draft(self, participants: int, name: str) -> Booking:
        now = clock_now()
        return Booking(
            booking_id=new_booking_id(),
            status=BookingStatus.HELD,
            service_id=self.service.id,
            event_type_id=self.service.cal_event_type_id,
            slot_start=self.start,
            slot_end=self.start + timedelta(minutes=self.service.duration_minutes),
            attendee=Attendee(name=name, email=f"{name}@example.com", time_zone="UTC"),
            payment_type="full",
            currency="usd",
            total=5000 * participants,
            amount_due_now=5000 * participants,
            balance_due=0,
            hold_expires_at=now + timedelta(hours=1),
            participants=participants,
            created_at=now,
            updated_at=now,
        )

    def fill(self, parties: list[int]) -> None:
        for n, size in enumerate(parties):
            held = hold_seats(self.draft(size, f"direct{n}"), self.service.capacity, None, clock_now())
            self.bookings.append(held.booking_id)

    def join(self, size: int) -> None:
        now = clock_now()
        self.joined += 1
        name = f"party{self.joined}"
        line_store.join(
            WaitlistEntry(
                entry_id=f"wl_{self.joined:024x}",
                service_id=self.service.id,
                event_type_id=self.service.cal_event_type_id,
                start=self.start,
                attendee=Attendee(name=name, email=f"{name}@example.com", time_zone="UTC"),
                participants=size,
                payment_type="full",
                currency="usd",
                notify_email=False,
                notify_sms=False,
                status=EntryStatus.WAITING,
                secret_hash="0" * 64,
                created_at=now,
                updated_at=now,
            ),
            now,
        )

    def live(self) -> list[Booking]:
        found = [store.get_booking(booking_id) for booking_id in self.bookings + self.offer_ids()]
        return [b for b in found if b is not None and b.hold_is_live(clock_now())]

    def offer_ids(self) -> list[str]:
        return [e.booking_id for e in self.entries() if e.booking_id]

    def entries(self) -> list[WaitlistEntry]:
        return line_store.entries(self.service.cal_event_type_id, self.start)

    def free(self, pick: int) -> None:
        live = self.live()
        if not live:
            return
        booking = live[pick % len(live)]
        target = BookingStatus.EXPIRED if booking.status == BookingStatus.HELD else BookingStatus.CANCELLED
        store.release_seat(booking, target, actor="test", reason="freed by the test", now=clock_now())

    def pay(self, pick: int) -> None:
        offered = [b for b in self.live() if b.waitlist_entry_id and b.status == BookingStatus.HELD]
        if not offered:
            return
        booking = offered[pick % len(offered)]
        now = clock_now()
        fields = {"amount_paid": booking.amount_due_now, "paid_at": now}
        store.take_seat_for_good(booking, BookingStatus.PAID, actor="test", reason="paid", now=now, fields=fields)

    def promote(self, workers: int) -> None:
        """`workers` promoters of the slot at the same moment (as concurrent stream deliveries would be)."""
        barrier = threading.Barrier(workers)
        errors: list[BaseException] = []

        def run() -> None:
            barrier.wait()
            try:
                promote.promote_slot(self.service, self.start, clock_now())
            except BaseException as exc:  # reported below, with the invariants
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        promote.promote_slot(self.service, self.start, clock_now())  # settles what the racers left (a stream retry)

    def check(self) -> None:
        capacity = self.service.capacity
        live = self.live()
        seats = live_seats(self.service.cal_event_type_id, self.start)
        assert seats == sum(b.participants for b in live) <= capacity
        entries = self.entries()
        holds = Counter(b.waitlist_entry_id for b in live if b.waitlist_entry_id and b.status == BookingStatus.HELD)
        for entry in entries:
            expected = 1 if entry.status == EntryStatus.OFFERED else 0
            assert holds[entry.entry_id] == expected, (entry, holds)
            assert entry.offers <= 1
        waiting = [e for e in entries if e.status == EntryStatus.WAITING]
        offered = [e for e in entries if e.status in (EntryStatus.OFFERED, EntryStatus.BOOKED, EntryStatus.LAPSED)]
        for w in waiting:
            later = [o for o in offered if joined_key(o.created_at) > joined_key(w.created_at)]
            assert all(o.participants < w.participants for o in later), ("FIFO broken", w, later)
            assert w.participants > capacity - seats, ("a party that fits is left waiting", w, seats)
        assert line_store.waiting(self.service.cal_event_type_id, self.start) == len(waiting)


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(min_value=1, max_value=5)),
        st.tuples(st.just("free"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("pay"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("promote"), st.integers(min_value=1, max_value=3)),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fill=st.lists(st.integers(min_value=1, max_value=6), min_size=2, max_size=4), steps=STEPS)
def test_property_offers_are_fair_and_never_exceed_the_seats(
    lam: LocalLambda, stripe_double: StripeDouble, cal_double: CalDouble, fill: list[int], steps: list[Any]
) -> None:
    reset_world(stripe_double, cal_double)
    world = World()
    capacity = world.service.capacity
    parties, taken = [], 0
    for size in fill:  # direct holds of these sizes, topped up so the slot starts full: people must wait
        size = min(size, capacity - taken)
        if size:
            parties.append(size)
            taken += size
    while taken < capacity:
        parties.append(min(6, capacity - taken))
        taken += parties[-1]
    world.fill(parties)
    for op, value in steps:
        if op == "join":
            world.join(value)
        elif op == "free":
            world.free(value)
        elif op == "pay":
            world.pay(value)
        world.promote(value if op == "promote" else 1)
        world.check()
