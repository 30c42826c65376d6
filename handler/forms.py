"""The one loader of ``schema/``: forms, their texts, and the field model the site and the handler share."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from handler.rules import Rule

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"

# The HTML standard's "valid e-mail address", which browsers apply to <input type="email">:
# the server applies the same rule so both sides accept exactly the same addresses.
EMAIL_PATTERN = (
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


@functools.cache
def browser_regex(pattern: str) -> re.Pattern[str]:
    """A schema pattern compiled to mean what it means in the page's JavaScript: there ``$`` is the
    end of the text, while Python's ``$`` also matches before a final line break."""
    translated, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        translated.append(char)
    return re.compile("".join(translated))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not browser_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# JSON Schema's own validator, with ``pattern`` read as the browser reads it (see browser_regex).
FormValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]
_EMAIL = browser_regex(EMAIL_PATTERN)
_PLACEHOLDER = re.compile(r"\{(label|limit|value)\}")

CONTACT_TYPES_ID = "urn:servicedesk-forms:contact-types"
FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) and date.fromisoformat(value))


class SchemaProblem(Exception):
    """The schema folder breaks the metaschema or a convention; ``problems`` says what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Condition:
    """``field`` has the value ``value``: the test of one ``if``/``then`` branch."""

    field: str
    value: str


Path_ = tuple[Condition, ...]


@dataclass(frozen=True)
class Field:
    """One input of a form, with every branch that shows it and the schema that checks it."""

    name: str
    schema: Mapping[str, Any]
    widget: str
    shown_when: tuple[Path_, ...]
    required_when: tuple[Path_, ...]

    @property
    def options(self) -> tuple[str, ...]:
        """The allowed values of a choice field, in schema order."""
        return tuple(self.schema.get("enum", ()))

    @property
    def item_schema(self) -> Mapping[str, Any]:
        """The schema of each item of a list field (empty for other fields)."""
        items = self.schema.get("items")
        return items if isinstance(items, Mapping) else {}

    @property
    def lists_contact_types(self) -> bool:
        """Whether the field's choices are the contact types, labelled by the common texts."""
        return self.schema.get("$id") == CONTACT_TYPES_ID

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

    def keywords(self) -> set[str]:
        """The validation keywords that can fail on this field, for message lookup and checks."""
        found = {k for k in self.schema if k in VALIDATION_KEYWORDS}
        found |= {k for k in self.item_schema if k in VALIDATION_KEYWORDS}
        if self.required_when:
            found.add("required")
        if self.widget == "attachments":
            found |= UPLOAD_KEYWORDS
        return found


def _holds(path: Path_, data: Mapping[str, Any]) -> bool:
    return all(data.get(c.field) == c.value for c in path)


# The checks of the upload flow (handler/uploads.py), reported on an attachments field.
UPLOAD_KEYWORDS = frozenset({"x-upload", "x-upload-size", "x-upload-type", "x-upload-content", "x-upload-failed"})
VALIDATION_KEYWORDS = frozenset(
    {"type", "enum", "const", "minLength", "maxLength", "pattern", "format", "minItems", "maxItems", "uniqueItems"}
)


@dataclass(frozen=True)
class FieldError:
    """One problem with a submission, already worded for the person who made it."""

    field: str | None
    path: str
    keyword: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The error in the API's error shape."""
        return {"field": self.field, "path": self.path, "keyword": self.keyword, "message": self.message}


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
    schema_hash: str
    validator: Draft202012Validator = field(repr=False, compare=False)

    def field(self, name: str) -> Field | None:
        """The field called ``name``, if the form has one."""
        return next((f for f in self.fields if f.name == name), None)

    @property
    def categories(self) -> tuple[str, ...]:
        """The values of the discriminator field: the kinds of request this form takes."""
        discriminator = self.field(self.discriminator)
        return discriminator.options if discriminator else ()

    def label(self, language: str, name: str) -> str:
        """The field's label in ``language``."""
        return str(self.texts[language]["fields"][name]["label"])

    def option_label(self, language: str, name: str, option: str) -> str:
        """The label of one choice of a choice field in ``language``."""
        found = self.field(name)
        if found is not None and found.lists_contact_types:
            return str(self.common[language]["contactTypes"][option])
        return str(self.texts[language]["fields"][name]["options"][option])

    def message_template(self, language: str, name: str | None, keyword: str) -> str:
        """The error text for ``keyword`` on field ``name``: the field's own, else the common one."""
        own = self.texts[language]["fields"].get(name or "", {}).get("errors", {})
        common = self.common[language]["errors"]
        return str(own.get(keyword) or common.get(keyword) or common["invalid"])

    def message(self, language: str, name: str | None, keyword: str, limit: Any = None, value: Any = None) -> str:
        """The error text filled in; the page's script fills the same placeholders the same way."""
        label = self.label(language, name) if name and self.field(name) else (name or "")
        params = {"label": label, "limit": "" if limit is None else str(limit), "value": _short(value)}
        return _PLACEHOLDER.sub(lambda m: params[m.group(1)], self.message_template(language, name, keyword))

    def validate(self, data: Any, language: str, now: datetime) -> list[FieldError]:
        """Every problem with ``data``, one per field and keyword, worded in ``language``."""
        errors: dict[tuple[str, str], FieldError] = {}

        def add(path: list[str | int], keyword: str, limit: Any = None, value: Any = None) -> None:
            name = path[0] if path and isinstance(path[0], str) else None
            pointer = "".join(f"/{_escape(p)}" for p in path)
            errors.setdefault(
                (pointer, keyword),
                FieldError(name, pointer, keyword, self.message(language, name, keyword, limit, value)),
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
            else:
                add(
                    path,
                    keyword,
                    self._limit(path, keyword),
                    error.instance if isinstance(error.instance, str) else None,
                )

        failed = {e.field for e in errors.values()}
        for extra in extras:
            # A field of another branch is only reported when the fields choosing the branch are fine;
            # otherwise the error on the choice itself is the one that helps.
            known = self.field(extra)
            if known is None or failed.isdisjoint(c.field for p in known.shown_when for c in p):
                add([extra], "unevaluatedProperties")
        if isinstance(data, Mapping):
            for rule in self.rules:
                involved = rule.fields
                if failed.isdisjoint(involved) and all(k in data for k in involved) and not rule.holds(data, now):
                    add([rule.field], rule.keyword)
        return sorted(errors.values(), key=lambda e: self._order(e.field))

    def _limit(self, path: list[str | int], keyword: str) -> Any:
        """The limit a keyword enforces on a field or its items, as the field model (and the page) sees it."""
        found = self.field(path[0]) if path and isinstance(path[0], str) else None
        if found is None or len(path) > 2:
            return None
        limit = (found.schema if len(path) == 1 else found.item_schema).get(keyword)
        return limit if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None

    def _belongs(self, name: str, data: Mapping[str, Any]) -> bool:
        found = self.field(name)
        return found is not None and found.is_shown(data)

    def _order(self, name: str | None) -> int:
        return next((i for i, f in enumerate(self.fields) if f.name == name), len(self.fields))


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Catalog:
    """Everything in ``schema/``: languages, common texts, contact types and forms."""

    root: Path
    languages: tuple[str, ...]
    default_language: str
    language_aliases: Mapping[str, str]
    common: Mapping[str, Mapping[str, Any]]
    contact_types: tuple[str, ...]
    statuses: tuple[str, ...]
    forms: Mapping[str, Form]

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


def load_catalog(root: Path = SCHEMA_DIR, extra_forms: tuple[Path, ...] = ()) -> Catalog:
    """Read and check the schema folder; raise ``SchemaProblem`` listing every problem found.

    ``extra_forms`` adds forms kept outside ``root`` (the tests use it for a second form).
    """
    problems: list[str] = []
    site = _read_json(root / "site.json", problems)
    languages = tuple(site.get("languages", ()))
    common = {lang: _read_json(root / f"common.{lang}.json", problems) for lang in languages}
    contact_schema = _read_json(root / "contact-types.schema.json", problems)
    if problems:
        raise SchemaProblem(problems)
    problems += _check_same_keys({lang: (root / f"common.{lang}.json", common[lang]) for lang in languages})
    contact_types = tuple(contact_schema.get("enum", ()))
    statuses = tuple(site.get("statuses", ()))
    if not statuses:
        problems.append(
            f"{root / 'site.json'}: /statuses: list the statuses a request can have, the first for new ones"
        )
    for lang in languages:
        for key, names in (("contactTypes", contact_types), ("statuses", statuses)):
            missing = [t for t in names if t not in common[lang].get(key, {})]
            if missing:
                problems.append(f"{root / f'common.{lang}.json'}: /{key}: no label for {', '.join(missing)}")

    registry: Registry[Any] = Registry().with_resource(
        contact_schema["$id"], Resource.from_contents(contact_schema, default_specification=DRAFT202012)
    )
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
        statuses=statuses,
        forms=forms,
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
        for pointer in sorted(every - pointers[lang]):
            others = ", ".join(sorted(lang2 for lang2, found in pointers.items() if pointer in found))
            problems.append(f"{path}: {pointer}: missing text (present in {others})")
    for path, doc in files.values():
        for pointer, value in _leaves(doc).items():
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{path}: {pointer}: must be a non-empty text")
    return problems


def _leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, Mapping) and doc:
        out: dict[str, Any] = {}
        for key, value in doc.items():
            out.update(_leaves(value, f"{prefix}/{_escape(key)}"))
        return out
    return {prefix: doc}


WIDGETS = frozenset(
    {"text", "textarea", "select", "radios", "email", "email-list", "tel", "date", "time", "attachments"}
)
# Ids the page itself uses; a field with one of these names would collide with them.
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
FORM_KEYS = {"id", "version", "referencePrefix", "discriminator", "titleField", "allowedContactTypes"}


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
    for error in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema):
        problems.append(f"{schema_file}: {_pointer(error.absolute_path)}: {error.message} (metaschema)")
    meta = schema.get("x-form")
    if not isinstance(meta, Mapping) or set(meta) != FORM_KEYS:
        problems.append(f"{schema_file}: /x-form: must be an object with exactly {', '.join(sorted(FORM_KEYS))}")
        return None
    if len(problems) > before:
        return None
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

    def resolve(sub: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(sub)
        while "$ref" in merged:
            target = resolver.lookup(merged.pop("$ref")).contents
            merged = {**target, **merged}
        if isinstance(merged.get("items"), Mapping):
            merged["items"] = resolve(merged["items"])
        return merged

    fields = _collect_fields(schema, resolve, schema_file, problems)
    form = Form(
        id=form_id,
        schema=schema,
        texts=texts,
        common=common,
        fields=fields,
        rules=tuple(Rule.from_schema(r) for r in schema.get("x-rules", ())),
        discriminator=str(meta["discriminator"]),
        title_field=str(meta["titleField"]),
        allowed_contact_types=tuple(meta["allowedContactTypes"]),
        reference_prefix=str(meta["referencePrefix"]),
        schema_hash=_hash(schema, registry),
        validator=FormValidator(schema, registry=registry, format_checker=FORMAT_CHECKER),
    )
    problems += _check_conventions(form, schema_file, text_files, contact_types)
    return form


def _hash(schema: Mapping[str, Any], registry: Registry[Any]) -> str:
    """A digest of the form's schema and every schema it can refer to, stored with each request."""
    parts = [schema] + [registry.contents(uri) for uri in sorted(registry) if uri != schema["$id"]]
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _pointer(parts: Any) -> str:
    return "".join(f"/{_escape(p)}" for p in parts) or "/"


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
                    '{"if": {"properties": {FIELD: {"const": VALUE}}, "required": [FIELD]}, "then": {...}}'
                )
                continue
            branches.setdefault(test.field, []).append((index, branch))
        for name, sub in properties.items():
            add(name, resolve(sub), f"{where}/properties/{name}", path, name in required)
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
    for name in _page_order(list(found), after, schema_file, problems):
        entry = found[name]
        sub = entry["schema"]
        widget = sub.get("x-widget") or ("select" if "enum" in sub else "text")
        if widget not in WIDGETS:
            problems.append(
                f"{schema_file}: {entry['where']}/x-widget: {widget!r} is not one of {', '.join(sorted(WIDGETS))}"
            )
        fields.append(Field(name, sub, widget, tuple(entry["shown"]), tuple(entry["required"])))
    return tuple(fields)


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
    if not isinstance(condition, Mapping) or set(condition) != {"const"}:
        return None
    return Condition(name, condition["const"])


def _check_conventions(
    form: Form, schema_file: Path, text_files: Mapping[str, Path], contact_types: tuple[str, ...]
) -> list[str]:
    """The project's own rules, beyond the metaschema: texts, reachability and extensions."""
    problems: list[str] = []
    discriminator = form.field(form.discriminator)
    if discriminator is None or not discriminator.always_shown or not discriminator.options:
        problems.append(
            f"{schema_file}: /x-form/discriminator: {form.discriminator!r} must be a choice field on every page"
        )
    else:
        tested = {c.value for f in form.fields for p in f.shown_when for c in p if c.field == form.discriminator}
        for value in sorted(tested - set(discriminator.options)):
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
                if tested_field and condition.value not in tested_field.options:
                    problems.append(
                        f"{schema_file}: field {f.name!r} is shown when {condition.field}={condition.value!r}, "
                        "which cannot be chosen"
                    )
    names = {f.name for f in form.fields}
    for name in sorted(names & RESERVED_NAMES):
        problems.append(f"{schema_file}: field {name!r}: the name is used by the page itself; choose another")
    for index, rule in enumerate(form.rules):
        for name in rule.fields:
            if name not in names:
                problems.append(f"{schema_file}: /x-rules/{index}: {name!r} is not a field")
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
            if f.widget in ("select", "radios") and not f.lists_contact_types:
                for option in f.options:
                    if option not in own.get("options", {}):
                        problems.append(f"{text_file}: /fields/{f.name}/options/{option}: missing text")
            hints = own.get("categoryHints")
            if hints is not None and discriminator is not None:
                for category in discriminator.options:
                    if category not in hints:
                        problems.append(f"{text_file}: /fields/{f.name}/categoryHints/{category}: missing text")
            for extra in (
                set(own.get("errors", {})) - f.keywords() - {r.keyword for r in form.rules if r.field == f.name}
            ):
                problems.append(f"{text_file}: /fields/{f.name}/errors/{extra}: this field cannot fail {extra!r}")
        for name in set(field_texts) - names:
            problems.append(f"{text_file}: /fields/{name}: no such field in {schema_file.name}")
    return problems
