"""Send what was planned, once: lease the record, render it from the subject's current state, send it through
its channel, record the outcome. A failure backs off (1 min, 5 min, 15 min, 1 h, 3 h, ...) and is tried again by
the 5-minute sweep; after NOTIFY_MAX_ATTEMPTS the message is FAILED and the owner alerted (its booking's messages
in the admin API and the dashboard show it). Nothing here raises into the step that changed the booking: that
step finished before its stream record was read.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from booking.clock import now as clock_now
from booking.dal import alerts as alert_store
from booking.dal import bookings as store
from booking.dal import packages as package_store
from booking.dal.items import MessageItem
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking
from booking.notify import outbox
from booking.notify.channels import CHANNELS, ChannelOff
from booking.notify.events import ACTION_STATUSES, REMINDER, Plan, Planned, iso
from booking.notify.messages import MessageContext, Outgoing
from booking.observability import logger, metrics
from booking.settings import get_settings

LEASE = timedelta(seconds=60)  # longer than one send's timeouts: a lease that runs out means the worker died
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3))


class Obsolete(Exception):
    """The message no longer applies (its booking moved, ended or is gone): withdrawn, not sent."""


class SendReport(BaseModel):
    planned: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    withdrawn: int = 0
    skipped: int = 0  # already recorded (a duplicate event) or held by another worker

    def add(self, other: SendReport) -> None:
        for name in SendReport.model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


# --- planning ---------------------------------------------------------------------------------------------


def apply(plan: Plan, now: datetime) -> SendReport:
    """Withdraw what no longer applies, record each planned message once, send those due now."""
    report = SendReport()
    for withdrawal in plan.withdrawals:
        for item in outbox.records_of(withdrawal.pk, REMINDER):
            if item.msg_status != "PENDING" or (
                withdrawal.keep_start and item.message_key.endswith(withdrawal.keep_start)
            ):
                continue
            if outbox.mark_withdrawn(item.pk, item.sk, reason=withdrawal.reason, now=now):
                report.withdrawn += 1
    for planned in plan.messages:
        report.add(_record(planned, now))
    return report


def _record(planned: Planned, now: datetime) -> SendReport:
    fields: dict[str, Any] = planned.model_dump(exclude={"send_at"})
    if planned.send_at > now:
        if outbox.plan(**fields, send_at=planned.send_at, now=now) is not None or _revive(planned, now):
            return SendReport(planned=1)
        return SendReport(skipped=1)
    holder = _holder()
    item = outbox.plan(**fields, send_at=now, now=now, lease=(holder, now + LEASE))
    if item is None:
        return SendReport(skipped=1)
    report = SendReport(planned=1)
    report.add(_deliver_leased(item, holder, now))
    return report


def _revive(planned: Planned, now: datetime) -> bool:
    """A reminder withdrawn when its booking moved away, and now back at that time: pending again."""
    return planned.message_key.startswith(REMINDER) and outbox.revive(
        planned.pk, outbox.sort_key(planned.message_key, planned.channel), send_at=planned.send_at, now=now
    )


def _holder() -> str:
    return uuid.uuid4().hex


# --- sending ----------------------------------------------------------------------------------------------


def deliver_due(item: MessageItem, now: datetime) -> SendReport:
    """The sweep's step: lease a due message, then send it (nothing when another worker has it)."""
    holder = _holder()
    leased = outbox.lease(item.pk, item.sk, holder, now=now, until=now + LEASE)
    if leased is None:
        return SendReport(skipped=1)
    return _deliver_leased(item, holder, now, attempts=int(leased.attempts or 0))


def _deliver_leased(item: MessageItem, holder: str, now: datetime, attempts: int | None = None) -> SendReport:
    attempts = attempts if attempts is not None else int(item.attempts or 1)
    log = {"message_key": item.message_key, "channel": item.channel, "subject_id": item.subject_id}
    try:
        context = context_for(item)
        from booking.notify.render import render  # Jinja2 only where a message is sent

        outgoing = Outgoing(
            channel=item.channel,  # type: ignore[arg-type]
            to=item.recipient,
            rendered=render(context),
            tags={"kind": item.kind, "subject": item.subject_id},
        )
        provider_id = CHANNELS[item.channel].send(outgoing, sender_name=get_catalog().business.name)
    except Obsolete as why:
        outbox.mark_withdrawn(item.pk, item.sk, reason=str(why), now=now, holder=holder)
        logger.info("message withdrawn", extra=log | {"why": str(why)})
        return SendReport(withdrawn=1)
    except Exception as exc:  # SES/SNS down or refusing, a channel off, a template bug: retried, then failed
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ChannelOff) or attempts >= get_settings().notify_max_attempts:
            outbox.mark_failed(item.pk, item.sk, holder, error=error, now=now)
            logger.error("message failed", extra=log | {"error": error, "attempts": attempts})
            metrics.add_metric(name="MessageFailed", unit="Count", value=1)
            _alert_owner(item, error, attempts)
            return SendReport(failed=1)
        outbox.mark_retry(item.pk, item.sk, holder, error=error, retry_at=now + backoff(attempts), now=now)
        logger.warning("message will be retried", extra=log | {"error": error, "attempts": attempts})
        metrics.add_metric(name="MessageRetried", unit="Count", value=1)
        return SendReport(retrying=1)
    outbox.mark_sent(item.pk, item.sk, holder, provider_message_id=provider_id, now=clock_now())
    logger.info("message sent", extra=log)
    metrics.add_metric(name=f"MessageSent_{item.kind}", unit="Count", value=1)
    return SendReport(sent=1)


def _alert_owner(item: MessageItem, error: str, attempts: int) -> None:
    if item.kind == "owner_alert":
        return  # the alert itself is in the dashboard's "Needs attention" already; no alert about an alert
    from booking.owner.alerts import alert_about

    alert_about(
        f"[{item.subject_id}] A {item.kind.replace('_', ' ')} {item.channel} could not be sent",
        f"The {item.kind.replace('_', ' ')} message to {item.recipient} ({item.channel}) failed after {attempts} "
        f"attempts: {error}\nSee the booking's messages in the dashboard.",
        "message_failed",
        cause=f"message_failed:{item.pk}:{item.sk}",
        booking_id=item.subject_id if item.pk.startswith("BOOKING#") else None,
    )


# --- what a template is rendered from ---------------------------------------------------------------------


def _base(kind: str) -> dict[str, Any]:
    catalog = get_catalog()
    settings = get_settings()
    return {
        "kind": kind,
        "business_name": catalog.business.name,
        "business_time_zone": catalog.business.time_zone,
        "site_url": str(settings.site_base_url).rstrip("/"),
        "reply_to": settings.notify_from_email or None,
    }


def context_for(item: MessageItem) -> MessageContext:
    extra = json.loads(item.context or "{}")
    if item.pk.startswith("BOOKING#"):
        booking = store.get_booking(item.subject_id)
        if booking is None:
            raise Obsolete("the booking is gone")
        return MessageContext(**_base(item.kind), **_booking_fields(item, booking, extra))
    if item.pk.startswith("PACKAGE#"):
        return MessageContext(**_base(item.kind), **_package_fields(item, extra))
    if item.pk.startswith("WAITLIST#"):
        return MessageContext(**_base(item.kind), **_waitlist_fields(item, extra))
    alert = alert_store.get(item.pk)
    if alert is None:
        raise Obsolete("the alert is gone")
    base = _base(item.kind)
    return MessageContext(
        **base,
        booking_id=alert.booking_id,
        alert_subject=alert.subject,
        alert_message=alert.message,
        dashboard_url=f"{base['site_url']}/admin/",
    )


def _booking_fields(item: MessageItem, booking: Booking, extra: dict[str, Any]) -> dict[str, Any]:
    service = get_catalog().service(booking.service_id)
    kind = item.kind
    if kind == "reminder" and (
        booking.status != BookingStatus.CONFIRMED or not item.message_key.endswith(iso(booking.slot_start))
    ):
        raise Obsolete(f"the booking is {booking.status.value.lower()} at {iso(booking.slot_start)} now")
    fields: dict[str, Any] = {
        "booking_id": booking.booking_id,
        "client_name": booking.attendee.name,
        "client_time_zone": booking.attendee.time_zone,
        "service_name": service.name,
        "start": booking.slot_start,
        "end": booking.slot_end,
        "currency": booking.currency,
        "total": booking.total,
        "paid": booking.amount_paid,
        "balance_due": booking.balance_due,
        "refunded": booking.amount_refunded,
        "preparation": service.preparation,
        "package_credit": booking.package_id is not None,
        "calendar_uid": f"{booking.booking_id}@{urlsplit(str(get_settings().site_base_url)).hostname}",
        "sequence": len(booking.history),  # grows with every change: calendars keep the newest
        "hours_before": extra.get("hours"),
    }
    if extra.get("previous_start"):
        fields["previous_start"] = datetime.fromisoformat(extra["previous_start"])
    if kind in ("confirmed", "reminder", "rescheduled", "slot_lost"):
        fields["manage_url"] = _manage_url(booking)
    if kind == "cancelled":
        fields["cancelled_by"] = booking.cancelled_by
        fields["refund_expected"] = _refund_expected(booking)
    if kind == "refund_issued":
        refund = next((r for r in booking.refunds if r.refund_id == extra.get("refund_id")), None)
        fields["amount"] = refund.amount if refund else None
    if kind in ("payment_received", "payment_action"):
        payment = next((p for p in booking.payments if p.payment_id == extra.get("payment_id")), None)
        if payment is None:
            raise Obsolete("the payment is no longer on the booking")
        fields.update(amount=payment.amount, purpose=payment.purpose)
        if kind == "payment_action":
            if payment.status not in ACTION_STATUSES:
                raise Obsolete(f"the payment is {payment.status} now")
            from booking.flows.pay_links import pay_url

            fields["pay_url"] = pay_url(payment.payment_id)
    if kind in ("member_booked", "member_cancelled"):
        # Written to a member of the payer's party: their own name; times in the business's zone (theirs is unknown).
        fields.update(member_name=extra.get("member_name"), client_time_zone=None)
        if kind == "member_cancelled" and booking.status == BookingStatus.CONFIRMED:
            fields["cancelled_by"] = None  # the booking goes on: only the member's seat was given back
        elif kind == "member_cancelled":
            fields["cancelled_by"] = booking.cancelled_by
    if kind == "waitlist_offer":
        if booking.status != BookingStatus.HELD or not booking.hold_is_live(clock_now()):
            raise Obsolete(f"the offer is {booking.status.value.lower()} now (its hold ended)")
        from booking.flows.pay_links import pay_url

        fields.update(
            amount=booking.amount_due_now,
            hold_until=booking.hold_expires_at,
            pay_url=pay_url(booking.payment_intent_id or ""),
            participants=booking.participants,
        )
    if kind == "slot_lost":
        from booking.flows.lost_slot import rebook_until

        fields["rebook_until"] = rebook_until(booking)
    return fields


def _manage_url(booking: Booking) -> str | None:
    from booking.flows.manage import manage_url

    try:
        return manage_url(booking)
    except Exception:  # a message without its link beats no message; the verify page still gives it
        logger.exception("manage link could not be issued for a message", extra={"booking_id": booking.booking_id})
        return None


def _refund_expected(booking: Booking) -> int:
    """What the cancellation refunds, by the policy the money sweep applies, on what our records say was paid
    (the sweep reads Stripe; a Dashboard refund made meanwhile shows in the refund message that follows)."""
    from booking.money.ledger import PaidSoFar, cancellation_of

    fees = sum(p.amount for p in booking.payments if p.purpose == "reschedule_fee" and p.status == "succeeded")
    terms = cancellation_of(booking, PaidSoFar(captured=booking.amount_paid, reschedule_fees=fees))
    return max(terms.refund if terms else 0, booking.amount_refunded)


def _waitlist_fields(item: MessageItem, extra: dict[str, Any]) -> dict[str, Any]:
    """A waitlist entry's message (booking.waitlist.join plans it): sent only while the party is still in line."""
    from booking.dal import waitlist as line_store

    entry = line_store.entry(item.subject_id)
    if entry is None or entry.status != line_store.EntryStatus.WAITING:
        raise Obsolete(f"the entry is {entry.status.value.lower() if entry else 'gone'}: no longer waiting")
    service = get_catalog().service(entry.service_id)
    return {
        "client_name": entry.attendee.name,
        "client_time_zone": entry.attendee.time_zone,
        "service_name": service.name,
        "start": entry.start,
        "end": entry.start + timedelta(minutes=service.duration_minutes),
        "currency": entry.currency,
        "participants": entry.participants,
        "position": extra.get("position"),
    }


def _package_fields(item: MessageItem, extra: dict[str, Any]) -> dict[str, Any]:
    package = package_store.read(item.subject_id)
    if package is None:
        raise Obsolete("the package is gone")
    fields: dict[str, Any] = {
        "client_name": package.buyer.name,
        "client_time_zone": package.buyer.time_zone,
        "currency": package.currency,
        "total": package.price,
        "paid": package.price,
        "package_id": package.package_id,
        "package_name": package.name,
        "credits_total": package.sessions,
        "credits_left": package.credits_remaining,
        "package_expires_at": package.expires_at,
    }
    booking_id = extra.get("booking_id")
    booking = store.get_booking(booking_id) if booking_id else None
    if booking is not None:
        service = get_catalog().service(booking.service_id)
        fields.update(
            booking_id=booking.booking_id,
            service_name=service.name,
            start=booking.slot_start,
            end=booking.slot_end,
        )
    return fields
