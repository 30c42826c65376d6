"""The embedded default: documents as files, index and idempotency keys in SQLite."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from handler.storage.base import (
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    Receipt,
    ReferenceTaken,
    RequestStore,
    StorageUnavailable,
    StoredRequest,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    form_id TEXT NOT NULL,
    category TEXT,
    status TEXT NOT NULL,
    requester TEXT,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_requester ON requests (requester, received_at DESC);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    request_id TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""


class LocalStore(RequestStore):
    """Stores requests under one folder, for a laptop or a single small server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.documents = folder / "documents"
        self.documents.mkdir(parents=True, exist_ok=True)
        self.database = folder / "requests.sqlite3"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.database, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageUnavailable(str(exc)) from exc
        try:
            yield db
        except sqlite3.OperationalError as exc:  # locked or unreadable database: the client may retry
            raise StorageUnavailable(str(exc)) from exc
        finally:
            db.close()

    def _document_path(self, request_id: str) -> Path:
        return self.documents / f"{request_id}.json"

    def _put_document(self, request_id: str, body: bytes) -> None:
        # Write to a temporary file, flush it to disk, then hard-link it into place: the link fails
        # if the name exists, so a document is never overwritten and never seen half-written.
        target = self._document_path(request_id)
        handle, temporary = tempfile.mkstemp(dir=self.documents, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.link(temporary, target)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        finally:
            os.unlink(temporary)

    def _discard_document(self, request_id: str) -> None:
        self._document_path(request_id).unlink(missing_ok=True)

    def _commit(self, record: IndexRecord, idempotency: IdempotencyRecord | None, now: datetime) -> None:
        receipt = record.receipt
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if idempotency:
                    # An expired key is free again: remove it before claiming the key.
                    db.execute(
                        "DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?",
                        (idempotency.key, now.isoformat()),
                    )
                    try:
                        db.execute(
                            "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?)",
                            (
                                idempotency.key,
                                idempotency.fingerprint,
                                receipt.request_id,
                                idempotency.expires_at.isoformat(),
                            ),
                        )
                    except sqlite3.IntegrityError as exc:
                        raise IdempotencyKeyTaken(idempotency.key) from exc
                try:
                    db.execute(
                        "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            receipt.request_id,
                            receipt.reference,
                            record.form_id,
                            record.category,
                            receipt.status,
                            record.requester,
                            receipt.received_at.isoformat(),
                            receipt.received_at.isoformat(),
                        ),
                    )
                except sqlite3.IntegrityError as exc:
                    raise ReferenceTaken(receipt.reference) from exc
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _find_idempotent(self, key: str, now: datetime) -> IdempotencyRecord | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT k.fingerprint, k.expires_at, r.id, r.reference, r.status, r.received_at "
                "FROM idempotency_keys k JOIN requests r ON r.id = k.request_id "
                "WHERE k.key = ? AND k.expires_at > ?",
                (key, now.isoformat()),
            ).fetchone()
        if row is None:
            return None
        fingerprint, expires_at, request_id, reference, status, received_at = row
        receipt = Receipt(request_id, reference, status, datetime.fromisoformat(received_at))
        return IdempotencyRecord(key, fingerprint, receipt, datetime.fromisoformat(expires_at))

    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, joined with its document."""
        with self._connect() as db:
            row = db.execute(
                "SELECT reference, status, received_at FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
        if row is None:
            return None
        reference, status, received_at = row
        try:
            document = json.loads(self._document_path(request_id).read_bytes())
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return StoredRequest(
            receipt=Receipt(request_id, reference, status, datetime.fromisoformat(received_at)),
            form_id=document["form"],
            category=document["category"],
            requester=document["requester"],
            language=document["language"],
            schema_hash=document["schemaHash"],
            data=document["data"],
        )
