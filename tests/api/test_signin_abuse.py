"""Attacks around signing in: locking someone else out, mailing an address without end, telling registered
addresses by timing, choosing one's own client address, and sessions that outlive the contact, its registration or
a sign-out, or that were signed with a weak secret or in the future."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.contacts import ContactRegister, make_contact
from handler.mail import OutboxMailer
from handler.schema.catalog import Catalog
from handler.serve import server_config
from handler.services import build_services
from handler.settings import ConfigurationError, Settings
from handler.signin import (
    ADDRESSES_PER_CLIENT,
    AUDIENCE,
    CODE_MAILS_PER_ADDRESS,
    CODE_MAILS_PER_ADDRESS_A_DAY,
    ISSUER,
    SESSION_LIFETIME,
    SignIn,
    rate_day,
)
from handler.storage.base import Store
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, CONTACT_TYPES, SECRET, code_from_outbox, register, sign_in
from tests.helpers.clock import NOW, Clock
from tests.helpers.servers import Server, free_port, fresh_aws_store
from tests.helpers.shipped import valid_data

OWNER = "198.51.100.7"  # the contact's own client address
ATTACKERS = ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4")
VALID = valid_data(subject="S", description="D")


def at(app: FastAPI, host: str) -> TestClient:
    """A client that connects from ``host``."""
    return TestClient(app, raise_server_exceptions=False, client=(host, 50000))


def outbox(store: LocalStore) -> Path:
    return store.folder / "outbox"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def exchange(client: TestClient, code: str, email: str = AUTHORIZED) -> Any:
    return client.post("/v1/session?lang=en", json={"email": email, "code": code})


def ask(client: TestClient, email: str = AUTHORIZED) -> Any:
    return client.post("/v1/session/code?lang=en", json={"email": email})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def mailed_codes(folder: Path, email: str = AUTHORIZED) -> list[str]:
    """The codes e-mailed to ``email`` so far, oldest first; the e-mails stay where they are."""
    codes = []
    for path in sorted(folder.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = message.get_body(preferencelist=("plain",))
        if (
            email in str(message["To"])
            and body is not None
            and (found := re.search(r"\b(\d{6})\b", body.get_content()))
        ):
            codes.append(found.group(1))
    return codes


class Attacked(NamedTuple):
    """The API on a store, where its code e-mails go, and its clock."""

    app: FastAPI
    store: Store
    outbox: Path
    clock: Clock


@pytest.fixture(params=["local", "aws"])
def attacked(request: pytest.FixtureRequest, catalog: Catalog, tmp_path: Path) -> Iterator[Attacked]:
    """The API on the embedded store, or on an AWS store on a fresh bucket and table."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, session_secret=SECRET, code_answer_seconds=0)
    clock = Clock(NOW)
    with contextlib.ExitStack() as stack:
        servers = ("seaweedfs", "dynamodb_local")
        store: Store = (
            LocalStore(data_dir)
            if request.param == "local"
            else stack.enter_context(fresh_aws_store(*map(request.getfixturevalue, servers)))
        )
        yield Attacked(
            create_app(settings, catalog=catalog, store=store, clock=clock), store, data_dir / "outbox", clock
        )


# Locking someone else out ----------------------------------------------------------------------------


def test_exchanges_without_a_pending_code_do_not_lock_the_address(app: FastAPI, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    for host in ATTACKERS:  # forty cheap requests, ten from each of four clients: no code is pending
        attacker = at(app, host)
        assert [exchange(attacker, "123456").status_code for _ in range(10)] == [401] * 10
    owner = at(app, OWNER)
    assert ask(owner).status_code == 202
    assert exchange(owner, code_from_outbox(outbox(store), AUTHORIZED)).status_code == 200


def test_one_client_guessing_cannot_use_up_the_owner_s_code(app: FastAPI, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    owner, attacker = at(app, OWNER), at(app, ATTACKERS[0])
    assert ask(owner).status_code == 202
    code = code_from_outbox(outbox(store), AUTHORIZED)
    answers = [exchange(attacker, wrong(code)) for _ in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    # Its own limit stops the attacker; the owner's code still works.
    assert exchange(owner, code).status_code == 200


def test_exchanging_codes_is_limited_per_client(app: FastAPI, clock: Clock) -> None:
    client, other = at(app, ATTACKERS[0]), at(app, ATTACKERS[1])
    statuses = [exchange(client, "123456", f"x{i}@example.no").status_code for i in range(10)]
    assert statuses == [401] * 10
    limited = exchange(client, "123456", "y@example.no")
    assert limited.status_code == 429
    assert limited.json() == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "You have tried too many codes. Wait a little and try again.",
        "code": "too_many_attempts",
        "errors": [],
    }
    assert 0 < int(limited.headers["retry-after"]) <= 900
    nb = client.post("/v1/session?lang=nb", json={"email": "y@example.no", "code": "123456"})
    assert nb.json()["detail"] == "Du har prøvd for mange koder. Vent litt og prøv igjen."
    assert exchange(other, "123456", "y@example.no").status_code == 401  # another client is not held up
    clock.advance(seconds=int(limited.headers["retry-after"]))
    assert exchange(client, "123456", "y@example.no").status_code == 401


def test_one_client_asking_for_codes_cannot_stop_the_owner_asking(app: FastAPI, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    attacker, owner = at(app, ATTACKERS[0]), at(app, OWNER)
    assert [ask(attacker).status_code for _ in range(4)] == [202, 202, 202, 429]
    assert ask(owner).status_code == 202
    assert exchange(owner, code_from_outbox(outbox(store), AUTHORIZED)).status_code == 200


def test_many_clients_asking_and_guessing_cannot_hold_up_an_address(app: FastAPI, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    owner = at(app, OWNER)
    # Codes: each client is stopped by its own limit only; the address gets the pending code again, a few times.
    for host in ATTACKERS:
        assert [ask(at(app, host)).status_code for _ in range(4)] == [202, 202, 202, 429]
    assert ask(owner).status_code == 202
    codes = mailed_codes(outbox(store))
    assert len(codes) == CODE_MAILS_PER_ADDRESS and set(codes) == {codes[0]}  # one code, never replaced
    # Guesses: ten wrong ones from two clients, then one from each of the others.
    for host in ATTACKERS[:2]:
        assert [exchange(at(app, host), wrong(codes[0])).status_code for _ in range(5)] == [401] * 5
    for host in ATTACKERS[2:]:
        assert exchange(at(app, host), wrong(codes[0])).status_code == 401
    assert exchange(owner, codes[0]).status_code == 200


def test_ten_clients_for_a_day_neither_keep_the_owner_out_nor_mail_more_than_the_cap(attacked: Attacked) -> None:
    app, store, mail, clock = attacked
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    attackers = [at(app, f"203.0.113.{n}") for n in range(1, 11)]
    owner = at(app, OWNER)
    day = rate_day(clock.now)[0]
    # The first hour and a quarter (the cap is reached), at noon, and in the day's last window.
    for started in [*range(5), 48, 95]:
        clock.now = day + timedelta(minutes=15 * started, seconds=30)
        for attacker in attackers:
            assert [ask(attacker).status_code for _ in range(4)] == [202, 202, 202, 429]
        guess = wrong(mailed_codes(mail)[-1])
        for attacker in attackers:
            assert {exchange(attacker, guess).status_code for _ in range(5)} == {401}
        if started in (0, 48):  # the owner signs in before the day's e-mails run out, and after
            assert ask(owner).status_code == 202
            assert exchange(owner, mailed_codes(mail)[-1]).status_code == 200
    assert len(mailed_codes(mail)) == CODE_MAILS_PER_ADDRESS_A_DAY
    clock.now = day + timedelta(days=1)
    assert ask(owner).status_code == 202
    assert len(mailed_codes(mail)) == CODE_MAILS_PER_ADDRESS_A_DAY + 1  # the next day's first
    assert exchange(owner, mailed_codes(mail)[-1]).status_code == 200


def test_an_office_behind_one_address_signs_in_address_by_address(app: FastAPI, store: LocalStore) -> None:
    office = at(app, OWNER)  # everyone behind the office's one public address
    colleagues = [f"kollega{n}@example.no" for n in range(25)]
    for email in colleagues:
        register(store.contacts, email, "authorized-for-change")
    rogue = [exchange(office, "123456", f"x{n}@example.no").status_code for n in range(11)]
    assert rogue == [401] * 10 + [429]  # someone's wrong codes reach the office's limit
    for email in colleagues:  # yet each one who asks for a code gets in with it
        assert ask(office, email).status_code == 202
        assert exchange(office, code_from_outbox(outbox(store), email), email).status_code == 200
    assert exchange(office, "123456", "someone@example.no").status_code == 429  # but guesses no further


def test_a_day_of_wrong_guesses_locks_out_only_the_guesser(app: FastAPI, store: LocalStore, clock: Clock) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    attacker, owner = at(app, ATTACKERS[0]), at(app, OWNER)
    for _ in range(6):  # thirty wrong guesses at pending codes, five a window
        clock.advance(minutes=15)
        assert ask(attacker).status_code == 202
        code = code_from_outbox(outbox(store), AUTHORIZED)
        assert [exchange(attacker, wrong(code)).status_code for _ in range(5)] == [401] * 5
    clock.advance(minutes=15)
    assert ask(attacker).status_code == 202
    assert exchange(attacker, code_from_outbox(outbox(store), AUTHORIZED)).status_code == 401
    assert ask(owner).status_code == 202
    assert exchange(owner, code_from_outbox(outbox(store), AUTHORIZED)).status_code == 200


# Telling registered addresses by timing --------------------------------------------------------------


def test_every_exchange_answer_takes_at_least_the_floor(catalog: Catalog, store: LocalStore, clock: Clock) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    settings = Settings(data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0.3)
    with TestClient(create_app(settings, catalog=catalog, store=store, clock=clock)) as client:
        assert ask(client).status_code == 202
        code = code_from_outbox(outbox(store), AUTHORIZED)
        for email, guess in ((AUTHORIZED, wrong(code)), ("nobody@example.no", code), (AUTHORIZED, code)):
            started = time.monotonic()
            answer = exchange(client, guess, email)
            assert time.monotonic() - started >= settings.code_answer_seconds, (email, answer.status_code)


class SlowOutbox(OutboxMailer):
    """A mail service slower than the answer's floor."""

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        time.sleep(1.5)
        return super().deliver(message, recipients)


@contextlib.contextmanager
def serving(app: FastAPI, settings: Settings) -> Iterator[str]:
    """``app`` on a real local server, configured as ``handler.serve`` configures it; its address."""
    config = server_config(app, settings, "127.0.0.1", free_port())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_answer_does_not_wait_for_a_slow_mail_service(catalog: Catalog, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    settings = Settings(data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0.3)
    mailer = SlowOutbox("Kundeservice <no-reply@example.com>", outbox(store))
    app = create_app(settings, services=build_services(settings, catalog=catalog, store=store, mailer=mailer))
    with serving(app, settings) as address, httpx.Client(base_url=address) as http:
        for email in (AUTHORIZED, "nobody@example.no"):
            started = time.monotonic()
            assert http.post("/v1/session/code", json={"email": email}).status_code == 202
            assert settings.code_answer_seconds <= time.monotonic() - started < 1.2
        deadline = time.monotonic() + 10
        while not list(outbox(store).glob("*.eml")):  # sent after the answer
            assert time.monotonic() < deadline, "the code was never sent"
            time.sleep(0.05)
    assert len(list(outbox(store).glob("*.eml"))) == 1


# Choosing one's own client address --------------------------------------------------------------------


def ask_as(settings: Settings, store: LocalStore, catalog: Catalog, forwarded: int) -> list[int]:
    """Statuses of ``forwarded`` code requests from 127.0.0.1, each claiming another X-Forwarded-For."""
    app = create_app(settings, catalog=catalog, store=store)
    with serving(app, settings) as base, httpx.Client(base_url=base) as http:
        return [
            http.post(
                "/v1/session/code", json={"email": f"x{i}@example.no"}, headers={"X-Forwarded-For": f"192.0.2.{i}"}
            ).status_code
            for i in range(forwarded)
        ]


def test_the_local_server_ignores_forwarded_addresses_by_default(catalog: Catalog, store: LocalStore) -> None:
    settings = Settings(data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0)
    assert settings.trusted_proxies == ()
    assert ask_as(settings, store, catalog, ADDRESSES_PER_CLIENT + 1) == [202] * ADDRESSES_PER_CLIENT + [429]


def test_the_local_server_believes_a_trusted_proxy(catalog: Catalog, store: LocalStore) -> None:
    settings = Settings.from_env(
        {
            "SDF_DATA_DIR": str(store.folder),
            "SDF_SESSION_SECRET": SECRET,
            "SDF_CODE_ANSWER_SECONDS": "0",
            "SDF_TRUSTED_PROXIES": "127.0.0.1, ::1",
        }
    )
    assert settings.trusted_proxies == ("127.0.0.1", "::1")
    assert ask_as(settings, store, catalog, ADDRESSES_PER_CLIENT + 1) == [202] * (ADDRESSES_PER_CLIENT + 1)


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings.from_env({"SDF_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1"}).trusted_proxies == (
        "10.0.0.0/8",
        "192.0.2.1",
    )
    with pytest.raises(ConfigurationError, match="SDF_TRUSTED_PROXIES"):
        Settings.from_env({"SDF_TRUSTED_PROXIES": "*"})


# Sessions that outlive the contact, its registration or a sign-out ----------------------------------------


def test_a_removed_contact_s_session_ends(client: TestClient, store: LocalStore) -> None:
    request_id = client.post("/v1/requests", json={"form": "service-request", "data": VALID}).json()["id"]
    assert client.get(f"/v1/requests/{request_id}").status_code == 200
    store.contacts.remove_contact(AUTHORIZED)
    for path in ("/v1/requests", f"/v1/requests/{request_id}", "/v1/session"):
        answer = client.get(path)
        assert (answer.status_code, answer.json()["code"]) == (401, "sign_in_required"), path


def test_a_code_exchanged_after_removal_opens_no_session(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    assert ask(anonymous).status_code == 202
    code = code_from_outbox(outbox(store), AUTHORIZED)
    store.contacts.remove_contact(AUTHORIZED)
    answer = exchange(anonymous, code)
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_code")


def test_registering_the_address_again_does_not_revive_old_sessions(anonymous: TestClient, store: LocalStore) -> None:
    contact = register(store.contacts, AUTHORIZED, "authorized-for-change")
    old = sign_in(anonymous, outbox(store), AUTHORIZED)
    store.contacts.put_contact(
        make_contact(AUTHORIZED, "Kari N.", "", "Kunde AS", ["authorized-for-change"], CONTACT_TYPES)
    )
    assert anonymous.get("/v1/session", headers=bearer(old)).json()["contact"]["name"] == "Kari N."  # an update
    store.contacts.remove_contact(AUTHORIZED)
    store.contacts.put_contact(contact)
    assert anonymous.get("/v1/session", headers=bearer(old)).status_code == 401
    new = sign_in(anonymous, outbox(store), AUTHORIZED)
    assert anonymous.get("/v1/session", headers=bearer(new)).status_code == 200


def test_sessions_name_their_issuer_and_audience(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    token = sign_in(anonymous, outbox(store), AUTHORIZED)
    claims = claims_of(token)
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert anonymous.get("/v1/session", headers=bearer(token)).status_code == 200
    without_audience = {k: v for k, v in claims.items() if k != "aud"}
    for forged in (
        {**claims, "iss": "someone-else"},
        {**claims, "aud": "another-service"},
        without_audience,
        {k: v for k, v in claims.items() if k != "iss"},
    ):
        answer = anonymous.get("/v1/session", headers=bearer(jwt.encode(forged, SECRET, algorithm="HS256")))
        assert (answer.status_code, answer.json()["code"]) == (401, "sign_in_required"), forged


def test_signing_out_ends_every_session_of_the_contact(anonymous: TestClient, store: LocalStore) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    register(store.contacts, "other@example.no", "authorized-for-change")
    laptop = sign_in(anonymous, outbox(store), AUTHORIZED)
    phone = sign_in(anonymous, outbox(store), AUTHORIZED)
    other = sign_in(anonymous, outbox(store), "other@example.no")
    answer = anonymous.delete("/v1/session", headers=bearer(laptop))
    assert (answer.status_code, answer.content) == (204, b"")
    for token in (laptop, phone):
        assert anonymous.get("/v1/requests", headers=bearer(token)).status_code == 401
        assert anonymous.delete("/v1/session", headers=bearer(token)).status_code == 401
    assert anonymous.get("/v1/requests", headers=bearer(other)).status_code == 200
    assert anonymous.delete("/v1/session").status_code == 401
    again = sign_in(anonymous, outbox(store), AUTHORIZED)
    assert anonymous.get("/v1/requests", headers=bearer(again)).status_code == 200


def test_a_session_signed_in_later_than_now_is_refused(anonymous: TestClient, store: LocalStore, clock: Clock) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    claims = claims_of(sign_in(anonymous, outbox(store), AUTHORIZED))
    now = int(clock().timestamp())
    for ahead, status in ((timedelta(days=3650), 401), (timedelta(hours=1), 401), (timedelta(seconds=5), 200)):
        forged = {**claims, "auth_time": now + int(ahead.total_seconds())}  # one that would never expire, and less
        answer = anonymous.get("/v1/session", headers=bearer(jwt.encode(forged, SECRET, algorithm="HS256")))
        assert answer.status_code == status, ahead


@pytest.mark.parametrize("secret", ["a" * 32, "abcdefghijklmnopqrstuvwxyz012345", "hemmelig" * 4, "key-" + "x" * 32])
def test_a_weak_session_secret_signs_nothing(store: LocalStore, clock: Clock, secret: str) -> None:
    with pytest.raises(ValueError, match="random"):
        SignIn(store.contacts, store.sign_in, secret.encode(), lambda *_: None, clock)
    with pytest.raises(ConfigurationError, match="SDF_SESSION_SECRET"):
        Settings(session_secret=secret)


def test_no_token_outlasts_the_session_s_lifetime_from_sign_in(
    anonymous: TestClient, store: LocalStore, clock: Clock
) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    claims = claims_of(sign_in(anonymous, outbox(store), AUTHORIZED))
    clock.advance(hours=7)
    now = int(clock().timestamp())
    # A token renewed an hour before the end: issued now, with a full lifetime of its own.
    renewed = {**claims, "iat": now, "exp": now + int(SESSION_LIFETIME.total_seconds())}
    token = jwt.encode(renewed, SECRET, algorithm="HS256")
    assert anonymous.get("/v1/session", headers=bearer(token)).status_code == 200
    clock.advance(hours=1)
    answer = anonymous.get("/v1/session", headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (401, "session_expired")


# The security stamp in both stores --------------------------------------------------------------------------


@pytest.fixture(params=["local", "aws"])
def register_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContactRegister]:
    if request.param == "local":
        yield LocalStore(tmp_path).contacts
        return
    seaweedfs: Server = request.getfixturevalue("seaweedfs")
    dynamodb: Server = request.getfixturevalue("dynamodb_local")
    with fresh_aws_store(seaweedfs, dynamodb) as store:
        yield store.contacts


def stamp(store: ContactRegister, email: str = AUTHORIZED) -> str:
    contact = store.get_contact(email)
    assert contact is not None
    return contact.security_stamp


def test_a_contact_keeps_its_stamp_until_removed_or_signed_out(register_store: ContactRegister) -> None:
    contact = register(register_store, AUTHORIZED, "authorized-for-change")
    first = stamp(register_store)
    assert len(first) >= 16
    register_store.put_contact(contact)
    assert stamp(register_store) == first
    assert [c.security_stamp for c in register_store.list_contacts()] == [first]
    renewed = register_store.renew_security_stamp(AUTHORIZED.upper())
    assert renewed is not None and renewed != first and stamp(register_store) == renewed
    assert register_store.get_contact(AUTHORIZED) == contact  # the stamp is not part of the contact's data
    register_store.remove_contact(AUTHORIZED)
    assert register_store.renew_security_stamp(AUTHORIZED) is None
    assert register_store.get_contact(AUTHORIZED) is None  # renewing never adds a contact
    register_store.put_contact(contact)
    assert stamp(register_store) not in ("", first, renewed)


def test_contacts_registered_before_stamps_sign_in(catalog: Catalog, tmp_path: Path, clock: Clock) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with sqlite3.connect(folder / "requests.sqlite3") as db:  # a register as an earlier version wrote it
        db.execute(
            "CREATE TABLE contacts (email TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL,"
            " organization TEXT NOT NULL, contact_types TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO contacts VALUES (?, 'Kari Nordmann', '', 'Kunde AS', '[\"authorized-for-change\"]')",
            (AUTHORIZED,),
        )
    db.close()
    store = LocalStore(folder)
    assert stamp(store.contacts) == ""
    settings = Settings(data_dir=folder, session_secret=SECRET, code_answer_seconds=0)
    with TestClient(create_app(settings, catalog=catalog, store=store, clock=clock)) as client:
        token = sign_in(client, outbox(store), AUTHORIZED)
        assert client.get("/v1/session", headers=bearer(token)).status_code == 200
    assert stamp(store.contacts) == claims_of(token)["stamp"]


def test_aws_contacts_registered_before_stamps_get_one(seaweedfs: Server, dynamodb_local: Server) -> None:
    with fresh_aws_store(seaweedfs, dynamodb_local) as store:
        register(store.contacts, AUTHORIZED, "authorized-for-change")
        key = {"pk": {"S": f"CONTACT#{AUTHORIZED}"}, "sk": {"S": "CONTACT"}}
        store.dynamodb.update_item(TableName=store.table, Key=key, UpdateExpression="REMOVE securityStamp")
        assert stamp(store.contacts) == ""
        renewed = store.contacts.renew_security_stamp(AUTHORIZED)
        assert renewed and stamp(store.contacts) == renewed
