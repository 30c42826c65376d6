"""The test-only forms of tests/forms/, and the cases of a folder of data files as pytest parameters."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from handler.schema.loader import SCHEMA_DIR
from tests.helpers.paths import TESTS
from tests.helpers.shipped import FIXTURES, skip_reason


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
