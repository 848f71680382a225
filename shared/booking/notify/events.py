"""Which messages a change calls for: from a stream record's old and new image (the table's stream), never from
the step that made the change, so no booking step waits on or fails for a message.

Each message has a key derived from the change itself (a refund's id, a payment's id, the new start), so a
duplicate record, a replayed batch or a second worker plans the same keys and the once-only record
(`outbox.plan`) turns the repeat into nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from booking.dal.alerts import Alert
from booking.dal.packages import PackageRecord, PackageStatus
from booking.domain.catalog import get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Participant, member_key
from booking.notify.messages import Channel, Kind
from booking.notify.preferences import channels_for, client_email_kind, we_email
from booking.settings import get_settings

S = BookingStatus
ACTION_STATUSES = frozenset({"requires_action", "requires_payment_method", "requires_confirmation"})
BOOKED = frozenset({S.PAID, S.CONFIRMED, S.SLOT_UNAVAILABLE, S.COMPLETED, S.NO_SHOW})  # the client had a booking
REMINDER = "reminder:"


class Planned(BaseModel):
    """A message to record (and, when due now, send)."""

    model_config = ConfigDict(frozen=True)

    pk: str
    subject_id: str
    message_key: str
    kind: Kind
    channel: Channel
    recipient: str
    context: dict[str, Any] = {}
    send_at: datetime


class Withdrawal(BaseModel):
    """Pending reminders of a subject that no longer apply (all of them, or all but those for `keep_start`)."""

    model_config = ConfigDict(frozen=True)

    pk: str
    keep_start: str | None = None
    reason: str


class Plan(BaseModel):
    messages: list[Planned] = []
    withdrawals: list[Withdrawal] = []


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def reminder_key(hours: int, start: datetime) -> str:
    return f"{REMINDER}{hours}:{iso(start)}"


def _for_booking(booking: Booking, kind: Kind, key: str, now: datetime, **context: Any) -> list[Planned]:
    return [
        Planned(
            pk=f"BOOKING#{booking.booking_id}",
            subject_id=booking.booking_id,
            message_key=key,
            kind=kind,
            channel=channel,
            recipient=recipient,
            context=context,
            send_at=now,
        )
        for channel, recipient in channels_for(booking, kind)
    ]


def reminders(booking: Booking, now: datetime) -> list[Planned]:
    """The service's reminders for the booking's start; none whose time has already come (booked inside it)."""
    planned: list[Planned] = []
    for hours in get_catalog().service(booking.service_id).reminder_hours:
        send_at = booking.slot_start - timedelta(hours=hours)
        if send_at <= now:
            continue
        for message in _for_booking(booking, "reminder", reminder_key(hours, booking.slot_start), now, hours=hours):
            planned.append(message.model_copy(update={"send_at": send_at}))
    return planned


def booking_changed(old: Booking | None, new: Booking | None, now: datetime) -> Plan:
    if new is None:
        return Plan()
    was = old.status if old else None
    pk = f"BOOKING#{new.booking_id}"
    plan = Plan()
    if new.status == S.CONFIRMED and was != S.CONFIRMED:
        plan.messages += _for_booking(new, "confirmed", "confirmed", now)
        plan.messages += reminders(new, now)
    elif new.status == S.CONFIRMED and old is not None and old.slot_start != new.slot_start:
        key = f"rescheduled:{iso(new.slot_start)}:{new.reschedule_count}"
        plan.messages += _for_booking(new, "rescheduled", key, now, previous_start=iso(old.slot_start))
        plan.withdrawals.append(Withdrawal(pk=pk, keep_start=iso(new.slot_start), reason="the booking moved"))
        plan.messages += reminders(new, now)
    if new.status != S.CONFIRMED and was == S.CONFIRMED:
        plan.withdrawals.append(Withdrawal(pk=pk, reason=f"the booking is {new.status.value.lower()}"))
    if new.status == S.CANCELLED and was in BOOKED:
        plan.messages += _for_booking(new, "cancelled", "cancelled", now)
    if new.waitlist_entry_id and new.status == S.HELD and new.payment_intent_id and not (old and old.payment_intent_id):
        key = f"waitlist_offer:{new.payment_intent_id}"  # the offer's payment opened: its pay link goes out
        plan.messages += _for_booking(new, "waitlist_offer", key, now)
    plan.messages += party_members(old, new, now)
    if new.status == S.SLOT_UNAVAILABLE and was != S.SLOT_UNAVAILABLE:
        plan.messages += _for_booking(new, "slot_lost", f"slot_lost:{iso(new.slot_start)}", now)
    known_refunds = {refund.refund_id for refund in old.refunds} if old else set()
    for refund in new.refunds:
        if refund.refund_id not in known_refunds:
            plan.messages += _for_booking(
                new, "refund_issued", f"refund:{refund.refund_id}", now, refund_id=refund.refund_id
            )
    before = {payment.payment_id: payment.status for payment in old.payments} if old else {}
    for payment in new.payments:
        if payment.method == "offline" or before.get(payment.payment_id) == payment.status:
            continue
        if payment.status == "succeeded":
            kind: Kind = "payment_received"
            key = f"payment:{payment.payment_id}"
        elif payment.status in ACTION_STATUSES and before.get(payment.payment_id) not in ACTION_STATUSES:
            kind, key = "payment_action", f"action:{payment.payment_id}"
        else:
            continue
        plan.messages += _for_booking(new, kind, key, now, payment_id=payment.payment_id)
    return plan


def _members(booking: Booking | None) -> dict[str, Participant]:
    """The party's members with an email while the booking is confirmed, by key (seed 004: each gets their own)."""
    if booking is None or booking.status != S.CONFIRMED:
        return {}
    return {member_key(member.email): member for member in booking.party if member.email}


def party_members(old: Booking | None, new: Booking, now: datetime) -> list[Planned]:
    """A party member named with an email hears that they are booked (the booking confirmed, or they were added to
    it) and that they are not any more (the booking ended, or their seat was given back); the payer hears the rest."""
    if not client_email_kind("member_booked"):
        return []
    before, after = _members(old), _members(new)
    start = iso(new.slot_start)
    planned: list[Planned] = []
    for kind, members in (
        ("member_booked", {key: m for key, m in after.items() if key not in before}),
        ("member_cancelled", {key: m for key, m in before.items() if key not in after}),
    ):
        for key, member in members.items():
            assert member.email is not None
            planned.append(
                Planned(
                    pk=f"BOOKING#{new.booking_id}",
                    subject_id=new.booking_id,
                    message_key=f"{kind}:{key}:{start}",
                    kind=kind,  # type: ignore[arg-type]
                    channel="email",
                    recipient=member.email,
                    context={"member_name": member.name},
                    send_at=now,
                )
            )
    return planned


def _for_package(package: PackageRecord, kind: Kind, key: str, now: datetime, **context: Any) -> list[Planned]:
    if not client_email_kind(kind):
        return []
    return [
        Planned(
            pk=f"PACKAGE#{package.package_id}",
            subject_id=package.package_id,
            message_key=key,
            kind=kind,
            channel="email",
            recipient=package.buyer.email,
            context=context,
            send_at=now,
        )
    ]


def package_changed(old: PackageRecord | None, new: PackageRecord | None, now: datetime) -> Plan:
    if new is None:
        return Plan()
    plan = Plan()
    if new.status == PackageStatus.ACTIVE and (old is None or old.status != PackageStatus.ACTIVE):
        plan.messages += _for_package(new, "package_bought", "bought", now)
    taken = new.booking_ids - (old.booking_ids if old else frozenset())
    for booking_id in sorted(taken):
        plan.messages += _for_package(new, "credit_used", f"credit:{booking_id}", now, booking_id=booking_id)
    return plan


def alert_inserted(alert: Alert, pk: str, now: datetime) -> Plan:
    """An owner alert, emailed to the owner once (alerts.py publishes to the SNS topic only when we cannot)."""
    owner = get_settings().owner_email
    if not (owner and we_email()):
        return Plan()
    planned = Planned(
        pk=pk,
        subject_id=alert.alert_id,
        message_key="alert",
        kind="owner_alert",
        channel="email",
        recipient=owner,
        send_at=now,
    )
    return Plan(messages=[planned])
