"""Page cursors for a requester's list: where the last page ended, short and signed.

A cursor is the last request's time received (microseconds since the epoch) and id (16 bytes), then an
HMAC-SHA256 tag over the requester and those bytes, cut to 16 bytes: 40 bytes, 54 URL-safe characters
whatever the requester's address. Only the store that holds the key can make one; a cursor that was
altered, or that was handed out to another requester, does not verify and raises ``InvalidCursor``.
The stores keep the key in their own database (``LocalStore`` makes it when it opens its folder, the AWS
request port on first use), so every process or container that shares a store accepts the cursors any of
them handed out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import uuid
from datetime import UTC, datetime, timedelta

from handler.storage.base import InvalidCursor

KEY_BYTES = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_POSITION = struct.Struct(">q16s")
_TAG_BYTES = 16
_CONTEXT = b"servicedesk-forms page cursor v1\n"


def new_cursor_key() -> bytes:
    """A fresh random key for a store to keep and sign its cursors with."""
    return secrets.token_bytes(KEY_BYTES)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class CursorCodec:
    """Turns a position in one requester's list into a cursor, and a cursor back into the position."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"a cursor key needs at least {KEY_BYTES} bytes")
        self._key = key

    def _tag(self, requester: str, position: bytes) -> bytes:
        # The position has a fixed length and comes last, so requester and position cannot be confused.
        message = _CONTEXT + requester.encode() + position
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def seal(self, requester: str, received_at: datetime, request_id: str) -> str:
        """The cursor for the page after the request received at ``received_at`` with id ``request_id``."""
        parsed = uuid.UUID(request_id)
        if str(parsed) != request_id:
            raise ValueError(f"request ids are lowercase UUIDs, not {request_id!r}")
        position = _POSITION.pack((received_at - _EPOCH) // _MICROSECOND, parsed.bytes)
        return _encode(position + self._tag(requester, position))

    def unseal(self, cursor: str, requester: str) -> tuple[datetime, str]:
        """The time received (UTC) and id a cursor continues after; ``InvalidCursor`` unless made for ``requester``."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError as exc:
            raise InvalidCursor(cursor) from exc
        # Only the exact text handed out: no padding, stray characters or alternative final characters.
        if len(raw) != _POSITION.size + _TAG_BYTES or _encode(raw) != cursor:
            raise InvalidCursor(cursor)
        position, tag = raw[: _POSITION.size], raw[_POSITION.size :]
        if not hmac.compare_digest(tag, self._tag(requester, position)):
            raise InvalidCursor(cursor)
        micros, request_id = _POSITION.unpack(position)
        return _EPOCH + micros * _MICROSECOND, str(uuid.UUID(bytes=request_id))
