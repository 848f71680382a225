"""Opaque list cursors (`next_cursor`): URL-safe base64, unpadded, of what a list needs to resume its query."""

from __future__ import annotations

import base64
import binascii

MAX_LENGTH = 512  # far above any cursor we write; a longer one is refused before decoding


def encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> str:
    """What `encode` wrapped; ValueError when the cursor is not one (too long, not base64, not text)."""
    if len(cursor) > MAX_LENGTH:
        raise ValueError("too long")
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor") from exc
