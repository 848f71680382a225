"""Things a person must look at: flagged on the booking (findable in the admin API), recorded as an alert item
(`GET /admin/alerts`, the dashboard's "Needs attention") and sent to the owner once per cause: emailed by the
notifier from the alert item when our emails are on (OWNER_EMAIL), else through the SNS topic (email subscription
in the template). Money with no booking of ours (an orphan payment) has no booking to
flag: its alert item is where the owner finds it.
"""

from __future__ import annotations

from datetime import datetime

from booking.aws import client
from booking.clock import now as clock_now
from booking.dal import alerts as alert_store
from booking.dal import bookings as store
from booking.digests import digest
from booking.domain.models import Booking, Flag
from booking.domain.pricing import format_amount
from booking.observability import logger, metrics
from booking.settings import get_settings

# One clear subject per case; any other flag code gets the generic one.
SUBJECTS = {
    "late_payment_slot_lost": "Paid after the hold expired; slot taken: rebook or refund",
    "rebook_window_closed": "Slot lost and no other time chosen: refunded in full",
    "balance_awaiting_client": "The saved card could not pay the balance: pay link sent",
    "late_cancel_fee_unpaid": "Late-cancellation fee not paid by the saved card: pay link",
    "no_show_fee_unpaid": "No-show fee not paid by the saved card: pay link",
    "slot_unavailable_after_payment": "Paid, but Cal.com refused the slot: rebook or refund",
    "token_expired_unconfirmed": "Booking link expired; paid booking not confirmed",
    "reconciliation_repair": "Missed payment webhook repaired",
    "disputed": "Payment disputed; payout blocked",
    "payout_failed": "Provider payout failed; will retry",
    "amount_mismatch": "Payment amount differs from the price",
    "calendar_rejected": "Cal.com refused a paid booking",
    "calendar_booking_cancelled": "Cal.com booking cancelled but no cancellation event came",
    "confirmation_stuck": "Paid booking could not be confirmed in Cal.com",
    "transfer_reversal_failed": "Refund after payout: transfer reversal failed",
    "refund_failed": "A refund failed at the bank; made once more",
    "refund_blocked_by_dispute": "Refund owed but the payment is disputed",
    "dispute_lost": "Dispute lost; provider share reversed",
    "webhook_failed": "A webhook event keeps failing; set aside",
    "calendar_reconciled": "Cal.com change repaired without its webhook",
    "orphan_payment": "Payment received with no booking of ours",
    "blocked_date_unresolved": "Dates blocked, but a booking could not be moved or cancelled",
}


def flag(booking: Booking, code: str, reason: str) -> Booking:
    """Flag the booking for the owner; the first time for this code, also alert them."""
    raised = Flag(code=code, reason=reason, at=clock_now())
    updated, new = store.add_flag(booking.booking_id, raised)
    current = updated or booking
    if new:
        logger.warning("booking flagged for the owner", extra={"flag": code, "reason": reason})
        metrics.add_metric(name=f"Flagged_{code}", unit="Count", value=1)
        alert_owner(current, code, reason, raised_at=raised.at)
    return current


def alert_owner(booking: Booking, code: str, reason: str, *, raised_at: datetime | None = None) -> None:
    """One alert per flag raised: a code resolved and raised again (`raised_at`) is a new cause."""
    subject = f"[booking {booking.booking_id}] {SUBJECTS.get(code, 'Needs your attention')}"
    message = "\n".join(
        [
            SUBJECTS.get(code, "A booking needs your attention."),
            "",
            f"Why: {reason}",
            f"Booking: {booking.booking_id} ({booking.status.value}), service {booking.service_id}",
            f"Slot: {booking.slot_start.isoformat()} - {booking.slot_end.isoformat()}",
            f"Client: {booking.attendee.name}",
            f"Paid: {format_amount(booking.amount_paid, booking.currency)}, refunded "
            f"{format_amount(booking.amount_refunded, booking.currency)}, balance due "
            f"{format_amount(booking.balance_due, booking.currency)}",
            f"Details: GET /admin/bookings/{booking.booking_id}",
        ]
    )
    cause = f"flag:{booking.booking_id}:{code}:{(raised_at or clock_now()).isoformat()}"
    alert_about(subject, message, code, cause=cause, booking_id=booking.booking_id)


def orphan_payment(payment_intent_id: str, amount: int, currency: str, why: str) -> bool:
    """A PaymentIntent succeeded and no booking of ours accounts for it: the money must not go unseen (DESIGN §3
    "no lost payment"). Recorded once per PaymentIntent; False when it was already."""
    return alert_about(
        f"[payment {payment_intent_id}] {SUBJECTS['orphan_payment']}",
        "\n".join(
            [
                SUBJECTS["orphan_payment"] + ".",
                "",
                f"Why: {why}",
                "What to do: find whose payment it is, or refund it in the Stripe Dashboard.",
                f"PaymentIntent: {payment_intent_id}, {amount} {currency}",
            ]
        ),
        "orphan_payment",
        cause=f"orphan_payment:{payment_intent_id}",
        payment_intent_id=payment_intent_id,
        amount=amount,
        currency=currency,
    )


def alert_about(
    subject: str,
    message: str,
    code: str = "event",
    *,
    cause: str | None = None,
    booking_id: str | None = None,
    payment_intent_id: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
) -> bool:
    """Record the alert (once per `cause`; without one, per subject and message) and publish it to the owner's
    topic (email subscription) the first time. Never fails the business step; False when already recorded."""
    alert = alert_store.Alert(
        alert_id="",
        cause=cause or f"{code}:{digest(subject + chr(10) + message)}",
        code=code,
        subject=subject,
        message=message,
        booking_id=booking_id,
        payment_intent_id=payment_intent_id,
        amount=amount,
        currency=currency,
        at=clock_now(),
    )
    try:
        if not alert_store.record(alert):
            return False
    except Exception:  # the flag or metric is there already; a lost alert item must not undo the business step
        logger.exception("owner alert could not be recorded", extra={"flag": code})
        metrics.add_metric(name="OwnerAlertFailed", unit="Count", value=1)
    _publish(subject, message, code)
    return True


def _publish(subject: str, message: str, code: str) -> None:
    settings = get_settings()
    if settings.owner_email and settings.notify_from_email:
        return  # the notifier emails it to the owner from the alert item (notify/events.alert_inserted)
    topic = settings.owner_alerts_topic_arn
    if not topic:
        logger.warning("no OWNER_ALERTS_TOPIC_ARN: alert only logged", extra={"flag": code, "subject": subject})
        return
    try:
        client("sns").publish(
            TopicArn=topic,
            Subject=subject[:100],
            Message=message,
            MessageAttributes={"flag": {"DataType": "String", "StringValue": code}},
        )
    except Exception:  # the flag is in the data already; a lost e-mail must not undo the business step
        logger.exception("owner alert could not be published", extra={"flag": code})
        metrics.add_metric(name="OwnerAlertFailed", unit="Count", value=1)
