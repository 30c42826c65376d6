"""Shared fixtures: the schema catalog, an API client on the embedded store, and the built site."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

import build
from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.schema.loader import load_catalog
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.storage.local.db import Database
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import NOW, Clock
from tests.helpers.forms import EVERY_KEYWORD_FORM, INCIDENT_FORM

# Fixtures the helpers define, for every test module: the local servers, the Lambda entry's environment, the
# AWS store and a client on it.
pytest_plugins = [
    "tests.helpers.servers",
    "tests.helpers.lambda_events",
    "tests.helpers.aws_faults",
    "tests.helpers.aws_uploads",
]

# HYPOTHESIS_PROFILE=fast (make test-fast): a property test draws a tenth of its examples (tests/helpers/examples.py).
hypothesis_settings.register_profile("fast", max_examples=10)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    """Keep every AWS client on this machine: a client the tests do not point at a local server fails
    at once on a closed loopback port, and no credentials are looked up on the network."""
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-north-1")


# The fixtures that start a local server in a subprocess (tests/helpers/servers.py).
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


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def catalog_with_incident() -> Catalog:
    return load_catalog(extra_forms=(INCIDENT_FORM,))


@pytest.fixture(scope="session")
def catalog_with_test_forms() -> Catalog:
    return load_catalog(extra_forms=(INCIDENT_FORM, EVERY_KEYWORD_FORM))


@pytest.fixture(scope="session")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded store's database with its tables and no rows, made once."""
    folder = tmp_path_factory.mktemp("empty-store")
    Database(folder / "made.sqlite3")
    empty = folder / "requests.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(folder / "made.sqlite3")) as made,
        contextlib.closing(sqlite3.connect(empty)) as copy,
    ):
        made.backup(copy)
    return empty


@pytest.fixture
def store(tmp_path: Path, empty_database: Path) -> LocalStore:
    """A store of its own: a copy of the empty database, opened as a store opens a folder it has used before (with
    a signing key of its own)."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    shutil.copyfile(empty_database, folder / "requests.sqlite3")
    return LocalStore(folder)


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
    register(store.contacts, AUTHORIZED, "authorized-for-change")
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
    from tests.helpers.browser import AXE, CHROMIUM_ARGS, chromium_path

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
