"""The form in Chromium, used as a person would, against the local server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from handler.contacts import make_contact
from handler.schema.loader import load_catalog
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, CONTACT_TYPES, code_from_outbox, open_session, register
from tests.helpers.browser import axe_violations, fill, hold_session, local_server
from tests.helpers.paths import TESTS
from tests.helpers.shipped import a_service, valid_data_of

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by 'make test'")
CASES = {
    p.stem: json.loads(p.read_text(encoding="utf-8"))
    for p in sorted((TESTS / "data" / "service-request").glob("*.json"))
}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 4096
REFERENCE = re.compile(r"^SR-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")

LANGUAGES = load_catalog().languages  # every language of schema/, so a new one is tested too


@pytest.fixture(scope="session")
def server(built_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalStore]]:
    data_dir = tmp_path_factory.mktemp("browser-data")
    store = LocalStore(data_dir)
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with local_server(built_site, data_dir) as address:
        yield address, store


@pytest.fixture(scope="session")
def session(server: tuple[str, LocalStore]) -> dict[str, Any]:
    """A session for the authorized contact, obtained through the API with the e-mailed code."""
    address, store = server
    with httpx.Client(base_url=address) as api:
        return open_session(api, store.folder / "outbox", AUTHORIZED)


def signed_in_context(chromium: Any, session: dict[str, Any], locale: str = "nb-NO", axe: bool = False) -> Any:
    """A browser context whose tab already holds the session, as after signing in.

    axe-core is injected as a script, which the pages' Content-Security-Policy forbids: only the
    accessibility checks turn the policy off.
    """
    context = chromium.new_context(locale=locale, bypass_csp=axe)
    hold_session(context, session)
    return context


@pytest.fixture
def page(chromium: Any, session: dict[str, Any]) -> Iterator[Any]:
    context = signed_in_context(chromium, session)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Answers with an error status are part of some tests; anything else on the console is a bug.
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
    )
    yield page
    context.close()
    assert errors == [], f"the page reported errors: {errors}"


def open_form(page: Any, address: str, language: str = "nb") -> None:
    """Open the form empty: a draft an earlier step of the test left is cleared as a person would."""
    page.goto(f"{address}/{language}/service-request/")
    page.locator("#request-form").wait_for()
    if page.locator("#draft-restored").is_visible():
        page.once("dialog", lambda dialog: dialog.accept())  # the page asks before it empties the form
        page.locator("#clear-form").click()


def stored_by_reference(store: LocalStore, reference: str) -> list[Any]:
    """The stored requests with this reference (one, if all is well)."""
    found = (store.requests.get(request_id) for request_id in store.requests.document_ids())
    return [s for s in found if s is not None and s.receipt.reference == reference]


def future(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def submit_and_read_reference(page: Any) -> str:
    page.get_by_role("button", name=re.compile("Send")).click()
    reference = page.locator("#receipt-reference")
    reference.wait_for(state="visible")
    return str(reference.text_content())


def test_a_person_fills_in_the_nb_form_and_gets_a_reference(page: Any, server: tuple[str, LocalStore]) -> None:
    address, store = server
    open_form(page, address)
    page.get_by_label("Kopi til epost-adresse").fill("leder@example.no, kollega@example.no")
    page.get_by_label("Bestill utvidet support utenfor kontortid").check()
    page.get_by_label("Fra", exact=True).fill(f"{future(14)}T18:00")
    page.get_by_label("Til", exact=True).fill(f"{future(15)}T02:00")
    page.get_by_label("Emne").fill("Eksamen på kveldstid")
    page.get_by_label("Beskrivelse").fill("Vi har digital eksamen og trenger noen å ringe.")
    page.get_by_role("button", name="Send forespørsel").click()

    receipt = page.get_by_role("heading", name="Forespørselen er sendt")
    receipt.wait_for()
    assert page.evaluate("document.activeElement.id") == "receipt-title"
    # Focus moved there after a click: no focus ring, which is for people moving with the keyboard.
    assert page.evaluate("getComputedStyle(document.getElementById('receipt-title')).outlineStyle") == "none"
    # The confirmation replaces the form and its intro, says where the receipt went and is announced.
    assert page.locator("#form-intro").is_hidden() and page.locator("#request-form").is_hidden()
    mailed = page.locator("#receipt-mailed").text_content()
    assert AUTHORIZED in mailed and "leder@example.no, kollega@example.no" in mailed
    assert page.locator("#announcer").text_content().startswith("Forespørselen er sendt. Referansenummeret ditt er SR-")
    assert page.get_by_role("heading", name="Hva skjer nå").is_visible()
    reference = page.locator("#receipt-reference").text_content()
    assert REFERENCE.match(reference)
    mine = stored_by_reference(store, reference)
    assert len(mine) == 1
    assert mine[0].language == "nb"
    assert mine[0].data == {
        "cc": ["leder@example.no", "kollega@example.no"],
        "service": "extended-support",
        "support_start": f"{future(14)}T18:00",
        "support_end": f"{future(15)}T02:00",
        "subject": "Eksamen på kveldstid",
        "description": "Vi har digital eksamen og trenger noen å ringe.",
    }


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("category", sorted(CASES))
def test_every_category_can_be_submitted_in_both_languages(
    page: Any, server: tuple[str, LocalStore], category: str, language: str
) -> None:
    address, store = server
    data = dict(CASES[category]["valid"][0]["data"])
    if category == "extended-support":
        data["support_start"], data["support_end"] = f"{future(30)}T18:00", f"{future(30)}T22:30"
    open_form(page, address, language)
    fill(page, data)
    reference = submit_and_read_reference(page)
    stored = stored_by_reference(store, reference)
    assert len(stored) == 1
    assert stored[0].data == data
    assert stored[0].language == language


def test_choosing_a_service_shows_exactly_its_fields_and_hint(page: Any, server: tuple[str, LocalStore]) -> None:
    open_form(page, server[0], "en")
    visible = (
        "[...document.querySelectorAll('#request-form [data-field]')].filter(g => !g.hidden).map(g => g.dataset.field)"
    )
    assert page.evaluate(visible) == ["cc", "service", "subject", "description", "attachments"]
    page.check("input[name=service][value=data-extract]")
    assert page.evaluate(visible) == [
        "cc",
        "service",
        "extract_data",
        "period_from",
        "period_to",
        "account",
        "subject",
        "description",
        "attachments",
    ]
    assert page.locator("#description-hint").text_content().startswith("Say which format you want")
    page.check("input[name=service][value=service-desk-user]")
    # First whether the user is added or removed; then only what that needs.
    assert page.evaluate(visible) == ["cc", "service", "user_action", "subject", "description", "attachments"]
    page.get_by_label("Add the user").check()
    assert page.evaluate(visible)[2:7] == ["user_action", "user_name", "user_email", "user_phone", "user_contact_type"]
    page.get_by_label("Remove the user").check()
    assert page.evaluate(visible)[2:5] == ["user_action", "user_name", "user_email"]
    assert "user_phone" not in page.evaluate(visible)
    assert page.locator("#user_phone").is_disabled()


def test_an_empty_form_shows_the_error_summary_and_its_links_move_focus(
    page: Any, server: tuple[str, LocalStore]
) -> None:
    open_form(page, server[0])
    page.get_by_role("button", name="Send forespørsel").click()
    summary = page.locator("#error-summary")
    summary.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    links = summary.get_by_role("link")
    assert links.all_text_contents() == [
        "Velg hvilken service forespørselen gjelder",
        "Skriv et emne",
        "Skriv en beskrivelse",
    ]
    for index, field in enumerate(["service", "subject", "description"]):
        links.nth(index).click()
        assert page.evaluate("document.activeElement.id") == field
        control = page.locator(f"#{field}")
        if control.get_attribute("type") == "radio":  # a group of radios: its fieldset names the error
            fieldset = page.locator(f"[data-field={field}] fieldset")
            assert f"{field}-error" in (fieldset.get_attribute("aria-describedby") or "")
            continue
        assert control.get_attribute("aria-invalid") == "true"
        assert f"{field}-error" in (control.get_attribute("aria-describedby") or "")
    assert page.locator("#subject-error").text_content() == "Feil: Skriv et emne"

    page.check("input[name=service][value=feature-toggle]")
    page.get_by_role("button", name="Send forespørsel").click()
    assert summary.get_by_role("link").first.text_content() == "Velg om funksjonen skal aktiveres eller deaktiveres"
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "feature_action"


PARITY = [
    ("service-desk-user", "adding needs phone and contact type"),
    ("service-desk-user", "bad e-mail and phone"),
    ("data-extract", "period ends before it starts"),
    ("extended-support", "end before start"),
    ("extended-support", "in the past"),
    ("premium-feature", "feature name too long"),
    ("beta-project", "common fields missing and CC broken"),
    ("feature-toggle", "missing action, name and account"),
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_shows_the_messages_the_server_would(
    page: Any, server: tuple[str, LocalStore], session: dict[str, Any], language: str
) -> None:
    address = server[0]
    for category, description in PARITY:
        case = next(c for c in CASES[category]["invalid"] if c["description"] == description)
        open_form(page, address, language)
        page.evaluate("document.querySelectorAll('[maxlength]').forEach(e => e.removeAttribute('maxlength'))")
        fill(page, case["data"])
        page.locator("#request-form button[type=submit]").click()
        shown = page.locator("#error-summary li").all_text_contents()
        answer = page.request.post(
            f"{address}/v1/requests?lang={language}",
            data={"form": "service-request", "data": case["data"]},
            headers={"Authorization": f"Bearer {session['token']}"},
        ).json()
        first_per_field: dict[str, str] = {}
        for detail in answer["errors"]:
            first_per_field.setdefault(detail["field"], detail["detail"])
        assert shown == list(first_per_field.values()), description


def test_sent_with_the_keyboard_the_receipt_s_heading_shows_where_focus_is(
    page: Any, server: tuple[str, LocalStore]
) -> None:
    address = server[0]
    open_form(page, address, "en")
    fill(page, valid_data_of(a_service(), subject="With the keyboard"))
    page.get_by_role("button", name="Send request").focus()
    page.keyboard.press("Enter")
    page.locator("#receipt-title").wait_for()
    assert page.evaluate("document.activeElement.id") == "receipt-title"
    assert page.evaluate("getComputedStyle(document.getElementById('receipt-title')).outlineStyle") == "solid"


def test_a_storage_failure_keeps_what_was_filled_in(page: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    open_form(page, address, "en")
    fill(page, CASES["beta-project"]["valid"][0]["data"])
    page.route(
        "**/v1/requests",
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            body=json.dumps(
                {
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "detail": "The service cannot store it.",
                    "code": "storage_unavailable",
                    "errors": [],
                }
            ),
        ),
    )
    page.get_by_role("button", name="Send request").click()
    page.locator("#error-summary").wait_for(state="visible")
    assert page.locator("#error-summary li").all_text_contents() == ["The service cannot store it."]
    assert page.locator("#subject").input_value() == CASES["beta-project"]["valid"][0]["data"]["subject"]
    page.unroute("**/v1/requests")
    assert REFERENCE.match(submit_and_read_reference(page))


def test_a_lost_answer_and_a_retry_store_the_request_once(page: Any, server: tuple[str, LocalStore]) -> None:
    address, store = server
    open_form(page, address, "en")
    data = {**CASES["integration-setup"]["valid"][0]["data"], "subject": "Retried after a lost answer"}
    fill(page, data)

    def lose_the_answer(route: Any) -> None:
        route.fetch()  # the server stores the request...
        route.abort("connectionreset")  # ...but the answer never reaches the page

    page.route("**/v1/requests", lose_the_answer)
    page.get_by_role("button", name="Send request").click()
    page.locator("#error-summary").wait_for(state="visible")
    assert "could not reach the server" in page.locator("#error-summary li").first.text_content()
    page.unroute("**/v1/requests")
    reference = submit_and_read_reference(page)
    matching = [
        s
        for s in (store.requests.get(request_id) for request_id in store.requests.document_ids())
        if s and s.data == data
    ]
    assert [s.receipt.reference for s in matching] == [reference]


@pytest.fixture
def axe_page(chromium: Any, session: dict[str, Any]) -> Iterator[Any]:
    context = signed_in_context(chromium, session, axe=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_axe_finds_no_violations_on_the_form_before_and_after_errors(
    axe_page: Any, server: tuple[str, LocalStore], language: str
) -> None:
    open_form(axe_page, server[0], language)
    assert axe_violations(axe_page) == []
    axe_page.check("input[name=service][value=service-desk-user]")
    axe_page.locator("#user_action").check()
    axe_page.locator("#request-form button[type=submit]").click()
    axe_page.locator("#error-summary").wait_for(state="visible")
    assert axe_violations(axe_page) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_axe_finds_no_violations_on_sign_in_and_my_requests(
    axe_page: Any, server: tuple[str, LocalStore], session: dict[str, Any], language: str
) -> None:
    address = server[0]
    with httpx.Client(base_url=address, headers={"Authorization": f"Bearer {session['token']}"}) as api:
        data = CASES["premium-feature"]["valid"][0]["data"]
        assert api.post("/v1/requests", json={"form": "service-request", "data": data}).status_code == 201
    axe_page.goto(f"{address}/{language}/my-requests/")
    axe_page.locator("#request-list tbody tr").first.wait_for()
    assert axe_violations(axe_page) == []
    axe_page.locator("#request-list tbody a").first.click()
    axe_page.locator("#request-detail").wait_for(state="visible")
    assert axe_violations(axe_page) == []
    axe_page.goto(f"{address}/{language}/sign-in/")
    assert axe_violations(axe_page) == []
    axe_page.locator("#email-step button[type=submit]").click()
    axe_page.locator("#error-summary").wait_for(state="visible")
    assert axe_violations(axe_page) == []


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en-US", "/en/service-request/"), ("nb-NO", "/nb/service-request/"), ("no", "/nb/service-request/")],
)
def test_the_landing_page_picks_the_browser_s_language(
    chromium: Any, server: tuple[str, LocalStore], locale: str, expected: str
) -> None:
    context = chromium.new_context(locale=locale)
    page = context.new_page()
    page.goto(f"{server[0]}/")
    page.wait_for_url(f"**{expected}")
    assert page.evaluate("document.documentElement.lang") == expected.split("/")[1]
    context.close()


def test_the_landing_page_sends_other_languages_to_the_default_one(
    chromium: Any, server: tuple[str, LocalStore]
) -> None:
    context = chromium.new_context(locale="de-DE")
    page = context.new_page()
    page.goto(f"{server[0]}/")
    catalog = load_catalog()
    page.wait_for_url(f"**/{catalog.default_language}/service-request/")
    context.close()


def test_the_landing_page_lists_every_language_without_javascript(
    chromium: Any, server: tuple[str, LocalStore]
) -> None:
    context = chromium.new_context(locale="de-DE", bypass_csp=True, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server[0]}/")
    form = load_catalog().forms["service-request"]
    for language in LANGUAGES:
        link = page.locator(f"section[lang={language}]").get_by_role("link", name=form.texts[language]["title"])
        assert link.is_visible()
    assert page.locator("header").is_visible()
    context.close()


def test_the_whole_journey_sign_in_submit_follow_and_a_status_change(
    chromium: Any, server: tuple[str, LocalStore]
) -> None:
    address, store = server
    email = "ola.nordmann@example.no"
    store.contacts.put_contact(
        make_contact(email, "Ola Nordmann", "", "Kunde AS", ["authorized-for-change"], CONTACT_TYPES)
    )
    context = chromium.new_context(locale="nb-NO")
    page = context.new_page()

    page.goto(f"{address}/nb/service-request/")
    # Signed out, the form can be filled in (the draft waits for the sign-in) and says how to sign in.
    assert page.locator("#sign-in-needed").is_visible()
    assert page.locator("#request-form").is_visible()
    page.locator("#sign-in-needed a").click()
    page.get_by_label("E-postadresse").fill(email)
    page.get_by_role("button", name="Send kode").click()
    page.get_by_label("Engangskode").wait_for()
    page.get_by_label("Engangskode").fill(code_from_outbox(store.folder / "outbox", email))
    page.get_by_role("button", name="Logg inn", exact=True).click()
    page.wait_for_url("**/nb/service-request/")
    assert page.locator("#site-account [data-name]").text_content() == "Logget inn som Ola Nordmann"

    fill(page, {**CASES["data-extract"]["valid"][0]["data"], "subject": "Rapport over innleveringer"})
    reference = submit_and_read_reference(page)
    page.get_by_role("link", name="Mine forespørsler").last.click()
    row = page.locator("#request-list tbody tr", has_text=reference)
    row.wait_for()
    assert "Mottatt" in row.text_content()
    assert "Rapport over innleveringer" in row.text_content()
    assert "Bestill datauttrekk" in row.text_content()

    agent = subprocess.run(
        [
            sys.executable,
            "-m",
            "handler.cli",
            "requests",
            "status",
            reference,
            "in-progress",
            "--agent",
            "Agent Smith",
            "--comment",
            "Vi ser på det i dag.",
        ],
        env={**os.environ, "SDF_DATA_DIR": str(store.folder)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert agent.returncode == 0, agent.stderr
    assert f"{reference} is now in-progress" in agent.stdout

    page.reload()
    row.wait_for()
    assert "Under behandling" in row.text_content()
    row.get_by_role("link").click()
    page.locator("#request-detail").wait_for(state="visible")
    history = page.locator("#detail-thread li")
    assert history.count() == 2  # in the order it happened
    assert "Mottatt" in history.first.text_content()
    assert "Under behandling" in history.last.text_content()
    assert "Vi ser på det i dag." in history.last.text_content()
    assert "Agent Smith" not in page.content()
    assert page.locator("#detail-fields").get_by_text("Rapport over innleveringer").is_visible()
    # What was sent is listed in the form's order, not in the order of its keys.
    model = json.loads(page.locator("#page-model").text_content())["forms"]["service-request"]
    in_form_order = [model["fields"][name]["label"] for name in model["order"]]
    shown = page.locator("#detail-fields dt").all_text_contents()
    assert shown == [label for label in in_form_order if label in shown]

    mail = newest_mail(store.folder / "outbox", email)
    assert mail["Subject"] == f"{reference}: Under behandling"
    assert "Vi ser på det i dag." in mail.get_body(preferencelist=("plain",)).get_content()
    context.close()


def newest_mail(outbox: Path, email: str) -> Any:
    for path in sorted(outbox.glob("*.eml"), reverse=True):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if email in str(message["To"]):
            return message
    raise AssertionError(f"no e-mail to {email}")


def test_a_screenshot_and_a_video_are_uploaded_with_progress_and_attached(
    page: Any, server: tuple[str, LocalStore]
) -> None:
    address, store = server
    open_form(page, address)
    fill(page, {**CASES["beta-project"]["valid"][0]["data"], "subject": "Med vedlegg"})
    page.get_by_label("Vedlegg").set_input_files(
        [
            {"name": "skjermbilde.png", "mimeType": "image/png", "buffer": PNG},
            {"name": "opptak.mp4", "mimeType": "video/mp4", "buffer": MP4},
        ]
    )
    items = page.locator("#attachments-list li")
    assert items.count() == 2
    assert items.nth(0).locator("progress").count() == 1
    page.locator("#attachments-list li[data-id]").nth(1).wait_for()
    page.locator("#attachments-list li[data-id]").nth(0).wait_for()
    assert [p.get_attribute("value") for p in page.locator("#attachments-list progress").all()] == ["100", "100"]
    page.set_input_files("#attachments", [{"name": "feil.png", "mimeType": "image/png", "buffer": PNG}])
    page.locator("#attachments-list li", has_text="feil.png").wait_for()
    page.get_by_role("button", name="Fjern feil.png").click()
    assert items.count() == 2
    page.wait_for_timeout(400)
    page.reload()  # uploaded files stay attached in the draft while their upload is valid
    page.locator("#draft-restored").wait_for()
    assert [i.get_attribute("data-name") for i in items.all()] == ["skjermbilde.png", "opptak.mp4"]
    reference = submit_and_read_reference(page)
    stored = stored_by_reference(store, reference)
    assert [a.name for a in stored[0].attachments] == ["skjermbilde.png", "opptak.mp4"]
    page.goto(f"{address}/nb/my-requests/?id={stored[0].receipt.request_id}")
    fields = page.locator("#detail-fields")
    fields.wait_for(state="visible")
    assert "skjermbilde.png\nopptak.mp4" in fields.text_content()  # by name, never by upload id


def test_a_file_that_is_too_large_or_of_a_wrong_type_is_refused_before_sending(
    page: Any, server: tuple[str, LocalStore]
) -> None:
    open_form(page, server[0], "en")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/v1/uploads" in r.url else None)
    exe = {"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}
    page.set_input_files("#attachments", [exe])
    summary = page.locator("#error-summary")
    summary.wait_for(state="visible")
    assert summary.locator("li").all_text_contents() == [
        "“setup.exe” is a type of file we do not accept. Use images, videos, PDF, Office documents, text, logs or CSV."
    ]
    page.evaluate(
        """() => {
        const input = document.getElementById('attachments');
        const big = new File([new Uint8Array(26 * 1024 * 1024)], 'huge.mp4', {type: 'video/mp4'});
        const list = new DataTransfer(); list.items.add(big); input.files = list.files;
        input.dispatchEvent(new Event('change', {bubbles: true}));
    }"""
    )
    assert summary.locator("li").all_text_contents() == ["“huge.mp4” is too large. Each file can be at most 25 MB."]
    assert page.locator("#attachments-list li").count() == 0
    assert requests == []
    page.set_input_files("#attachments", [{"name": "tom.txt", "mimeType": "text/plain", "buffer": b""}])
    summary.locator("li", has_text="tom.txt").wait_for()
    assert summary.locator("li").all_text_contents() == ["“tom.txt” is empty. Choose a file that has something in it."]
    # Several refused at once: each file is named.
    page.set_input_files("#attachments", [exe, {**exe, "name": "other.exe"}])
    summary.locator("li").nth(1).wait_for()
    assert [t.split("”")[0] for t in summary.locator("li").all_text_contents()] == ["“setup.exe", "“other.exe"]
