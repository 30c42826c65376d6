"""The project's own rules for a schema folder, beyond the metaschema: texts, reachability, limits, widgets, rules."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from handler.dialect import FORMAT_CHECKER, KEYWORD_NAMES, Widget, pointer
from handler.rules import Rule
from handler.schema.model import Field, Form
from handler.schema.values import json_equal, option_key
from handler.texts import placeholders

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
FIELD_TEXTS = frozenset({"label", "hint", "options", "categoryHints", "errors"})

# What a rule can compare: the kinds of value (a widget's moment, or a number) that sort as the rule needs.
_RULE_KINDS = {
    "after": {"date", "time", "datetime", "number"},
    "not-before": {"date", "time", "datetime", "number"},
    "not-past": {"date", "datetime"},
    "outside-office-hours": {"datetime"},
}

# The moments x-earliest/x-latest may name for each format, besides "now" (and "today" for a day).
_MOMENTS = {
    "date": ("a real day written YYYY-MM-DD, 'today' or 'now'", True),
    "local-time": ("a time written HH:MM or 'now' ('today' is no time)", False),
    "local-date-time": ("a real day and time written YYYY-MM-DDTHH:MM, 'today' or 'now'", True),
}


def same_keys_problems(files: Mapping[str, tuple[Path, Any]]) -> list[str]:
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


def widget_problems(schema: Mapping[str, Any], widget: Widget) -> list[str]:
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


def limit_problems(schema: Mapping[str, Any], own: Any) -> list[str]:
    """Limits no value can meet, as the field's schema has them after its ``$ref``: a minimum above the
    maximum, a first moment after the last, a moment that is none (2026-02-30). ``own`` is the field as
    written, to point at the keyword there, or at its ``$ref`` when the keyword comes from the target."""
    written: Mapping[str, Any] = own if isinstance(own, Mapping) else {}

    def at(keyword: str) -> str:
        return f"/{keyword}" if keyword in written or "$ref" not in written else "/$ref"

    problems = _length_problems(schema, at) + _bound_problems(schema, at)
    items = schema.get("items")
    if isinstance(items, Mapping):
        if schema.get("uniqueItems") is True and "enum" in items and schema.get("minItems", 0) > len(items["enum"]):
            problems.append(
                f"{at('minItems')}: minItems {schema['minItems']} is more than the {len(items['enum'])} "
                "different values items/enum allows"
            )
        problems += [f"/items{p}" for p in limit_problems(items, written.get("items"))]
    return problems + _moment_problems(schema, at)


def _length_problems(schema: Mapping[str, Any], at: Callable[[str], str]) -> list[str]:
    """A shortest length or fewest items above the longest or most."""
    return [
        f"{at(low)}: {low} {schema[low]} is above {high} {schema[high]}, so no value can be sent"
        for low, high in (("minLength", "maxLength"), ("minItems", "maxItems"))
        if low in schema and high in schema and schema[low] > schema[high]
    ]


def _bound_problems(schema: Mapping[str, Any], at: Callable[[str], str]) -> list[str]:
    """Lower and upper bounds with no number (or whole number, for an integer) between them."""
    lows = [(schema[k], k == "exclusiveMinimum", k) for k in ("minimum", "exclusiveMinimum") if k in schema]
    highs = [(schema[k], k == "exclusiveMaximum", k) for k in ("maximum", "exclusiveMaximum") if k in schema]
    if not (lows and highs):
        return []
    (bottom, above, lower), (top, below, upper) = (  # the tighter bounds: exclusive at an equal value
        max(lows, key=lambda b: (b[0], b[1])),
        min(highs, key=lambda b: (b[0], not b[1])),
    )
    empty = bottom > top or (bottom == top and (above or below))
    if not empty and schema.get("type") == "integer":
        first = math.floor(bottom) + 1 if above else math.ceil(bottom)
        last = math.ceil(top) - 1 if below else math.floor(top)
        empty = first > last
    if not empty:
        return []
    kind = "whole number" if schema.get("type") == "integer" else "number"
    return [f"{at(lower)}: no {kind} is within {lower} {bottom} and {upper} {top}"]


def _moment_problems(schema: Mapping[str, Any], at: Callable[[str], str]) -> list[str]:
    """An ``x-earliest``/``x-latest`` that is no moment of the field's format, or a first moment after the last."""
    problems = []
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


def convention_problems(
    form: Form, schema_file: Path, text_files: Mapping[str, Path], contact_types: tuple[str, ...]
) -> list[str]:
    """The project's own rules, beyond the metaschema: texts, reachability and extensions."""
    problems = _discriminator_problems(form, schema_file)
    problems += _form_problems(form, schema_file, contact_types)
    problems += _condition_problems(form, schema_file)
    problems += _name_problems(form, schema_file)
    for index, rule in enumerate(form.rules):
        problems += [f"{schema_file}: /x-rules/{index}: {p}" for p in rule_problems(form, rule)]
    for lang, text_file in text_files.items():
        problems += _text_problems(form, lang, text_file, schema_file)
    return problems


def _discriminator_problems(form: Form, schema_file: Path) -> list[str]:
    """The discriminator is a choice of texts on every page, and each branch tests one of its values."""
    discriminator = form.field(form.discriminator)
    if (
        discriminator is None
        or not discriminator.always_shown
        or not discriminator.options
        or not all(isinstance(o, str) for o in discriminator.options)
    ):
        return [f"{schema_file}: /x-form/discriminator: {form.discriminator!r} must be a choice of texts on every page"]
    tested = {c.value for f in form.fields for p in f.shown_when for c in p if c.field == form.discriminator}
    impossible = (v for v in tested if not isinstance(v, str) or v not in discriminator.options)
    return [
        f"{schema_file}: /allOf: a branch tests {form.discriminator}={value!r}, which cannot be chosen"
        for value in sorted(impossible, key=json.dumps)
    ]


def _form_problems(form: Form, schema_file: Path, contact_types: tuple[str, ...]) -> list[str]:
    """The title field is a text on every page, and the contact types allowed exist."""
    problems = []
    title = form.field(form.title_field)
    if title is None or not title.always_shown or title.schema.get("type") != "string":
        problems.append(f"{schema_file}: /x-form/titleField: {form.title_field!r} must be a text field on every page")
    for value in form.allowed_contact_types:
        if value not in contact_types:
            problems.append(f"{schema_file}: /x-form/allowedContactTypes: {value!r} is not a contact type")
    return problems


def _condition_problems(form: Form, schema_file: Path) -> list[str]:
    """Each branch tests its field as the field's values allow: a list of choices with contains, others with
    const, and always with a value that can be chosen."""
    problems = []
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
    return problems


def _name_problems(form: Form, schema_file: Path) -> list[str]:
    """No field takes a name the page or its form element already uses."""
    names = {f.name for f in form.fields}
    problems = [
        f"{schema_file}: field {name!r}: the name is used by the page itself; choose another"
        for name in sorted(names & RESERVED_NAMES)
    ]
    return problems + [
        f"{schema_file}: field {name!r}: the name would hide the page form's own {name!r}; choose another"
        for name in sorted(names & FORM_MEMBERS)
    ]


def _text_problems(form: Form, lang: str, text_file: Path, schema_file: Path) -> list[str]:
    """The form's texts in one language: every text the page needs, and none for what is not there."""
    texts = form.texts[lang]
    problems = [f"{text_file}: /{key}: missing text" for key in ("title", "lead", "submit") if key not in texts]
    field_texts = texts.get("fields", {})
    for f in form.fields:
        own = field_texts.get(f.name)
        if not isinstance(own, Mapping) or "label" not in own:
            problems.append(f"{text_file}: /fields/{f.name}/label: missing text")
            continue
        problems += _field_text_problems(form, lang, f, own, f"{text_file}: /fields/{f.name}")
    names = {f.name for f in form.fields}
    for name in set(field_texts) - names:
        problems.append(f"{text_file}: /fields/{name}: no such field in {schema_file.name}")
    return problems


def _field_text_problems(form: Form, lang: str, f: Field, own: Mapping[str, Any], where: str) -> list[str]:
    """One field's texts: known members, a label for each choice and category, placeholders it can fill."""
    known = ", ".join(sorted(FIELD_TEXTS))
    problems = [f"{where}/{unknown}: not a text a field has ({known})" for unknown in sorted(set(own) - FIELD_TEXTS)]
    if f.options and f.value_kind != "boolean" and not f.lists_contact_types:  # yes and no are common texts
        options = own.get("options", {})
        problems += [
            f"{where}/options/{option_key(option)}: missing text"
            for option in f.options
            if option_key(option) not in options
        ]
    hints = own.get("categoryHints")
    discriminator = form.field(form.discriminator)
    if hints is not None and discriminator is not None:
        problems += [
            f"{where}/categoryHints/{category}: missing text"
            for category in discriminator.options
            if category not in hints
        ]
    problems += _error_text_problems(form, lang, f, own, where)
    hint_params = placeholders(str(own.get("hint", ""))) - set(form.message_params(lang, f.name))
    if hint_params:
        problems.append(f"{where}/hint: {{{', '.join(sorted(hint_params))}}} is unknown")
    return problems


def _error_text_problems(form: Form, lang: str, f: Field, own: Mapping[str, Any], where: str) -> list[str]:
    """A field's own error texts: each for a keyword the field can fail, with placeholders it can fill."""
    problems = []
    can_fail = f.keywords() | {r.keyword for r in form.rules if r.field == f.name}
    for keyword, template in own.get("errors", {}).items():
        if keyword not in can_fail:
            problems.append(f"{where}/errors/{keyword}: this field cannot fail {keyword!r}")
            continue
        unknown = placeholders(template) - set(form.message_params(lang, f.name)) - {"value", "limit"}
        if unknown:
            problems.append(f"{where}/errors/{keyword}: {{{', '.join(sorted(unknown))}}} has no value for this field")
    return problems


def _compared_as(field: Field) -> str | None:
    """What a rule compares the field's value as: its moment (a day, a time, both), a number, or nothing."""
    return field.moment or ("number" if field.value_kind == "number" else None)


def rule_problems(form: Form, rule: Rule) -> list[str]:
    """Whether a rule names fields that exist and whose values it can compare."""
    problems = []
    kinds = set()
    for name in rule.fields:
        found = form.field(name)
        if found is None:
            problems.append(f"{name!r} is not a field")
        elif (kind := _compared_as(found)) not in _RULE_KINDS[rule.rule]:
            problems.append(
                f"{rule.rule!r} cannot compare {name!r}, a {found.widget!r} field "
                f"(it compares {', '.join(sorted(_RULE_KINDS[rule.rule]))})"
            )
        else:
            kinds.add(kind)
    if len(kinds) > 1:
        problems.append(f"{rule.rule!r} compares fields of different kinds: {', '.join(rule.fields)}")
    return problems
