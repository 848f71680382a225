"""Fixed-window request counters (RateItem): one conditional UpdateItem per request, nothing written past the limit.

A window is `window` long and starts on a multiple of it since the epoch, so every container counts into the same
item without coordinating. The counter is incremented only while it is below the limit: a refused request
leaves the table as it was. Items expire (TTL) a window after theirs ends.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from booking.clock import iso_z
from booking.dal.items import RateItem


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    return datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, UTC)


def count_request(scope: str, key: str, *, limit: int, window: timedelta, now: datetime) -> int | None:
    """Count one request of `key` in `scope`. None when it is within the limit, else the whole seconds (at least 1)
    until the current window ends and the key may ask again."""
    start = window_start(now, window)
    end = start + window
    item = RateItem(f"RATE#{scope}#{key}", iso_z(start))
    try:
        item.update(
            actions=[RateItem.count.add(1), RateItem.expires_ttl.set(end + window)],
            condition=RateItem.count.does_not_exist() | (RateItem.count < limit),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return max(1, math.ceil((end - now).total_seconds()))
    return None
