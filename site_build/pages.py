"""Every page of the site: its path under the output folder, its template and its context."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from handler.addresses import EMAIL_PATTERN
from handler.schema.catalog import Catalog
from handler.schema.model import Form
from site_build import BuildError
from site_build.fields import field_params, page_fields, sign_in_fields
from site_build.models import conversation_model, form_model, page_model, reply_files, summary_model

LANDING = "landing.js"

Page = tuple[str, dict[str, Any]]  # its template and context


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


def pages(
    catalog: Catalog, api_url: str, upload_origin: str = "", desk_email: str = "", site_url: str = ""
) -> dict[str, Page]:
    """Every page to write: its path under the output folder, template and context."""
    base = api_base(api_url)
    csp = content_security_policy(base, api_base(upload_origin))
    result: dict[str, Page] = {}
    languages = [{"code": lang, "name": catalog.common[lang]["languageName"]} for lang in catalog.languages]
    for lang in catalog.languages:
        shared = {
            "lang": lang,
            "root": "../../",
            "languages": languages,
            "common": catalog.common[lang],
            "csp": csp,
            "deskEmail": desk_email,
            "siteUrl": site_url.rstrip("/"),
        }
        for form in catalog.forms.values():
            result[f"{lang}/{form.id}/index.html"] = form_page(catalog, form, lang, base, shared)
        result[f"{lang}/sign-in/index.html"] = sign_in_page(catalog, lang, base, shared)
        result[f"{lang}/my-requests/index.html"] = my_requests_page(catalog, lang, base, shared)
        result[f"{lang}/stop-emails/index.html"] = stop_emails_page(catalog, lang, base, shared)
    result["index.html"] = landing_page(catalog, languages, csp)
    return result


def form_page(catalog: Catalog, form: Form, lang: str, base: str, shared: dict[str, Any]) -> Page:
    """A form's page in one language: its fields drawn, and its checker's model."""
    return (
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


def sign_in_page(catalog: Catalog, lang: str, base: str, shared: dict[str, Any]) -> Page:
    """The sign-in page in one language: its two fields, and the pages it may lead back to."""
    return (
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


def my_requests_page(catalog: Catalog, lang: str, base: str, shared: dict[str, Any]) -> Page:
    """The "My requests" page in one language: every form's labels, the conversation's rules, the reply files."""
    files = reply_files(catalog, lang)
    return (
        "my-requests.html",
        shared
        | {
            "page": "my-requests/",
            "script": "my-requests.js",
            "forms": [{"id": f.id, "title": f.texts[lang]["title"]} for f in catalog.forms.values()],
            "replyFiles": files,
            "model": page_model(catalog, lang, base, "my-requests")
            | {
                "forms": summary_model(catalog, lang),
                "conversation": conversation_model(catalog),
                "files": {f["form"]: {**f["model"], "slotField": f["field"]} for f in files},
            },
        },
    )


def stop_emails_page(catalog: Catalog, lang: str, base: str, shared: dict[str, Any]) -> Page:
    """The page that stops e-mails, in one language."""
    return (
        "stop-emails.html",
        shared
        | {
            "page": "stop-emails/",
            "script": "stop-emails.js",
            "model": page_model(catalog, lang, base, "stop-emails"),
        },
    )


def landing_page(catalog: Catalog, languages: list[dict[str, Any]], csp: str) -> Page:
    """The site's root: every form's title in every language, and the aliases that pick a language."""
    return (
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
