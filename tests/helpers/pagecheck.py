"""The page's side of page-versus-server tests: node runs the page's own modules on what the tests give it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import build
from handler.schema.catalog import Catalog
from handler.schema.model import Form
from tests.helpers.paths import TESTS

NODE = shutil.which("node")
ROOT = TESTS.parent


def node(script: str, stdin: str = "") -> str:
    """Run an ES module snippet or file with node in the project folder; return its output."""
    assert NODE is not None
    args = [NODE, script] if script.endswith(".js") else [NODE, "--input-type=module", "-e", script]
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def verdicts(
    catalog: Catalog, form: Form, documents: Iterable[dict[str, Any]], now: datetime
) -> list[tuple[dict[str, Any], dict[str, str], dict[str, str]]]:
    """Each document in each language with the server's and the page's verdict: the first message per field."""
    documents = list(documents)
    cases: list[dict[str, Any]] = []
    expected: list[dict[str, str]] = []
    for language in catalog.languages:
        model = build.form_model(form, language)
        for document in documents:
            cases.append({"model": model, "data": document, "now": now.isoformat()})
            verdict: dict[str, str] = {}
            for error in form.validate(document, language, now):
                verdict.setdefault(str(error.field), error.message)
            expected.append(verdict)
    page = json.loads(node("tests/pages/js/verdicts.js", json.dumps({"cases": cases})))
    return [(c["data"], server, mine) for c, server, mine in zip(cases, expected, page, strict=True)]
