"""What each page's script reads: the form's fields, rules and messages for its checker, the texts its code asks
for, and the labels and rules of "My requests"."""

from __future__ import annotations

from typing import Any

from handler.rules import Rule
from handler.schema.catalog import Catalog
from handler.schema.model import Field, Form, Path_
from handler.schema.values import option_key
from handler.texts import fill
from handler.uploads import PENDING_TRUSTED, Limits
from handler.usecases.attaching import attachments_field
from site_assets import AssetError, lacking, only, used_texts
from site_build import STATIC, BuildError
from site_build.fields import field_params, page_fields


def conditions(paths: tuple[Path_, ...]) -> list[list[list[Any]]]:
    """When a field is shown or required, as the page reads it: per branch, its tests, each
    ``[field, value]`` or ``[field, value, "contains"]`` (a list of choices that holds the value)."""
    return [[c.as_json() for c in path] for path in paths]


# What only the server can find out about an attachment (no such upload, or not what its name says): its answer
# words the problem, so the page needs no text for it.
SERVER_ONLY = frozenset({"x-upload", "x-upload-content"})


def form_model(form: Form, language: str) -> dict[str, Any]:
    """What the form page's checker needs: per field its constraints and messages, and the rules. A message that
    is the language's text for its keyword with the field's label filled in is sent once, as that text, in
    ``messages``; the page fills in the label as the server does (site/static/texts.js: fieldMessage)."""
    worded: dict[str, str] = {}
    fields = [field_model(form, field, language, worded) for field in page_fields(form)]
    unknown = "unevaluatedProperties"  # a member that is no field of the form is named by its name
    return {
        "form": form.id,
        "discriminator": form.discriminator,
        "timeZone": form.time_zone,
        "allowedContactTypes": list(form.allowed_contact_types),
        "notAuthorized": fill(form.common[language]["api"]["not_authorized"], form.not_authorized(language)),
        "fields": fields,
        "messages": worded | {unknown: form.message_template(language, None, unknown)},
        "rules": [rule_model(rule) for rule in form.rules],
    }


def rule_model(rule: Rule) -> dict[str, Any]:
    """One cross-field rule as the page's checker reads it: its members that are set, and the days the office is
    closed by year (``{"2027": ["01-01", "03-25", ...]}``), each year written once."""
    found = {key: value for key, value in rule.as_json().items() if value is not None}
    if "officeHours" in found:
        closed: dict[str, list[str]] = {}
        for day in found["officeHours"]["closed"]:
            closed.setdefault(day[:4], []).append(day[5:])
        found["officeHours"] = found["officeHours"] | {"closed": closed}
    return found


def field_model(form: Form, field: Field, language: str, worded: dict[str, str] | None = None) -> dict[str, Any]:
    """One field as the page's checker reads it. With ``worded``, each message that the language's text for its
    keyword gives, filled with the field's label, is left out and that text is put in ``worded`` instead."""
    texts = form.texts[language]["fields"][field.name]
    label = str(texts["label"])
    keywords = field.keywords() | {r.keyword for r in form.rules if r.field == field.name}
    if not field.always_shown:
        keywords.add("unevaluatedProperties")
    messages = {}
    for keyword in sorted(keywords - SERVER_ONLY):
        message = form.static_message(language, field.name, keyword)
        template = form.message_template(language, None, keyword)
        if worded is not None and fill(template, {"label": label}) == message:
            worded[keyword] = template
        else:
            messages[keyword] = message
    hints = texts.get("categoryHints")
    return (
        {
            "name": field.name,
            "value": field.value_kind,
            "label": label,
            "shownWhen": conditions(field.shown_when),
            "requiredWhen": conditions(field.required_when),
            "schema": field.constraints(),
            "messages": messages,
        }
        | ({"moment": field.moment} if field.moment else {})
        | ({"items": items} if (items := field.item_constraints()) else {})
        | ({"categoryHints": hints, "hint": form.hint(language, field.name)} if hints else {})
        | _upload_model(field)
    )


def _upload_model(field: Field) -> dict[str, Any]:
    if field.value_kind != "uploads":
        return {}
    limits = Limits.of(field)
    keep_ms = int(PENDING_TRUSTED.total_seconds() * 1000)
    return {
        "upload": {
            "maxBytes": limits.max_bytes,
            "limitText": limits.human_size(),
            "types": dict(limits.types),
            "keepMs": keep_ms,
        }
    }


# The sections of schema/common.<lang>.json each page's script reads (site/static/texts.js: USED).
PAGE_TEXTS = {
    "common": ("account", "api", "errorPrefix", "errorSummaryTitle", "problemTitle", "sessionEnding"),
    "form": ("characterCount", "decimalMark", "draft", "groupMark", "networkError", "receipt", "sending", "upload"),
    "sign-in": ("networkError", "sending", "signIn"),
    "my-requests": ("conversation", "myRequests", "networkError", "sending", "statuses", "upload"),
    "stop-emails": ("networkError", "sending", "stopEmails"),
}


def page_model(catalog: Catalog, language: str, api_base: str, page: str) -> dict[str, Any]:
    """What every page's script needs: the API, the language and the texts its code asks for, shaped as in schema/."""
    common = catalog.common[language]
    keys = (*PAGE_TEXTS["common"], *PAGE_TEXTS[page])
    if missing := [key for key in keys if key not in common]:
        raise BuildError(f"common.{language}.json: the {page} page needs {', '.join(missing)}")
    try:
        used = used_texts(STATIC / "texts.js")  # only the texts the page's code asks for go on the page
    except AssetError as exc:
        raise BuildError(str(exc)) from exc
    asked = [*used["common"], *used[page]]
    if absent := lacking(common, asked):
        raise BuildError(f"common.{language}.json: the {page} page's code asks for {', '.join(absent)}")
    return {
        "apiBase": api_base,
        "page": page,
        "language": language,
        "locale": common["locale"],
        "texts": only({key: common[key] for key in keys}, asked),
    }


def summary_model(catalog: Catalog, language: str) -> dict[str, Any]:
    """Labels "My requests" needs to show any form's requests: titles, categories, fields and choices."""
    return {
        form.id: {
            "title": form.texts[language]["title"],
            "categories": {c: form.option_label(language, form.discriminator, c) for c in form.categories},
            "order": [f.name for f in form.fields],  # the page model's keys are sorted when embedded
            "fields": {
                f.name: {
                    "label": form.label(language, f.name),
                    **({"moment": f.moment} if f.moment else {}),
                    **({"value": f.value_kind} if f.value_kind == "uploads" else {}),  # shown by the files' names
                    "options": {option_key(o): form.option_label(language, f.name, o) for o in f.options},
                }
                for f in form.fields
            },
        }
        for form in catalog.forms.values()
    }


def reply_files(catalog: Catalog, language: str) -> list[dict[str, Any]]:
    """Per form that takes files, its attachments field as the reply box draws it and its script checks it:
    named ``files-<form>`` on the page, its slots asked for the form's own field."""
    found = []
    for form in catalog.forms.values():
        field = attachments_field(form)
        if field is None:
            continue
        name = f"files-{form.id}"
        params = field_params(form, field, language)
        params |= {"id": name, "name": name, "hintId": f"{name}-hint", "errorId": f"{name}-error", "hidden": True}
        params["attributes"] = {**params["attributes"], "disabled": False, "required": False}
        checks = field_model(form, field, language)  # every message in full: the reply box has no shared texts
        found.append({"form": form.id, "field": field.name, "params": params, "model": checks | {"name": name}})
    return found


def conversation_model(catalog: Catalog) -> dict[str, Any]:
    """What the reply box needs to know of ``schema/site.json``: in which statuses a request is closed, and whether
    an answer reopens it."""
    rules = catalog.conversation
    return {"closed": sorted(rules.closed), "reopenAs": rules.reopen_as}
