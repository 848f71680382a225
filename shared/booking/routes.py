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
        ("GET", "/availability/series"),
        ("GET", "/promo/{code}"),
        ("POST", "/payments/create-intent"),
        ("POST", "/bookings/create-token"),
        ("POST", "/bookings/verify"),
        ("POST", "/bookings/rebook"),
        ("POST", "/bookings/pay"),
        ("POST", "/webhooks/stripe"),
        ("POST", "/webhooks/cal"),
        ("GET", "/admin/bookings"),
        ("GET", "/admin/bookings/{booking_id}"),
        ("GET", "/admin/bookings/{booking_id}/messages"),
        ("GET", "/admin/summary"),
        ("GET", "/admin/alerts"),
        ("POST", "/admin/bookings/{booking_id}/refund"),
        ("POST", "/admin/bookings/{booking_id}/cancel"),
        ("POST", "/admin/bookings/{booking_id}/collect-balance"),
        ("POST", "/admin/bookings/{booking_id}/no-show"),
        ("POST", "/admin/bookings/{booking_id}/flags/{code}/resolve"),
        ("POST", "/bookings/manage"),
        ("POST", "/bookings/manage/cancel"),
        ("POST", "/bookings/manage/reschedule"),
        ("POST", "/bookings/manage/party"),
        ("POST", "/bookings/manage/party/cancel"),
        ("POST", "/bookings/manage/series"),
        ("POST", "/bookings/manage/series/cancel"),
        ("POST", "/admin/bookings/{booking_id}/manage-link/revoke"),
        ("POST", "/packages/purchase"),
        ("GET", "/packages/{package_id}"),
        ("GET", "/admin/packages"),
        ("GET", "/admin/packages/{package_id}"),
        ("POST", "/admin/packages/{package_id}/refund"),
        ("GET", "/admin/promo-codes"),
        ("POST", "/admin/promo-codes"),
        ("POST", "/admin/promo-codes/{code}/deactivate"),
        ("GET", "/admin/blocked-dates"),
        ("POST", "/admin/blocked-dates"),
        ("DELETE", "/admin/blocked-dates/{block_id}"),
        ("GET", "/admin/reports"),
        ("POST", "/waitlist"),
        ("DELETE", "/waitlist/{entry_id}"),
        ("GET", "/admin/waitlist"),
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
