"""The HTTP API's routes, as template.yaml declares them (tests/infrastructure/test_template.py keeps both equal).

API Gateway hands a request that matches no route to the `$default` route. Its function needs these to tell a known
path asked with another method (405 with `Allow`) from a path the API does not have (404): booking.http.
"""

from __future__ import annotations

import re
from functools import cache

# (method, path); a {name} is one path segment, as in SAM's HttpApi events.
ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/config"),
        ("GET", "/services"),
        ("GET", "/availability"),
        ("POST", "/payments/create-intent"),
        ("POST", "/bookings/create-token"),
        ("POST", "/bookings/verify"),
        ("POST", "/bookings/rebook"),
        ("POST", "/bookings/pay"),
        ("POST", "/webhooks/stripe"),
        ("POST", "/webhooks/cal"),
        ("GET", "/admin/bookings"),
        ("GET", "/admin/bookings/{booking_id}"),
        ("GET", "/admin/summary"),
        ("GET", "/admin/alerts"),
        ("POST", "/admin/bookings/{booking_id}/refund"),
        ("POST", "/admin/bookings/{booking_id}/cancel"),
        ("POST", "/admin/bookings/{booking_id}/collect-balance"),
        ("POST", "/admin/bookings/{booking_id}/no-show"),
        ("POST", "/admin/bookings/{booking_id}/flags/{code}/resolve"),
    }
)


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple(
        (method, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"))
        for method, path in sorted(ROUTES)
    )


def allowed_methods(path: str) -> list[str]:
    """The methods the API serves at `path` (sorted), none when no route has that path."""
    return sorted({method for method, pattern in _patterns() if pattern.match(path)})
