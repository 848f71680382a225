from tests.support import ApiClient


def test_deposit_booking_end_to_end(api: ApiClient) -> None:
    confirmed = api.confirmed_booking()
    assert confirmed["status"] == "confirmed"
