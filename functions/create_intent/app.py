"""POST /payments/create-intent: hold the slot, price it, open the Stripe PaymentIntent."""

from __future__ import annotations

from typing import Annotated

from booking.api_models import CreateIntentRequest
from booking.flows.intents import BookingRequest, NotifyChoice, PaymentStart, start_booking
from booking.flows.series import Recurrence
from booking.http import Header, api_handler, create_app, responses

app = create_app()


@app.post(
    "/payments/create-intent",
    status_code=201,
    summary="Hold a slot and create the PaymentIntent for the deposit or the full price",
    tags=["payments"],
    responses=responses(
        201, "Slot held; confirm the payment with client_secret (nothing due: verify_url)", 400, 409, 422, 502, 503
    ),
)
def create_intent(
    body: CreateIntentRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", max_length=255, description="Retrying with the same key returns the same booking"
        ),
    ] = None,
) -> PaymentStart:
    request = BookingRequest(
        service_id=body.service_id,
        start=body.start,
        attendee=body.attendee.to_domain(),
        payment_type=body.payment_type,
        currency=body.currency,
        promo_code=body.promo_code,
        package_id=body.package.id if body.package else None,
        package_secret=body.package.secret if body.package else None,
        backup_start=body.backup_start,
        notify=NotifyChoice(email=body.notify.email, sms=body.notify.sms),
        participants=body.participants,
        party=[member.to_domain() for member in body.party],
        role_token=body.role_token,
        recurrence=Recurrence(**body.recurrence.model_dump()) if body.recurrence else None,
    )
    return start_booking(request, idempotency_key)


lambda_handler = api_handler(app)
