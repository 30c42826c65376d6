"""Contacts in the register, and signing in through the API with the code the outbox holds."""

from __future__ import annotations

import functools
import re
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from handler.contacts import Contact, ContactRegister, make_contact
from handler.schema.loader import load_catalog

AUTHORIZED = "kari.nordmann@example.no"
CONTACT_TYPES = ("authorized-for-change", "support-contact", "technical-contact", "billing-contact")
SECRET = "test-secret-ZVvlaE58jlyizltNCSCas1t6gfn6D_FR"  # as random as a real one: weak secrets are refused


def register(store: ContactRegister, email: str, *types: str) -> Contact:
    """Put a contact in the register with the given contact types."""
    contact = make_contact(email, "Kari Nordmann", "+47 912 34 567", "Kunde AS", types, CONTACT_TYPES)
    store.put_contact(contact)
    return contact


@functools.cache
def code_subjects() -> frozenset[str]:
    """The subjects of the sign-in e-mail in every language of schema/ (read once: the tests do not change it)."""
    return frozenset(str(texts["email"]["codeSubject"]) for texts in load_catalog().common.values())


def code_from_outbox(outbox: Path, email: str, wait: float = 10) -> str:
    """The code in the newest sign-in e-mail to ``email`` in the outbox, waiting for it to be sent.

    The e-mail is removed once read, so the next call waits for the next code rather than reading
    an old one (codes are mailed through the queue, a moment after they are asked for).
    """
    subjects = code_subjects()
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
