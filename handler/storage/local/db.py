"""The embedded store's SQLite database and folders: one connection per thread, the schema, private files.

Every connection is in WAL mode with ``synchronous=FULL``: each commit that writes is on disk when it returns
(one sync of the write-ahead log). A block opened with ``durable=False`` commits with ``synchronous=NORMAL``
instead: its writes reach the log but are not synced, so a power cut may undo them, until the next FULL commit
syncs the log, and them with it. The database counts the commits of each kind (``Database.commits``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections import Counter
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
CREATE TABLE IF NOT EXISTS documents (
    request_id TEXT PRIMARY KEY REFERENCES requests (id),
    body BLOB NOT NULL
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


DURABLE = "full"  # a commit synced before it returns
RELAXED = "normal"  # a commit in the log, synced by the next durable one
_IDLE_CONNECTIONS = 8  # kept open between uses; more are opened while more threads use the database at once


class _Link:
    """One open connection, and what it is doing now (which the statements it runs say)."""

    def __init__(self, connection: sqlite3.Connection, file: tuple[int, int]) -> None:
        self.connection = connection
        self.file = file  # the database file it opened (device, inode)
        self.level = DURABLE
        self.began_at = -1  # ``total_changes`` when its open transaction began; -1 outside one
        self.unsettled: tuple[str, int] | None = None  # a write outside a transaction: its level, changes before


class Database:
    """The SQLite file every port of the embedded store shares; a locked or unreadable one is ``StorageUnavailable``.

    Connections stay open between uses: a connection that closes as the last one on the file checkpoints
    the log into the database and syncs both, which would cost every use two syncs more.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # Commits that wrote something, by how they were synced (``DURABLE``, ``RELAXED``).
        self.commits: Counter[str] = Counter()
        self._idle: list[_Link] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
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

    def _take(self) -> _Link:
        """An idle connection to the file now at ``path``, or a new one (a forked process never uses its
        parent's; a file moved away or replaced, as by restoring a backup, is no longer used)."""
        try:
            status = os.stat(self.path)
            file = (status.st_dev, status.st_ino)
        except OSError:
            file = (-1, -1)
        stale: list[_Link] = []
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            if self._idle and self._idle[-1].file != file:
                stale, self._idle = self._idle, []
            link = self._idle.pop() if self._idle else None
        for old in stale:
            old.connection.close()
        if link is not None:
            return link
        try:
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA synchronous=FULL")
            status = os.stat(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        link = _Link(connection, (status.st_dev, status.st_ino))
        # The connection keeps its callback: weak references, so that nothing keeps the connection alive.
        database, linked = weakref.ref(self), weakref.ref(link)

        def traced(statement: str) -> None:
            if (found := database()) is not None and (it := linked()) is not None:
                found._traced(it, statement)

        connection.set_trace_callback(traced)
        return link

    def _give_back(self, link: _Link) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(link)
                return
        link.connection.close()

    def _traced(self, link: _Link, statement: str) -> None:
        """Count the commits a connection makes, from the statements it runs (told before each one runs)."""
        self._settle(link)
        head = statement.lstrip()[:8].upper()
        if head.startswith("BEGIN"):
            link.began_at = link.connection.total_changes
        elif head.startswith(("COMMIT", "END")):
            if 0 <= link.began_at < link.connection.total_changes:
                self._count(link.level)
            link.began_at = -1
        elif head.startswith("ROLLBACK"):
            link.began_at = -1
        elif link.began_at < 0 and head.startswith(("INSERT", "UPDATE", "DELETE", "REPLACE")):
            link.unsettled = (link.level, link.connection.total_changes)  # its own commit, if it changes a row

    def _settle(self, link: _Link) -> None:
        """Count the last write outside a transaction if it changed a row (it has run by now)."""
        if link.unsettled is not None:
            level, before = link.unsettled
            link.unsettled = None
            if link.connection.total_changes > before:
                self._count(level)

    def _count(self, level: str) -> None:
        with self._lock:
            self.commits[level] += 1

    @contextlib.contextmanager
    def connect(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode, for this block only; with ``durable=False`` the commits it makes
        are not synced (``RELAXED``)."""
        link = self._take()
        db = link.connection
        try:
            if not durable:
                db.execute("PRAGMA synchronous=NORMAL")
                link.level = RELAXED
            yield db
        except sqlite3.OperationalError as exc:  # locked or unreadable database: the client may retry
            db.close()
            raise StorageUnavailable(str(exc)) from exc
        finally:
            self._release(link)

    def _release(self, link: _Link) -> None:
        """Keep a connection for the next use, as durable as a new one, unless it is left in a transaction."""
        db = link.connection
        try:
            self._settle(link)
            if link.level != DURABLE:
                db.execute("PRAGMA synchronous=FULL")
                link.level = DURABLE
            reusable = not db.in_transaction
        except sqlite3.ProgrammingError:  # closed after an error
            return
        except sqlite3.Error:
            reusable = False
        if reusable:
            self._give_back(link)
        else:
            db.close()

    def rows(self, statement: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows one statement returns."""
        with self.connect() as db:
            return db.execute(statement, parameters).fetchall()

    def row(self, statement: str, parameters: Sequence[Any] = ()) -> Any:
        """The first row one statement returns, or None."""
        return next(iter(self.rows(statement, parameters)), None)

    def changed(self, statement: str, parameters: Sequence[Any] = (), *, durable: bool = True) -> int:
        """How many rows one statement changed, committed on its own (synced unless ``durable=False``)."""
        with self.connect(durable=durable) as db:
            return db.execute(statement, parameters).rowcount

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """The connection in one write transaction: committed at the end of the block, rolled back if it raises."""
        with self.connect(durable=durable) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the error that got here is the one to report
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
