"""The schema's one extension for rules JSON Schema cannot express: ``x-rules`` on a form.

Each rule compares fields of the submitted document and, when it fails, reports an error on
``field`` with the keyword ``x-<rule>``. A rule only runs when all the fields it names are present
and passed their own schema checks. The page's script (``site/static/form.js``) implements the
same three rules; ``docs/schema-format.md`` documents them.

- ``after``: ``field`` must sort after ``other`` (ISO dates, ``HH:MM`` times).
- ``not-before``: ``field`` must be equal to or after ``other``.
- ``not-past``: the date in ``date`` at the time in ``field``, in ``timeZone``, must not have passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

RULES = ("after", "not-before", "not-past")


@dataclass(frozen=True)
class Rule:
    """One cross-field rule as declared in the schema."""

    rule: str
    field: str
    other: str | None = None
    date: str | None = None
    time_zone: str | None = None

    @classmethod
    def from_schema(cls, raw: Mapping[str, Any]) -> Rule:
        """Read one entry of ``x-rules``; the schema check has already validated its shape."""
        return cls(
            rule=raw["rule"],
            field=raw["field"],
            other=raw.get("other"),
            date=raw.get("date"),
            time_zone=raw.get("timeZone"),
        )

    @property
    def keyword(self) -> str:
        """The keyword errors of this rule carry, like ``x-after``."""
        return f"x-{self.rule}"

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the rule reads."""
        return tuple(f for f in (self.field, self.other, self.date) if f)

    def holds(self, data: Mapping[str, Any], now: datetime) -> bool:
        """Whether the rule is satisfied by ``data`` at the moment ``now`` (timezone-aware)."""
        value = data[self.field]
        if self.rule == "after":
            return bool(value > data[self.other or ""])
        if self.rule == "not-before":
            return bool(value >= data[self.other or ""])
        # Compare wall-clock times in the rule's zone, to the minute, as the page's script does.
        local_now = now.astimezone(ZoneInfo(self.time_zone or "UTC")).strftime("%Y-%m-%dT%H:%M")
        return f"{data[self.date or '']}T{value}" >= local_now
