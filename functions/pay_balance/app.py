"""POST /bookings/pay: the pay page of a pay link (`SITE_BASE_URL/book/pay?token=...`) reads the payment the
client is asked to complete (a balance or a fee the saved card could not pay) and its client secret for Stripe.js.
"""

from __future__ import annotations

from booking.api_models import PayLinkRequest
from booking.flows.pay_links import PayPage, open_link
from booking.http import api_handler, create_app, responses

app = create_app()


@app.post(
    "/bookings/pay",
    summary="The payment a pay link asks for, with its client secret while it is open",
    tags=["bookings"],
    responses=responses(
        200,
        "The payment: requires_payment (confirm with Stripe.js), processing or paid",
        400,
        404,
        410,
        415,
        422,
        502,
        503,
    ),
)
def pay(body: PayLinkRequest) -> PayPage:
    return open_link(body.token)


lambda_handler = api_handler(app)
