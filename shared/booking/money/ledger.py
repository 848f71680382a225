"""Stripe is the ledger (DESIGN §3): what already moved for a booking, read from Stripe before money moves again.

Our booking item keeps copies (`amount_paid`, `amount_refunded`, `refunds`, `transfer_*`) for queries and the
owner's view; every decision to refund, transfer or reverse is taken on a `Ledger` read from Stripe by the one
worker that holds the booking's money lease (`money.py`), so refunds made in the Stripe Dashboard, refunds that
failed later, disputes and a record we lost in a crash are all respected.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, RefundRecord
from booking.domain.policy import CancellationTerms, cancellation_terms
from booking.errors import BookingNotFound, DomainError, MoneyInFlight
from booking.providers import payments
from booking.providers.payments import DisputeView, PaymentIntentView, RefundView, TransferView


class Ledger(BaseModel):
    model_config = ConfigDict(frozen=True)

    intents: list[PaymentIntentView]  # every PaymentIntent of the booking, the first payment first
    refunds: list[RefundView]
    disputes: list[DisputeView]
    transfers: list[TransferView]

    @property
    def succeeded(self) -> list[PaymentIntentView]:
        return [intent for intent in self.intents if intent.status == "succeeded"]

    @property
    def captured(self) -> int:
        return sum(intent.amount_received for intent in self.succeeded)

    def of_purpose(self, purpose: str) -> list[PaymentIntentView]:
        return [intent for intent in self.intents if intent.purpose == purpose]

    def refundable_of(self, payment_intent_id: str) -> int:
        """What Stripe can still refund of one payment: received, less refunds that count and a lost dispute."""
        intent = next((i for i in self.succeeded if i.id == payment_intent_id), None)
        if intent is None:
            return 0
        refunded = sum(r.amount for r in self.refunds if r.counts and r.payment_intent == payment_intent_id)
        lost = sum(d.amount for d in self.disputes if d.status == "lost" and d.payment_intent == payment_intent_id)
        return max(intent.amount_received - refunded - lost, 0)

    @property
    def refunded(self) -> int:
        """Refunded and not failed (pending counts: the money is on its way back)."""
        return sum(refund.amount for refund in self.refunds if refund.counts)

    @property
    def lost_to_disputes(self) -> int:
        return sum(dispute.amount for dispute in self.disputes if dispute.status == "lost")

    @property
    def returned(self) -> int:
        """Everything that went back to the client: refunds, and the amount of a dispute the business lost."""
        return min(self.refunded + self.lost_to_disputes, self.captured)

    @property
    def reschedule_fees(self) -> int:
        return sum(intent.amount_received for intent in self.succeeded if intent.purpose == "reschedule_fee")

    @property
    def refundable(self) -> int:
        return max(self.captured - self.refunded - self.lost_to_disputes, 0)

    @property
    def open_dispute(self) -> DisputeView | None:
        return next((dispute for dispute in self.disputes if dispute.is_open), None)

    @property
    def transferred(self) -> int:
        """Paid to the provider, net of reversals."""
        return sum(transfer.net for transfer in self.transfers)

    def with_intent(self, intent: PaymentIntentView) -> Ledger:
        """The ledger after a PaymentIntent Stripe just answered for (a balance or a fee charged now)."""
        return self.model_copy(update={"intents": [*self.intents, intent]})

    def with_refunds(self, refunds: list[RefundView]) -> Ledger:
        """The ledger after refunds Stripe just answered for (no second read needed)."""
        return self.model_copy(update={"refunds": [*self.refunds, *refunds]})

    def with_transfers(self, transfers: list[TransferView]) -> Ledger:
        return self.model_copy(update={"transfers": [*self.transfers, *transfers]})

    def failed_attempts(self, purpose: str) -> int:
        return sum(1 for refund in self.refunds if refund.purpose == purpose and refund.status == "failed")

    def failed_refund_ids(self) -> frozenset[str]:
        return frozenset(refund.refund_id for refund in self.refunds if not refund.counts)


def read_ledger(booking: Booking, *, with_transfers: bool = True) -> Ledger:
    """Every payment of the booking (the first, and the balance and fees charged to its Customer) with its
    refunds and disputes, and the provider transfers (strongly consistent list calls; Stripe's search is minutes
    behind and never used to decide)."""
    # The first payment first, then the later ones in the order they were made.
    ordered = sorted(_intents_of(booking), key=lambda i: (i.id != booking.payment_intent_id, i.created, i.id))
    intents = list({intent.id: intent for intent in ordered}.values())
    refunds: list[RefundView] = []
    disputes: list[DisputeView] = []
    for intent in intents:
        if intent.status == "succeeded":
            refunds += payments.refunds_of(intent.id)
            disputes += payments.disputes_of(intent.id)
    transfers = payments.transfers_of(booking) if with_transfers and booking.provider_account else []
    if booking.series_id and booking.payment_intent_id:
        intents, refunds, disputes = series_share(booking, intents, refunds, disputes)
    return Ledger(intents=intents, refunds=refunds, disputes=disputes, transfers=transfers)


def _intents_of(booking: Booking) -> list[PaymentIntentView]:
    """The booking's PaymentIntents: one list call on its Customer finds them all (each carries our booking id);
    the first payment is read on its own when it has no Customer."""
    found = []
    if booking.customer_id:
        found = [
            intent
            for intent in payments.payment_intents_of_customer(booking.customer_id)
            if intent.metadata.get("booking_id") == booking.booking_id
        ]
    if booking.payment_intent_id and not any(intent.id == booking.payment_intent_id for intent in found):
        found.insert(0, payments.retrieve_payment_intent(booking.payment_intent_id))
    return found


# --- who may move the booking's money ------------------------------------------------------------------------

LEASE = timedelta(seconds=60)  # longer than any one worker's Stripe calls; a crashed worker's lease lapses
LEASE_WAIT_SECONDS = 5.0
LEASE_POLL_SECONDS = 0.1


def under_money_lease(booking_id: str, decide: Callable[[Held], dict[str, Any]]) -> Booking:
    """Run `decide` holding the booking's money lease and write what it returns as the lease ends.

    The lease is a conditional write on the booking item that marks a money movement in flight before any
    Stripe call, so two workers never both decide. `decide` reads Stripe, moves money, records each movement
    (conditions name the Stripe ids) and returns the fields to write at the end (money state, payout state).
    That last write also requires the booking unchanged since `decide` read it: a cancellation that landed
    meanwhile makes `decide` run again on the new state instead of being lost. If `decide` fails, the lease
    ends with the booking marked OWED for the cleanup job's money sweep, and the error propagates.
    """
    held = _acquire(booking_id)
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        try:
            fields = decide(held)
        except DomainError as exc:
            # A refusal (4xx: the state does not allow it) moved nothing and owes nothing.
            owed = owed_later(held.booking) if exc.status >= 500 else {}
            with suppress(store.StaleBooking):
                store.release_money_lease(booking_id, held.holder, owed, unchanged_since=None)
            raise
        except BaseException:
            with suppress(store.StaleBooking):
                store.release_money_lease(booking_id, held.holder, owed_later(held.booking), unchanged_since=None)
            raise
        try:
            return store.release_money_lease(booking_id, held.holder, fields, unchanged_since=held.booking.updated_at)
        except store.BookingChanged:
            fresh = store.get_booking(booking_id)
            if fresh is None:
                raise BookingNotFound(booking_id) from None
            held.booking = fresh
    return store.release_money_lease(booking_id, held.holder, owed_later(held.booking), unchanged_since=None)


def _acquire(booking_id: str) -> Held:
    holder = secrets.token_hex(8)
    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    while True:
        now = clock_now()
        booking = store.acquire_money_lease(booking_id, holder, now=now, until=now + LEASE)
        if booking is not None:
            return Held(booking, holder)
        if store.get_booking(booking_id) is None:
            raise BookingNotFound(booking_id)
        if time.monotonic() >= deadline:
            raise MoneyInFlight("Another payment step for this booking is in progress; try again in a moment.")
        time.sleep(LEASE_POLL_SECONDS)


MONEY_RETRY_FIRST = timedelta(minutes=2)
MONEY_RETRY_MAX = timedelta(hours=6)


def owed_later(booking: Booking) -> dict[str, Any]:
    """Fields that put the booking in the money sweep's queue, with a backoff that grows with each attempt."""
    delay = min(MONEY_RETRY_FIRST * 2 ** min(booking.money_attempts, 16), MONEY_RETRY_MAX)
    return {"money_state": "OWED", "money_due_at": clock_now() + delay, "money_attempts": booking.money_attempts + 1}


# Written with a cancellation (or a lost slot) in the same conditional write: if the worker dies before the
# refund, the money sweep finds the booking.
def owed_now() -> dict[str, Any]:
    return {"money_state": "OWED", "money_due_at": clock_now()}


SETTLED: dict[str, Any] = {"money_state": None, "money_due_at": None, "money_attempts": 0}


class Held:
    """The booking while its money lease is held."""

    def __init__(self, booking: Booking, holder: str) -> None:
        self.booking = booking
        self.holder = holder

    def update(self, fields: dict[str, Any]) -> Booking:
        """Write now (still under the lease): for what must be on record even if this worker dies next."""
        self.booking = store.update_under_money_lease(self.booking.booking_id, self.holder, fields)
        return self.booking

    def sync(self, ledger: Ledger) -> Booking:
        """Copy what Stripe says was refunded onto the booking (each refund recorded once, by its Stripe id)."""
        booking = self.booking
        known = {record.refund_id for record in booking.refunds}
        new = [
            RefundRecord(
                refund_id=refund.refund_id,
                amount=refund.amount,
                purpose=refund.purpose or "made in Stripe",
                reason="" if refund.purpose else "not made by this product (e.g. the Stripe Dashboard)",
                at=clock_now(),
            )
            for refund in ledger.refunds
            if refund.refund_id not in known
        ]
        failed = ledger.failed_refund_ids()
        if not new and booking.amount_refunded == ledger.refunded and failed <= booking.failed_refund_ids:
            return booking
        self.booking = store.record_refunds(
            booking.booking_id,
            self.holder,
            new,
            amount_refunded=ledger.refunded,
            failed_refund_ids=failed - booking.failed_refund_ids,
            now=clock_now(),
        )
        return self.booking


# --- what the booking's state says is owed -------------------------------------------------------------------


PARTY_REFUND_PURPOSE = "party_cancellation"  # the refund of seats a party cancelled (its metadata's purpose)


class OwedRefund(BaseModel):
    amount: int
    purpose: str
    reason: str


class PaidSoFar(BaseModel):
    """The two totals a cancellation is priced on: from Stripe (a Ledger) or, for a message, from our records."""

    captured: int
    reschedule_fees: int


def cancellation_of(booking: Booking, ledger: Ledger | PaidSoFar) -> CancellationTerms | None:
    """How a cancelled booking is priced on what Stripe captured: by the owner's refund choice when the owner
    cancelled (`policy` = as if the client cancelled then; None for `none`: everything is kept), else by who
    cancelled (the business refunds everything)."""
    if booking.status != BookingStatus.CANCELLED or booking.cancelled_at is None or booking.cancel_refund == "none":
        return None
    by_business = booking.cancel_refund == "full" or (
        booking.cancel_refund is None and booking.cancelled_by == "business"
    )
    # Seats of the party cancelled before (flows/party.py) were settled then: their paid share is not the
    # remaining seats' to refund, and the fee kept for them stays kept.
    released = booking.party_fees_kept + booking.party_refunds_due
    terms = with_reschedule_fees(
        cancellation_terms(
            amount_paid=ledger.captured - released - (0 if by_business else ledger.reschedule_fees),
            total=booking.total,
            slot_start=booking.start_for_policy,
            cancelled_at=booking.cancelled_at,
            by_business=by_business,
            policy=get_catalog().service(booking.service_id).cancellation,
        ),
        0 if by_business else ledger.reschedule_fees,
    )
    return terms.model_copy(update={"fee": terms.fee + booking.party_fees_kept}) if booking.party_fees_kept else terms


def with_reschedule_fees(terms: CancellationTerms, fees: int) -> CancellationTerms:
    """A late reschedule's fee paid the client's change of plan: their cancellation keeps it on top of the policy's
    fee (a cancellation by the business refunds it with everything else)."""
    if not fees:
        return terms
    return terms.model_copy(update={"fee": terms.fee + fees, "reason": f"{terms.reason}; the reschedule fee is kept"})


def owed_refund(booking: Booking, ledger: Ledger) -> OwedRefund | None:
    """The refund the booking's state still owes: what the business does not keep (the policy's fee when it was
    cancelled, nothing when its slot was lost), less everything already returned (our refunds, the Dashboard's,
    a lost dispute), never more than Stripe can still refund. None for a live booking: it keeps what it paid."""
    if booking.status == BookingStatus.CANCELLED and booking.cancelled_at is not None:
        terms = cancellation_of(booking, ledger)
        if terms is None:
            return None  # the owner cancelled and keeps what was paid
        kept, purpose, reason = terms.fee, "cancellation", terms.reason
    elif booking.auto_refund_reason:
        kept, purpose, reason = 0, "full_refund", booking.auto_refund_reason
    elif booking.party_refunds_due:
        # A live booking whose party cancelled seats (flows/party.py): the refunds decided for them, less those
        # Stripe has already made.
        made = sum(r.amount for r in ledger.refunds if r.counts and r.purpose == PARTY_REFUND_PURPOSE)
        amount = min(booking.party_refunds_due - made, ledger.refundable)
        reason = "seats of the party cancelled: their share by the cancellation policy"
        return OwedRefund(amount=amount, purpose=PARTY_REFUND_PURPOSE, reason=reason) if amount > 0 else None
    else:
        return None
    amount = min(ledger.captured - kept - ledger.returned, ledger.refundable)
    return OwedRefund(amount=amount, purpose=purpose, reason=reason) if amount > 0 else None


# --- one occurrence of a recurring series ---------------------------------------------------------------------


def series_share(
    booking: Booking, intents: list[PaymentIntentView], refunds: list[RefundView], disputes: list[DisputeView]
) -> tuple[list[PaymentIntentView], list[RefundView], list[DisputeView]]:
    """An occurrence's view of the series' one PaymentIntent: its share of the charge, the refunds made for it
    (metadata booking_id), and its part of what nobody of the series made (a Stripe Dashboard refund, a lost
    dispute).

    Allocation rule (deterministic, documented in docs/decisions.md): each unattributed return, oldest first,
    goes to the latest occurrence first, each taking at most its share less what was refunded for it by name.
    Our own refunds of an occurrence never exceed its share less its allocation, so a later refund never moves
    an earlier allocation to another occurrence: every worker, whatever it reads first, sees the same split.
    """
    from booking.dal import series as series_store  # the SERIES item (one consistent read)

    series = series_store.get(booking.series_id or "")
    pi = booking.payment_intent_id
    if series is None:
        return intents, refunds, disputes
    shares = {o.booking_id: o.share for o in series.occurrences}
    latest_first = [o.booking_id for o in reversed(series.occurrences)]
    on_series = [r for r in refunds if r.payment_intent == pi]
    room = {
        bid: max(share - sum(r.amount for r in on_series if r.counts and r.booking_id == bid), 0)
        for bid, share in shares.items()
    }
    mine = booking.booking_id

    def allocate(amount: int) -> int:
        """Take `amount` from the rooms latest occurrence first; what this occurrence got."""
        got = 0
        for bid in latest_first:
            take = min(amount, room[bid])
            room[bid] -= take
            amount -= take
            got += take if bid == mine else 0
        return got

    kept_refunds = [r for r in refunds if r.payment_intent != pi or r.booking_id == mine]
    for refund in sorted((r for r in on_series if r.booking_id not in shares), key=lambda r: (r.created, r.refund_id)):
        if not refund.counts:
            if mine == latest_first[0]:
                kept_refunds.append(refund)  # a failed one returned nothing: shown (and flagged) on the latest
            continue
        got = allocate(refund.amount)
        if got:
            kept_refunds.append(refund.model_copy(update={"amount": got}))
    kept_disputes = [d for d in disputes if d.payment_intent != pi or d.is_open]
    for dispute in disputes:
        if dispute.payment_intent == pi and dispute.status == "lost":
            got = allocate(dispute.amount)
            if got:
                kept_disputes.append(dispute.model_copy(update={"amount": got}))
    share = shares.get(mine, booking.amount_due_now)
    viewed = [
        i.model_copy(update={"amount": share, "amount_received": share if i.status == "succeeded" else 0})
        if i.id == pi
        else i
        for i in intents
    ]
    return viewed, kept_refunds, kept_disputes
