"""Group bookings (seed 004): one client pays for a party of `participants` seats of a seated service.

- Booking: create-intent's `participants` (1..the service's party limit, and the seats left: the hold takes them
  all in one transaction, `intents.hold_seats`) and `party`, the other members by name (an email optional), at
  most participants - 1 of them: the payer is the first attendee. The price is per seat, at the group rate the
  party qualifies for (`domain/pricing.py`).
- Cal.com: the service is a seated event type; the payer's seat is made at confirmation (`flows/confirmation.py`),
  then each member with an email gets a seat of the same Cal.com booking (POST /v2/bookings at its start). Cal.com
  is given the address CLIENT_EMAILS says (`cal_attendee_email`): with our emails replacing Cal.com's, a relay
  address of the booking per member (`bookings+<booking id>-<member key>@...`). A seat carries `party_of` (our
  booking id) and `participant` (the member's key, from their email) in its metadata, never `booking_id`, so it is
  not taken for the payer's seat; a retry looks for those seats first, and Cal.com refuses a second seat for one
  email at one start anyway (`already_signed_up_for_this_booking_error`), so a member is seated once.
- Manage link: the payer names, renames or re-addresses members later (`POST /bookings/manage/party`); a member
  added to a confirmed booking is seated at once, one removed (or re-addressed) gives their Cal.com seat back.
- Cancelling some of the party (`POST /bookings/manage/party/cancel`, `seats` and the members `leaving`; never the
  payer, whose seat goes with the whole booking): under the booking's money lease, on what Stripe says was paid, the
  cancelled seats' share goes by the cancellation policy; their seats are freed in the same transaction as the
  booking's new party, price and shares; the refund is made by the money machinery (`settle`, `ledger.owed_refund`
  with purpose `party_cancellation`), and their Cal.com seats are cancelled.

Shares, documented once: of k seats out of the party's P, the share of an amount A is A x k / P rounded down; the
odd minor units stay with the seats that remain (the payer's), as a deposit rounds for the business. The amounts
shared are the booking's total (the price of the seats that remain), its balance still due, and what was paid
net of everything already returned (refunds of ours or the Stripe Dashboard's, a lost dispute) and of the seats
cancelled before: a Dashboard refund is spread over every seat. The paid share is priced by `cancellation_terms`
against the price share: refunded in full until `free_until_hours` before the start, later less
`late_fee_percent` of the price share (a partial cancellation never charges the card for a fee the paid share does
not cover). The booking keeps what was kept and refunded for them (`party_fees_kept`, `party_refunds_due`), so a
later cancellation of the whole booking refunds only the remaining seats' share (`ledger.cancellation_of`).

A party below a group rate's minimum after a cancellation keeps the price per seat it was booked at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from booking.api_models import LinkToken, PartyMemberIn, RequestBody
from booking.clock import now as clock_now
from booking.dal import bookings as store
from booking.domain.catalog import Service, get_catalog
from booking.domain.lifecycle import BookingStatus
from booking.domain.models import Booking, Participant, member_key
from booking.domain.policy import cancellation_terms
from booking.errors import Conflict, InvalidRequest
from booking.money import collections
from booking.money.ledger import PARTY_REFUND_PURPOSE, Held, Ledger, owed_now, under_money_lease
from booking.money.settlement import settle
from booking.observability import logger, metrics
from booking.owner.alerts import flag
from booking.providers.calcom import (
    CalBooking,
    CalClient,
    CalendarDown,
    CalendarRejected,
    CalendarSlotTaken,
    NewCalBooking,
    calendar,
)

S = BookingStatus
PARTY_OF = "party_of"  # a member's seat metadata: our booking id (never "booking_id": that names the payer's seat)
PARTICIPANT = "participant"  # a member's seat metadata: the member's key


class PartyChange(RequestBody):
    token: LinkToken = Field(description="The token of the manage link (the confirmation's manage_url)")
    party: list[PartyMemberIn] = Field(max_length=49, description="The party's members besides the payer, as now")


class SeatsCancellation(RequestBody):
    token: LinkToken = Field(description="The token of the manage link (the confirmation's manage_url)")
    seats: int = Field(ge=1, le=49, description="How many of the party's seats to cancel (never the payer's own)")
    leaving: list[str] = Field(
        default_factory=list,
        max_length=49,
        description="The named members who leave (name or email); the other seats cancelled are unnamed ones",
    )


# --- booking -------------------------------------------------------------------------------------------------


def check_party(service: Service, participants: int, party: list[Participant], payer_email: str) -> None:
    """Refuse a party the service cannot take (422 naming the field); the seats left are the hold's to decide."""
    if participants > 1 and service.capacity == 1:
        raise InvalidRequest(
            f"{service.name} is one-to-one: one participant per booking.", fields={"participants": "one-to-one"}
        )
    if participants > service.party_limit:
        raise InvalidRequest(
            f"{service.name} takes at most {service.party_limit} participants per booking.",
            fields={"participants": f"at most {service.party_limit}"},
        )
    check_members(party, participants, payer_email)


def check_members(party: list[Participant], participants: int, payer_email: str) -> None:
    if len(party) > participants - 1:
        raise InvalidRequest(
            f"A party of {participants} names at most {participants - 1} others (the payer is the first attendee).",
            fields={"party": f"at most {participants - 1} members"},
        )
    emails = [member.email.lower() for member in party if member.email]
    if len(set(emails)) != len(emails) or payer_email.lower() in emails:
        raise InvalidRequest(
            "Each member needs their own email address (or none), not the payer's or another member's.",
            fields={"party": "duplicate email"},
        )


# --- Cal.com seats -------------------------------------------------------------------------------------------


def seat_party(booking: Booking, *, actor: str) -> Booking:
    """Give each named member with an email a seat of the booking's Cal.com booking (a CONFIRMED booking only), once.
    A failure is flagged for the owner and left for the next change of the party; the booking stays confirmed."""
    waiting = [member for member in booking.party if member.email and not member.cal_seat_uid]
    if not waiting or booking.status != S.CONFIRMED or not booking.cal_booking_uid:
        return booking
    cal = calendar()
    placed: dict[str, str] = {}
    try:
        seated = _member_seats(cal, booking)
        for member in waiting:
            assert member.email is not None
            key = member_key(member.email)
            uid = seated.get(key)
            if uid is None:
                uid = _new_seat(cal, booking, member, key)
            placed[key] = uid
    except (CalendarDown, CalendarRejected, CalendarSlotTaken) as exc:
        logger.warning("a party member's Cal.com seat was not made", extra={"error": str(exc)})
        flag(booking, "party_not_in_calendar", f"a member of the party has no Cal.com seat yet: {exc}")
    return _record_seats(booking.booking_id, placed, actor=actor) if placed else booking


def _member_seats(cal: CalClient, booking: Booking) -> dict[str, str]:
    """The members' live seats of the booking's Cal.com booking, by member key (its host view lists them all)."""
    assert booking.cal_booking_uid is not None
    found: CalBooking = cal.get_booking(booking.cal_booking_uid)
    return {
        str(attendee.metadata.get(PARTICIPANT)): attendee.seat_uid
        for attendee in found.attendees
        if attendee.seat_uid and str(attendee.metadata.get(PARTY_OF)) == booking.booking_id
    }


def _new_seat(cal: CalClient, booking: Booking, member: Participant, key: str) -> str:
    assert member.email is not None
    request = NewCalBooking(
        event_type_id=booking.event_type_id,
        start=booking.slot_start,
        attendee_name=member.name,
        attendee_email=member.email,
        attendee_time_zone=booking.attendee.time_zone,
        metadata={PARTY_OF: booking.booking_id, PARTICIPANT: key},
        relay_id=f"{booking.booking_id}-{key}",
    )
    try:
        created = cal.create_booking(request)
    except (CalendarSlotTaken, CalendarDown):
        # Signed up already (an earlier attempt landed) or ambiguous: the seat is ours if Cal.com lists it.
        uid = _member_seats(cal, booking).get(key)
        if uid is None:
            raise
        return uid
    assert created.seat_uid is not None
    metrics.add_metric(name="PartyMemberSeated", unit="Count", value=1)
    return created.seat_uid


def _record_seats(booking_id: str, placed: dict[str, str], *, actor: str) -> Booking:
    """Write the members' seat uids on the booking as it is now (a change of the party may have landed since)."""
    for _ in range(store.MAX_OPTIMISTIC_ATTEMPTS):
        current = store.get_booking(booking_id)
        if current is None:
            raise store.StaleBooking(booking_id)
        party = [
            member.model_copy(update={"cal_seat_uid": placed[member_key(member.email)]})
            if member.email and not member.cal_seat_uid and member_key(member.email) in placed
            else member
            for member in current.party
        ]
        if party == current.party:
            return current
        names = ", ".join(m.name for m, before in zip(party, current.party, strict=True) if m != before)
        try:
            return store.save_party(current, party, actor=actor, reason=f"Cal.com seats for {names}", now=clock_now())
        except store.StaleBooking:
            continue
    raise store.StaleBooking(booking_id)


def give_back_seats(booking: Booking, members: list[Participant], reason: str) -> None:
    """Cancel these members' Cal.com seats (a seat already gone is fine); a failure is flagged for the owner."""
    seats = [member for member in members if member.cal_seat_uid]
    if not seats or not booking.cal_booking_uid:
        return
    cal = calendar()
    for member in seats:
        try:
            cal.cancel_booking(booking.cal_booking_uid, reason, seat_uid=member.cal_seat_uid)
        except CalendarRejected as exc:
            if "seatuid" not in exc.message.lower():  # "Invalid seatUid": cancelled already
                flag(booking, "party_seat_not_cancelled", f"{member.name}'s Cal.com seat: {exc.message}")
        except CalendarDown as exc:
            flag(booking, "party_seat_not_cancelled", f"{member.name}'s Cal.com seat {member.cal_seat_uid}: {exc}")


# --- the payer's changes through the manage link -------------------------------------------------------------


def change_party(booking: Booking, members: list[Participant]) -> Booking:
    """The party's members as the payer names them now. A member keeps their Cal.com seat while their email is the
    same; a new one (confirmed booking) is seated; one removed or re-addressed gives their seat back."""
    check_members(members, booking.participants, booking.attendee.email)
    seats = {member.email.lower(): member.cal_seat_uid for member in booking.party if member.email}
    party = [
        member.model_copy(update={"cal_seat_uid": seats.get(member.email.lower()) if member.email else None})
        for member in members
    ]
    kept = {member.cal_seat_uid for member in party if member.cal_seat_uid}
    gone = [member for member in booking.party if member.cal_seat_uid and member.cal_seat_uid not in kept]
    named = ", ".join(member.name for member in party) or "nobody"
    try:
        changed = store.save_party(
            booking, party, actor="client", reason=f"party named through the manage link: {named}", now=clock_now()
        )
    except store.StaleBooking:
        raise Conflict("The booking changed meanwhile; look at it again.", booking_id=booking.booking_id) from None
    metrics.add_metric(name="PartyChanged", unit="Count", value=1)
    give_back_seats(changed, gone, "no longer in the party")
    return seat_party(changed, actor="client")


def cancel_seats(
    booking: Booking,
    seats: int,
    leaving: list[str],
    *,
    actor: str = "client",
    why: str = "cancelled by the party's payer",
) -> Booking:
    """Cancel `seats` of the party (the `leaving` members and unnamed seats), refund their share by the policy (a
    member cancelling their own seat in Cal.com is the client's cancellation too: `actor` "cal.com")."""
    members = _leaving(booking, seats, leaving)
    service = get_catalog().service(booking.service_id)
    now = clock_now()
    decided: list[Booking] = []

    def decide(held: Held) -> dict[str, Any]:
        if (held.booking.status, held.booking.participants, held.booking.party) != (
            booking.status,
            booking.participants,
            booking.party,
        ):
            raise Conflict("The booking changed meanwhile; look at it again.", booking_id=booking.booking_id)
        ledger = collections.read(held)
        current = held.booking
        fields, reason = _shares(current, ledger, service, seats, members, now)
        freed = current.seats[len(current.seats) - seats :]  # the party's last seats, never the payer's first
        held.booking = store.release_party_seats(
            current, freed, holder=held.holder, actor=actor, reason=reason, now=now, fields=fields
        )
        decided.append(held.booking)
        return {}

    under_money_lease(booking.booking_id, decide)
    metrics.add_metric(name="PartySeatsCancelled", unit="Count", value=seats)
    after = decided[-1]
    give_back_seats(after, members, why)
    return settle(after)


def _leaving(booking: Booking, seats: int, leaving: list[str]) -> list[Participant]:
    """The named members who leave; 422 naming the field when the request does not fit the party."""
    if seats > booking.participants - 1:
        raise InvalidRequest(
            f"The party has {booking.participants - 1} seats besides yours; cancel the booking to cancel them all.",
            fields={"seats": f"at most {booking.participants - 1}"},
        )
    members: list[Participant] = []
    for given in leaving:
        wanted = given.strip().lower()
        matches = [m for m in booking.party if wanted in (m.name.lower(), (m.email or "").lower())]
        if len(matches) != 1 or matches[0] in members:
            raise InvalidRequest(f"{given!r} names no one member of the party.", fields={"leaving": "unknown member"})
        members.append(matches[0])
    unnamed = booking.participants - 1 - len(booking.party)
    if len(members) > seats or seats - len(members) > unnamed:
        raise InvalidRequest(
            f"{seats} seats cancelled: name who leaves among the party's {len(booking.party)} named members "
            f"({unnamed} seats are unnamed).",
            fields={"leaving": f"{seats - unnamed} to {seats} members"},
        )
    return members


def _shares(
    booking: Booking, ledger: Ledger, service: Service, seats: int, members: list[Participant], now: datetime
) -> tuple[dict[str, Any], str]:
    """The booking's fields after `seats` of its party cancel now, and the history's reason (module docstring)."""
    party_refunded = sum(r.amount for r in ledger.refunds if r.counts and r.purpose == PARTY_REFUND_PURPOSE)
    returned_otherwise = ledger.returned - party_refunded
    released = booking.party_fees_kept + booking.party_refunds_due
    paid = max(ledger.captured - ledger.reschedule_fees - returned_otherwise - released, 0)
    size = booking.participants
    paid_share, price_share = paid * seats // size, booking.total * seats // size
    balance_share = booking.balance_due * seats // size
    terms = cancellation_terms(
        amount_paid=paid_share,
        total=price_share,
        slot_start=booking.slot_start,
        cancelled_at=now,
        by_business=False,
        policy=service.cancellation,
    )
    fields: dict[str, Any] = {
        "participants": size - seats,
        "extra_seat_numbers": booking.extra_seat_numbers[: len(booking.extra_seat_numbers) - seats],
        "party": [member for member in booking.party if member not in members],
        "total": booking.total - price_share,
        "balance_due": booking.balance_due - balance_share,
        "party_fees_kept": booking.party_fees_kept + terms.fee,
        "party_refunds_due": booking.party_refunds_due + terms.refund,
    }
    if terms.refund:
        fields |= owed_now()  # refunded by `settle` next; if this worker dies first, by the money sweep
    who = ", ".join([m.name for m in members] + ([f"{seats - len(members)} unnamed"] if seats > len(members) else []))
    reason = (
        f"{seats} of {size} seats cancelled by the client through the manage link ({who}): their share "
        f"{paid_share} of {paid} paid, {price_share} of the price; {terms.reason}; refund {terms.refund}, "
        f"kept {terms.fee}"
    )
    return fields, reason
