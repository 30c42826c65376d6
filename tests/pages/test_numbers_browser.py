"""Numbers typed in Chromium as the page's language writes them (nb 1 500,50, en 1,500.50): sent as
exactly that JSON number, or, when the text cannot be read as exactly one number, an error at the
field and nothing sent. <input type=number> used to drop a comma it could not read (1500,50 became
150050); the browser's own locale must not matter either, so each case runs in its language's locale."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

import build
from handler.schema.loader import SCHEMA_DIR, load_catalog
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, open_session, register
from tests.helpers.browser import hold_session, local_server
from tests.helpers.forms import EVERY_KEYWORD_FORM
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.browser

FORM = "every-keyword"  # the test-only form with whole numbers and decimals
SCREENS = ROOT / "test-results" / "screens"
Server = tuple[str, LocalStore, dict[str, Any]]
ENDPOINT = "/v1/requests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The site and API of schema/ plus the test-only form, and a session of a contact who may send it."""
    root = tmp_path_factory.mktemp("numbers") / "schema"
    shutil.copytree(SCHEMA_DIR, root)
    for path in EVERY_KEYWORD_FORM.parent.glob(f"{FORM}.*"):
        shutil.copy(path, root / "forms" / path.name)
    site_json = root / "site.json"
    site_json.write_text(
        json.dumps(json.loads(site_json.read_text(encoding="utf-8")) | {"forms": [*_forms(root), FORM]}),
        encoding="utf-8",
    )
    site = tmp_path_factory.mktemp("numbers-site") / "site"
    build.build(site, schema_dir=root)
    data_dir = tmp_path_factory.mktemp("numbers-data")
    store = LocalStore(data_dir)
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with local_server(site, data_dir, {"SDF_SCHEMA_DIR": str(root)}) as address:
        with httpx.Client(base_url=address) as api:
            session = open_session(api, data_dir / "outbox", AUTHORIZED)
        yield address, store, session


def _forms(root: Path) -> list[str]:
    return list(json.loads((root / "site.json").read_text(encoding="utf-8"))["forms"])


def open_form(chromium: Any, server: Server, locale: str, language: str, width: int = 1280) -> tuple[Any, list[Any]]:
    """The form in a browser of ``locale``, and the list the bodies of its submissions land in."""
    address, _, session = server
    context = chromium.new_context(locale=locale, viewport={"width": width, "height": 900})
    hold_session(context, session)
    page = context.new_page()
    sent: list[Any] = []
    page.on(
        "request", lambda r: sent.append(json.loads(r.post_data)) if r.method == "POST" and ENDPOINT in r.url else None
    )
    page.goto(f"{address}/{language}/{FORM}/")
    page.locator("#request-form").wait_for()
    return page, sent


def model(page: Any) -> dict[str, Any]:
    return json.loads(page.locator("#page-model").text_content())  # type: ignore[no-any-return]


def number_field(page: Any, kind: str, accepting: float | None = None, required: bool | None = None) -> dict[str, Any]:
    """The first number field of ``kind`` (integer or number) whose limits accept ``accepting``."""
    for field in model(page)["fields"]:
        if field["value"] != "number" or field["schema"]["type"] != kind:
            continue
        if required is not None and bool(field["requiredWhen"]) != required:
            continue
        if accepting is None or Draft202012Validator(field["schema"]).is_valid(accepting):
            return field  # type: ignore[no-any-return]
    raise AssertionError(f"the {FORM} form has no {kind} field for {accepting}")


def choose_branch(page: Any, field: dict[str, Any]) -> None:
    """Fill in what the form needs besides the numbers: the branch that shows ``field``, and a title."""
    for chooser, value in field["shownWhen"][0]:
        page.check(f"input[name={chooser}][value={value}]")
    page.fill("#title", "Tall")
    for other in model(page)["fields"]:
        shown = other["shownWhen"] == field["shownWhen"]
        if shown and other["value"] == "number" and other["requiredWhen"] and other["name"] != field["name"]:
            page.fill(f"#{other['name']}", "12")


def grouped(page: Any, whole: str) -> str:
    """``whole`` written with the page's group mark between groups of three digits."""
    mark = str(model(page)["texts"]["groupMark"])
    head = len(whole) % 3 or 3
    return mark.join([whole[:head], *(whole[i : i + 3] for i in range(head, len(whole), 3))])


@pytest.mark.parametrize(
    ("locale", "language", "typed"),
    [
        ("nb-NO", "nb", "1500,50"),
        ("nb-NO", "nb", "1 500,50"),
        ("nb-NO", "nb", "1\u00a0500,50"),
        ("en-GB", "en", "1,500.50"),
    ],
)
def test_a_decimal_typed_as_the_language_writes_it_is_sent_and_stored_exactly(
    chromium: Any, server: Server, locale: str, language: str, typed: str
) -> None:
    page, sent = open_form(chromium, server, locale, language)
    decimal = number_field(page, "number", 1500.5)
    whole = number_field(page, "integer", 1500, required=False)
    choose_branch(page, decimal)
    page.fill(f"#{decimal['name']}", typed)
    page.fill(f"#{whole['name']}", grouped(page, "1500"))  # nb 1 500, en 1,500
    page.locator("#request-form button[type=submit]").click()
    page.locator("#receipt-reference").wait_for(state="visible")
    reference = page.locator("#receipt-reference").text_content()
    page.context.close()

    (body,) = sent
    assert body["data"][decimal["name"]] == 1500.5
    assert type(body["data"][whole["name"]]) is int and body["data"][whole["name"]] == 1500  # sent as 1500, not 1500.0
    store = server[1]
    stored = [s for s in (store.requests.get(request_id) for request_id in store.requests.document_ids()) if s]
    (request,) = [s for s in stored if s.receipt.reference == reference]
    assert request.data[decimal["name"]] == 1500.5 and request.data[whole["name"]] == 1500
    assert type(request.data[whole["name"]]) is int


@pytest.mark.parametrize(
    ("locale", "language", "kind", "typed"),
    [("en-GB", "en", "integer", "1,5"), ("nb-NO", "nb", "number", "1.500")],
)
def test_a_number_that_cannot_be_read_exactly_is_an_error_at_the_field_and_nothing_is_sent(
    chromium: Any, server: Server, locale: str, language: str, kind: str, typed: str
) -> None:
    page, sent = open_form(chromium, server, locale, language, width=375)
    field = number_field(page, kind)
    name = field["name"]
    choose_branch(page, field)
    page.fill(f"#{name}", typed)
    page.locator("#request-form button[type=submit]").click()
    error = page.locator(f"#{name}-error")
    error.wait_for(state="visible")
    message = field["messages"]["type"]
    assert error.locator(".error-message__text").text_content() == message
    assert page.locator("#error-summary li").all_text_contents() == [message]
    control = page.locator(f"#{name}")
    assert control.get_attribute("aria-invalid") == "true"
    assert control.input_value() == typed  # what was typed stays as typed, for the person to correct
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.locator(f"[data-field={name}]").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENS / f"number-unreadable-{language}-375.png"))
    assert sent == []

    # Written as the language writes it, the same field is sent.
    page.fill(f"#{name}", grouped(page, "2"))
    page.locator("#request-form button[type=submit]").click()
    page.locator("#receipt-reference").wait_for(state="visible")
    page.context.close()
    assert [body["data"][name] for body in sent] == [2]


def test_without_javascript_no_number_can_be_sent_or_changed(chromium: Any, server: Server) -> None:
    # The page has no server-rendered fallback: without the script the form stays hidden, and the page
    # says so, so no browser ever posts a number it read its own way.
    context = chromium.new_context(locale="nb-NO", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server[0]}/nb/{FORM}/")
    assert page.locator("#request-form").is_hidden()
    assert page.locator("#request-form").get_attribute("hidden") is not None
    assert load_catalog().common["nb"]["noScript"] in page.locator("main").inner_text()
    assert page.locator("input[inputmode=decimal]").count() > 0
    assert all(not control.is_visible() for control in page.locator("input[inputmode]").all())
    context.close()
