"""The client's own bookings (seed 003 "my appointments"; "cancel / reschedule: must own appointment").

The confirmation carries a manage link, `SITE_BASE_URL/book/manage?token=...`: whoever holds it owns the booking.
With it the client sees the booking and what cancelling now would refund, cancels, or moves it to another free
slot. Both changes run the code Cal.com's own changes run (`flows/cancellation.cancel`, `calendar_sync.reschedule`
and its `move_to`), so the webhook Cal.com sends afterwards finds the work done and changes nothing more.

The token is `{booking_id}.{256 bits}`, stored only as its SHA-256 on its booking (`manage_token_hash`, one per
booking: `dal/manage_tokens.py`), and works until the booking's end + LINK_GRACE (checked here on the booking's
current end). Its secret part is derived from the booking's id under the server's link signing key
(`secrets.link_token`), so whoever may read that key names the same link without storing it: the verify page, the
rebook page and the emails (`manage_url`), also for a booking confirmed by the webhooks or the cleanup job alone.
Links issued before tokens named their booking are the bare secret, found through their `MANAGE#` item. The owner
may revoke a link; the link named after that is a new one (the count of revocations is part of the derivation),
never the revoked one back.

Policy (the service's catalog entry):
- cancelling: refund by the cancellation policy on what was paid (`domain.policy.cancellation_terms`, as the
  money sweep will refund it); a package credit comes back inside the free window.
- rescheduling: at most `reschedule.max_count` times; within `late_within_hours` of the start, a fee of
  `late_fee_percent` of the price is charged to the card saved with the deposit first, off-session, once per
  reschedule (its key names the reschedule's number, so a retry finds it in Stripe). A card that cannot pay it
  moves nothing (409 reschedule_fee_failed); a slot lost between the charge and Cal.com refunds it.
- a booking whose slot was lost (SLOT_UNAVAILABLE; the slot-lost message names its link): the lost-slot rules
  (`flows/lost_slot.py`) - moving it is the rebook on the same payment (`flows/rebook.py`, within the rebook
  window, no fee, no cap), cancelling takes the full refund now instead of at the window's end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlencode

from pydantic import AwareDatetime, BaseModel, Field

from booking.api_models import LinkToken, RequestBody
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.dal import manage_tokens
from booking.digests import digest
from booking.domain.catalog import Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Participant, Seat, TransitionRecord
from booking.domain.policy import cancellation_terms, package_credit_returned
from booking.domain.pricing import deposit_amount
from booking.errors import (
    BookingClosed,
    BookingNotFound,
    ConfirmationInProgress,
    Conflict,
    DomainError,
    InvalidSlot,
    SlotTaken,
    TokenExpired,
    TokenNotFound,
)
from booking.flows import calendar_sync, cancellation, party
from booking.flows.availability import check_bookable
from booking.flows.confirmation import Confirmation
from booking.flows.lost_slot import rebook_until
from booking.flows.rebook import rebook_booking
from booking.money import collections
from booking.money.ledger import Held, owed_now, under_money_lease, with_reschedule_fees
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.providers import payments
from booking.secrets import link_token
from booking.settings import get_settings

S = BookingStatus
LINK_GRACE = timedelta(days=7)  # the link works until the booking's end + this
TTL_MARGIN = timedelta(days=1)
# A confirmation's statuses, and a lost slot's (its message sends the client to pick another time or the refund)
LINKED = frozenset({S.PAID, S.CONFIRMED, S.COMPLETED, S.SLOT_UNAVAILABLE})
CLIENT_CAN_CHANGE = frozenset({S.PAID, S.CONFIRMED})
REVOKED = "manage link revoked"
FEE_PURPOSE = "reschedule_fee"


class RescheduleLimit(Conflict):
    code = "reschedule_limit"

    def __init__(self, booking_id: str, max_count: int) -> None:
        super().__init__(
            f"This booking has been moved {max_count} times, as many as this service allows; cancel it or contact us.",
            booking_id=booking_id,
            max_count=max_count,
        )


class RescheduleFeeFailed(Conflict):
    code = "reschedule_fee_failed"

    def __init__(self, booking_id: str, fee: int, why: str) -> None:
        super().__init__(
            f"Moving the booking this late costs a fee that could not be charged ({why}); nothing was changed.",
            booking_id=booking_id,
            fee=fee,
        )


class MeetingStarted(Conflict):
    code = "meeting_started"

    def __init__(self, booking_id: str) -> None:
        super().__init__("The meeting has started; it can no longer be changed here.", booking_id=booking_id)


# --- what the client sends and sees ---


class ManageRequest(RequestBody):
    token: LinkToken = Field(description="The token of the manage link (the confirmation's manage_url)")


class RescheduleRequest(ManageRequest):
    start: AwareDatetime = Field(description="Another start of the same service, as /availability lists it")


class ManagedBooking(BaseModel):
    booking_id: str
    service_id: str
    service_name: str
    status: str = Field(description="confirmed, paid (confirmation pending), cancelled, completed, ...")
    start: datetime
    end: datetime
    currency: str
    total: int = Field(description="The price, after any promo code (minor units)")
    amount_paid: int
    amount_refunded: int
    balance_due: int
    payment_type: str
    promo_code: str | None
    package_id: str | None
    reschedule_count: int
    attendee_name: str
    participants: int = Field(default=1, description="Seats the booking takes, the payer's included")
    party: list[Participant] = Field(default_factory=list, description="The other members named (flows/party.py)")

    @classmethod
    def of(cls, booking: Booking, service: Service) -> ManagedBooking:
        return cls(
            booking_id=booking.booking_id,
            service_id=booking.service_id,
            service_name=service.name,
            status=booking.status.value.lower(),
            start=booking.slot_start,
            end=booking.slot_end,
            currency=booking.currency,
            total=booking.total,
            amount_paid=booking.amount_paid,
            amount_refunded=booking.amount_refunded,
            balance_due=booking.balance_due,
            payment_type=booking.payment_type,
            promo_code=booking.promo_code,
            package_id=booking.package_id,
            reschedule_count=booking.reschedule_count,
            attendee_name=booking.attendee.name,
            participants=booking.participants,
            party=booking.party,
        )


class CancellationOffer(BaseModel):
    allowed: bool
    refund: int = Field(description="What cancelling now refunds; once cancelled, what was refunded")
    fee: int = Field(description="What the business keeps (and charges, when the service says) if cancelled now")
    credit_returned: bool | None = Field(description="A package booking: whether its credit comes back; else null")
    reason: str


class RescheduleOffer(BaseModel):
    allowed: bool
    remaining: int | None = Field(description="Reschedules left; null when the service sets no cap")
    fee: int = Field(description="Charged to the saved card first when moving it now (a late reschedule)")
    reason: str


class ManageView(BaseModel):
    booking: ManagedBooking
    cancellation: CancellationOffer
    reschedule: RescheduleOffer


# --- the link ------------------------------------------------------------------------------------------------


def with_manage_link(confirmation: Confirmation) -> Confirmation:
    """The confirmation /bookings/verify (or /bookings/rebook) answers, with the booking's manage link (issued
    already when the confirmation's own write issued it: flows/confirmation.py)."""
    if confirmation.manage_url:
        return confirmation
    return confirmation.model_copy(update={"manage_url": issue_link(confirmation.booking_id)})


class Link(NamedTuple):
    url: str
    token_hash: str
    keep_until: datetime  # a bare token's item is kept until then
    bare: bool  # issued before tokens named their booking: found through its MANAGE# item


def link_of(booking: Booking) -> Link:
    """The booking's manage link as `issue_link` names it (a link issued in the bare form keeps it)."""
    secret = _link_token(booking.booking_id, _revocations(booking))
    bare = booking.manage_token_hash == digest(secret)
    token = secret if bare else f"{booking.booking_id}.{secret}"
    url = f"{str(get_settings().site_base_url).rstrip('/')}/book/manage?{urlencode({'token': token})}"
    return Link(url, digest(token), _link_end(booking) + TTL_MARGIN, bare)


def issue_link(booking_id: str) -> str | None:
    """The booking's manage link, issued on first use: the same on every call until the owner revokes it. None
    when the booking is not confirmed (paid) any more, or has a link this derivation does not name."""
    booking = store.get_booking(booking_id)  # as it is now: a revocation since an older read changes the link
    if booking is None or booking.status not in LINKED:
        return None
    link = link_of(booking)
    if booking.manage_token_hash not in (None, link.token_hash):
        return None  # a link issued before the key-derived ones (from a verify token): only its holder has it
    if booking.manage_token_hash is None:
        try:
            issued = manage_tokens.issue(booking_id, link.token_hash)
        except manage_tokens.LinkTaken:
            return None  # revoked and issued again since the read: that newer link is not this one
        if issued:
            metrics.add_metric(name="ManageLinkIssued", unit="Count", value=1)
    elif link.bare:  # its item kept as long as the booking's current end needs (a rebook moves it later)
        manage_tokens.keep_until(link.token_hash, link.keep_until)
    return link.url


def manage_url(booking: Booking) -> str | None:
    """The manage link a message about `booking` names (the notifier): `issue_link`, on the booking as it is now."""
    return issue_link(booking.booking_id)


def _link_token(booking_id: str, generation: int) -> str:
    return link_token(f"manage-link:{booking_id}:{generation}")


def _revocations(booking: Booking) -> int:
    return sum(1 for record in booking.history if record.reason.startswith(REVOKED))


def _link_end(booking: Booking) -> datetime:
    return booking.slot_end + LINK_GRACE


def _open(token: str) -> Booking:
    """The booking a live link opens: 404 token_not_found for a token never issued or revoked, 410 after the
    booking's end + LINK_GRACE."""
    token_hash = digest(token)
    named, dot, _ = token.partition(".")  # a bare token (base64url) has no dot
    booking_id = named if dot else manage_tokens.booking_id_of(token_hash)
    if booking_id is None:
        raise TokenNotFound
    logger.append_keys(booking_id=booking_id)
    booking = store.get_booking(booking_id)
    if booking is None or booking.manage_token_hash != token_hash:
        raise TokenNotFound
    if clock_now() >= _link_end(booking):
        raise TokenExpired
    return booking


def revoke_link(booking_id: str, *, actor: str, note: str | None) -> tuple[Booking, bool]:
    """The owner revokes the booking's manage link (the token stops working at once). (booking, whether a link
    was revoked by this call)."""
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        booking = store.get_booking(booking_id)
        if booking is None:
            raise BookingNotFound(booking_id)
        if booking.manage_token_hash is None:
            return booking, False
        status = booking.status.value
        record = TransitionRecord(
            at=clock_now(), actor=actor, source=status, target=status, reason=f"{REVOKED}: {note}" if note else REVOKED
        )
        if manage_tokens.revoke(booking_id, booking.manage_token_hash, record):
            metrics.add_metric(name="ManageLinkRevoked", unit="Count", value=1)
            return store.get_booking(booking_id) or booking, True
    raise store.StaleBooking(booking_id)


# --- seeing it -----------------------------------------------------------------------------------------------


def view(token: str) -> ManageView:
    return _view(_open(token))


def _view(booking: Booking) -> ManageView:
    now = clock_now()
    service = get_catalog().service(booking.service_id)
    return ManageView(
        booking=ManagedBooking.of(booking, service),
        cancellation=_cancellation(booking, service, now),
        reschedule=_reschedule_offer(booking, service, now),
    )


def _paid_by_card(booking: Booking) -> int:
    """What Stripe holds of the booking (the ledger's captured): cash recorded offline is not refunded by card."""
    return booking.amount_paid - sum(p.amount for p in booking.payments if p.method == "offline")


def _credit_comes_back(booking: Booking, service: Service, at: datetime, by_business: bool) -> bool | None:
    """A package booking: whether its credit comes back (the policy's free window), None for any other booking."""
    if not booking.package_id:
        return None
    return package_credit_returned(
        slot_start=booking.start_for_policy, cancelled_at=at, by_business=by_business, policy=service.cancellation
    )


def _cancellation(booking: Booking, service: Service, now: datetime) -> CancellationOffer:
    if booking.status == S.SLOT_UNAVAILABLE:
        return _lost_slot_cancellation(booking)
    if booking.status == S.CANCELLED:
        by_business = booking.cancelled_by == "business" and booking.cancel_refund != "policy"
        return CancellationOffer(
            allowed=False,
            refund=booking.amount_refunded,
            fee=max(_paid_by_card(booking) - booking.amount_refunded, 0),
            credit_returned=_credit_comes_back(booking, service, booking.cancelled_at or now, by_business),
            reason=f"cancelled by the {booking.cancelled_by or 'business'}",
        )
    fees = sum(p.amount for p in booking.payments if p.purpose == "reschedule_fee" and p.status == "succeeded")
    released = booking.party_fees_kept + booking.party_refunds_due  # seats of the party cancelled before
    terms = with_reschedule_fees(
        cancellation_terms(
            amount_paid=_paid_by_card(booking) - fees - released,
            total=booking.total,
            slot_start=booking.slot_start,
            cancelled_at=now,
            by_business=False,
            policy=service.cancellation,
        ),
        fees,
    )
    charged = terms.uncovered if service.cancellation.charge_uncovered_fee and booking.customer_id else 0
    refusal = _cancel_refusal(booking, now)
    return CancellationOffer(
        allowed=refusal is None,
        refund=max(terms.refund - (booking.amount_refunded - booking.party_refunds_due), 0),
        fee=terms.fee + charged,
        credit_returned=_credit_comes_back(booking, service, now, by_business=False),
        reason=refusal.message if refusal else terms.reason,
    )


def _cancel_refusal(booking: Booking, now: datetime) -> DomainError | None:
    if booking.status not in CLIENT_CAN_CHANGE:
        return BookingClosed(
            booking.booking_id,
            booking.status.value,
            f"This booking is {booking.status.value.lower().replace('_', ' ')}.",
        )
    if booking.slot_start <= now:
        return MeetingStarted(booking.booking_id)
    return None


def _late_fee(booking: Booking, service: Service, now: datetime) -> int:
    """A reschedule within `late_within_hours` of the start costs `late_fee_percent` of the price (rounded like a
    deposit); a booking with nothing paid (free, a package credit) costs nothing."""
    policy = service.reschedule
    if booking.slot_start - now >= timedelta(hours=policy.late_within_hours):
        return 0
    return deposit_amount(booking.total, policy.late_fee_percent)


def _reschedule_refusal(booking: Booking, service: Service, now: datetime) -> DomainError | None:
    refusal = _cancel_refusal(booking, now)
    if refusal is not None:
        return refusal
    if booking.status == S.PAID:  # Cal.com is booking it now: it moves once confirmed (calendar_sync.reschedule)
        return ConfirmationInProgress("This booking is being confirmed in the calendar; try again in a moment.")
    if service.capacity > 1:
        return calendar_sync.RescheduleNotSupported(booking.booking_id, "one seat of a shared session cannot move")
    cap = service.reschedule.max_count
    if cap is not None and booking.reschedule_count >= cap:
        return RescheduleLimit(booking.booking_id, cap)
    fee = _late_fee(booking, service, now)
    if fee and not booking.customer_id:
        return RescheduleFeeFailed(booking.booking_id, fee, "no card was saved with this booking")
    return None


def _reschedule_offer(booking: Booking, service: Service, now: datetime) -> RescheduleOffer:
    if booking.status == S.SLOT_UNAVAILABLE:
        return _lost_slot_rebook(booking, now)
    cap = service.reschedule.max_count
    fee = _late_fee(booking, service, now) if booking.status in CLIENT_CAN_CHANGE else 0
    refusal = _reschedule_refusal(booking, service, now)
    if refusal is not None:
        reason = refusal.message
    elif fee:
        reason = f"within {service.reschedule.late_within_hours} h of the start: a fee of "
        reason += f"{service.reschedule.late_fee_percent}% of the price is charged to the saved card"
    else:
        reason = "free to move to another available time"
    return RescheduleOffer(
        allowed=refusal is None,
        remaining=None if cap is None else max(cap - booking.reschedule_count, 0),
        fee=fee,
        reason=reason,
    )


def _lost_slot_cancellation(booking: Booking) -> CancellationOffer:
    """A lost slot is refunded in full (`lost_slot.py`): now if the client asks, else when the rebook window ends."""
    credit = True if booking.package_id else None
    if booking.auto_refund_reason:
        return CancellationOffer(
            allowed=False,
            refund=booking.amount_refunded,
            fee=0,
            credit_returned=credit,
            reason=booking.auto_refund_reason,
        )
    return CancellationOffer(
        allowed=True,
        refund=max(_paid_by_card(booking) - booking.amount_refunded, 0),
        fee=0,
        credit_returned=credit,
        reason="the booked time was lost: cancelling refunds everything paid",
    )


def _lost_slot_rebook(booking: Booking, now: datetime) -> RescheduleOffer:
    """Another time on the same payment while the rebook window is open (`flows/rebook.py`)."""
    until = rebook_until(booking)
    if until is None or until <= now:
        reason = booking.auto_refund_reason or "The time to pick another slot has passed; the payment is refunded."
        return RescheduleOffer(allowed=False, remaining=None, fee=0, reason=reason)
    reason = f"the booked time was lost: pick another time until {until:%Y-%m-%d %H:%M} UTC, on the same payment"
    return RescheduleOffer(allowed=True, remaining=None, fee=0, reason=reason)


# --- changing it ---------------------------------------------------------------------------------------------


def cancel(token: str) -> ManageView:
    """Cancel in Cal.com, then here with the code Cal.com's BOOKING_CANCELLED runs (priced as the client's
    cancellation now). The pricing is written first, so that webhook, if it comes before our cancellation (Cal.com
    names the API key's owner, the business, as the canceller), prices it the client's way too."""
    booking = _open(token)
    if booking.status == S.SLOT_UNAVAILABLE:
        return _view(_refund_lost_slot(booking))
    now = clock_now()
    refusal = _cancel_refusal(booking, now)
    if refusal is not None:
        raise refusal
    booking_id = booking.booking_id
    try:
        store.update_fields(booking_id, {"cancel_refund": "policy"}, condition=store.status_is(booking.status))
    except store.StaleBooking:
        raise Conflict("The booking changed meanwhile; look at it again.", booking_id=booking_id) from None
    reason = "cancelled by the client through the manage link"
    try:
        calendar_sync.cancel_there(booking, reason)
    except DomainError:
        store.update_fields(booking_id, {"cancel_refund": None}, condition=store.status_is(booking.status))
        raise
    cancelled = cancellation.cancel(
        booking_id,
        cancelled_at=now,
        by_business=False,
        actor="client",
        reason=reason,
        cancelled_start=booking.slot_start,
    )
    metrics.add_metric(name="ClientCancelled", unit="Count", value=1)
    return _view(cancelled)


def reschedule(token: str, start: datetime) -> ManageView:
    """Move the booking to another free start of its service, on the same payment (+ a late fee, charged first).
    A booking whose slot was lost is rebooked instead (`flows/rebook.py`: within its window, no fee, no cap)."""
    booking = _open(token)
    booking_id = booking.booking_id
    if booking.status == S.SLOT_UNAVAILABLE:
        rebook_booking(booking_id, start)
        return _view(_kept_linked(store.get_booking(booking_id) or booking))
    if booking.status == S.CONFIRMED and booking.slot_start == start.astimezone(UTC):
        return _view(booking)  # there already: the same request again (its answer was lost) moves and charges nothing
    now = clock_now()
    service = get_catalog().service(booking.service_id)
    refusal = _reschedule_refusal(booking, service, now)
    if refusal is not None:
        raise refusal
    # Before any money moves: the time must be offered and free (calendar_sync.reschedule checks both again).
    new_start = check_bookable(service, start, now)
    if store.seat_holder(Seat(event_type_id=booking.event_type_id, start=new_start), now) not in (None, booking_id):
        raise SlotTaken
    fee = _late_fee(booking, service, now)
    number = booking.reschedule_count + 1
    fee_payment = _charge_fee(booking_id, fee, number) if fee else None
    reason = f"moved by the client through the manage link from {booking.slot_start.isoformat()}"
    if fee_payment:
        reason += f" (late: fee {fee} paid, {fee_payment})"
    try:
        moved = calendar_sync.reschedule(booking_id, new_start, actor="client", reason=reason)
    except (SlotTaken, InvalidSlot):
        if fee_payment:
            _refund_fee(booking_id, fee_payment)  # nothing moved: the fee goes back
        raise
    metrics.add_metric(name="ClientRescheduled", unit="Count", value=1)
    return _view(_kept_linked(moved))


def change_party(token: str, members: list[Participant]) -> ManageView:
    """The payer names, renames or re-addresses the party's members (`flows/party.py`)."""
    booking = _open(token)
    refusal = _cancel_refusal(booking, clock_now())
    if refusal is not None:
        raise refusal
    return _view(party.change_party(booking, members))


def cancel_seats(token: str, seats: int, leaving: list[str]) -> ManageView:
    """Cancel some of the party's seats, not the payer's; their share is refunded by the policy (`flows/party.py`)."""
    booking = _open(token)
    refusal = _cancel_refusal(booking, clock_now())
    if refusal is not None:
        raise refusal
    return _view(party.cancel_seats(booking, seats, leaving))


def _kept_linked(moved: Booking) -> Booking:
    """The link's item is kept until the booking's new end + LINK_GRACE."""
    if moved.manage_token_hash:
        manage_tokens.keep_until(moved.manage_token_hash, _link_end(moved) + TTL_MARGIN)
    return moved


def _refund_lost_slot(booking: Booking) -> Booking:
    """The client takes the refund instead of another time: the rebook window closes now, as the cleanup job closes
    it when it ends (the full refund owed and the package credit back in one conditional write), then settled."""
    if booking.auto_refund_reason:
        raise BookingClosed(
            booking.booking_id, booking.status.value, f"Nothing to cancel: {booking.auto_refund_reason}."
        )
    reason = "the client chose the refund instead of another time (manage link); refunded in full"
    owed = owed_now() if booking.payment_intent_ids else {}  # nothing paid (a package credit): nothing owed
    try:
        closed = store.close_rebook_window(
            booking, actor="client", reason=reason, now=clock_now(), fields={"auto_refund_reason": reason} | owed
        )
    except store.StaleBooking:
        raise Conflict("The booking changed meanwhile; look at it again.", booking_id=booking.booking_id) from None
    metrics.add_metric(name="LostSlotRefundChosen", unit="Count", value=1)
    return settle(closed)


def _charge_fee(booking_id: str, fee: int, number: int) -> str:
    """Charge the late fee of reschedule `number` to the saved card, once: under the money lease, on what Stripe
    has (a fee this reschedule already paid and kept is used again). The PaymentIntent's id; RescheduleFeeFailed
    (its PaymentIntent cancelled, nothing left for the client to pay by mistake) when the card cannot pay."""
    request = f"reschedule:{number}"
    paid: list[str] = []

    def decide(held: Held) -> dict[str, Any]:
        ledger = collections.read(held)
        mine = [i for i in ledger.of_purpose(FEE_PURPOSE) if i.metadata.get("request") == request]
        kept = next((i for i in mine if i.status == "succeeded" and ledger.refundable_of(i.id) > 0), None)
        if kept is not None:
            paid.append(kept.id)
            return {}
        if any(i.status == "processing" for i in mine):
            raise RescheduleFeeFailed(booking_id, fee, "its payment is still processing; try again in a moment")
        intent = collections.charge(held, ledger, purpose=FEE_PURPOSE, amount=fee, actor="client", request=request)
        if intent.status.startswith("requires_"):
            intent = payments.cancel_payment_intent(held.booking, intent.id)
        collections.sync_payments(held, ledger.with_intent(intent), by="client")
        if intent.status != "succeeded":
            why = intent.last_payment_error_code or intent.status
            collections.note(held, "client", f"late reschedule fee of {fee} not charged ({why}): nothing moved")
            raise RescheduleFeeFailed(booking_id, fee, "the saved card was declined or needs you to confirm it")
        paid.append(intent.id)
        return {}

    under_money_lease(booking_id, decide)
    metrics.add_metric(name="RescheduleFeeCharged", unit="Count", value=1)
    return paid[0]


def _refund_fee(booking_id: str, payment_intent_id: str) -> None:
    """The slot was taken between the fee and Cal.com: refund what is left of the fee (once: a deterministic key)."""

    def decide(held: Held) -> dict[str, Any]:
        ledger = collections.read(held)
        left = ledger.refundable_of(payment_intent_id)
        if left <= 0:
            return {}
        refund = payments.create_refund(
            held.booking,
            payment_intent_id,
            left,
            purpose="reschedule_fee_refund",
            reason="the reschedule did not happen: the time was taken",
            key=payments.idempotency_key(booking_id, f"refund:reschedule_fee:{payment_intent_id}"),
        )
        held.sync(ledger.with_refunds([refund]))
        collections.note(held, "client", f"late reschedule fee refunded ({refund.refund_id}): the time was taken")
        return {}

    try:
        under_money_lease(booking_id, decide)
    except DomainError as exc:  # the fee stays paid for this reschedule: the client's next try uses it again
        logger.warning("the late reschedule fee could not be refunded", extra={"error": str(exc)})
