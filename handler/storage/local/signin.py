"""Sign-in state in the embedded store: each address's code with its attempts left, and rate counters."""

from __future__ import annotations

from datetime import datetime

from handler.signin import PendingCode, SignInState
from handler.storage.local import records
from handler.storage.local.db import Database


class LocalSignIn(SignInState):
    """Codes as rows of ``sign_in_codes``, counters as rows of ``counters``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put_code(self, code: PendingCode) -> None:
        """Keep the address's new code, replacing the old one."""
        self._db.changed(
            "INSERT OR REPLACE INTO sign_in_codes (email, digest, expires_at, attempts_left, nonce) "
            "VALUES (?, ?, ?, ?, ?)",
            records.code_row(code),
        )

    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        """Spend an attempt on the unexpired code, if any attempts are left."""
        row = self._db.row(
            "UPDATE sign_in_codes SET attempts_left = attempts_left - 1 "
            "WHERE email = ? AND expires_at > ? AND attempts_left > 0 "
            "RETURNING digest, expires_at, attempts_left, nonce",
            (email, now.isoformat()),
        )
        return records.code(email, row) if row else None

    def live_code(self, email: str, now: datetime) -> PendingCode | None:
        """The unexpired code with attempts left, as it is."""
        row = self._db.row(
            "SELECT digest, expires_at, attempts_left, nonce FROM sign_in_codes "
            "WHERE email = ? AND expires_at > ? AND attempts_left > 0",
            (email, now.isoformat()),
        )
        return records.code(email, row) if row else None

    def extend_code(self, email: str, digest: str, now: datetime, expires_at: datetime) -> bool:
        """Move this code's expiry, if it is still pending."""
        return bool(
            self._db.changed(
                "UPDATE sign_in_codes SET expires_at = ? WHERE email = ? AND digest = ? AND expires_at > ?",
                (expires_at.isoformat(), email, digest, now.isoformat()),
            )
        )

    def delete_code(self, email: str, digest: str) -> bool:
        """Remove this code; only one caller can succeed."""
        return bool(self._db.changed("DELETE FROM sign_in_codes WHERE email = ? AND digest = ?", (email, digest)))

    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        """Add one to the window's counter and return it; old windows are dropped.

        Not synced on its own (a count a power cut takes back costs nothing): the next durable commit, such
        as the request it counted, syncs it too.
        """
        with self._db.connect(durable=False) as db:
            db.execute("DELETE FROM counters WHERE expires_at <= ?", (window_start.isoformat(),))
            row = db.execute(
                "INSERT INTO counters VALUES (?, ?, 1, ?) ON CONFLICT (key, window_start) "
                "DO UPDATE SET count = count + 1 RETURNING count",
                (key, window_start.isoformat(), expires_at.isoformat()),
            ).fetchone()
        return int(row[0])

    def counted(self, key: str, window_start: datetime) -> int:
        """The window's counter as it is."""
        row = self._db.row(
            "SELECT count FROM counters WHERE key = ? AND window_start = ?", (key, window_start.isoformat())
        )
        return int(row[0]) if row else 0
