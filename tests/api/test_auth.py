"""Sign-in, sessions and authorization, and the attacks on them."""

from __future__ import annotations

import base64
import json
import time
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.contacts import Contact, InvalidContact, make_contact
from handler.mail import Mail, OutboxMailer, Recipient, render
from handler.schema.catalog import Catalog
from handler.services import build_services
from handler.settings import Settings
from handler.signin import ADDRESSES_PER_CLIENT
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, CONTACT_TYPES, SECRET, code_from_outbox, register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.shipped import valid_data

VALID = valid_data(subject="Bli med", description="D")


def outbox(store: LocalStore) -> Path:
    return store.folder / "outbox"


def mails(store: LocalStore) -> list[Any]:
    return [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in sorted(outbox(store).glob("*.eml"))]


def submit(client: TestClient, token: str, language: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} | ({"Accept-Language": language} if language else {})
    return client.post("/v1/requests", json={"form": "service-request", "data": VALID}, headers=headers)


def test_the_answer_is_the_same_whether_or_not_the_address_is_registered(
    anonymous: TestClient, store: LocalStore
) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    known = anonymous.post("/v1/session/code?lang=en", json={"email": AUTHORIZED})
    unknown = anonymous.post("/v1/session/code?lang=en", json={"email": "nobody@example.no"})
    assert (
        (known.status_code, known.json())
        == (unknown.status_code, unknown.json())
        == (
            202,
            {"message": "If the address is registered with us, we have sent a code to it."},
        )
    )
    sent = mails(store)
    assert [str(m["To"]) for m in sent] == [f"Kari Nordmann <{AUTHORIZED}>"]


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [("nb", "Engangskode for innlogging", "Koden din er"), ("en", "Your one-time sign-in code", "Your code is")],
)
def test_the_code_e_mail_is_in_the_requester_s_language_in_text_and_html(
    anonymous: TestClient, store: LocalStore, language: str, subject: str, words: str
) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED.upper()}, headers={"Accept-Language": language})
    (mail,) = mails(store)
    assert mail["Subject"] == subject
    assert mail["Content-Language"] == language
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    code = code_from_outbox(outbox(store), AUTHORIZED)
    assert f"{words} {code}" in text
    assert code in html and f'lang="{language}"' in html


def test_codes_are_stored_hashed(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    code = code_from_outbox(outbox(store), AUTHORIZED)
    database = store.database.read_bytes() + b"".join(p.read_bytes() for p in store.folder.glob("*.sqlite3-wal"))
    assert code.encode() not in database


def test_guessing_codes_locks_the_code(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    code = code_from_outbox(outbox(store), AUTHORIZED)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        answer = anonymous.post("/v1/session?lang=en", json={"email": AUTHORIZED, "code": wrong})
        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_code"
    locked = anonymous.post("/v1/session", json={"email": AUTHORIZED, "code": code})
    assert (locked.status_code, locked.json()["code"]) == (401, "invalid_code")


def test_an_expired_code_is_refused(anonymous: TestClient, store: LocalStore, clock: Clock) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    clock.advance(minutes=10, seconds=1)
    answer = anonymous.post(
        "/v1/session", json={"email": AUTHORIZED, "code": code_from_outbox(outbox(store), AUTHORIZED)}
    )
    assert answer.status_code == 401


def test_a_code_works_once(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    code = code_from_outbox(outbox(store), AUTHORIZED)
    assert anonymous.post("/v1/session", json={"email": AUTHORIZED, "code": code}).status_code == 200
    assert anonymous.post("/v1/session", json={"email": AUTHORIZED, "code": code}).status_code == 401


def test_a_code_is_bound_to_its_address(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    register(store.contacts, "other@example.no", "authorized-for-change")
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    code = code_from_outbox(outbox(store), AUTHORIZED)
    assert anonymous.post("/v1/session", json={"email": "other@example.no", "code": code}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "not an address"}, "email"), ({"email": ""}, "email"), ({"email": 7}, "email")],
)
def test_bad_addresses_get_a_localized_field_error(anonymous: TestClient, body: dict[str, Any], field: str) -> None:
    answer = anonymous.post("/v1/session/code?lang=en", json=body)
    assert answer.status_code == 422
    (detail,) = answer.json()["errors"]
    assert detail["field"] == field and detail["detail"].startswith("Enter")


def test_flooding_the_code_endpoint_is_limited_per_address_and_per_client(
    anonymous: TestClient, store: LocalStore
) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    for _ in range(3):
        assert anonymous.post("/v1/session/code", json={"email": AUTHORIZED}).status_code == 202
    limited = anonymous.post("/v1/session/code?lang=en", json={"email": AUTHORIZED})
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_codes"
    assert 0 < int(limited.headers["retry-after"]) <= 900
    assert len(mails(store)) == 3
    # an unregistered address is limited the same way, so the limit reveals nothing
    for _ in range(3):
        assert anonymous.post("/v1/session/code", json={"email": "ghost@example.no"}).status_code == 202
    assert anonymous.post("/v1/session/code", json={"email": "ghost@example.no"}).status_code == 429
    # one client trying many addresses is stopped too, counting each address once (two so far)
    asked = [anonymous.post("/v1/session/code", json={"email": f"x{i}@example.no"}).status_code for i in range(30)]
    assert asked == [202] * (ADDRESSES_PER_CLIENT - 2) + [429] * 2


def test_the_limit_resets_after_the_window(anonymous: TestClient, store: LocalStore, clock: Clock) -> None:
    for _ in range(3):
        anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    assert anonymous.post("/v1/session/code", json={"email": AUTHORIZED}).status_code == 429
    clock.advance(minutes=15)
    assert anonymous.post("/v1/session/code", json={"email": AUTHORIZED}).status_code == 202


def test_submitting_needs_a_session(anonymous: TestClient, store: LocalStore) -> None:
    answer = anonymous.post("/v1/requests?lang=en", json={"form": "service-request", "data": VALID})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "You need to sign in to do this.",
        "code": "sign_in_required",
        "errors": [],
    }
    assert not store.requests.document_ids()


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "boss@example.no"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_tampered_forged_and_expired_sessions_are_refused(
    anonymous: TestClient, store: LocalStore, clock: Clock
) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    token = sign_in(anonymous, outbox(store), AUTHORIZED)
    assert submit(anonymous, token).status_code == 201
    now = int(clock().timestamp())
    claims = {"sub": AUTHORIZED, "iat": now, "exp": now + 3600, "typ": "session"}
    for bad in (
        tamper(token),
        jwt.encode(claims, "another-secret-" + "y" * 32, algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
        jwt.encode({**claims, "typ": "code"}, SECRET, algorithm="HS256"),
        "not-a-token",
    ):
        answer = submit(anonymous, bad)
        assert (answer.status_code, answer.json()["code"]) == (401, "sign_in_required"), bad
    clock.advance(hours=8, seconds=1)
    expired = submit(anonymous, token, "en")
    assert (expired.status_code, expired.json()["detail"]) == (
        401,
        "Your session has expired. Sign in again.",
    )


def test_a_contact_who_lost_the_authorized_type_is_refused(anonymous: TestClient, store: LocalStore) -> None:
    contact = register(store.contacts, AUTHORIZED, "authorized-for-change", "technical-contact")
    token = sign_in(anonymous, outbox(store), AUTHORIZED)
    store.contacts.put_contact(
        Contact(contact.email, contact.name, contact.phone, contact.organization, ("technical-contact",))
    )
    refused = submit(anonymous, token, "nb")
    assert refused.status_code == 403
    message = refused.json()["detail"]
    assert message.startswith("Bare kontakter med kontakttypen Autorisert for endring kan sende dette skjemaet.")
    store.contacts.remove_contact(AUTHORIZED)
    assert submit(anonymous, token).status_code == 401  # removing the contact ends the session
    assert not store.requests.document_ids()


def test_other_forms_allow_other_contact_types(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "support-contact")
    token = sign_in(anonymous, outbox(store), AUTHORIZED)
    assert submit(anonymous, token).status_code == 403
    incident = anonymous.post(
        "/v1/requests",
        json={"form": "incident", "data": {"severity": "minor", "summary": "Treg"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert incident.status_code == 201


def test_the_requester_comes_from_the_session_never_from_the_body(client: TestClient, store: LocalStore) -> None:
    refused = client.post(
        "/v1/requests", json={"form": "service-request", "data": {**VALID, "requester": "boss@example.no"}}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/data/requester"
    answer = client.post("/v1/requests", json={"form": "service-request", "data": VALID})
    stored = store.requests.get(answer.json()["id"])
    assert stored is not None and stored.requester == AUTHORIZED


def test_someone_else_s_request_looks_exactly_like_a_missing_one(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    register(store.contacts, "other@example.no", "authorized-for-change")
    mine = sign_in(anonymous, outbox(store), AUTHORIZED)
    theirs = sign_in(anonymous, outbox(store), "other@example.no")
    request_id = submit(anonymous, mine).json()["id"]
    headers = {"Authorization": f"Bearer {theirs}"}
    foreign = anonymous.get(f"/v1/requests/{request_id}", headers=headers)
    missing = anonymous.get(f"/v1/requests/{uuid.uuid4()}", headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert anonymous.get("/v1/requests", headers=headers).json() == {"items": [], "next": None}


def test_my_requests_lists_newest_first_a_page_at_a_time(client: TestClient, clock: Clock) -> None:
    references = []
    for index in range(5):
        clock.advance(minutes=1)
        references.append(
            client.post(
                "/v1/requests", json={"form": "service-request", "data": {**VALID, "subject": f"S{index}"}}
            ).json()["reference"]
        )
    first = client.get("/v1/requests?limit=2").json()
    second = client.get(f"/v1/requests?limit=2&cursor={first['next']}").json()
    third = client.get(f"/v1/requests?limit=2&cursor={second['next']}").json()
    listed = [item["reference"] for page in (first, second, third) for item in page["items"]]
    assert listed == references[::-1]
    assert third["next"] is None
    assert first["items"][0]["title"] == "S4" and first["items"][0]["category"] == VALID["service"]
    assert client.get("/v1/requests?limit=0").status_code == 400


def test_one_request_shows_its_fields_and_history(client: TestClient) -> None:
    created = client.post("/v1/requests", json={"form": "service-request", "data": VALID}).json()
    shown = client.get(f"/v1/requests/{created['id']}").json()
    assert shown["reference"] == created["reference"]
    assert shown["data"] == VALID
    assert shown["history"] == [{"status": "received", "at": created["receivedAt"], "comment": None}]


def test_header_injection_through_names_is_impossible(store: LocalStore) -> None:
    with pytest.raises(InvalidContact):
        make_contact(
            AUTHORIZED, "Kari\r\nBcc: victim@example.com", "", "Kunde AS", ["authorized-for-change"], CONTACT_TYPES
        )
    mail = Mail(
        to=(Recipient(AUTHORIZED, "Kari\r\nBcc: victim@example.com"),),
        subject="SR-1234-ABCD\r\nBcc: victim@example.com",
        paragraphs=("Hei",),
        language="nb",
    )
    raw = bytes(render(mail, "Kundeservice <no-reply@example.com>"))
    headers = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers and not headers.startswith(b"Bcc:")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == [AUTHORIZED]


def test_an_address_gets_few_attempts_a_day_whatever_the_codes(
    anonymous: TestClient, store: LocalStore, clock: Clock
) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    for _ in range(6):  # six codes, five wrong guesses each: thirty attempts
        clock.advance(minutes=15)
        anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
        code = code_from_outbox(outbox(store), AUTHORIZED)
        for _ in range(5):
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            assert anonymous.post("/v1/session", json={"email": AUTHORIZED, "code": wrong}).status_code == 401
    clock.advance(minutes=15)
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    right = code_from_outbox(outbox(store), AUTHORIZED)
    assert anonymous.post("/v1/session", json={"email": AUTHORIZED, "code": right}).status_code == 401
    clock.advance(days=1)
    anonymous.post("/v1/session/code", json={"email": AUTHORIZED})
    next_day = code_from_outbox(outbox(store), AUTHORIZED)
    assert anonymous.post("/v1/session", json={"email": AUTHORIZED, "code": next_day}).status_code == 200


class SlowOutbox(OutboxMailer):
    """A mail service that takes its time, as SES over the network does."""

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        time.sleep(0.2)
        return super().deliver(message, recipients)


def test_the_answer_takes_as_long_for_unknown_addresses(catalog: Catalog, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    settings = Settings(data_dir=store.folder, session_secret=SECRET)  # the default minimum answer time
    mailer = SlowOutbox("Kundeservice <no-reply@example.com>", store.folder / "outbox")
    app = create_app(settings, services=build_services(settings, catalog=catalog, store=store, mailer=mailer))
    with TestClient(app) as client:
        for email in (AUTHORIZED, "nobody@example.no"):
            started = time.monotonic()
            assert client.post("/v1/session/code", json={"email": email}).status_code == 202
            # Both wait out the same floor, which is longer than sending the e-mail takes.
            assert time.monotonic() - started >= settings.code_answer_seconds > 0.2
    assert len(mails(store)) == 1
