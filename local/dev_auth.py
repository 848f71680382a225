"""The local stand-in for the owner's Cognito user pool: an RSA key that signs dev access tokens.

In AWS the owner signs in to the Cognito user pool of template.yaml and API Gateway's JWT authorizer checks the
access token against the pool's public keys (JWKS). Locally there is no Cognito: this module holds a signing key
and issues tokens shaped like Cognito's access tokens (issuer `https://cognito-idp.<region>.amazonaws.com/<pool>`,
`client_id` and no `aud`, `token_use: access`, `username`, `cognito:groups` as a JSON list), and the local
gateway (local.lambda_runtime) verifies them with the same rules as API Gateway.

The runner's key lives in `.local/` (created once, git-ignored) so the running runner and `make token`, run in
another shell, agree on it. Tests use an in-memory key.

    python -m local.dev_auth [--role owner|staff|none] [--email ana@example.com] [--minutes 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from local.template import ROOT

STATE_DIR = ROOT / ".local"
KEY_FILE = STATE_DIR / "dev-signing-key.json"
REGION = "us-east-1"
# Shaped like Cognito's ids (region_ + id; a 26-character client id) so nothing downstream special-cases them.
POOL_ID = f"{REGION}_LocalDev"
CLIENT_ID = "localdevownerdashboard0000"
DEFAULT_EMAIL = "owner@localhost.test"
ACCESS_TOKEN_MINUTES = 60  # Cognito's default access token validity
SIGNING_ALGORITHM = "RS256"  # what Cognito signs with; API Gateway accepts RSA algorithms only

DevRole = Literal["owner", "staff", "none"]


@dataclass(frozen=True)
class UserPool:
    """A user pool as API Gateway sees it: the ids the template's !Ref/!Sub resolve to, and its public keys."""

    region: str
    pool_id: str
    client_id: str
    jwks: KeySet

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @classmethod
    def from_issuer(cls, issuer: str, client_id: str) -> UserPool:
        """A Cognito pool's public keys, found as API Gateway finds them: the issuer's OpenID configuration names
        its JWKS."""
        match = re.fullmatch(r"https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/([\w-]+)", issuer)
        if match is None:
            raise ValueError(f"not a Cognito user pool issuer: {issuer}")
        configuration = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
        configuration.raise_for_status()
        jwks = requests.get(configuration.json()["jwks_uri"], timeout=10)
        jwks.raise_for_status()
        return cls(match.group(1), match.group(2), client_id, KeySet.import_key_set(jwks.json()))


class DevSigner:
    """Issues Cognito-shaped access tokens for the local user pool."""

    def __init__(self, key: RSAKey) -> None:
        self._key = key
        self.pool = UserPool(REGION, POOL_ID, CLIENT_ID, KeySet([RSAKey.import_key(key.as_dict(private=False))]))

    @classmethod
    def in_memory(cls) -> DevSigner:
        return cls(_new_key())

    @classmethod
    def local(cls) -> DevSigner:
        """The runner's signer: the key in .local/, created on first use."""
        return cls(_load_or_create_key(KEY_FILE))

    def claims(self, role: DevRole = "owner", email: str = DEFAULT_EMAIL, **overrides: Any) -> dict[str, Any]:
        """An access token's claims as Cognito writes them (the username is the email: see README, Owner sign-in)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-dev-user:{email}")),
            "iss": self.pool.issuer,
            "client_id": self.pool.client_id,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + ACCESS_TOKEN_MINUTES * 60,
            "jti": str(uuid.uuid4()),
            "username": email,
        }
        if role != "none":
            claims["cognito:groups"] = [role]
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, role: DevRole = "owner", email: str = DEFAULT_EMAIL, **overrides: Any) -> str:
        """A signed access token; `overrides` replace claims (None removes one), for tests of refused tokens."""
        return self.sign(self.claims(role, email, **overrides))

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": SIGNING_ALGORITHM, "kid": self._key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key, algorithms=[SIGNING_ALGORITHM])


def _new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": SIGNING_ALGORITHM}, private=True)
    key.ensure_kid()
    return key


def _load_or_create_key(path: Path) -> RSAKey:
    """The key in `path`; a new one written there if there is none. Safe when two processes start at once: the
    file appears complete or not at all (written aside, then linked), and the loser of the race reads the winner's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Local runner state (the dev token signing key): never committed.\n*\n", "utf-8")
        draft = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
        draft.write_text(json.dumps(_new_key().as_dict(private=True)), "utf-8")
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return RSAKey.import_key(json.loads(path.read_text("utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.dev_auth", description="Print a local dev access token.")
    parser.add_argument("--role", choices=["owner", "staff", "none"], default="owner")
    parser.add_argument("--email", default=DEFAULT_EMAIL)
    parser.add_argument("--minutes", type=int, default=ACCESS_TOKEN_MINUTES, help="lifetime (Cognito allows 5-1440)")
    args = parser.parse_args(argv)
    signer = DevSigner.local()
    print(signer.token(args.role, args.email, exp=int(time.time()) + args.minutes * 60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
