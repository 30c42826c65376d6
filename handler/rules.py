"""Cross-field rules, the schema's ``x-rules``: what JSON Schema cannot say about two fields together.

Each rule compares fields of the submitted document and, when it fails, reports an error on
``field`` with the keyword ``x-<rule>``. A rule only runs when every field it names is shown, present
and passed its own checks, so it only ever compares well-formed values of the same kind. The page's
checker (``site/static/checks.js``) implements the same rules; ``docs/schema-format.md`` documents them.

- ``after``: ``field`` sorts after ``other`` (ISO dates, ``HH:MM`` times, ``YYYY-MM-DDTHH:MM``, numbers).
- ``not-before``: ``field`` is equal to or after ``other``.
- ``not-past``: the wall-clock moment in ``field`` (a date-time, or a date) has not passed in ``timeZone``.
- ``outside-office-hours``: the window from ``other`` to ``field`` (date-times) is not entirely
  inside the office hours ``officeHours`` declares (days 1 = Monday … 7, ``opens``, ``closes``, and the
  public holidays of ``holidays``, on which the desk is closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class OfficeHours:
    """The hours the service desk is staffed: days of the week (1 = Monday), opening and closing time, and the
    days it is closed all the same (public holidays, as ISO dates)."""

    days: tuple[int, ...]
    opens: str
    closes: str
    time_zone: str
    closed: frozenset[str] = frozenset()

    def contains(self, start: str, end: str) -> bool:
        """Whether the window from ``start`` to ``end`` (``YYYY-MM-DDTHH:MM``) lies entirely inside office hours."""
        if start[:10] != end[:10] or start[:10] in self.closed:
            return False  # a window over midnight, or on a holiday, always reaches outside office hours
        weekday = date.fromisoformat(start[:10]).isoweekday()
        return weekday in self.days and self.opens <= start[11:] and end[11:] <= self.closes


@dataclass(frozen=True)
class Rule:
    """One cross-field rule as declared in the schema."""

    rule: str
    field: str
    other: str | None = None
    time_zone: str | None = None
    office_hours: OfficeHours | None = None

    @classmethod
    def from_schema(cls, raw: Mapping[str, Any], closed: Mapping[str, Sequence[str]]) -> Rule:
        """Read one entry of ``x-rules``; the dialect's metaschema has already checked its shape. ``closed``
        holds the dates of each holiday calendar the office hours name (by ``holiday_calendar``)."""
        hours = raw.get("officeHours")
        office_hours = None
        if hours:
            calendar = holiday_calendar(hours)
            days_off = frozenset(closed[calendar]) if calendar else frozenset()
            office_hours = OfficeHours(
                tuple(hours["days"]), hours["opens"], hours["closes"], hours["timeZone"], days_off
            )
        return cls(
            rule=raw["rule"],
            field=raw["field"],
            other=raw.get("other"),
            time_zone=raw.get("timeZone"),
            office_hours=office_hours,
        )

    @property
    def keyword(self) -> str:
        """The keyword errors of this rule carry, like ``x-after``."""
        return f"x-{self.rule}"

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the rule reads."""
        return tuple(f for f in (self.field, self.other) if f)

    def as_json(self) -> dict[str, Any]:
        """The rule as the page's checker reads it."""
        hours = self.office_hours
        return {
            "rule": self.rule,
            "field": self.field,
            "other": self.other,
            "timeZone": self.time_zone,
            "officeHours": {
                "days": list(hours.days),
                "opens": hours.opens,
                "closes": hours.closes,
                "closed": sorted(hours.closed),
            }
            if hours
            else None,
        }

    def holds(self, data: Mapping[str, Any], now: datetime) -> bool:
        """Whether the rule is satisfied by ``data`` at the moment ``now`` (timezone-aware)."""
        value = data[self.field]
        other = data.get(self.other or "")
        if self.rule in ("after", "not-before") and type(value) is not type(other):
            return True  # values of different kinds are each reported by their own checks
        if self.rule == "after":
            return bool(value > other)
        if self.rule == "not-before":
            return bool(value >= other)
        if self.rule == "outside-office-hours":
            assert self.office_hours is not None
            return not self.office_hours.contains(str(other), str(value))
        return str(value) >= wall_clock(now, self.time_zone or "UTC")[: len(str(value))]


def holiday_calendar(hours: Mapping[str, Any]) -> str | None:
    """The name of the holiday calendar ``officeHours`` declares, as ``NO:2025-2040``, or None."""
    spec = hours.get("holidays")
    return f"{spec['calendar']}:{spec['from']}-{spec['to']}" if spec else None


def wall_clock(now: datetime, time_zone: str) -> str:
    """``now`` as ``YYYY-MM-DDTHH:MM`` on the clocks of ``time_zone``."""
    return now.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M")
