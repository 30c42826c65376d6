"""The one loader of ``schema/``: reads and checks the folder into a ``Catalog``, or reads the compiled catalog."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from handler.conversation_rules import ConversationRules, read_rules
from handler.dialect import FORMAT_CHECKER, dialect_problems, widget_file_problems
from handler.rules import Rule, holiday_calendar
from handler.schema.catalog import Catalog
from handler.schema.fields import collect_fields
from handler.schema.lint import convention_problems, same_keys_problems
from handler.schema.model import Condition, Field, Form, Path_
from handler.schema.values import FormValidator
from handler.texts import email_text_problems, missing_texts
from handler.ticket_mapping import TicketMapping, read_mappings, site_tickets

SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "schema"
DEFAULT_TIME_ZONE = "Europe/Oslo"
COMPILED = "catalog.json"  # the checked catalog in one file, as the Lambda package ships it


class SchemaProblem(Exception):
    """The schema folder breaks the metaschema or a convention; ``problems`` says what and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    problems += _common_text_problems(root, languages, common)
    contact_types = tuple(contact_schema.get("enum", ()))
    statuses = tuple(site.get("statuses", ()))
    conversation, tickets = _site_rules(root, site, statuses, problems)
    problems += _label_problems(root, languages, common, {"contactTypes": contact_types, "statuses": statuses})
    registry = _registry(contact_schema)
    form_files = [root / "forms" / f"{name}.schema.json" for name in site.get("forms", ())]
    forms: dict[str, Form] = {}
    for schema_file in [*form_files, *extra_forms]:
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


def _common_text_problems(root: Path, languages: tuple[str, ...], common: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The common texts: the same in every language, and holding every text the handler uses."""
    problems = same_keys_problems({lang: (root / f"common.{lang}.json", common[lang]) for lang in languages})
    for lang in languages:
        for where in missing_texts(common[lang]):
            problems.append(f"{root / f'common.{lang}.json'}: {where}: missing text (the handler uses it)")
        problems += [f"{root / f'common.{lang}.json'}: {p}" for p in email_text_problems(common[lang].get("email"))]
    return problems


def _site_rules(
    root: Path, site: Mapping[str, Any], statuses: tuple[str, ...], problems: list[str]
) -> tuple[ConversationRules, dict[str, TicketMapping]]:
    """The statuses, the conversation's rules and the ticket systems' mappings of ``site.json``."""
    if not statuses:
        problems.append(
            f"{root / 'site.json'}: /statuses: list the statuses a request can have, the first for new ones"
        )
    conversation, found = read_rules(site.get("conversation"), statuses, str(root / "site.json"))
    problems += found
    tickets, found = read_mappings(site.get("tickets"), statuses, str(root / "site.json"))
    problems += found
    return conversation, tickets


def _label_problems(
    root: Path,
    languages: tuple[str, ...],
    common: Mapping[str, Mapping[str, Any]],
    named: Mapping[str, tuple[str, ...]],
) -> list[str]:
    """Every contact type and status has a label in every language's common texts."""
    problems = []
    for lang in languages:
        for key, names in named.items():
            missing = [t for t in names if t not in common[lang].get(key, {})]
            if missing:
                problems.append(f"{root / f'common.{lang}.json'}: /{key}: no label for {', '.join(missing)}")
    return problems


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
                "fields": [_compiled_field(f) for f in form.fields],
                "closedDays": form.closed_days(),
            }
            for form in catalog.forms.values()
        ],
    }


def _compiled_field(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "schema": f.schema,
        "widget": f.widget,
        "value": f.value_kind,
        "moment": f.moment,
        "multiline": f.multiline,
        "shownWhen": [[c.as_json() for c in path] for path in f.shown_when],
        "requiredWhen": [[c.as_json() for c in path] for path in f.required_when],
    }


def _field_from_compiled(f: Mapping[str, Any]) -> Field:
    shown, required = _paths(f["shownWhen"]), _paths(f["requiredWhen"])
    return Field(f["name"], f["schema"], f["widget"], shown, required, f["value"], f["moment"], f["multiline"])


def _from_compiled(root: Path, data: Mapping[str, Any]) -> Catalog:
    registry = _registry(data["contactTypes"])
    forms = {}
    for entry in data["forms"]:
        fields = tuple(_field_from_compiled(f) for f in entry["fields"])
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


def _paths(raw: list[list[list[Any]]]) -> tuple[Path_, ...]:
    return tuple(tuple(Condition.from_json(test) for test in path) for path in raw)


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


def _load_form(
    schema_file: Path,
    languages: tuple[str, ...],
    common: Mapping[str, Mapping[str, Any]],
    contact_types: tuple[str, ...],
    registry: Registry[Any],
    problems: list[str],
) -> Form | None:
    """One form with its texts, checked; None when it is too broken to check further (``problems`` says why)."""
    before = len(problems)
    schema = _read_form_schema(schema_file, problems)
    if schema is None:
        return None
    text_files, texts = _read_form_texts(schema_file, schema, languages, problems)
    if len(problems) > before:
        return None
    problems += same_keys_problems({lang: (text_files[lang], texts[lang]) for lang in languages})
    registry = registry.with_resource(schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
    fields = collect_fields(schema, registry, schema_file, problems)
    counted = len(problems)
    closed = _holidays(schema, schema_file, problems)
    if len(problems) > counted:
        return None
    form = _form(schema, texts, common, fields, registry, closed)
    problems += convention_problems(form, schema_file, text_files, contact_types)
    return form


def _read_form_schema(schema_file: Path, problems: list[str]) -> dict[str, Any] | None:
    """A form's schema, if it is JSON of the dialect."""
    before = len(problems)
    schema = _read_json(schema_file, problems)
    if len(problems) > before:
        return None
    # The dialect's metaschema is a strict subset of 2020-12's, so it is the only pass needed.
    for where, what in dialect_problems(schema):
        problems.append(f"{schema_file}: {where}: {what} (dialect)")
    return None if len(problems) > before else schema


def _read_form_texts(
    schema_file: Path, schema: Mapping[str, Any], languages: tuple[str, ...], problems: list[str]
) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """The form's text files, named for its id, and what they hold."""
    form_id = str(schema["x-form"]["id"])
    stem = schema_file.name.removesuffix(".schema.json")
    if stem != form_id:
        problems.append(f"{schema_file}: /x-form/id: is {form_id!r} but the file is named for {stem!r}")
    text_files = {lang: schema_file.with_name(f"{stem}.{lang}.json") for lang in languages}
    return text_files, {lang: _read_json(path, problems) for lang, path in text_files.items()}


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
