"""Conversations in the embedded store: one row of ``messages`` per message, next to the request's row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from handler.conversation import Author, Channel, Conversation, Message, StatusMove
from handler.storage.base import Attachment, PendingRequest, RequestNotFound, StorageUnavailable
from handler.storage.local.db import Database, utc
from handler.storage.local.requests import move_status

_COLUMNS = "id, request_id, author, name, address, body, at, channel, attachments"


def _row(message: Message, key: str) -> Sequence[Any]:
    m = message
    files = json.dumps([asdict(a) for a in m.attachments])
    return (m.id, m.request_id, str(m.author), m.name, m.address, m.body, utc(m.at), str(m.channel), files, key)


def _message(row: Sequence[Any]) -> Message:
    id_, request_id, author, name, address, body, at, channel, files = row
    attachments = tuple(Attachment.of(a) for a in json.loads(files))
    when = datetime.fromisoformat(at)
    return Message(id_, request_id, Author(author), name, address, body, when, Channel(channel), attachments)


class LocalConversation(Conversation):
    """Messages as rows of ``messages``; ``(request_id, key)`` is unique, which makes appending idempotent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_message(
        self, message: Message, key: str, move: StatusMove | None = None, pending: PendingRequest | None = None
    ) -> tuple[Message, bool]:
        """Append the message (move the status, forget ``pending``) in one transaction, unless the key was used."""
        with self._db.transaction() as db:
            earlier = db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE request_id = ? AND key = ?", (message.request_id, key)
            ).fetchone()
            if earlier is not None:
                return _message(earlier), False
            if pending is not None:
                forget = "DELETE FROM pending_requests WHERE request_id = ? AND stopped = 0"
                if not db.execute(forget, (pending.request_id,)).rowcount:
                    raise StorageUnavailable(f"the message's files {pending.request_id} were stopped as unfinished")
            if move is not None:
                move_status(db, message.request_id, move.expected, move.event)
            else:  # the request was last changed now
                touched = "UPDATE requests SET updated_at = ? WHERE id = ?"
                if not db.execute(touched, (message.at.isoformat(), message.request_id)).rowcount:
                    raise RequestNotFound(message.request_id)
            db.execute(f"INSERT INTO messages ({_COLUMNS}, key) VALUES ({', '.join('?' * 10)})", _row(message, key))
        return message, True

    def message_for_key(self, request_id: str, key: str) -> Message | None:
        query = f"SELECT {_COLUMNS} FROM messages WHERE request_id = ? AND key = ?"
        row = self._db.row(query, (request_id, key))
        return _message(row) if row else None

    def mute(self, request_id: str, address: str) -> None:
        self._db.changed("INSERT OR IGNORE INTO muted_addresses VALUES (?, ?)", (request_id, address.lower()))

    def muted(self, request_id: str) -> frozenset[str]:
        rows = self._db.rows("SELECT address FROM muted_addresses WHERE request_id = ?", (request_id,))
        return frozenset(address for (address,) in rows)

    def messages(self, request_id: str) -> list[Message]:
        query = f"SELECT {_COLUMNS} FROM messages WHERE request_id = ? ORDER BY at, rowid"
        return [_message(row) for row in self._db.rows(query, (request_id,))]
