"""The page's session as an HttpOnly cookie on the site's own origin: set by signing in from the page, sent by the
browser with every call, refused for a change that another site's page forged, and forgotten on signing out.
API clients keep their bearer tokens."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, code_from_outbox, register
from tests.helpers.shipped import form, valid_data

SITE = "https://testserver"  # the test client's own origin: the site and the API on one origin
PAGE = {"X-Requested-With": "servicedesk-forms", "Origin": SITE}
COOKIE = "__Host-sdf-session"


@pytest.fixture
def browser(app: FastAPI, store: LocalStore) -> Iterator[TestClient]:
    """A browser on the site's page, not signed in: it keeps cookies, as a browser does."""
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(app, base_url=SITE, raise_server_exceptions=False) as client:
        yield client


def sign_in_from_the_page(browser: TestClient, store: LocalStore) -> Any:
    assert browser.post("/v1/session/code", json={"email": AUTHORIZED}, headers=PAGE).status_code == 202
    code = code_from_outbox(store.folder / "outbox", AUTHORIZED)
    return browser.post("/v1/session", json={"email": AUTHORIZED, "code": code}, headers=PAGE)


def set_cookie(answer: Any) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(answer.headers["set-cookie"])
    return cookie


def test_signing_in_from_the_page_sets_a_cookie_no_script_can_read_and_answers_no_token(
    browser: TestClient, store: LocalStore
) -> None:
    answer = sign_in_from_the_page(browser, store)
    assert answer.status_code == 200, answer.text
    assert "token" not in answer.json() and answer.json()["contact"]["email"] == AUTHORIZED
    morsel = set_cookie(answer)[COOKIE]
    assert morsel["httponly"] and morsel["secure"] and morsel["path"] == "/" and not morsel["domain"]
    assert morsel["samesite"].lower() == "lax" and 0 < int(morsel["max-age"]) <= 8 * 3600
    # The browser sends it: the page is signed in, and can send a request.
    assert browser.get("/v1/session").json()["contact"]["email"] == AUTHORIZED
    sent = browser.post("/v1/requests", json={"form": form().id, "data": valid_data()}, headers=PAGE)
    assert sent.status_code == 201, sent.text
    assert [r["id"] for r in browser.get("/v1/requests").json()["items"]] == [sent.json()["id"]]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a form on another site, posting
        {"Origin": "https://evil.example"},
        {"X-Requested-With": "servicedesk-forms"},  # no Origin: not a call of our page
        {"X-Requested-With": "servicedesk-forms", "Origin": "https://evil.example"},
        {"X-Requested-With": "something-else", "Origin": SITE},
        {"X-Requested-With": "servicedesk-forms", "Origin": "null"},
    ],
)
def test_a_change_another_site_forged_with_the_cookie_is_refused(
    browser: TestClient, store: LocalStore, headers: dict[str, str]
) -> None:
    assert sign_in_from_the_page(browser, store).status_code == 200
    sent = browser.post("/v1/requests", json={"form": form().id, "data": valid_data()}, headers=headers)
    assert sent.status_code == 403 and sent.json()["code"] == "cross_site_request"
    assert sent.headers["content-type"] == "application/problem+json"
    assert browser.delete("/v1/session", headers=headers).status_code == 403
    assert browser.get("/v1/requests").json()["items"] == []  # nothing was stored
    assert browser.get("/v1/session").status_code == 200  # and the session was not ended


def test_signing_out_ends_the_session_and_forgets_the_cookie(browser: TestClient, store: LocalStore) -> None:
    assert sign_in_from_the_page(browser, store).status_code == 200
    kept = browser.cookies.get(COOKIE)
    out = browser.delete("/v1/session", headers=PAGE)
    assert out.status_code == 204
    morsel = set_cookie(out)[COOKIE]
    assert morsel.value == "" and int(morsel["max-age"]) == 0
    assert browser.get("/v1/session").status_code == 401
    browser.cookies.set(COOKIE, kept or "", domain="testserver")  # the old cookie, kept by someone: ended too
    assert browser.get("/v1/session").status_code == 401


def test_a_code_exchange_from_another_site_s_page_is_refused(browser: TestClient, store: LocalStore) -> None:
    assert browser.post("/v1/session/code", json={"email": AUTHORIZED}).status_code == 202
    code = code_from_outbox(store.folder / "outbox", AUTHORIZED)
    forged = {"X-Requested-With": "servicedesk-forms", "Origin": "https://evil.example"}
    answer = browser.post("/v1/session", json={"email": AUTHORIZED, "code": code}, headers=forged)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_api_clients_keep_bearer_tokens_without_the_page_s_header(client: TestClient) -> None:
    assert "set-cookie" not in client.get("/v1/session").headers
    sent = client.post("/v1/requests", json={"form": form().id, "data": valid_data()})
    assert sent.status_code == 201, sent.text
