"""Lighthouse on the form and My requests pages, in every language, on mobile and desktop, signed in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

import build
from handler.schema.loader import load_catalog
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, open_session, register
from tests.helpers.browser import CHROMIUM_ARGS, chromium_path, free_port, local_server, session_cookie
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).with_name("lighthouse.mjs")
FORM_FACTORS = ("mobile", "desktop")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def pages() -> list[str]:
    """Each language's forms and My requests, from schema/."""
    catalog = load_catalog()
    return [f"/{language}/{page}/" for language in catalog.languages for page in [*catalog.forms, "my-requests"]]


def test_the_form_and_my_requests_score_100_in_every_category(tmp_path: Path) -> None:
    node, executable = shutil.which("node"), chromium_path()
    assert node and executable and (ROOT / "node_modules" / "lighthouse").exists(), "'make test' installs them"
    from playwright.sync_api import sync_playwright

    site = tmp_path / "site"
    build.build(site, desk_email="servicedesk@example.no")
    data_dir = tmp_path / "data"
    register(LocalStore(data_dir).contacts, AUTHORIZED, "authorized-for-change")
    port = free_port()
    with local_server(site, data_dir) as address, sync_playwright() as playwright:
        with httpx.Client(base_url=address) as api:
            session = open_session(api, data_dir / "outbox", AUTHORIZED)
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=executable,
            args=[*CHROMIUM_ARGS, f"--remote-debugging-port={port}"],
        )
        try:
            # Signed in as after the sign-in page: the HttpOnly cookie, and who and until when in the storage.
            cookie: Any = session_cookie(session["token"])  # the fields Playwright's SetCookieParam names
            context.add_cookies([cookie])
            page = context.new_page()
            page.goto(address + "/")
            shown = {"expiresAt": session["expiresAt"], "contact": session["contact"]}
            page.evaluate("s => localStorage.setItem('servicedesk-forms-session', s)", json.dumps(shown))
            page.goto(address + pages()[0])
            page.wait_for_selector("#request-form", state="visible")  # the form is drawn for a signed-in contact
            page.close()
            request = {"port": port, "urls": [address + p for p in pages()], "formFactors": list(FORM_FACTORS)}
            done = subprocess.run(
                [node, str(SCRIPT)],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=600,
                check=False,
                env={**os.environ, "CHROME_PATH": executable},
            )
        finally:
            context.close()
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(pages()) * len(FORM_FACTORS)
    short = [r for r in results if r["runtimeError"] or any(r["scores"][c] < 100 for c in CATEGORIES)]
    assert not short, json.dumps(short, indent=1)
