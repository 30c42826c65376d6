"""The schema folder: metaschema, the project's conventions, and translation completeness."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from handler.dialect import WIDGETS_DIR, widget_file_problems, widgets
from handler.schema.catalog import Catalog
from handler.schema.lint import FORM_MEMBERS
from handler.schema.loader import SCHEMA_DIR, load_catalog
from tests.helpers.schema_copies import copy_schema, edit, problems_of
from tests.helpers.shipped import a_service, service_fields

ROOT = SCHEMA_DIR.parent


def test_a_missing_translation_is_named_by_file_and_place(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.en.json", lambda d: d["fields"]["subject"].pop("hint"))
    problems = problems_of(root)
    others = ", ".join(sorted(lang for lang in load_catalog().languages if lang != "en"))
    assert any(
        f"service-request.en.json: /fields/subject/hint: missing text (present in {others})" in p for p in problems
    )


def test_a_field_without_a_label_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    name = list(service_fields(a_service()))[1]  # a field of one service's own
    for language in load_catalog().languages:
        edit(root / "forms" / f"service-request.{language}.json", lambda d: d["fields"].pop(name))
    problems = problems_of(root)
    assert any(f"/fields/{name}/label: missing text" in p for p in problems)


def test_an_option_without_a_label_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)

    def add_category(schema: dict[str, Any]) -> None:
        schema["properties"]["service"]["enum"].append("not-yet-labelled")

    edit(root / "forms" / "service-request.schema.json", add_category)
    problems = problems_of(root)
    assert any("/fields/service/options/not-yet-labelled: missing text" in p for p in problems)
    assert any("/fields/description/categoryHints/not-yet-labelled: missing text" in p for p in problems)


def test_a_branch_for_a_category_that_cannot_be_chosen_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(
        root / "forms" / "service-request.schema.json",
        lambda s: s["properties"]["service"]["enum"].remove(a_service()),
    )
    problems = problems_of(root)
    assert any(f"service='{a_service()}'" in p and "cannot be chosen" in p for p in problems)


def test_metaschema_errors_name_the_file_and_place(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.schema.json", lambda s: s["properties"]["subject"].update(maxLength="long"))
    problems = problems_of(root)
    assert any(
        "service-request.schema.json: /properties/subject/maxLength:" in p and "(dialect)" in p for p in problems
    )


def test_malformed_json_is_named(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    (root / "common.en.json").write_text("{", encoding="utf-8")
    assert any("common.en.json: not valid JSON" in p for p in problems_of(root))


def test_an_error_text_for_a_rule_the_field_cannot_break_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    for language in load_catalog().languages:
        edit(
            root / "forms" / f"service-request.{language}.json",
            lambda d: d["fields"]["account"]["errors"].update({"format": "x"}),
        )
    assert any("/fields/account/errors/format: this field cannot fail 'format'" in p for p in problems_of(root))


def test_a_widget_the_site_cannot_render_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(
        root / "forms" / "service-request.schema.json",
        lambda s: s["properties"]["subject"].update({"x-widget": "slider"}),
    )
    assert any("/properties/subject/x-widget: 'slider' is not one of" in p for p in problems_of(root))


def test_an_unknown_contact_type_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.schema.json", lambda s: s["x-form"].update(allowedContactTypes=["boss"]))
    assert any("/x-form/allowedContactTypes: 'boss' is not a contact type" in p for p in problems_of(root))


def test_a_new_language_needs_only_its_texts(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    shipped = load_catalog(root).languages
    added = next(code for code in ("nn", "sv", "da", "de") if code not in shipped)
    edit(root / "site.json", lambda s: (s["languages"].append(added), s["languageAliases"].pop(added, None)))
    problems = problems_of(root)
    assert problems == [f"{root / f'common.{added}.json'}: file is missing"]
    shutil.copy(root / "common.nb.json", root / f"common.{added}.json")
    for form in load_catalog().forms:
        shutil.copy(root / "forms" / f"{form}.nb.json", root / "forms" / f"{form}.{added}.json")
    assert load_catalog(root).languages == (*shipped, added)


def test_the_second_form_uses_the_same_format(catalog_with_incident: Catalog) -> None:
    incident = catalog_with_incident.forms["incident"]
    assert incident.categories == ("critical", "minor")
    assert [f.name for f in incident.fields] == ["severity", "users_affected", "summary", "steps"]
    assert incident.reference_prefix == "INC"


def _set(path: str, value: Any) -> Any:
    """An edit that sets the value at a slash-separated path in a schema document."""

    def change(document: Any) -> None:
        *parents, last = path.split("/")
        for part in parents:
            document = document[int(part)] if isinstance(document, list) else document[part]
        document[int(last) if isinstance(document, list) else last] = value

    return change


def _branch_field(node: dict[str, Any], ref: str, where: str = "") -> str | None:
    """The slash path of the first field of a branch of ``node`` whose schema is ``{"$ref": ref}``."""
    for index, branch in enumerate(node.get("allOf", [])):
        then = f"{where}allOf/{index}/then/"
        for name, field in branch["then"].get("properties", {}).items():
            if field.get("$ref") == ref:
                return f"{then}properties/{name}"
        if (found := _branch_field(branch["then"], ref, then)) is not None:
            return found
    return None


# Where the shipped form (as schema/ holds it now) has what a mistake needs: a date and a date-time field in a
# branch, a rule comparing two fields, office hours. The cases that need one schema/ no longer has are skipped.
_SHIPPED = json.loads((SCHEMA_DIR / "forms" / "service-request.schema.json").read_text(encoding="utf-8"))
SUBJECT = "properties/subject"
PERIOD = _branch_field(_SHIPPED, "#/$defs/date") or "-"
SUPPORT = _branch_field(_SHIPPED, "#/$defs/dateTime") or "-"
_RULES = _SHIPPED.get("x-rules", [])
PAIR = next((i for i, r in enumerate(_RULES) if "other" in r), -1)
OFFICE = next((i for i, r in enumerate(_RULES) if r["rule"] == "outside-office-hours"), -1)
_MISSING = {
    "a rule": not _RULES,
    "a rule comparing two fields": PAIR < 0,
    "office hours": OFFICE < 0,
    "a date field in a branch": PERIOD == "-",
    "a date-time field in a branch": SUPPORT == "-",
}
NUMBER = {"type": "number", "minimum": 1, "maximum": 3}
TIME = {"type": "string", "format": "local-time"}
# Each mistake an operator can make in a form's schema, and where the build must say it is.
MISTAKES = [
    ("a misspelt keyword", _set(f"{SUBJECT}/maxLenght", 10), "/properties/subject", "'maxLenght' is not part"),
    ("a keyword outside the dialect", _set(f"{SUBJECT}/not", {"const": "x"}), "/properties/subject", "'not'"),
    ("oneOf", _set("properties/description/oneOf", [{"minLength": 2}]), "/properties/description", "'oneOf'"),
    ("an unknown format", _set(f"{SUBJECT}/format", "ipv4"), "/properties/subject/format", "is not one of"),
    ("an unknown rule", _set("x-rules/0/rule", "before-lunch"), "/x-rules/0/rule", "is not one of"),
    ("a rule without its field", lambda s: s["x-rules"][0].pop("field"), "/x-rules/0", "'field' is a required"),
    ("a rule with an extra member", _set("x-rules/0/date", "x"), "/x-rules/0", "'date'"),
    ("a rule on a text field", _set("x-rules/0/field", "subject"), "/x-rules/0", "cannot compare 'subject'"),
    ("a rule on no field", _set(f"x-rules/{PAIR}/other", "nothing"), f"/x-rules/{PAIR}", "'nothing' is not a field"),
    (
        "office hours without a zone",
        lambda s: s["x-rules"][OFFICE]["officeHours"].pop("timeZone"),
        f"/x-rules/{OFFICE}",
        "timeZone",
    ),
    ("a time zone that does not exist", _set("x-form/timeZone", "Europe/Bergen"), "/x-form/timeZone", "time zone"),
    ("x-upload without types", lambda s: s["properties"]["attachments"]["x-upload"].pop("types"), "x-upload", "types"),
    ("x-upload with a stray member", _set("properties/attachments/x-upload/virusScan", True), "x-upload", "virusScan"),
    ("an invalid pattern", _set(f"{SUBJECT}/pattern", "^(abc$"), f"/{SUBJECT}/pattern", "unbalanced"),
    ("a lookbehind", _set(f"{SUBJECT}/pattern", "(?<=a)b"), f"/{SUBJECT}/pattern", "lookbehind"),
    ("Python-only syntax", _set(f"{SUBJECT}/pattern", "(?P<x>a)"), f"/{SUBJECT}/pattern", "JavaScript"),
    ("a word boundary", _set(f"{SUBJECT}/pattern", "\\bx"), f"/{SUBJECT}/pattern", "word boundaries"),
    ("a Unicode property", _set(f"{SUBJECT}/pattern", "\\p{L}+"), f"/{SUBJECT}/pattern", "property escapes"),
    ("a lone brace", _set(f"{SUBJECT}/pattern", "a{,3}"), f"/{SUBJECT}/pattern", "quantifier"),
    ("a widget that cannot check a keyword", _set(f"{SUBJECT}/minimum", 3), "/properties/subject", "cannot check"),
    (
        "a widget for another type",
        _set("properties/description/x-widget", "number"),
        "/properties/description",
        "number",
    ),
    ("a $ref whose limit is loosened", _set(f"{SUBJECT}/maxLength", 900), "/properties/subject/maxLength", "tighten"),
    ("a $ref to nothing", _set(f"{SUBJECT}/$ref", "#/$defs/nothing"), "/properties/subject/$ref", "points at nothing"),
    (
        "a field name the page cannot use as an id",
        _set("properties/Bad Name", {"type": "string"}),
        "/properties",
        "Bad",
    ),
    ("a possessive quantifier", _set(f"{SUBJECT}/pattern", "^a++$"), f"/{SUBJECT}/pattern", "possessive"),
    ("an atomic group", _set(f"{SUBJECT}/pattern", "(?>ab)"), f"/{SUBJECT}/pattern", "atomic"),
    ("a minimum above the maximum", _set("properties/n", NUMBER | {"minimum": 9}), "/properties/n/minimum", "no"),
    ("an empty exclusive range", _set("properties/n", NUMBER | {"exclusiveMinimum": 3}), "/n/exclusiveMinimum", "no"),
    (
        "a range without a whole number",
        _set("properties/n", {"type": "integer", "exclusiveMinimum": 1, "exclusiveMaximum": 2}),
        "/properties/n/exclusiveMinimum",
        "no whole number",
    ),
    ("a minLength above the maxLength", _set(f"{SUBJECT}/minLength", 160), f"/{SUBJECT}/minLength", "above maxLength"),
    ("a minLength from a $ref above the maxLength", _set("$defs/line/minLength", 160), f"/{SUBJECT}/$ref", "150"),
    ("a minItems above the maxItems", _set("properties/cc/minItems", 6), "/properties/cc/minItems", "above maxItems"),
    (
        "more items than there are choices",
        _set(
            "properties/pick",
            {"type": "array", "items": {"type": "string", "enum": ["a"]}, "minItems": 2, "uniqueItems": True},
        ),
        "/properties/pick/minItems",
        "different values",
    ),
    ("a day that does not exist", _set(f"{PERIOD}/x-earliest", "2026-02-30"), f"/{PERIOD}/x-earliest", "real day"),
    ("a day in a $ref that does not exist", _set("$defs/date/x-latest", "2026-13-01"), f"/{PERIOD}/$ref", "real day"),
    ("a time that does not exist", _set(f"{SUPPORT}/x-latest", "2026-01-01T24:00"), f"/{SUPPORT}/x-latest", "time"),
    ("today as a time", _set("properties/t", TIME | {"x-earliest": "today"}), "/properties/t/x-earliest", "no time"),
    ("a time that is no time", _set("properties/t", TIME | {"x-latest": "25:00"}), "/properties/t/x-latest", "HH:MM"),
    (
        "the earliest day after the latest",
        lambda s: (
            _set(f"{PERIOD}/x-earliest", "2027-01-01")(s) or s["$defs"]["date"].update({"x-latest": "2026-12-31"})
        ),
        f"/{PERIOD}/x-earliest",
        "is after x-latest 2026-12-31",
    ),
]


# What each mistake needs of the shipped form, by the words of its name.
_NEEDS = {"rule": "a rule", "on no field": "a rule comparing two fields", "office hours": "office hours"}
_NEEDS |= {"a day": "a date field in a branch", "earliest day": "a date field in a branch"}
_NEEDS |= {"a time that does not exist": "a date-time field in a branch"}


def _mistake(name: str, change: Any, where: str, what: str) -> Any:
    """The mistake as a test case, skipped with the reason when schema/ no longer has what it needs."""
    missing = [need for words, need in _NEEDS.items() if words in name and _MISSING[need]]
    reason = f"schema/'s service-request form has no {missing[0]} any more" if missing else ""
    return pytest.param(change, where, what, id=name, marks=[pytest.mark.skip(reason=reason)] if missing else [])


@pytest.mark.parametrize(("change", "where", "what"), [_mistake(*m) for m in MISTAKES])
def test_every_schema_mistake_is_refused_with_file_and_place(
    tmp_path: Path, change: Any, where: str, what: str
) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.schema.json", change)
    problems = problems_of(root)
    assert any("service-request.schema.json" in p and where in p and what in p for p in problems), problems


def test_an_unknown_placeholder_in_an_error_text_is_refused(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.en.json", _set("fields/subject/errors/maxLength", "At most {maximum}"))
    assert any("/fields/subject/errors/maxLength: {maximum} has no value" in p for p in problems_of(root))


def test_the_compiled_catalog_loads_as_the_checked_one(catalog: Catalog, tmp_path: Path) -> None:
    from handler.schema.loader import COMPILED, compile_catalog

    (tmp_path / COMPILED).write_text(json.dumps(compile_catalog(catalog)), encoding="utf-8")
    compiled = load_catalog(tmp_path)
    assert compiled.languages == catalog.languages
    for form_id, form in catalog.forms.items():
        again = compiled.forms[form_id]
        assert again.fields == form.fields and again.rules == form.rules and again.schema_hash == form.schema_hash


def test_a_misspelt_text_key_is_refused(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.en.json", _set("fields/subject/hnit", "A short heading"))
    assert any("service-request.en.json: /fields/subject/hnit: not a text a field has" in p for p in problems_of(root))


def test_every_api_code_the_handler_answers_with_has_a_text_in_every_language(catalog: Catalog) -> None:
    from handler.codes import Code
    from handler.texts import API_CODES

    # A refusal names its problem by a member of Code (with its status), never by a bare string.
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (SCHEMA_DIR.parent / "handler").rglob("*.py"))
    assert not re.findall(r'\b(?:Refused|Problem)\(\s*["\']', sources)
    assert {code.value for code in Code} <= set(API_CODES)
    for language in catalog.languages:
        assert set(API_CODES) <= set(catalog.common[language]["api"])


def test_a_text_the_handler_uses_missing_in_one_language_is_refused_at_load(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    for language in load_catalog().languages:
        edit(root / f"common.{language}.json", lambda d: d["email"].pop("receiptIntro"))
    assert any("/email/receiptIntro: missing text (the handler uses it)" in p for p in problems_of(root))


def test_every_e_mail_text_the_code_reads_is_checked_at_load_as_a_text(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    languages = load_catalog().languages
    for language in languages:  # the status mail's "how to answer", once read but never checked
        edit(root / f"common.{language}.json", lambda d: d["email"].pop("statusReply"))
    edit(root / f"common.{languages[0]}.json", lambda d: d["email"].update(signature=["Regards"]))
    edit(root / f"common.{languages[0]}.json", lambda d: d["email"].update(statusNext={"resolved": 1}))
    problems = problems_of(root)
    assert any("/email/statusReply: missing text (the handler uses it)" in p for p in problems), problems
    assert any(f"common.{languages[0]}.json: /email/signature: not a text" in p for p in problems), problems
    assert any("/email/statusNext: not an object of texts" in p for p in problems), problems


def test_the_e_mail_texts_are_one_typed_view_of_each_language(catalog: Catalog) -> None:
    for language in catalog.languages:
        raw, typed = catalog.common[language]["email"], catalog.email(language)
        assert typed.reply_above == raw["replyAbove"] and typed.status_next == raw.get("statusNext", {})


# ---- Widgets: each site/widgets/<name>/widget.json against site/widgets/widget.schema.json -------

WIDGET_MISTAKES = [
    ("a macro no widget folder has", "macro", "slider", "/macro", "no slider/macro.html draws the widget"),
    ("a macro beside its own macro.html", "macro", "textarea", "/macro", "the folder has its own macro.html"),
    ("a value kind that does not exist", "value", "dial", "/value", "'dial' is not one of ['text', 'number',"),
    ("a keyword outside the dialect", "keywords", ["type", "maxLenght"], "/keywords/1", "'maxLenght' is not one of"),
    ("an item keyword outside the dialect", "itemKeywords", ["oneOf"], "/itemKeywords/0", "'oneOf' is not one of"),
    ("a misspelt member", "formatHnit", "date", "/", "'formatHnit' is not part of the dialect"),
    ("an accepts that is no JSON Schema", "accepts", {"type": "strin"}, "/accepts/type", "'strin'"),
    ("an attribute that is no value", "attributes", {"type": ["text"]}, "/attributes/type", "['text']"),
]


def copy_widgets(tmp_path: Path) -> Path:
    target = tmp_path / "widgets"
    shutil.copytree(WIDGETS_DIR, target)
    return target


@pytest.mark.parametrize(
    ("member", "value", "where", "what"), [m[1:] for m in WIDGET_MISTAKES], ids=[m[0] for m in WIDGET_MISTAKES]
)
def test_every_widget_mistake_is_refused_with_file_and_place(
    tmp_path: Path, member: str, value: Any, where: str, what: str
) -> None:
    folder = copy_widgets(tmp_path)
    edit(folder / "text" / "widget.json", lambda w: w.update({member: value}))
    problems = widget_file_problems(folder)
    assert any(f"{folder / 'text' / 'widget.json'}: {where}: " in p and what in p for p in problems), problems


def test_a_widget_without_its_value_kind_or_with_broken_json_is_refused(tmp_path: Path) -> None:
    folder = copy_widgets(tmp_path)
    edit(folder / "tel" / "widget.json", lambda w: w.pop("value"))
    (folder / "url" / "widget.json").write_text("{", encoding="utf-8")
    problems = widget_file_problems(folder)
    assert any("tel/widget.json: /: 'value' is a required property" in p for p in problems), problems
    assert any("url/widget.json: not valid JSON" in p for p in problems), problems


def test_the_catalog_is_not_loaded_with_a_broken_widget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import handler.schema.loader

    assert widget_file_problems() == []
    folder = copy_widgets(tmp_path)
    edit(folder / "number" / "widget.json", lambda w: w.update(value="dial"))
    monkeypatch.setattr(handler.schema.loader, "widget_file_problems", lambda: widget_file_problems(folder))
    assert any("number/widget.json: /value: 'dial' is not one of" in p for p in problems_of(SCHEMA_DIR))


def test_exactly_one_widget_draws_the_fields_no_widget_infers(tmp_path: Path) -> None:
    folder = copy_widgets(tmp_path)
    fallback = next(w.name for w in widgets(folder).values() if w.fallback)
    edit(folder / fallback / "widget.json", lambda w: w.pop("fallback"))
    assert any("exactly one widget.json says fallback: true (found: none)" in p for p in widget_file_problems(folder))


def test_the_widget_schema_names_the_value_kinds_the_page_reads() -> None:
    schema = json.loads((WIDGETS_DIR / "widget.schema.json").read_text(encoding="utf-8"))
    form_js = (ROOT / "site" / "static" / "form.js").read_text(encoding="utf-8")
    read = set(re.findall(r'field\.value === "([a-z]+)"', form_js)) | {"text"}  # text: the default
    assert set(schema["properties"]["value"]["enum"]) == read


@pytest.mark.parametrize("name", ["hidden", "action", "submit"])
def test_a_field_named_as_a_member_of_the_page_form_is_refused(tmp_path: Path, name: str) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.schema.json", lambda d: d["properties"].update({name: {"type": "string"}}))
    for language in load_catalog().languages:
        edit(root / "forms" / f"service-request.{language}.json", lambda d: d["fields"].update({name: {"label": name}}))
    problems = problems_of(root)
    assert any(
        f"field {name!r}: the name would hide the page form's own {name!r}; choose another" in p for p in problems
    )


def test_the_form_page_reads_no_member_of_its_form_that_a_field_may_hide() -> None:
    script = (ROOT / "site" / "static" / "form.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bform\.([a-z]+)\b", script))
    assert "hidden" in used and used <= FORM_MEMBERS


def test_a_compared_field_without_texts_is_reported_not_a_crash(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    schema = json.loads((root / "forms" / "service-request.schema.json").read_text(encoding="utf-8"))
    rule = next((r for r in schema.get("x-rules", []) if "other" in r), None)
    if rule is None:
        pytest.skip("schema/'s service-request form has no rule comparing two fields any more")
    for language in load_catalog().languages:
        edit(root / "forms" / f"service-request.{language}.json", lambda d: d["fields"].pop(rule["other"]))
    assert any(f"/fields/{rule['other']}/label: missing text" in p for p in problems_of(root))
