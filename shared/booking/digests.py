"""The one way secrets and requests are stored: as SHA-256 digests (tokens, pay links, Idempotency-Keys) and
fingerprints of a request's body (a key reused with another body is refused)."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def fingerprint(body: BaseModel) -> str:
    return digest(json.dumps(body.model_dump(mode="json"), sort_keys=True))
