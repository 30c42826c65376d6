"""Signing in with the organization's own account, in Chromium, against a real OpenID provider (panva's
oidc-provider on 127.0.0.1, tests/idp/): the sign-in page offers each organization's button, the person signs in
on the provider's page and consents, comes back signed in with the session in an HttpOnly cookie no script can
read, and sends a request; a person who is not a registered contact, or who cancels at the provider, is told so
in the page's language.
tests/api/test_sso.py checks the client's every refusal against a provider that bends its answers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handler.schema.loader import load_catalog
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, register
from tests.helpers.browser import SESSION_COOKIE, axe_violations, fill, local_server
from tests.helpers.shipped import valid_data
from tests.idp import PEOPLE, TENANT, Idp, declaration, idp_missing, running_idp

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/sso-shots")
COMMON = load_catalog().common
LABELS = {  # each organization's button, by language
    "single": {"nb": "Logg inn med Kunde AS-kontoen", "en": "Sign in with your Kunde AS account"},
    "entra": {"nb": "Logg inn med Microsoft-kontoen i Kunde AS", "en": "Sign in with your Kunde AS Microsoft account"},
}
KARI, OUTSIDER = "kari", "ola"  # login names on the provider's page: a registered contact, and someone who is not
assert PEOPLE[KARI]["email"] == AUTHORIZED


@dataclass
class Site:
    address: str
    store: LocalStore
    idp: Idp


@pytest.fixture(scope="module")
def site(built_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The site and API with both organizations' providers declared, and the provider, for the module."""
    idp_missing()
    data_dir = tmp_path_factory.mktemp("sso-data")
    store = LocalStore(data_dir)
    register(store.contacts, AUTHORIZED, "authorized-for-change")  # a contact of Kunde AS
    declared = tmp_path_factory.mktemp("sso") / "providers.json"
    # The provider's port is in the declaration the server reads at start, and the server's address in the
    # provider's client: the port is held (bound, not listening) until the server has taken one of its own.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        declared.write_text(json.dumps([declaration(url, key == "entra", label=name) for key, name in LABELS.items()]))
        with local_server(built_site, data_dir, {"SDF_SSO_PROVIDERS": str(declared)}) as address:
            held.close()
            with running_idp(port, f"{address}/v1/session/sso/callback") as idp:
                yield Site(address, store, idp)


@pytest.fixture
def tab(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser, signed in nowhere. A test marked ``axe`` may inject axe-core, which the pages' policy
    forbids."""
    context = chromium.new_context(locale="nb-NO", bypass_csp=request.node.get_closest_marker("axe") is not None)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def open_sign_in(tab: Any, site: Site, language: str) -> Any:
    """The sign-in page, on the way to "my requests", once it shows the organizations' buttons."""
    tab.goto(f"{site.address}/{language}/sign-in/?next=my-requests")
    button = tab.get_by_role("link", name=LABELS["single"][language], exact=True)
    button.wait_for()
    return button


def sign_in_at_provider(tab: Any, site: Site, login: str) -> None:
    """On the provider's own pages: log in with the login name and any password, then consent."""
    tab.wait_for_url(f"{site.idp.url}/**")
    tab.locator("input[name=login]").fill(login)
    tab.locator("input[name=password]").fill("any password")
    tab.get_by_role("button", name="Sign-in").click()
    tab.get_by_role("button", name="Continue").click()  # the consent page: openid, email, profile


def screenshots(tab: Any, name: str) -> None:
    """The page as it is now, at a phone's width and a desktop's, in /tmp/sso-shots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (375, 1280):
        tab.set_viewport_size({"width": width, "height": 800})
        tab.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


@pytest.mark.axe
@pytest.mark.parametrize("language", ["nb", "en"])
def test_the_sign_in_page_offers_each_organization_s_button(tab: Any, site: Site, language: str) -> None:
    open_sign_in(tab, site, language)
    sso = tab.locator("#sso")
    assert sso.get_by_role("heading", name=COMMON[language]["signIn"]["ssoHeading"]).is_visible()
    buttons = sso.get_by_role("link")
    assert buttons.all_text_contents() == [LABELS["single"][language], LABELS["entra"][language]]
    assert [b.get_attribute("href") for b in buttons.all()] == [
        f"/v1/session/sso/{key}?next=%2F{language}%2Fmy-requests%2F" for key in LABELS
    ]
    assert tab.locator("#email-step").is_visible()  # the code by e-mail is still there
    assert axe_violations(tab) == []
    screenshots(tab, f"sign-in-{language}")


@pytest.mark.parametrize("width", [375, 1280])
def test_each_organization_s_button_is_one_box_clear_of_the_others(tab: Any, site: Site, width: int) -> None:
    tab.set_viewport_size({"width": width, "height": 800})
    open_sign_in(tab, site, "nb")
    boxes = tab.evaluate(
        """() => [...document.querySelectorAll('#sso-providers a')].map(a => {
             const r = a.getBoundingClientRect();
             return {pieces: a.getClientRects().length, top: r.top, bottom: r.bottom, left: r.left, right: r.right};
           })"""
    )
    assert [b["pieces"] for b in boxes] == [1, 1]
    first, second = boxes
    assert (
        first["bottom"] <= second["top"]
        or second["bottom"] <= first["top"]
        or first["right"] <= second["left"]
        or second["right"] <= first["left"]
    )


def test_a_person_who_cancels_at_the_provider_is_told_so(tab: Any, site: Site) -> None:
    open_sign_in(tab, site, "nb").click()
    tab.wait_for_url(f"{site.idp.url}/**")
    tab.get_by_role("link", name="[ Cancel ]").click()
    tab.wait_for_url(f"{site.address}/nb/sign-in/?sso=denied&next=%2Fnb%2Fmy-requests%2F")
    summary = tab.locator("#error-summary")
    summary.wait_for(state="visible")
    assert COMMON["nb"]["signIn"]["ssoDenied"] in summary.text_content()
    assert SESSION_COOKIE not in {c["name"] for c in tab.context.cookies(site.address)}


@pytest.mark.parametrize("organization", ["single", "entra"])
def test_a_contact_signs_in_with_the_organization_s_account_and_sends_a_request(
    tab: Any, site: Site, organization: str
) -> None:
    mark = len(site.idp.lines())
    open_sign_in(tab, site, "nb")
    tab.get_by_role("link", name=LABELS[organization]["nb"], exact=True).click()
    sign_in_at_provider(tab, site, KARI)
    tab.wait_for_url(f"{site.address}/nb/my-requests/")
    name = tab.locator("#site-account [data-name]")
    name.wait_for()
    assert name.text_content() == COMMON["nb"]["account"]["signedInAs"].replace("{name}", "Kari Nordmann")

    # The client exchanged the code at the organization's token endpoint; the single-tenant provider gives the
    # address from userinfo only (as OpenID Connect has it for the code flow), the Entra-like one in the ID token.
    base = "/single" if organization == "single" else f"/{TENANT}/v2.0"
    asked = site.idp.asked_since(mark)
    assert f"GET {base}/auth" in asked and f"POST {base}/token" in asked
    assert (f"GET {base}/me" in asked) == (organization == "single")

    # The session is in an HttpOnly cookie: no script of the page can read the token.
    cookies = {c["name"]: c for c in tab.context.cookies(site.address)}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    assert "__Host-sdf-login" not in cookies  # the login under way is over
    readable = tab.evaluate(
        """() => [document.cookie, JSON.stringify(Object.entries(localStorage)),
                  JSON.stringify(Object.entries(sessionStorage))].join('\\n')"""
    )
    assert session["value"] not in readable and SESSION_COOKIE not in readable
    assert "token" not in json.loads(tab.evaluate("localStorage.getItem('servicedesk-forms-session')"))

    # A request sent through the form…
    data = valid_data(subject=f"Sendt etter innlogging med {organization}")
    tab.goto(f"{site.address}/nb/service-request/")
    tab.locator("#request-form").wait_for()
    fill(tab, data)
    tab.get_by_role("button", name="Send forespørsel").click()
    tab.locator("#receipt-reference").wait_for(state="visible")
    # …and through the API as the page calls it, with the cookie.
    answer = tab.evaluate(
        """async (data) => {
             const answer = await fetch('/v1/requests', {method: 'POST', credentials: 'same-origin',
               headers: {'Content-Type': 'application/json', 'X-Requested-With': 'servicedesk-forms'},
               body: JSON.stringify({form: 'service-request', data})});
             return {status: answer.status, body: await answer.json()};
           }""",
        valid_data(subject=f"Sendt fra siden med {organization}"),
    )
    assert answer["status"] == 201, answer
    stored = [s for i in site.store.requests.document_ids() if (s := site.store.requests.get(i)) is not None]
    mine = {s.data["subject"]: s for s in stored if organization in s.data["subject"]}
    assert set(mine) == {f"Sendt etter innlogging med {organization}", f"Sendt fra siden med {organization}"}
    assert all(s.requester == AUTHORIZED for s in mine.values())


@pytest.mark.axe
@pytest.mark.parametrize("language", ["nb", "en"])
def test_a_person_who_is_not_a_registered_contact_is_told_so(tab: Any, site: Site, language: str) -> None:
    open_sign_in(tab, site, language)
    tab.get_by_role("link", name=LABELS["entra" if language == "en" else "single"][language], exact=True).click()
    sign_in_at_provider(tab, site, OUTSIDER)
    tab.wait_for_url(f"{site.address}/{language}/sign-in/?sso=not_authorized&next=%2F{language}%2Fmy-requests%2F")
    summary = tab.locator("#error-summary")
    summary.wait_for(state="visible")
    assert COMMON[language]["signIn"]["ssoNotAuthorized"] in summary.text_content()
    tab.get_by_role("link", name=LABELS["single"][language], exact=True).wait_for()  # to try again
    assert tab.locator("#site-account [data-signed-in]").is_hidden()
    assert SESSION_COOKIE not in {c["name"] for c in tab.context.cookies(site.address)}
    assert tab.evaluate("fetch('/v1/session').then(a => a.status)") == 401
    assert axe_violations(tab) == []
    screenshots(tab, f"not-authorized-{language}")
