"""PynamoDB items of the single booking table (key design in docs/data-model.md).

| item        | pk                               | sk          | indexes                                          |
|-------------|----------------------------------|-------------|--------------------------------------------------|
| booking     | BOOKING#{booking_id}             | BOOKING     | Status, Start, PaymentIntent, CalUid, Attention, |
|             |                                  |             | Payout, Money                                    |
| seat (hold) | SLOT#{event_type_id}#{start Z}   | SEAT#{n}    | Slot                                             |
| token       | TOKEN#{sha256(token)}            | TOKEN       | - (read only: tokens now live on their booking)  |
| pay link    | PAYLINK#{sha256(token)}          | PAYLINK     | -                                                |
| idempotency | IDEMPOTENCY#{sha256(client key)} | {operation} | - (series, owner actions; a booking: its id)     |
| inbox event | EVENT#{source}#{event identity}  | EVENT       | Inbox (failed, awaiting a retry)                 |
| owner alert | ALERT#{sha256(cause)}            | ALERT       | Attention ("ALERT" partition; dal/alerts.py)     |
| promo code  | PROMO                            | CODE#{code} | -                                                |
| package     | PACKAGE#{pkg_id}                 | PACKAGE     | Start ("PACKAGE" partition, by purchase time)    |
| block       | BLOCKED                          | BLOCK#{..}  | -                                                |
| manage link | MANAGE#{sha256(token)}           | MANAGE      | - (bare links of before; now on the booking)     |
| rate        | RATE#{scope}#{key}               | {window}    | -                                                |
| message     | its subject's pk (BOOKING#, ...) | MSG#{key}#{channel} | Outbox (sparse: while due or being sent)  |
| waitlist    | WAITLIST#{event_type_id}[#{start Z}] | SLOT#.., ENTRY#.., EMAIL#.. | - (models, keys: dal/waitlist.py) |
"""

from __future__ import annotations

import os

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from booking.aws import share_session_with_pynamodb
from booking.settings import get_settings

share_session_with_pynamodb()  # before any model or transaction opens a connection


class TableMeta:
    table_name = get_settings().table_name
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # Fail fast inside a Lambda invocation instead of PynamoDB's 15 s / 30 s defaults.
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


class DueIndex(GlobalSecondaryIndex["BookingItem"]):
    """Bookings by status, ordered by when they next need attention (hold expiry, confirmation due, ...). Keys and
    `cal_checked_at` only: every booking write rewrites its entry, and the cleanup job reads the few due bookings
    in one BatchGetItem (the calendar check skips the ones checked lately on the entry alone)."""

    class Meta:
        index_name = "DueIndex"
        projection = IncludeProjection(["cal_checked_at"])

    status = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class StartIndex(GlobalSecondaryIndex["BookingItem"]):
    """Every booking by start (the owner's list and its date range). Keyed on the booking item's own sort key
    ("BOOKING"), so each booking is in it from its first write; seats land in SEAT#n partitions nobody reads."""

    class Meta:
        index_name = "StartIndex"
        projection = IncludeProjection(["status", "balance_due"])  # what the list filters on; see dal/listing

    sk = UnicodeAttribute(hash_key=True)
    slot_start = UTCDateTimeAttribute(range_key=True)


class SlotIndex(GlobalSecondaryIndex["SeatItem"]):
    """Held seats of one event type ordered by start: availability subtracts them from Cal.com's slots."""

    class Meta:
        index_name = "SlotIndex"
        projection = AllProjection()

    slot_event_type = UnicodeAttribute(hash_key=True)
    slot_start = UnicodeAttribute(range_key=True)


class PaymentIntentIndex(GlobalSecondaryIndex["BookingItem"]):
    """Booking by its Stripe PaymentIntent (charge and dispute events carry only the PaymentIntent id)."""

    class Meta:
        index_name = "PaymentIntentIndex"
        projection = KeysOnlyProjection()

    payment_intent_id = UnicodeAttribute(hash_key=True)


class CalUidIndex(GlobalSecondaryIndex["BookingItem"]):
    """Booking by its Cal.com uid (cancel/reschedule webhooks may carry only the uid)."""

    class Meta:
        index_name = "CalUidIndex"
        projection = KeysOnlyProjection()

    cal_booking_uid = UnicodeAttribute(hash_key=True)


class AttentionIndex(GlobalSecondaryIndex["BookingItem"]):
    """Bookings flagged for the owner (sparse), oldest flag first."""

    class Meta:
        index_name = "AttentionIndex"
        projection = AllProjection()

    attention = UnicodeAttribute(hash_key=True)
    attention_since = UTCDateTimeAttribute(range_key=True)


class PayoutIndex(GlobalSecondaryIndex["BookingItem"]):
    """Payouts owed to providers (sparse: DUE or FAILED), by when they become due."""

    class Meta:
        index_name = "PayoutIndex"
        projection = AllProjection()

    payout_state = UnicodeAttribute(hash_key=True)
    payout_due_at = UTCDateTimeAttribute(range_key=True)


class InboxIndex(GlobalSecondaryIndex["InboxItem"]):
    """Webhook events whose handling failed, by when they may be tried again (sparse: the key is removed once
    processed or set aside), so an event that keeps failing waits its backoff and never starves newer ones."""

    class Meta:
        index_name = "InboxIndex"
        projection = AllProjection()

    inbox_state = UnicodeAttribute(hash_key=True)
    retry_at = UTCDateTimeAttribute(range_key=True)


class MoneyIndex(GlobalSecondaryIndex["BookingItem"]):
    """Bookings whose money is not settled yet (a refund or a reversal owed; sparse), by when to try again."""

    class Meta:
        index_name = "MoneyIndex"
        projection = KeysOnlyProjection()

    money_state = UnicodeAttribute(hash_key=True)
    money_due_at = UTCDateTimeAttribute(range_key=True)


class OutboxIndex(GlobalSecondaryIndex["MessageItem"]):
    """Messages still to send (sparse: "DUE" while pending or leased), by when they are due (a reminder's time, a
    retry's backoff, a lease's expiry): the notifier's sweep reads only what is due."""

    class Meta:
        index_name = "OutboxIndex"
        projection = AllProjection()

    outbox_state = UnicodeAttribute(hash_key=True)
    send_at = UTCDateTimeAttribute(range_key=True)


class AttendeeMap(MapAttribute):
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    time_zone = UnicodeAttribute()
    phone = UnicodeAttribute(null=True)


class ParticipantMap(MapAttribute):
    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    cal_seat_uid = UnicodeAttribute(null=True)


class TransitionMap(MapAttribute):
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    source = UnicodeAttribute()
    target = UnicodeAttribute()
    reason = UnicodeAttribute()


class FlagMap(MapAttribute):
    code = UnicodeAttribute()
    reason = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    resolved_at = UTCDateTimeAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)


class RefundMap(MapAttribute):
    refund_id = UnicodeAttribute()
    amount = NumberAttribute()
    purpose = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


class PaymentMap(MapAttribute):
    payment_id = UnicodeAttribute()
    purpose = UnicodeAttribute()
    method = UnicodeAttribute()
    amount = NumberAttribute()
    status = UnicodeAttribute()
    charge_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class BookingItem(Model):
    """A booking. Counters and choices at their domain default are not stored (dal/bookings.SPARSE_DEFAULTS):
    absent reads back as the default."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="BOOKING")
    booking_id = UnicodeAttribute()
    status = UnicodeAttribute()
    due_at = UTCDateTimeAttribute()
    status_index = DueIndex()

    service_id = UnicodeAttribute()
    event_type_id = NumberAttribute()
    slot_start = UTCDateTimeAttribute()
    start_index = StartIndex()
    slot_end = UTCDateTimeAttribute()
    seat_number = NumberAttribute(default=0)
    extra_seat_numbers = ListAttribute(of=NumberAttribute, null=True)
    participants = NumberAttribute(null=True)
    party = ListAttribute(of=ParticipantMap, null=True)
    party_fees_kept = NumberAttribute(null=True)
    party_refunds_due = NumberAttribute(null=True)
    role = UnicodeAttribute(null=True)
    list_price = NumberAttribute(null=True)
    series_id = UnicodeAttribute(null=True)
    occurrence = NumberAttribute(null=True)
    waitlist_entry_id = UnicodeAttribute(null=True)
    attendee = AttendeeMap()
    payment_type = UnicodeAttribute()
    currency = UnicodeAttribute()
    total = NumberAttribute()
    amount_due_now = NumberAttribute()
    balance_due = NumberAttribute()
    amount_paid = NumberAttribute(default=0)
    amount_refunded = NumberAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    payment_intent_index = PaymentIntentIndex()
    customer_id = UnicodeAttribute(null=True)
    charge_id = UnicodeAttribute(null=True)
    payment_status = UnicodeAttribute(null=True)
    payment_error = UnicodeAttribute(null=True)
    hold_expires_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)
    cal_booking_uid = UnicodeAttribute(null=True)
    cal_uid_index = CalUidIndex()
    cal_seat_uid = UnicodeAttribute(null=True)
    cal_lease_until = UTCDateTimeAttribute(null=True)
    cal_attempts = NumberAttribute(null=True)
    cal_last_error = UnicodeAttribute(null=True)
    token_expires_at = UTCDateTimeAttribute(null=True)
    token_hashes = UnicodeSetAttribute(null=True)  # the booking tokens issued (flows/tokens.py), as hashes
    cancelled_at = UTCDateTimeAttribute(null=True)
    cancelled_by = UnicodeAttribute(null=True)
    dispute_id = UnicodeAttribute(null=True)
    no_show = UnicodeAttribute(null=True)
    auto_refund_reason = UnicodeAttribute(null=True)  # set when a full refund is owed (slot lost after paying)
    payout_state = UnicodeAttribute(null=True)  # DUE, FAILED (both in PayoutIndex), PAID, BLOCKED, SKIPPED
    payout_due_at = UTCDateTimeAttribute(null=True)
    payout_index = PayoutIndex()
    payout_attempts = NumberAttribute(null=True)
    payout_error = UnicodeAttribute(null=True)
    transfer_id = UnicodeAttribute(null=True)
    transfer_amount = NumberAttribute(null=True)
    transferred_at = UTCDateTimeAttribute(null=True)
    transfer_reversed = NumberAttribute(null=True)
    provider_account = UnicodeAttribute(null=True)
    idempotency_key_hash = UnicodeAttribute(null=True)
    request_fingerprint = UnicodeAttribute(null=True)  # with a client key: the request that made the booking
    promo_code = UnicodeAttribute(null=True)
    discount = NumberAttribute(null=True)
    package_id = UnicodeAttribute(null=True)
    backup_start = UTCDateTimeAttribute(null=True)
    reschedule_count = NumberAttribute(null=True)
    manage_token_hash = UnicodeAttribute(null=True)
    notify_email = BooleanAttribute(null=True)  # absent on bookings made before notifications: email yes, SMS no
    notify_sms = BooleanAttribute(null=True)
    flags = ListAttribute(of=FlagMap, default=list)
    flag_codes = UnicodeSetAttribute(null=True)  # makes "flag once per code" one conditional write
    attention = UnicodeAttribute(null=True)  # "OPEN" while flags await the owner
    attention_since = UTCDateTimeAttribute(null=True)
    attention_index = AttentionIndex()
    history = ListAttribute(of=TransitionMap, default=list)
    refunds = ListAttribute(of=RefundMap, default=list)
    refund_ids = UnicodeSetAttribute(null=True)  # makes "record a refund once" one conditional write
    payments = ListAttribute(of=PaymentMap, default=list)  # after the first payment: the balance, fees
    cancel_refund = UnicodeAttribute(null=True)  # the owner's refund choice when the owner cancelled
    failed_refund_ids = UnicodeSetAttribute(null=True)  # refunds Stripe reported failed after the fact
    cancelled_slot_start = UTCDateTimeAttribute(null=True)  # start of the Cal.com booking that was cancelled
    dispute_status = UnicodeAttribute(null=True)
    money_lease_until = UTCDateTimeAttribute(null=True)  # a money movement is in flight until then
    money_lease = UnicodeAttribute(null=True)  # who holds it (one worker at a time moves this booking's money)
    # "OWED" while a refund or a reversal is still to be made; "COLLECT" while a balance waits for its schedule
    money_state = UnicodeAttribute(null=True)
    money_due_at = UTCDateTimeAttribute(null=True)
    money_index = MoneyIndex()
    money_attempts = NumberAttribute(null=True)
    cal_checked_at = UTCDateTimeAttribute(null=True)  # last reconciliation with the Cal.com booking
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class SeatItem(Model):
    """A held seat. No `hold_expires_at` means the booking keeps it for good (paid)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    booking_id = UnicodeAttribute()
    slot_event_type = UnicodeAttribute()
    slot_start = UnicodeAttribute()
    slot_index = SlotIndex()
    hold_expires_at = UTCDateTimeAttribute(null=True)
    expires_ttl = TTLAttribute(null=True)


class TokenItem(Model):
    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="TOKEN")
    booking_id = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    selected_slot = UTCDateTimeAttribute()
    event_type_id = NumberAttribute()
    deposit_amount = NumberAttribute()
    balance_due = NumberAttribute()
    payment_type = UnicodeAttribute()
    currency = UnicodeAttribute()
    expires_ttl = TTLAttribute()


class PayLinkItem(Model):
    """A pay link's token (stored as its SHA-256): the client completes one balance or fee PaymentIntent."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # PAYLINK#{sha256(token)}
    sk = UnicodeAttribute(range_key=True, default="PAYLINK")
    booking_id = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute()
    purpose = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute()


class IdempotencyItem(Model):
    """A client Idempotency-Key: which booking it created and a fingerprint of the request that created it."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    booking_id = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    expires_ttl = TTLAttribute()


class InboxItem(Model):
    """A verified webhook event whose handling failed: the copy the cleanup job reprocesses (webhooks/inbox.py)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="EVENT")
    source = UnicodeAttribute()
    event_type = UnicodeAttribute()
    body = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    inbox_state = UnicodeAttribute(null=True)  # "PENDING" until processed or set aside, then removed
    retry_at = UTCDateTimeAttribute(null=True)  # when the cleanup job may try it again (backoff)
    inbox_index = InboxIndex()
    failed_at = UTCDateTimeAttribute(null=True)  # set aside after too many attempts (the booking is flagged)
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    processed_at = UTCDateTimeAttribute(null=True)
    expires_ttl = TTLAttribute()


class PromoItem(Model):
    """A promo code (owner-managed data). All codes share one partition: the owner's list is one query, and a use
    is one conditional update of the code's own item (inside the hold's transaction)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True, default="PROMO")
    sk = UnicodeAttribute(range_key=True)  # CODE#{code upper-case}
    code = UnicodeAttribute()
    kind = UnicodeAttribute()  # percent | amount | free
    value = NumberAttribute(default=0)  # percent, or minor units for an amount
    max_uses = NumberAttribute()
    uses_taken = NumberAttribute(default=0)
    valid_from = UTCDateTimeAttribute(null=True)
    valid_until = UTCDateTimeAttribute(null=True)
    services = UnicodeSetAttribute(null=True)  # none = every service
    active = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()


class PackageItem(Model):
    """A package bought by a client: its credits, the bookings holding one, and its money (one PaymentIntent)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # PACKAGE#{pkg_id}
    sk = UnicodeAttribute(range_key=True, default="PACKAGE")
    package_id = UnicodeAttribute()
    catalog_id = UnicodeAttribute()
    name = UnicodeAttribute()
    buyer = AttendeeMap()
    secret_hash = UnicodeAttribute()
    sessions = NumberAttribute()
    credits_used = NumberAttribute(default=0)
    booking_ids = UnicodeSetAttribute(null=True)  # bookings holding a credit now
    booked_ids = UnicodeSetAttribute(null=True)  # every booking that took a credit, returned or not (its view)
    # StartIndex's "PACKAGE" partition (hash: this item's sort key) by purchase time: the owner's list, no scan
    listed_at = UTCDateTimeAttribute(attr_name="slot_start", null=True)
    services = ListAttribute(of=UnicodeAttribute, default=list)
    currency = UnicodeAttribute()
    price = NumberAttribute()
    status = UnicodeAttribute()  # PENDING | ACTIVE | REFUNDED | CANCELLED
    payment_intent_id = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    paid_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    amount_refunded = NumberAttribute(default=0)
    refund_ids = UnicodeSetAttribute(null=True)
    money_lease = UnicodeAttribute(null=True)
    money_lease_until = UTCDateTimeAttribute(null=True)
    idempotency_key_hash = UnicodeAttribute(null=True)
    history = ListAttribute(of=TransitionMap, default=list)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class BlockItem(Model):
    """Dates the owner blocked (inclusive, in the business's time zone) and what blocking them did to bookings."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True, default="BLOCKED")
    sk = UnicodeAttribute(range_key=True)  # BLOCK#{from date}#{block_id}
    block_id = UnicodeAttribute()
    from_date = UnicodeAttribute()
    to_date = UnicodeAttribute()
    reason = UnicodeAttribute(default="")
    notify = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    outcome = UnicodeAttribute(null=True)  # JSON: counts and the users to notify


class ManageTokenItem(Model):
    """A client's manage link (stored as its SHA-256): see, cancel or reschedule one booking."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # MANAGE#{sha256(token)}
    sk = UnicodeAttribute(range_key=True, default="MANAGE")
    booking_id = UnicodeAttribute()
    issued_at = UTCDateTimeAttribute()
    expires_ttl = TTLAttribute()


class RateItem(Model):
    """A fixed-window request counter (e.g. promo code checks per source IP per minute)."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # RATE#{scope}#{key}
    sk = UnicodeAttribute(range_key=True)  # window start, ISO
    count = NumberAttribute(default=0)
    expires_ttl = TTLAttribute()


__all__ = [
    "BlockItem",
    "BookingItem",
    "IdempotencyItem",
    "InboxItem",
    "ManageTokenItem",
    "PackageItem",
    "PayLinkItem",
    "PromoItem",
    "RateItem",
    "SeatItem",
    "TokenItem",
]


class MessageItem(Model):
    """One (subject, message, channel): written once before it is sent (the once-only record), then leased,
    sent, retried with backoff or failed; kept as the owner's record of what was sent."""

    class Meta(TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # the subject's own key: BOOKING#{id}, PACKAGE#{id}, ALERT#{hash}
    sk = UnicodeAttribute(range_key=True)  # MSG#{message key}#{channel}
    message_key = UnicodeAttribute()  # "confirmed", "reminder:24:2026-12-01T15:00:00Z", "refund:re_...", ...
    kind = UnicodeAttribute()
    channel = UnicodeAttribute()
    recipient = UnicodeAttribute()  # email address or E.164 number (the subject's own, copied at planning)
    subject_id = UnicodeAttribute()  # booking_id, package_id or alert_id
    context = UnicodeAttribute(default="{}")  # JSON: what the event knew (a refund id, the new start, ...)
    msg_status = UnicodeAttribute()  # PENDING, SENDING, SENT, FAILED, WITHDRAWN
    outbox_state = UnicodeAttribute(null=True)  # "DUE" while PENDING or SENDING (OutboxIndex), removed after
    send_at = UTCDateTimeAttribute(null=True)
    outbox_index = OutboxIndex()
    lease = UnicodeAttribute(null=True)  # the worker sending it now
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)  # SES MessageId / SNS MessageId
    sent_at = UTCDateTimeAttribute(null=True)
    withdrawn_reason = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
