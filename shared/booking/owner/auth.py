"""Who is calling an admin route: the claims API Gateway's JWT authorizer verified (a Cognito access token).

The signature, issuer, audience and expiry are checked by the HttpApi authorizer before the function runs (the
local runner does the same with its dev key); the function reads the verified claims from the event and checks
the role. Groups: `staff` may read, `owner` may also move money. A token without either group (a client's, or
an ID token of another app client) opens no admin route.

API Gateway hands every claim over as a string, and lists as `"[owner staff]"` (round2-notes §6); Cognito
itself writes `cognito:groups` as a JSON list. Both forms are read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from booking.errors import DomainError

Role = Literal["staff", "owner"]
ROLES: dict[Role, frozenset[str]] = {"staff": frozenset({"staff", "owner"}), "owner": frozenset({"owner"})}


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    email: str | None = None
    groups: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """How the booking's history names this person: `owner:ana@example.com` (or the subject id)."""
        role = "owner" if "owner" in self.groups else "staff"
        return f"{role}:{self.email or self.subject}"


def claim_list(value: Any) -> list[str]:
    """A list claim as API Gateway passes it (`"[a b]"`), as JSON (`["a", "b"]`) or comma/space separated."""
    if isinstance(value, list):
        return [str(item) for item in value]
    text = str(value or "").strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].replace('"', " ")
    return [item for item in text.replace(",", " ").split() if item]


def identity_of(event: Any) -> Identity:
    """The verified caller of an API Gateway v2 event (a dict or Powertools' data class); 401 without one."""
    raw = event if isinstance(event, dict) else event.raw_event
    claims = (((raw.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    subject = str(claims.get("sub") or "")
    if not subject:
        raise Unauthorized("Sign in as the business's owner or staff (Authorization: Bearer <access token>).")
    # API Gateway cannot tell an ID token from an access token (both carry the groups and pass the issuer and
    # audience checks): only the access token is the credential for our API.
    if claims.get("token_use") != "access":
        raise Unauthorized("Send the access token of the sign-in, not the ID token (Authorization: Bearer ...).")
    email = claims.get("email") or claims.get("username") or claims.get("cognito:username")
    return Identity(
        subject=subject, email=str(email) if email else None, groups=frozenset(claim_list(claims.get("cognito:groups")))
    )


def require(event: Any, role: Role) -> Identity:
    """The caller if they hold `role` (owner includes staff); 401 not signed in, 403 signed in without it."""
    identity = identity_of(event)
    if not identity.groups & ROLES[role]:
        needed = "the owner group" if role == "owner" else "the owner or staff group"
        raise Forbidden(f"This action needs {needed}; the signed-in user has {sorted(identity.groups) or 'no group'}.")
    return identity
