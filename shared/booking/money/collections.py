"""Payments after the first: the balance of a deposit booking and the fees (late cancellation, no-show).

Each is a PaymentIntent on the booking's Stripe Customer, charged to the card saved with the deposit
(`setup_future_usage=off_session`), with our booking id and its purpose in the metadata, so the ledger finds every
one of them in Stripe (`ledger.read_ledger`). Every decision to charge is taken under the booking's money lease on
what Stripe already has: a balance or a fee is charged once per purpose, whoever asks (the owner, the schedule,
a retry after Stripe forgot its idempotency key).

When the card needs the client (`authentication_required`) or is declined, Stripe leaves the PaymentIntent open;
the client completes it through a pay link (`flows/pay_links.py`) and the owner sees "balance awaiting client".
Nothing is retried off-session on its own. A balance paid in cash or at a terminal is recorded as an offline
payment: it never touches Stripe, so it is never refunded through Stripe nor shared with a provider by transfer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.catalog import HoursBeforeStart, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Payment, TransitionRecord
from booking.domain.pricing import deposit_amount
from booking.errors import BookingClosed, Conflict
from booking.flows import pay_links
from booking.money import payouts, refunds
from booking.money.ledger import SETTLED, Held, Ledger, cancellation_of, read_ledger
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers import payments
from booking.providers.payments import PaymentIntentView

S = BookingStatus
LATER_PURPOSES = ("balance", "late_cancel_fee", "no_show_fee", "reschedule_fee")
OPEN = ("requires_payment_method", "requires_action", "requires_confirmation", "processing")
COLLECTABLE = frozenset({S.PAID, S.CONFIRMED, S.COMPLETED, S.NO_SHOW})
FEE_WINDOW = timedelta(days=7)  # a fee is charged within a week of the meeting, never later (as Square does)


class NothingDue(Conflict):
    code = "nothing_due"


class Collection(BaseModel):
    """What a collection attempt did: paid, or waiting for the client (with a pay link), or processing."""

    booking_id: str
    purpose: str
    outcome: Literal["paid", "awaiting_client", "processing"]
    amount: int
    currency: str
    payment_id: str
    pay_url: str | None = None
    message: str


# --- reading Stripe --------------------------------------------------------------------------------------------


def read(held: Held) -> Ledger:
    """Stripe's view of the booking, copied onto it: refunds (and those that failed), later payments."""
    ledger = read_ledger(held.booking)
    refunds.note_failures(held, ledger)
    held.sync(ledger)
    sync_payments(held, ledger)
    return ledger


def sync_payments(held: Held, ledger: Ledger, added: tuple[Payment, ...] = (), by: str = "stripe") -> None:
    """Copy the balance and fee payments Stripe has onto the booking (with offline ones, which only we know):
    what was paid, the balance still due, a line in the history for each newly paid one, and the provider's
    payout due again after the hold period for money that arrived after it was paid. `by` is who asked for a
    payment not recorded yet; one that succeeds after waiting for the client was paid by the client."""
    booking = held.booking
    later = [intent for intent in ledger.intents if intent.purpose in LATER_PURPOSES]
    offline = [payment for payment in booking.payments if payment.method == "offline"] + list(added)
    if not later and not offline:
        return
    known = {payment.payment_id: payment for payment in booking.payments}
    now = clock_now()
    records = [_record(intent, known.get(intent.id), now, by) for intent in later] + offline
    first = sum(i.amount_received for i in ledger.succeeded if i.purpose not in LATER_PURPOSES)
    toward_price = first + sum(p.amount for p in records if p.purpose == "balance" and p.status == "succeeded")
    fields: dict[str, Any] = {
        "payments": records,
        "amount_paid": ledger.captured + sum(p.amount for p in offline),
        "balance_due": max(booking.total - toward_price, 0),
    }
    newly_paid = [
        p
        for p in records
        if p.status == "succeeded" and (p.payment_id not in known or known[p.payment_id].status != "succeeded")
    ]
    if any(p.method != "offline" for p in newly_paid):
        fields |= payouts.due_again_fields(booking, now)
    if records == booking.payments and all(getattr(booking, k) == v for k, v in fields.items() if k != "payments"):
        return
    held.update(fields)
    for payment in newly_paid:
        metrics.add_metric(name="LaterPaymentRecorded", unit="Count", value=1)
        note(
            held, payment.actor, f"{payment.purpose} of {payment.amount} paid ({payment.method}, {payment.payment_id})"
        )


def _record(intent: PaymentIntentView, known: Payment | None, now: datetime, by: str) -> Payment:
    # Waiting for the client (not merely processing) and now paid: the client paid it through the pay link.
    completed_by_client = known is not None and known.status.startswith("requires_") and intent.status == "succeeded"
    return Payment(
        payment_id=intent.id,
        purpose=intent.purpose,  # type: ignore[arg-type]  # one of LATER_PURPOSES, filtered by the caller
        method="pay_link" if completed_by_client else known.method if known else "card_on_file",
        amount=intent.amount,
        status=intent.status,
        charge_id=intent.latest_charge,
        error=None if intent.status == "succeeded" else intent.last_payment_error_message,
        actor="client" if completed_by_client else known.actor if known else by,
        at=now if completed_by_client or known is None else known.at,
    )


def note(held: Held, actor: str, reason: str) -> None:
    booking = held.booking
    status = booking.status.value
    record = TransitionRecord(at=clock_now(), actor=actor, source=status, target=status, reason=reason)
    held.booking = store.note_under_money_lease(booking.booking_id, held.holder, record)


# --- what the booking's money waits for ------------------------------------------------------------------------


def collect_at(booking: Booking) -> datetime | None:
    """When the service's automatic balance collection is due for this booking, if it has one."""
    if booking.status not in COLLECTABLE:
        return None
    return _collection_time(booking)


def _collection_time(booking: Booking) -> datetime | None:
    if booking.payment_type != "deposit" or booking.balance_due <= 0:
        return None
    when = get_catalog().service(booking.service_id).balance_collection
    if isinstance(when, HoursBeforeStart):
        return booking.slot_start - timedelta(hours=when.hours_before_start)
    return booking.slot_end if when == "at_meeting_end" else None


def waiting_fields(booking: Booking) -> dict[str, Any]:
    """The money state once nothing is owed: COLLECT at the balance's collection time (the money sweep charges
    it then), else settled."""
    due = collect_at(booking) if not any(p.purpose == "balance" for p in booking.payments) else None
    if due is not None:
        return {"money_state": "COLLECT", "money_due_at": due, "money_attempts": 0}
    return SETTLED if booking.money_state else {}


def after_payment_fields(booking: Booking, paid_at: datetime) -> dict[str, Any]:
    """Written with the first payment: the provider's payout, and the balance's collection when the service
    collects it on schedule (the money sweep finds it on the MoneyIndex as COLLECT)."""
    fields = payouts.schedule_fields(booking, paid_at)
    due = _collection_time(booking)
    if due is not None:
        fields |= {"money_state": "COLLECT", "money_due_at": due, "money_attempts": 0}
    return fields


# --- the balance ---------------------------------------------------------------------------------------------


def collect_balance(held: Held, ledger: Ledger, *, method: str, actor: str, request: str) -> Collection:
    """Under the money lease, Stripe read: charge the balance to the saved card, or record it paid offline.
    A balance already being paid is not charged again: the answer is that payment's state (and a pay link)."""
    booking = held.booking
    if booking.status not in COLLECTABLE:
        raise BookingClosed(
            booking.booking_id, booking.status.value, f"A {booking.status.value} booking has no balance to collect."
        )
    balances = ledger.of_purpose("balance")
    mine = next((i for i in balances if i.metadata.get("request") == request), None)
    offline = next((p for p in booking.payments if p.payment_id == f"offline_{request[:24]}"), None)
    if offline is not None:
        return _collection(booking, offline.payment_id, "balance", offline.amount, "succeeded", None)
    if mine is None and (booking.payment_type == "full" or booking.balance_due <= 0):
        raise NothingDue("Nothing is due: the booking is paid in full.", booking_id=booking.booking_id)
    open_balance = next((i for i in balances if i.status in OPEN), None)
    if method == "offline":
        return _record_offline(held, ledger, open_balance, actor=actor, request=request)
    intent = mine or open_balance
    if intent is None:
        intent = charge(held, ledger, purpose="balance", amount=booking.balance_due, actor=actor, request=request)
        ledger = ledger.with_intent(intent)
        sync_payments(held, ledger, by=actor)  # a paid one is noted there
        if intent.status != "succeeded":
            note(held, actor, f"balance of {intent.amount} {_said(intent)} ({intent.id})")
    return _collection(
        held.booking, intent.id, "balance", intent.amount, intent.status, pay_links.link_for(held.booking, intent)
    )


def charge(
    held: Held, ledger: Ledger, *, purpose: str, amount: int, actor: str, request: str = ""
) -> PaymentIntentView:
    """One PaymentIntent of `purpose` on the saved card; its key counts those Stripe already has of that purpose,
    so a retry of this decision gets the same PaymentIntent and a later decision (after one was cancelled) a new
    one."""
    booking = held.booking
    attempt = len(ledger.of_purpose(purpose))
    first = next((i for i in ledger.succeeded if i.purpose not in LATER_PURPOSES), None)
    intent = payments.charge_saved_card(
        booking,
        amount=amount,
        purpose=purpose,
        payment_method=first.payment_method if first else None,
        key=payments.idempotency_key(booking.booking_id, f"{purpose}:{attempt}"),
        description=f"{purpose.replace('_', ' ')} for booking {booking.booking_id}",
        metadata={"request": request} if request else {},
    )
    metrics.add_metric(
        name=f"Charged_{purpose}_{'paid' if intent.status == 'succeeded' else 'open'}", unit="Count", value=1
    )
    logger.info(
        "saved card charged", extra={"purpose": purpose, "status": intent.status, "payment_intent_id": intent.id}
    )
    return intent


def _record_offline(
    held: Held, ledger: Ledger, open_balance: PaymentIntentView | None, *, actor: str, request: str
) -> Collection:
    booking = held.booking
    if open_balance is not None and open_balance.status == "processing":
        raise Conflict(
            "A card payment of the balance is processing; wait for its outcome.", booking_id=booking.booking_id
        )
    if open_balance is not None:
        payments.cancel_payment_intent(booking, open_balance.id)  # the client must not pay it as well
    payment = Payment(
        payment_id=f"offline_{request[:24]}",
        purpose="balance",
        method="offline",
        amount=booking.balance_due,
        status="succeeded",
        actor=actor,
        at=clock_now(),
    )
    closed = [i.model_copy(update={"status": "canceled"}) if i is open_balance else i for i in ledger.intents]
    sync_payments(held, ledger.model_copy(update={"intents": closed}), added=(payment,))
    return _collection(held.booking, payment.payment_id, "balance", payment.amount, "succeeded", None)


def _said(intent: PaymentIntentView) -> str:
    if intent.status == "succeeded":
        return "paid with the saved card"
    if intent.status == "processing":
        return "processing"
    return f"awaits the client: {intent.last_payment_error_code or 'no card saved'}"


def _collection(
    booking: Booking, payment_id: str, purpose: str, amount: int, status: str, pay_url: str | None
) -> Collection:
    if status == "succeeded":
        outcome: Literal["paid", "awaiting_client", "processing"] = "paid"
        message = "Paid in full." if purpose == "balance" and booking.balance_due == 0 else f"{purpose} paid."
        pay_url = None
    elif status == "processing":
        outcome, message, pay_url = "processing", "The payment is processing; Stripe will report the outcome.", None
    else:
        outcome, message = "awaiting_client", "The saved card could not be charged: send the client the pay link."
    return Collection(
        booking_id=booking.booking_id,
        purpose=purpose,
        outcome=outcome,
        amount=amount,
        currency=booking.currency,
        payment_id=payment_id,
        pay_url=pay_url,
        message=message,
    )


# --- fees ------------------------------------------------------------------------------------------------------


class OwedFee(BaseModel):
    purpose: Literal["late_cancel_fee", "no_show_fee"]
    amount: int
    reason: str


def owed_fee(booking: Booking, ledger: Ledger) -> OwedFee | None:
    """The fee the booking's state says the saved card owes on top of what was paid, once per purpose: the part
    of a late cancellation's fee the payment did not cover (when the service charges it), or a no-show's fee.
    Never after FEE_WINDOW past the start, never without a saved card's Customer."""
    if not booking.customer_id or clock_now() > booking.slot_start + FEE_WINDOW:
        return None
    service = get_catalog().service(booking.service_id)
    offline = sum(p.amount for p in booking.payments if p.method == "offline")  # cash counts toward a fee too
    terms = cancellation_of(booking, ledger) if service.cancellation.charge_uncovered_fee else None
    if terms is not None:
        fee = OwedFee(purpose="late_cancel_fee", amount=terms.uncovered - offline, reason=terms.reason)
    elif booking.status == S.NO_SHOW and service.no_show_fee_percent:
        due = deposit_amount(booking.total, service.no_show_fee_percent)
        fee = OwedFee(
            purpose="no_show_fee",
            amount=due - ledger.captured - offline,
            reason=f"no-show: fee {service.no_show_fee_percent}% of the price, less what was paid",
        )
    else:
        return None
    return fee if fee.amount > 0 and not ledger.of_purpose(fee.purpose) else None


def charge_fee(held: Held, ledger: Ledger, fee: OwedFee) -> Ledger:
    """Charge an owed fee once; if the card cannot pay it, the owner is told (flag and alert) with the pay link."""
    intent = charge(held, ledger, purpose=fee.purpose, amount=fee.amount, actor="policy")
    ledger = ledger.with_intent(intent)
    sync_payments(held, ledger, by="policy")
    note(held, "policy", f"{fee.purpose.replace('_', ' ')} of {fee.amount} {_said(intent)} ({fee.reason})")
    if intent.status not in ("succeeded", "processing"):
        url = pay_links.link_for(held.booking, intent)
        flag(
            held.booking,
            f"{fee.purpose}_unpaid",
            f"{fee.amount} could not be charged ({_said(intent)}); pay link: {url}",
        )
    return ledger


def collect_due_balance(held: Held, ledger: Ledger) -> None:
    """The schedule's collection (the money sweep, at `collect_at`): as the owner's card_on_file, and if the card
    cannot pay, the owner is told with the pay link. One attempt: a balance PaymentIntent that exists ends it."""
    booking = held.booking
    due = collect_at(booking)
    if due is None or due > clock_now() or ledger.of_purpose("balance"):
        return
    collection = collect_balance(held, ledger, method="card_on_file", actor="schedule", request="schedule")
    if collection.outcome == "awaiting_client":
        flag(
            held.booking,
            "balance_awaiting_client",
            f"{collection.amount} not paid by the saved card; pay link: {collection.pay_url}",
        )
