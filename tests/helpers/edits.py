"""Edits an operator makes to schema/ alone: remove, rename or reorder a service, add a language, add a service
with every widget. Each takes a copy of schema/ and changes only its files, as a person with a text editor
would; `scripts/operator_edits.py` runs the test suite on a work tree whose schema/ was edited so."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.helpers.paths import TESTS

FORM = "service-request"


def write(path: Path, document: Any) -> None:
    """Write the JSON file as an editor would."""
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def rewrite(path: Path, change: Callable[[Any], object]) -> None:
    """Read the JSON file, let ``change`` edit it in place, write it back."""
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    write(path, document)


def _form(root: Path) -> tuple[Path, dict[str, Any]]:
    path = root / "forms" / f"{FORM}.schema.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


def _text_files(root: Path) -> Iterator[Path]:
    site = json.loads((root / "site.json").read_text(encoding="utf-8"))
    for language in site["languages"]:
        yield root / "forms" / f"{FORM}.{language}.json"


def services(root: Path) -> list[str]:
    """The service ids in the order the page lists them."""
    _, schema = _form(root)
    discriminator = schema["x-form"]["discriminator"]
    return list(schema["properties"][discriminator]["enum"])


def _fields(node: Any) -> Iterator[str]:
    """Every field name a schema node defines, branches included."""
    if isinstance(node, dict):
        yield from node.get("properties", {})
        for branch in node.get("allOf", []):
            yield from _fields(branch.get("then", {}))


def remove_service(root: Path, service: str) -> None:
    """Drop ``service``: its choice, its branch, the rules and texts of fields no other branch has."""
    path, schema = _form(root)
    discriminator = schema["x-form"]["discriminator"]
    schema["properties"][discriminator]["enum"].remove(service)
    schema["allOf"] = [
        b for b in schema["allOf"] if b["if"]["properties"].get(discriminator, {}).get("const") != service
    ]
    kept = set(_fields(schema))
    schema["x-rules"] = [r for r in schema.get("x-rules", []) if {r["field"], r.get("other", r["field"])} <= kept]
    write(path, schema)

    def drop_texts(texts: dict[str, Any]) -> None:
        for name, field in list(texts["fields"].items()):
            if name not in kept:
                del texts["fields"][name]
                continue
            for member in ("options", "categoryHints"):
                field.get(member, {}).pop(service, None)

    for text_file in _text_files(root):
        rewrite(text_file, drop_texts)
    _rename_in_ticket_mappings(root, service, None)


def rename_service(root: Path, old: str, new: str) -> None:
    """Give ``old`` the id ``new`` everywhere it is written: the choice, its branch and its texts."""
    path, schema = _form(root)
    discriminator = schema["x-form"]["discriminator"]
    choices = schema["properties"][discriminator]["enum"]
    choices[choices.index(old)] = new
    for branch in schema["allOf"]:
        test = branch["if"]["properties"].get(discriminator, {})
        if test.get("const") == old:
            test["const"] = new
    write(path, schema)

    def rename_texts(texts: dict[str, Any]) -> None:
        for field in texts["fields"].values():
            for member in ("options", "categoryHints"):
                if old in field.get(member, {}):
                    field[member] = {new if k == old else k: v for k, v in field[member].items()}

    for text_file in _text_files(root):
        rewrite(text_file, rename_texts)
    _rename_in_ticket_mappings(root, old, new)


def _rename_in_ticket_mappings(root: Path, old: str, new: str | None) -> None:
    """The tags, custom fields and request types ``schema/site.json`` gives tickets of ``old``: under ``new``, or
    gone."""

    def rename(site: dict[str, Any]) -> None:
        for mapping in site.get("tickets", {}).values():
            for member in ("tags", "customFields", "requestTypes"):
                by_service = mapping.get(member, {})
                if old in by_service:
                    kept = by_service.pop(old)
                    if new is not None:
                        by_service[new] = kept

    rewrite(root / "site.json", rename)


def reorder_services(root: Path) -> None:
    """List the services, and their branches, in the opposite order."""
    path, schema = _form(root)
    discriminator = schema["x-form"]["discriminator"]
    schema["properties"][discriminator]["enum"].reverse()
    schema["allOf"].reverse()
    write(path, schema)


def add_language(root: Path, code: str, name: str) -> None:
    """A new language whose texts start as a copy of the default language's."""
    site = json.loads((root / "site.json").read_text(encoding="utf-8"))
    default = site["defaultLanguage"]
    shutil.copy(root / f"common.{default}.json", root / f"common.{code}.json")
    rewrite(root / f"common.{code}.json", lambda d: d.update(languageName=name))
    for form in site["forms"]:
        shutil.copy(root / "forms" / f"{form}.{default}.json", root / "forms" / f"{form}.{code}.json")
    rewrite(root / "site.json", lambda d: (d["languages"].append(code), d["languageAliases"].pop(code, None)))


# The two widgets the test form has no branch field of (radios, attachments), with their texts.
OWN_FIELDS: dict[str, Any] = {
    "pick": {"type": "string", "enum": ["one", "two"], "x-widget": "radios"},
    "files": {
        "type": "array",
        "x-widget": "attachments",
        "maxItems": 2,
        "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
        "x-upload": {"maxBytes": 1048576, "types": {"text/plain": [".txt"]}},
    },
}
OWN_TEXTS: dict[str, Any] = {
    "pick": {"label": "Velg", "options": {"one": "1", "two": "2"}},
    "files": {"label": "Filer"},
}


def add_service_with_every_widget(root: Path, service: str) -> None:
    """A new service whose branch has one field of every widget, taken from the test-only form that uses every
    keyword of the dialect (tests/forms/every-keyword.*), with its texts in every language."""
    every = json.loads((TESTS / "forms" / "every-keyword.schema.json").read_text(encoding="utf-8"))
    path, schema = _form(root)
    discriminator = schema["x-form"]["discriminator"]
    taken = set(_fields(schema))
    fields: dict[str, Any] = {}
    for branch in every["allOf"]:
        for name, field in branch["then"].get("properties", {}).items():
            if '"$ref"' not in json.dumps(field):
                fields.setdefault(name, field)
    fields |= OWN_FIELDS
    prefix = f"{service.replace('-', '_')}_"
    new = {f"{prefix}{name}": field for name, field in fields.items() if f"{prefix}{name}" not in taken}
    schema["properties"][discriminator]["enum"].append(service)
    branch_test = {"properties": {discriminator: {"const": service}}, "required": [discriminator]}
    schema["allOf"].append({"if": branch_test, "then": {"properties": new}})
    write(path, schema)
    every_texts = json.loads((TESTS / "forms" / "every-keyword.nb.json").read_text(encoding="utf-8"))["fields"]

    def add_texts(texts: dict[str, Any]) -> None:
        texts["fields"][discriminator].setdefault("options", {})[service] = "Alt på en gang"
        for field in texts["fields"].values():
            if "categoryHints" in field:
                field["categoryHints"][service] = "Fyll ut feltene for denne tjenesten."
        for name in new:
            original = OWN_TEXTS.get(name.removeprefix(prefix)) or every_texts[name.removeprefix(prefix)]
            # Without the test form's error texts, and its hints that name a rule the new service does not have.
            texts["fields"][name] = {k: v for k, v in original.items() if k not in ("errors", "hint")}

    for text_file in _text_files(root):
        rewrite(text_file, add_texts)


def apply(root: Path, edit: str) -> str:
    """Apply the named edit (as `scripts/operator_edits.py` lists them) to the schema/ folder ``root``; say what
    was done."""
    ids = services(root)
    if edit.startswith("remove:"):
        service = edit.removeprefix("remove:")
        remove_service(root, service)
        return f"removed the service {service}"
    if edit == "rename":
        rename_service(root, ids[0], f"{ids[0]}-renamed")
        return f"renamed {ids[0]} to {ids[0]}-renamed"
    if edit == "reorder":
        reorder_services(root)
        return "listed the services in reverse"
    if edit == "add-language":
        site = json.loads((root / "site.json").read_text(encoding="utf-8"))
        code = next(c for c in ("nn", "sv", "da", "de", "fi") if c not in site["languages"])
        add_language(root, code, code.upper())
        return f"added the language {code}"
    if edit == "add-service":
        service = next(s for s in ("everything", "everything-2") if s not in ids)
        add_service_with_every_widget(root, service)
        return f"added the service {service} with a field of every widget"
    raise ValueError(f"unknown edit {edit!r}")
