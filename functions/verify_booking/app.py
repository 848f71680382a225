"""POST /bookings/verify: redeem the booking token and create the Cal.com booking."""

from __future__ import annotations

from booking.api_models import VerifyRequest
from booking.flows.confirmation import Confirmation
from booking.flows.manage import with_manage_link
from booking.flows.tokens import verify as verify_token
from booking.http import api_handler, create_app, responses

app = create_app()


@app.post(
    "/bookings/verify",
    summary="Confirm the paid booking in Cal.com (safe to call again)",
    tags=["bookings"],
    responses=responses(200, "The booking is confirmed in Cal.com", 400, 404, 409, 410, 422, 502, 503),
)
def verify(body: VerifyRequest) -> Confirmation:
    return with_manage_link(verify_token(body.token))


lambda_handler = api_handler(app)
