"""POST /bookings/manage[/cancel|/reschedule|/party[/cancel]]: the client's own booking through its manage link
(flows/manage.py; a group booking's party: flows/party.py)."""

from __future__ import annotations

from booking.flows import manage, series
from booking.flows.manage import ManageRequest, ManageView, RescheduleRequest
from booking.flows.party import PartyChange, SeatsCancellation
from booking.flows.series import SeriesCancelRequest, SeriesView
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


@app.post(
    "/bookings/manage/party",
    summary="Name, rename or re-address the party's members (a group booking); each with an email gets a seat",
    tags=["bookings"],
    responses=responses(200, "The booking with its party as now", 400, 404, 409, 410, 422, 502, 503),
)
def change_party(body: PartyChange) -> ManageView:
    return manage.change_party(body.token, [member.to_domain() for member in body.party])


@app.post(
    "/bookings/manage/party/cancel",
    summary="Cancel some of the party's seats (not the payer's); their share is refunded by the service's policy",
    tags=["bookings"],
    responses=responses(200, "The booking with its party and price after the cancellation", 400, 404, 409, 410, 422),
)
def cancel_party_seats(body: SeatsCancellation) -> ManageView:
    return manage.cancel_seats(body.token, body.seats, body.leaving)


@app.post(
    "/bookings/manage/series",
    summary="Every occurrence of the recurring series this booking belongs to, each with its own manage link",
    tags=["bookings"],
    responses=responses(200, "The series' occurrences and what cancelling each now would refund", 400, 404, 409, 410),
)
def show_series(body: ManageRequest) -> SeriesView:
    return series.view(body.token)


@app.post(
    "/bookings/manage/series/cancel",
    summary='Cancel "this and the rest" of a recurring series; each occurrence refunded by the policy on its own start',
    tags=["bookings"],
    responses=responses(200, "The series after the cancellation", 400, 404, 409, 410, 422, 502, 503),
)
def cancel_series(body: SeriesCancelRequest) -> SeriesView:
    return series.cancel_rest(body.token, body.from_occurrence)


lambda_handler = api_handler(app)
