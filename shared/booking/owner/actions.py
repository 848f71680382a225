"""The owner's money actions: refund, cancel, collect the balance, mark a no-show.

Each runs on what Stripe says already moved, under the booking's money lease (`money/ledger.py`), and is
idempotent twice over: the request's Idempotency-Key is recorded with a fingerprint of its body (the same key with
another body is refused), and a retry finds its own effects again: an owner refund carries the key's hash in its
Stripe metadata, a balance PaymentIntent too, a status change is already there. So a retry a day later, after
Stripe forgot its own idempotency key, moves no money twice. Every action writes a line in the booking's
history naming the owner.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from booking.api_models import RequestBody
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import requests as request_store
from booking.dal import series as series_store
from booking.digests import digest, fingerprint
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.domain.pricing import format_amount
from booking.errors import BookingClosed, BookingNotFound, Conflict, DomainError, IdempotencyKeyReused, InvalidRequest
from booking.flows import calendar_sync, cancellation
from booking.money import collections, refunds
from booking.money.collections import Collection
from booking.money.ledger import Held, owed_now, owed_refund, under_money_lease
from booking.money.payouts import reverse_excess
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.owner.views import OwnerBooking

S = BookingStatus
OWNER_CANCELLABLE = frozenset({S.PAID, S.CONFIRMED, S.SLOT_UNAVAILABLE})
NO_SHOW_FROM = frozenset({S.CONFIRMED, S.COMPLETED})


class RefundRequest(RequestBody):
    amount: int | None = Field(default=None, gt=0, description="Minor units; omitted = all Stripe can still refund")
    reason: str = Field(min_length=1, max_length=500)


class CancelRequest(RequestBody):
    reason: str = Field(min_length=1, max_length=500)
    refund: Literal["policy", "full", "none"] = Field(
        description="policy: the service's cancellation policy, as if the client cancelled now; full: everything "
        "paid; none: the business keeps what was paid"
    )
    series: Literal["this", "rest"] = Field(
        default="this",
        description='A recurring series\' occurrence: "rest" cancels it and every later one, each refunded as chosen',
    )


class CollectBalanceRequest(RequestBody):
    method: Literal["card_on_file", "offline"] = Field(
        description="card_on_file: charge the card saved with the deposit; offline: cash or a terminal, recorded only"
    )


class NoShowRequest(RequestBody):
    note: str | None = Field(default=None, max_length=500)


class NothingRefundable(Conflict):
    code = "nothing_refundable"


class RefundBlocked(Conflict):
    code = "refund_blocked_by_dispute"


class MeetingNotOver(Conflict):
    code = "meeting_not_started"


class ActionResult(BaseModel):
    """The booking after the action, and what the action did."""

    message: str
    refunded: int = 0
    collection: Collection | None = None
    booking: OwnerBooking


def claim(idempotency_key: str | None, action: str, booking_id: str, body: BaseModel) -> str:
    """Record the request's key once, with a fingerprint of its body; the key's hash names the request."""
    if not idempotency_key:
        raise InvalidRequest(
            "Owner actions need an Idempotency-Key header (any unique string; reuse it to retry safely).",
            fields={"Idempotency-Key": "required"},
        )
    key_hash = digest(idempotency_key)
    if request_store.claim_request(
        key_hash, f"owner:{action}:{booking_id}", booking_id, fingerprint(body), clock_now()
    ):
        raise IdempotencyKeyReused
    return key_hash


def refund(booking_id: str, body: RefundRequest, *, actor: str, request: str) -> ActionResult:
    """Refund part or all of what Stripe can still refund (latest payment first); the provider's share of it is
    taken back if they were paid already. Never more than Stripe says is refundable (422 naming `amount`)."""
    made: list[int] = []

    def decide(held: Held) -> dict[str, Any]:
        def money(amount: int) -> str:
            return format_amount(amount, held.booking.currency)

        ledger = collections.read(held)
        mine = [r for r in ledger.refunds if r.request == request]
        if mine:
            made[:] = [sum(r.amount for r in mine)]
            return {}
        if ledger.open_dispute is not None:
            raise RefundBlocked(f"Dispute {ledger.open_dispute.dispute_id} is open: Stripe cannot refund this charge.")
        refundable = ledger.refundable
        if refundable <= 0:
            raise NothingRefundable(
                f"Nothing left to refund: captured {money(ledger.captured)}, already returned "
                f"{money(ledger.returned)}.",
                booking_id=booking_id,
            )
        amount = body.amount or refundable
        if amount > refundable:
            raise InvalidRequest(
                f"At most {money(refundable)} can still be refunded (Stripe: captured {money(ledger.captured)}, "
                f"returned {money(ledger.returned)}).",
                fields={"amount": f"more than the {money(refundable)} still refundable"},
                refundable=refundable,
            )
        new = refunds.refund_across_payments(
            held, ledger, amount, purpose="owner_refund", reason=body.reason, key=f"owner:{request}", request=request
        )
        ledger = ledger.with_refunds(new)
        held.sync(ledger)
        collections.note(held, actor, f"refunded {money(amount)}: {body.reason}")
        owed = owed_refund(held.booking, ledger)
        reverse_excess(held, ledger, still_owed=owed.amount if owed else 0)
        made[:] = [amount]
        return {}

    booking = under_money_lease(booking_id, decide)
    metrics.add_metric(name="OwnerRefund", unit="Count", value=1)
    return ActionResult(
        message=f"Refunded {format_amount(made[0], booking.currency)}.",
        refunded=made[0],
        booking=OwnerBooking.of(booking),
    )


def cancel(booking_id: str, body: CancelRequest, *, actor: str) -> ActionResult:
    """Cancel in Cal.com, free the seat, refund as chosen. The choice is written before Cal.com is asked, so its
    cancellation webhook (which may arrive first) is priced the owner's way too."""
    booking = store.get_booking(booking_id)
    if booking is None:
        raise BookingNotFound(booking_id)
    if body.series == "rest":
        return _cancel_rest(booking, body, actor=actor)
    if booking.status == S.CANCELLED:
        if booking.cancel_refund == body.refund:
            return ActionResult(message="Already cancelled.", booking=OwnerBooking.of(settle(booking)))
        raise BookingClosed(booking_id, booking.status.value, f"Booking {booking_id} was already cancelled.")
    if booking.status not in OWNER_CANCELLABLE:
        raise BookingClosed(booking_id, booking.status.value)
    try:
        store.update_fields(booking_id, {"cancel_refund": body.refund}, condition=store.status_is(booking.status))
    except store.StaleBooking:
        raise Conflict("The booking changed meanwhile; read it again and retry.", booking_id=booking_id) from None
    try:
        calendar_sync.cancel_there(booking, body.reason)
    except DomainError:
        store.update_fields(booking_id, {"cancel_refund": None}, condition=store.status_is(booking.status))
        raise
    cancelled = cancellation.cancel(
        booking_id,
        cancelled_at=clock_now(),
        by_business=True,
        actor=actor,
        reason=f"cancelled by the owner ({body.refund} refund): {body.reason}",
        cancelled_start=booking.slot_start,
    )
    logger.info("owner cancelled", extra={"refund": body.refund})
    return ActionResult(
        message=f"Cancelled; refund: {body.refund}.",
        refunded=cancelled.amount_refunded - booking.amount_refunded,
        booking=OwnerBooking.of(cancelled),
    )


def _cancel_rest(booking: Booking, body: CancelRequest, *, actor: str) -> ActionResult:
    """This occurrence of a series and every later one the owner may still cancel, each as its own cancel (its own
    money lease and refund); one that fails stops the walk, and the same request again carries on."""
    found = series_store.get(booking.series_id) if booking.series_id else None
    if found is None:
        raise InvalidRequest("This booking is not part of a recurring series.", fields={"series": "not a series"})
    one = body.model_copy(update={"series": "this"})
    done = [
        cancel(o.booking_id, one, actor=actor)
        for o in found.occurrences
        if o.occurrence >= (booking.occurrence or 1)
        and (current := store.get_booking(o.booking_id)) is not None
        and (
            current.status in OWNER_CANCELLABLE
            or (current.status == S.CANCELLED and current.cancel_refund == body.refund)
        )
    ]
    after = store.get_booking(booking.booking_id) or booking
    return ActionResult(
        message=f"Cancelled {len(done)} occurrence(s) of series {found.series_id} from {booking.occurrence}; "
        f"refund: {body.refund}.",
        refunded=sum(result.refunded for result in done),
        booking=OwnerBooking.of(after),
    )


def collect_balance(booking_id: str, body: CollectBalanceRequest, *, actor: str, request: str) -> ActionResult:
    """Charge the balance to the saved card (off-session), or record it paid offline. If the card needs the
    client, the answer carries a pay link and the booking shows the balance awaiting the client."""
    outcome: list[Collection] = []

    def decide(held: Held) -> dict[str, Any]:
        ledger = collections.read(held)
        outcome[:] = [collections.collect_balance(held, ledger, method=body.method, actor=actor, request=request)]
        return collections.waiting_fields(held.booking)

    booking = under_money_lease(booking_id, decide)
    return ActionResult(message=outcome[0].message, collection=outcome[0], booking=OwnerBooking.of(booking))


def no_show(booking_id: str, body: NoShowRequest, *, actor: str) -> ActionResult:
    """The client did not come: NO_SHOW, the payment kept, and the service's no-show fee charged to the saved
    card for what the payment did not cover (once; a card that fails gets a pay link and the owner a flag)."""
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.status == S.NO_SHOW:
            return ActionResult(message="Already marked as a no-show.", booking=OwnerBooking.of(settle(booking)))
        if booking.status not in NO_SHOW_FROM:
            raise BookingClosed(booking_id, booking.status.value)
        if booking.slot_start > clock_now():
            raise MeetingNotOver(f"The meeting starts at {booking.slot_start.isoformat()}; a no-show comes after that.")
        if booking.status == S.CONFIRMED and calendar_sync.reconcile(booking) != "in line":
            continue  # Cal.com says otherwise (cancelled or moved there, its webhook lost): decide on that
        reason = f"no-show: {body.note}" if body.note else "no-show"
        try:
            marked = store.transition(
                booking,
                S.NO_SHOW,
                actor=actor,
                reason=reason,
                now=clock_now(),
                fields={"no_show": f"marked by {actor}"} | (owed_now() if booking.payment_intent_id else {}),
            )
        except store.StaleBooking:
            continue
        metrics.add_metric(name="NoShow", unit="Count", value=1)
        return ActionResult(message="Marked as a no-show.", booking=OwnerBooking.of(settle(marked)))
    raise store.StaleBooking(booking_id)
