"""Package rules (domain/policy.py): when a cancelled session's credit goes back, and the refund of unused credits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.catalog import CancellationPolicy
from booking.domain.policy import package_credit_returned, package_refund_share

START = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
FREE_24H = CancellationPolicy(free_until_hours=24, late_fee_percent=50)


@pytest.mark.parametrize(
    ("hours_ahead", "by_business", "returned"),
    [
        pytest.param(48, False, True, id="client, well ahead"),
        pytest.param(24, False, True, id="client, at the window's edge"),
        pytest.param(23.9, False, False, id="client, inside 24 h"),
        pytest.param(-1, False, False, id="client, after the start"),
        pytest.param(1, True, True, id="business, late"),
    ],
)
def test_a_credit_goes_back_inside_the_free_window_or_when_the_business_cancels(
    hours_ahead: float, by_business: bool, returned: bool
) -> None:
    cancelled_at = START - timedelta(hours=hours_ahead)
    assert (
        package_credit_returned(slot_start=START, cancelled_at=cancelled_at, by_business=by_business, policy=FREE_24H)
        is returned
    )


def test_the_seed_package_refunds_two_thirds_rounded_down_after_one_session() -> None:
    assert package_refund_share(price=50000, sessions=3, credits_used=1) == 33333
    assert package_refund_share(price=50000, sessions=3, credits_used=0) == 50000
    assert package_refund_share(price=50000, sessions=3, credits_used=3) == 0


@given(price=st.integers(0, 10**7), sessions=st.integers(1, 100), used=st.integers(0, 120))
def test_the_share_is_never_more_than_the_unused_part_and_loses_less_than_a_minor_unit(
    price: int, sessions: int, used: int
) -> None:
    share = package_refund_share(price=price, sessions=sessions, credits_used=used)
    unused = max(sessions - used, 0)
    assert 0 <= share * sessions <= price * unused < (share + 1) * sessions
