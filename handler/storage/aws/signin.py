"""Sign-in state on AWS: each address's code with its attempts left, and rate counters per window."""

from __future__ import annotations

from datetime import datetime

from handler.signin import PendingCode, SignInState
from handler.storage.aws import records
from handler.storage.aws.records import TTL_ATTRIBUTE
from handler.storage.aws.table import Table, Write


class AwsSignIn(SignInState):
    """Codes as ``CODE#`` items and counters as ``COUNTER#`` items; TTL removes both when they expire."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put_code(self, code: PendingCode) -> None:
        """Keep the address's new code (replacing the old one); TTL removes it after it expires."""
        self._table.write("writing the sign-in code", Write("Put", records.code_item(code)))

    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        """Spend one attempt on the unexpired code, atomically; None when none is left."""
        spend = Write(
            "Update",
            records.key("CODE", email),
            # Attempts left, and not expired (TTL deletes late: an expired item still counts as absent).
            f"attemptsLeft > :zero AND #{TTL_ATTRIBUTE} > :now",
            "SET attemptsLeft = attemptsLeft - :one",
            {":one": 1, ":zero": 0, ":now": records.epoch(now)},
        )
        item = self._table.write("checking the sign-in code", spend, returns="ALL_NEW")
        return records.code(email, item) if item is not None else None

    def live_code(self, email: str, now: datetime) -> PendingCode | None:
        """The unexpired code with attempts left, as it is (TTL deletes late: an expired item counts as absent)."""
        item = self._table.get(records.key("CODE", email), "reading the sign-in code")
        if item is None or int(item[TTL_ATTRIBUTE]) <= records.epoch(now) or int(item["attemptsLeft"]) <= 0:
            return None
        return records.code(email, item)

    def extend_code(self, email: str, digest: str, now: datetime, expires_at: datetime) -> bool:
        """Move this code's expiry (and its TTL), if it is still pending."""
        extend = Write(
            "Update",
            records.key("CODE", email),
            f"digest = :digest AND #{TTL_ATTRIBUTE} > :now",
            f"SET #{TTL_ATTRIBUTE} = :expires",
            {":digest": digest, ":now": records.epoch(now), ":expires": records.epoch(expires_at)},
        )
        return self._table.write("keeping the sign-in code", extend) is not None

    def delete_code(self, email: str, digest: str) -> bool:
        """Remove this very code; only one caller can succeed, so a code signs in once."""
        delete = Write("Delete", records.key("CODE", email), "digest = :digest", values={":digest": digest})
        return self._table.write("using the sign-in code", delete) is not None

    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        """An atomic counter per key and window; TTL removes old windows."""
        add = Write(
            "Update",
            {"pk": f"COUNTER#{key}", "sk": records.timestamp(window_start)},
            update=f"ADD hits :one SET #{TTL_ATTRIBUTE} = :expires",
            values={":one": 1, ":expires": records.epoch(expires_at)},
        )
        answer = self._table.write("counting", add, returns="UPDATED_NEW")
        assert answer is not None  # no condition to fail
        return int(answer["hits"])

    def counted(self, key: str, window_start: datetime) -> int:
        """The counter of the key and window as it is."""
        item = self._table.get({"pk": f"COUNTER#{key}", "sk": records.timestamp(window_start)}, "reading a counter")
        return int(item["hits"]) if item else 0
