"""Helpers for the browser tests: the local server as a subprocess, Chromium, and axe-core."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.paths import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    """Debian's Chromium, or the one SDF_CHROMIUM names."""
    return os.environ.get("SDF_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[Any], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered {url} within {seconds} s")


@contextmanager
def local_server(site: Path, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``python -m handler.serve`` on a free loopback port until the block ends; yield its address."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "handler.serve", "--port", str(port), "--site", str(site)],
        cwd=ROOT,
        env={**os.environ, "SDF_DATA_DIR": str(data_dir), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{address}/v1/health", process)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def axe_violations(page: Any) -> list[str]:
    """Run axe-core on the page; one line per violation with the elements it found."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "axe.run({runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in result["violations"]
    ]


def fill(page: Any, data: dict[str, Any]) -> None:
    """Fill in the form from a data file's submission, field by field, through each field's widget."""
    model = json.loads(page.locator("#page-model").text_content())
    fields = {f["name"]: f for f in model["fields"]}
    for name, value in data.items():
        kind = fields[name]["value"]
        option = value if isinstance(value, str) else json.dumps(value)  # a choice's value on the page
        if page.locator(f"#{name}").evaluate("control => control.tagName") == "SELECT":
            page.select_option(f"#{name}", option)
        elif kind in ("choice", "boolean"):
            page.check(f'input[name={name}][value="{option}"]')
        elif kind == "choices":
            for chosen in value:
                page.check(f"input[name={name}][value={chosen}]")
        elif kind == "list":
            page.fill(f"#{name}", ", ".join(value))
        elif kind == "number":  # as the page's language writes it
            page.fill(f"#{name}", str(value).replace(".", model["texts"]["decimalMark"]))
        else:
            page.fill(f"#{name}", str(value))


SESSION_COOKIE = "__Host-sdf-session"


def session_cookie(token: str) -> dict[str, Any]:
    """The page's session cookie as the API sets it, for the local servers (all on 127.0.0.1; a cookie's host has
    no port)."""
    return {
        "name": SESSION_COOKIE,
        "value": token,
        "url": "https://127.0.0.1/",  # Secure, as set; Chromium sends it to http://127.0.0.1 too (a local origin)
        "httpOnly": True,
        "sameSite": "Lax",
    }


def hold_session(context: Any, session: dict[str, Any]) -> None:
    """Every page of ``context`` starts signed in with ``session`` (an API client's, with its token), as after
    signing in in that browser: the token in the HttpOnly cookie, who and until when in the browser's storage."""
    context.add_cookies([session_cookie(session["token"])])
    shown = {"expiresAt": session["expiresAt"], "contact": session["contact"]}
    context.add_init_script(f"localStorage.setItem('servicedesk-forms-session', {json.dumps(json.dumps(shown))})")
