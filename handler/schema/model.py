"""The schema's model: conditions, fields, forms and the catalog, and the validation of a submission."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator

from handler.dialect import KEYWORD_NAMES, RANK, Moment, ValueKind, pointer
from handler.rules import OfficeHours, Rule, holiday_calendar, wall_clock
from handler.schema import wording
from handler.schema.values import json_equal, unreadable_number

CONTACT_TYPES_ID = "urn:servicedesk-forms:contact-types"


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
    value_kind: ValueKind = "text"  # how the page reads it (its widget's value)
    moment: Moment | None = None  # its value is a day ("date"), a time of day ("time") or both ("datetime")
    multiline: bool = False  # its value is several lines of text

    @property
    def options(self) -> tuple[Any, ...]:
        """The allowed values of a choice field (or of its items), in schema order."""
        if self.value_kind == "boolean":
            return (True, False)
        return tuple(self.schema.get("enum", ()) or self.item_schema.get("enum", ()))

    @property
    def item_schema(self) -> Mapping[str, Any]:
        """The schema of each item of a list field (empty for other fields)."""
        items = self.schema.get("items")
        return items if isinstance(items, Mapping) else {}

    @property
    def lists_addresses(self) -> bool:
        """Whether the field is a list of e-mail addresses (such as the addresses that get copies)."""
        return self.value_kind == "list" and self.item_schema.get("format") == "email"

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
        if self.value_kind == "uploads":
            found |= UPLOAD_KEYWORDS
        return found


def _holds(path: Path_, data: Mapping[str, Any]) -> bool:
    return all(c.holds(data) for c in path)


# The checks of the upload flow (handler/uploads.py), reported on an attachments field.
UPLOAD_KEYWORDS = frozenset({"x-upload", *(f"x-upload-{c}" for c in ("size", "empty", "type", "content", "failed"))})
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
    """One form: its JSON Schema, its texts per language and the fields derived from both. Its wording is
    ``handler/schema/wording.py``'s; the methods that word it are kept here for the callers' convenience."""

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
    def office_hours(self) -> dict[str, OfficeHours]:
        """The office hours a rule holds each field to, by the field's name."""
        return {name: rule.office_hours for rule in self.rules if rule.office_hours for name in rule.fields}

    @property
    def categories(self) -> tuple[str, ...]:
        """The values of the discriminator field: the kinds of request this form takes."""
        discriminator = self.field(self.discriminator)
        return discriminator.options if discriminator else ()

    def label(self, language: str, name: str) -> str:
        """The field's label in ``language``."""
        return wording.label(self, language, name)

    def option_label(self, language: str, name: str, option: Any) -> str:
        """The label of one choice of a choice field in ``language``."""
        return wording.option_label(self, language, name, option)

    def display(self, language: str, name: str, value: Any) -> str:
        """A submitted value as a person reads it: choices by label, numbers and dates in their style."""
        return wording.display(self, language, name, value)

    def not_authorized(self, language: str) -> dict[str, str]:
        """What the refusal of a contact whose type may not send the form names: the types that may."""
        return wording.not_authorized(self, language)

    def hint(self, language: str, name: str) -> str | None:
        """A field's hint, its limits filled in; None if it has none."""
        return wording.hint(self, language, name)

    def message_params(self, language: str, name: str) -> dict[str, str]:
        """What a field's error texts may say besides ``{value}``: its label and its limits, worded."""
        key = (language, name)
        if key not in self._params:
            self._params[key] = wording.message_params(self, language, name)
        return dict(self._params[key])

    @functools.cached_property
    def _params(self) -> dict[tuple[str, str], dict[str, str]]:
        return {}

    def message_template(self, language: str, name: str | None, keyword: str) -> str:
        """The error text for ``keyword`` on field ``name``: the field's own, else the common one."""
        return wording.message_template(self, language, name, keyword)

    def static_message(self, language: str, name: str, keyword: str) -> str:
        """The error text with everything but ``{value}`` filled in: what the page is given."""
        return wording.static_message(self, language, name, keyword)

    def message(
        self, language: str, name: str | None, keyword: str, value: Any = None, limit: str | None = None
    ) -> str:
        """The error text filled in; the page's checker fills ``{value}`` (and an upload's ``{limit}``) alike."""
        return wording.message(self, language, name, keyword, value, limit)

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
        errors = _Errors(self, language)
        extras = self._schema_errors(data, errors)
        if not isinstance(data, Mapping):
            return errors.in_order()
        self._value_errors(data, errors)
        failed = errors.fields()
        self._extra_errors(extras, failed, errors)
        self._moment_errors(data, now, failed, errors)
        self._rule_errors(data, now, errors)
        return errors.in_order()

    def _schema_errors(self, data: Any, errors: _Errors) -> list[str]:
        """Add what JSON Schema finds; return the names it found outside the form (they are judged later)."""
        extras: list[str] = []
        for error in self.validator.iter_errors(data):
            path = list(error.absolute_path)
            keyword = str(error.validator)
            if keyword == "required" and isinstance(error.instance, Mapping):
                for missing in (p for p in error.validator_value if p not in error.instance):
                    errors.add([*path, missing], "required")
            elif keyword == "unevaluatedProperties" and isinstance(error.instance, Mapping) and not path:
                extras += [k for k in error.instance if not self._belongs(k, error.instance)]
            elif keyword not in ("if", "then", "allOf", "$ref"):
                errors.add(path, keyword, error.instance if isinstance(error.instance, str) else None)
        return extras

    def _value_errors(self, data: Mapping[str, Any], errors: _Errors) -> None:
        """Add the values no side can store or compare: broken text, unreadable numbers."""
        for name, value in data.items():
            if not self._belongs(name, data):
                continue
            if _BROKEN_TEXT.search(json.dumps(value, ensure_ascii=False)):
                errors.add([name], "x-text")
            if unreadable_number(value):
                errors.add([name], "x-number")

    def _extra_errors(self, extras: list[str], failed: set[str | None], errors: _Errors) -> None:
        # A field of another branch is only reported when the fields choosing the branch are fine;
        # otherwise the error on the choice itself is the one that helps.
        for extra in extras:
            known = self.field(extra)
            if known is None or failed.isdisjoint(c.field for p in known.shown_when for c in p):
                errors.add([extra], "unevaluatedProperties")

    def _moment_errors(self, data: Mapping[str, Any], now: datetime, failed: set[str | None], errors: _Errors) -> None:
        for f in self.fields:
            value = data.get(f.name)
            if f.name in failed or not isinstance(value, str) or not f.is_shown(data):
                continue
            for keyword, holds in (("x-earliest", str.__ge__), ("x-latest", str.__le__)):
                if keyword in f.schema and not holds(value, self._moment(f.schema[keyword], value, now)):
                    errors.add([f.name], keyword)

    def _rule_errors(self, data: Mapping[str, Any], now: datetime, errors: _Errors) -> None:
        failed = errors.fields()
        for rule in self.rules:
            ready = all(
                name in data and name not in failed and (known := self.field(name)) and known.is_shown(data)
                for name in rule.fields
            )
            if ready and not rule.holds(data, now):
                errors.add([rule.field], rule.keyword)

    def _moment(self, limit: str, value: str, now: datetime) -> str:
        """An ``x-earliest``/``x-latest`` value as text comparable with ``value``."""
        if limit == "now":
            return wall_clock(now, self.time_zone)[: len(value)]
        return wall_clock(now, self.time_zone)[:10] if limit == "today" else limit

    def _belongs(self, name: str, data: Mapping[str, Any]) -> bool:
        found = self.field(name)
        return found is not None and found.is_shown(data)

    def order(self, name: str | None) -> int:
        """Where field ``name`` is on the page; a name that is no field comes after them all."""
        return self._positions.get(name or "", len(self.fields))

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        return {f.name: i for i, f in enumerate(self.fields)}


class _Errors:
    """The problems found so far, each (pointer, keyword) once, worded and ranked as they are added."""

    def __init__(self, form: Form, language: str) -> None:
        self.form = form
        self.language = language
        self.found: dict[tuple[str, str], tuple[tuple[Any, ...], FieldError]] = {}

    def add(self, path: list[str | int], keyword: str, value: Any = None) -> None:
        """Record a problem at ``path`` (fields in page order, then shallower first, items in order, keyword rank)."""
        name = path[0] if path and isinstance(path[0], str) else None
        rank = (self.form.order(name), len(path), [p for p in path[1:] if isinstance(p, int)], RANK.get(keyword, 99))
        message = self.form.message(self.language, name, keyword, value)
        self.found.setdefault((pointer(path), keyword), (rank, FieldError(name, pointer(path), keyword, message)))

    def fields(self) -> set[str | None]:
        """The fields that have a problem so far."""
        return {e.field for _, e in self.found.values()}

    def in_order(self) -> list[FieldError]:
        """The problems, each field's first problem first."""
        return [e for _, e in sorted(self.found.values(), key=lambda pair: pair[0])]
