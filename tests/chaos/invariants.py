"""The checks after each chaos scenario (the contract of issue 9), read from the doubles' objects and our table.

Stripe is read from the double's own objects (`events` says which exist and in what order, `get_object` their
current state), so no API call, fault or pagination is involved. Cal.com is read from the double's bookings.

(a) Per booking: refunds that count (status succeeded or pending) <= what was captured.
(b) Per booking cancelled in Cal.com (by the scenario): our refunds = max(0, (captured - fee) - returned before our
    refund), where the fee is the policy's for the start of the Cal.com booking that was cancelled, at the moment it
    was cancelled (0 when the host cancelled, or in the free window: cancelled_at <= start - free_until_hours; else
    late_fee_percent of the price rounded half up, capped by what was captured), and "returned" counts Dashboard
    refunds (and a lost dispute) made before our refund. Skipped (and counted) when two of our refunds failed or a
    dispute is still open. And: no refund of ours while the Cal.com booking is live (not cancelled).
(c) Per booking of a service with a provider account: transfers net of reversals = provider_share_percent x
    (captured - returned) // 100 (returned includes a lost dispute, so 0 after one) once the booking is
    CONFIRMED/COMPLETED/CANCELLED and 72 h have passed; 0 otherwise; no transfer created before paid_at + 72 h.
    With an open dispute or a refund that failed twice, only 0 <= net <= the share.
(d) No slot over capacity: live Cal.com bookings (their attendees) per event type and start, our live seat items per
    slot, and our live bookings per slot.
(e) Every closed booking's slot is offered again: no live seat item of a CANCELLED/EXPIRED booking; a booking
    cancelled in Cal.com is not still live here; and (mid-drain, `check_availability`) GET /availability offers a
    future slot of a closed booking unless Cal.com does not, or other live bookings fill it here.
(f) No webhook event pending past its deadline without a flag: an inbox item still PENDING 48 h after it was
    received is a violation; one set aside (state FAILED, or `failed_at`) needs its booking flagged `webhook_failed`.
(g) No handler error (5xx, a job raising) once every fault is healed (the drain).
(h) Every request to Cal.com follows its OpenAPI contract (the double records violations).
(i) No lost payment (DESIGN.md §3): money captured for a booking ends in a CONFIRMED/COMPLETED/CANCELLED/NO_SHOW
    booking, or is returned, or the booking is flagged for the owner (a flag the owner closed counts).
(j) Every owner action answers 200, 409 or 422, or 503 when a provider is down (502 only while a fault was
    injected), never another 5xx; an over-refund's 422 names `amount`; a refund of a given amount refunds exactly
    it; a retry with the same Idempotency-Key after a 200 finds the same refund or the same balance payment; two
    cancellations answered as done never carry two different refund choices; a pay page never answers 5xx.
(k) Several payments per booking: at most one balance paid (card or offline) and at most one PaymentIntent per fee
    purpose; a paid balance is the price less the first payment and leaves balance_due 0; no balance is charged to a
    booking paid in full, no no-show fee to a booking that is not NO_SHOW; what the business keeps (captured and
    offline, less what was returned) never exceeds the price.
(l) The balance the schedule charges (the chaos catalog: the facial 24 h before the start, the brows at the
    meeting's end): at most once, not before its time (on the start Cal.com had when it was charged; after a
    reschedule, the earliest of the starts then known), never once our booking was cancelled or the owner had
    collected it (card or offline); and charged once its time is past while the booking still owes it.
(m) The late-cancellation fee the payment did not cover (the chaos catalog's brows: 75 % late fee, 50 % deposit):
    only on a late cancellation priced by policy (the client's, the owner's with refund "policy"; not the host's,
    not the owner's full or none), at most once ((k)), for the fee less what was captured before it; and charged
    when such a cancellation left part of the fee uncovered.

Issue 10 changes (a)-(c) so they hold over several payments and the owner's choices: every amount is summed over
all the booking's PaymentIntents (and (a) holds per PaymentIntent too); in (b), a cancellation the owner made (a 200
"Cancelled") is priced by the refund the owner chose (none: nothing; full: everything captured; policy: as if the
client cancelled at that moment), the owner's own refunds are allowed while the Cal.com booking is live, and with
owner refunds in play (which come between the policy's refunds in any order) only bounds are checked: the policy's
refunds <= what it owed less what was returned before them, and everything returned >= what it owed; in (c), no
transfer drawn on a charge before that charge + 72 h.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from tests.chaos.report import Violation

if TYPE_CHECKING:
    from tests.chaos.world import OwnerCall, Scenario, ServiceInfo, Track

COUNTING = ("succeeded", "pending")
CLOSED_DISPUTE = ("won", "lost", "warning_closed")
PAYABLE = ("CONFIRMED", "COMPLETED", "CANCELLED", "NO_SHOW")
LIVE_STATUSES = ("PAID", "CONFIRMED", "COMPLETED")
INBOX_DEADLINE = timedelta(hours=48)
PAYOUT_HOLD = timedelta(hours=72)
PAYOUT_GRACE = timedelta(hours=1)  # the payout job is hourly
LIVE_CAL = ("accepted", "pending")
OWNER_REFUND = "owner_refund"
FEE_PURPOSES = ("late_cancel_fee", "no_show_fee")


# ---------------------------------------------------------------------------------------------------------- reads


def parse_time(value: Any) -> datetime | None:
    """An instant from our table (PynamoDB's `%Y-%m-%dT%H:%M:%S.%f%z`), Cal.com (`...Z`) or Stripe (epoch s)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


@dataclass
class Ledger:
    """Stripe's objects of the scenario: current state by id, and the order in which they first appeared."""

    order: dict[str, int]
    closed: dict[str, int]  # dispute id -> index of its charge.dispute.closed event
    objects: dict[str, dict[str, Any]]
    end: int

    @classmethod
    def read(cls, stripe_double: Any) -> Ledger:
        events = stripe_double.events
        order: dict[str, int] = {}
        closed: dict[str, int] = {}
        for index, event in enumerate(events):
            obj_id = event["data"]["object"].get("id")
            if obj_id and obj_id not in order:
                order[obj_id] = index
            if event["type"] == "charge.dispute.closed" and obj_id:
                closed.setdefault(obj_id, index)
        objects = {obj_id: stripe_double.get_object(obj_id) for obj_id in order}
        return cls(order, closed, {k: v for k, v in objects.items() if v}, len(events))

    def kind(self, name: str) -> list[dict[str, Any]]:
        return sorted(
            (o for o in self.objects.values() if o.get("object") == name), key=lambda o: self.order.get(o["id"], 0)
        )


@dataclass
class Money:
    """What Stripe says moved for one booking."""

    captured: int = 0
    intents: list[dict[str, Any]] = field(default_factory=list)  # every PaymentIntent of the booking, oldest first
    charges: list[str] = field(default_factory=list)
    paid_at_stripe: datetime | None = None
    counting: list[dict[str, Any]] = field(default_factory=list)  # refunds that count, any origin
    ours: list[dict[str, Any]] = field(default_factory=list)  # every refund with our metadata
    outside: list[dict[str, Any]] = field(default_factory=list)  # Dashboard refunds that count
    disputes: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refunded(self) -> int:
        return sum(r["amount"] for r in self.counting)

    @property
    def lost(self) -> int:
        return sum(d["amount"] for d in self.disputes if d.get("status") == "lost")

    @property
    def returned(self) -> int:
        return self.refunded + self.lost

    @property
    def open_dispute(self) -> bool:
        return any(d.get("status") not in CLOSED_DISPUTE for d in self.disputes)

    @property
    def ours_failed(self) -> int:
        return sum(1 for r in self.ours if r.get("status") == "failed")

    @property
    def ours_counting(self) -> list[dict[str, Any]]:
        return [r for r in self.ours if r.get("status") in COUNTING]

    @property
    def owner_refunds(self) -> list[dict[str, Any]]:
        """Refunds the owner asked for (any status): they may come before, between or after the policy's."""
        return [r for r in self.ours if purpose(r) == OWNER_REFUND]

    @property
    def policy_counting(self) -> list[dict[str, Any]]:
        """Our refunds that count, the owner's own refunds aside (cancellations, lost slots)."""
        return [r for r in self.ours_counting if purpose(r) != OWNER_REFUND]

    def of_purpose(self, name: str) -> list[dict[str, Any]]:
        return [i for i in self.intents if purpose(i) == name]

    @property
    def net_transferred(self) -> int:
        return sum(t["amount"] - t.get("amount_reversed", 0) for t in self.transfers)


def money_of(track: Track, ledger: Ledger) -> Money:
    booking_id = track.booking_id or "?"
    pis = {track.pi} if track.pi else set()
    pis |= {
        pi["id"] for pi in ledger.kind("payment_intent") if (pi.get("metadata") or {}).get("booking_id") == booking_id
    }
    m = Money()
    m.intents = [pi for pi in ledger.kind("payment_intent") if pi["id"] in pis]
    for charge in ledger.kind("charge"):
        if charge.get("payment_intent") in pis and charge.get("status") == "succeeded":
            m.charges.append(charge["id"])
            m.captured += int(charge.get("amount_captured") or 0)
            created = parse_time(charge.get("created"))
            m.paid_at_stripe = created if m.paid_at_stripe is None else min(m.paid_at_stripe, created)
    for refund in ledger.kind("refund"):
        if refund.get("payment_intent") not in pis and refund.get("charge") not in m.charges:
            continue
        if (refund.get("metadata") or {}).get("booking_id"):
            m.ours.append(refund)
        elif refund.get("status") in COUNTING:
            m.outside.append(refund)
        if refund.get("status") in COUNTING:
            m.counting.append(refund)
    m.disputes = [d for d in ledger.kind("dispute") if d.get("charge") in m.charges]
    m.transfers = [
        t
        for t in ledger.kind("transfer")
        if t.get("transfer_group") == f"booking_{booking_id}"
        or (t.get("metadata") or {}).get("booking_id") == booking_id
        or (t.get("source_transaction") and t.get("source_transaction") in m.charges)
    ]
    return m


def purpose(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("purpose")


def flag_codes(row: dict[str, Any]) -> set[str]:
    """Every flag the booking was ever given, open or closed by the owner."""
    return set(row.get("flag_codes") or []) | {str(f.get("code")) for f in row.get("flags") or [] if f.get("code")}


def scan_table() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": os.environ["TABLE_NAME"], "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend({k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Table:
    bookings: dict[str, dict[str, Any]]
    seats: list[dict[str, Any]]
    inbox: list[dict[str, Any]]

    @classmethod
    def read(cls) -> Table:
        items = scan_table()
        return cls(
            bookings={i["booking_id"]: i for i in items if str(i["pk"]).startswith("BOOKING#") and "booking_id" in i},
            seats=[i for i in items if str(i["pk"]).startswith("SLOT#")],
            inbox=[i for i in items if str(i["pk"]).startswith("EVENT#")],
        )

    def live_seats(self, now: datetime) -> list[dict[str, Any]]:
        out = []
        for seat in self.seats:
            expires = parse_time(seat.get("hold_expires_at"))
            if expires is None or expires > now:
                out.append(seat)
        return out


def seat_start(seat: dict[str, Any]) -> datetime | None:
    """`SLOT#{event type}#{start Z}` -> the start."""
    parts = str(seat["pk"]).split("#", 2)
    return parse_time(parts[2]) if len(parts) == 3 else None


def seat_event_type(seat: dict[str, Any]) -> int:
    return int(str(seat["pk"]).split("#", 2)[1])


# ---------------------------------------------------------------------------------------------------- the policy


def deposit_rounding(total: int, percent: int) -> int:
    """Half up to a whole minor unit (the documented rounding of deposits and fees)."""
    return (total * percent + 50) // 100


def expected_fee(service: ServiceInfo, captured: int, cancel_at: datetime, start: datetime, by_host: bool) -> int:
    if by_host or cancel_at <= start - timedelta(hours=service.free_until_hours):
        return 0
    return min(deposit_rounding(service.price, service.late_fee_percent), captured)


# -------------------------------------------------------------------------------------------------------- checks


@dataclass
class Findings:
    seed: int
    violations: list[Violation] = field(default_factory=list)
    figures: Counter[str] = field(default_factory=Counter)

    def add(self, check: str, booking: str, text: str) -> None:
        self.violations.append(Violation(self.seed, check, booking, text))


def check_scenario(scn: Scenario) -> Findings:
    from booking.clock import now as product_now

    found = Findings(scn.seed)
    now = product_now()
    ledger = Ledger.read(scn.env.stripe)
    table = Table.read()
    cal = scn.env.cal.bookings()
    for track in scn.tracks:
        if not track.booking_id:
            continue
        m = money_of(track, ledger)
        row = table.bookings.get(track.booking_id, {})
        chain, live = scn.cal_chain(track), scn.live_cal(track)
        scn.log(summary(track, m, row, chain))
        check_refund_cap(found, track, m, ledger)
        check_cancellation(found, track, m, chain, live, ledger, row)
        check_payout(found, track, m, row, now, ledger)
        check_closed_slot(found, track, row, live, table, now)
        check_payment_kept(found, track, m, row)
        check_owner_answers(found, scn, track)
        check_later_payments(found, track, m, row)
        check_scheduled_balance(found, track, m, row, chain, now)
        check_late_fee(found, track, m, row, live, ledger)
    check_capacity(found, scn, cal, table, now)
    check_inbox(found, scn, table, now)
    for check, booking, text in scn.availability:
        found.add(check, booking, text)
    for booking, text in dict.fromkeys(scn.crashes):
        found.add("g", booking, text)
    for name, status, text in scn.pay_pages:
        if status >= 500 and status != 503:
            found.add("j", name, f"the pay page answered {status} {text}")
    for violation in scn.env.cal.contract_violations:
        found.add("h", "-", f"request to Cal.com broke its contract: {violation}")
    return found


def summary(track: Track, m: Money, row: dict[str, Any], chain: list[dict[str, Any]]) -> str:
    cal = ", ".join(f"{b['uid'][:8]} {b['start'][5:16]} {b['status']}" for b in chain) or "none"
    refunds = ", ".join(
        f"{r['amount']} {r.get('status')} {(r.get('metadata') or {}).get('purpose') or 'dashboard'}"
        for r in m.ours + m.outside
    )
    disputes = ", ".join(f"{d['amount']} {d.get('status')}" for d in m.disputes)
    transfers = ", ".join(f"{t['amount']}-{t.get('amount_reversed', 0)}" for t in m.transfers)
    payments = ", ".join(f"{purpose(i) or 'first'} {i['amount']} {i.get('status')}" for i in m.intents)
    offline = [p for p in row.get("payments") or [] if p.get("method") == "offline"]
    payments += "".join(f", offline {p.get('purpose')} {p.get('amount')}" for p in offline)
    flags = ",".join(sorted(row.get("flag_codes") or []))
    return (
        f"end {track.name} {track.booking_id} {row.get('status')} flags[{flags}] payments[{payments}] "
        f"balance_due {row.get('balance_due')} captured {m.captured} refunds[{refunds}] disputes[{disputes}] "
        f"transfers[{transfers}] payout[{row.get('payout_state')} {row.get('payout_error') or ''}] cal[{cal}]"
    )


def check_refund_cap(found: Findings, track: Track, m: Money, ledger: Ledger) -> None:
    if m.refunded > m.captured:
        amounts = [f"{r['amount']} {r.get('status')}" for r in m.counting]
        found.add("a", track.name, f"refunds {m.refunded} {amounts} exceed the {m.captured} captured")
    for charge_id in m.charges:
        charge = ledger.objects[charge_id]
        refunded = sum(r["amount"] for r in m.counting if r.get("charge") == charge_id)
        if refunded > int(charge.get("amount_captured") or 0):
            found.add("a", track.name, f"refunds {refunded} of {charge_id} exceed its {charge['amount_captured']}")


def owner_cancellations(track: Track) -> list[OwnerCall]:
    """The owner's cancel requests the product answered as done ("Cancelled; refund: ...")."""
    return [
        c
        for c in track.owner_calls
        if c.action == "cancel" and c.status == 200 and str((c.answer or {}).get("message", "")).startswith("Cancelled")
    ]


def check_cancellation(
    found: Findings,
    track: Track,
    m: Money,
    chain: list[dict[str, Any]],
    live: dict[str, Any] | None,
    ledger: Ledger,
    row: dict[str, Any],
) -> None:
    policy = m.policy_counting
    if live is not None:
        if policy:
            amounts = [f"{r['amount']} ({purpose(r)})" for r in policy]
            found.add("b", track.name, f"refunded {amounts} while its Cal.com booking {live['uid']} is live")
        return
    if not chain:
        return  # never booked in Cal.com (expired, refused, slot lost): no cancellation to price
    by_owner = owner_cancellations(track)
    unanswered = [c for c in track.owner_calls if c.action == "cancel" and c.status not in (200, 409, 422)]
    cancel = track.cancel
    if not by_owner and unanswered:
        found.figures["b.skipped.owner_cancel_unanswered"] += 1  # Cal.com may have cancelled it; who priced it?
        return
    if cancel is None and not by_owner:
        found.figures["b.skipped.not_cancelled_by_the_scenario"] += 1
        return
    if row.get("status") == "NO_SHOW":
        # The owner marked a no-show on a booking Cal.com had cancelled (its webhook lost, the meeting time past):
        # the owner's word on what happened stands over the policy.
        found.figures["b.skipped.owner_marked_no_show"] += 1
        return
    if m.ours_failed >= 2:
        found.figures["b.skipped.refund_failed_twice"] += 1
        return
    if m.open_dispute:
        found.figures["b.skipped.open_dispute"] += 1
        return
    exact = True
    if by_owner:
        first = by_owner[0]
        choice = str((first.body or {}).get("refund"))
        answered_start = parse_time(((first.answer or {}).get("booking") or {}).get("start"))
        if choice == "none":
            fee = m.captured
        elif choice == "full":
            fee = 0
        elif first.cal_start is None or first.cal_start != answered_start:
            # The product's start was not Cal.com's when the owner cancelled (a reschedule on its way): the
            # policy's fee is read on either; only bounds.
            found.figures["b.bounds_only.owner_cancel_start_unsettled"] += 1
            fee, exact = 0, False
        else:
            fee = expected_fee(track.service, m.captured, first.at, first.cal_start, by_host=False)
        who = f"the owner ({choice} refund)"
        when, start = first.at, first.cal_start
        found.figures[f"b.owner_cancel.{choice}"] += 1
    else:
        assert cancel is not None
        by_host = cancel.by_host
        reconciled_first = "calendar_reconciled" in flag_codes(row)  # its webhook late: a check found it first
        if by_host and cancel.seated and (cancel.webhook_lost or reconciled_first):
            # Only reconciliation can find it (or found it before its late webhook), and Cal.com's read of a seated
            # booking never says who cancelled: the product prices it as the client's cancellation (the reversible
            # choice) and must say so on its flag.
            found.figures["b.canceller_unknown"] += 1
            by_host = False
            if "calendar_reconciled" not in flag_codes(row):
                found.add(
                    "b", track.name, "host cancellation found by reconciliation without a calendar_reconciled flag"
                )
        fee = expected_fee(track.service, m.captured, cancel.at, cancel.start, by_host)
        who = "the host" if by_host else "the client"
        when, start = cancel.at, cancel.start
    target = m.captured - fee
    got = sum(r["amount"] for r in policy)
    # What was returned before the policy's refund: Dashboard refunds and lost disputes that came first (in
    # Stripe's order).
    before = ledger.order[policy[-1]["id"]] if policy else ledger.end
    returned_before = sum(r["amount"] for r in m.outside if ledger.order.get(r["id"], 0) < before) + sum(
        d["amount"] for d in m.disputes if d.get("status") == "lost" and ledger.closed.get(d["id"], ledger.end) < before
    )
    expected = max(0, target - returned_before)
    hours = (start - when).total_seconds() / 3600 if start else float("nan")
    context = (
        f"cancelled by {who} {hours:.1f} h before its start {f'{start:%m-%d %H:%M}' if start else '?'} (fee {fee}, "
        f"captured {m.captured}, returned before {returned_before}, owner refunds "
        f"{[(r['amount'], r.get('status')) for r in m.owner_refunds]})"
    )
    if m.owner_refunds or not exact:
        # The owner's refunds may come before, between or after the policy's: the policy refunds no more than it
        # owed (less what was returned before), and in the end at least what it owed is back with the client.
        found.figures["b.bounds_only" + (".owner_refunds" if m.owner_refunds else "")] += 1
        if got > expected:
            found.add("b", track.name, f"{context}: the policy refunded {got}, more than the {expected} owed")
        if exact and m.returned < target:
            found.add("b", track.name, f"{context}: only {m.returned} returned in all, {target} owed")
        return
    found.figures["b.checked"] += 1
    if got != expected:
        found.add(
            "b",
            track.name,
            f"{context}: our refunds should be {expected}, Stripe has {got} from us {[r['amount'] for r in policy]}",
        )


def check_payout(found: Findings, track: Track, m: Money, row: dict[str, Any], now: datetime, ledger: Ledger) -> None:
    share = track.service.provider_share_percent
    if share is None:
        if m.transfers:
            found.add("c", track.name, f"transfers {[t['amount'] for t in m.transfers]} for a service nobody is paid")
        return
    paid_at = parse_time(row.get("paid_at"))
    for transfer in m.transfers:
        created = parse_time(transfer.get("created"))
        for label, moment in (("paid_at", paid_at), ("the charge", m.paid_at_stripe)):
            if moment is not None and created is not None and created < moment + PAYOUT_HOLD - timedelta(seconds=1):
                early = (moment + PAYOUT_HOLD - created).total_seconds() / 3600
                found.add("c", track.name, f"transfer {transfer['id']} made {early:.1f} h before {label} + 72 h")
        # A later payment (a balance, a fee) waits its own hold: no transfer drawn on a charge before it is 72 h old.
        source = ledger.objects.get(str(transfer.get("source_transaction") or ""))
        charged = parse_time(source.get("created")) if source else None
        if charged is not None and created is not None and created < charged + PAYOUT_HOLD - timedelta(seconds=1):
            early = (charged + PAYOUT_HOLD - created).total_seconds() / 3600
            found.add("c", track.name, f"transfer {transfer['id']} drawn on {source['id']} {early:.1f} h before +72 h")
    status = row.get("status")
    full = share * max(0, m.captured - m.returned) // 100
    net = m.net_transferred
    due = paid_at is not None and now >= paid_at + PAYOUT_HOLD + PAYOUT_GRACE
    if m.open_dispute or m.ours_failed >= 2:
        found.figures["c.bounds_only"] += 1
        if not 0 <= net <= full:
            found.add(
                "c",
                track.name,
                f"net transferred {net} outside [0, {full}] ({status}, open dispute or refund failed twice)",
            )
        return
    found.figures["c.checked"] += 1
    expected = full if status in PAYABLE and due else 0
    if net != expected:
        lost = f", lost dispute {m.lost}" if m.lost else ""
        found.add(
            "c",
            track.name,
            f"net transferred {net} (transfers {[(t['amount'], t.get('amount_reversed', 0)) for t in m.transfers]}) "
            f"but {share}% of (captured {m.captured} - refunded {m.refunded}{lost}) = {expected} for a {status} booking"
            + ("" if due else " whose 72 h are not over"),
        )


def check_closed_slot(
    found: Findings, track: Track, row: dict[str, Any], live: dict[str, Any] | None, table: Table, now: datetime
) -> None:
    status = row.get("status")
    if status in ("CANCELLED", "EXPIRED"):
        held = [s for s in table.live_seats(now) if s.get("booking_id") == track.booking_id]
        for seat in held:
            found.add("e", track.name, f"{status} but still holds seat {seat['pk']} {seat['sk']}")
    if track.cancel is not None and live is None and status in ("PAID", "CONFIRMED"):
        found.add("e", track.name, f"cancelled in Cal.com ({track.cancel.uid}) but still {status} here, its seat held")


def check_payment_kept(found: Findings, track: Track, m: Money, row: dict[str, Any]) -> None:
    status = row.get("status")
    if (
        m.captured
        and m.returned < m.captured
        and status not in PAYABLE
        and not (row.get("flag_codes") or row.get("flags"))
    ):
        found.add("i", track.name, f"{m.captured} captured, {m.returned} returned, booking {status} and not flagged")


def check_capacity(found: Findings, scn: Scenario, cal: list[dict[str, Any]], table: Table, now: datetime) -> None:
    capacity = {s.event_type: s.capacity for s in scn.services.values()}
    in_cal: Counter[tuple[int, str]] = Counter()
    for booking in cal:
        if booking["status"] in LIVE_CAL:
            in_cal[(booking["eventTypeId"], booking["start"])] += max(1, len(booking.get("attendees") or []))
    for (event_type, start), count in in_cal.items():
        if count > capacity.get(event_type, 1):
            found.add(
                "d",
                "-",
                f"Cal.com has {count} live attendees at {start} (event type {event_type}, capacity "
                f"{capacity.get(event_type, 1)})",
            )
    seats: Counter[str] = Counter(str(s["pk"]) for s in table.live_seats(now))
    for pk, count in seats.items():
        event_type = int(pk.split("#")[1])
        if count > capacity.get(event_type, 1):
            found.add("d", "-", f"{count} live seat items at {pk}")
    live: dict[tuple[int, datetime], list[str]] = defaultdict(list)
    for booking_id, row in table.bookings.items():
        held = row.get("status") == "HELD" and (parse_time(row.get("hold_expires_at")) or now) > now
        if row.get("status") in LIVE_STATUSES or held:
            live[(int(row["event_type_id"]), parse_time(row["slot_start"]))].append(booking_id)
    for (event_type, start), ids in live.items():
        if len(ids) > capacity.get(event_type, 1):
            names = [getattr(scn.track_by_booking(i), "name", i) for i in ids]
            found.add("d", "-", f"{len(ids)} live bookings {names} at {start:%m-%d %H:%M} (event type {event_type})")


def event_booking(scn: Scenario, source: str, body: str) -> Track | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if source == "stripe":
        obj = (document.get("data") or {}).get("object") or {}
        track = scn.track_by_booking((obj.get("metadata") or {}).get("booking_id"))
        pi = obj.get("payment_intent") or (obj.get("id") if obj.get("object") == "payment_intent" else None)
        return track or next((t for t in scn.tracks if pi and t.pi == pi), None)
    payload = document.get("payload") or document
    track = scn.track_by_booking((payload.get("metadata") or {}).get("booking_id"))
    uids = {payload.get("uid"), payload.get("bookingUid"), payload.get("rescheduleUid")} - {None}
    if track is None and uids:
        for candidate in scn.tracks:
            if uids & {b["uid"] for b in scn.cal_chain(candidate)}:
                return candidate
    return track


def check_inbox(found: Findings, scn: Scenario, table: Table, now: datetime) -> None:
    for item in table.inbox:
        state = item.get("inbox_state")
        set_aside = state == "FAILED" or bool(item.get("failed_at"))
        if state != "PENDING" and not set_aside:
            continue
        received = parse_time(item.get("received_at")) or now
        track = event_booking(scn, str(item.get("source")), str(item.get("body") or ""))
        name = track.name if track else "-"
        age = (now - received).total_seconds() / 3600
        label = f"{item.get('source')} {item.get('event_type')} received {age:.0f} h ago"
        if not set_aside:
            if now - received > INBOX_DEADLINE:
                error = item.get("last_error")
                found.add("f", name, f"{label} still PENDING after {item.get('attempts')} attempts (last: {error})")
            continue
        found.figures["f.set_aside"] += 1
        if track is None or not track.booking_id:
            continue
        booking = scn.admin_booking(track.booking_id) or {}
        codes = {flag.get("code") for flag in booking.get("flags") or []}
        if "webhook_failed" not in codes:
            found.add(
                "f",
                name,
                f"{label} set aside after {item.get('attempts')} attempts, booking not flagged webhook_failed",
            )


def check_availability(scn: Scenario) -> list[tuple[str, str, str]]:
    """(e), mid-drain: each future slot a closed booking had is offered by GET /availability, unless Cal.com does not
    offer it either, or other live bookings fill it here."""
    from booking.clock import now as product_now

    now = product_now()
    table = Table.read()
    live_seats = table.live_seats(now)
    out: list[tuple[str, str, str]] = []
    for track in scn.tracks:
        row = table.bookings.get(track.booking_id or "", {})
        if row.get("status") not in ("CANCELLED", "EXPIRED"):
            continue
        service = track.service
        starts = {track.start, *(parse_time(b["start"]) for b in scn.cal_chain(track))}
        if row.get("slot_start"):
            starts.add(parse_time(row["slot_start"]))
        for start in sorted(s for s in starts if s is not None):
            if start < now + service.min_notice + timedelta(minutes=10):
                continue
            if not scn.cal_offers(service, start):
                continue  # Cal.com itself does not offer it (someone booked it there)
            holders = [
                s.get("booking_id")
                for s in live_seats
                if seat_event_type(s) == service.event_type and seat_start(s) == start
            ]
            others = [
                h
                for h in holders
                if h != track.booking_id
                and table.bookings.get(h or "", {}).get("status") not in ("CANCELLED", "EXPIRED")
            ]
            if len(others) >= service.capacity:
                continue
            scn.figures["e.slots_checked_in_availability"] += 1
            response = scn.env.api.get(
                "/availability", service_id=service.id, start=start.date().isoformat(), days=1, time_zone="UTC"
            )
            if response.status != 200:
                out.append(("g", track.name, f"GET /availability answered {response.status} with every fault healed"))
                continue
            offered = {
                parse_time(slot["start"]) for day in response.body.get("days", []) for slot in day.get("slots", [])
            }
            if start not in offered:
                mine = [h for h in holders if h == track.booking_id]
                why = "its own seat item is still live" if mine else f"seats held by {holders}"
                out.append(
                    (
                        "e",
                        track.name,
                        f"{row.get('status')}: its slot {start:%m-%d %H:%M} is free in Cal.com but not "
                        f"offered by /availability ({why})",
                    )
                )
    return out


def check_owner_answers(found: Findings, scn: Scenario, track: Track) -> None:
    """(j) What the owner was answered: a clear refusal or a done action, never a 5xx but a provider's outage."""
    cancelled = {str((c.body or {}).get("refund")) for c in owner_cancellations(track)}
    if len(cancelled) > 1:
        found.add("j", track.name, f"the owner was told the booking was cancelled with refunds {sorted(cancelled)}")
    for call in track.owner_calls:
        found.figures["j.answers_checked"] += 1
        if call.status == 502 and scn.figures["faults"]:
            found.figures["j.502_while_a_fault_was_injected"] += 1
        elif call.status not in (200, 409, 422, 503):
            found.add("j", track.name, f"{call.line()} (not 200/409/422/503)")
        answer = call.answer if isinstance(call.answer, dict) else {}
        body = call.body or {}
        if call.action == "refund" and call.status == 422 and body.get("amount"):
            fields = json.dumps(answer.get("error") or {})
            if call.code == "validation_error" and "amount" not in fields:
                found.add("j", track.name, f"{call.line()}: an over-refund's 422 does not name `amount`")
        asked = body.get("amount") if call.action == "refund" and call.status == 200 else None
        if asked and call.repeat_of is None and answer.get("refunded") != asked:
            found.add("j", track.name, f"{call.line()}: asked {asked}, refunded {answer.get('refunded')}")
        first = call.repeat_of
        if first is None or first.status != 200:
            continue
        found.figures["j.repeats_of_a_200_checked"] += 1
        before = first.answer if isinstance(first.answer, dict) else {}
        if call.action == "refund":
            if call.status not in (200, 503):
                found.add("j", track.name, f"{call.line()}: a retry of a refund that was made answered {call.status}")
            elif call.status == 200 and answer.get("refunded") != before.get("refunded"):
                found.add(
                    "j",
                    track.name,
                    f"{call.line()}: the retry refunded {answer.get('refunded')}, the first {before.get('refunded')}",
                )
        if call.action == "collect-balance" and call.status == 200:
            ids = [((a or {}).get("collection") or {}).get("payment_id") for a in (before, answer)]
            if ids[0] != ids[1]:
                found.add("j", track.name, f"{call.line()}: the retry answered payment {ids[1]}, the first {ids[0]}")


def check_later_payments(found: Findings, track: Track, m: Money, row: dict[str, Any]) -> None:
    """(k) The balance and the fees: each paid once, for the right amount, and the booking says so."""
    service = track.service
    balances = [i for i in m.of_purpose("balance") if i.get("status") == "succeeded"]
    offline = [
        p
        for p in row.get("payments") or []
        if p.get("method") == "offline" and p.get("purpose") == "balance" and p.get("status") == "succeeded"
    ]
    paid = [f"{i['id']} {i['amount']}" for i in balances] + [f"offline {p.get('amount')}" for p in offline]
    if len(paid) > 1:
        found.add("k", track.name, f"the balance was paid {len(paid)} times: {paid}")
    if m.of_purpose("balance") and track.payment_type == "full":
        found.add("k", track.name, f"a balance charged to a booking paid in full: {[i['id'] for i in balances]}")
    for fee in FEE_PURPOSES:
        intents = m.of_purpose(fee)
        if len(intents) > 1:
            found.add(
                "k", track.name, f"{len(intents)} {fee} PaymentIntents: {[(i['id'], i['status']) for i in intents]}"
            )
    if m.of_purpose("no_show_fee") and row.get("status") != "NO_SHOW":
        found.add("k", track.name, f"a no-show fee charged to a {row.get('status')} booking")
    first = next((i for i in m.intents if i["id"] == track.pi), None)
    offline_paid = sum(int(p.get("amount") or 0) for p in offline)
    if m.captured + offline_paid - m.returned > service.price:
        kept = [f"{purpose(i) or 'first'} {i['amount']} {i.get('status')}" for i in m.intents]
        found.add(
            "k",
            track.name,
            f"{m.captured + offline_paid - m.returned} kept ({kept}, offline {offline_paid}, returned {m.returned}), "
            f"more than the price {service.price}",
        )
    if paid:
        found.figures["k.balances_checked"] += 1
        due = row.get("balance_due")
        if due is None or int(due) != 0:
            found.add("k", track.name, f"the balance was paid ({paid}) but balance_due is {due}")
        amounts = [int(i["amount"]) for i in balances] + [int(p.get("amount") or 0) for p in offline]
        if first is not None and amounts and amounts[0] != service.price - int(first["amount"]):
            found.add(
                "k",
                track.name,
                f"a balance of {amounts[0]} paid, but the price {service.price} less the first {first['amount']} "
                f"is {service.price - int(first['amount'])}",
            )


def history_moment(row: dict[str, Any], target: str) -> datetime | None:
    """When our booking first moved to `target` (its history), i.e. from when the product knew it."""
    moments = [parse_time(r.get("at")) for r in row.get("history") or [] if r.get("target") == target]
    return min((m for m in moments if m is not None), default=None)


def check_scheduled_balance(
    found: Findings, track: Track, m: Money, row: dict[str, Any], chain: list[dict[str, Any]], now: datetime
) -> None:
    """(l) The balance the schedule charges (`metadata.request` "schedule"): only for a service that schedules it,
    at most once, not before its time (the start less N h, or the meeting's end, on a start Cal.com had by then:
    with a reschedule, the earliest of them), never once the booking was cancelled here or the owner had collected
    it; and, once its time is past and the booking still owes it, charged."""
    service = track.service
    scheduled = [i for i in m.of_purpose("balance") if (i.get("metadata") or {}).get("request") == "schedule"]
    if not service.scheduled_balance or track.payment_type != "deposit":
        if scheduled:
            found.add("l", track.name, f"the schedule charged a balance {[i['id'] for i in scheduled]} it never owed")
        return
    if len(scheduled) > 1:
        found.add("l", track.name, f"the schedule charged the balance {len(scheduled)} times: {scheduled}")
    cancelled_here = history_moment(row, "CANCELLED")
    collected = [
        c
        for c in track.owner_calls
        if c.action == "collect-balance" and c.status == 200 and (c.answer or {}).get("collection")
    ]
    for intent in scheduled:
        created = parse_time(intent.get("created"))
        assert created is not None
        found.figures[f"l.scheduled_balances.{intent.get('status')}"] += 1
        # Stripe's `created` is in whole seconds: a second's slack on every comparison.
        existing = [b for b in chain if (parse_time(b.get("createdAt")) or created) <= created + timedelta(seconds=1)]
        starts = [s for s in (parse_time(b["start"]) for b in existing or chain[:1]) if s is not None] or [track.start]
        if len(chain) > 1:
            found.figures["l.bounds_only.rescheduled"] += 1
        else:
            found.figures["l.time_checked"] += 1
        due = min(d for d in (service.collection_due(s) for s in starts) if d is not None)
        lag = created - due
        bucket = (
            "early" if lag < -timedelta(seconds=1) else "within_10_min" if lag <= timedelta(minutes=10) else "later"
        )
        found.figures[f"l.charged_{bucket}_of_its_time"] += 1
        if created < due - timedelta(seconds=1):
            early = (due - created).total_seconds() / 3600
            found.add(
                "l", track.name, f"the schedule charged {intent['id']} {early:.2f} h before its time {due:%m-%d %H:%M}"
            )
        if cancelled_here is not None and created > cancelled_here + timedelta(seconds=1):
            found.add(
                "l",
                track.name,
                f"the schedule charged {intent['id']} at {created:%m-%d %H:%M:%S}, after the booking was cancelled "
                f"here at {cancelled_here:%m-%d %H:%M:%S}",
            )
        elif track.cancel is not None and created > track.cancel.at:
            found.figures["l.charged_before_the_cancellation_was_known"] += 1
        owner = [c for c in collected if c.at + timedelta(seconds=1) < created]
        if owner:
            found.add("l", track.name, f"the schedule charged {intent['id']} after the owner's {owner[0].line()}")
    start = parse_time(row.get("slot_start"))
    due = service.collection_due(start) if start else None
    offline = [p for p in row.get("payments") or [] if p.get("purpose") == "balance" and p.get("method") == "offline"]
    if due is None or due + timedelta(minutes=10) > now:
        found.figures["l.not_due_by_the_end"] += 1
        return
    if row.get("status") not in ("PAID", "CONFIRMED", "COMPLETED", "NO_SHOW"):
        found.figures[f"l.not_collectable.{row.get('status')}"] += 1
        return
    if m.of_purpose("balance") or offline or int(row.get("balance_due") or 0) <= 0:
        found.figures["l.collected_otherwise" if not scheduled else "l.collected_on_schedule"] += 1
        return
    found.add("l", track.name, f"its balance of {row.get('balance_due')} was due at {due:%m-%d %H:%M}, never charged")


def check_late_fee(
    found: Findings, track: Track, m: Money, row: dict[str, Any], live: dict[str, Any] | None, ledger: Ledger
) -> None:
    """(m) The late-cancellation fee the payment did not cover: only on a late cancellation priced by the policy
    (the client's, or the owner's with refund "policy"; never the host's, never the owner's full or none), at most
    once, for the fee less what was captured before it and paid offline; and charged whenever such a cancellation
    leaves some of the fee uncovered."""
    service = track.service
    fees = m.of_purpose("late_cancel_fee")
    if not service.charge_uncovered_fee:
        if fees:
            found.add("m", track.name, f"a late-cancellation fee {[i['id'] for i in fees]} on a service without one")
        return
    fee_due = deposit_rounding(service.price, service.late_fee_percent)
    # Cash or a terminal payment recorded offline counts toward the fee as well (never in Stripe).
    offline = sum(int(p.get("amount") or 0) for p in row.get("payments") or [] if p.get("method") == "offline")
    for fee in fees:
        found.figures[f"m.fees.{fee.get('status')}"] += 1
        at = ledger.order.get(fee["id"], ledger.end)
        before = sum(
            int(ledger.objects[c].get("amount_captured") or 0)
            for c in m.charges
            if ledger.objects[c].get("payment_intent") != fee["id"] and ledger.order.get(c, ledger.end) < at
        )
        if int(fee["amount"]) != fee_due - before - offline:
            found.add(
                "m",
                track.name,
                f"late-cancellation fee {fee['id']} of {fee['amount']}, but the fee {fee_due} less the {before} "
                f"captured before it and {offline} paid offline is {fee_due - before - offline}",
            )
    window = timedelta(hours=service.free_until_hours)
    by_owner = owner_cancellations(track)
    unanswered = [c for c in track.owner_calls if c.action == "cancel" and c.status not in (200, 409, 422)]
    late: bool | None  # None: either may be right (the product cannot know, or its start was unsettled)
    if live is not None:
        late, why = False, f"its Cal.com booking {live['uid']} is live"
    elif row.get("status") == "NO_SHOW":
        found.figures["m.skipped.owner_marked_no_show"] += 1
        return
    elif not by_owner and unanswered:
        # The owner's cancel got no answer (it may have cancelled, and charged, before a provider failed).
        choices = {str((c.body or {}).get("refund")) for c in unanswered}
        maybe = "policy" in choices or track.cancel is not None
        late, why = (None if maybe else False), f"the owner's unanswered cancel chose {sorted(choices)}"
    elif by_owner:
        first = by_owner[0]
        choice = str((first.body or {}).get("refund"))
        answered = parse_time(((first.answer or {}).get("booking") or {}).get("start"))
        if choice != "policy":
            late, why = False, f"the owner cancelled with refund {choice}"
        elif first.cal_start is None or first.cal_start != answered:
            late, why = None, "the owner cancelled while its start was unsettled"
        else:
            late, why = first.at > first.cal_start - window, "the owner cancelled by policy"
    elif track.cancel is not None:
        cancel = track.cancel
        if cancel.by_host and not (cancel.seated and cancel.webhook_lost):
            late, why = False, "the host cancelled"
        else:
            late = cancel.at > cancel.start - window
            late = None if late and cancel.by_host else late  # an unknown canceller is priced as the client
            why = "the client cancelled" if not cancel.by_host else "a seated booking's canceller is unknown"
    else:
        late, why = False, "it was never cancelled"
    if late is None:
        found.figures["m.skipped.canceller_or_start_unknown"] += 1
        return
    if not late:
        if fees:
            found.add("m", track.name, f"a late-cancellation fee {[i['id'] for i in fees]} though {why}")
        return
    found.figures["m.late_cancellations_checked"] += 1
    uncovered = fee_due - m.captured - offline
    if not fees and row.get("status") == "CANCELLED" and m.charges and uncovered > 0:
        found.add("m", track.name, f"{why} late, {uncovered} of the fee {fee_due} uncovered, and no fee was charged")
