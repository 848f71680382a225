"""POST /webhooks/stripe: Stripe's events keep bookings true, whatever the client does."""

from __future__ import annotations

from booking.http import WebhookAck, api_handler, create_app, raw_body, responses
from booking.webhooks import stripe_events

app = create_app()


@app.post(
    "/webhooks/stripe",
    summary="Stripe webhook (signed with Stripe-Signature over the raw body)",
    tags=["webhooks"],
    responses=responses(200, "Processed, already reflected, or ignored", 400, 503),
)
def stripe_webhook() -> WebhookAck:
    raw = raw_body(app.current_event.raw_event)
    event = stripe_events.verify(raw, app.current_event.headers.get("stripe-signature"))
    return WebhookAck(received=True, event_id=event.id, outcome=stripe_events.handle(event, raw))


lambda_handler = api_handler(app, json_bodies=False)
