"""Shared fixtures: the schema catalog, an API client on the embedded store, and the built site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import build
from handler.app import create_app
from handler.forms import Catalog, load_catalog
from handler.settings import Settings
from handler.storage.local import LocalStore

TESTS = Path(__file__).resolve().parent
INCIDENT_FORM = TESTS / "forms" / "incident.schema.json"
# Tests that depend on "now" (a support window must not be in the past) run at this moment.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def load_cases(folder: Path) -> list[Any]:
    """Every case in the data files of ``folder``, as pytest parameters named after file and description."""
    cases = []
    for path in sorted(folder.glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        for kind in ("valid", "invalid"):
            for case in content[kind]:
                cases.append(pytest.param(kind == "valid", case, id=f"{path.stem}: {case['description']}"))
    return cases


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def catalog_with_incident() -> Catalog:
    return load_catalog(extra_forms=(INCIDENT_FORM,))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "data")


@pytest.fixture
def client(catalog_with_incident: Catalog, store: LocalStore) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=store.folder), catalog=catalog_with_incident, store=store, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as build.py writes it, with the tests' incident form added."""
    out = tmp_path_factory.mktemp("site") / "site"
    build.build(out, extra_forms=(INCIDENT_FORM,))
    return out
