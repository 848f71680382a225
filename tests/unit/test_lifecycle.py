"""The booking life cycle (DESIGN.md §4): the only transitions allowed, and nothing leaves a terminal state."""

from __future__ import annotations

import itertools

import pytest

from booking.domain.lifecycle import ALLOWED_TRANSITIONS, BookingStatus, IllegalTransition, check_transition, sources_of

S = BookingStatus

# The specification, written out independently of the product's table.
EXPECTED: dict[BookingStatus, set[BookingStatus]] = {
    S.HELD: {S.PAID, S.EXPIRED, S.CANCELLED, S.SLOT_UNAVAILABLE},
    S.EXPIRED: {S.PAID, S.SLOT_UNAVAILABLE},  # a late payment takes the slot again or loses it
    S.PAID: {S.CONFIRMED, S.SLOT_UNAVAILABLE, S.CANCELLED},
    S.CONFIRMED: {S.COMPLETED, S.CANCELLED, S.NO_SHOW},
    S.SLOT_UNAVAILABLE: {S.PAID, S.CONFIRMED, S.CANCELLED},  # rebook with the same payment, or refund/cancel
    S.COMPLETED: {S.NO_SHOW},  # Cal.com ends every meeting; the owner may still say the client never came
    S.NO_SHOW: set(),
    S.CANCELLED: set(),
}
ALLOWED_PAIRS = [(source, target) for source, targets in EXPECTED.items() for target in sorted(targets)]
FORBIDDEN_PAIRS = [
    (source, target)
    for source, target in itertools.product(BookingStatus, BookingStatus)
    if target not in EXPECTED[source]
]


def test_every_status_has_a_row_in_the_transition_table() -> None:
    # Given the life cycle's statuses / Then each one has a row: the seven of DESIGN.md §4 and NO_SHOW (seed 002)
    assert set(ALLOWED_TRANSITIONS) == set(BookingStatus)
    assert {status.value for status in BookingStatus} == {
        "HELD",
        "PAID",
        "CONFIRMED",
        "COMPLETED",
        "EXPIRED",
        "SLOT_UNAVAILABLE",
        "CANCELLED",
        "NO_SHOW",
    }


def test_transition_table_is_exactly_the_specified_one() -> None:
    # Given the product's table / Then it allows exactly the specified transitions, no more, no less
    assert {source: set(targets) for source, targets in ALLOWED_TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("source", "target"), ALLOWED_PAIRS, ids=lambda s: s.value)
def test_allowed_transition_passes(source: BookingStatus, target: BookingStatus) -> None:
    # Given an allowed move / When checked / Then no error
    check_transition(source, target)


@pytest.mark.parametrize(("source", "target"), FORBIDDEN_PAIRS, ids=lambda s: s.value)
def test_forbidden_transition_raises_illegal_transition(source: BookingStatus, target: BookingStatus) -> None:
    # Given a move the life cycle does not have / When checked / Then IllegalTransition names both states
    with pytest.raises(IllegalTransition, match=f"{source}.*{target}"):
        check_transition(source, target)


def test_held_to_paid_is_allowed() -> None:
    check_transition(S.HELD, S.PAID)


def test_confirmed_back_to_held_raises() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(S.CONFIRMED, S.HELD)


def test_paid_booking_never_expires() -> None:
    # Given money was taken / Then the hold-expiry exit is closed (the slot is kept for good)
    with pytest.raises(IllegalTransition):
        check_transition(S.PAID, S.EXPIRED)


def test_held_booking_cannot_be_confirmed_without_payment() -> None:
    with pytest.raises(IllegalTransition):
        check_transition(S.HELD, S.CONFIRMED)


@pytest.mark.parametrize("terminal", [S.NO_SHOW, S.CANCELLED], ids=lambda s: s.value)
def test_terminal_states_have_no_exits(terminal: BookingStatus) -> None:
    # Given a terminal state / Then it has no transitions out, not even to itself
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()
    for target in BookingStatus:
        with pytest.raises(IllegalTransition):
            check_transition(terminal, target)


def test_no_status_transitions_to_itself() -> None:
    # A repeated event must not look like a transition (it would write a second history line)
    for status in BookingStatus:
        with pytest.raises(IllegalTransition):
            check_transition(status, status)


def test_held_is_only_ever_the_first_state() -> None:
    # Given the table / Then nothing leads back into HELD (holds are created, never re-entered)
    assert sources_of(S.HELD) == frozenset()


def test_sources_of_confirmed_are_paid_and_slot_unavailable() -> None:
    assert sources_of(S.CONFIRMED) == frozenset({S.PAID, S.SLOT_UNAVAILABLE})
