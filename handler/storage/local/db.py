"""The embedded store's SQLite database and folders: one connection per use, the schema, private files."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handler.storage.base import StorageUnavailable

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT NOT NULL,
    stamp TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
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
CREATE TABLE IF NOT EXISTS mail_given_up (
    id TEXT PRIMARY KEY,
    recipients TEXT NOT NULL,
    message BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    queued_at TEXT NOT NULL
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
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    author TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL,
    channel TEXT NOT NULL,
    attachments TEXT NOT NULL DEFAULT '[]',
    key TEXT NOT NULL,
    UNIQUE (request_id, key)
);
CREATE INDEX IF NOT EXISTS messages_by_request ON messages (request_id, at);
CREATE TABLE IF NOT EXISTS forward_jobs (
    request_id TEXT PRIMARY KEY REFERENCES requests (id),
    target TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    due_at TEXT NOT NULL,
    claimed_until TEXT NOT NULL DEFAULT '',
    given_up INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tickets (
    request_id TEXT PRIMARY KEY REFERENCES requests (id),
    system TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    url TEXT NOT NULL,
    changed_at TEXT NOT NULL DEFAULT '',
    UNIQUE (system, ticket_id)
);
CREATE TABLE IF NOT EXISTS muted_addresses (
    request_id TEXT NOT NULL REFERENCES requests (id),
    address TEXT NOT NULL,
    PRIMARY KEY (request_id, address)
);
"""
# Columns added after a table was first made: a database made before them gets them with their default
# (contacts without a security stamp get theirs when they sign in; no message in an old queue is going out).
_ADDED_COLUMNS = (
    ("contacts", "security_stamp TEXT NOT NULL DEFAULT ''"),
    ("mail_queue", "sending_since TEXT NOT NULL DEFAULT ''"),
    ("forward_jobs", "epoch INTEGER NOT NULL DEFAULT 0"),
    ("tickets", "comments_sent TEXT NOT NULL DEFAULT ''"),
    ("sign_in_codes", "nonce TEXT NOT NULL DEFAULT ''"),
)


class Database:
    """The SQLite file every port of the embedded store shares; a locked or unreadable one is ``StorageUnavailable``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(file, 0o600)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            for table, column in _ADDED_COLUMNS:
                if column.split()[0] not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, closed afterwards."""
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageUnavailable(str(exc)) from exc
        try:
            yield db
        except sqlite3.OperationalError as exc:  # locked or unreadable database: the client may retry
            raise StorageUnavailable(str(exc)) from exc
        finally:
            db.close()

    def rows(self, statement: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows one statement returns, in a connection of its own."""
        with self.connect() as db:
            return db.execute(statement, parameters).fetchall()

    def row(self, statement: str, parameters: Sequence[Any] = ()) -> Any:
        """The first row one statement returns, or None."""
        return next(iter(self.rows(statement, parameters)), None)

    def changed(self, statement: str, parameters: Sequence[Any] = ()) -> int:
        """How many rows one statement changed, in a connection of its own."""
        with self.connect() as db:
            return db.execute(statement, parameters).rowcount

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection in one write transaction: committed at the end of the block, rolled back if it raises."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise


def utc(moment: datetime) -> str:
    """One fixed format in UTC, so that the strings compare in time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def private_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each readable by its owner only."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)


def sync_folder(folder: Path) -> None:
    """Make the names in ``folder`` durable, not only the bytes of its files."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
