"""An operator's edit of schema/ alone: a third language and a new service with a whole number, a
several-of-several choice and a date range. The build, the API and the page follow with no code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import build
from handler.schema.loader import SCHEMA_DIR, load_catalog
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, open_session, register
from tests.helpers.browser import CHROMIUM_ARGS, chromium_path, fill, hold_session, local_server
from tests.helpers.forms import EVERY_KEYWORD_FORM

SHIPPED = load_catalog()
# A language and a service schema/ does not have yet, so the test works whatever an operator added.
NEW_LANGUAGE = next(code for code in ("nn", "sv", "da", "de", "fi") if code not in SHIPPED.languages)
NEW_SERVICE = next(
    name for name in ("training", "training-2", "training-3") if name not in SHIPPED.forms["service-request"].categories
)
_NAMES = ("participants", "topics", "course_from", "course_to")
_SHIPPED_FIELDS = {f.name for f in SHIPPED.forms["service-request"].fields}
_SUFFIX = next(s for s in ("", "_2", "_3") if not {f"{n}{s}" for n in _NAMES} & _SHIPPED_FIELDS)
# The new service's field names, none of which schema/ has yet.
N = {name: f"{name}{_SUFFIX}" for name in _NAMES}
TRAINING = {
    "required": [N["participants"], N["topics"], N["course_from"], N["course_to"]],
    "properties": {
        N["participants"]: {"type": "integer", "minimum": 1, "maximum": 500},
        N["topics"]: {
            "type": "array",
            "items": {"type": "string", "enum": ["basics", "reports", "integrations"]},
            "minItems": 1,
            "uniqueItems": True,
        },
        N["course_from"]: {"$ref": "#/$defs/date"},
        N["course_to"]: {"$ref": "#/$defs/date"},
    },
}
TEXTS = {
    N["participants"]: {"label": "Antall deltakere", "hint": "Fra {minimum} til {maximum}."},
    N["topics"]: {
        "label": "Hvilke emner?",
        "options": {"basics": "Grunnkurs", "reports": "Rapporter", "integrations": "Integrasjoner"},
    },
    N["course_from"]: {"label": "Kurset starter"},
    N["course_to"]: {"label": "Kurset slutter"},
}


def rewrite(path: Path, change: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")


def add_language_and_service(root: Path) -> None:
    """What an operator would type: a copy of nb as a new language, and a new service in every language."""
    shutil.copy(root / "common.nb.json", root / f"common.{NEW_LANGUAGE}.json")
    rewrite(root / f"common.{NEW_LANGUAGE}.json", lambda d: d.update(languageName="Nynorsk"))
    rewrite(
        root / "site.json",
        lambda d: (d["languages"].append(NEW_LANGUAGE), d["languageAliases"].pop(NEW_LANGUAGE, None)),
    )
    forms = root / "forms"
    shutil.copy(forms / "service-request.nb.json", forms / f"service-request.{NEW_LANGUAGE}.json")

    def add_branch(schema: dict[str, Any]) -> None:
        schema["properties"]["service"]["enum"].append(NEW_SERVICE)
        schema["allOf"].append(
            {"if": {"properties": {"service": {"const": NEW_SERVICE}}, "required": ["service"]}, "then": TRAINING}
        )
        schema["x-rules"].append({"rule": "not-before", "field": N["course_to"], "other": N["course_from"]})

    rewrite(forms / "service-request.schema.json", add_branch)
    for language in (*SHIPPED.languages, NEW_LANGUAGE):

        def add_texts(texts: dict[str, Any]) -> None:
            texts["fields"]["service"]["options"][NEW_SERVICE] = "Bestill opplæring"
            texts["fields"]["description"]["categoryHints"][NEW_SERVICE] = "Fortell hva dere vil lære."
            texts["fields"].update(TEXTS)

        rewrite(forms / f"service-request.{language}.json", add_texts)


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edited") / "schema"
    shutil.copytree(SCHEMA_DIR, root)
    add_language_and_service(root)
    return root


def test_the_edited_schema_builds_a_page_per_language(edited: Path, tmp_path: Path) -> None:
    catalog = load_catalog(edited)
    assert catalog.languages[-1] == NEW_LANGUAGE and NEW_SERVICE in catalog.forms["service-request"].categories
    written = build.build(tmp_path / "site", schema_dir=edited)
    assert tmp_path / "site" / NEW_LANGUAGE / "service-request" / "index.html" in written
    page = (tmp_path / "site" / NEW_LANGUAGE / "service-request" / "index.html").read_text(encoding="utf-8")
    assert 'lang="nn"' in page and f'id="{N["participants"]}"' in page and 'type="checkbox"' in page
    # A whole number is a text box read as the language writes numbers; the page's checker holds its limits.
    assert 'inputmode="numeric"' in page and "Skriv et tall fra 1 til 500" in page


@pytest.fixture
def server(edited: Path, tmp_path: Path) -> Iterator[tuple[str, LocalStore]]:
    site = tmp_path / "site"
    build.build(site, schema_dir=edited)
    store = LocalStore(tmp_path / "data")
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with local_server(site, tmp_path / "data", {"SDF_SCHEMA_DIR": str(edited)}) as address:
        yield address, store


def sign_in(address: str, store: LocalStore) -> dict[str, Any]:
    with httpx.Client(base_url=address) as api:
        return open_session(api, store.folder / "outbox", AUTHORIZED)


def test_the_api_takes_the_new_service_in_the_new_language(server: tuple[str, LocalStore]) -> None:
    address, store = server
    token = sign_in(address, store)["token"]
    soon = (date.today() + timedelta(days=20)).isoformat()
    data = {
        "service": NEW_SERVICE,
        "subject": "Kurs",
        "description": "For hele avdelingen.",
        N["participants"]: 0,
        N["topics"]: ["reports"],
        N["course_from"]: soon,
        N["course_to"]: soon,
    }
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": NEW_LANGUAGE}
    with httpx.Client(base_url=address, headers=headers) as api:
        refused = api.post("/v1/requests", json={"form": "service-request", "data": data})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["detail"] == "Skriv et tall fra 1 til 500 i «Antall deltakere»"
        accepted = api.post("/v1/requests", json={"form": "service-request", "data": {**data, N["participants"]: 12}})
        assert accepted.status_code == 201, accepted.text


@pytest.mark.browser
def test_a_person_sends_the_new_service_from_the_page_in_the_new_language(server: tuple[str, LocalStore]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by 'make test'")
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is missing; 'make test' installs it")
    address, store = server
    session = sign_in(address, store)
    start = (date.today() + timedelta(days=20)).isoformat()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="nn-NO")
        hold_session(context, session)
        page = context.new_page()
        page.goto(f"{address}/{NEW_LANGUAGE}/service-request/")
        page.check(f"input[name=service][value={NEW_SERVICE}]")
        page.fill(f"#{N['participants']}", "501")
        page.check(f"input[name={N['topics']}][value=reports]")
        page.check(f"input[name={N['topics']}][value=integrations]")
        page.fill(f"#{N['course_from']}", start)
        page.fill(f"#{N['course_to']}", start)
        page.get_by_label("Emne").fill("Kurs for avdelingen")
        page.get_by_label("Beskrivelse").fill("Vi ønsker et kurs.")
        page.get_by_role("button", name="Send forespørsel").click()
        summary = page.locator("#error-summary")
        summary.wait_for(state="visible")
        assert summary.get_by_role("link").all_text_contents() == ["Skriv et tall fra 1 til 500 i «Antall deltakere»"]
        page.fill(f"#{N['participants']}", "12")
        page.get_by_role("button", name="Send forespørsel").click()
        page.locator("#receipt-reference").wait_for(state="visible")
        reference = page.locator("#receipt-reference").text_content()
        browser.close()
    stored = [s for s in (store.requests.get(request_id) for request_id in store.requests.document_ids()) if s]
    (request,) = [s for s in stored if s.receipt.reference == reference]
    assert request.language == NEW_LANGUAGE
    assert request.data[N["participants"]] == 12 and request.data[N["topics"]] == ["reports", "integrations"]
    assert request.data[N["course_from"]] == request.data[N["course_to"]] == start


# One valid value per field of the test-only form, by branch, as the page must send them.
EVERY_WIDGET: dict[str, dict[str, Any]] = {
    "numbers": {"participants": 12, "budget": 99.5, "level": -2, "share": 0.25},
    "choices": {
        "consent": True,
        "newsletter": True,  # shows the branch with "topic"
        "topic": "Utgivelser",
        "channels": ["phone", "chat"],  # holds "phone": shows the branch with "call_at"
        "call_at": "09:30",
        "size": "m",
        "rating": 5,  # choices that are numbers, sent as numbers
        "stars": 2.5,
    },
    "moments": {"at": "09:30", "ends": "2099-03-14T02:00"},
    "texts": {
        "website": "https://example.no/status",
        "contact": "kari@example.no",
        "copies": ["a@example.no", "b@example.no"],
        "phone": "+47 912 34 567",
        "code": "1234",
        "notes": "Første linje\nAndre linje",
    },
}


@pytest.fixture(scope="module")
def with_every_keyword(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """schema/ with the test-only form that uses every keyword, widget and rule of the dialect."""
    root = tmp_path_factory.mktemp("every") / "schema"
    shutil.copytree(SCHEMA_DIR, root)
    for path in EVERY_KEYWORD_FORM.parent.glob("every-keyword.*"):
        shutil.copy(path, root / "forms" / path.name)
    rewrite(root / "site.json", lambda d: d["forms"].append("every-keyword"))
    return root


@pytest.mark.browser
@pytest.mark.parametrize("kind", sorted(EVERY_WIDGET))
def test_every_widget_is_sent_from_the_page_as_its_json_type(
    with_every_keyword: Path, tmp_path: Path, kind: str
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by 'make test'")
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is missing; 'make test' installs it")
    site = tmp_path / "site"
    build.build(site, schema_dir=with_every_keyword)
    store = LocalStore(tmp_path / "data")
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    today = date.today()
    data: dict[str, Any] = {"kind": kind, "title": f"Alt om {kind}", **EVERY_WIDGET[kind]}
    if kind == "moments":
        data |= {"from": (today + timedelta(days=3)).isoformat(), "to": (today + timedelta(days=9)).isoformat()}
        data["starts"] = f"{(today + timedelta(days=40)).isoformat()}T22:00"
        data["ends"] = f"{(today + timedelta(days=41)).isoformat()}T02:00"
    with local_server(site, tmp_path / "data", {"SDF_SCHEMA_DIR": str(with_every_keyword)}) as address:
        session = sign_in(address, store)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            context = browser.new_context(locale="nb-NO")
            hold_session(context, session)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{address}/nb/every-keyword/")
            fill(page, data)
            page.get_by_role("button", name="Send").click()
            page.locator("#receipt-reference").wait_for(state="visible")
            reference = page.locator("#receipt-reference").text_content()
            browser.close()
    assert errors == []
    stored = [s for s in (store.requests.get(request_id) for request_id in store.requests.document_ids()) if s]
    (request,) = [s for s in stored if s.receipt.reference == reference]
    assert request.data == data  # numbers as numbers, yes/no as true/false, choices as lists
