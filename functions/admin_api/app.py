"""GET /admin/bookings[/{booking_id}], /admin/summary, /admin/alerts: the owner's view of bookings, payments, flags
and history, the totals of a filtered range, the alerts sent to the owner (orphan payments included), and
GET /admin/promo-codes (the promo codes with their uses).

Behind the HttpApi's JWT authorizer (a Cognito access token); owners and staff may read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from booking.clock import now as clock_now
from booking.domain.lifecycle import BookingStatus
from booking.flows import blocked_dates, packages
from booking.http import Path, Query, Response, api_handler, content_types, create_app, responses
from booking.owner import auth, promos
from booking.owner import views as owner
from booking.reports import views as reports
from booking.waitlist import views as waitlist

app = create_app()

# The filters GET /admin/bookings and GET /admin/summary share: the summary totals exactly what the list pages through.
StatusFilter = Annotated[BookingStatus | None, Query()]
FlaggedFilter = Annotated[bool, Query(description="Only bookings with open flags")]
BalanceDueFilter = Annotated[bool, Query(description="Only bookings whose balance is still to collect")]
FromFilter = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description="Bookings starting at or after: ISO date or date-time (UTC if no offset)",
    ),
]
ToFilter = Annotated[
    str | None,
    Query(
        alias="to",
        max_length=40,
        description="...and before: a date includes its whole day; at most 366 days after `from`",
    ),
]


@app.get(
    "/admin/bookings",
    summary="Bookings in start order: by status, flagged, with a balance due, in a date range; a page at a time",
    tags=["admin"],
    responses=responses(200, "A page of bookings with payment state, and the cursor of the next page", 401, 403, 422),
)
def list_bookings(
    status: StatusFilter = None,
    flagged: FlaggedFilter = False,
    balance_due: BalanceDueFilter = False,
    start_from: FromFilter = None,
    start_to: ToFilter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page, unchanged")
    ] = None,
) -> owner.OwnerBookings:
    auth.require(app.current_event, "staff")
    return owner.bookings(
        status, flagged, limit, balance_due=balance_due, start_from=start_from, start_to=start_to, cursor=cursor
    )


@app.get(
    "/admin/summary",
    summary="Totals of the bookings GET /admin/bookings would list with the same filters: count, money, by status",
    tags=["admin"],
    responses=responses(200, "Counts and money totals of the filtered bookings", 401, 403, 422),
)
def summary(
    status: StatusFilter = None,
    flagged: FlaggedFilter = False,
    balance_due: BalanceDueFilter = False,
    start_from: FromFilter = None,
    start_to: ToFilter = None,
) -> owner.OwnerSummary:
    auth.require(app.current_event, "staff")
    return owner.summary(status, flagged, balance_due=balance_due, start_from=start_from, start_to=start_to)


@app.get(
    "/admin/alerts",
    summary="What the owner was alerted about (orphan payments, flags, webhooks set aside), newest first",
    tags=["admin"],
    responses=responses(200, "A page of alerts, and the cursor of the next page", 401, 403, 422),
)
def list_alerts(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page, unchanged")
    ] = None,
) -> owner.OwnerAlerts:
    auth.require(app.current_event, "staff")
    return owner.alerts(limit, cursor)


@app.get(
    "/admin/bookings/<booking_id>",
    summary="One booking: payment, refunds, flags and its whole history",
    tags=["admin"],
    responses=responses(200, "The booking", 401, 403, 404, 422),
)
def get_booking(booking_id: Annotated[str, Path(pattern=r"^bk_[0-9a-f]{24}$")]) -> owner.OwnerBooking:
    auth.require(app.current_event, "staff")
    return owner.booking(booking_id)


@app.get(
    "/admin/bookings/<booking_id>/messages",
    summary="What the client was or will be told about one booking: each message, its channel and status",
    tags=["admin"],
    responses=responses(200, "The booking's messages, oldest first", 401, 403, 404, 422),
)
def get_booking_messages(booking_id: Annotated[str, Path(pattern=r"^bk_[0-9a-f]{24}$")]) -> owner.OwnerMessages:
    auth.require(app.current_event, "staff")
    return owner.booking_messages(booking_id)


@app.get(
    "/admin/promo-codes",
    summary="Every promo code with its uses taken and remaining",
    tags=["admin"],
    responses=responses(200, "The promo codes, in code order", 401, 403),
)
def list_promo_codes() -> promos.PromoCodes:
    auth.require(app.current_event, "staff")
    return promos.list_codes()


@app.get(
    "/admin/packages",
    summary="Packages clients bought, newest first: credits used, money refunded; a page at a time",
    tags=["admin"],
    responses=responses(200, "A page of packages, and the cursor of the next page", 401, 403, 422),
)
def list_packages(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page, unchanged")
    ] = None,
) -> packages.OwnerPackages:
    auth.require(app.current_event, "staff")
    return packages.owner_list(limit, cursor)


@app.get(
    "/admin/packages/<package_id>",
    summary="One package: buyer, credits, the bookings they paid for, refunds and history",
    tags=["admin"],
    responses=responses(200, "The package", 401, 403, 404, 422),
)
def get_package(package_id: Annotated[str, Path(pattern=r"^pkg_[0-9a-f]{24}$")]) -> packages.OwnerPackage:
    auth.require(app.current_event, "staff")
    return packages.owner_view(package_id)


@app.get(
    "/admin/blocked-dates",
    summary="Blocked dates, each with what blocking them did (bookings moved, cancelled, not decided yet)",
    tags=["admin"],
    responses=responses(200, "Every block, by first date", 401, 403),
)
def list_blocked_dates() -> blocked_dates.BlockedDates:
    auth.require(app.current_event, "staff")
    return blocked_dates.list_blocked()


@app.get(
    "/admin/waitlist",
    summary="A waitlist service's lines: who waits for which slot, in order, and the offers made (with pay links)",
    tags=["admin"],
    responses=responses(200, "The slots with a line, each with its entries in line order", 401, 403, 422),
)
def list_waitlist(
    service_id: Annotated[str, Query(min_length=1, max_length=64)],
    start_from: Annotated[
        str | None, Query(alias="from", max_length=40, description="Slots starting at or after (default: now)")
    ] = None,
    start_to: Annotated[
        str | None, Query(alias="to", max_length=40, description="...and before; a date includes its whole day")
    ] = None,
) -> waitlist.OwnerWaitlist:
    auth.require(app.current_event, "staff")
    return waitlist.owner_lines(service_id, start_from, start_to, clock_now())


@app.get(
    "/admin/reports",
    summary="Per service and per day or ISO week: bookings by status, money collected and refunded, rates, webhooks",
    tags=["admin"],
    responses=responses(200, "The report (JSON), or its rows as text/csv (format=csv or Accept)", 401, 403, 422),
)
def get_reports(
    start_from: Annotated[
        str | None, Query(alias="from", max_length=10, description="First day (yyyy-mm-dd, business time zone)")
    ] = None,
    start_to: Annotated[
        str | None, Query(alias="to", max_length=10, description=f"Last day, included; {reports.MAX_DAYS} days at most")
    ] = None,
    service_id: Annotated[str | None, Query(max_length=64, description="One service (default: each)")] = None,
    group: reports.Group = "day",
    format: Annotated[Literal["json", "csv"] | None, Query(description="csv: the rows as text/csv")] = None,
) -> Response[reports.Report | str]:
    auth.require(app.current_event, "staff")
    found = reports.report(start_from, start_to, service_id, group)
    if format == "csv" or (format is None and "text/csv" in (app.current_event.headers.get("accept") or "")):
        name = f"report-{found.from_date}-{found.to_date}-{group}.csv"
        return Response(
            status_code=200,
            content_type="text/csv; charset=utf-8",
            body=reports.as_csv(found),
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


lambda_handler = api_handler(app)
