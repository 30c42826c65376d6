"""Nothing a person types is lost: drafts across reloads, languages, Back, an ended session and
sign-out, kept apart per contact; and a page without JavaScript says what to do instead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import build
from handler.contacts import make_contact
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, CONTACT_TYPES, code_from_outbox, open_session, register
from tests.helpers.browser import SESSION_COOKIE, axe_violations, local_server, session_cookie

pytestmark = pytest.mark.browser

DESK = "servicedesk@example.no"
OTHER = "per.hansen@example.no"
THIRD = "ola.berg@example.no"  # signs out in a test of its own, so the others' codes stay under the limit
TYPED = {
    "service": "data-extract",
    "extract_data": "Innleveringer per klasse",
    "period_from": "2026-01-01",
    "period_to": "2026-06-30",
    "account": "Skole AS",
    "subject": "Rapport for våren",
    "description": "Vi trenger en CSV-fil.\nHelst før fredag.",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalStore]]:
    site = tmp_path_factory.mktemp("drafts-site") / "site"
    build.build(site, desk_email=DESK)
    data_dir = tmp_path_factory.mktemp("drafts-data")
    store = LocalStore(data_dir)
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    store.contacts.put_contact(
        make_contact(OTHER, "Per Hansen", "", "Kunde AS", ["authorized-for-change"], CONTACT_TYPES)
    )
    store.contacts.put_contact(
        make_contact(THIRD, "Ola Berg", "", "Kunde AS", ["authorized-for-change"], CONTACT_TYPES)
    )
    with local_server(site, data_dir) as address:
        yield address, store


SESSIONS: dict[str, dict[str, Any]] = {}  # one code per contact for the whole module: codes are rate-limited


def session_for(server: tuple[str, LocalStore], email: str) -> dict[str, Any]:
    if email in SESSIONS:
        return SESSIONS[email]
    address, store = server
    with httpx.Client(base_url=address) as api:
        SESSIONS[email] = open_session(api, store.folder / "outbox", email)
    return SESSIONS[email]


@pytest.fixture
def tab(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser. A test marked ``axe`` may inject axe-core, which the pages' policy forbids."""
    context = chromium.new_context(locale="nb-NO", bypass_csp=request.node.get_closest_marker("axe") is not None)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def sign_in_as(page: Any, address: str, session: dict[str, Any]) -> None:
    """The tab holds ``session``, as after signing in on the sign-in page."""
    page.goto(f"{address}/nb/sign-in/")
    page.context.add_cookies([session_cookie(session["token"])])
    shown = {"expiresAt": session["expiresAt"], "contact": session["contact"]}
    page.evaluate("s => localStorage.setItem('servicedesk-forms-session', JSON.stringify(s))", shown)


def open_form(page: Any, address: str, language: str = "nb") -> None:
    page.goto(f"{address}/{language}/service-request/")
    page.locator("#request-form").wait_for()


def type_in(page: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        if name == "service":
            page.check(f"input[name=service][value={value}]")
        else:
            page.fill(f"#{name}", value)


def on_page(page: Any) -> dict[str, str]:
    """What the form shows, field by field, for the fields of ``TYPED``."""
    chosen = page.evaluate("(document.querySelector('input[name=service]:checked') || {}).value || ''")
    return {name: chosen if name == "service" else page.locator(f"#{name}").input_value() for name in TYPED}


def shown_groups(page: Any) -> list[str]:
    return [g.get_attribute("data-field") for g in page.locator("#request-form [data-field]:visible").all()]


def stored_with_subject(store: LocalStore, subject: str) -> list[Any]:
    found = (store.requests.get(request_id) for request_id in store.requests.document_ids())
    return [s for s in found if s is not None and s.data.get("subject") == subject]


def test_a_reload_keeps_everything_typed_and_shows_the_chosen_service_s_fields(
    tab: Any, server: tuple[str, LocalStore]
) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    type_in(tab, TYPED)
    tab.reload()
    tab.locator("#draft-restored").wait_for()
    assert on_page(tab) == TYPED
    assert "extract_data" in shown_groups(tab) and "feature_name" not in shown_groups(tab)
    assert "Vi har tatt vare på det du skrev sist" in tab.locator("#draft-restored").text_content()


def test_the_draft_follows_the_person_to_the_other_language(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address, "nb")
    type_in(tab, TYPED)
    tab.get_by_role("link", name="English").click()
    tab.wait_for_url("**/en/service-request/")
    tab.locator("#draft-restored").wait_for()
    assert on_page(tab) == TYPED
    assert tab.get_by_label("Which data or report?").input_value() == TYPED["extract_data"]
    tab.get_by_role("link", name="Norsk bokmål").click()
    tab.wait_for_url("**/nb/service-request/")
    tab.locator("#draft-restored").wait_for()
    assert on_page(tab) == TYPED


def test_after_sending_back_shows_a_consistent_form_and_the_draft_is_gone(
    tab: Any, server: tuple[str, LocalStore]
) -> None:
    address, store = server
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    subject = "Sendt og så tilbake"
    type_in(tab, {**TYPED, "subject": subject})
    tab.get_by_role("button", name="Send forespørsel").click()
    tab.locator("#receipt-reference").wait_for(state="visible")
    tab.get_by_role("link", name="Mine forespørsler").last.click()
    tab.wait_for_url("**/my-requests/")
    tab.go_back()
    tab.wait_for_url("**/service-request/")
    tab.wait_for_timeout(200)
    if tab.locator("#request-form").is_visible():
        chosen = tab.evaluate("(document.querySelector('input[name=service]:checked') || {}).value || ''")
        assert chosen == "" or ("extract_data" in shown_groups(tab)) == (chosen == "data-extract")
    tab.goto(f"{address}/nb/service-request/")
    tab.locator("#request-form").wait_for()
    assert tab.locator("#draft-restored").is_hidden()
    assert tab.locator("#subject").input_value() == ""
    assert len(stored_with_subject(store, subject)) == 1


@pytest.mark.axe
def test_an_ended_session_keeps_the_form_and_sends_once_after_signing_in_again(
    tab: Any, server: tuple[str, LocalStore]
) -> None:
    address, store = server
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    subject = "Sendes etter ny innlogging"
    type_in(tab, {**TYPED, "subject": subject})
    # The server no longer knows the session (as after its key is rotated): its signature is now wrong.
    break_session(tab)
    tab.get_by_role("button", name="Send forespørsel").click()
    summary = tab.locator("#error-summary")
    summary.wait_for(state="visible")
    assert "økten din er utløpt" in summary.text_content()
    assert tab.title().startswith("Feil: ")
    assert tab.locator("#site-account [data-signed-out]").is_visible()  # the header tells the truth
    assert on_page(tab) == {**TYPED, "subject": subject}  # nothing typed is lost
    assert axe_violations(tab) == []

    summary.get_by_role("link").click()
    tab.wait_for_url("**/sign-in/**")
    tab.get_by_label("E-postadresse").fill(AUTHORIZED)
    tab.get_by_role("button", name="Send kode").click()
    tab.get_by_label("Engangskode").fill(code_from_outbox(store.folder / "outbox", AUTHORIZED))
    tab.get_by_role("button", name="Logg inn", exact=True).click()
    tab.wait_for_url("**/nb/service-request/")
    tab.locator("#draft-restored").wait_for()
    assert on_page(tab) == {**TYPED, "subject": subject}
    tab.get_by_role("button", name="Send forespørsel").click()
    tab.locator("#receipt-reference").wait_for(state="visible")
    (stored,) = stored_with_subject(store, subject)
    assert stored.data == {**TYPED, "subject": subject}


def test_signing_out_removes_the_draft(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    type_in(tab, TYPED)
    tab.wait_for_timeout(400)  # the draft is saved a moment after typing
    tab.get_by_role("button", name="Logg ut").click()
    tab.locator("#site-account [data-signed-out]").wait_for()
    SESSIONS.pop(AUTHORIZED)  # signing out ended the contact's sessions on the server too
    assert tab.evaluate("Object.keys(localStorage).filter(k => k.startsWith('servicedesk-forms-draft:'))") == []
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    assert tab.locator("#draft-restored").is_hidden() and tab.locator("#subject").input_value() == ""


def test_one_contact_never_sees_another_contact_s_draft(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    type_in(tab, TYPED)
    tab.wait_for_timeout(400)
    # The first contact's session ends without signing out; someone else signs in on the same browser.
    sign_in_as(tab, address, session_for(server, OTHER))
    open_form(tab, address)
    assert tab.locator("#draft-restored").is_hidden()
    assert tab.locator("#subject").input_value() == ""
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    tab.locator("#draft-restored").wait_for()
    assert on_page(tab) == TYPED


def drafts(page: Any) -> dict[str, Any]:
    """Every draft this browser keeps, by its key's owner ("" for a draft typed with nobody signed in)."""
    stored = page.evaluate(
        "Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith('servicedesk-forms-draft:'))"
        ".map(k => [k.split(':').pop(), JSON.parse(localStorage.getItem(k))]))"
    )
    return dict(stored)


def expire_session(page: Any) -> None:
    """The session's eight hours are up, as the tab sees it."""
    page.evaluate(
        "() => { const k = 'servicedesk-forms-session'; const s = JSON.parse(localStorage.getItem(k));"
        " s.expiresAt = new Date(Date.now() - 1000).toISOString(); localStorage.setItem(k, JSON.stringify(s)); }"
    )


def break_session(page: Any) -> None:
    """The server no longer knows the session (its key rotated, or it was ended there): its signature is wrong."""
    (cookie,) = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    page.context.add_cookies([session_cookie(cookie["value"][:-4] + "AAAA")])


def assert_only_the_owner_gets_it_back(
    page: Any, address: str, server: tuple[str, LocalStore], typed: dict[str, str]
) -> None:
    """The next person on this browser finds an empty form; the contact who typed it finds it again."""
    assert "" not in drafts(page)  # never kept as a draft of nobody's
    sign_in_as(page, address, session_for(server, OTHER))
    open_form(page, address)
    assert page.locator("#draft-restored").is_hidden() and page.locator("#subject").input_value() == ""
    sign_in_as(page, address, session_for(server, AUTHORIZED))
    open_form(page, address)
    page.locator("#draft-restored").wait_for()
    assert on_page(page) == typed


@pytest.mark.parametrize("ending", ["refused on Send", "expired, then a keystroke", "ended on the server"])
def test_a_draft_stays_with_its_contact_however_the_session_ends(
    tab: Any, server: tuple[str, LocalStore], ending: str
) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    typed = {**TYPED, "subject": f"Utkast: {ending}"}
    type_in(tab, {**typed, "subject": typed["subject"][:-1]})
    if ending == "expired, then a keystroke":
        expire_session(tab)
        tab.fill("#subject", typed["subject"])
    else:
        break_session(tab)
        tab.fill("#subject", typed["subject"])
        if ending == "refused on Send":
            tab.get_by_role("button", name="Send forespørsel").click()
            tab.locator("#error-summary").wait_for(state="visible")
        else:  # the header's own call finds the session gone
            tab.reload()
            tab.locator("#request-form").wait_for()
    tab.wait_for_timeout(400)
    assert_only_the_owner_gets_it_back(tab, address, server, typed)


def test_signing_out_in_another_tab_leaves_no_draft_behind(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, THIRD))
    open_form(tab, address)
    type_in(tab, TYPED)
    other = tab.context.new_page()
    open_form(other, address)
    other.get_by_role("button", name="Logg ut").click()
    other.locator("#site-account [data-signed-out]").wait_for()
    SESSIONS.pop(THIRD)  # signing out ended the contact's sessions on the server too
    tab.fill("#subject", TYPED["subject"] + " og mer")  # the first tab goes on typing
    tab.wait_for_timeout(400)
    tab.evaluate("window.dispatchEvent(new Event('pagehide'))")
    assert drafts(tab) == {}
    sign_in_as(tab, address, session_for(server, OTHER))
    open_form(tab, address)
    assert tab.locator("#draft-restored").is_hidden() and tab.locator("#subject").input_value() == ""


def test_a_page_opened_for_one_contact_never_sends_as_the_next(tab: Any, server: tuple[str, LocalStore]) -> None:
    address, store = server
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    subject = "Skrevet av Kari"
    type_in(tab, {**TYPED, "subject": subject})
    other = tab.context.new_page()  # Per signs in in another tab of the same browser
    sign_in_as(other, address, session_for(server, OTHER))
    tab.get_by_role("button", name="Send forespørsel").click()
    tab.locator("#error-summary").wait_for(state="visible")
    assert stored_with_subject(store, subject) == []


def test_what_was_typed_with_nobody_signed_in_is_offered_saying_so(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    open_form(tab, address)
    type_in(tab, TYPED)
    tab.wait_for_timeout(400)
    assert list(drafts(tab)) == [""]
    sign_in_as(tab, address, session_for(server, OTHER))
    open_form(tab, address)
    notice = tab.locator("#draft-restored")
    notice.wait_for()
    assert "Du er logget inn som Per Hansen" in notice.text_content() and "før noen logget inn" in notice.text_content()
    assert on_page(tab) == TYPED


def test_a_draft_older_than_a_week_is_not_offered(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    type_in(tab, TYPED)
    tab.goto(f"{address}/nb/my-requests/")  # the form saves its draft as the page is left
    tab.evaluate(
        "() => { for (const k of Object.keys(localStorage).filter(k => k.startsWith('servicedesk-forms-draft:'))) {"
        " const d = JSON.parse(localStorage.getItem(k)); d.savedAt -= 8 * 86400000;"
        " localStorage.setItem(k, JSON.stringify(d)); } }"
    )
    open_form(tab, address)
    assert tab.locator("#draft-restored").is_hidden() and tab.locator("#subject").input_value() == ""
    assert drafts(tab) == {}


def test_the_clear_action_empties_the_form_and_the_draft(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    type_in(tab, TYPED)
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    tab.on("dialog", answer)
    tab.get_by_role("button", name="Tøm skjemaet").click()  # asked first; "no" keeps everything
    assert on_page(tab) == TYPED
    tab.get_by_role("button", name="Tøm skjemaet").click()
    assert asked == ["Vil du tømme skjemaet? Det du har skrevet og lastet opp, blir borte."] * 2
    assert tab.locator("#subject").input_value() == "" and shown_groups(tab)[:2] == ["cc", "service"]
    tab.reload()
    tab.locator("#request-form").wait_for()
    assert tab.locator("#draft-restored").is_hidden() and tab.locator("#description").input_value() == ""


def test_a_second_tab_edited_after_the_first_sent_can_send_its_edit_as_a_new_request(
    tab: Any, server: tuple[str, LocalStore]
) -> None:
    address, store = server
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    type_in(tab, {**TYPED, "subject": "Første fane"})
    tab.wait_for_timeout(400)
    second = tab.context.new_page()  # the same draft, with the same idempotency key
    open_form(second, address)
    second.locator("#draft-restored").wait_for()
    tab.get_by_role("button", name="Send forespørsel").click()
    first = tab.locator("#receipt-reference")
    first.wait_for(state="visible")
    second.fill("#subject", "Andre fane, endret")
    second.get_by_role("button", name="Send forespørsel").click()
    summary = second.locator("#error-summary")
    summary.wait_for(state="visible")
    assert f"allerede sendt som {first.text_content()}" in summary.text_content()
    assert second.locator("#subject").input_value() == "Andre fane, endret"  # the edit is kept
    second.get_by_role("button", name="Send som ny forespørsel").click()
    second.locator("#receipt-reference").wait_for(state="visible")
    assert second.locator("#receipt-reference").text_content() != first.text_content()
    assert len(stored_with_subject(store, "Første fane")) == len(stored_with_subject(store, "Andre fane, endret")) == 1


@pytest.mark.parametrize("path", ["service-request", "sign-in", "my-requests"])
def test_without_javascript_the_page_says_what_to_do_and_offers_no_dead_button(
    chromium: Any, server: tuple[str, LocalStore], path: str
) -> None:
    context = chromium.new_context(locale="nb-NO", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server[0]}/nb/{path}/")
    notice = page.locator(".notice--warning:visible").first
    assert "JavaScript" in notice.text_content()
    assert page.get_by_role("link", name=DESK).get_attribute("href") == f"mailto:{DESK}"
    assert [b for b in page.locator("main button").all() if b.is_visible()] == []
    context.close()


def test_the_page_model_never_holds_a_session(server: tuple[str, LocalStore], tmp_path: Path) -> None:
    html = httpx.get(f"{server[0]}/nb/service-request/").text
    model = html.split('<script type="application/json" id="page-model">')[1].split("</script>")[0]
    assert "token" not in json.loads(model)


def test_a_new_tab_of_the_same_browser_is_signed_in_too(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    second = tab.context.new_page()
    second.goto(f"{address}/nb/service-request/")
    second.locator("#site-account [data-signed-in]").wait_for()
    assert "Kari Nordmann" in second.locator("#site-account").text_content()
    assert second.locator("#sign-in-needed").is_hidden()


def test_the_page_warns_before_the_session_ends_with_the_minutes_left(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    soon = dict(session_for(server, AUTHORIZED))
    soon["expiresAt"] = tab.evaluate("new Date(Date.now() + 4 * 60 * 1000).toISOString()")
    sign_in_as(tab, address, soon)
    open_form(tab, address)
    warning = tab.locator("#session-ending")
    warning.wait_for(state="visible")
    assert "Du blir logget ut om 4 min." in warning.text_content()
    assert (
        warning.get_by_role("link", name="Logg inn på nytt nå")
        .get_attribute("href")
        .endswith("sign-in/?next=service-request")
    )


def test_the_header_says_signed_out_once_the_session_s_time_is_up(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    ending = dict(session_for(server, AUTHORIZED))
    ending["expiresAt"] = tab.evaluate("new Date(Date.now() + 3000).toISOString()")
    sign_in_as(tab, address, ending)
    open_form(tab, address)
    assert tab.locator("#site-account [data-signed-in]").is_visible()
    tab.locator("#site-account [data-signed-out]").wait_for(state="visible", timeout=10000)
    assert tab.locator("#site-account [data-signed-in]").is_hidden()


def test_sending_without_ever_signing_in_asks_to_sign_in_not_that_a_session_expired(
    tab: Any, server: tuple[str, LocalStore]
) -> None:
    address = server[0]
    open_form(tab, address)
    type_in(tab, TYPED)
    tab.get_by_role("button", name="Send forespørsel").click()
    summary = tab.locator("#error-summary")
    summary.wait_for(state="visible")
    assert "Logg inn for å sende forespørselen" in summary.text_content()
    assert "utløpt" not in summary.text_content()


def test_one_character_is_counted_as_one(tab: Any, server: tuple[str, LocalStore]) -> None:
    address = server[0]
    open_form(tab, address, "en")
    limit = int(tab.locator("#subject-count").get_attribute("data-limit"))
    tab.fill("#subject", "x" * (limit - 1))
    tab.locator("#subject-count").filter(has_text="You have 1 character remaining").wait_for()
    tab.fill("#subject", "x" * (limit + 1))
    tab.locator("#subject-count").filter(has_text="You have 1 character too many").wait_for()


def test_a_send_that_meets_the_same_request_still_being_stored_asks_again_and_shows_the_receipt(
    tab: Any, server: tuple[str, LocalStore]
) -> None:
    address, store = server
    sign_in_as(tab, address, session_for(server, AUTHORIZED))
    open_form(tab, address)
    subject = "Lagres akkurat nå"
    type_in(tab, {**TYPED, "subject": subject})
    told: list[str] = []

    def still_storing(route: Any) -> None:  # the first answer: the same key is being committed by another tab
        if told:
            route.continue_()
            return
        told.append(route.request.headers["idempotency-key"])
        body = {"type": "about:blank", "title": "Conflict", "status": 409, "code": "idempotency_in_progress"}
        route.fulfill(status=409, headers={"Retry-After": "1"}, content_type="application/problem+json", json=body)

    tab.route("**/v1/requests", still_storing)
    tab.get_by_role("button", name="Send forespørsel").click()
    tab.locator("#receipt-reference").wait_for(state="visible")
    assert len(told) == 1 and len(stored_with_subject(store, subject)) == 1


def test_signing_in_on_the_page_leaves_no_token_a_script_can_read(tab: Any, server: tuple[str, LocalStore]) -> None:
    address, store = server
    tab.goto(f"{address}/nb/sign-in/")
    tab.get_by_label("E-postadresse").fill(THIRD)
    tab.get_by_role("button", name="Send kode").click()
    tab.get_by_label("Engangskode").fill(code_from_outbox(store.folder / "outbox", THIRD))
    tab.get_by_role("button", name="Logg inn", exact=True).click()
    tab.locator("#site-account [data-signed-in]").wait_for()
    (cookie,) = [c for c in tab.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    readable = tab.evaluate(
        "() => document.cookie + JSON.stringify(Object.entries(localStorage))"
        " + JSON.stringify(Object.entries(sessionStorage))"
    )
    assert cookie["value"] not in readable and "token" not in readable and SESSION_COOKIE not in readable
    open_form(tab, address)  # and the page is signed in with it
    assert tab.locator("#sign-in-needed").is_hidden()
