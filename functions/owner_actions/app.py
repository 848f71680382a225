"""POST /admin/bookings/{booking_id}/...: the owner's money actions (refund, cancel, collect the balance, no-show)
and closing a flag; POST /admin/promo-codes[/{code}/deactivate]: the owner's promo codes.
POST /admin/packages/{package_id}/refund: the unused credits' share of a package.

Behind the HttpApi's JWT authorizer (a Cognito access token); money actions need the `owner` group, closing a
flag too. Each needs an Idempotency-Key: a retry with the same key and body does nothing twice.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from booking.api_models import RequestBody
from booking.flows import blocked_dates, manage, packages
from booking.flows.promos import CODE_PATTERN, normalise
from booking.http import Header, Path, api_handler, create_app, responses
from booking.owner import actions, auth, flags, promos
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


@app.post(
    "/admin/promo-codes",
    status_code=201,
    summary="Create a promo code (percent, amount or free; uses, dates, services)",
    tags=["admin"],
    responses=responses(201, "Created (a retry with the same key answers the same code)", *ERRORS),
)
def create_promo_code(body: promos.CreatePromoRequest, idempotency_key: IdempotencyKey = None) -> promos.PromoOut:
    owner = auth.require(app.current_event, "owner")
    return promos.create(body, actor=owner.actor, idempotency_key=idempotency_key)


@app.post(
    "/admin/promo-codes/<code>/deactivate",
    summary="Stop a promo code for new bookings (holds that took a use keep it)",
    tags=["admin"],
    responses=responses(200, "The code, inactive", *ERRORS),
)
def deactivate_promo_code(
    code: Annotated[str, Path(pattern=CODE_PATTERN)], idempotency_key: IdempotencyKey = None
) -> promos.PromoOut:
    auth.require(app.current_event, "owner")
    actions.claim(idempotency_key, "promo-deactivate", normalise(code), RequestBody())
    return promos.deactivate(code)


@app.post(
    "/admin/packages/<package_id>/refund",
    summary="Refund the unused sessions' share of a package (less what was already refunded); no more bookings",
    tags=["admin"],
    responses=responses(200, "Refunded; the package after it", *ERRORS),
)
def refund_package(
    package_id: Annotated[str, Path(pattern=r"^pkg_[0-9a-f]{24}$")],
    body: packages.PackageRefundRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> packages.PackageRefund:
    owner = auth.require(app.current_event, "owner")
    request_body = body or packages.PackageRefundRequest()
    request = actions.claim(idempotency_key, "package-refund", package_id, request_body)
    return packages.refund(package_id, request_body, actor=owner.actor, request=request)


@app.post(
    "/admin/blocked-dates",
    status_code=201,
    summary="Block a date or a range: no longer offered; its bookings move to their backup start or are cancelled "
    "with a full refund",
    tags=["admin"],
    responses=responses(201, "Blocked; what it did to the bookings (a retry with the same key finishes it)", *ERRORS),
)
def block_dates(body: blocked_dates.BlockRequest, idempotency_key: IdempotencyKey = None) -> blocked_dates.BlockResult:
    owner = auth.require(app.current_event, "owner")
    return blocked_dates.block_dates(body, actor=owner.actor, idempotency_key=idempotency_key)


@app.delete(
    "/admin/blocked-dates/<block_id>",
    summary="Offer blocked dates again (the bookings moved or cancelled stay as they are)",
    tags=["admin"],
    responses=responses(200, "Unblocked; the block as it was", 401, 403, 404, 422),
)
def unblock_dates(block_id: Annotated[str, Path(pattern=r"^blk_[0-9a-f]{24}$")]) -> blocked_dates.BlockResult:
    auth.require(app.current_event, "owner")
    return blocked_dates.unblock(block_id)


class RevokeManageLinkRequest(RequestBody):
    note: str | None = Field(default=None, max_length=500, description="Why (kept in the booking's history)")


@app.post(
    "/admin/bookings/<booking_id>/manage-link/revoke",
    summary="Revoke the client's manage link: it stops working at once",
    tags=["admin"],
    responses=responses(200, "The booking without a manage link", *ERRORS),
)
def revoke_manage_link(
    booking_id: BookingId, body: RevokeManageLinkRequest | None = None, idempotency_key: IdempotencyKey = None
) -> actions.ActionResult:
    owner = auth.require(app.current_event, "owner")
    request_body = body or RevokeManageLinkRequest()
    actions.claim(idempotency_key, "manage-link-revoke", booking_id, request_body)
    booking, revoked = manage.revoke_link(booking_id, actor=owner.actor, note=request_body.note)
    message = "Manage link revoked." if revoked else "The booking has no manage link."
    return actions.ActionResult(message=message, booking=OwnerBooking.of(booking))


lambda_handler = api_handler(app)
