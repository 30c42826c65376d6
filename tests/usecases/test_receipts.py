"""E-mails for an accepted request: the receipt with its copies, and the desk's notification."""

from __future__ import annotations

from datetime import date, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from handler import cli
from handler.app import create_app
from handler.mail import OutboxMailer, QueuedMail
from handler.schema.catalog import Catalog
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.usecases import mailing
from handler.usecases.mailing import MAIL_ATTEMPTS
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.receipts import DATA
from tests.helpers.shipped import form

SERVICE_NB = form().option_label("nb", "service", DATA["service"])
SERVICE_EN = form().option_label("en", "service", DATA["service"])
DESK = "desk@vendor.example"


class FlakyOutbox(OutboxMailer):
    """An outbox that fails while ``broken`` is set, like a mail service that is down."""

    broken = False

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        if self.broken:
            raise ConnectionError("mail service unreachable")
        return super().deliver(message, recipients)


@pytest.fixture
def mailer(store: LocalStore) -> FlakyOutbox:
    return FlakyOutbox("Kundeservice <no-reply@vendor.example>", store.folder / "outbox")


@pytest.fixture
def desk_app(catalog_with_incident: Catalog, store: LocalStore, clock: Clock, mailer: FlakyOutbox) -> FastAPI:
    from handler.services import build_services

    settings = Settings(
        data_dir=store.folder, session_secret=SECRET, desk_inbox=DESK, desk_language="en", code_answer_seconds=0
    )
    services = build_services(settings, catalog=catalog_with_incident, store=store, mailer=mailer, clock=clock)
    return create_app(settings, services=services)


@pytest.fixture
def desk_client(desk_app: FastAPI, store: LocalStore) -> Any:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(desk_app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = "Bearer " + sign_in(client, store.folder / "outbox", AUTHORIZED)
        yield client


def sent(store: LocalStore, services: Any = None) -> list[Any]:
    """What reached the outbox, after the sender has taken what was queued."""
    if services is not None:
        mailing.send_queued_mail(services.mailing)
    parse = BytesParser(policy=policy.default).parsebytes
    return [parse(p.read_bytes()) for p in sorted((store.folder / "outbox").glob("*.eml"))]


def test_the_receipt_goes_to_the_requester_with_copies_to_cc(desk_client: Any, store: LocalStore) -> None:
    answer = desk_client.post("/v1/requests?lang=nb", json={"form": "service-request", "data": DATA})
    reference = answer.json()["reference"]
    receipt = next(
        m
        for m in sent(store, desk_client.app.state.services)
        if m["X-Servicedesk-Reference"] == reference and DESK not in str(m["To"])
    )
    assert str(receipt["To"]) == f"Kari Nordmann <{AUTHORIZED}>"
    assert [a.addr_spec for a in receipt["Cc"].addresses] == DATA["cc"]
    assert receipt["Subject"] == f"Kvittering {reference}: Rapport for våren"
    assert receipt["Content-Language"] == "nb"
    text = receipt.get_body(preferencelist=("plain",)).get_content()
    assert f"Referansenummeret er {reference}." in text
    assert f"{form().label('nb', 'service')}\n{SERVICE_NB}" in text
    assert "Beskrivelse:\nVi trenger en CSV-fil.\nHelst før fredag." in text
    html = receipt.get_body(preferencelist=("html",)).get_content()
    assert SERVICE_NB in html and "<br>" in html


def test_the_desk_gets_a_notification_a_ticketing_system_can_ingest(desk_client: Any, store: LocalStore) -> None:
    reference = desk_client.post("/v1/requests", json={"form": "service-request", "data": DATA}).json()["reference"]
    (notice,) = [m for m in sent(store, desk_client.app.state.services) if str(m["To"]) == DESK]
    assert notice["Subject"] == f"[{reference}] {SERVICE_EN}: Rapport for våren"
    assert str(notice["Reply-To"]) == f"Kari Nordmann <{AUTHORIZED}>"
    assert notice["X-Servicedesk-Category"] == DATA["service"]
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert f"Reference: {reference}" in text
    assert f"Requester: Kari Nordmann <{AUTHORIZED}>, +47 912 34 567" in text
    for name, value in DATA.items():  # dates as the language writes them ("Period from: 01/01/2026")
        if (field := form().field(name)) and field.schema.get("format") == "date":
            assert f"{form().label('en', name)}: {date.fromisoformat(value):%d/%m/%Y}" in text
    assert f"{form().label('en', 'service')}\n{SERVICE_EN}" in text  # a question's answer on its own line


def test_a_replayed_submission_sends_nothing_again(desk_client: Any, store: LocalStore) -> None:
    for _ in range(2):
        desk_client.post(
            "/v1/requests", json={"form": "service-request", "data": DATA}, headers={"Idempotency-Key": "same-form-1"}
        )
    assert (
        len([m for m in sent(store, desk_client.app.state.services) if m["X-Servicedesk-Reference"]]) == 2
    )  # one receipt, one notification


def test_no_mail_for_a_refused_request(desk_client: Any, store: LocalStore) -> None:
    before = len(sent(store, desk_client.app.state.services))
    answer = desk_client.post("/v1/requests", json={"form": "service-request", "data": {**DATA, "subject": ""}})
    assert answer.status_code == 422
    assert len(sent(store, desk_client.app.state.services)) == before


def test_the_answer_never_waits_for_or_fails_with_the_mail_service(
    desk_client: Any, store: LocalStore, mailer: FlakyOutbox, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    services = desk_client.app.state.services
    mailer.broken = True
    answer = desk_client.post("/v1/requests", json={"form": "service-request", "data": DATA})
    assert answer.status_code == 201
    assert store.requests.get(answer.json()["id"]) is not None
    assert len(store.mail.queued_mails(10, services.clock())) == 2
    assert mailing.send_queued_mail(services.mailing) == (0, 2)
    assert store.mail.queued_mails(10, services.clock()) == []  # each waits a minute before its next try
    clock.advance(minutes=1)
    assert [(m.attempts, m.last_error) for m in store.mail.queued_mails(10, services.clock())] == [
        (1, "mail service unreachable"),
        (1, "mail service unreachable"),
    ]
    mailer.broken = False
    assert cli.main(["mail", "retry"], services=services) == 0
    assert "sent 2, failed again 0" in capsys.readouterr().out
    assert store.mail.queued_mails(10, services.clock()) == []
    assert len([m for m in sent(store) if m["X-Servicedesk-Reference"] == answer.json()["reference"]]) == 2


def test_the_outbox_path_is_logged_for_a_local_user(
    desk_client: Any, store: LocalStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="servicedesk_forms.mail")
    desk_client.post("/v1/requests", json={"form": "service-request", "data": DATA})
    mailing.send_queued_mail(desk_client.app.state.services.mailing)
    paths = [Path(str(r.args[1])) for r in caplog.records if r.name == "servicedesk_forms.mail" and r.args]  # type: ignore[index]
    assert paths and all(p.exists() for p in paths)


def test_a_message_that_keeps_failing_neither_blocks_the_queue_nor_stays_forever(
    desk_client: Any, store: LocalStore, mailer: FlakyOutbox
) -> None:
    services = desk_client.app.state.services
    broken = b'{"to": "not a list of recipients"}'  # cannot be built into a message
    earlier = services.clock() - timedelta(minutes=1)  # first in the queue
    store.mail.queue_mails([QueuedMail("bad", ("kari@example.no",), broken, 0, "", earlier)])
    mailer.broken = True
    desk_client.post("/v1/requests", json={"form": "service-request", "data": DATA})
    assert mailing.send_queued_mail(services.mailing, limit=1) == (0, 1)  # the unbuildable one is dropped
    assert "bad" not in [m.id for m in store.mail.queued_mails(10, services.clock())]
    for _ in range(MAIL_ATTEMPTS):
        mailing.send_queued_mail(services.mailing)
    assert store.mail.queued_mails(10, services.clock()) == []  # given up after MAIL_ATTEMPTS tries


def test_copies_go_once_to_each_address_whatever_its_case_and_never_to_the_requester(
    desk_client: Any, store: LocalStore
) -> None:
    data = {**DATA, "cc": ["Leder@Example.no", AUTHORIZED.upper()]}  # the requester is not copied to themselves
    reference = desk_client.post("/v1/requests", json={"form": "service-request", "data": data}).json()["reference"]
    (receipt,) = [
        m
        for m in sent(store, desk_client.app.state.services)
        if reference in str(m["Subject"]) and str(m["To"]) != DESK
    ]
    assert [a.addr_spec.lower() for a in receipt["Cc"].addresses] == ["leder@example.no"]
