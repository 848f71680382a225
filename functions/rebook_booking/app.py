"""POST /bookings/rebook: another time on the same payment after the booking's slot was lost."""

from __future__ import annotations

from booking.api_models import RebookRequest
from booking.flows.manage import with_manage_link
from booking.flows.rebook import Rebooked, rebook
from booking.http import api_handler, create_app, responses

app = create_app()


@app.post(
    "/bookings/rebook",
    summary="Move a booking whose slot was lost to another time, on the same payment (safe to call again)",
    tags=["bookings"],
    responses=responses(
        200, "The booking at its new time: confirmed, or confirmation pending", 400, 404, 409, 422, 502, 503
    ),
)
def rebook_booking(body: RebookRequest) -> Rebooked:
    return with_manage_link(rebook(body.token, body.start))


lambda_handler = api_handler(app)
