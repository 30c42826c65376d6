"""Builds the static form site from schema/ into dist/site: one page per form and language."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from markupsafe import Markup

from handler.addresses import EMAIL_PATTERN
from handler.dialect import KEYWORDS, widgets
from handler.rules import Rule
from handler.schema.loader import SCHEMA_DIR, SchemaProblem, load_catalog
from handler.schema.model import Catalog, Field, Form, Path_
from handler.schema.values import option_key
from handler.texts import fill
from handler.uploads import PENDING_TRUSTED, Limits
from handler.usecases.attaching import attachments_field
from site_assets import AssetError, bundle, compress_all, lacking, only, used_texts, weights

ROOT = Path(__file__).resolve().parent
TEMPLATES = ROOT / "site" / "templates"
STATIC = ROOT / "site" / "static"
OUT = ROOT / "dist" / "site"
LANDING = "landing.js"


class BuildError(Exception):
    """The site cannot be built; the message says what and where."""


def page_fields(form: Form) -> list[Field]:
    """The fields the page renders: all of them."""
    return list(form.fields)


def control_attributes(field: Field, required: bool) -> dict[str, Any]:
    """HTML constraint attributes from the widget and the field's schema, so the browser knows the same limits."""
    widget = widgets()[field.widget]
    attributes: dict[str, Any] = dict(widget.attributes)
    if required:
        attributes["required"] = True
    typed = attributes.get("type") == "text"  # numbers, dates and times too: typed as the language writes
    for keyword in KEYWORDS:
        value = field.schema.get(keyword.name)
        if typed and keyword.attribute in ("min", "max", "step"):
            continue  # min, max and step mean nothing to a text input; the page's checker applies them
        if keyword.attribute and keyword.name in widget.keywords and value not in (None, "today", "now"):
            attributes[keyword.attribute] = value
    if field.widget == "number":
        attributes["inputmode"] = "numeric" if field.schema.get("type") == "integer" else "decimal"
    if field.widget == "attachments":
        limits = Limits.of(field)
        attributes["accept"] = ",".join([*limits.types, *(e for exts in limits.types.values() for e in exts)])
    return attributes


def format_hint(field: Field, common: Mapping[str, Any]) -> str | None:
    """The example of what to type that the field's widget names (widget.json: formatHint), in the page's language."""
    raw = json.loads((widgets()[field.widget].folder / "widget.json").read_text(encoding="utf-8"))
    key = raw.get("formatHint")
    if key is None:
        return None
    if key not in common.get("formatHints", {}):
        raise BuildError(f"formatHints/{key}: missing text for the {field.widget} widget ({common['languageName']})")
    return str(common["formatHints"][key])


def conditions(paths: tuple[Path_, ...]) -> list[list[list[Any]]]:
    """When a field is shown or required, as the page reads it: per branch, its tests, each
    ``[field, value]`` or ``[field, value, "contains"]`` (a list of choices that holds the value)."""
    return [[c.as_json() for c in path] for path in paths]


def field_params(form: Form, field: Field, language: str) -> dict[str, Any]:
    """The parameters one component macro needs for ``field`` in ``language``."""
    texts = form.texts[language]["fields"][field.name]
    common = form.common[language]
    required = bool(field.required_when)
    label = texts["label"] if required else f"{texts['label']} {common['optional']}"
    items = [
        {
            "value": option_key(option),
            "text": form.option_label(language, field.name, option),
            "id": field.name if i == 0 else f"{field.name}-{i + 1}",
        }
        for i, option in enumerate(field.options)
    ]
    limit = field.schema.get("maxLength") if field.widget in ("text", "textarea") else None
    return {
        "id": field.name,
        "name": field.name,
        "widget": field.widget,
        "component": widgets()[field.widget].component,
        "label": label,
        "hint": form.hint(language, field.name),
        "formatHint": format_hint(field, common),
        "hintId": f"{field.name}-hint",
        "errorId": f"{field.name}-error",
        "errorPrefix": common["errorPrefix"],
        "chooseOption": common["chooseOption"],
        "items": items,
        "count": {"limit": limit, "text": fill(common["characterCount"]["limit"], {"count": str(limit)})}
        if limit
        else None,
        "attributes": control_attributes(field, required and field.required_when == field.shown_when)
        | {"disabled": not field.always_shown},
        "hidden": not field.always_shown,
    }


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
            "widget": field.widget,
            "value": field.value_kind,
            "label": label,
            "shownWhen": conditions(field.shown_when),
            "requiredWhen": conditions(field.required_when),
            "schema": field.constraints(),
            "messages": messages,
        }
        | ({"items": items} if (items := field.item_constraints()) else {})
        | ({"categoryHints": hints, "hint": form.hint(language, field.name)} if hints else {})
        | _upload_model(field)
    )


def _upload_model(field: Field) -> dict[str, Any]:
    if field.widget != "attachments":
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
                    "widget": f.widget,
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


def sign_in_fields(catalog: Catalog, language: str) -> dict[str, dict[str, Any]]:
    """The sign-in page's two fields, drawn with the same components as a form's fields."""
    common = catalog.common[language]
    texts = common["signIn"]
    base = {
        "widget": "text",
        "component": "input",
        "count": None,
        "formatHint": None,
        "errorPrefix": common["errorPrefix"],
        "items": [],
        "hidden": False,
    }
    return {
        name: base
        | {
            "id": name,
            "name": name,
            "label": texts[f"{name}Label"],
            "hint": texts[f"{name}Hint"],
            "hintId": f"{name}-hint",
            "errorId": f"{name}-error",
            "chooseOption": "",
            "attributes": attributes,
        }
        for name, attributes in (
            (
                "email",
                {"type": "email", "autocomplete": "email", "required": True, "maxlength": 254, "spellcheck": "false"},
            ),
            (
                "code",
                {
                    "type": "text",
                    "inputmode": "numeric",
                    "autocomplete": "one-time-code",
                    "required": True,
                    "maxlength": 6,
                },
            ),
        )
    }


def api_base(api_url: str) -> str:
    """The API's base address for ``--api-url`` such as ``https://api.example.com/prod`` ("" = same origin)."""
    if not api_url:
        return ""
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BuildError(f"--api-url must be an http(s) address without query or fragment, got {api_url!r}")
    return api_url.rstrip("/")


def content_security_policy(api: str, upload_origin: str = "") -> str:
    """Scripts and styles from the site only, images from it or the page itself (its icon); calls to the site,
    the API and the upload bucket."""
    origins = ["'self'", *("{0.scheme}://{0.netloc}".format(urlsplit(u)) for u in (api, upload_origin) if u)]
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {' '.join(origins)}; base-uri 'none'; form-action 'none'"
    )


def svg_data_uri(svg: str) -> Markup:
    """An SVG image as a ``data:`` address, ready for an HTML attribute: its attribute values in single quotes, and
    percent-encoded only what a URL may not hold (so nothing an attribute would need escaped remains)."""
    text = " ".join(svg.replace('"', "'").split())
    return Markup("data:image/svg+xml," + quote(text, safe="!$'()*+,-./:;=?@_~"))


def environment(templates: Path = TEMPLATES) -> Environment:
    """Jinja with autoescaping and strict undefined variables, so a missing text fails the build."""
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Page models as compact as JSON allows, their texts as written (so they repeat what the markup says).
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}
    return env


def pages(
    catalog: Catalog, api_url: str, upload_origin: str = "", desk_email: str = "", site_url: str = ""
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every page to write: its path under the output folder, template and context."""
    base = api_base(api_url)
    csp = content_security_policy(base, api_base(upload_origin))
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    languages = [{"code": lang, "name": catalog.common[lang]["languageName"]} for lang in catalog.languages]
    for lang in catalog.languages:
        common = catalog.common[lang]
        shared = {
            "lang": lang,
            "root": "../../",
            "languages": languages,
            "common": common,
            "csp": csp,
            "deskEmail": desk_email,
            "siteUrl": site_url.rstrip("/"),
        }
        for form in catalog.forms.values():
            result[f"{lang}/{form.id}/index.html"] = (
                "form.html",
                shared
                | {
                    "page": f"{form.id}/",
                    "script": "form.js",
                    "texts": form.texts[lang],
                    "fields": [field_params(form, f, lang) for f in page_fields(form)],
                    "model": page_model(catalog, lang, base, "form") | form_model(form, lang),
                    "form": form,
                },
            )
        result[f"{lang}/sign-in/index.html"] = (
            "sign-in.html",
            shared
            | {
                "page": "sign-in/",
                "script": "signin.js",
                "model": page_model(catalog, lang, base, "sign-in")
                | {"pages": [*catalog.forms, "my-requests"], "emailPattern": EMAIL_PATTERN},
            }
            | sign_in_fields(catalog, lang),
        )
        result[f"{lang}/my-requests/index.html"] = (
            "my-requests.html",
            shared
            | {
                "page": "my-requests/",
                "script": "my-requests.js",
                "forms": [{"id": f.id, "title": f.texts[lang]["title"]} for f in catalog.forms.values()],
                "replyFiles": (files := reply_files(catalog, lang)),
                "model": page_model(catalog, lang, base, "my-requests")
                | {
                    "forms": summary_model(catalog, lang),
                    "conversation": conversation_model(catalog),
                    "files": {f["form"]: {**f["model"], "slotField": f["field"]} for f in files},
                },
            },
        )
        result[f"{lang}/stop-emails/index.html"] = (
            "stop-emails.html",
            shared
            | {
                "page": "stop-emails/",
                "script": "stop-emails.js",
                "model": page_model(catalog, lang, base, "stop-emails"),
            },
        )
    result["index.html"] = (
        "landing.html",
        {
            "lang": catalog.default_language,
            "root": "",
            "script": LANDING,
            "csp": csp,
            "languages": languages,
            "common": catalog.common,
            "forms": [
                {"id": f.id, "titles": {lang: f.texts[lang]["title"] for lang in catalog.languages}}
                for f in catalog.forms.values()
            ],
            "aliases": dict(catalog.language_aliases),
        },
    )
    return result


def build(
    out: Path = OUT,
    api_url: str = "",
    schema_dir: Path = SCHEMA_DIR,
    extra_forms: tuple[Path, ...] = (),
    templates: Path = TEMPLATES,
    upload_origin: str = "",
    desk_email: str = "",
    site_url: str = "",
) -> list[Path]:
    """Build the whole site into ``out`` (replaced as a whole) and return the files written."""
    try:
        catalog = load_catalog(schema_dir, extra_forms)
    except SchemaProblem as exc:
        raise BuildError("the schema has problems:\n  " + "\n  ".join(exc.problems)) from exc
    env = environment(templates)
    staging = Path(tempfile.mkdtemp(prefix=".site-", dir=out.parent if out.parent.exists() else None))
    try:
        written = pages(catalog, api_url, upload_origin, desk_email, site_url)
        scripts = sorted({context["script"] for _, context in written.values() if "script" in context})
        try:
            env.globals["assets"] = bundle(STATIC, staging, scripts)
        except AssetError as exc:
            raise BuildError(str(exc)) from exc
        env.globals["icon"] = svg_data_uri((STATIC / "favicon.svg").read_text(encoding="utf-8"))
        for relative, (template, context) in written.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_render(env, templates, template, context), encoding="utf-8")
        compress_all(staging)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(p for p in out.rglob("*") if p.is_file())


def _render(env: Environment, templates: Path, template: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(template).render(context)
    except TemplateError as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(templates))]
        where = f"{Path(frames[-1].filename).relative_to(templates)}:{frames[-1].lineno}" if frames else template
        raise BuildError(f"{where}: {exc.message or exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """Command line: build once, or keep rebuilding with --watch."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", default="", help="base address of the API (default: the site's own origin)")
    parser.add_argument(
        "--upload-origin", default="", help="origin of the bucket files are uploaded to (the stack's UploadOrigin)"
    )
    parser.add_argument(
        "--desk-email",
        default=os.environ.get("SDF_DESK_INBOX", ""),
        help="the service desk's address, offered where a page needs JavaScript (default: SDF_DESK_INBOX)",
    )
    parser.add_argument(
        "--site-url",
        default=os.environ.get("SDF_SITE_URL", ""),
        help="the site's public address, for absolute language links (default: SDF_SITE_URL)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: dist/site)")
    parser.add_argument("--schema", type=Path, default=SCHEMA_DIR, help="schema folder (default: schema/)")
    parser.add_argument("--watch", action="store_true", help="rebuild whenever the schema, templates or assets change")
    args = parser.parse_args(argv)

    def once() -> bool:
        try:
            written = build(
                args.out,
                args.api_url,
                args.schema,
                upload_origin=args.upload_origin,
                desk_email=args.desk_email,
                site_url=args.site_url,
            )
        except BuildError as exc:
            print(f"build.py: error: {exc}", file=sys.stderr)
            return False
        print(f"built {len(written)} files into {args.out}")
        for page, cost in weights(args.out).items():
            print(f"  {page}: {cost.gzip_bytes / 1024:.1f} KB gzip in {cost.requests} requests")
        return True

    ok = once()
    if not args.watch:
        return 0 if ok else 1
    from watchfiles import watch

    print("watching schema/ and site/ for changes (Ctrl+C to stop)")
    try:
        for _ in watch(args.schema, TEMPLATES, STATIC):
            once()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
