"""GET /admin/bookings: the owner sees deposit paid, balance due, flags and history; nobody else does (sign-in
and roles in depth: test_owner_sign_in.py)."""

from __future__ import annotations

from local.stripe_double import StripeDouble
from tests.support import ApiClient, deliver_stripe, owner_headers, stripe_event

OWNER = owner_headers()


def test_owner_sees_a_confirmed_booking_with_payment_and_history(api: ApiClient) -> None:
    # Given a confirmed deposit booking
    confirmed = api.confirmed_booking()
    # When the owner opens it
    response = api.request("GET", f"/admin/bookings/{confirmed['booking_id']}", headers=OWNER)
    # Then deposit paid and balance due are there, with the transitions that led here
    assert response.status == 200, response.body
    view = response.body
    assert view["status"] == "CONFIRMED" and view["cal_booking_uid"] == confirmed["cal_booking_uid"]
    payment = view["payment"]
    assert (payment["deposit"], payment["amount_paid"], payment["balance_due"], payment["amount_refunded"]) == (
        8250,
        8250,
        8250,
        0,
    )
    assert [(h["source"], h["target"]) for h in view["history"]] == [
        ("NEW", "HELD"),
        ("HELD", "PAID"),
        ("PAID", "CONFIRMED"),
    ]


def test_owner_lists_by_status_and_flagged(api: ApiClient, stripe_double: StripeDouble) -> None:
    # Given one confirmed booking and one flagged for a disputed charge
    confirmed = api.confirmed_booking()
    other = api.confirmed_booking(start=api.free_slots()[1]["start"])
    from tests.support import booking

    dispute = stripe_double.create_dispute(booking(other["booking_id"]).charge_id)
    deliver_stripe(api, stripe_double, stripe_event(stripe_double, "charge.dispute.created", dispute["id"])["id"])
    # When the owner lists
    by_status = api.request("GET", "/admin/bookings", query={"status": "CONFIRMED"}, headers=OWNER)
    flagged = api.request("GET", "/admin/bookings", query={"flagged": "true"}, headers=OWNER)
    # Then both lists say what the owner must know
    assert {b["booking_id"] for b in by_status.body["bookings"]} == {confirmed["booking_id"], other["booking_id"]}
    assert [b["booking_id"] for b in flagged.body["bookings"]] == [other["booking_id"]]
    assert flagged.body["bookings"][0]["flags"][0]["code"] == "disputed"


def test_without_a_signed_in_owner_nothing_is_shown(api: ApiClient) -> None:
    confirmed = api.confirmed_booking()
    token = owner_headers()["Authorization"].removeprefix("Bearer ")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
        response = api.request("GET", f"/admin/bookings/{confirmed['booking_id']}", headers=headers)
        # API Gateway's answer: the function never ran
        assert (response.status, response.body) == (401, {"message": "Unauthorized"})


def test_unknown_booking_is_404_and_bad_id_is_422(api: ApiClient) -> None:
    assert api.request("GET", "/admin/bookings/bk_000000000000000000000000", headers=OWNER).status == 404
    bad = api.request("GET", "/admin/bookings/not-an-id", headers=OWNER)
    assert bad.status == 422 and bad.error_fields == {"booking_id"}
