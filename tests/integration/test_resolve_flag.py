"""The owner closes a flag: who, when and why stay on the flag and in the history; the code can be flagged again;
the booking leaves the attention list once no open flag is left. (Called through the logic until the
owner_actions route exists; the admin view is read through its handler.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import ApiClient, ApiResponse, alerts, booking, owner_headers, unique_key

ANA = "owner:ana@example.com"


def flagged_booking(api: ApiClient, *codes: str) -> str:
    """A confirmed booking with one open flag per code (raised as the product raises them)."""
    from booking.owner.alerts import flag

    booking_id = api.confirmed_booking()["booking_id"]
    for code in codes:
        flag(booking(booking_id), code, f"{code} for the test")
    return booking_id


def owner_view(api: ApiClient, booking_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/admin/bookings/{booking_id}", headers=owner_headers())
    assert response.status == 200, response.body
    return response.body


def flagged_ids(api: ApiClient) -> list[str]:
    response = api.request("GET", "/admin/bookings", query={"flagged": "true"}, headers=owner_headers())
    assert response.status == 200, response.body
    return [b["booking_id"] for b in response.body["bookings"]]


def test_resolving_one_of_two_flags_keeps_the_booking_in_the_owners_attention(api: ApiClient) -> None:
    from booking.owner.flags import resolve_flag

    # Given a booking with two open flags
    booking_id = flagged_booking(api, "disputed", "amount_mismatch")
    # When the owner resolves one of them
    resolved = resolve_flag(booking_id, "disputed", "  Client confirmed the charge with the bank ", ANA)
    # Then that flag is closed with who, when and the note, the other is still open
    closed = next(f for f in resolved.flags if f.code == "disputed")
    assert (closed.resolved_by, closed.resolution, closed.is_open) == (
        ANA,
        "Client confirmed the charge with the bank",
        False,
    )
    assert resolved.has_open_flag("amount_mismatch")
    # And the history says so without a change of status
    last = resolved.history[-1]
    assert (last.actor, last.source, last.target) == (ANA, "CONFIRMED", "CONFIRMED")
    assert last.reason == "flag disputed resolved: Client confirmed the charge with the bank"
    # And the booking still awaits the owner for the other flag
    assert flagged_ids(api) == [booking_id]
    # And the owner's view lists the open flag first, then the resolved one with who and when
    flags = owner_view(api, booking_id)["flags"]
    assert [(f["code"], f["open"]) for f in flags] == [("amount_mismatch", True), ("disputed", False)]
    assert flags[1]["resolved_by"] == ANA and flags[1]["resolved_at"] is not None
    assert flags[0]["resolved_by"] is None


def test_resolving_the_last_flag_ends_the_attention_and_the_code_can_be_flagged_again(api: ApiClient) -> None:
    from booking.dal.items import BookingItem
    from booking.owner.alerts import flag
    from booking.owner.flags import resolve_flag

    # Given a flagged booking
    booking_id = flagged_booking(api, "disputed")
    assert flagged_ids(api) == [booking_id]
    # When the owner resolves its only flag
    resolve_flag(booking_id, "disputed", "Dispute won", ANA)
    # Then the booking leaves the attention list and its code is free again
    item = BookingItem.get(f"BOOKING#{booking_id}", "BOOKING", consistent_read=True)
    assert (item.attention, item.attention_since, item.flag_codes) == (None, None, None)
    assert flagged_ids(api) == []
    # And the same problem, found again, flags the booking and alerts the owner once more
    alerts_before = len([a for a in alerts() if booking_id in a["subject"]])
    again = flag(booking(booking_id), "disputed", "disputed a second time")
    assert [(f.code, f.is_open) for f in again.flags] == [("disputed", False), ("disputed", True)]
    assert len([a for a in alerts() if booking_id in a["subject"]]) == alerts_before + 1
    assert flagged_ids(api) == [booking_id]
    # And resolving it closes the new flag, not the old one
    second = resolve_flag(booking_id, "disputed", "Second dispute withdrawn", ANA)
    assert [f.resolution for f in second.flags] == ["Dispute won", "Second dispute withdrawn"]
    assert flagged_ids(api) == []


def test_resolving_again_with_the_same_note_changes_nothing(api: ApiClient) -> None:
    from booking.owner.flags import FlagNotOpen, resolve_flag

    booking_id = flagged_booking(api, "disputed")
    first = resolve_flag(booking_id, "disputed", "Dispute won", ANA)
    # When the same resolution arrives again (a retried request)
    again = resolve_flag(booking_id, "disputed", "Dispute won", "owner:someone@example.com")
    # Then the booking is answered unchanged
    assert again == first
    assert booking(booking_id) == first
    # But another note on a closed flag is a conflict, not a second resolution
    with pytest.raises(FlagNotOpen) as refused:
        resolve_flag(booking_id, "disputed", "Something else", ANA)
    assert (refused.value.status, refused.value.code) == (409, "flag_not_open")


def test_unknown_booking_unknown_flag_and_bad_notes_are_refused(api: ApiClient) -> None:
    from booking.errors import BookingNotFound, InvalidRequest
    from booking.owner.flags import FlagNotOpen, resolve_flag

    booking_id = flagged_booking(api, "disputed")
    with pytest.raises(BookingNotFound):
        resolve_flag("bk_000000000000000000000000", "disputed", "note", ANA)
    with pytest.raises(FlagNotOpen):
        resolve_flag(booking_id, "amount_mismatch", "note", ANA)
    for note in ("", "   ", "x" * 501):
        with pytest.raises(InvalidRequest) as invalid:
            resolve_flag(booking_id, "disputed", note, ANA)
        assert invalid.value.status == 422 and set(invalid.value.fields) == {"note"}
    assert resolve_flag(booking_id, "disputed", "x" * 500, ANA).flags[0].resolution == "x" * 500


def test_a_flag_raised_while_resolving_keeps_the_booking_in_the_owners_attention(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from booking.dal import bookings as store
    from booking.dal import flags as flag_store
    from booking.dal.bookings import StaleBooking
    from booking.owner import flags as owner_flags
    from booking.owner.alerts import flag

    # Given the owner's read of a booking with one open flag, and a second flag raised right after that read
    booking_id = flagged_booking(api, "disputed")
    stale = booking(booking_id)
    flag(stale, "amount_mismatch", "raised meanwhile")
    # Then a write decided on the stale read (last open flag: end the attention) is refused
    closed = stale.flags[0].model_copy(update={"resolved_at": stale.updated_at, "resolved_by": ANA, "resolution": "x"})
    with pytest.raises(StaleBooking):
        flag_store.resolve_flag(stale, 0, closed, stale.history[-1], now=stale.updated_at)
    # And the logic, handed that stale read first, decides again on a fresh one
    reads = iter([stale])
    fresh = store.get_booking
    monkeypatch.setattr(store, "get_booking", lambda booking_id: next(reads, None) or fresh(booking_id))
    resolved = owner_flags.resolve_flag(booking_id, "disputed", "Dispute won", ANA)
    assert [(f.code, f.is_open) for f in resolved.flags] == [("disputed", False), ("amount_mismatch", True)]
    assert flagged_ids(api) == [booking_id]
    assert len([h for h in resolved.history if h.reason.startswith("flag disputed resolved")]) == 1


def resolve_request(api: ApiClient, booking_id: str, code: str, note: str, **headers: str) -> ApiResponse:
    return api.request(
        "POST",
        f"/admin/bookings/{booking_id}/flags/{code}/resolve",
        json_body={"note": note},
        headers={"Idempotency-Key": unique_key(), **(headers or owner_headers())},
    )


def test_the_owner_resolves_a_flag_through_the_admin_api(api: ApiClient) -> None:
    booking_id = flagged_booking(api, "disputed")
    # When the signed-in owner closes the flag
    response = resolve_request(api, booking_id, "disputed", "Dispute won")
    # Then the answer is the booking with the flag closed in their name, and the history says so
    assert response.status == 200, response.body
    closed = response.body["flags"][0]
    assert (closed["open"], closed["resolved_by"], closed["resolution"]) == (
        False,
        "owner:owner@example.com",
        "Dispute won",
    )
    assert response.body["history"][-1]["reason"] == "flag disputed resolved: Dispute won"
    # And a second request with the same note (another key) answers the same booking
    again = resolve_request(api, booking_id, "disputed", "Dispute won")
    assert again.status == 200 and again.body == response.body
    # And the refusals speak HTTP: no open flag 409, unknown booking 404, no note 422, staff 403
    assert resolve_request(api, booking_id, "disputed", "Other note").error_code == "flag_not_open"
    assert resolve_request(api, "bk_000000000000000000000000", "disputed", "x").status == 404
    blank = resolve_request(api, booking_id, "disputed", "   ")
    assert blank.status == 422 and blank.error_fields == {"note"}
    staff = resolve_request(api, booking_id, "disputed", "Dispute won", **owner_headers("staff"))
    assert staff.status == 403
