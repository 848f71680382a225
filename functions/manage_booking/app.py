"""POST /bookings/manage[/cancel|/reschedule]: the client's own booking through its manage link (flows/manage.py)."""

from __future__ import annotations

from booking.flows import manage
from booking.flows.manage import ManageRequest, ManageView, RescheduleRequest
from booking.http import api_handler, create_app, responses

app = create_app()


@app.post(
    "/bookings/manage",
    summary="The client's booking, and what cancelling or moving it now would cost",
    tags=["bookings"],
    responses=responses(200, "The booking with its cancellation and reschedule terms", 400, 404, 410, 422, 503),
)
def show(body: ManageRequest) -> ManageView:
    return manage.view(body.token)


@app.post(
    "/bookings/manage/cancel",
    summary="Cancel the booking (in Cal.com too); refund by the service's policy",
    tags=["bookings"],
    responses=responses(200, "The booking after cancelling", 400, 404, 409, 410, 422, 502, 503),
)
def cancel(body: ManageRequest) -> ManageView:
    return manage.cancel(body.token)


@app.post(
    "/bookings/manage/reschedule",
    summary="Move the booking to another free time on the same payment (a late move charges the service's fee)",
    tags=["bookings"],
    responses=responses(200, "The booking at its new time", 400, 404, 409, 410, 422, 502, 503),
)
def reschedule(body: RescheduleRequest) -> ManageView:
    return manage.reschedule(body.token, body.start)


lambda_handler = api_handler(app)
