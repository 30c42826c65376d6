"""Requests in the embedded store: each request, its document and all that makes it visible in SQLite.

A submission is one durable commit: the request's row, its document, its idempotency key, its queued
e-mails and its first status change go into one transaction, synced before the answer. Requests stored
before documents moved into the database keep theirs as files under ``documents/``, read as before.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from handler.mail import QueuedMail
from handler.storage.base import (
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    ReferenceTaken,
    RequestNotFound,
    RequestSummary,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    StoredRequest,
    stored_request,
)
from handler.storage.cursor import CursorCodec
from handler.storage.flow import SubmitFlow
from handler.storage.local import records
from handler.storage.local.db import Database, utc
from handler.storage.local.forwards import insert_job
from handler.storage.local.mail import insert_mails

log = logging.getLogger("servicedesk_forms")


class LocalRequests(SubmitFlow):
    """Requests as rows of ``requests``, ``documents``, ``status_events`` and the rest; older documents as
    JSON files under ``documents``."""

    def __init__(self, db: Database, documents: Path, cursors: CursorCodec) -> None:
        self._db = db
        self.documents = documents  # the folder of documents stored before they moved into the database
        self._cursors = cursors
        # Documents on their way into the commit that ``_put_document`` handed over, by request id.
        self._incoming: dict[str, bytes] = {}

    def _document_path(self, request_id: str) -> Path:
        return self.documents / f"{request_id}.json"

    def _put_document(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        # The document is written by the commit, in its transaction: a request is never visible without
        # its document, and no document is left behind by a request that never committed.
        # (A committed document is never replaced either: the commit's insert refuses a second one.)
        if not replace and request_id in self._incoming:
            raise StorageUnavailable(f"request {request_id} already has a document")
        self._incoming[request_id] = body

    def _remove_document(self, request_id: str) -> None:
        self._incoming.pop(request_id, None)
        try:  # a request started before documents moved into the database may have left a file
            self._document_path(request_id).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def document(self, request_id: str) -> bytes | None:
        """The stored document of a request, from the database or, for a request stored earlier, its file."""
        row = self._db.row("SELECT body FROM documents WHERE request_id = ?", (request_id,))
        return bytes(row[0]) if row else self._document_file(request_id)

    def document_ids(self) -> set[str]:
        """The ids of every stored document, in the database and in files."""
        rows = self._db.rows("SELECT request_id FROM documents")
        return {str(request_id) for (request_id,) in rows} | {path.stem for path in self.documents.glob("*.json")}

    def _document_file(self, request_id: str) -> bytes | None:
        try:
            return self._document_path(request_id).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, joined with its document."""
        row = self._db.row(f"{records.SUMMARY_AND_DOCUMENT} WHERE id = ?", (request_id,))
        if row is None:
            return None
        body = bytes(row[-1]) if row[-1] is not None else self._document_file(request_id)
        if body is None:
            log.error("request %s is in the index but its document is missing", request_id)
            return None
        return stored_request(records.summary(row[:-1]).receipt, body)

    # Pending records -----------------------------------------------------------------------------
    # A request whose document is written in its commit leaves nothing behind when it never commits,
    # unless it copies attachments first: only then is a pending record kept, committed (and synced)
    # before the first copy, so that a copy never outlives both its request and its record.

    def _record_pending(self, pending: PendingRequest) -> None:
        if not pending.attachment_keys:
            return
        insert = f"INSERT INTO pending_requests ({records.PENDING_COLUMNS}) VALUES (?, ?, ?)"
        self._db.changed(insert, records.pending_row(pending))

    def _stop_pending(self, pending: PendingRequest) -> bool:
        if not pending.attachment_keys:  # no record: stopped unless it committed (its commit ran in this process)
            return self._db.row("SELECT 1 FROM requests WHERE id = ?", (pending.request_id,)) is None
        stop = "UPDATE pending_requests SET stopped = 1 WHERE request_id = ?"
        return bool(self._db.changed(stop, (pending.request_id,)))

    def _forget_pending(self, pending: PendingRequest) -> None:
        self._db.changed("DELETE FROM pending_requests WHERE request_id = ?", (pending.request_id,))

    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        """Pending records started before ``cutoff``, oldest first."""
        rows = self._db.rows(
            f"SELECT {records.PENDING_COLUMNS} FROM pending_requests WHERE started_at < ? "
            "ORDER BY started_at, request_id LIMIT ?",
            (utc(cutoff), -1 if limit is None else limit),
        )
        return [records.pending(row) for row in rows]

    # The commit (no _check_size: SQLite keeps values up to a gigabyte, far beyond any body the API reads) --

    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest,
        forward_to: str = "",
    ) -> None:
        receipt = record.receipt
        document = self._incoming.pop(receipt.request_id, None)
        if document is None:
            raise StorageUnavailable(f"request {receipt.request_id} has no document to commit")
        with self._db.transaction() as db:
            forget = "DELETE FROM pending_requests WHERE request_id = ? AND stopped = 0"
            if not db.execute(forget, (pending.request_id,)).rowcount and pending.attachment_keys:
                raise StorageUnavailable(f"request {receipt.request_id} was stopped as unfinished")
            if idempotency:
                # An expired key is free again: remove it before claiming the key.
                db.execute(
                    "DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?", (idempotency.key, now.isoformat())
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
                db.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", records.request_row(record))
            except sqlite3.IntegrityError as exc:
                raise ReferenceTaken(receipt.reference) from exc
            try:
                db.execute("INSERT INTO documents (request_id, body) VALUES (?, ?)", (receipt.request_id, document))
            except sqlite3.IntegrityError as exc:
                raise StorageUnavailable(f"request {receipt.request_id} already has a document") from exc
            db.execute(
                "INSERT INTO status_events VALUES (?, 0, ?, ?, NULL, NULL)",
                (receipt.request_id, receipt.status, receipt.received_at.isoformat()),
            )
            insert_mails(db, mails)
            if forward_to:
                insert_job(db, receipt.request_id, forward_to, now)

    def _find_idempotent(self, key: str, now: datetime) -> IdempotencyRecord | None:
        row = self._db.row(
            f"SELECT {records.IDEMPOTENCY_COLUMNS} FROM idempotency_keys k JOIN requests r ON r.id = k.request_id "
            "WHERE k.key = ? AND k.expires_at > ?",
            (key, now.isoformat()),
        )
        return records.idempotency(key, row) if row else None

    # Listing and status ------------------------------------------------------------------------------

    def summary(self, request_id: str) -> RequestSummary | None:
        """The index record of one request."""
        row = self._db.row(f"{records.SUMMARY} WHERE id = ?", (request_id,))
        return records.summary(row) if row else None

    def find_reference(self, reference: str) -> str | None:
        """The id of the request with this reference number."""
        row = self._db.row("SELECT id FROM requests WHERE reference = ?", (reference.upper(),))
        return str(row[0]) if row else None

    def list_for_requester(
        self, requester: str, limit: int, cursor: str | None = None
    ) -> tuple[list[RequestSummary], str | None]:
        """One requester's requests, newest first, a page at a time; the cursor continues a list."""
        after = self._cursors.unseal(cursor, requester) if cursor else None
        # Times received are stored as ``isoformat()`` in UTC, as the cursor's time prints again.
        after_time, after_id = (after[0].isoformat(), after[1]) if after else ("", "")
        rows = self._db.rows(
            f"{records.SUMMARY} WHERE requester = ? AND (? = '' OR (received_at, id) < (?, ?)) "
            "ORDER BY received_at DESC, id DESC LIMIT ?",
            (requester, after_time, after_time, after_id, limit + 1),
        )
        page = [records.summary(row) for row in rows[:limit]]
        last = page[-1].receipt if len(rows) > limit else None
        return page, (self._cursors.seal(requester, last.received_at, last.request_id) if last else None)

    def list_requests(
        self,
        status: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestSummary]:
        """Every request matching the filters, newest first, for agents."""
        filters = {
            "status = ?": status,
            "category = ?": category,
            "received_at >= ?": since.isoformat() if since else None,
            "received_at < ?": until.isoformat() if until else None,
        }
        used = {clause: value for clause, value in filters.items() if value is not None}
        where = f" WHERE {' AND '.join(used)}" if used else ""
        rows = self._db.rows(f"{records.SUMMARY}{where} ORDER BY received_at DESC, id DESC", list(used.values()))
        return [records.summary(row) for row in rows]

    def history(self, request_id: str) -> list[StatusEvent]:
        """The request's status changes, oldest first."""
        rows = self._db.rows(
            f"SELECT {records.EVENT_COLUMNS} FROM status_events WHERE request_id = ? ORDER BY seq", (request_id,)
        )
        return [records.event(row) for row in rows]

    def change_status(self, request_id: str, expected: str, event: StatusEvent) -> RequestSummary:
        """Move the request from status ``expected`` to ``event.status`` and record the event."""
        with self._db.transaction() as db:
            move_status(db, request_id, expected, event)
        found = self.summary(request_id)
        assert found is not None
        return found


def move_status(db: sqlite3.Connection, request_id: str, expected: str, event: StatusEvent) -> None:
    """In ``db``'s transaction: move the request from ``expected`` to the event's status and record the event."""
    changed = db.execute(
        "UPDATE requests SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
        (event.status, event.at.isoformat(), request_id, expected),
    ).rowcount
    if not changed:
        exists = db.execute("SELECT 1 FROM requests WHERE id = ?", (request_id,)).fetchone()
        raise StatusConflict(request_id) if exists else RequestNotFound(request_id)
    db.execute(
        "INSERT INTO status_events SELECT ?, COALESCE(MAX(seq), -1) + 1, ?, ?, ?, ? "
        "FROM status_events WHERE request_id = ?",
        (request_id, event.status, event.at.isoformat(), event.agent, event.comment, request_id),
    )
