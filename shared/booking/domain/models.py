"""Domain models: what the logic reads and decides on. The data layer maps its items to these."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from booking.digests import digest
from booking.domain.lifecycle import SLOT_KEEPING, BookingStatus
from booking.domain.pricing import PaymentType
from booking.errors import InvalidRequest

if TYPE_CHECKING:
    from booking.domain.catalog import Service


class Attendee(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    email: str
    time_zone: str
    phone: str | None = None


def member_key(email: str) -> str:
    """A party member's key (Cal.com seat metadata, relay address, message keys): stable while their email is."""
    return digest(email.strip().lower())[:12]


class Participant(BaseModel):
    """One member of a group booking's party besides the payer (seed 004): named at booking or later through the
    manage link; with an email, a seat of the Cal.com booking is theirs."""

    model_config = ConfigDict(frozen=True)

    name: str
    email: str | None = None
    cal_seat_uid: str | None = None


class TransitionRecord(BaseModel):
    """One line of a booking's history: who moved it, when, from where to where, and why."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str
    source: str
    target: str
    reason: str


class Flag(BaseModel):
    """Something a person must look at (slot lost after payment, amount mismatch, dispute, ...)."""

    model_config = ConfigDict(frozen=True)

    code: str
    reason: str
    at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None  # the owner or staff member who closed it
    resolution: str | None = None  # their note

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class RefundRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    refund_id: str
    amount: int
    purpose: str
    reason: str = ""
    at: datetime


PaymentPurpose = Literal["balance", "late_cancel_fee", "no_show_fee", "reschedule_fee"]
BalanceState = Literal["none", "deposit_unpaid", "due", "scheduled", "awaiting_client", "processing", "paid"]


class Payment(BaseModel):
    """A payment after the first (the deposit or full payment keeps its own fields): the balance, or a fee.

    Stripe payments are PaymentIntents on the booking's Customer (metadata booking_id and purpose), so the
    ledger finds them in Stripe even if this record were lost; an offline one (cash, a terminal) exists only
    here and is never refunded through Stripe."""

    model_config = ConfigDict(frozen=True)

    payment_id: str  # pi_... or offline_...
    purpose: PaymentPurpose
    method: Literal["card_on_file", "pay_link", "offline"]
    amount: int
    status: str  # Stripe's PaymentIntent status, or "succeeded" for an offline payment
    charge_id: str | None = None
    error: str | None = None
    actor: str
    at: datetime


class Seat(BaseModel):
    """Where a booking holds its slot: one of `capacity` seats of (event type, start)."""

    model_config = ConfigDict(frozen=True)

    event_type_id: int
    start: datetime
    number: int = 0


class Booking(BaseModel):
    model_config = ConfigDict(frozen=True)

    booking_id: str
    status: BookingStatus
    service_id: str
    event_type_id: int
    slot_start: datetime
    slot_end: datetime
    seat_number: int = 0
    extra_seat_numbers: list[int] = Field(default_factory=list)  # a party's other seats (participants - 1 of them)
    participants: int = 1  # seats the booking takes: the payer and their party
    party: list[Participant] = Field(default_factory=list)  # named members of the party besides the payer
    party_fees_kept: int = 0  # what the business kept of the party's cancelled seats (flows/party.py)
    party_refunds_due: int = 0  # refunds decided for the party's cancelled seats, made or still owed
    role: str | None = None  # the client's signed role the price was made with (seed 004)
    list_price: int | None = None  # the party's price before a code or credit, as priced at booking
    series_id: str | None = None  # a recurring series this booking is an occurrence of
    occurrence: int | None = None  # its place in the series (1 = first)
    waitlist_entry_id: str | None = None  # the waitlist entry this hold was offered to
    attendee: Attendee
    payment_type: PaymentType
    currency: str
    total: int
    amount_due_now: int
    balance_due: int
    amount_paid: int = 0
    amount_refunded: int = 0
    payment_intent_id: str | None = None
    customer_id: str | None = None
    charge_id: str | None = None
    payment_status: str | None = None
    payment_error: str | None = None
    hold_expires_at: datetime
    paid_at: datetime | None = None
    cal_booking_uid: str | None = None
    cal_seat_uid: str | None = None  # our attendee's seat in a seated (capacity > 1) Cal.com booking
    cal_lease_until: datetime | None = None
    cal_attempts: int = 0
    cal_last_error: str | None = None
    token_expires_at: datetime | None = None
    token_hashes: frozenset[str] = frozenset()  # the booking tokens issued, as hashes (flows/tokens.py)
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_slot_start: datetime | None = None  # the start of the Cal.com booking that was cancelled
    dispute_id: str | None = None
    dispute_status: str | None = None
    no_show: str | None = None
    auto_refund_reason: str | None = None
    payout_state: str | None = None
    payout_due_at: datetime | None = None
    payout_attempts: int = 0
    payout_error: str | None = None
    transfer_id: str | None = None
    transfer_amount: int = 0
    transferred_at: datetime | None = None
    transfer_reversed: int = 0
    provider_account: str | None = None
    idempotency_key_hash: str | None = None
    request_fingerprint: str | None = None  # with a client Idempotency-Key: the request that made the booking
    promo_code: str | None = None  # the code the client used (its use is taken with the hold)
    discount: int = 0  # what the code took off the list price
    package_id: str | None = None  # the package whose credit paid for it (nothing charged)
    backup_start: datetime | None = None  # the client's second choice, used when the owner blocks the date
    reschedule_count: int = 0
    manage_token_hash: str | None = None  # the client's manage link (hashed; revoked by removing it)
    notify_email: bool = True  # the client's choices at booking (create-intent `notify`)
    notify_sms: bool = False
    flags: list[Flag] = Field(default_factory=list)
    history: list[TransitionRecord] = Field(default_factory=list)
    refunds: list[RefundRecord] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list)  # after the first: the balance, fees
    cancel_refund: Literal["policy", "full", "none"] | None = None  # the owner's choice when the owner cancelled
    failed_refund_ids: frozenset[str] = frozenset()
    money_lease_until: datetime | None = None
    money_lease: str | None = None
    money_state: str | None = None
    money_due_at: datetime | None = None
    money_attempts: int = 0
    cal_checked_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def nothing_to_pay(self) -> bool:
        """Free, fully discounted or paid with a package credit: no Stripe payment at all."""
        return self.amount_due_now == 0 and self.total == 0

    @property
    def seat(self) -> Seat:
        """The booking's first seat (its only one unless it is a party's)."""
        return Seat(event_type_id=self.event_type_id, start=self.slot_start, number=self.seat_number)

    @property
    def seats(self) -> list[Seat]:
        """Every seat the booking takes: the first, then the party's others."""
        numbers = [self.seat_number, *self.extra_seat_numbers]
        return [Seat(event_type_id=self.event_type_id, start=self.slot_start, number=number) for number in numbers]

    def hold_is_live(self, at: datetime) -> bool:
        return self.status in SLOT_KEEPING or (self.status == BookingStatus.HELD and self.hold_expires_at > at)

    def has_flag(self, code: str) -> bool:
        return any(flag.code == code for flag in self.flags)

    def has_open_flag(self, code: str) -> bool:
        return any(flag.code == code and flag.is_open for flag in self.flags)

    @property
    def payment_intent_ids(self) -> list[str]:
        """The PaymentIntents of the booking we know of: the first, then the balance and fees (the ledger reads
        them all from the booking's Stripe Customer, where one we lost track of is found too)."""
        later = [p.payment_id for p in self.payments if p.method != "offline"]
        return ([self.payment_intent_id] if self.payment_intent_id else []) + later

    @property
    def balance_state(self) -> BalanceState:
        """Where the balance stands, in the owner's words."""
        if self.payment_type == "full":
            return "none"
        if not self.amount_paid:
            return "deposit_unpaid"
        if self.balance_due <= 0:
            return "paid"
        balance = [p for p in self.payments if p.purpose == "balance" and p.status != "canceled"]
        if balance and balance[-1].status == "processing":
            return "processing"
        if balance and balance[-1].status != "succeeded":
            return "awaiting_client"
        return "scheduled" if self.money_state == "COLLECT" else "due"

    @property
    def start_for_policy(self) -> datetime:
        """The start a cancellation is priced on: the cancelled Cal.com booking's own, else ours."""
        return self.cancelled_slot_start or self.slot_start


class BookingToken(BaseModel):
    """What a booking token stands for (seed 000): stored under the token's hash, never the token itself."""

    model_config = ConfigDict(frozen=True)

    token_hash: str
    booking_id: str
    issued_at: datetime
    expires_at: datetime
    selected_slot: datetime
    event_type_id: int
    deposit_amount: int
    balance_due: int
    payment_type: PaymentType
    currency: str


def check_phone(service: Service, attendee: Attendee, texts: bool) -> None:
    """A phone the service needs, or the client's texts need (422 naming attendee.phone)."""
    if service.requires_phone and not attendee.phone:
        raise InvalidRequest(
            f"{service.name} needs a phone number to reach you.",
            fields={"attendee.phone": "required, in E.164 form (e.g. +14155550100)"},
        )
    if texts and not attendee.phone:
        raise InvalidRequest(
            "Text messages need a phone number.",
            fields={"attendee.phone": "required for notify.sms, in E.164 form (e.g. +14155550100)"},
        )
