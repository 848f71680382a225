"""POST /waitlist and DELETE /waitlist/{entry_id}: a client joins a full slot's waitlist, and leaves it.

Public routes: the secret given when joining (header X-Waitlist-Secret) is what lets a client leave; an unknown id
and a wrong secret get the same 404. Offers are made from the table's stream (TableChangesFunction), not here.
"""

from __future__ import annotations

from typing import Annotated

from booking.http import Header, Path, api_handler, create_app, responses
from booking.waitlist import join as waitlist
from booking.waitlist.views import JoinRequest, WaitlistAnswer

app = create_app()


@app.post(
    "/waitlist",
    status_code=201,
    summary="Join the waitlist of a full slot (a waitlist service); the same email again answers its entry",
    tags=["waitlist"],
    responses=responses(201, "The entry, its place in line and (once) the secret to leave", 409, 422, 503),
)
def join(body: JoinRequest) -> WaitlistAnswer:
    return waitlist.join(body)


@app.delete(
    "/waitlist/<entry_id>",
    summary="Leave the waitlist (while waiting)",
    tags=["waitlist"],
    responses=responses(200, "The entry, LEFT", 404, 409, 422),
)
def leave(
    entry_id: Annotated[str, Path(pattern=r"^wl_[0-9a-f]{24}$")],
    secret: Annotated[
        str | None, Header(alias="X-Waitlist-Secret", max_length=256, description="The secret given when joining")
    ] = None,
) -> WaitlistAnswer:
    return waitlist.leave(entry_id, secret)


lambda_handler = api_handler(app)
