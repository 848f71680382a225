"""POST /webhooks/cal: Cal.com's booking events (created, cancelled, rescheduled, ...) keep bookings true."""

from __future__ import annotations

from booking.http import WebhookAck, api_handler, create_app, raw_body, responses
from booking.webhooks import cal_events

app = create_app()


@app.post(
    "/webhooks/cal",
    summary="Cal.com webhook (X-Cal-Signature-256: hex HMAC-SHA256 of the raw body)",
    tags=["webhooks"],
    responses=responses(200, "Processed, already reflected, or ignored", 400, 401, 503),
)
def cal_webhook() -> WebhookAck:
    raw = raw_body(app.current_event.raw_event)
    event = cal_events.verify(raw, app.current_event.headers.get("x-cal-signature-256"))
    return WebhookAck(received=True, event_id=event.identity, outcome=cal_events.handle(event, raw))


lambda_handler = api_handler(app, json_bodies=False)
