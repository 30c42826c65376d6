"""A real OpenID provider on 127.0.0.1 for the browser tests: panva's oidc-provider (tests/idp/server.mjs) run
by Node, with a single-tenant issuer (``/single``) and an Entra-like multi-tenant one (``/organizations/v2.0``,
its tokens naming the tenant's issuer and ``tid``). People sign in on its own login page by login name and any
password (``PEOPLE``), then confirm the consent page.

``running_idp(port, redirect)`` starts it in a process group of its own and stops the group at the end; a
missing Node or ``node_modules/oidc-provider`` skips the test, or fails it on CI
(``tests.helpers.servers.missing_tool``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.servers import missing_tool

ROOT = Path(__file__).resolve().parent.parent.parent
SERVER = Path(__file__).resolve().parent / "server.mjs"
OIDC_PROVIDER = ROOT / "node_modules" / "oidc-provider" / "package.json"
START_TIMEOUT = 15.0

# As server.mjs declares them.
CLIENT_ID = "servicedesk-forms"
CLIENT_SECRET = "idp-client-secret-of-the-browser-tests"
TENANT = "6d0c5a1e-4b7f-4f52-9a3e-0c1d2e3f4a5b"
PEOPLE = {  # login name on the provider's page -> who the provider says they are
    "kari": {"email": "kari.nordmann@example.no", "name": "Kari Nordmann"},
    "ola": {"email": "ola.utenfor@example.no", "name": "Ola Utenfor"},
}


@dataclass
class Idp:
    """The running provider: its address, and the log of what it was asked (one ``METHOD /path`` a line)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def asked_since(self, mark: int) -> list[str]:
        """The requests (``METHOD /path``) the provider answered after ``mark = len(idp.lines())``."""
        return [line for line in self.lines()[mark:] if line.split(" ")[0] in ("GET", "POST")]


def idp_missing() -> None:
    """Skip (fail on CI) when Node or the oidc-provider package is not installed."""
    if shutil.which("node") is None:
        missing_tool("Node.js (runs the OpenID provider of tests/idp/)")
    if not OIDC_PROVIDER.exists():
        missing_tool("oidc-provider (the npm package in package.json)")


def declaration(url: str, multi_tenant: bool, **overrides: Any) -> dict[str, Any]:
    """One organization's provider at ``url`` (the provider's address) as ``SDF_SSO_PROVIDERS`` declares it: the
    single-tenant issuer, or the Entra-like one for any tenant with this provider's one tenant allowed."""
    declared = {
        "id": "entra" if multi_tenant else "single",
        "organization": "Kunde AS",
        "issuer": f"{url}/organizations/v2.0" if multi_tenant else f"{url}/single",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "tenants": [TENANT] if multi_tenant else [],
    }
    return declared | overrides


@contextmanager
def running_idp(port: int, redirect: str) -> Iterator[Idp]:
    """The provider on 127.0.0.1:``port``, its client registered with the callback ``redirect``."""
    idp_missing()
    with tempfile.TemporaryDirectory(prefix="sdf-idp-") as folder:
        log = Path(folder) / "idp.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["node", str(SERVER), "--port", str(port), "--redirect", redirect],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        idp = Idp(f"http://127.0.0.1:{port}", process, log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not any(line.startswith("ready ") for line in idp.lines()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the OpenID provider did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.05)
            yield idp
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
