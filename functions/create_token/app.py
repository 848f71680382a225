"""POST /bookings/create-token: check the payment with Stripe and issue the single-use booking token."""

from __future__ import annotations

from booking.api_models import CreateTokenRequest
from booking.flows.tokens import IssuedToken, issue_token
from booking.http import api_handler, create_app, responses

app = create_app()


@app.post(
    "/bookings/create-token",
    status_code=201,
    summary="Issue the booking token once the payment has succeeded",
    tags=["bookings"],
    responses=responses(201, "Token issued; redirect the client to verify_url", 400, 404, 409, 422, 502, 503),
)
def create_token(body: CreateTokenRequest) -> IssuedToken:
    return issue_token(body.booking_id, body.payment_intent_id)


lambda_handler = api_handler(app)
