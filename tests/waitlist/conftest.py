"""The waitlist through its entry points: POST/DELETE /waitlist (WaitlistFunction), the table's stream handed to
TableChangesFunction (offers) and NotificationsFunction (the offer's email) as Lambda's event source mappings
would, the Stripe double for paying, the cleanup job for lapsing.

The skin consultation (capacity 2, 30 min, paid in full, 60 min notice) is the line most tests wait in; the
ceramics workshop (capacity 12, parties, 50% deposit) the one for parties.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.lambda_runtime import LocalLambda
from local.streams import StreamPump
from tests.integration.helpers import CONSULT, MONDAY, local, next_weekday, travel_to
from tests.integration.test_owner_money import act
from tests.notify.conftest import notifications  # noqa: F401 (the fixture: our From address, the owner's)
from tests.support import ATTENDEE, ApiClient, Clock, pay

CERAMICS = "ceramics-workshop"
_PUMPS: dict[str, StreamPump] = {}


@pytest.fixture
def slot(clock: Clock) -> Iterator[datetime]:
    """Monday 08:00 business time; the consultation on Tuesday at 10:00 (26 h ahead)."""
    monday = next_weekday(MONDAY)
    travel_to(clock, local(monday, 8))
    yield local(monday + timedelta(days=1), 10)


def person(name: str) -> dict[str, Any]:
    return {**ATTENDEE, "name": name.title(), "email": f"{name}@example.com"}


def book(api: ApiClient, start: datetime, name: str, *, service_id: str = CONSULT, **options: Any) -> dict[str, Any]:
    """A booking paid and confirmed through create-intent, Stripe.js and verify."""
    intent = api.create_intent(
        service_id=service_id, start=start.isoformat(), attendee=person(name), payment_type="full", **options
    )
    assert intent.status == 201, intent.body
    pay(intent.body["payment_intent_id"])
    token = api.create_token(intent.body)
    assert token.status == 201, token.body
    verified = api.verify(token.body["token"])
    assert verified.status == 200, verified.body
    return intent.body


def join(
    api: ApiClient, start: datetime, name: str, *, service_id: str = CONSULT, participants: int = 1, **extra: Any
) -> Any:
    body = {
        "service_id": service_id,
        "start": start.isoformat(),
        "attendee": person(name),
        "participants": participants,
        "payment_type": "full",
        **extra,
    }
    return api.post("/waitlist", body)


def leave(api: ApiClient, entry_id: str, secret: str | None) -> Any:
    headers = {"X-Waitlist-Secret": secret} if secret else {}
    return api.request("DELETE", f"/waitlist/{entry_id}", headers=headers)


def cancel(api: ApiClient, booking_id: str) -> None:
    response = act(api, booking_id, "cancel", {"reason": "the client cannot come", "refund": "full"})
    assert response.status == 200, response.body


def pump(lam: LocalLambda, *, notify: bool = True) -> list[dict[str, Any]]:
    """Deliver the table's stream to its readers until it is quiet (offers write records that call for more).
    Returns TableChangesFunction's answers."""
    readers = ["TableChangesFunction", *(["NotificationsFunction"] if notify else [])]
    answers: list[dict[str, Any]] = []
    for _round in range(20):
        delivered = 0
        for logical_id in readers:
            stream = _PUMPS.get(logical_id)
            if stream is None:
                stream = _PUMPS[logical_id] = StreamPump(os.environ["TABLE_NAME"], logical_id)
            for event in stream.events():
                delivered += len(event["Records"])
                answer = lam.invoke(logical_id, event)
                if logical_id == "TableChangesFunction":
                    answers.append(answer)
        if not delivered:
            return answers
    raise AssertionError("the stream never went quiet")


def skip_stream(lam: LocalLambda) -> None:
    """Consume what the stream holds so far without delivering it (the setup's own records)."""
    for logical_id in ("TableChangesFunction", "NotificationsFunction"):
        stream = _PUMPS.get(logical_id)
        if stream is None:
            stream = _PUMPS[logical_id] = StreamPump(os.environ["TABLE_NAME"], logical_id)
        stream.records()
