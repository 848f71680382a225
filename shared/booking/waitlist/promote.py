"""Offers to the waitlist when seats free up, from the table's stream (TableChangesFunction).

What calls for a look at a slot's line: a seat freed (a SEAT# item removed: a cancellation, an expired hold, a
refund, a party member cancelled, a move away), a party joined (an ENTRY# item inserted: seats may be free already
for a party that fits), and an offer's booking changing (paid, expired). For the slot, in this order:

1. Offers are settled from their bookings: paid -> BOOKED; the hold ended unpaid -> LAPSED (the seats pass on);
   the hold ended before Stripe opened its payment (the client never had it) -> WAITING again, in its place.
   An offer still held without its PaymentIntent (Stripe was down) gets it now.
2. While seats are free, the first WAITING party (FIFO) that fits is offered a HELD booking of its seats for
   HOLD_MINUTES: `intents.hold_seats` with the entry's WAITING -> OFFERED in the same transaction, so an entry is
   never offered twice and there are never more holds than seats. Then its PaymentIntent (Idempotency-Key
   `booking:{id}:payment_intent`, the booking id derived from the entry and its offer count) and its pay link;
   the notifier emails the link when the booking gets its PaymentIntent (notify/events.py, `waitlist_offer`).

Safe to repeat and to run in several workers at once: every step is a conditional write; a worker that loses a
race reads again. Stripe down: the hold stays (the cleanup job ends it if Stripe stays down that long) and the
record is reported failed, so Lambda retries it and the retry opens the payment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import waitlist as line_store
from booking.dal.waitlist import EntryChanged, EntryStatus, WaitlistEntry
from booking.digests import digest
from booking.domain.catalog import Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.domain.pricing import PaymentType, quote
from booking.observability import logger, metrics

S = BookingStatus
PAID_STATUSES = frozenset({S.PAID, S.CONFIRMED, S.COMPLETED, S.NO_SHOW, S.SLOT_UNAVAILABLE})
MAX_ROUNDS = 50  # offers (and lost races) per slot per call; a line longer than this continues on the next record


def offer_booking_id(entry: WaitlistEntry) -> str:
    """The booking of the entry's next offer: the same for every worker deciding it (one of them wins)."""
    return f"bk_{digest(f'waitlist:{entry.entry_id}:{entry.offers}')[:24]}"


# --- the stream ----------------------------------------------------------------------------------------------


def _slot_of(record: dict[str, Any]) -> tuple[int, datetime] | None:
    change = record.get("dynamodb", {})
    keys = change.get("Keys", {})
    pk, sk = keys.get("pk", {}).get("S", ""), keys.get("sk", {}).get("S", "")
    name = record.get("eventName")
    seat_freed = name == "REMOVE" and sk.startswith("SEAT#") and pk.startswith("SLOT#")
    joined = name == "INSERT" and sk.startswith("ENTRY#") and pk.startswith("WAITLIST#")
    if seat_freed or joined:
        _, event_type, start = pk.split("#", 2)
    elif sk == "BOOKING" and "waitlist_entry_id" in (change.get("NewImage") or {}):
        image = change["NewImage"]
        event_type, start = image["event_type_id"]["N"], image["slot_start"]["S"]
    else:
        return None
    return int(event_type), datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC)


def _service(event_type_id: int) -> Service | None:
    return next(
        (s for s in get_catalog().services if s.cal_event_type_id == event_type_id and s.waitlist),
        None,
    )


def on_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Look at the line of every slot the batch touches, in the order first touched. A slot that fails (Stripe or
    DynamoDB down) is reported from its first record: Lambda retries from there (all of it is safe to repeat)."""
    slots: dict[tuple[int, datetime], str] = {}
    for record in records:
        slot = _slot_of(record)
        if slot is not None and slot not in slots and _service(slot[0]) is not None:
            slots[slot] = record.get("dynamodb", {}).get("SequenceNumber", "")
    offered = 0
    for (event_type_id, start), sequence in slots.items():
        service = _service(event_type_id)
        assert service is not None
        try:
            offered += promote_slot(service, start, clock_now())
        except Exception:
            logger.exception("waitlist promotion failed; retried from this record", extra={"sequence": sequence})
            return {"batchItemFailures": [{"itemIdentifier": sequence}], "offered": offered}
    return {"batchItemFailures": [], "offered": offered}


# --- one slot ------------------------------------------------------------------------------------------------


def promote_slot(service: Service, start: datetime, now: datetime) -> int:
    """Settle the slot's offers, then offer free seats to the first parties that fit. Returns the offers made."""
    for entry in line_store.entries(service.cal_event_type_id, start):
        if entry.status == EntryStatus.OFFERED:
            settle_offer(entry, now)
    if start - now < timedelta(minutes=service.minimum_notice_minutes):
        return 0  # too late to book: nobody is offered what nobody could book
    offered = 0
    for _round in range(MAX_ROUNDS):
        free = store.free_seat_numbers(service.cal_event_type_id, start, service.capacity, now)
        if not free:
            break
        line = line_store.entries(service.cal_event_type_id, start)
        fits = next((e for e in line if e.status == EntryStatus.WAITING and e.participants <= len(free)), None)
        if fits is None:
            break
        try:
            offer(service, fits, now)
        except store.DateBlocked:
            break  # the owner blocked the date: nobody is offered it (the block's run decides its bookings)
        except (EntryChanged, store.StaleBooking, store.SeatTaken):
            metrics.add_metric(name="WaitlistOfferRaceLost", unit="Count", value=1)
            continue  # another worker offered it or took a seat: read the line again
        offered += 1
    return offered


def offer(service: Service, entry: WaitlistEntry, now: datetime) -> Booking:
    """Hold the party's seats for it, the entry OFFERED in the same transaction; then open its payment."""
    from booking.flows.intents import draft_hold, hold_seats  # the hold's rules live once, there

    price = quote(service, payment_type_of(entry), entry.currency, participants=entry.participants)
    nothing_due = price.amount_due_now == 0
    booking_id = offer_booking_id(entry)
    draft = draft_hold(
        service,
        entry.start,
        entry.attendee,
        price,
        now,
        booking_id=booking_id,
        notify_email=entry.notify_email,
        notify_sms=entry.notify_sms,
        participants=entry.participants,
        waitlist_entry_id=entry.entry_id,
    )
    booking = hold_seats(draft, service.capacity, None, now, extra=line_store.offer_writes(entry, booking_id, now))
    logger.info("waitlist offer held", extra={"booking_id": booking_id, "waitlist_entry_id": entry.entry_id})
    metrics.add_metric(name="WaitlistOffered", unit="Count", value=1)
    if not nothing_due:
        open_offer(booking)
    return booking


def open_offer(booking: Booking) -> Booking:
    """The offer's PaymentIntent and pay link. The link is stored before the booking names the PaymentIntent: that
    change is what the notifier emails the link on."""
    from booking.flows.pay_links import link_for
    from booking.providers import payments

    customer_id = booking.customer_id
    if booking.payment_type == "deposit" and not customer_id:
        customer_id = payments.create_customer(booking)
    intent = payments.create_payment_intent(booking, customer_id)
    link_for(booking, intent)
    return store.attach_payment_intent(booking.booking_id, intent.id, customer_id, intent.status)


def settle_offer(entry: WaitlistEntry, now: datetime) -> None:
    """An OFFERED entry from its booking: still held (open its payment if Stripe had not), paid, or ended."""
    booking = store.get_booking(entry.booking_id or "")
    if booking is None:
        return  # cannot be: the booking and the offer are written in one transaction
    try:
        if booking.status == S.HELD:
            if booking.payment_intent_id is None and booking.hold_is_live(now):
                open_offer(booking)
            return
        if booking.status in PAID_STATUSES or booking.amount_paid:
            line_store.end_offer(entry, EntryStatus.BOOKED, reason=f"booking {booking.booking_id} paid", now=now)
            metrics.add_metric(name="WaitlistBooked", unit="Count", value=1)
        elif booking.payment_intent_id is None:
            reason = "the hold ended before its payment could be opened; back in line"
            line_store.end_offer(entry, EntryStatus.WAITING, reason=reason, now=now)
        else:
            reason = f"the hold of booking {booking.booking_id} ended unpaid ({booking.status.value.lower()})"
            line_store.end_offer(entry, EntryStatus.LAPSED, reason=reason, now=now)
            metrics.add_metric(name="WaitlistLapsed", unit="Count", value=1)
    except EntryChanged:
        pass  # another worker settled it


def payment_type_of(entry: WaitlistEntry) -> PaymentType:
    return "full" if entry.payment_type == "full" else "deposit"
