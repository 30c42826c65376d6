"""Shared fixtures: the schema catalog, an API client on the embedded store, and the built site."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import build
from handler.app import create_app
from handler.contacts import Contact, ContactRegister, make_contact
from handler.schema.loader import SCHEMA_DIR, load_catalog
from handler.schema.model import Catalog
from handler.settings import Settings
from handler.storage.local import LocalStore
from tests.shipped import FIXTURES, skip_reason
from tests.shipped import NOW as NOW  # the one moment of the tests, for every test module

TESTS = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Keep every AWS client on this machine: a client the tests do not point at a local server fails
    at once on a closed loopback port, and no credentials are looked up on the network."""
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-north-1")


# The fixtures that start a local server in a subprocess (tests/servers.py).
SERVER_FIXTURES = frozenset({"seaweedfs", "dynamodb_local", "ses"})


def needs_servers(item: pytest.Item) -> bool:
    """Whether the test reaches a local S3, DynamoDB or SES server: through a fixture that starts one, a
    fixture of the AWS store (``aws``, ``aws_desk``, …, some of which ask for the servers only when they run),
    or a run of a test parametrized by store kind for the ``aws`` kind."""
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    on_aws = callspec is not None and "aws" in callspec.params.values()
    return bool(SERVER_FIXTURES & names) or any(n == "aws" or n.startswith("aws_") for n in names) or on_aws


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that needs a local server, so a run can leave them out (such as the run under faketime,
    where those servers do not start)."""
    for item in items:
        if needs_servers(item):
            item.add_marker(pytest.mark.servers)


def _test_form(name: str) -> Path:
    """A test-only form from tests/forms/, with texts for every language of schema/: a language the
    tests have no texts for gets the default language's, so adding a language to schema/ alone
    keeps the tests running."""
    site = json.loads((SCHEMA_DIR / "site.json").read_text(encoding="utf-8"))
    folder = Path(tempfile.mkdtemp(prefix="test-forms-"))
    shutil.copy(TESTS / "forms" / f"{name}.schema.json", folder)
    for language in site["languages"]:
        own = TESTS / "forms" / f"{name}.{language}.json"
        fallback = TESTS / "forms" / f"{name}.{site['defaultLanguage']}.json"
        shutil.copy(own if own.exists() else fallback, folder / f"{name}.{language}.json")
    return folder / f"{name}.schema.json"


INCIDENT_FORM = _test_form("incident")
# A test-only form with every keyword, widget and rule of the dialect.
EVERY_KEYWORD_FORM = _test_form("every-keyword")
CONTACT_TYPES = ("authorized-for-change", "support-contact", "technical-contact", "billing-contact")


def load_cases(folder: Path) -> list[Any]:
    """Every case in the data files of ``folder``, as pytest parameters named after file and description; the
    cases of a file of tests/data/service-request/ whose service is not in schema/ any more skip, saying so."""
    cases = []
    for path in sorted(folder.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        reason = skip_reason(path) if folder.resolve() == FIXTURES.resolve() else None
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        for kind in ("valid", "invalid"):
            for case in content[kind]:
                cases.append(pytest.param(kind == "valid", case, id=f"{path.stem}: {case['description']}", marks=marks))
    return cases


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def catalog_with_incident() -> Catalog:
    return load_catalog(extra_forms=(INCIDENT_FORM,))


@pytest.fixture(scope="session")
def catalog_with_test_forms() -> Catalog:
    return load_catalog(extra_forms=(INCIDENT_FORM, EVERY_KEYWORD_FORM))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "data")


AUTHORIZED = "kari.nordmann@example.no"


def register(store: ContactRegister, email: str, *types: str) -> Contact:
    """Put a contact in the register with the given contact types."""
    contact = make_contact(email, "Kari Nordmann", "+47 912 34 567", "Kunde AS", types, CONTACT_TYPES)
    store.put_contact(contact)
    return contact


def code_from_outbox(outbox: Path, email: str, wait: float = 10) -> str:
    """The code in the newest sign-in e-mail to ``email`` in the outbox, waiting for it to be sent.

    The e-mail is removed once read, so the next call waits for the next code rather than reading
    an old one (codes are mailed through the queue, a moment after they are asked for).
    """
    subjects = {str(texts["email"]["codeSubject"]) for texts in load_catalog().common.values()}
    deadline = time.monotonic() + wait
    while True:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if email in str(message["To"]) and str(message["Subject"]) in subjects:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = re.search(r"\b(\d{6})\b", body.get_content())
                assert found, "no code in the e-mail"
                path.unlink()
                return found.group(1)
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise AssertionError(f"no e-mail to {email} in {outbox}")


def open_session(client: httpx.Client | TestClient, outbox: Path, email: str) -> dict[str, Any]:
    """Sign in through the API (a test client or a real server's) with the e-mailed code; the session
    it answers with: token, expiry and contact, as the page keeps it."""
    assert client.post("/v1/session/code", json={"email": email}).status_code == 202
    answer = client.post("/v1/session", json={"email": email, "code": code_from_outbox(outbox, email)})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def sign_in(client: TestClient, outbox: Path, email: str) -> str:
    """Sign in through the API with the e-mailed code; return the session token."""
    return str(open_session(client, outbox, email)["token"])


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


SECRET = "test-secret-ZVvlaE58jlyizltNCSCas1t6gfn6D_FR"  # as random as a real one: weak secrets are refused


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def app(catalog_with_incident: Catalog, store: LocalStore, clock: Clock) -> FastAPI:
    # Answers to code requests are not held back here; test_auth checks that they are by default.
    settings = Settings(data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0)
    return create_app(settings, catalog=catalog_with_incident, store=store, clock=clock)


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client that has not signed in."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(app: FastAPI, store: LocalStore) -> Iterator[TestClient]:
    """A client signed in as a contact authorized for change."""
    register(store, AUTHORIZED, "authorized-for-change")
    with TestClient(app, raise_server_exceptions=False) as test_client:
        token = sign_in(test_client, store.folder / "outbox", AUTHORIZED)
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as build.py writes it, with the tests' incident form added."""
    out = tmp_path_factory.mktemp("site") / "site"
    build.build(out, extra_forms=(INCIDENT_FORM, EVERY_KEYWORD_FORM))
    return out


@pytest.fixture(scope="module")  # Playwright's event loop must be gone before other modules run theirs
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; a missing browser fails on CI and skips elsewhere."""
    from tests.browser import AXE, CHROMIUM_ARGS, chromium_path

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by 'make test'")
    executable = chromium_path()
    if executable is None or not AXE.exists():
        message = "Chromium or axe-core is missing; 'make test' installs both"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
