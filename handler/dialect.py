"""The form dialect: the JSON Schema 2020-12 keywords, formats, widgets and ``x-`` extensions a form may use.

This module is the registry. For each keyword it says which values it checks, the shape of its own
value (for the dialect's metaschema), the HTML attribute it becomes and the order in which a field's
failures are reported; the page's checker (``site/static/checks.js``) implements the same names,
and a test holds the two lists equal. Widgets are folders under ``site/widgets/``: each one's
``widget.json`` says which values it edits, which keywords it takes and what the rest of the code may ask of it.
``metaschema()`` turns both into the JSON Schema that every form file must pass before anything else reads it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker

from handler.addresses import EMAIL_PATTERN
from handler.dialect_shapes import (
    BRANCH,
    COUNT,
    DATE_PATTERN,
    DATE_TIME_PATTERN,
    FORM,
    FORM_HEADER,
    LEVEL,
    LEVEL_PROPERTIES,
    MOMENT,
    NUMBER,
    OFFICE_HOURS,
    SCALAR,
    TIME_PATTERN,
    TIME_ZONE,
    UPLOAD,
    URI_PATTERN,
)
from handler.patterns import check_pattern, python_regex

WIDGETS_DIR = Path(__file__).resolve().parent.parent / "site" / "widgets"
# How the page reads a widget's value, and what kind of moment a value is (site/widgets/widget.schema.json).
ValueKind = Literal["text", "number", "boolean", "list", "choice", "choices", "uploads"]
Moment = Literal["date", "time", "datetime"]


@dataclass(frozen=True)
class Keyword:
    """A validation keyword of the dialect: what it checks, its value's shape and its HTML attribute."""

    name: str
    checks: tuple[str, ...]  # JSON types whose values it constrains (JSON Schema ignores the others)
    value: Mapping[str, Any]  # the shape of the keyword's own value, as part of the metaschema
    attribute: str | None = None  # the HTML constraint attribute it becomes, if any


# In the order a field's failures are reported: the first failure of a field is its message.
KEYWORDS: tuple[Keyword, ...] = (
    Keyword("type", (), {"enum": ["string", "integer", "number", "boolean", "array"]}),
    Keyword("enum", (), {"type": "array", "items": SCALAR, "minItems": 1, "uniqueItems": True}),
    Keyword("const", (), SCALAR),
    Keyword("format", ("string",), {"enum": ["email", "date", "local-time", "local-date-time", "uri"]}),
    Keyword("minLength", ("string",), COUNT, "minlength"),
    Keyword("maxLength", ("string",), COUNT),
    Keyword("pattern", ("string",), {"type": "string", "format": "portable-pattern"}, "pattern"),
    Keyword("minimum", ("number",), NUMBER, "min"),
    Keyword("exclusiveMinimum", ("number",), NUMBER),
    Keyword("maximum", ("number",), NUMBER, "max"),
    Keyword("exclusiveMaximum", ("number",), NUMBER),
    Keyword("multipleOf", ("number",), {"type": "number", "exclusiveMinimum": 0}, "step"),
    Keyword("minItems", ("array",), COUNT),
    Keyword("maxItems", ("array",), COUNT),
    Keyword("uniqueItems", ("array",), {"type": "boolean"}),
    # Extensions for dates and times: ISO values, or "today"/"now" in the form's time zone.
    Keyword("x-earliest", ("string",), MOMENT, "min"),
    Keyword("x-latest", ("string",), MOMENT, "max"),
)
KEYWORD_NAMES = tuple(k.name for k in KEYWORDS)
# Before them: a missing value, text that cannot be read (a lone surrogate), and a number that cannot
# be compared alike on both sides (not finite, or beyond a browser's numbers: JSON's 1e400, 10**400).
RANK = {name: index for index, name in enumerate(("required", "x-text", "x-number", *KEYWORD_NAMES))}
# Keywords a field may carry that check nothing: references, notes and the widget's settings.
ANNOTATIONS = ("$ref", "$id", "$comment", "description", "x-widget", "x-upload")
# Keywords that check only through code of this project, not through jsonschema.
EXTENSION_KEYWORDS = frozenset({"x-earliest", "x-latest"})

# Cross-field rules: the members each one needs besides "rule" and "field".
RULES: Mapping[str, Mapping[str, Any]] = {
    "after": {"other": {"type": "string"}},
    "not-before": {"other": {"type": "string"}},
    "not-past": {"timeZone": {"$ref": "#/$defs/timeZone"}},
    "outside-office-hours": {"other": {"type": "string"}, "officeHours": {"$ref": "#/$defs/officeHours"}},
}


@dataclass(frozen=True)
class Widget:
    """A way to draw a field: read from ``site/widgets/<name>/widget.json``. Code outside the widget's folder asks
    what it declares (how its value is read, whether it is a moment, short, several lines…), never its name."""

    name: str
    macro: str  # the widget whose macro.html draws it: its own name, or another's
    accepts: Mapping[str, Any]  # a JSON Schema the field's own schema must satisfy
    keywords: frozenset[str]  # the keywords it can enforce on the page
    item_keywords: frozenset[str]
    attributes: Mapping[str, Any]  # fixed HTML attributes of its control
    value: ValueKind  # how the page reads its value
    infer: Mapping[str, Any] | None  # fields without x-widget that match this schema get this widget
    folder: Path
    moment: Moment | None = None  # the value is a day ("date"), a time of day ("time") or both ("datetime")
    short: bool = False  # drawn narrow
    multiline: bool = False  # several lines of text
    character_count: bool = False  # the page counts the characters left against maxLength
    fallback: bool = False  # draws the fields no widget's infer matches
    format_hint: str | None = None  # the key in common's formatHints of the example shown beside the control


@functools.cache
def widgets(folder: Path = WIDGETS_DIR) -> Mapping[str, Widget]:
    """Every widget of the site, by name."""
    found: dict[str, Widget] = {}
    for path in sorted(folder.glob("*/widget.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        found[path.parent.name] = Widget(
            name=path.parent.name,
            macro=raw.get("macro", path.parent.name),
            accepts=raw["accepts"],
            keywords=frozenset(raw["keywords"]),
            item_keywords=frozenset(raw.get("itemKeywords", ())),
            attributes=raw.get("attributes", {}),
            value=raw["value"],
            infer=raw.get("infer"),
            folder=path.parent,
            moment=raw.get("moment"),
            short=raw.get("short", False),
            multiline=raw.get("multiline", False),
            character_count=raw.get("characterCount", False),
            fallback=raw.get("fallback", False),
            format_hint=raw.get("formatHint"),
        )
    return found


WIDGET_SCHEMA = "widget.schema.json"  # in the widgets folder: what a widget.json may say


def widget_file_problems(folder: Path = WIDGETS_DIR) -> list[str]:
    """Where a ``widget.json`` leaves the widget schema, as ``file: JSON pointer: what is wrong``."""
    schema = json.loads((folder / WIDGET_SCHEMA).read_text(encoding="utf-8"))
    schema["$defs"]["keyword"] = {"enum": list(KEYWORD_NAMES)}  # the registry's keywords
    validator = Draft202012Validator(schema)
    problems = []
    fallbacks = []
    for path in sorted(folder.glob("*/widget.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: not valid JSON: {exc}")
            continue
        for error in validator.iter_errors(raw):
            for leaf in _leaves(error):
                problems.append(f"{path}: {pointer(leaf.absolute_path)}: {_explain(leaf)} (widget.schema.json)")
        problems += _macro_problems(path, raw)
        if isinstance(raw, Mapping) and raw.get("fallback") is True:
            fallbacks.append(path.parent.name)
    if len(fallbacks) != 1:
        problems.append(f"{folder}: exactly one widget.json says fallback: true (found: {fallbacks or 'none'})")
    return sorted(set(problems))


def _macro_problems(path: Path, raw: Any) -> list[str]:
    """A widget is drawn by its own macro.html, or names a widget folder that has one."""
    if not isinstance(raw, Mapping):
        return []
    name = raw.get("macro", path.parent.name)
    macro = path.parent.parent / str(name) / "macro.html"
    if not macro.is_file():
        return [f"{path}: /macro: no {macro.relative_to(path.parent.parent)} draws the widget"]
    own = (path.parent / "macro.html").is_file()
    if "macro" in raw and own:
        return [f"{path}: /macro: the folder has its own macro.html; name another widget's only without one"]
    if own != ("params" in raw):
        return [f"{path}: /params: document the params of the folder's own macro.html, and only of it"]
    return []


def widget_for(schema: Mapping[str, Any], available: Mapping[str, Widget]) -> str:
    """The widget a field names with ``x-widget``, or the first whose ``infer`` schema it matches."""
    if "x-widget" in schema:
        return str(schema["x-widget"])
    for widget in available.values():
        if widget.infer is not None and Draft202012Validator(widget.infer).is_valid(schema):
            return widget.name
    return next(widget.name for widget in available.values() if widget.fallback)


# ---- Formats: one definition, used by the metaschema check and by the handler --------------------

FORMAT_CHECKER = FormatChecker(formats=())
FORMAT_PATTERNS = {
    "email": EMAIL_PATTERN,
    "uri": URI_PATTERN,
    "local-time": TIME_PATTERN,
    "local-date-time": DATE_TIME_PATTERN,
    "date": DATE_PATTERN,
}


def _format(name: str) -> None:
    regex = python_regex(FORMAT_PATTERNS[name])
    with_date = name in ("date", "local-date-time")

    @FORMAT_CHECKER.checks(name)
    def _check(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not regex.search(value):
            return False
        return not with_date or is_calendar_date(value[:10])


def is_calendar_date(text: str) -> bool:
    """Whether ``YYYY-MM-DD`` names a real day of the years 1 to 9999."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


for _name in FORMAT_PATTERNS:
    _format(_name)

_META_FORMATS = FormatChecker(formats=())


@_META_FORMATS.checks("portable-pattern")
def _portable(value: object) -> bool:
    return not isinstance(value, str) or check_pattern(value) is None


@_META_FORMATS.checks("time-zone")
def _time_zone(value: object) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---- The metaschema ------------------------------------------------------------------------------


@functools.cache
def metaschema(folder: Path = WIDGETS_DIR) -> dict[str, Any]:
    """The dialect as a JSON Schema that a form file must pass: every keyword, widget and rule."""
    field = {
        "type": "object",
        "properties": {
            **{k.name: k.value for k in KEYWORDS},
            "$ref": {"type": "string"},
            "$id": {"type": "string"},
            "$comment": {"type": "string"},
            "description": {"type": "string"},
            "x-widget": {"enum": sorted(widgets(folder))},
            "x-upload": {"$ref": "#/$defs/upload"},
            "items": {"$ref": "#/$defs/field"},
        },
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:servicedesk-forms:dialect",
        "title": "A form of servicedesk-forms",
        "type": "object",
        "required": ["$schema", "$id", "x-form", "type", "properties", "unevaluatedProperties"],
        "additionalProperties": False,
        "properties": {
            **FORM_HEADER,
            **LEVEL_PROPERTIES,
            "unevaluatedProperties": {"const": False},
            "x-rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "$defs": {"type": "object", "additionalProperties": {"$ref": "#/$defs/field"}},
        },
        "$defs": {
            "field": field,
            "branch": BRANCH,
            "level": LEVEL,
            "form": FORM,
            "rule": rule_schema(),
            "timeZone": TIME_ZONE,
            "officeHours": OFFICE_HOURS,
            "upload": UPLOAD,
        },
    }


def rule_schema() -> dict[str, Any]:
    """A cross-field rule: one of ``RULES``, with exactly the members it needs."""
    variants = [
        {
            "if": {"properties": {"rule": {"const": rule}}},
            "then": {
                "required": ["rule", "field", *members],
                "properties": {"rule": True, "field": True, **members},
                "additionalProperties": False,
            },
        }
        for rule, members in RULES.items()
    ]
    return {
        "type": "object",
        "required": ["rule", "field"],
        "properties": {"rule": {"enum": list(RULES)}, "field": {"type": "string"}},
        "allOf": variants,
    }


def dialect_problems(schema: Any, folder: Path = WIDGETS_DIR) -> list[tuple[str, str]]:
    """Every place ``schema`` leaves the dialect, as (JSON pointer, what is wrong)."""
    validator = Draft202012Validator(metaschema(folder), format_checker=_META_FORMATS)
    problems = []
    for error in validator.iter_errors(schema):
        for leaf in _leaves(error):
            problems.append((pointer(leaf.absolute_path), _explain(leaf)))
    return sorted(set(problems))


def _leaves(error: Any) -> list[Any]:
    """The most specific errors under ``error`` (an ``if``/``then`` failure reports its causes)."""
    if error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _explain(error: Any) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {})
        unknown = sorted(k for k in error.instance if k not in allowed)
        return f"{', '.join(map(repr, unknown))} is not part of the dialect (allowed here: {', '.join(allowed)})"
    if error.validator == "format" and error.validator_value == "portable-pattern":
        return f"the pattern {error.instance!r} cannot be used: {check_pattern(error.instance)}"
    if error.validator == "format" and error.validator_value == "time-zone":
        return f"{error.instance!r} is not a time zone name such as Europe/Oslo"
    return str(error.message)


def pointer(parts: Any) -> str:
    """A JSON pointer for a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts) or "/"
