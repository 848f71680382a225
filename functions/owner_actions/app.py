"""POST /admin/bookings/{booking_id}/...: the owner's money actions (refund, cancel, collect the balance, no-show)
and closing a flag.

Behind the HttpApi's JWT authorizer (a Cognito access token); money actions need the `owner` group, closing a
flag too. Each needs an Idempotency-Key: a retry with the same key and body does nothing twice.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from pydantic import Field

from booking.api_models import RequestBody
from booking.http import api_handler, create_app, responses
from booking.owner import actions, auth, flags
from booking.owner.views import OwnerBooking

app = create_app()

BookingId = Annotated[str, Path(pattern=r"^bk_[0-9a-f]{24}$")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Required; a retry with the same key is safe"),
]
ERRORS = (400, 401, 403, 404, 409, 415, 422, 502, 503)


@app.post(
    "/admin/bookings/<booking_id>/refund",
    summary="Refund part or all of what Stripe can still refund",
    tags=["admin"],
    responses=responses(200, "Refunded; the booking after it", *ERRORS),
)
def refund(
    booking_id: BookingId, body: actions.RefundRequest, idempotency_key: IdempotencyKey = None
) -> actions.ActionResult:
    owner = auth.require(app.current_event, "owner")
    request = actions.claim(idempotency_key, "refund", booking_id, body)
    return actions.refund(booking_id, body, actor=owner.actor, request=request)


@app.post(
    "/admin/bookings/<booking_id>/cancel",
    summary="Cancel in Cal.com and here, free the seat, refund by policy, in full or not at all",
    tags=["admin"],
    responses=responses(200, "Cancelled; the booking after it", *ERRORS),
)
def cancel(
    booking_id: BookingId, body: actions.CancelRequest, idempotency_key: IdempotencyKey = None
) -> actions.ActionResult:
    owner = auth.require(app.current_event, "owner")
    actions.claim(idempotency_key, "cancel", booking_id, body)
    return actions.cancel(booking_id, body, actor=owner.actor)


@app.post(
    "/admin/bookings/<booking_id>/collect-balance",
    summary="Charge the balance to the saved card, or record it paid offline",
    tags=["admin"],
    responses=responses(200, "Paid, or awaiting the client (with a pay_url)", *ERRORS),
)
def collect_balance(
    booking_id: BookingId, body: actions.CollectBalanceRequest, idempotency_key: IdempotencyKey = None
) -> actions.ActionResult:
    owner = auth.require(app.current_event, "owner")
    request = actions.claim(idempotency_key, "collect-balance", booking_id, body)
    return actions.collect_balance(booking_id, body, actor=owner.actor, request=request)


@app.post(
    "/admin/bookings/<booking_id>/no-show",
    summary="Mark a no-show: the payment is kept and the service's no-show fee charged",
    tags=["admin"],
    responses=responses(200, "Marked; the booking after it", *ERRORS),
)
def no_show(
    booking_id: BookingId, body: actions.NoShowRequest | None = None, idempotency_key: IdempotencyKey = None
) -> actions.ActionResult:
    owner = auth.require(app.current_event, "owner")
    request_body = body or actions.NoShowRequest()
    actions.claim(idempotency_key, "no-show", booking_id, request_body)
    return actions.no_show(booking_id, request_body, actor=owner.actor)


class ResolveFlagRequest(RequestBody):
    note: str = Field(min_length=1, max_length=500, description="What was done about it")


@app.post(
    "/admin/bookings/<booking_id>/flags/<code>/resolve",
    summary="Close a flag with a note",
    tags=["admin"],
    responses=responses(200, "The booking with the flag closed", *ERRORS),
)
def resolve_flag(
    booking_id: BookingId,
    code: Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$")],
    body: ResolveFlagRequest,
    idempotency_key: IdempotencyKey = None,
) -> OwnerBooking:
    person = auth.require(app.current_event, "owner")
    actions.claim(idempotency_key, f"resolve:{code}", booking_id, body)
    return OwnerBooking.of(flags.resolve_flag(booking_id, code, body.note, person.actor))


lambda_handler = api_handler(app)
