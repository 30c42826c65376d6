"""The one loader of ``schema/``: forms, their texts, and the field model the site and the handler share."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from handler.conversation_rules import ConversationRules, read_rules
from handler.dialect import (
    FORMAT_CHECKER,
    KEYWORD_NAMES,
    RANK,
    Widget,
    dialect_problems,
    pointer,
    widget_file_problems,
    widget_for,
    widgets,
)
from handler.patterns import python_regex
from handler.rules import Rule, holiday_calendar, wall_clock
from handler.texts import fill, missing_texts, placeholders
from handler.ticket_mapping import TicketMapping, read_mappings, site_tickets

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
CONTACT_TYPES_ID = "urn:servicedesk-forms:contact-types"
DEFAULT_TIME_ZONE = "Europe/Oslo"


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not python_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def exact(number: float) -> Fraction | None:
    """A JSON number as the decimal it is written as (a float by its shortest representation, as the
    page's ``String(number)`` writes it), exactly; None for a number that is not finite."""
    if isinstance(number, float):
        return Fraction(Decimal(repr(number))) if math.isfinite(number) else None
    return Fraction(number)


def is_multiple(number: float, step: float) -> bool:
    """Whether ``number`` is a whole multiple of ``step``, in decimal arithmetic: 19.99 is a multiple of 0.01."""
    value, unit = exact(number), exact(step)
    return value is not None and unit is not None and unit != 0 and (value / unit).denominator == 1


def _multiple_of(validator: Any, step: float, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "number") and not is_multiple(instance, step):
        yield ValidationError(f"{instance!r} is not a multiple of {step!r}")


# JSON Schema's own validator, with ``pattern`` read as the browser reads it (handler/patterns.py) and
# ``multipleOf`` in decimal arithmetic, as the page's checker does it.
FormValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern, "multipleOf": _multiple_of}
)


def json_equal(one: Any, other: Any) -> bool:
    """JSON's equality, as JSON Schema's ``const`` and ``enum`` use it: 1 and 1.0 are equal, true and 1 are not."""
    if isinstance(one, bool) or isinstance(other, bool):
        return type(one) is type(other) and one == other
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(json_equal(a, b) for a, b in zip(one, other, strict=True))
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(json_equal(one[k], other[k]) for k in one)
    if isinstance(one, list | dict) or isinstance(other, list | dict):
        return False
    return bool(one == other)


def option_key(option: Any) -> str:
    """A choice as its texts and the page name it: a text as it is, a number or true/false as JSON
    writes it (whole numbers without ``.0``, as the page writes them)."""
    if isinstance(option, str):
        return option
    if isinstance(option, float) and option.is_integer() and abs(option) < 1e21:
        return str(int(option))
    return json.dumps(option)


def unreadable_number(value: Any) -> bool:
    """Whether ``value`` holds a number that neither side can compare alike: one that is not finite
    (JSON's ``1e400``), or a whole number beyond what a browser's numbers hold (``10**400``). Lists and
    objects are walked without recursion, however deep they nest."""
    waiting = [value]
    while waiting:
        item = waiting.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, int) and abs(item) > sys.float_info.max:
            return True
        if isinstance(item, list):
            waiting.extend(item)
        elif isinstance(item, dict):
            waiting.extend(item.values())
    return False


class SchemaProblem(Exception):
    """The schema folder breaks the metaschema or a convention; ``problems`` says what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Condition:
    """The test of one ``if``/``then`` branch: ``field`` has the value ``value`` (``{"const": value}``),
    or, with ``contains``, the list ``field`` holds ``value`` (``{"contains": {"const": value}}``)."""

    field: str
    value: Any
    contains: bool = False

    def holds(self, data: Mapping[str, Any]) -> bool:
        """Whether the branch's ``if`` holds for ``data``, as JSON Schema evaluates it (``contains``
        tests only a list, so any other value passes it; the field's own type check refuses that)."""
        if self.field not in data:
            return False
        value = data[self.field]
        if self.contains:
            return not isinstance(value, list) or any(json_equal(item, self.value) for item in value)
        return json_equal(value, self.value)

    def as_json(self) -> list[Any]:
        """The test as the page and the compiled catalog read it: ``[field, value]``, or
        ``[field, value, "contains"]``."""
        return [self.field, self.value, "contains"] if self.contains else [self.field, self.value]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Condition:
        """A test written by ``as_json``."""
        return cls(raw[0], raw[1], len(raw) > 2 and raw[2] == "contains")


Path_ = tuple[Condition, ...]


@dataclass(frozen=True)
class Field:
    """One input of a form, with every branch that shows it and the schema that checks it."""

    name: str
    schema: Mapping[str, Any]
    widget: str
    shown_when: tuple[Path_, ...]
    required_when: tuple[Path_, ...]
    value_kind: str = "text"  # how the page reads it: text, number, boolean, list, choice, choices, uploads

    @property
    def options(self) -> tuple[Any, ...]:
        """The allowed values of a choice field (or of its items), in schema order."""
        if self.widget == "yes-no":
            return (True, False)
        return tuple(self.schema.get("enum", ()) or self.item_schema.get("enum", ()))

    @property
    def item_schema(self) -> Mapping[str, Any]:
        """The schema of each item of a list field (empty for other fields)."""
        items = self.schema.get("items")
        return items if isinstance(items, Mapping) else {}

    @property
    def lists_contact_types(self) -> bool:
        """Whether the field's choices are the contact types, labelled by the common texts."""
        return CONTACT_TYPES_ID in (self.schema.get("$id"), self.item_schema.get("$id"))

    @property
    def always_shown(self) -> bool:
        """Whether the field is part of every variant of the form."""
        return () in self.shown_when

    def is_shown(self, data: Mapping[str, Any]) -> bool:
        """Whether the field belongs to the form as ``data`` fills it in."""
        return any(_holds(path, data) for path in self.shown_when)

    def is_required(self, data: Mapping[str, Any]) -> bool:
        """Whether the field must be filled in, given ``data``."""
        return any(_holds(path, data) for path in self.required_when)

    def constraints(self) -> dict[str, Any]:
        """The field's validation keywords, in the order failures are reported."""
        return dict(self._constraints)

    def item_constraints(self) -> dict[str, Any]:
        """The validation keywords of each item of a list field."""
        return dict(self._item_constraints)

    @functools.cached_property
    def _constraints(self) -> dict[str, Any]:
        return {k: self.schema[k] for k in KEYWORD_NAMES if k in self.schema}

    @functools.cached_property
    def _item_constraints(self) -> dict[str, Any]:
        items = self.item_schema
        return {k: items[k] for k in KEYWORD_NAMES if k in items}

    def keywords(self) -> set[str]:
        """The keywords that can fail on this field, for message lookup and checks."""
        found = set(self.constraints()) | set(self.item_constraints()) | {"x-text", "x-number"}
        if self.required_when:
            found.add("required")
        if self.widget == "attachments":
            found |= UPLOAD_KEYWORDS
        return found


def _holds(path: Path_, data: Mapping[str, Any]) -> bool:
    return all(c.holds(data) for c in path)


# The checks of the upload flow (handler/uploads.py), reported on an attachments field.
UPLOAD_KEYWORDS = frozenset(
    {"x-upload", "x-upload-size", "x-upload-empty", "x-upload-type", "x-upload-content", "x-upload-failed"}
)
# Lone surrogates cannot be stored or mailed: text holding one is refused with this keyword.
_BROKEN_TEXT = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class FieldError:
    """One problem with a submission, already worded for the person who made it."""

    field: str | None
    path: str
    keyword: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The error as an item of the API's ``errors`` list: ``pointer`` is a JSON Pointer into the body."""
        return {"field": self.field, "pointer": self.path, "keyword": self.keyword, "detail": self.message}

    def under(self, prefix: str) -> FieldError:
        """The same error, its path placed under ``prefix`` (``/data`` for a form's fields in a request body)."""
        return replace(self, path=prefix + self.path) if prefix else self


@dataclass(frozen=True)
class Form:
    """One form: its JSON Schema, its texts per language and the fields derived from both."""

    id: str
    schema: Mapping[str, Any]
    texts: Mapping[str, Mapping[str, Any]]
    common: Mapping[str, Mapping[str, Any]]
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...]
    discriminator: str
    title_field: str
    allowed_contact_types: tuple[str, ...]
    reference_prefix: str
    time_zone: str
    schema_hash: str
    validator: Draft202012Validator = field(repr=False, compare=False)

    def field(self, name: str) -> Field | None:
        """The field called ``name``, if the form has one."""
        return self._by_name.get(name)

    @functools.cached_property
    def _by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def closed_days(self) -> dict[str, list[str]]:
        """The dates of each holiday calendar the form's office hours name, as the compiled catalog keeps them."""
        found = {}
        for raw, rule in zip(self.schema.get("x-rules", ()), self.rules, strict=True):
            calendar = holiday_calendar(raw.get("officeHours", {}))
            if calendar and rule.office_hours:
                found[calendar] = sorted(rule.office_hours.closed)
        return found

    @functools.cached_property
    def _office_hours(self) -> dict[str, Any]:
        return {name: rule.office_hours for rule in self.rules if rule.office_hours for name in rule.fields}

    @property
    def categories(self) -> tuple[str, ...]:
        """The values of the discriminator field: the kinds of request this form takes."""
        discriminator = self.field(self.discriminator)
        return discriminator.options if discriminator else ()

    def label(self, language: str, name: str) -> str:
        """The field's label in ``language``."""
        return str(self.texts[language]["fields"][name]["label"])

    def option_label(self, language: str, name: str, option: Any) -> str:
        """The label of one choice of a choice field in ``language``."""
        found = self.field(name)
        if found is not None and found.lists_contact_types:
            return str(self.common[language]["contactTypes"][option])
        if found is not None and found.widget == "yes-no":
            return str(self.common[language]["yes" if option else "no"])
        return str(self.texts[language]["fields"][name]["options"][option_key(option)])

    def display(self, language: str, name: str, value: Any) -> str:
        """A submitted value as a person reads it: choices by label, numbers and dates in their style."""
        found = self.field(name)
        common = self.common[language]
        if found is None:
            return str(value)
        if isinstance(value, list):
            return ", ".join(self.display(language, name, v) if found.options else str(v) for v in value)
        if any(json_equal(value, option) for option in found.options):
            return self.option_label(language, name, value)
        if found.widget in ("date", "time", "datetime") and isinstance(value, str):
            return format_moment(value, common)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return format_number(value, common)
        return str(value)

    def not_authorized(self, language: str) -> dict[str, str]:
        """What the refusal of a contact whose type may not send the form names: the types that may."""
        names = self.common[language]["contactTypes"]
        return {"types": " / ".join(str(names[t]) for t in self.allowed_contact_types)}

    def hint(self, language: str, name: str) -> str | None:
        """A field's hint, its limits filled in; None if it has none."""
        texts = self.texts[language]["fields"][name]
        return fill(texts["hint"], self.message_params(language, name)) if "hint" in texts else None

    def message_params(self, language: str, name: str) -> dict[str, str]:
        """What a field's error texts may say besides ``{value}``: its label and its limits, worded."""
        key = (language, name)
        if key not in self._params:
            self._params[key] = self._message_params(language, name)
        return dict(self._params[key])

    @functools.cached_property
    def _params(self) -> dict[tuple[str, str], dict[str, str]]:
        return {}

    def _message_params(self, language: str, name: str) -> dict[str, str]:
        found = self.field(name)
        common = self.common[language]
        params = {"label": self.label(language, name) if found else name}
        if found is None:
            return params
        for source in (found.item_constraints(), found.constraints()):
            for keyword, limit in source.items():
                if keyword in ("x-earliest", "x-latest"):
                    params[keyword] = format_moment(str(limit), common)
                elif isinstance(limit, int | float) and not isinstance(limit, bool):
                    params[keyword] = format_number(limit, common)
        if name in self._office_hours:
            params["officeHours"] = format_office_hours(self._office_hours[name], common)
        compared = [r.other for r in self.rules if r.field == name and r.other]
        other = self.texts[language]["fields"].get(compared[0], {}) if compared else {}
        if "label" in other:  # the field a rule compares this one with, by its label (a missing one is reported)
            params["other"] = str(other["label"])
        return params

    def message_template(self, language: str, name: str | None, keyword: str) -> str:
        """The error text for ``keyword`` on field ``name``: the field's own, else the common one."""
        own = self.texts[language]["fields"].get(name or "", {}).get("errors", {})
        if keyword in own:
            return str(own[keyword])
        common = self.common[language]["errors"]
        found = self.field(name) if name else None
        for key in _message_keys(keyword, found):
            if key in common:
                return str(common[key])
        return str(common["invalid"])

    def static_message(self, language: str, name: str, keyword: str) -> str:
        """The error text with everything but ``{value}`` filled in: what the page is given."""
        params = self.message_params(language, name)
        if keyword in params and keyword != "label":
            params["limit"] = params[keyword]
        return fill(self.message_template(language, name, keyword), params, keep=("value",))

    def message(
        self, language: str, name: str | None, keyword: str, value: Any = None, limit: str | None = None
    ) -> str:
        """The error text filled in; the page's checker fills ``{value}`` (and an upload's ``{limit}``) alike."""
        if name is None:
            return fill(self.message_template(language, None, keyword), {"label": ""})
        dynamic = {"value": short(value)} | ({"limit": limit} if limit is not None else {})
        return fill(self.static_message(language, name, keyword), dynamic)

    def as_page_sends(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the e-mail addresses of list fields in lower case, as the page sends them, so that
        a list's ``uniqueItems`` refuses the same address twice in any case, on the page and here alike; and
        the whole numbers of ``integer`` fields as integers (``12.0`` is an integer to JSON Schema, and the
        page sends it as ``12``), so that what is stored is ``12``."""
        lists = [
            f.name for f in self.fields if f.item_schema.get("format") == "email" and isinstance(data.get(f.name), list)
        ]
        changed: dict[str, Any] = {name: [v.lower() if isinstance(v, str) else v for v in data[name]] for name in lists}
        for f in self.fields:
            value = data.get(f.name)
            if f.schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
                changed[f.name] = int(value)
            elif f.item_schema.get("type") == "integer" and isinstance(value, list):
                changed[f.name] = [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
        return {**data, **changed} if changed else data

    def validate(self, data: Any, language: str, now: datetime) -> list[FieldError]:
        """Every problem with ``data``, worded in ``language``, each field's first problem first."""
        errors: dict[tuple[str, str], tuple[tuple[Any, ...], FieldError]] = {}

        def add(path: list[str | int], keyword: str, value: Any = None) -> None:
            name = path[0] if path and isinstance(path[0], str) else None
            rank = (self._order(name), len(path), [p for p in path[1:] if isinstance(p, int)], RANK.get(keyword, 99))
            errors.setdefault(
                (pointer(path), keyword),
                (rank, FieldError(name, pointer(path), keyword, self.message(language, name, keyword, value))),
            )

        extras: list[str] = []
        for error in self.validator.iter_errors(data):
            path = list(error.absolute_path)
            keyword = str(error.validator)
            if keyword == "required" and isinstance(error.instance, Mapping):
                for missing in (p for p in error.validator_value if p not in error.instance):
                    add([*path, missing], "required")
            elif keyword == "unevaluatedProperties" and isinstance(error.instance, Mapping) and not path:
                extras += [k for k in error.instance if not self._belongs(k, error.instance)]
            elif keyword not in ("if", "then", "allOf", "$ref"):
                add(path, keyword, error.instance if isinstance(error.instance, str) else None)
        if not isinstance(data, Mapping):
            return [e for _, e in sorted(errors.values(), key=lambda pair: pair[0])]

        for name, value in data.items():
            if not self._belongs(name, data):
                continue
            if _BROKEN_TEXT.search(json.dumps(value, ensure_ascii=False)):
                add([name], "x-text")
            if unreadable_number(value):
                add([name], "x-number")
        failed = {e.field for _, e in errors.values()}
        for extra in extras:
            # A field of another branch is only reported when the fields choosing the branch are fine;
            # otherwise the error on the choice itself is the one that helps.
            known = self.field(extra)
            if known is None or failed.isdisjoint(c.field for p in known.shown_when for c in p):
                add([extra], "unevaluatedProperties")
        for f in self.fields:
            value = data.get(f.name)
            if f.name in failed or not isinstance(value, str) or not f.is_shown(data):
                continue
            for keyword, holds in (("x-earliest", str.__ge__), ("x-latest", str.__le__)):
                if keyword in f.schema and not holds(value, self._moment(f.schema[keyword], value, now)):
                    add([f.name], keyword)
        failed = {e.field for _, e in errors.values()}
        for rule in self.rules:
            ready = all(
                name in data and name not in failed and (known := self.field(name)) and known.is_shown(data)
                for name in rule.fields
            )
            if ready and not rule.holds(data, now):
                add([rule.field], rule.keyword)
        return [e for _, e in sorted(errors.values(), key=lambda pair: pair[0])]

    def _moment(self, limit: str, value: str, now: datetime) -> str:
        """An ``x-earliest``/``x-latest`` value as text comparable with ``value``."""
        if limit in ("today", "now"):
            return (
                wall_clock(now, self.time_zone)[: len(value)]
                if limit == "now"
                else wall_clock(now, self.time_zone)[:10]
            )
        return limit

    def _belongs(self, name: str, data: Mapping[str, Any]) -> bool:
        found = self.field(name)
        return found is not None and found.is_shown(data)

    def _order(self, name: str | None) -> int:
        return self._positions.get(name or "", len(self.fields))

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        return {f.name: i for i, f in enumerate(self.fields)}


def _message_keys(keyword: str, found: Field | None) -> tuple[str, ...]:
    """The common texts that can word ``keyword`` on ``found``, most specific first."""
    schema = found.schema if found else {}
    if keyword == "type" and isinstance(schema.get("type"), str):
        return (f"type-{schema['type']}", "type")
    if keyword in ("minimum", "maximum") and "minimum" in schema and "maximum" in schema:
        return ("range", keyword)
    if keyword == "required" and found and found.value_kind in ("choice", "choices", "boolean"):
        return (f"required-{found.value_kind}", keyword)  # a choice is made, not filled in
    return (keyword,)


def format_number(value: float, common: Mapping[str, Any]) -> str:
    """A number as the language writes it: whole numbers without decimals, the language's decimal mark."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    whole, dot, fraction = str(value).partition(".")
    if "e" not in whole and len(whole.lstrip("-")) > 4:
        whole = f"{int(whole):,}".replace(",", str(common["groupMark"]))
    return whole + (str(common["decimalMark"]) + fraction if dot else "")


def format_moment(value: str, common: Mapping[str, Any]) -> str:
    """An ISO date, time or date-time (or ``today``/``now``) as the language writes it."""
    if value in ("today", "now"):
        return str(common[value])
    if len(value) >= 10 and value[4:5] == "-":
        day = fill(str(common["dateFormat"]), {"y": value[:4], "m": value[5:7], "d": value[8:10]})
        return f"{day} {value[11:16]}" if len(value) > 10 else day
    return value


def format_office_hours(hours: Any, common: Mapping[str, Any]) -> str:
    """Office hours as the language says them (``officeHours`` in the common texts)."""
    names = common["weekdays"]
    days = sorted(hours.days)
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        wording = fill(str(common["dayRange"]), {"first": names[days[0] - 1], "last": names[days[-1] - 1]})
    else:
        wording = ", ".join(names[d - 1] for d in days)
    said = fill(str(common["officeHours"]), {"days": wording, "opens": hours.opens, "closes": hours.closes})
    return fill(str(common["officeHoursBesidesHolidays"]), {"officeHours": said}) if hours.closed else said


def short(value: Any) -> str:
    """A value for an error text, cut at 60 characters."""
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:59] + "…"


@dataclass(frozen=True)
class Catalog:
    """Everything in ``schema/``: languages, common texts, contact types and forms."""

    root: Path
    languages: tuple[str, ...]
    default_language: str
    language_aliases: Mapping[str, str]
    common: Mapping[str, Mapping[str, Any]]
    contact_types: tuple[str, ...]
    contact_schema: Mapping[str, Any]
    statuses: tuple[str, ...]
    forms: Mapping[str, Form]
    conversation: ConversationRules = field(default_factory=ConversationRules)
    tickets: Mapping[str, TicketMapping] = field(default_factory=dict)

    def language(self, requested: str | None) -> str | None:
        """The supported language for a tag like ``nb-NO`` or ``en``, or None."""
        if not requested:
            return None
        tag = requested.strip().lower().replace("_", "-")
        for candidate in (tag, tag.split("-")[0]):
            candidate = self.language_aliases.get(candidate, candidate)
            if candidate in self.languages:
                return candidate
        return None

    def negotiate(self, accept_language: str | None) -> str:
        """The best supported language for an ``Accept-Language`` header, else the default."""
        ranked: list[tuple[float, int, str]] = []
        for index, part in enumerate((accept_language or "").split(",")):
            tag, _, params = part.partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    continue
            if quality > 0 and (language := self.language(tag)):
                ranked.append((-quality, index, language))
        return min(ranked)[2] if ranked else self.default_language


COMPILED = "catalog.json"  # the checked catalog in one file, as the Lambda package ships it


def load_catalog(root: Path = SCHEMA_DIR, extra_forms: tuple[Path, ...] = ()) -> Catalog:
    """Read and check the schema folder; raise ``SchemaProblem`` listing every problem found.

    ``extra_forms`` adds forms kept outside ``root`` (the tests use it for a second form). A folder
    holding only a compiled ``catalog.json`` (``compile_catalog``) is read without checking it again.
    """
    if (root / COMPILED).is_file() and not (root / "site.json").exists():
        return _from_compiled(root, json.loads((root / COMPILED).read_text(encoding="utf-8")))
    problems: list[str] = []
    site = _read_json(root / "site.json", problems)
    languages = tuple(site.get("languages", ()))
    common = {lang: _read_json(root / f"common.{lang}.json", problems) for lang in languages}
    contact_schema = _read_json(root / "contact-types.schema.json", problems)
    problems += widget_file_problems()  # every form is drawn with them, so they come first
    if problems:
        raise SchemaProblem(problems)
    problems += _check_same_keys({lang: (root / f"common.{lang}.json", common[lang]) for lang in languages})
    for lang in languages:
        for where in missing_texts(common[lang]):
            problems.append(f"{root / f'common.{lang}.json'}: {where}: missing text (the handler uses it)")
    contact_types = tuple(contact_schema.get("enum", ()))
    statuses = tuple(site.get("statuses", ()))
    if not statuses:
        problems.append(
            f"{root / 'site.json'}: /statuses: list the statuses a request can have, the first for new ones"
        )
    conversation, found = read_rules(site.get("conversation"), statuses, str(root / "site.json"))
    problems += found
    tickets, found = read_mappings(site.get("tickets"), statuses, str(root / "site.json"))
    problems += found
    for lang in languages:
        for key, names in (("contactTypes", contact_types), ("statuses", statuses)):
            missing = [t for t in names if t not in common[lang].get(key, {})]
            if missing:
                problems.append(f"{root / f'common.{lang}.json'}: /{key}: no label for {', '.join(missing)}")

    registry = _registry(contact_schema)
    form_files = [root / "forms" / f"{name}.schema.json" for name in site.get("forms", ())]
    form_files += [path for path in extra_forms]
    forms: dict[str, Form] = {}
    for schema_file in form_files:
        form = _load_form(schema_file, languages, common, contact_types, registry, problems)
        if form:
            forms[form.id] = form
    if problems:
        raise SchemaProblem(problems)
    return Catalog(
        root=root,
        languages=languages,
        default_language=site["defaultLanguage"],
        language_aliases=site.get("languageAliases", {}),
        common=common,
        contact_types=contact_types,
        contact_schema=contact_schema,
        statuses=statuses,
        forms=forms,
        conversation=conversation,
        tickets=tickets,
    )


def compile_catalog(catalog: Catalog) -> dict[str, Any]:
    """The checked catalog as one JSON document: what the handler needs, with every field worked out."""
    return {
        "languages": list(catalog.languages),
        "defaultLanguage": catalog.default_language,
        "languageAliases": dict(catalog.language_aliases),
        "common": catalog.common,
        "contactTypes": catalog.contact_schema,
        "statuses": list(catalog.statuses),
        "conversation": catalog.conversation.as_json(),
        "tickets": site_tickets(catalog),
        "forms": [
            {
                "schema": form.schema,
                "texts": form.texts,
                "fields": [
                    {
                        "name": f.name,
                        "schema": f.schema,
                        "widget": f.widget,
                        "value": f.value_kind,
                        "shownWhen": [[c.as_json() for c in path] for path in f.shown_when],
                        "requiredWhen": [[c.as_json() for c in path] for path in f.required_when],
                    }
                    for f in form.fields
                ],
                "closedDays": form.closed_days(),
            }
            for form in catalog.forms.values()
        ],
    }


def _from_compiled(root: Path, data: Mapping[str, Any]) -> Catalog:
    registry = _registry(data["contactTypes"])
    forms = {}
    for entry in data["forms"]:

        def paths(raw: list[list[list[Any]]]) -> tuple[Path_, ...]:
            return tuple(tuple(Condition.from_json(test) for test in path) for path in raw)

        fields = tuple(
            Field(f["name"], f["schema"], f["widget"], paths(f["shownWhen"]), paths(f["requiredWhen"]), f["value"])
            for f in entry["fields"]
        )
        form = _form(entry["schema"], entry["texts"], data["common"], fields, registry, entry["closedDays"])
        forms[form.id] = form
    return Catalog(
        root=root,
        languages=tuple(data["languages"]),
        default_language=data["defaultLanguage"],
        language_aliases=data["languageAliases"],
        common=data["common"],
        contact_types=tuple(data["contactTypes"]["enum"]),
        contact_schema=data["contactTypes"],
        statuses=tuple(data["statuses"]),
        forms=forms,
        conversation=read_rules(data["conversation"], data["statuses"], COMPILED)[0],
        tickets=read_mappings(data["tickets"], data["statuses"], COMPILED)[0],
    )


def _registry(contact_schema: Mapping[str, Any]) -> Registry[Any]:
    empty: Registry[Any] = Registry()
    resource: Resource[Any] = Resource.from_contents(contact_schema, default_specification=DRAFT202012)
    registry: Registry[Any] = empty.with_resource(str(contact_schema["$id"]), resource)
    return registry


def _form(
    schema: Mapping[str, Any],
    texts: Mapping[str, Mapping[str, Any]],
    common: Mapping[str, Mapping[str, Any]],
    fields: tuple[Field, ...],
    registry: Registry[Any],
    closed: Mapping[str, Sequence[str]],
) -> Form:
    """A form from its checked parts: its validator is JSON Schema's own, with the dialect's formats; ``closed``
    holds the dates of the holiday calendars its office hours name."""
    meta = schema["x-form"]
    registry = registry.with_resource(schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
    return Form(
        id=str(meta["id"]),
        schema=schema,
        texts=texts,
        common=common,
        fields=fields,
        rules=tuple(Rule.from_schema(r, closed) for r in schema.get("x-rules", ())),
        discriminator=str(meta["discriminator"]),
        title_field=str(meta["titleField"]),
        allowed_contact_types=tuple(meta["allowedContactTypes"]),
        reference_prefix=str(meta["referencePrefix"]),
        time_zone=str(meta.get("timeZone", DEFAULT_TIME_ZONE)),
        schema_hash=_hash(schema, registry),
        validator=FormValidator(schema, registry=registry, format_checker=FORMAT_CHECKER),
    )


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: file is missing")
        return {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path}: not valid JSON: {exc}")
        return {}
    if not isinstance(loaded, dict):
        problems.append(f"{path}: must hold a JSON object")
        return {}
    return loaded


def _check_same_keys(files: Mapping[str, tuple[Path, Any]]) -> list[str]:
    """Every text present in one language must be present in all of them."""
    problems: list[str] = []
    pointers = {lang: set(_leaves(doc)) for lang, (_, doc) in files.items()}
    every = set().union(*pointers.values()) if pointers else set()
    for lang, (path, _) in files.items():
        for missing in sorted(every - pointers[lang]):
            others = ", ".join(sorted(lang2 for lang2, found in pointers.items() if missing in found))
            problems.append(f"{path}: {missing}: missing text (present in {others})")
    for path, doc in files.values():
        for where, value in _leaves(doc).items():
            texts = value if isinstance(value, list) and value else [value]
            if not all(isinstance(v, str) and v for v in texts):
                problems.append(f"{path}: {where}: must be a non-empty text")
    return problems


def _leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, Mapping) and doc:
        out: dict[str, Any] = {}
        for key, value in doc.items():
            out.update(_leaves(value, prefix + pointer([key])))
        return out
    return {prefix: doc}


RESERVED_NAMES = frozenset(
    {
        "main",
        "site-account",
        "error-summary",
        "error-summary-title",
        "request-form",
        "sign-in-needed",
        "receipt",
        "receipt-title",
        "receipt-reference",
        "page-model",
        "form",
        "data",
    }
)
# A form control's name is also a property of its <form> that hides the element's own (HTML's named access):
# a field may not take the name of a member the page's scripts or the browser's form handling use.
FORM_MEMBERS = frozenset(
    "action elements encoding enctype hidden length method noValidate reset submit target".lower().split()
)


def _load_form(
    schema_file: Path,
    languages: tuple[str, ...],
    common: Mapping[str, Mapping[str, Any]],
    contact_types: tuple[str, ...],
    registry: Registry[Any],
    problems: list[str],
) -> Form | None:
    before = len(problems)
    schema = _read_json(schema_file, problems)
    if len(problems) > before:
        return None
    # The dialect's metaschema is a strict subset of 2020-12's, so it is the only pass needed.
    for where, what in dialect_problems(schema):
        problems.append(f"{schema_file}: {where}: {what} (dialect)")
    if len(problems) > before:
        return None
    meta = schema["x-form"]
    form_id = str(meta["id"])
    stem = schema_file.name.removesuffix(".schema.json")
    if stem != form_id:
        problems.append(f"{schema_file}: /x-form/id: is {form_id!r} but the file is named for {stem!r}")
    text_files = {lang: schema_file.with_name(f"{stem}.{lang}.json") for lang in languages}
    texts = {lang: _read_json(path, problems) for lang, path in text_files.items()}
    if len(problems) > before:
        return None
    problems += _check_same_keys({lang: (text_files[lang], texts[lang]) for lang in languages})

    registry = registry.with_resource(schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
    resolver = registry.resolver(base_uri=schema["$id"])

    def resolve(sub: Mapping[str, Any], where: str) -> dict[str, Any]:
        merged = dict(sub)
        while "$ref" in merged:
            reference = merged.pop("$ref")
            try:
                target = resolver.lookup(reference).contents
            except Exception:  # referencing raises several kinds of error for a target that is not there
                problems.append(f"{schema_file}: {where}/$ref: {reference!r} points at nothing")
                return merged
            for keyword in set(merged) & set(target):
                if not _tightens(keyword, target[keyword], merged[keyword]):
                    problems.append(
                        f"{schema_file}: {where}/{keyword}: may only tighten the {keyword} of {reference} "
                        f"({target[keyword]!r}), since both apply"
                    )
            merged = {**target, **merged}
        if isinstance(merged.get("items"), Mapping):
            merged["items"] = resolve(merged["items"], f"{where}/items")
        return merged

    fields = _collect_fields(schema, resolve, schema_file, problems)
    counted = len(problems)
    closed = _holidays(schema, schema_file, problems)
    if len(problems) > counted:
        return None
    form = _form(schema, texts, common, fields, registry, closed)
    problems += _check_conventions(form, schema_file, text_files, contact_types)
    return form


def _holidays(schema: Mapping[str, Any], schema_file: Path, problems: list[str]) -> dict[str, list[str]]:
    """The public holidays of each calendar the form's office hours name (``holidays``: a country's calendar
    over a span of years) that fall on its office days, as ISO dates from the ``holidays`` library; read here,
    with schema/, so that the compiled catalog carries them and neither the page nor Lambda needs the library."""
    closed: dict[str, list[str]] = {}
    for index, rule in enumerate(schema.get("x-rules", ())):
        hours = rule.get("officeHours", {})
        calendar = holiday_calendar(hours)
        if calendar is None or calendar in closed:
            continue
        spec, where = hours["holidays"], f"{schema_file}: /x-rules/{index}/officeHours/holidays"
        if spec["from"] > spec["to"]:
            problems.append(f"{where}: from {spec['from']} is after to {spec['to']}")
            continue
        import holidays  # only where the catalog is read from schema/: a build, the local server, the tests

        try:
            found = holidays.country_holidays(spec["calendar"], years=range(spec["from"], spec["to"] + 1))
        except NotImplementedError:
            problems.append(f"{where}/calendar: {spec['calendar']!r} is no country the holidays library knows")
            continue
        # Only those that fall on an office day change anything.
        closed[calendar] = sorted(day.isoformat() for day in found if day.isoweekday() in hours["days"])
    return closed


def _hash(schema: Mapping[str, Any], registry: Registry[Any]) -> str:
    """A digest of the form's schema and every schema it can refer to, stored with each request."""
    parts = [schema] + [registry.contents(uri) for uri in sorted(registry) if uri != schema["$id"]]
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _collect_fields(
    schema: Mapping[str, Any], resolve: Any, schema_file: Path, problems: list[str]
) -> tuple[Field, ...]:
    """Walk the form's properties and its ``if``/``then`` branches into fields, in page order.

    The fields of a branch that tests field X come right after X, so choosing a value reveals
    its fields where the person is looking.
    """
    found: dict[str, dict[str, Any]] = {}
    after: dict[str, set[str]] = {}  # field -> the fields that must come before it on the page
    required_elsewhere: list[tuple[str, str, Path_]] = []

    def walk(level: Mapping[str, Any], where: str, path: Path_, before: set[str]) -> set[str]:
        required = set(level.get("required", ()))
        properties = level.get("properties", {})
        branches: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for index, branch in enumerate(level.get("allOf", ())):
            test = _branch_test(branch)
            if test is None:
                problems.append(
                    f"{schema_file}: {where}/allOf/{index}: a branch must be "
                    '{"if": {"properties": {FIELD: {"const": VALUE}}, "required": [FIELD]}, "then": {...}} '
                    '(or, for a list of choices, {FIELD: {"contains": {"const": VALUE}}})'
                )
                continue
            branches.setdefault(test.field, []).append((index, branch))
        for name, sub in properties.items():
            add(name, resolve(sub, f"{where}/properties/{name}"), f"{where}/properties/{name}", path, name in required)
            after.setdefault(name, set()).update(before)
            before = {name}
            for index, branch in branches.pop(name, []):
                test = _branch_test(branch)
                assert test is not None
                before = before | walk(branch["then"], f"{where}/allOf/{index}/then", (*path, test), {name})
        for name, rest in branches.items():
            for index, _ in rest:
                problems.append(f"{schema_file}: {where}/allOf/{index}/if: tests {name!r}, which is not a field here")
        required_elsewhere.extend((name, where, path) for name in required - set(properties))
        return before

    def add(name: str, sub: dict[str, Any], where: str, path: Path_, required: bool) -> None:
        entry = found.setdefault(name, {"schema": sub, "where": where, "shown": [], "required": []})
        if entry["schema"] != sub:
            problems.append(f"{schema_file}: {where}: field {name!r} differs from its definition at {entry['where']}")
        entry["shown"].append(path)
        if required:
            entry["required"].append(path)

    walk(schema, "", (), set())
    for name, where, path in required_elsewhere:
        if name in found:
            found[name]["required"].append(path)
        else:
            problems.append(f"{schema_file}: {where}/required: {name!r} is not a field of this form")
    fields = []
    available = widgets()
    for name in _page_order(list(found), after, schema_file, problems):
        entry = found[name]
        sub = entry["schema"]
        widget = widget_for(sub, available)
        problems += [f"{schema_file}: {entry['where']}{p}" for p in _widget_problems(sub, available[widget])]
        own = _at(schema, entry["where"])
        problems += [f"{schema_file}: {entry['where']}{p}" for p in _limit_problems(sub, own)]
        kind = available[widget].value
        fields.append(Field(name, sub, widget, tuple(entry["shown"]), tuple(entry["required"]), kind))
    return tuple(fields)


def _widget_problems(schema: Mapping[str, Any], widget: Widget) -> list[str]:
    """Where a field's schema does not fit its widget: a value it cannot edit, a keyword it cannot check."""
    problems = [
        f"{pointer(e.absolute_path) if e.absolute_path else ''}: {e.message}, which the {widget.name!r} widget needs"
        for e in Draft202012Validator(widget.accepts).iter_errors(schema)
    ]
    raw_items = schema.get("items")
    items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
    for where, keys, allowed in (("", schema, widget.keywords), ("/items", items, widget.item_keywords)):
        for keyword in sorted(set(keys) & set(KEYWORD_NAMES) - allowed):
            problems.append(
                f"{where}/{keyword}: the {widget.name!r} widget cannot check {keyword!r} "
                f"(it checks {', '.join(sorted(allowed)) or 'nothing'})"
            )
    return problems


# The moments x-earliest/x-latest may name for each format, besides "now" (and "today" for a day).
_MOMENTS = {
    "date": ("a real day written YYYY-MM-DD, 'today' or 'now'", True),
    "local-time": ("a time written HH:MM or 'now' ('today' is no time)", False),
    "local-date-time": ("a real day and time written YYYY-MM-DDTHH:MM, 'today' or 'now'", True),
}


def _at(document: Any, where: str) -> Any:
    """The part of ``document`` at the JSON pointer ``where`` (field pointers hold no ``~`` or ``/``)."""
    for part in where.split("/")[1:]:
        document = document[int(part)] if isinstance(document, list) else document.get(part, {})
    return document


def _limit_problems(schema: Mapping[str, Any], own: Any) -> list[str]:
    """Limits no value can meet, as the field's schema has them after its ``$ref``: a minimum above the
    maximum, a first moment after the last, a moment that is none (2026-02-30). ``own`` is the field as
    written, to point at the keyword there, or at its ``$ref`` when the keyword comes from the target."""
    written: Mapping[str, Any] = own if isinstance(own, Mapping) else {}

    def at(keyword: str) -> str:
        return f"/{keyword}" if keyword in written or "$ref" not in written else "/$ref"

    problems = []
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems")):
        if low in schema and high in schema and schema[low] > schema[high]:
            problems.append(f"{at(low)}: {low} {schema[low]} is above {high} {schema[high]}, so no value can be sent")
    lows = [(schema[k], k == "exclusiveMinimum", k) for k in ("minimum", "exclusiveMinimum") if k in schema]
    highs = [(schema[k], k == "exclusiveMaximum", k) for k in ("maximum", "exclusiveMaximum") if k in schema]
    if lows and highs:
        (bottom, above, lower), (top, below, upper) = (  # the tighter bounds: exclusive at an equal value
            max(lows, key=lambda b: (b[0], b[1])),
            min(highs, key=lambda b: (b[0], not b[1])),
        )
        empty = bottom > top or (bottom == top and (above or below))
        if not empty and schema.get("type") == "integer":
            first = math.floor(bottom) + 1 if above else math.ceil(bottom)
            last = math.ceil(top) - 1 if below else math.floor(top)
            empty = first > last
        if empty:
            kind = "whole number" if schema.get("type") == "integer" else "number"
            problems.append(f"{at(lower)}: no {kind} is within {lower} {bottom} and {upper} {top}")
    items = schema.get("items")
    if isinstance(items, Mapping):
        if schema.get("uniqueItems") is True and "enum" in items and schema.get("minItems", 0) > len(items["enum"]):
            problems.append(
                f"{at('minItems')}: minItems {schema['minItems']} is more than the {len(items['enum'])} "
                "different values items/enum allows"
            )
        problems += [f"/items{p}" for p in _limit_problems(items, written.get("items"))]
    moments = {}
    described = _MOMENTS.get(str(schema.get("format")))
    for keyword in ("x-earliest", "x-latest"):
        value = schema.get(keyword)
        if described is None or not isinstance(value, str) or value == "now" or (value == "today" and described[1]):
            continue
        if FORMAT_CHECKER.conforms(value, schema["format"]):
            moments[keyword] = value
        else:
            problems.append(f"{at(keyword)}: {value!r} is not {described[0]}")
    if len(moments) == 2 and moments["x-earliest"] > moments["x-latest"]:
        problems.append(
            f"{at('x-earliest')}: x-earliest {moments['x-earliest']} is after x-latest {moments['x-latest']}, "
            "so no value can be sent"
        )
    return problems


def _tightens(keyword: str, base: Any, override: Any) -> bool:
    """Whether ``override`` only narrows ``base`` for ``keyword``, so the page needs only the override."""
    if base == override or keyword in ("x-widget", "$comment", "description"):
        return True
    if keyword in ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "x-latest"):
        return bool(override <= base)
    if keyword in ("minLength", "minItems", "minimum", "exclusiveMinimum", "x-earliest"):
        return bool(override >= base)
    return False


def _page_order(names: list[str], after: Mapping[str, set[str]], schema_file: Path, problems: list[str]) -> list[str]:
    """Order fields so each comes after the fields it follows in every branch, else in schema order."""
    placed: list[str] = []
    waiting = list(names)
    while waiting:
        ready = next((n for n in waiting if after.get(n, set()) - {n} <= set(placed)), None)
        if ready is None:
            problems.append(
                f"{schema_file}: fields {', '.join(waiting)} appear in conflicting orders in different branches"
            )
            return placed + waiting
        placed.append(ready)
        waiting.remove(ready)
    return placed


def _branch_test(branch: Any) -> Condition | None:
    if not isinstance(branch, Mapping) or set(branch) != {"if", "then"}:
        return None
    test = branch["if"]
    props = test.get("properties", {}) if isinstance(test, Mapping) else {}
    if len(props) != 1 or test.get("required") != list(props):
        return None
    ((name, condition),) = props.items()
    if not isinstance(condition, Mapping):
        return None
    if set(condition) == {"const"}:
        return Condition(name, condition["const"])
    inner = condition.get("contains")
    if set(condition) == {"contains"} and isinstance(inner, Mapping) and set(inner) == {"const"}:
        return Condition(name, inner["const"], contains=True)
    return None


FIELD_TEXTS = frozenset({"label", "hint", "options", "categoryHints", "errors"})


def _check_conventions(
    form: Form, schema_file: Path, text_files: Mapping[str, Path], contact_types: tuple[str, ...]
) -> list[str]:
    """The project's own rules, beyond the metaschema: texts, reachability and extensions."""
    problems: list[str] = []
    discriminator = form.field(form.discriminator)
    if (
        discriminator is None
        or not discriminator.always_shown
        or not discriminator.options
        or not all(isinstance(o, str) for o in discriminator.options)
    ):
        problems.append(
            f"{schema_file}: /x-form/discriminator: {form.discriminator!r} must be a choice of texts on every page"
        )
    else:
        tested = {c.value for f in form.fields for p in f.shown_when for c in p if c.field == form.discriminator}
        impossible = (v for v in tested if not isinstance(v, str) or v not in discriminator.options)
        for value in sorted(impossible, key=json.dumps):
            problems.append(
                f"{schema_file}: /allOf: a branch tests {form.discriminator}={value!r}, which cannot be chosen"
            )
    title = form.field(form.title_field)
    if title is None or not title.always_shown or title.schema.get("type") != "string":
        problems.append(f"{schema_file}: /x-form/titleField: {form.title_field!r} must be a text field on every page")
    for value in form.allowed_contact_types:
        if value not in contact_types:
            problems.append(f"{schema_file}: /x-form/allowedContactTypes: {value!r} is not a contact type")
    for f in form.fields:
        for path in f.shown_when:
            for condition in path:
                tested_field = form.field(condition.field)
                if tested_field is None:
                    continue
                if condition.contains != (tested_field.value_kind == "choices"):
                    test = "contains" if condition.contains else "const"
                    problems.append(
                        f"{schema_file}: field {f.name!r} is shown by a {test!r} test of {condition.field!r}, a "
                        f"{tested_field.widget!r} field: test a list of choices with contains, other fields with const"
                    )
                elif not any(json_equal(condition.value, o) for o in tested_field.options):
                    problems.append(
                        f"{schema_file}: field {f.name!r} is shown when {condition.field}={condition.value!r}, "
                        "which cannot be chosen"
                    )
    names = {f.name for f in form.fields}
    for name in sorted(names & RESERVED_NAMES):
        problems.append(f"{schema_file}: field {name!r}: the name is used by the page itself; choose another")
    for name in sorted(names & FORM_MEMBERS):
        problems.append(
            f"{schema_file}: field {name!r}: the name would hide the page form's own {name!r}; choose another"
        )
    for index, rule in enumerate(form.rules):
        problems += [f"{schema_file}: /x-rules/{index}: {p}" for p in _rule_problems(form, rule)]
    for lang, text_file in text_files.items():
        texts = form.texts[lang]
        for key in ("title", "lead", "submit"):
            if key not in texts:
                problems.append(f"{text_file}: /{key}: missing text")
        field_texts = texts.get("fields", {})
        for f in form.fields:
            own = field_texts.get(f.name)
            if not isinstance(own, Mapping) or "label" not in own:
                problems.append(f"{text_file}: /fields/{f.name}/label: missing text")
                continue
            known = ", ".join(sorted(FIELD_TEXTS))
            for unknown in sorted(set(own) - FIELD_TEXTS):
                problems.append(f"{text_file}: /fields/{f.name}/{unknown}: not a text a field has ({known})")
            if f.widget in ("select", "radios", "checkboxes") and not f.lists_contact_types:
                for option in f.options:
                    if option_key(option) not in own.get("options", {}):
                        problems.append(f"{text_file}: /fields/{f.name}/options/{option_key(option)}: missing text")
            hints = own.get("categoryHints")
            if hints is not None and discriminator is not None:
                for category in discriminator.options:
                    if category not in hints:
                        problems.append(f"{text_file}: /fields/{f.name}/categoryHints/{category}: missing text")
            can_fail = f.keywords() | {r.keyword for r in form.rules if r.field == f.name}
            for keyword, template in own.get("errors", {}).items():
                if keyword not in can_fail:
                    problems.append(
                        f"{text_file}: /fields/{f.name}/errors/{keyword}: this field cannot fail {keyword!r}"
                    )
                    continue
                unknown = placeholders(template) - set(form.message_params(lang, f.name)) - {"value", "limit"}
                if unknown:
                    problems.append(
                        f"{text_file}: /fields/{f.name}/errors/{keyword}: {{{', '.join(sorted(unknown))}}} "
                        "has no value for this field"
                    )
            hint_params = placeholders(str(own.get("hint", ""))) - set(form.message_params(lang, f.name))
            if hint_params:
                problems.append(f"{text_file}: /fields/{f.name}/hint: {{{', '.join(sorted(hint_params))}}} is unknown")
        for name in set(field_texts) - names:
            problems.append(f"{text_file}: /fields/{name}: no such field in {schema_file.name}")
    return problems


# What a rule can compare: the widgets whose values sort as the rule needs.
_RULE_WIDGETS = {
    "after": {"date", "time", "datetime", "number"},
    "not-before": {"date", "time", "datetime", "number"},
    "not-past": {"date", "datetime"},
    "outside-office-hours": {"datetime"},
}


def _rule_problems(form: Form, rule: Rule) -> list[str]:
    """Whether a rule names fields that exist and whose values it can compare."""
    problems = []
    kinds = set()
    for name in rule.fields:
        found = form.field(name)
        if found is None:
            problems.append(f"{name!r} is not a field")
        elif found.widget not in _RULE_WIDGETS[rule.rule]:
            problems.append(
                f"{rule.rule!r} cannot compare {name!r}, a {found.widget!r} field "
                f"(it compares {', '.join(sorted(_RULE_WIDGETS[rule.rule]))})"
            )
        else:
            kinds.add(found.widget)
    if len(kinds) > 1:
        problems.append(f"{rule.rule!r} compares fields of different kinds: {', '.join(rule.fields)}")
    return problems
