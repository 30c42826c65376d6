"""API Gateway and Function URL events from tests/events for the Lambda entry, and its environment on the
embedded store (the fixture ``data_dir``)."""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from handler import lambda_entry
from handler.signin import AUDIENCE, ISSUER
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, register
from tests.helpers.paths import TESTS
from tests.helpers.shipped import stand_in_text

EVENTS = TESTS / "events"


def event(name: str) -> dict[str, Any]:
    """A recorded event; the request it carries, written for a service of the shipped form, stands for another
    when schema/ no longer has that service (tests/helpers/shipped.py)."""
    document: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    body = document.get("body")
    if isinstance(body, str) and body:
        encoded = bool(document.get("isBase64Encoded"))
        text = base64.b64decode(body).decode("utf-8") if encoded else body
        fitted = stand_in_text(text)
        if fitted != text:
            document = with_body(document, fitted.encode("utf-8"))
    return document


def event_data(name: str) -> dict[str, Any]:
    """The request data the event ``name`` carries."""
    document = event(name)
    body = base64.b64decode(document["body"]) if document.get("isBase64Encoded") else document["body"].encode()
    return json.loads(body)["data"]  # type: ignore[no-any-return]


def with_body(original: dict[str, Any], body: bytes) -> dict[str, Any]:
    changed = copy.deepcopy(original)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:  # API Gateway can only pass bytes that are not UTF-8 in base64
        changed["isBase64Encoded"] = True
    if changed.get("isBase64Encoded"):
        changed["body"] = base64.b64encode(body).decode()
    else:
        changed["body"] = text
    for headers in (changed.get("headers") or {},):
        for key in list(headers):
            if key.lower() == "content-length":
                headers[key] = str(len(body))
    return changed


SECRET = "lambda-test-secret-_yFopVEaqrNF2PdiZWl_apFPtTuB5TBr"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SDF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SDF_API_BASE_PATH", "/prod")
    monkeypatch.setenv("SDF_SESSION_SECRET", SECRET)
    register(LocalStore(tmp_path).contacts, AUTHORIZED, "authorized-for-change")
    lambda_entry._container.cache_clear()
    yield tmp_path
    lambda_entry._container.cache_clear()


def session_token() -> str:
    """A valid session of the authorized contact, as signing in would give it (the Lambda entry's real clock)."""
    now = int(time.time())
    contact = lambda_entry._container()[0].store.contacts.get_contact(AUTHORIZED)
    assert contact is not None
    claims = {"sub": AUTHORIZED, "iat": now, "auth_time": now, "exp": now + 600, "typ": "session"}
    claims |= {"iss": ISSUER, "aud": AUDIENCE, "stamp": contact.security_stamp}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def signed_in(document: dict[str, Any]) -> dict[str, Any]:
    """The event with a valid session for the authorized contact, as an API client would send it."""
    token = session_token()
    changed = copy.deepcopy(document)
    changed["headers"]["Authorization" if "Host" in changed["headers"] else "authorization"] = f"Bearer {token}"
    if "multiValueHeaders" in changed:
        changed["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    return changed
