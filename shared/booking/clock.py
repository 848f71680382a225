"""The one clock of the product.

Every rule that depends on time (hold expiry, token expiry, minimum notice, payout hold) reads `now()`.
`LOCAL_CLOCK_OFFSET_SECONDS` moves it forward for the local runner and tests (show the 72 h rule without
waiting); the template never sets it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

CLOCK_OFFSET_ENV = "LOCAL_CLOCK_OFFSET_SECONDS"


def now() -> datetime:
    offset = float(os.environ.get(CLOCK_OFFSET_ENV) or 0)
    return datetime.now(UTC) + timedelta(seconds=offset)


def to_utc(moment: datetime) -> datetime:
    """Aware datetime in UTC without sub-second noise (Cal.com slots are whole minutes)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def iso_z(moment: datetime) -> str:
    """`2026-11-23T17:00:00Z`: the form Cal.com and our keys use for instants (always a 4-digit year)."""
    return to_utc(moment).isoformat().replace("+00:00", "Z")
