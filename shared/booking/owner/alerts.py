"""Things a person must look at: flagged on the booking (findable in the admin API) and sent to the owner
once per booking and case through the SNS topic (email subscription in the template).
"""

from __future__ import annotations

from booking.aws import client
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.models import Booking, Flag
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
}


def flag(booking: Booking, code: str, reason: str) -> Booking:
    """Flag the booking for the owner; the first time for this code, also alert them."""
    updated, new = store.add_flag(booking.booking_id, Flag(code=code, reason=reason, at=clock_now()))
    current = updated or booking
    if new:
        logger.warning("booking flagged for the owner", extra={"flag": code, "reason": reason})
        metrics.add_metric(name=f"Flagged_{code}", unit="Count", value=1)
        alert_owner(current, code, reason)
    return current


def alert_owner(booking: Booking, code: str, reason: str) -> None:
    subject = f"[booking {booking.booking_id}] {SUBJECTS.get(code, 'Needs your attention')}"
    message = "\n".join(
        [
            SUBJECTS.get(code, "A booking needs your attention."),
            "",
            f"Why: {reason}",
            f"Booking: {booking.booking_id} ({booking.status.value}), service {booking.service_id}",
            f"Slot: {booking.slot_start.isoformat()} - {booking.slot_end.isoformat()}",
            f"Client: {booking.attendee.name}",
            f"Paid: {booking.amount_paid} {booking.currency}, refunded {booking.amount_refunded}, "
            f"balance due {booking.balance_due}",
            f"Details: GET /admin/bookings/{booking.booking_id}",
        ]
    )
    alert_about(subject, message, code)


def alert_about(subject: str, message: str, code: str = "event") -> None:
    """Publish one alert to the owner's topic (email subscription); never fails the business step."""
    topic = get_settings().owner_alerts_topic_arn
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
