"""Concurrent invocations in the local Lambda runtime each see their own event (as separate Lambda processes do).

Powertools keeps the event being resolved at class level; without local.lambda_runtime.isolate_router_state
two concurrent requests read each other's event (bench/races.py saw a client answered with another's booking).
The mix-up needs an unlucky thread switch, so this test catches it often, not always; it never fails wrongly.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support import ApiClient, ApiResponse

CLIENTS = 40


def test_forty_concurrent_requests_each_get_the_answer_to_their_own_event(api: ApiClient) -> None:
    for _ in range(2):  # the first round cold-starts most containers, the second runs warm
        # Given 40 requests that differ only in their body, released at the same moment
        barrier = threading.Barrier(CLIENTS)

        def ask(n: int, barrier: threading.Barrier = barrier) -> ApiResponse:
            barrier.wait()
            body = {
                "service_id": f"no-such-service-{n}",
                "start": "2030-01-07T17:00:00Z",
                "attendee": {"name": f"Client {n}", "email": f"client{n}@example.com", "time_zone": "UTC"},
            }
            return api.post("/payments/create-intent", body)

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            responses = list(pool.map(ask, range(CLIENTS)))
        # Then each is answered about its own request, never about another's
        assert [response.error_code for response in responses] == ["unknown_service"] * CLIENTS
        answered = [response.body["error"]["message"] for response in responses]
        assert answered == [f"No service with id 'no-such-service-{n}'." for n in range(CLIENTS)]
