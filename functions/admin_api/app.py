"""GET /admin/bookings[/{booking_id}]: the owner's view of bookings, payments, flags and history."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from booking.domain.lifecycle import BookingStatus
from booking.http import api_handler, create_app, responses
from booking.owner import views as owner

app = create_app()


@app.get(
    "/admin/bookings",
    summary="Bookings by status, or those flagged for the owner",
    tags=["admin"],
    responses=responses(200, "Bookings with payment state", 401, 422),
)
def list_bookings(
    status: Annotated[BookingStatus | None, Query()] = None,
    flagged: Annotated[bool, Query(description="Only bookings with open flags")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> owner.OwnerBookings:
    owner.authorize(app.current_event.headers.get("authorization"))
    return owner.bookings(status, flagged, limit)


@app.get(
    "/admin/bookings/<booking_id>",
    summary="One booking: payment, refunds, flags and its whole history",
    tags=["admin"],
    responses=responses(200, "The booking", 401, 404, 422),
)
def get_booking(booking_id: Annotated[str, Path(pattern=r"^bk_[0-9a-f]{24}$")]) -> owner.OwnerBooking:
    owner.authorize(app.current_event.headers.get("authorization"))
    return owner.booking(booking_id)


lambda_handler = api_handler(app)
