"""Office hours with public holidays: a support window on a Norwegian public holiday lies outside office hours,
on the page and on the server alike, across years; the calendar is data in schema/ (``officeHours.holidays``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import build
from handler.rules import Rule
from handler.schema.loader import COMPILED, SCHEMA_DIR, SchemaProblem, compile_catalog, load_catalog
from tests.helpers.clock import NOW
from tests.helpers.edits import rewrite
from tests.helpers.pagecheck import verdicts
from tests.helpers.shipped import form, valid_case_with_rule_at

# Known from the almanac, not from the library the product uses: weekdays that are public holidays in Norway.
HOLIDAYS = {
    "1. juledag": ["2026-12-25", "2028-12-25", "2029-12-25", "2030-12-25"],
    "17. mai": ["2027-05-17", "2028-05-17", "2029-05-17", "2030-05-17"],
    "Skjærtorsdag": ["2027-03-25", "2028-04-13", "2029-03-29", "2030-04-18"],
    "Kristi himmelfartsdag": ["2027-05-06", "2028-05-25", "2029-05-10", "2030-05-30"],
}
ORDINARY = ["2026-12-22", "2027-05-18", "2028-04-19", "2030-05-29"]  # weekdays with the office open


def office_hours_rule() -> Rule:
    """The shipped form's office-hours rule; the test is skipped, saying so, when schema/ no longer has one."""
    rule = next((r for r in form().rules if r.rule == "outside-office-hours"), None)
    if rule is None:
        pytest.skip("schema/'s service-request form has no outside-office-hours rule any more")
    return rule


def window(day: str) -> dict[str, object]:
    """A request for extended support from 10 to 12 on ``day``: inside office hours on an ordinary weekday."""
    rule = office_hours_rule()
    assert rule.other is not None
    base = valid_case_with_rule_at("outside-office-hours", NOW)
    return base | {rule.other: f"{day}T10:00", rule.field: f"{day}T12:00"}


def office_hours_errors(day: str) -> list[str]:
    return [e.keyword for e in form().validate(window(day), "nb", NOW) if e.keyword == "x-outside-office-hours"]


@pytest.mark.parametrize(("name", "day"), [(n, d) for n, days in HOLIDAYS.items() for d in days])
def test_a_window_on_a_public_holiday_is_outside_office_hours(name: str, day: str) -> None:
    assert office_hours_errors(day) == [], name


@pytest.mark.parametrize("day", ORDINARY)
def test_the_same_window_on_an_ordinary_weekday_is_inside_them(day: str) -> None:
    assert office_hours_errors(day) == ["x-outside-office-hours"]


def test_the_page_agrees_on_every_day_and_says_holidays_are_excepted() -> None:
    days = [d for ds in HOLIDAYS.values() for d in ds] + ORDINARY
    catalog = load_catalog()
    for data, server, page in verdicts(catalog, form(), [window(d) for d in days], NOW):
        assert page == server, data
    rule = office_hours_rule()
    assert "unntatt helligdager" in str(form().hint("nb", rule.other or ""))
    assert "except public holidays" in form().message("en", rule.field, "x-outside-office-hours")


def test_the_compiled_catalog_carries_the_holidays(tmp_path: Path) -> None:
    office_hours_rule()  # skips without one
    (tmp_path / COMPILED).write_text(json.dumps(compile_catalog(load_catalog())), encoding="utf-8")
    compiled = load_catalog(tmp_path).forms[form().id]
    assert compiled.closed_days() == form().closed_days() and compiled.closed_days()
    assert compiled.validate(window("2027-05-17"), "nb", NOW) == form().validate(window("2027-05-17"), "nb", NOW)


@pytest.mark.parametrize(
    ("spec", "what"),
    [
        ({"calendar": "XX", "from": 2025, "to": 2030}, "'XX' is no country"),
        ({"calendar": "NO", "from": 2031, "to": 2030}, "after"),
    ],
)
def test_a_calendar_that_cannot_be_read_is_refused_with_its_place(tmp_path: Path, spec: object, what: str) -> None:
    office_hours_rule()  # skips without one
    root = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, root)

    def change(schema: dict[str, Any]) -> None:
        rule = next(r for r in schema["x-rules"] if r["rule"] == "outside-office-hours")
        rule["officeHours"]["holidays"] = spec

    rewrite(root / "forms" / "service-request.schema.json", change)
    with pytest.raises(SchemaProblem) as refused:
        load_catalog(root)
    assert any("/officeHours/holidays" in p and what in p for p in refused.value.problems)


def test_the_example_time_of_a_support_window_is_one_the_form_takes() -> None:
    rule = office_hours_rule()
    field = form().field(rule.other or "")
    assert rule.office_hours is not None and field is not None
    for language, common in load_catalog().common.items():
        example = str(build.format_hint(field, common)).split(" ")[-2:]  # "For example 31/12/2026 18:30"
        day, month, year = re.split(r"[./]", example[0])
        start = f"{year}-{month}-{day}T{example[1]}"
        assert not rule.office_hours.contains(start, start), f"{language}: the example {example} is in office hours"
