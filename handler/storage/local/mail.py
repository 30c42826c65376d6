"""The mail queue in the embedded store: one row of ``mail_queue`` per message."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from handler.mail import MailQueue, QueuedMail
from handler.storage.local import records
from handler.storage.local.db import Database, utc


def insert_mails(db: sqlite3.Connection, mails: Sequence[QueuedMail]) -> None:
    """Add or replace messages (unclaimed, unmarked) in ``db``'s transaction."""
    db.executemany(
        f"INSERT OR REPLACE INTO mail_queue ({records.MAIL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [records.mail_row(mail) for mail in mails],
    )


class LocalMail(MailQueue):
    """Messages as rows of ``mail_queue``, held by ``claimed_until`` and marked by ``sending_since``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def queue_mails(self, mails: Sequence[QueuedMail]) -> None:
        """Add or replace messages in one transaction; replacing lets go of any claim."""
        with self._db.connect() as db:
            insert_mails(db, mails)

    def queued_mails(self, limit: int, now: datetime) -> list[QueuedMail]:
        """The oldest messages that no sender holds or has sent."""
        rows = self._db.rows(
            f"SELECT {records.MAIL_COLUMNS} FROM mail_queue "
            "WHERE claimed_until <= ? AND sending_since = '' ORDER BY queued_at, id LIMIT ?",
            (now.isoformat(), limit),
        )
        return [records.mail(row) for row in rows]

    def claim_mail(self, mail_id: str, until: datetime, now: datetime) -> bool:
        """Take the message unless another sender holds it."""
        return bool(
            self._db.changed(
                "UPDATE mail_queue SET claimed_until = ? WHERE id = ? AND claimed_until <= ? AND sending_since = ''",
                (until.isoformat(), mail_id, now.isoformat()),
            )
        )

    def mark_mail_sending(self, mail_id: str, now: datetime) -> bool:
        """Mark the message as going out; it is never offered again."""
        mark = "UPDATE mail_queue SET sending_since = ? WHERE id = ? AND sending_since = ''"
        return bool(self._db.changed(mark, (utc(now), mail_id)))

    def forget_mail(self, mail_id: str) -> None:
        """Drop a message that has been sent, and its text from the write-ahead log too.

        The connections stay open, so the log is not folded into the database when the last one closes: it
        is folded in and emptied here, so that a sent message (a sign-in code, say) leaves no copy on disk.
        This runs in the sender, after the answer, never on a submission's way.
        """
        with self._db.connect() as db:
            db.execute("DELETE FROM mail_queue WHERE id = ?", (mail_id,))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # busy (readers): the next one does it

    def give_up_mail(self, mail: QueuedMail) -> None:
        """Move the message to ``mail_given_up`` in one transaction."""
        with self._db.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO mail_given_up ({records.MAIL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                records.mail_row(mail),
            )
            db.execute("DELETE FROM mail_queue WHERE id = ?", (mail.id,))

    def given_up_mails(self, limit: int) -> list[QueuedMail]:
        """The rows of ``mail_given_up``, oldest first."""
        query = f"SELECT {records.MAIL_COLUMNS} FROM mail_given_up ORDER BY queued_at, id LIMIT ?"
        return [records.mail(row) for row in self._db.rows(query, (limit,))]

    def resend_mail(self, mail_id: str, now: datetime) -> bool:
        """Move the message back to ``mail_queue`` in one transaction."""
        with self._db.transaction() as db:
            query = f"SELECT {records.MAIL_COLUMNS} FROM mail_given_up WHERE id = ?"
            row = db.execute(query, (mail_id,)).fetchone()
            if row is None:
                return False
            insert_mails(db, [replace(records.mail(row), attempts=0, queued_at=now)])
            db.execute("DELETE FROM mail_given_up WHERE id = ?", (mail_id,))
        return True

    def interrupted_mails(self, before: datetime) -> list[QueuedMail]:
        """Messages marked as going out before ``before`` and never forgotten."""
        query = f"SELECT {records.MAIL_COLUMNS} FROM mail_queue WHERE sending_since != '' AND sending_since < ?"
        return [records.mail(row) for row in self._db.rows(query, (utc(before),))]
