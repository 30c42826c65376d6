"""Signing in through the organization's OpenID provider, against a provider on 127.0.0.1 that bends its answers
on demand (tests/helpers/fake_idp.py): the registered contact gets a cookie session and goes back where they were;
every answer that should not sign anyone in (another issuer, audience, nonce or tenant, an expired token, a key
the provider does not publish, an unverified address, a replayed state, a way out to another site) is refused
and explained on the sign-in page in its language."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.settings import Settings
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, SECRET, register
from tests.helpers.clock import NOW, Clock
from tests.helpers.fake_idp import TENANT, FakeIdp, fake_idp

SITE = "https://testserver"
COOKIE, LOGIN = "__Host-sdf-session", "__Host-sdf-login"


@pytest.fixture
def idp() -> Iterator[FakeIdp]:
    with fake_idp() as fake:
        fake.person = {"email": AUTHORIZED, "email_verified": True, "name": "Kari Nordmann"}
        yield fake


@pytest.fixture
def site(tmp_path: Path, idp: FakeIdp, store: LocalStore) -> Iterator[TestClient]:
    """The site and API on one origin, with the two providers declared; a browser that keeps cookies."""
    declared = tmp_path / "providers.json"
    declared.write_text(json.dumps([idp.provider(), idp.provider(multi_tenant=True)]))
    clock = Clock(NOW)
    idp.clock = lambda: clock().timestamp()
    settings = Settings(
        data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0, sso_providers=str(declared)
    )
    register(store.contacts, AUTHORIZED, "authorized-for-change")  # of Kunde AS
    with TestClient(create_app(settings, store=store, clock=clock), base_url=SITE) as browser:
        yield browser


def sign_in(site: TestClient, provider: str, next_path: str = "/en/service-request/") -> tuple[str, dict[str, Any]]:
    """Leave for the provider, sign in there, come back: where the site sends the browser, and what it says."""
    leaving = site.get(f"/v1/session/sso/{provider}", params={"next": next_path}, follow_redirects=False)
    assert leaving.status_code == 302, leaving.text
    at_provider = httpx.get(leaving.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    assert f"{SITE}{back.path}" == f"{SITE}/v1/session/sso/callback"
    landed = site.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert landed.status_code == 302
    where = urlsplit(landed.headers["location"])
    return where.path, {k: v[0] for k, v in parse_qs(where.query).items()}


@pytest.mark.parametrize("provider", ["single", "entra"])
def test_the_contact_signs_in_with_the_organization_s_account_and_goes_back(site: TestClient, provider: str) -> None:
    assert [p["id"] for p in site.get("/v1/session/sso").json()["providers"]] == ["single", "entra"]
    path, said = sign_in(site, provider)
    assert (path, said) == ("/en/sign-in/", {"sso": "done", "next": "/en/service-request/"})
    assert site.cookies.get(COOKIE) and not site.cookies.get(LOGIN)
    session = site.get("/v1/session").json()
    assert session["contact"]["email"] == AUTHORIZED and session["expiresAt"]


def test_the_provider_s_address_asks_for_the_code_flow_with_pkce_state_and_nonce(site: TestClient) -> None:
    leaving = site.get("/v1/session/sso/single", params={"next": "/nb/my-requests/"}, follow_redirects=False)
    asked = {k: v[0] for k, v in parse_qs(urlsplit(leaving.headers["location"]).query).items()}
    assert asked["response_type"] == "code" and asked["response_mode"] == "query"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and asked["state"] != asked["nonce"]
    cookie = leaving.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN}=") and "HttpOnly" in cookie and "Secure" in cookie and "Path=/" in cookie
    assert asked["state"] not in cookie  # the login is signed, not readable as is


BENT: dict[str, tuple[dict[str, Any], str]] = {
    "issuer": ({"iss": "https://someone-else.example"}, "issuer"),
    "audience": ({"aud": "another-client"}, "audience"),
    "nonce": ({"nonce": "another-login"}, "nonce"),
    "expired": ({"exp": int(NOW.timestamp()) - 3600}, "expired"),
    "unverified": ({"email_verified": False}, "email"),
    "no address": ({"email": None}, "email"),
    "another tenant": ({"tid": "tenant-b"}, "tenant"),
}


@pytest.mark.parametrize("case", sorted(BENT))
def test_an_id_token_that_should_not_sign_anyone_in_is_refused(site: TestClient, idp: FakeIdp, case: str) -> None:
    claims, reason = BENT[case]
    idp.bend = claims
    path, said = sign_in(site, "entra" if case == "another tenant" else "single", "/nb/my-requests/")
    assert (path, said) == ("/nb/sign-in/", {"sso": reason, "next": "/nb/my-requests/"})
    assert not site.cookies.get(COOKIE)
    assert site.get("/v1/session").status_code == 401


def test_an_address_only_userinfo_gives_is_taken_as_feide_gives_it(site: TestClient, idp: FakeIdp) -> None:
    idp.bend = {"email": None, "email_verified": None}
    idp.userinfo = {"email": AUTHORIZED.upper()}
    assert sign_in(site, "single")[1]["sso"] == "done"
    assert site.get("/v1/session").json()["contact"]["email"] == AUTHORIZED


def test_the_person_signs_in_as_the_same_contact_after_their_address_changes_at_the_provider(
    site: TestClient, idp: FakeIdp, store: LocalStore
) -> None:
    assert sign_in(site, "single")[1]["sso"] == "done"  # linked: this subject is Kari's registration
    idp.bend = {"sub": f"subject-of-{AUTHORIZED}", "email": "kari.nytt.navn@example.no"}
    assert sign_in(site, "single")[1]["sso"] == "done"
    assert site.get("/v1/session").json()["contact"]["email"] == AUTHORIZED
    # The address removed and registered again (for whomever): the old link is void, the address decides.
    store.contacts.remove_contact(AUTHORIZED)
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    site.cookies.clear()
    idp.bend = {"sub": f"subject-of-{AUTHORIZED}", "email": "kari.nytt.navn@example.no"}
    assert sign_in(site, "single")[1]["sso"] == "not_authorized"


def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(site: TestClient, idp: FakeIdp) -> None:
    idp.sign_with_stranger = True
    assert sign_in(site, "single")[1]["sso"] == "token"
    assert not site.cookies.get(COOKIE)


def test_a_person_who_is_not_a_contact_of_the_organization_is_not_signed_in(
    site: TestClient, idp: FakeIdp, store: LocalStore
) -> None:
    idp.person = {"email": "ola@kunde.example", "email_verified": True}
    assert sign_in(site, "single")[1]["sso"] == "not_authorized"
    # A contact of another organization, with the same provider: the same answer.
    other = register(store.contacts, "per@annen.example", "authorized-for-change")
    store.contacts.put_contact(type(other)(**{**other.__dict__, "organization": "Annen AS"}))
    idp.person = {"email": "per@annen.example", "email_verified": True}
    assert sign_in(site, "single")[1]["sso"] == "not_authorized"
    assert not site.cookies.get(COOKIE)


def test_a_replayed_state_or_a_foreign_login_is_refused(site: TestClient) -> None:
    leaving = site.get("/v1/session/sso/single", follow_redirects=False)
    back = urlsplit(httpx.get(leaving.headers["location"], follow_redirects=False).headers["location"])
    first = site.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert parse_qs(urlsplit(first.headers["location"]).query)["sso"] == ["done"]
    site.cookies.delete(COOKIE)
    again = site.get(f"{back.path}?{back.query}", follow_redirects=False)  # the same answer, once more
    assert parse_qs(urlsplit(again.headers["location"]).query)["sso"] == ["state"]
    assert not site.cookies.get(COOKIE)
    # An answer naming another provider (RFC 9207's iss): a mix-up, refused.
    site.get("/v1/session/sso/single", follow_redirects=False)
    login = site.cookies.get(LOGIN)
    assert login
    leaving = site.get("/v1/session/sso/single", follow_redirects=False)
    back = urlsplit(httpx.get(leaving.headers["location"], follow_redirects=False).headers["location"])
    mixed = site.get(f"{back.path}?{back.query}&iss=https://other.example", follow_redirects=False)
    assert parse_qs(urlsplit(mixed.headers["location"]).query)["sso"] == ["issuer"]
    # Another login's state with this browser's login: refused too.
    site.get("/v1/session/sso/single", follow_redirects=False)
    forged = site.get("/v1/session/sso/callback?code=x&state=someone-elses", follow_redirects=False)
    assert parse_qs(urlsplit(forged.headers["location"]).query)["sso"] == ["state"]


@pytest.mark.parametrize(
    "wanted", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "/nb/../../x"]
)
def test_the_way_back_is_always_a_page_of_this_site(site: TestClient, wanted: str) -> None:
    path, said = sign_in(site, "single", wanted)
    assert path == "/nb/sign-in/" and said == {"sso": "done", "next": "/nb/my-requests/"}


def test_the_provider_saying_no_and_an_unknown_provider(site: TestClient) -> None:
    refused = site.get("/v1/session/sso/callback?error=access_denied", follow_redirects=False)
    assert parse_qs(urlsplit(refused.headers["location"]).query)["sso"] == ["denied"]
    assert site.get("/v1/session/sso/nobody", follow_redirects=False).status_code == 404


def test_without_providers_the_page_offers_none(client: TestClient) -> None:
    assert client.get("/v1/session/sso").json() == {"providers": []}
    assert client.get("/v1/session/sso/single", follow_redirects=False).status_code == 404
    assert TENANT  # the multi-tenant provider's tenant is declared in tests/helpers/fake_idp.py
