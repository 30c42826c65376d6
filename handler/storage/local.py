"""The embedded default: documents as files, index and idempotency keys in SQLite."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handler.contacts import Contact, new_security_stamp, normalize_email
from handler.mail import QueuedMail
from handler.signin import PendingCode
from handler.storage.base import (
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    Receipt,
    ReferenceTaken,
    RequestBlobs,
    RequestNotFound,
    RequestSummary,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    Store,
    StoredRequest,
)
from handler.storage.cursor import CursorCodec, new_cursor_key
from handler.uploads import Upload, slot_signature

log = logging.getLogger("servicedesk_forms")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    form_id TEXT NOT NULL,
    category TEXT,
    status TEXT NOT NULL,
    requester TEXT,
    title TEXT,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_status ON requests (status, received_at DESC);
CREATE TABLE IF NOT EXISTS status_events (
    request_id TEXT NOT NULL REFERENCES requests (id),
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    agent TEXT,
    comment TEXT,
    PRIMARY KEY (request_id, seq)
);
CREATE TABLE IF NOT EXISTS contacts (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    organization TEXT NOT NULL,
    contact_types TEXT NOT NULL,
    security_stamp TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS sign_in_codes (
    email TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    attempts_left INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_queue (
    id TEXT PRIMARY KEY,
    recipients TEXT NOT NULL,
    message BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    claimed_until TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    requester TEXT NOT NULL,
    form_id TEXT NOT NULL,
    field TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    max_bytes INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT NOT NULL,
    window_start TEXT NOT NULL,
    count INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX IF NOT EXISTS requests_by_requester ON requests (requester, received_at DESC);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    request_id TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
    name TEXT PRIMARY KEY,
    key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_requests (
    request_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    attachment_keys TEXT NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pending_requests_by_start ON pending_requests (started_at);
"""


class LocalStore(Store):
    """Stores requests under one folder, for a laptop or a single small server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.documents = folder / "documents"
        _private_folder(self.documents)
        os.chmod(folder, 0o700)
        os.chmod(self.documents, 0o700)
        self.database = folder / "requests.sqlite3"
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(self.database, os.O_WRONLY | os.O_CREAT, 0o600))
        for path in (self.database, folder / "requests.sqlite3-wal", folder / "requests.sqlite3-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, 0o600)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._add_security_stamps(db)
            self._add_sending_marks(db)
            # One key per folder, made by whichever process opens it first.
            db.execute("INSERT OR IGNORE INTO signing_keys (name, key) VALUES ('page-cursor', ?)", (new_cursor_key(),))
            (key,) = db.execute("SELECT key FROM signing_keys WHERE name = 'page-cursor'").fetchone()
        self._cursors = CursorCodec(bytes(key))

    @staticmethod
    def _add_security_stamps(db: sqlite3.Connection) -> None:
        # A register made before contacts had security stamps: signing in gives each one its stamp.
        if "security_stamp" not in {row[1] for row in db.execute("PRAGMA table_info(contacts)")}:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                db.execute("ALTER TABLE contacts ADD COLUMN security_stamp TEXT NOT NULL DEFAULT ''")

    @staticmethod
    def _add_sending_marks(db: sqlite3.Connection) -> None:
        # A queue made before messages were marked as going out: none of its messages is.
        if "sending_since" not in {row[1] for row in db.execute("PRAGMA table_info(mail_queue)")}:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                db.execute("ALTER TABLE mail_queue ADD COLUMN sending_since TEXT NOT NULL DEFAULT ''")

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

    def _put_document(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        # Write to a temporary file, flush it to disk, then hard-link it into place: the link fails
        # if the name exists, so a document is never overwritten and never seen half-written.
        target = self._document_path(request_id)
        handle, temporary = tempfile.mkstemp(dir=self.documents, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            if replace:
                os.replace(temporary, target)
            else:
                os.link(temporary, target)
            _sync_folder(self.documents)  # the new name is durable too, not only the bytes
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):  # os.replace moved it
                os.unlink(temporary)

    def _remove_document(self, request_id: str) -> None:
        try:
            self._document_path(request_id).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    # ---- Pending records ------------------------------------------------------------------------

    def _record_pending(self, pending: PendingRequest) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO pending_requests (request_id, started_at, attachment_keys) VALUES (?, ?, ?)",
                (pending.request_id, _utc(pending.started_at), json.dumps(pending.attachment_keys)),
            )

    def _stop_pending(self, pending: PendingRequest) -> bool:
        with self._connect() as db:
            return bool(
                db.execute(
                    "UPDATE pending_requests SET stopped = 1 WHERE request_id = ?", (pending.request_id,)
                ).rowcount
            )

    def _forget_pending(self, pending: PendingRequest) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM pending_requests WHERE request_id = ?", (pending.request_id,))

    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        """Pending records started before ``cutoff``, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT request_id, started_at, attachment_keys FROM pending_requests WHERE started_at < ? "
                "ORDER BY started_at, request_id LIMIT ?",
                (_utc(cutoff), -1 if limit is None else limit),
            ).fetchall()
        return [PendingRequest(r[0], datetime.fromisoformat(r[1]), tuple(json.loads(r[2]))) for r in rows]

    # No _check_size: SQLite keeps values up to a gigabyte, far beyond any body the API reads.
    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest,
    ) -> None:
        receipt = record.receipt
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if not db.execute(
                    "DELETE FROM pending_requests WHERE request_id = ? AND stopped = 0", (pending.request_id,)
                ).rowcount:
                    raise StorageUnavailable(f"request {receipt.request_id} was stopped as unfinished")
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
                        "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            receipt.request_id,
                            receipt.reference,
                            record.form_id,
                            record.category,
                            receipt.status,
                            record.requester,
                            record.title,
                            receipt.received_at.isoformat(),
                            receipt.received_at.isoformat(),
                        ),
                    )
                except sqlite3.IntegrityError as exc:
                    raise ReferenceTaken(receipt.reference) from exc
                db.execute(
                    "INSERT INTO status_events VALUES (?, 0, ?, ?, NULL, NULL)",
                    (receipt.request_id, receipt.status, receipt.received_at.isoformat()),
                )
                self._insert_mails(db, mails)
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
        path = self._document_path(request_id)
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            log.error("request %s is in the index but its document %s is missing", request_id, path)
            return None
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
            attachments=tuple(document.get("attachments", ())),
        )

    # ---- Listing and status -------------------------------------------------------------------

    _SUMMARY = (
        "SELECT id, reference, status, received_at, form_id, category, requester, title, updated_at FROM requests"
    )

    @staticmethod
    def _summary(row: tuple[Any, ...]) -> RequestSummary:
        request_id, reference, status, received_at, form_id, category, requester, title, updated_at = row
        receipt = Receipt(request_id, reference, status, datetime.fromisoformat(received_at))
        return RequestSummary(receipt, form_id, category, requester, title, datetime.fromisoformat(updated_at))

    def summary(self, request_id: str) -> RequestSummary | None:
        """The index record of one request."""
        with self._connect() as db:
            row = db.execute(f"{self._SUMMARY} WHERE id = ?", (request_id,)).fetchone()
        return self._summary(row) if row else None

    def find_reference(self, reference: str) -> str | None:
        """The id of the request with this reference number."""
        with self._connect() as db:
            row = db.execute("SELECT id FROM requests WHERE reference = ?", (reference.upper(),)).fetchone()
        return str(row[0]) if row else None

    def list_for_requester(
        self, requester: str, limit: int, cursor: str | None = None
    ) -> tuple[list[RequestSummary], str | None]:
        """One requester's requests, newest first, a page at a time; the cursor continues a list."""
        after = self._cursors.unseal(cursor, requester) if cursor else None
        # Times received are stored as ``isoformat()`` in UTC, as the cursor's time prints again.
        after_time, after_id = (after[0].isoformat(), after[1]) if after else ("", "")
        with self._connect() as db:
            rows = db.execute(
                f"{self._SUMMARY} WHERE requester = ? AND (? = '' OR (received_at, id) < (?, ?)) "
                "ORDER BY received_at DESC, id DESC LIMIT ?",
                (requester, after_time, after_time, after_id, limit + 1),
            ).fetchall()
        page = [self._summary(row) for row in rows[:limit]]
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
        clauses, values = [], []
        for clause, value in (
            ("status = ?", status),
            ("category = ?", category),
            ("received_at >= ?", since.isoformat() if since else None),
            ("received_at < ?", until.isoformat() if until else None),
        ):
            if value is not None:
                clauses.append(clause)
                values.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as db:
            rows = db.execute(f"{self._SUMMARY}{where} ORDER BY received_at DESC, id DESC", values).fetchall()
        return [self._summary(row) for row in rows]

    def history(self, request_id: str) -> list[StatusEvent]:
        """The request's status changes, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT status, at, agent, comment FROM status_events WHERE request_id = ? ORDER BY seq",
                (request_id,),
            ).fetchall()
        return [StatusEvent(status, datetime.fromisoformat(at), agent, comment) for status, at, agent, comment in rows]

    def change_status(self, request_id: str, expected: str, event: StatusEvent) -> RequestSummary:
        """Move the request from status ``expected`` to ``event.status`` and record the event."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
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
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        found = self.summary(request_id)
        assert found is not None
        return found

    # ---- Contact register --------------------------------------------------------------------

    _CONTACT_COLUMNS = "email, name, phone, organization, contact_types, security_stamp"

    @staticmethod
    def _contact(row: Any) -> Contact:
        return Contact(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5])

    def get_contact(self, email: str) -> Contact | None:
        """The registered contact with this address (any case)."""
        with self._connect() as db:
            row = db.execute(
                f"SELECT {self._CONTACT_COLUMNS} FROM contacts WHERE email = ?", (normalize_email(email),)
            ).fetchone()
        return self._contact(row) if row else None

    def put_contact(self, contact: Contact) -> None:
        """Add a contact with a new security stamp, or replace one and keep its stamp."""
        with self._connect() as db:
            db.execute(
                f"INSERT INTO contacts ({self._CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) "
                "DO UPDATE SET name = excluded.name, phone = excluded.phone, organization = excluded.organization, "
                "contact_types = excluded.contact_types",
                (
                    contact.email,
                    contact.name,
                    contact.phone,
                    contact.organization,
                    json.dumps(contact.contact_types),
                    new_security_stamp(),
                ),
            )

    def remove_contact(self, email: str) -> bool:
        """Remove a contact; whether it existed."""
        with self._connect() as db:
            return bool(db.execute("DELETE FROM contacts WHERE email = ?", (normalize_email(email),)).rowcount)

    def list_contacts(self) -> list[Contact]:
        """All contacts by address."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {self._CONTACT_COLUMNS} FROM contacts ORDER BY email").fetchall()
        return [self._contact(row) for row in rows]

    def renew_security_stamp(self, email: str) -> str | None:
        """A new security stamp for the contact; None if not registered."""
        stamp = new_security_stamp()
        with self._connect() as db:
            changed = db.execute(
                "UPDATE contacts SET security_stamp = ? WHERE email = ?", (stamp, normalize_email(email))
            ).rowcount
        return stamp if changed else None

    # ---- Sign-in codes and rate limits ---------------------------------------------------------

    def put_code(self, code: PendingCode) -> None:
        """Keep the address's new code, replacing the old one."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO sign_in_codes VALUES (?, ?, ?, ?)",
                (code.email, code.digest, code.expires_at.isoformat(), code.attempts_left),
            )

    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        """Spend an attempt on the unexpired code, if any attempts are left."""
        with self._connect() as db:
            row = db.execute(
                "UPDATE sign_in_codes SET attempts_left = attempts_left - 1 "
                "WHERE email = ? AND expires_at > ? AND attempts_left > 0 "
                "RETURNING digest, expires_at, attempts_left",
                (email, now.isoformat()),
            ).fetchone()
        return PendingCode(email, row[0], datetime.fromisoformat(row[1]), row[2]) if row else None

    def delete_code(self, email: str, digest: str) -> bool:
        """Remove this code; only one caller can succeed."""
        with self._connect() as db:
            return bool(
                db.execute("DELETE FROM sign_in_codes WHERE email = ? AND digest = ?", (email, digest)).rowcount
            )

    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        """Add one to the window's counter and return it; old windows are dropped."""
        with self._connect() as db:
            db.execute("DELETE FROM counters WHERE expires_at <= ?", (window_start.isoformat(),))
            row = db.execute(
                "INSERT INTO counters VALUES (?, ?, 1, ?) ON CONFLICT (key, window_start) "
                "DO UPDATE SET count = count + 1 RETURNING count",
                (key, window_start.isoformat(), expires_at.isoformat()),
            ).fetchone()
        return int(row[0])

    # ---- Mail waiting to be sent -------------------------------------------------------------------

    def queue_mails(self, mails: Sequence[QueuedMail]) -> None:
        """Add or replace messages in one transaction; replacing lets go of any claim."""
        with self._connect() as db:
            self._insert_mails(db, mails)

    @staticmethod
    def _insert_mails(db: sqlite3.Connection, mails: Sequence[QueuedMail]) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO mail_queue (id, recipients, message, attempts, last_error, queued_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (m.id, json.dumps(m.recipients), m.message, m.attempts, m.last_error, m.queued_at.isoformat())
                for m in mails
            ],
        )

    def queued_mails(self, limit: int, now: datetime) -> list[QueuedMail]:
        """The oldest messages that no sender holds or has sent."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, recipients, message, attempts, last_error, queued_at FROM mail_queue "
                "WHERE claimed_until <= ? AND sending_since = '' ORDER BY queued_at, id LIMIT ?",
                (now.isoformat(), limit),
            ).fetchall()
        return [
            QueuedMail(r[0], tuple(json.loads(r[1])), bytes(r[2]), r[3], r[4], datetime.fromisoformat(r[5]))
            for r in rows
        ]

    def claim_mail(self, mail_id: str, until: datetime, now: datetime) -> bool:
        """Take the message unless another sender holds it."""
        with self._connect() as db:
            return bool(
                db.execute(
                    "UPDATE mail_queue SET claimed_until = ? "
                    "WHERE id = ? AND claimed_until <= ? AND sending_since = ''",
                    (until.isoformat(), mail_id, now.isoformat()),
                ).rowcount
            )

    def mark_mail_sending(self, mail_id: str, now: datetime) -> bool:
        """Mark the message as going out; it is never offered again."""
        with self._connect() as db:
            return bool(
                db.execute(
                    "UPDATE mail_queue SET sending_since = ? WHERE id = ? AND sending_since = ''", (_utc(now), mail_id)
                ).rowcount
            )

    def forget_mail(self, mail_id: str) -> None:
        """Drop a message that has been sent."""
        with self._connect() as db:
            db.execute("DELETE FROM mail_queue WHERE id = ?", (mail_id,))

    def _drop_sent_mail(self, before: datetime) -> int:
        with self._connect() as db:
            return int(
                db.execute(
                    "DELETE FROM mail_queue WHERE sending_since != '' AND sending_since < ?", (_utc(before),)
                ).rowcount
            )

    # ---- Upload slots --------------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> None:
        """Keep a new upload slot."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.id,
                    upload.requester,
                    upload.form_id,
                    upload.field,
                    upload.name,
                    upload.content_type,
                    upload.max_bytes,
                    upload.expires_at.isoformat(),
                ),
            )

    def get_upload(self, upload_id: str) -> Upload | None:
        """The slot with this id."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        if row is None:
            return None
        upload_id, requester, form_id, field, name, content_type, max_bytes, expires_at = row
        return Upload(
            upload_id, requester, form_id, field, name, content_type, max_bytes, datetime.fromisoformat(expires_at)
        )


def _private_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each readable by its owner only."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)


def _utc(moment: datetime) -> str:
    # One fixed format in UTC, so that the strings compare in time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class LocalBlobs(RequestBlobs):
    """Uploaded files in a folder; the local server's upload address stands in for S3's presigned POST."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        """The file for a key (keys are made by the handler, never by a client)."""
        return self.folder / key

    def upload_target(self, upload: Upload, local_url: str, secret: bytes) -> dict[str, Any]:
        """The local server's upload address with a signed slot."""
        return {
            "url": local_url,
            "fields": {
                "Content-Type": upload.content_type,
                "expires": str(int(upload.expires_at.timestamp())),
                "signature": slot_signature(secret, upload),
            },
        }

    def receive(self, upload: Upload, chunks: Any) -> None:
        """Write an uploaded file, refusing it past the size limit; nothing is left of a refused file."""
        target = self.path(upload.pending_key)
        _private_folder(target.parent)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        written = 0
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if written > upload.max_bytes:
                        raise ValueError("too large")
                    out.write(chunk)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def size(self, key: str) -> int | None:
        """The file's size, if it exists."""
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def head(self, key: str, length: int) -> bytes:
        """The first bytes of the file."""
        with self.path(key).open("rb") as source:
            return source.read(length)

    def link(self, upload: Upload) -> str | None:
        """Hard-link the upload under a new attachment key (a later upload replaces the pending file,
        never this one)."""
        key = upload.new_attachment_key()
        return key if self.copy_upload(upload, key) else None

    def copy_upload(self, upload: Upload, key: str) -> bool:
        """Hard-link the upload at ``key`` (a later upload replaces the pending file, never this one)."""
        target = self.path(key)
        _private_folder(target.parent)
        try:
            os.link(self.path(upload.pending_key), target)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return True

    def remove(self, key: str) -> None:
        """Remove an attachment copy, and its request's folder once it is empty."""
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty, or already gone
                path.parent.rmdir()
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def discard(self, key: str) -> None:
        """Remove an attachment copy."""
        self.path(key).unlink(missing_ok=True)

    def download(self, key: str, name: str, content_type: str) -> str:
        """The attachment's path on this machine."""
        return str(self.path(key).resolve())

    def remove_abandoned(self, older_than: datetime) -> int:
        """Delete pending uploads last changed before ``older_than``; return how many."""
        removed = 0
        for path in (self.folder / "uploads" / "pending").glob("*"):
            if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, older_than.tzinfo) < older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
