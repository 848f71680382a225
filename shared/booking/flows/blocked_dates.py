"""The owner blocks dates (issue 12, item 5): availability stops offering them at once, and each live booking on
them moves to its backup start when that is still free, or is cancelled by the business with a full refund.

Order: the block item is written first with one day item per date (one transaction, dal/blocks.py): every hold's
transaction checks its date's item, so no new hold lands on those dates from then on; the availability cache's
weeks those dates touch are marked stale for every service (their copies carry the blocked dates they were filled
with), so the next GET /availability leaves the dates out; then the bookings on the dates are listed with the
owner's date-range listing (StartIndex, never a scan) and decided one by one:
- a HELD hold (unpaid) is cancelled: its PaymentIntent first (a payment that succeeded meanwhile makes it PAID,
  decided as such), then the hold, through `cancellation.cancel`;
- a CONFIRMED booking moves with `calendar_sync.reschedule` (Cal.com first, then ours: the code the
  BOOKING_RESCHEDULED webhook uses), the same payment;
- a PAID booking not in Cal.com yet moves only its seat (under the calendar lease, so no confirmation is in
  flight); one an earlier attempt may have booked in Cal.com is confirmed first and then rescheduled there;
- a SLOT_UNAVAILABLE booking (its slot lost, awaiting another time) moves to its backup as a rebook would;
- with no usable backup (none given, blocked, taken, not offered) the booking is cancelled the owner's way
  (`owner.actions.cancel`, refund "full": Cal.com, the seat and the refund by the same code as everywhere).

Safe to run again: the block's id comes from the request's Idempotency-Key, its outcome records each booking
decided (a booking about to be decided is written down first, so a run that died midway is finished by the next
from the bookings themselves), and only one run works on a block at a time (a lease inside the outcome, written by
compare-and-set). A booking that cannot be decided now (Cal.com or Stripe down) is listed as failed, flagged for
the owner (an alert), and the same POST with the same key finishes it.
"""

from __future__ import annotations

import time
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from booking.api_models import RequestBody
from booking.clock import now as clock_now
from booking.dal import availability_cache, blocks
from booking.dal import bookings as store
from booking.dal.listing import ListingFilter, all_matching
from booking.digests import digest
from booking.domain.catalog import Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Seat
from booking.errors import (
    ConfirmationInProgress,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidSlot,
    NotFound,
    SlotTaken,
    SlotUnavailable,
)
from booking.flows import calendar_sync, cancellation
from booking.flows.availability import BOOKING_WINDOW_DAYS, check_bookable
from booking.flows.confirmation import confirm_booking
from booking.flows.payment_outcomes import record_payment
from booking.flows.rebook import fresh_calendar_fields
from booking.money import collections
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.owner import actions
from booking.owner.alerts import flag
from booking.providers import payments
from booking.settings import get_settings

S = BookingStatus
MAX_BLOCK_DAYS = blocks.MAX_DAYS  # the block and its day items are written in one transaction (100 items at most)
LIVE = frozenset({S.HELD, S.PAID, S.CONFIRMED, S.SLOT_UNAVAILABLE})
RUN_LEASE = timedelta(minutes=2)  # longer than the owner-actions function's timeout: a dead run's lease lapses
RUN_BUDGET_SECONDS = 15.0  # stop taking new bookings well before that timeout; the same POST again goes on
FLAG_CODE = "blocked_date_unresolved"


# --- request and answers -------------------------------------------------------------------------------------


class BlockRequest(RequestBody):
    """One date, or a range (both ends inclusive), in the business's time zone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    day: date | None = Field(default=None, alias="date", description="One date to block (YYYY-MM-DD)")
    first: date | None = Field(default=None, alias="from", description="First date of a range (with `to`)")
    last: date | None = Field(default=None, alias="to", description="Last date of a range, inclusive")
    reason: str = Field(default="", max_length=500, description="Why (kept on the block and the bookings' history)")
    notify: bool = Field(default=True, description="List the clients affected for the owner to tell them")

    def dates(self, today: date) -> tuple[date, date]:
        """The range asked for, checked (422 naming the field)."""
        if self.day is not None:
            if self.first is not None or self.last is not None:
                raise InvalidRequest("Give either date, or from and to.", fields={"date": "not together with from/to"})
            first, last, first_name, last_name = self.day, self.day, "date", "date"
        elif self.first is None or self.last is None:
            missing = "date" if self.first is None and self.last is None else ("from" if self.first is None else "to")
            raise InvalidRequest("Give date, or from and to.", fields={missing: "required"})
        else:
            first, last, first_name, last_name = self.first, self.last, "from", "to"
        if first > last:
            raise InvalidRequest("from must not be after to.", fields={"to": "before from"})
        if (last - first).days + 1 > MAX_BLOCK_DAYS:
            raise InvalidRequest(
                f"At most {MAX_BLOCK_DAYS} days at once.", fields={last_name: f"more than {MAX_BLOCK_DAYS} days"}
            )
        if first < today:
            raise InvalidRequest("A date in the past cannot be blocked.", fields={first_name: "in the past"})
        if last > today + timedelta(days=BOOKING_WINDOW_DAYS):
            raise InvalidRequest(
                f"Bookings open {BOOKING_WINDOW_DAYS} days ahead at most.",
                fields={last_name: "beyond the booking window"},
            )
        return first, last


class AffectedBooking(BaseModel):
    """A client whose booking the block moved or cancelled (to be told; notifications come in a later issue)."""

    booking_id: str
    name: str
    email: str
    outcome: Literal["moved", "cancelled"]
    start: datetime
    new_start: datetime | None = None
    refunded: int | None = None  # minor units, for a cancellation (0: an unpaid hold)
    currency: str


class PendingBooking(BaseModel):
    """A booking to decide, at the start it had when the block hit it."""

    booking_id: str
    start: datetime


class FailedBooking(PendingBooking):
    error: str


class BlockOutcome(BaseModel):
    """What blocking did, kept as JSON on the block item. `pending`: the booking being decided (written before
    acting on it, so a run that dies midway leaves its name for the next run)."""

    affected: list[AffectedBooking] = Field(default_factory=list)
    failed: list[FailedBooking] = Field(default_factory=list)
    pending: PendingBooking | None = None
    run_until: datetime | None = None  # a run is working on the block until then
    complete: bool = False

    @classmethod
    def of(cls, block: blocks.Block) -> BlockOutcome:
        return cls.model_validate_json(block.outcome) if block.outcome else cls()

    def decided(self, booking_id: str) -> bool:
        return any(entry.booking_id == booking_id for entry in self.affected)

    def count(self, outcome: str) -> int:
        return sum(1 for entry in self.affected if entry.outcome == outcome)


class BlockView(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    block_id: str
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    reason: str
    notify: bool
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, block: blocks.Block) -> BlockView:
        return cls(
            block_id=block.block_id,
            first=block.from_date,
            last=block.to_date,
            reason=block.reason,
            notify=block.notify,
            created_at=block.created_at,
            created_by=block.created_by,
        )


class BlockResult(BaseModel):
    """POST /admin/blocked-dates: the block and what it did (over every run of the same request)."""

    block: BlockView
    blocked: int = Field(description="Days blocked")
    moved: int
    cancelled: int
    users_to_notify: list[AffectedBooking] = Field(description="Empty when notify is false")
    failed: list[FailedBooking] = Field(description="Bookings not decided yet: POST again with the same key")
    complete: bool

    @classmethod
    def of(cls, block: blocks.Block) -> BlockResult:
        outcome = BlockOutcome.of(block)
        return cls(
            block=BlockView.of(block),
            blocked=block.days,
            moved=outcome.count("moved"),
            cancelled=outcome.count("cancelled"),
            users_to_notify=outcome.affected if block.notify else [],
            failed=outcome.failed,
            complete=outcome.complete,
        )


class BlockedDates(BaseModel):
    blocked_dates: list[BlockResult]


class BlockNotFound(NotFound):
    code = "block_not_found"

    def __init__(self, block_id: str) -> None:
        super().__init__(f"No blocked dates with id {block_id!r}.", fields={"block_id": "unknown block"})


class BlockInProgress(Conflict):
    code = "block_in_progress"
    retry_after_seconds = 30

    def __init__(self, block_id: str) -> None:
        super().__init__(
            "These dates are being blocked by another request; ask again in a moment for its outcome.",
            block_id=block_id,
        )


class PaymentInFlight(Conflict):
    code = "payment_in_flight"


# --- the owner's requests ------------------------------------------------------------------------------------


def block_id_of(idempotency_key: str) -> str:
    return f"blk_{digest(idempotency_key)[:24]}"


def block_dates(body: BlockRequest, *, actor: str, idempotency_key: str | None) -> BlockResult:
    today = clock_now().astimezone(_business_zone()).date()
    first, last = body.dates(today)
    block_id = block_id_of(idempotency_key or "")
    actions.claim(idempotency_key, "block-dates", block_id, body)
    block = blocks.get(block_id)
    if block is None:
        block = blocks.Block(
            block_id=block_id,
            from_date=first,
            to_date=last,
            reason=body.reason,
            notify=body.notify,
            created_at=clock_now(),
            created_by=actor,
        )
        if not blocks.put(block):  # the same request at the same moment: decide on what it wrote
            block = blocks.get(block_id) or block
        else:
            metrics.add_metric(name="DatesBlocked", unit="Count", value=block.days)
    if (block.from_date, block.to_date, block.reason, block.notify) != (first, last, body.reason, body.notify):
        raise IdempotencyKeyReused  # the key's claim expired (24 h) and it came back with another body
    _mark_weeks_stale(block)  # on every run: one that died before marking is finished by the same POST
    return BlockResult.of(_run(block, actor=actor))


def list_blocked() -> BlockedDates:
    return BlockedDates(blocked_dates=[BlockResult.of(block) for block in blocks.list_blocks()])


def unblock(block_id: str) -> BlockResult:
    """Offer the dates again; the bookings moved or cancelled stay as they are."""
    block = blocks.get(block_id)
    if block is None or not blocks.delete(block):
        raise BlockNotFound(block_id)
    metrics.add_metric(name="DatesUnblocked", unit="Count", value=block.days)
    _mark_weeks_stale(block)
    return BlockResult.of(block)


def _mark_weeks_stale(block: blocks.Block) -> None:
    """Every cached availability week the block's dates touch, of every service's event type: the copies hold the
    blocked dates of their fill, so the next request refreshes them (one conditional write a week; a week nobody
    cached is left alone). A copy being filled meanwhile read the blocks after its Cal.com call started: this
    mark, later than that start, keeps it stale (dal/availability_cache.py)."""
    now = clock_now()
    weeks = availability_cache.weeks_covering(
        _day_start(block.from_date), _day_start(block.to_date + timedelta(days=1))
    )
    for event_type_id in sorted({service.cal_event_type_id for service in get_catalog().services}):
        for week in weeks:
            availability_cache.mark_stale(event_type_id, week, now)


# --- one run over the block's bookings -----------------------------------------------------------------------


def _business_zone() -> ZoneInfo:
    return ZoneInfo(get_catalog().business.time_zone)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, day_time.min, _business_zone()).astimezone(UTC)


class _Run:
    """The block's outcome as this run last wrote it; every write is a compare-and-set on that text."""

    def __init__(self, block: blocks.Block, outcome: BlockOutcome, actor: str) -> None:
        self.block = block
        self.outcome = outcome
        self.actor = actor
        self.deadline = time.monotonic() + RUN_BUDGET_SECONDS
        self.seen: set[str] = set()  # decided (or failed) in this run: once per run

    def due(self, booking_id: str) -> bool:
        return booking_id not in self.seen and not self.outcome.decided(booking_id)

    def write(self, **changes: object) -> None:
        outcome = self.outcome.model_copy(update=changes)
        try:
            self.block = blocks.save_outcome(self.block, outcome.model_dump_json(), expected=self.block.outcome)
        except blocks.OutcomeChanged:
            raise BlockInProgress(self.block.block_id) from None  # our lease lapsed and another run took over
        self.outcome = outcome


def _run(block: blocks.Block, *, actor: str) -> blocks.Block:
    """Decide every live booking on the blocked dates not decided yet: first those an earlier run left failed or
    half done, then the ones the date-range listing finds (again on every run: a hold that passed its check just
    before the block was written is found by the next)."""
    outcome = BlockOutcome.of(block)
    now = clock_now()
    if outcome.run_until is not None and outcome.run_until > now:
        raise BlockInProgress(block.block_id)
    carried = [*outcome.failed, *([outcome.pending] if outcome.pending else [])]
    run = _Run(block, outcome, actor)
    run.write(run_until=now + RUN_LEASE, failed=[], pending=None)
    for earlier in carried:
        if run.due(earlier.booking_id):
            _decide(run, PendingBooking(booking_id=earlier.booking_id, start=earlier.start))
    days = ListingFilter(
        start_from=_day_start(block.from_date), start_before=_day_start(block.to_date + timedelta(days=1))
    )
    for booking in all_matching(days):
        if booking.status in LIVE and run.due(booking.booking_id):
            _decide(run, PendingBooking(booking_id=booking.booking_id, start=booking.slot_start))
    run.write(run_until=None, complete=not run.outcome.failed)
    logger.info(
        "dates blocked",
        extra={
            "block_id": block.block_id,
            "moved": run.outcome.count("moved"),
            "cancelled": run.outcome.count("cancelled"),
            "failed": len(run.outcome.failed),
        },
    )
    return run.block


def _decide(run: _Run, pending: PendingBooking) -> None:
    """Move or cancel one booking and write down what became of it (or why it could not be decided now)."""
    run.seen.add(pending.booking_id)
    if time.monotonic() > run.deadline:
        _failed(run, pending, "not reached in this run: POST the block again with the same Idempotency-Key")
        return
    booking = store.get_booking(pending.booking_id)
    if booking is None:
        return
    logger.append_keys(booking_id=booking.booking_id)
    run.write(pending=pending)
    try:
        affected = _already_done(booking, run.block, pending.start) or _resolve(booking, run.block, actor=run.actor)
    except (DomainError, store.StaleBooking) as exc:
        message = exc.message if isinstance(exc, DomainError) else "the booking changed meanwhile"
        _failed(run, pending, message)
        flag(
            booking,
            FLAG_CODE,
            f"dates {run.block.from_date}..{run.block.to_date} blocked ({run.block.block_id}), but this booking could "
            f"not be moved or cancelled: {message}. POST the block again with the same Idempotency-Key to finish.",
        )
        return
    finally:
        logger.remove_keys(["booking_id"])
    if affected is None:
        run.write(pending=None)
        return
    metrics.add_metric(name=f"BlockedBooking_{affected.outcome}", unit="Count", value=1)
    run.write(pending=None, affected=[*run.outcome.affected, affected.model_copy(update={"start": pending.start})])


def _failed(run: _Run, pending: PendingBooking, message: str) -> None:
    entry = FailedBooking(booking_id=pending.booking_id, start=pending.start, error=message)
    run.write(pending=None, failed=[*run.outcome.failed, entry])


def _reason(block: blocks.Block) -> str:
    """Every history line the block writes names it: a later run recognises its own work by it."""
    why = f": {block.reason}" if block.reason else ""
    return f"dates {block.from_date}..{block.to_date} blocked by the business ({block.block_id}){why}"


def _affected(booking: Booking, outcome: Literal["moved", "cancelled"]) -> AffectedBooking:
    """The client's line; `start` is the booking's start before the block (the caller's to set)."""
    return AffectedBooking(
        booking_id=booking.booking_id,
        name=booking.attendee.name,
        email=booking.attendee.email,
        outcome=outcome,
        start=booking.slot_start,
        new_start=booking.slot_start if outcome == "moved" else None,
        refunded=booking.amount_refunded if outcome == "cancelled" else None,
        currency=booking.currency,
    )


def _already_done(booking: Booking, block: blocks.Block, start: datetime) -> AffectedBooking | None:
    """What an earlier run did to the booking before it died (its history names the block); None: nothing yet."""
    if not any(block.block_id in record.reason for record in booking.history):
        return None
    if booking.status == S.CANCELLED:
        return _affected(settle(booking), "cancelled")  # its refund, if Stripe failed the earlier run
    if booking.status in LIVE and booking.slot_start != start:
        return _affected(booking, "moved")
    return None


def _resolve(booking: Booking, block: blocks.Block, *, actor: str) -> AffectedBooking | None:
    """Move the booking to its backup, or cancel it with a full refund. None: nothing to do any more."""
    if booking.status not in LIVE:
        return None
    if booking.status == S.HELD:
        return _release_hold(booking, block, actor=actor)
    backup = _usable_backup(booking)
    moved = _move(booking, backup, block, actor=actor) if backup is not None else None
    if moved is not None:
        return _affected(moved, "moved")
    return _cancel(booking, block, actor=actor)


def _release_hold(booking: Booking, block: blocks.Block, *, actor: str) -> AffectedBooking | None:
    """An unpaid hold: cancel its PaymentIntent, then the hold. Paid meanwhile: decided as the paid booking."""
    if booking.hold_expires_at <= clock_now():
        return None  # lapsed: the cleanup job expires it
    if booking.payment_intent_id:
        try:
            intent = payments.cancel_payment_intent(booking)
        except DomainError:  # Stripe refuses to cancel a PaymentIntent that just succeeded: read what it is now
            intent = payments.retrieve_payment_intent(booking.payment_intent_id)
        if intent.status == "succeeded":
            return _resolve(record_payment(booking.booking_id, intent, actor=actor), block, actor=actor)
        if intent.status != "canceled":
            raise PaymentInFlight(f"The client's payment is {intent.status}; it is decided on the next run.")
    cancelled = cancellation.cancel(
        booking.booking_id, cancelled_at=clock_now(), by_business=True, actor=actor, reason=_reason(block)
    )
    return _affected(cancelled, "cancelled")


def _cancel(booking: Booking, block: blocks.Block, *, actor: str) -> AffectedBooking:
    """Cancelled by the business with everything paid refunded: the owner's cancel (Cal.com, seat, refund)."""
    request = actions.CancelRequest(reason=_reason(block), refund="full")
    actions.cancel(booking.booking_id, request, actor=actor)
    cancelled = store.get_booking(booking.booking_id)
    return _affected(cancelled or booking, "cancelled")


def _usable_backup(booking: Booking) -> datetime | None:
    """The booking's backup start if it can take it now: offered by Cal.com and not blocked (check_bookable, the
    create-intent check), and a seat of it free here."""
    if booking.backup_start is None:
        return None
    service = get_catalog().service(booking.service_id)
    now = clock_now()
    try:
        start = check_bookable(service, booking.backup_start, now)
    except InvalidSlot:  # not offered, too soon, or on a blocked date (this block's or another's)
        return None
    seats = [Seat(event_type_id=booking.event_type_id, start=start, number=n) for n in range(service.capacity)]
    free = [seat for seat in seats if store.seat_holder(seat, now) in (None, booking.booking_id)]
    if len(free) < booking.participants:  # a party moves whole or not at all
        return None
    return start


def _move(booking: Booking, start: datetime, block: blocks.Block, *, actor: str) -> Booking | None:
    """The booking at its backup start, on the same payment; None when it cannot move there (taken meanwhile)."""
    service = get_catalog().service(booking.service_id)
    reason = f"moved to the client's backup start; {_reason(block)}"
    if booking.status == S.CONFIRMED:
        if service.capacity > 1:
            return None  # one seat of a shared Cal.com booking cannot be moved alone
        try:
            moved = calendar_sync.reschedule(booking.booking_id, start, actor=actor, reason=reason, by_client=False)
        except (SlotTaken, InvalidSlot):
            return None
        if moved.slot_start != start:  # moved in Cal.com, but a booking here holds that seat (flagged by move_to)
            raise Conflict("Cal.com moved it to the backup start, but another booking holds that slot here.")
        return moved
    if booking.status == S.SLOT_UNAVAILABLE:
        if booking.auto_refund_reason:
            return None  # its full refund is decided already
        # as a rebook: PAID at the new start, confirmed in Cal.com by the cleanup job
        fields = fresh_calendar_fields(booking, clock_now())
        return _move_seat(booking, service, start, actor=actor, reason=reason, fields=fields)
    return _move_paid(booking, service, start, block, actor=actor, reason=reason)


def _move_paid(
    booking: Booking, service: Service, start: datetime, block: blocks.Block, *, actor: str, reason: str
) -> Booking | None:
    """A PAID booking: under the calendar lease (no confirmation in flight) move only its seat when no attempt
    can have reached Cal.com; else confirm it there first (adopting what an earlier attempt made) and move that."""
    now = clock_now()
    leased = store.acquire_calendar_lease(
        booking, now=now, until=now + timedelta(seconds=get_settings().confirm_lease_seconds)
    )
    if leased is None:
        raise ConfirmationInProgress("Its confirmation in Cal.com is in progress; it is decided on the next run.")
    # the lease counted one attempt: given back, as nothing is asked of Cal.com under it
    released = {"cal_lease_until": None, "cal_attempts": leased.cal_attempts - 1}
    if leased.cal_attempts == 1 and not leased.cal_booking_uid:
        moved: Booking | None = None
        try:
            moved = _move_seat(leased, service, start, actor=actor, reason=reason, fields=released)
        finally:
            if moved is None:  # the backup was taken meanwhile (or the booking changed): the lease goes back
                _release_calendar_lease(booking.booking_id, released)
        return moved
    _release_calendar_lease(booking.booking_id, released)
    with suppress(SlotUnavailable):  # Cal.com refused its old start: SLOT_UNAVAILABLE now, moved as such
        confirm_booking(booking.booking_id, actor=actor, wait=False)
    current = store.get_booking(booking.booking_id)
    if current is None or current.status not in (S.CONFIRMED, S.SLOT_UNAVAILABLE):
        raise store.StaleBooking(booking.booking_id)
    return _move(current, start, block, actor=actor)


def _release_calendar_lease(booking_id: str, fields: dict[str, object]) -> None:
    with suppress(store.StaleBooking):  # no longer PAID: the lease means nothing any more
        store.update_fields(booking_id, fields, condition=store.status_is(S.PAID))


def _move_seat(
    booking: Booking, service: Service, start: datetime, *, actor: str, reason: str, fields: dict[str, object]
) -> Booking | None:
    """Take a seat of the new start and free the old one (one transaction); a scheduled balance follows it."""
    try:
        moved = store.move_to_slot(
            booking,
            S.PAID,
            start=start,
            end=start + timedelta(minutes=service.duration_minutes),
            capacity=service.capacity,
            actor=actor,
            reason=reason,
            now=clock_now(),
            fields=fields,
        )
    except store.SeatTaken:
        return None
    due = collections.collect_at(moved)
    if moved.money_state == "COLLECT" and due is not None:
        store.move_collection(moved.booking_id, due)
    return moved
