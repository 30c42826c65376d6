"""Every page as a person sees it, in every language, on a phone and on a desktop: no sideways
scrolling, the states people meet (errors, receipt, not found, sign-in trouble), and screenshots of
all of them in test-results/screens/ for a person to review (kept out of git)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

import build
from handler import replies
from handler.schema.loader import load_catalog
from handler.services import build_services
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.texts import fill
from handler.usecases import conversing
from handler.usecases.desk import change_status
from tests.helpers.accounts import AUTHORIZED, SECRET, code_from_outbox, open_session, register
from tests.helpers.browser import axe_violations, hold_session, local_server
from tests.helpers.paths import ROOT, TESTS
from tests.helpers.shipped import valid_data_of

pytestmark = [pytest.mark.browser, pytest.mark.axe]

LANGUAGES = load_catalog().languages
WIDTHS = (375, 1280)
SCREENS = ROOT / "test-results" / "screens"
DATA = json.loads((TESTS / "data" / "service-request" / "data-extract.json").read_text(encoding="utf-8"))
LONG_SUBJECT = "Rapport over innleveringer og vurderinger for hele skoleåret 2026/2027"
Server = tuple[str, LocalStore, dict[str, Any], str]  # address, store, a session, a sent request's id
State = tuple[str, str, Any]  # address, who is there, what to do once there


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The site and API with one request sent, a session, and that request's id."""
    site = tmp_path_factory.mktemp("pages-site") / "site"
    build.build(site, desk_email="servicedesk@example.no")
    data_dir = tmp_path_factory.mktemp("pages-data")
    store = LocalStore(data_dir)
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with local_server(site, data_dir) as address:
        with httpx.Client(base_url=address) as api:
            session = open_session(api, data_dir / "outbox", AUTHORIZED)
            headers = {"Authorization": f"Bearer {session['token']}"}
            body = {"form": "service-request", "data": {**DATA["valid"][0]["data"], "subject": LONG_SUBJECT}}
            sent = api.post("/v1/requests", json=body, headers=headers)
            assert sent.status_code == 201
            closed = api.post("/v1/requests", json=body, headers=headers)
            assert closed.status_code == 201
        # The request has a conversation; another one is closed, if schema/site.json closes any.
        services = build_services(Settings(data_dir=data_dir), store=store)  # the server's own secret
        conversing.agent_reply(
            services.conversing, sent.json()["reference"], "Agent", "Hei!\nHvilken rapport gjelder det?"
        )
        rules = services.catalog.conversation
        if rules.closed:
            change_status(services.desk, closed.json()["reference"], sorted(rules.closed)[0], "Agent", "Ferdig.")
        yield address, store, session, sent.json()["id"]


def open_page(
    chromium: Any,
    session: dict[str, Any] | None,
    width: int,
    url: str,
    script: bool = True,
    said: list[str] | None = None,
) -> Any:
    """``url`` in a fresh browser at ``width``; the page's console errors go to ``said``."""
    context = chromium.new_context(
        viewport={"width": width, "height": 900}, locale="nb-NO", bypass_csp=True, java_script_enabled=script
    )
    if session:
        hold_session(context, session)
    page = context.new_page()
    if said is not None:
        page.on("console", lambda message: said.append(message.text) if message.type == "error" else None)
    page.goto(url)
    return page


def expired(session: dict[str, Any]) -> dict[str, Any]:
    """A session this browser still holds but the server has ended."""
    return {**session, "token": "ended-" + session["token"][6:]}


def states(address: str, language: str, request_id: str, store: LocalStore, width: int) -> dict[str, State]:
    """Each state a person meets: its address, who is there (signed in, signed out, with a session
    the server has ended, or without JavaScript), and what to do once there."""

    def form_errors(page: Any) -> None:
        page.check("input[name=service][value=extended-support]")
        page.locator("#request-form button[type=submit]").click()
        page.locator("#error-summary").wait_for(state="visible")

    def send(page: Any, service: str, fields: dict[str, str], shown: str) -> None:
        page.check(f"input[name=service][value={service}]")
        for name, value in fields.items():
            page.fill(f"#{name}", value)
        page.locator("#request-form button[type=submit]").click()
        page.locator(shown).wait_for(state="visible")

    def receipt(page: Any) -> None:
        fields = {"feature_name": "Rapporter", "account": "Kunde AS", "subject": "Skjermbilder"}
        send(page, "premium-feature", {**fields, "description": "Vi trenger dette før jul."}, "#receipt-title")

    def draft_restored(page: Any) -> None:
        page.check("input[name=service][value=data-extract]")
        page.fill("#subject", "Halvferdig")
        page.wait_for_timeout(400)
        page.reload()
        page.locator("#draft-restored").wait_for()

    def listed(page: Any) -> None:
        page.locator("#request-list tbody tr").first.wait_for()

    def detail(page: Any) -> None:
        page.locator("#request-detail").wait_for(state="visible")

    def reply_error(page: Any) -> None:
        page.locator("#reply-form").wait_for(state="visible")
        page.locator("#reply-send").click()
        page.locator("#error-summary").wait_for(state="visible")

    def replied(page: Any) -> None:
        page.locator("#reply-form").wait_for(state="visible")
        page.fill("#body", f"Svar fra siden ({language}, {width} px).\nAndre linje.")
        page.locator("#reply-send").click()
        page.locator("#detail-thread .thread__message--mine").last.wait_for()

    def closed_notice(page: Any) -> None:
        page.locator("#reply-closed").wait_for(state="visible")

    def not_found(page: Any) -> None:
        page.locator("#not-found").wait_for(state="visible")

    def sign_in_error(page: Any) -> None:
        page.locator("#email-step button[type=submit]").click()
        page.locator("#error-summary").wait_for(state="visible")

    def wrong_code(page: Any) -> None:
        email = f"wrong.code.{language}.{width}@example.no"
        register(store.contacts, email, "authorized-for-change")
        page.fill("#email", email)
        page.locator("#email-step button[type=submit]").click()
        page.locator("#code").wait_for(state="visible")
        code = code_from_outbox(store.folder / "outbox", email)
        page.fill("#code", "000000" if code != "000000" else "111111")
        page.locator("#code-step button[type=submit]").click()
        page.locator("#error-summary").wait_for(state="visible")

    def session_ended(page: Any) -> None:
        fields = {"beta_project": "Ny rapportmotor", "account": "Kunde AS", "subject": "Betaprosjekt"}
        send(page, "beta-project", {**fields, "description": "Vi vil gjerne være med."}, "#error-summary")

    def stopped(page: Any) -> None:
        page.locator("#stop-form button").click()
        page.locator("#stop-done").wait_for(state="visible")

    def broken_link(page: Any) -> None:
        page.locator("#error-summary").wait_for(state="visible")

    base = f"{address}/{language}"
    nowhere = "00000000-0000-4000-8000-000000000000"
    copied = f"kopi.{language}.{width}@example.no"
    secret = (store.folder / "session-secret").read_text().strip().encode()
    stop = urlencode({"r": request_id, "a": copied, "s": replies.stop_signature(secret, request_id, copied)})
    return {
        "landing": (f"{address}/", "signed-out", None),
        "form-empty": (f"{base}/service-request/", "signed-in", None),
        "form-signed-out": (f"{base}/service-request/", "signed-out", None),
        "form-errors": (f"{base}/service-request/", "signed-in", form_errors),
        "form-receipt": (f"{base}/service-request/", "signed-in", receipt),
        "form-draft-restored": (f"{base}/service-request/", "signed-in", draft_restored),
        "form-session-ended": (f"{base}/service-request/", "session-ended", session_ended),
        "form-no-javascript": (f"{base}/service-request/", "no-javascript", None),
        "sign-in": (f"{base}/sign-in/", "signed-out", None),
        "sign-in-errors": (f"{base}/sign-in/", "signed-out", sign_in_error),
        "sign-in-wrong-code": (f"{base}/sign-in/", "signed-out", wrong_code),
        "sign-in-no-javascript": (f"{base}/sign-in/", "no-javascript", None),
        "my-requests": (f"{base}/my-requests/", "signed-in", listed),
        "my-requests-no-javascript": (f"{base}/my-requests/", "no-javascript", None),
        "my-request": (f"{base}/my-requests/?id={request_id}", "signed-in", detail),
        "my-request-not-found": (f"{base}/my-requests/?id={nowhere}", "signed-in", not_found),
        "stop-emails": (f"{base}/stop-emails/?{stop}", "signed-out", None),
        "stop-emails-done": (f"{base}/stop-emails/?{stop}", "signed-out", stopped),
        "stop-emails-broken-link": (f"{base}/stop-emails/?r={request_id}", "signed-out", broken_link),
        "stop-emails-no-javascript": (f"{base}/stop-emails/?{stop}", "no-javascript", None),
        "my-request-reply-error": (f"{base}/my-requests/?id={request_id}", "signed-in", reply_error),
        "my-request-replied": (f"{base}/my-requests/?id={request_id}", "signed-in", replied),
    } | (
        {"my-request-closed": (f"{base}/my-requests/?id={closed}", "signed-in", closed_notice)}
        if (closed := closed_request(store))
        else {}
    )


def closed_request(store: LocalStore) -> str | None:
    """A request in one of the statuses schema/site.json calls closed, if there is one."""
    closed = load_catalog().conversation.closed
    return next((s.receipt.request_id for s in store.requests.list_requests() if s.receipt.status in closed), None)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_fits_the_screen_passes_axe_and_is_photographed(
    chromium: Any, server: Server, language: str, width: int
) -> None:
    address, store, session, request_id = server
    SCREENS.mkdir(parents=True, exist_ok=True)
    problems = []
    sessions = {"signed-in": session, "session-ended": expired(session)}
    for name, (url, who, act) in states(address, language, request_id, store, width).items():
        said: list[str] = []
        page = open_page(chromium, sessions.get(who), width, url, script=who != "no-javascript", said=said)
        page.wait_for_load_state("networkidle")
        if act:
            act(page)
        page.screenshot(path=str(SCREENS / f"{name}-{language}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            problems.append(f"{name}: scrolls {overflow} px sideways")
        if not page.locator("main").inner_text().strip():
            problems.append(f"{name}: the page is blank")
        problems += [f"{name}: {message}" for message in said if message.startswith("Missing text")]
        if who == "no-javascript":
            page.context.close()
            continue  # axe is a script: this state is checked for fit and content only
        problems += [f"{name}: {v}" for v in axe_violations(page)]
        page.context.close()
    assert problems == []


def test_errors_put_error_first_in_the_title(chromium: Any, server: Server) -> None:
    address, _, session, _ = server
    page = open_page(chromium, session, 1280, f"{address}/nb/service-request/")
    title = page.title()
    page.locator("#request-form button[type=submit]").click()
    page.locator("#error-summary").wait_for(state="visible")
    assert page.title() == "Feil: " + title
    page.context.close()


def test_a_request_that_does_not_exist_says_so(chromium: Any, server: Server) -> None:
    address, _, session, _ = server
    url = f"{address}/en/my-requests/?id=00000000-0000-4000-8000-000000000000"
    page = open_page(chromium, session, 375, url)
    heading = page.get_by_role("heading", name="We cannot find this request.")
    heading.wait_for()
    assert page.get_by_role("link", name="Back to My requests").is_visible()
    page.context.close()


def test_a_wrong_code_is_marked_at_the_field_and_a_new_code_can_be_asked_for(chromium: Any, server: Server) -> None:
    address, store, _, _ = server
    email = "signin.test@example.no"
    register(store.contacts, email, "authorized-for-change")
    page = open_page(chromium, None, 375, f"{address}/nb/sign-in/")
    page.get_by_label("E-postadresse").fill(email)
    page.get_by_role("button", name="Send kode").click()
    first = code_from_outbox(store.folder / "outbox", email)
    page.get_by_label("Engangskode").fill("000000" if first != "000000" else "111111")
    page.get_by_role("button", name="Logg inn", exact=True).click()
    summary = page.locator("#error-summary")
    summary.wait_for(state="visible")
    assert summary.get_by_role("heading").text_content() == "Det er noe som må rettes"
    summary.get_by_role("link").click()
    assert page.evaluate("document.activeElement.id") == "code"
    assert page.locator("#code").get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name="Send en ny kode").click()
    page.get_by_text(f"Vi har sendt en ny kode til {email}.").wait_for()
    page.get_by_label("Engangskode").fill(code_from_outbox(store.folder / "outbox", email))
    page.get_by_role("button", name="Logg inn", exact=True).click()
    page.wait_for_url("**/my-requests/")
    page.context.close()


def test_too_many_codes_says_how_long_to_wait(chromium: Any, server: Server) -> None:
    address, store, _, _ = server
    email = "impatient@example.no"
    register(store.contacts, email, "authorized-for-change")
    page = open_page(chromium, None, 1280, f"{address}/en/sign-in/")
    for _ in range(4):
        page.goto(f"{address}/en/sign-in/")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_role("button", name="Send code").click()
        page.wait_for_load_state("networkidle")
    summary = page.locator("#error-summary")
    summary.wait_for(state="visible")
    assert summary.get_by_role("heading").text_content() == "Something went wrong"
    said = summary.text_content()
    assert "The wait is about" in said and said.count("try again") == 1  # said once, with how long
    page.context.close()


def test_screens_are_kept_out_of_git() -> None:
    assert "/test-results/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert isinstance(SCREENS, Path)


@pytest.mark.parametrize(("language", "typed"), [("nb", ("1.1.2026", "30.06.2026")), ("en", ("1/1/2026", "30/6/2026"))])
def test_dates_are_typed_as_the_hint_shows_and_sent_as_the_schema_wants(
    chromium: Any, server: Server, language: str, typed: tuple[str, str]
) -> None:
    address, store, session, _ = server
    page = open_page(chromium, session, 375, f"{address}/{language}/service-request/")
    page.check("input[name=service][value=data-extract]")
    hint = "For eksempel 31.12.2026" if language == "nb" else "For example 31/12/2026"
    assert page.locator("#period_from-hint").text_content() == hint
    for name, value in (("extract_data", "Alt"), ("period_from", typed[0]), ("period_to", typed[1])):
        page.fill(f"#{name}", value)
    page.fill("#account", "Kunde AS")
    page.fill("#subject", "Datoer")
    page.fill("#description", "Som CSV.")
    page.locator("#request-form button[type=submit]").click()
    page.locator("#receipt-title").wait_for(state="visible")
    reference = page.locator("#receipt-reference").text_content()
    found = [s for s in map(store.requests.get, store.requests.document_ids()) if s is not None]
    sent = [s for s in found if s.receipt.reference == reference]
    assert [(s.data["period_from"], s.data["period_to"]) for s in sent] == [("2026-01-01", "2026-06-30")]
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_contact_who_may_not_send_the_form_is_told_before_filling_it_in(
    chromium: Any, server: Server, language: str
) -> None:
    address, _, session, _ = server
    catalog = load_catalog()
    form = catalog.forms["service-request"]
    other = next(t for t in catalog.contact_types if t not in form.allowed_contact_types)
    # What the browser holds after a contact of another type signed in (the server refuses their submissions).
    session = {**session, "contact": {**session["contact"], "contactTypes": [other]}}
    page = open_page(chromium, session, 375, f"{address}/{language}/service-request/")
    notice = page.locator("#not-authorized")
    notice.wait_for(state="visible")
    names = " / ".join(catalog.common[language]["contactTypes"][t] for t in form.allowed_contact_types)
    assert notice.text_content() == fill(catalog.common[language]["api"]["not_authorized"], {"types": names})
    assert not page.locator("#request-form").is_visible()  # nothing to fill in that could not be sent
    page.context.close()


def test_my_requests_fits_a_long_status_and_service_name_at_every_width(chromium: Any, server: Server) -> None:
    address, store, session, _ = server
    catalog = load_catalog()
    form = catalog.forms["service-request"]
    # The service and status with the longest names in any language, as a person may well have them.
    service = max(form.categories, key=lambda s: max(len(form.option_label(lang, "service", s)) for lang in LANGUAGES))
    status = max(catalog.statuses, key=lambda s: max(len(catalog.common[lang]["statuses"][s]) for lang in LANGUAGES))
    with httpx.Client(base_url=address, headers={"Authorization": f"Bearer {session['token']}"}) as api:
        body = {"form": "service-request", "data": valid_data_of(service, subject=LONG_SUBJECT)}
        sent = api.post("/v1/requests", json=body)
        assert sent.status_code == 201, sent.text
    services = build_services(Settings(data_dir=store.folder, session_secret=SECRET), store=store)
    change_status(services.desk, sent.json()["reference"], status, "Agent")
    problems = []
    for language in LANGUAGES:
        for width in (768, 1024, 1280):
            page = open_page(chromium, session, width, f"{address}/{language}/my-requests/")
            page.locator(".table").wait_for()
            name = f"my-requests-long-{language}-{width}"
            page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)
            hidden = page.evaluate("(w => w.scrollWidth - w.clientWidth)(document.querySelector('.table-wrap'))")
            if hidden > 0:
                problems.append(f"{name}: {hidden} px of the table are scrolled out of sight")
            page.context.close()
    assert problems == []


def test_the_header_is_tabbed_through_in_the_order_it_is_read(chromium: Any, server: Server) -> None:
    address, _, session, _ = server
    out_of_order = []
    for language in LANGUAGES:
        for width in (375, 1280):
            page = open_page(chromium, session, width, f"{address}/{language}/service-request/")
            page.locator("[data-signed-in]").wait_for()
            # Each link and button of the header in the order Tab reaches them, with where it is drawn.
            spots = page.evaluate(
                """() => [...document.querySelectorAll('.header a, .header button')]
                     .filter(e => e.offsetParent !== null)
                     .map(e => [e.textContent.trim(), e.getBoundingClientRect().top, e.getBoundingClientRect().left])"""
            )
            # Read as lines top to bottom, each left to right (a line is within half a line's height).
            rows = sorted(spots, key=lambda spot: (round(spot[1] / 12), spot[2]))
            if [name for name, *_ in rows] != [name for name, *_ in spots]:
                out_of_order.append(f"{language} {width}: tabbed {[s[0] for s in spots]}, read {[r[0] for r in rows]}")
            page.context.close()
    assert out_of_order == []


def test_a_reply_on_my_requests_sends_its_files_and_shows_them_in_the_thread(
    chromium: Any, server: Server, tmp_path: Path
) -> None:
    address, store, session, request_id = server
    form = load_catalog().forms[store.requests.get(request_id).form_id]  # type: ignore[union-attr]
    field = next((f for f in form.fields if f.value_kind == "uploads"), None)
    if field is None or "image/png" not in field.schema["x-upload"]["types"]:
        pytest.skip("the request's form takes no PNG files")
    picture = tmp_path / "skjermbilde.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    page = open_page(chromium, session, 1280, f"{address}/nb/my-requests/?id={request_id}")
    page.locator("#reply-form").wait_for(state="visible")
    files = f"#files-{form.id}"
    page.set_input_files(files, str(picture))
    page.locator(f"{files}-list li[data-id]").wait_for()
    page.fill("#body", "Her er skjermbildet.")
    page.reload()  # the reply is kept as a draft, files and all, until it is sent
    page.locator(f"{files}-list li[data-id]").wait_for()
    assert page.locator("#body").input_value() == "Her er skjermbildet."
    page.locator("#reply-send").click()
    sent = page.locator("#detail-thread .thread__message--mine").last
    sent.get_by_text("skjermbilde.png").wait_for()
    assert "Her er skjermbildet." in sent.text_content()
    assert page.locator(f"{files}-list li").count() == 0  # the box is empty again
    page.reload()  # and stays so: the draft went with the reply
    page.locator("#reply-form").wait_for(state="visible")
    assert page.locator("#body").input_value() == "" and page.locator(f"{files}-list li").count() == 0
    page.context.close()
