"""The one moment of the tests, and a clock the tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Tests that depend on "now" (a support window must not be in the past) run at this moment (the fixture clock).
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
