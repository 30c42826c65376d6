"""Forwarding into the desk's Zendesk, on both stores, against a stateful fake of Zendesk's API on 127.0.0.1: exactly
one ticket per request whatever fails on the way, its status and public comments back through the signed webhook,
and accepting a request never waiting for Zendesk."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from handler import cli
from handler.app import create_app
from handler.schema.loader import load_catalog
from handler.services import Services, build_services, with_forward_secret
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.tickets import zendesk_signature as signature
from handler.tickets.zendesk import Zendesk
from handler.usecases import forwarding, mailing
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import NOW, Clock
from tests.helpers.fake_zendesk import EMAIL, TOKEN, FakeZendesk, fake_zendesk
from tests.helpers.servers import ACCESS_KEY, REGION, SECRET_KEY, MailServer
from tests.helpers.shipped import form, valid_data
from tests.helpers.ticket_desk import Desk, Killed, open_desk, quick_client

HOOK_SECRET = "zendesk-signing-secret"
DESK = "desk@vendor.example"
MAPPING = load_catalog().tickets.get("zendesk")


@dataclass
class ZendeskDesk(Desk):
    """A desk forwarding into the fake Zendesk, and the Zendesk trigger's signed webhook."""

    zendesk: FakeZendesk

    def hook(self, body: dict[str, Any], *, at: str | None = None, secret: str = HOOK_SECRET) -> Any:
        raw = json.dumps(body).encode()
        stamp = at or self.clock().isoformat()
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Signature": signature(secret, stamp, raw),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
        return self.client.post("/v1/hooks/zendesk", content=raw, headers=headers)


def settings_for(data_dir: Path, url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        session_secret=SECRET,
        code_answer_seconds=0,
        forward="zendesk",
        zendesk_url=url,
        zendesk_email=EMAIL,
        zendesk_token=TOKEN,
        zendesk_webhook_secret=HOOK_SECRET,
        desk_inbox=DESK,
    )


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with fake_zendesk() as fake:
        yield fake


@pytest.fixture(params=["local", "aws"])
def desk(request: pytest.FixtureRequest, tmp_path: Path, zendesk: FakeZendesk) -> Iterator[ZendeskDesk]:
    system = Zendesk(zendesk.url, EMAIL, TOKEN, client=quick_client())
    for opened in open_desk(request, tmp_path, settings_for(tmp_path / "data", zendesk.url), system):
        yield ZendeskDesk(opened.client, opened.services, opened.clock, zendesk)


def run_cli(services: Services, *words: str) -> str:
    out = io.StringIO()
    assert cli.main(list(words), out=out, services=services) == 0
    return out.getvalue()


def test_a_request_becomes_one_ticket_whatever_fails_and_the_ticket_s_word_comes_back(desk: ZendeskDesk) -> None:
    start = desk.clock()
    request = desk.submit(desk.upload())
    reference = request["reference"]
    # Zendesk is busy, then throttles, then answers too late (the ticket is made, the answer lost).
    desk.zendesk.faults += [(503, None), (429, "300")]
    assert desk.forward() == (0, 1)
    assert desk.forward() == (0, 0)  # it waits a minute
    desk.clock.advance(minutes=1)
    assert desk.forward() == (0, 1)
    desk.clock.advance(seconds=200)
    assert desk.forward() == (0, 0)  # Zendesk said 300 seconds, longer than the two minutes of the second wait
    desk.clock.advance(seconds=101)
    desk.zendesk.delays += [0, 0, 1.5]  # it looks for the ticket, uploads, makes it: that answer comes too late
    assert desk.forward() == (0, 1)
    desk.clock.advance(minutes=5)
    assert desk.forward() == (1, 0)
    (ticket,) = desk.zendesk.ticket_of(reference)  # the lost answer's ticket, found by its external_id
    assert desk.zendesk.calls.count("POST /api/v2/tickets.json") == 1
    assert ticket["requester"]["email"] == AUTHORIZED and ticket["attachments"] == ["skjerm.png"]
    assert ticket["subject"].startswith(reference) and "servicedesk-forms" in ticket["tags"]
    for label in ("Emne", "Beskrivelse"):
        if label in json.dumps(form().texts["nb"]):
            assert label in ticket["description"]
    ours = desk.services.forwarding.forwards.ticket_of(request["id"])
    assert ours is not None and ours.id == str(ticket["id"]) and ours.url.endswith(f"/agent/tickets/{ticket['id']}")
    assert desk.forward() == (0, 0)

    # Zendesk says: pending, with a public comment. It joins the thread, moves the status, mails the requester.
    event = {
        "ticket_id": str(ticket["id"]),
        "status": "pending",
        "updated_at": (start + timedelta(hours=1)).isoformat(),
        "comment": {"id": "c-1", "body": "Hvilken periode gjelder det?", "public": True, "author": "Per Agent"},
    }
    assert desk.hook(event).json() == {"done": ["comment", "status"]}
    assert desk.hook(event).json() == {"done": []}  # the same event again: nothing twice
    shown = desk.client.get(f"/v1/requests/{request['id']}").json()
    assert shown["status"] == (MAPPING.statuses["pending"] if MAPPING else shown["status"])
    messages = [e for e in shown["thread"] if e["kind"] == "message"]
    assert [(m["author"], m["name"], m["body"], m["channel"]) for m in messages] == [
        ("agent", "Per Agent", "Hvilken periode gjelder det?", "ticket")
    ]
    mailing.send_queued_mail(desk.services.mailing)
    outbox = Path(desk.services.settings.data_dir) / "outbox"
    assert any(b"Hvilken periode" in p.read_bytes() for p in outbox.glob("*.eml"))
    # An older event arriving late moves nothing back; a private note never leaves the desk.
    old = {
        **event,
        "status": "new",
        "updated_at": start.isoformat(),
        "comment": {"id": "c-2", "body": "Intern", "public": False},
    }
    assert desk.hook(old).json() == {"done": []}

    # The requester answers on the page: the ticket gets it as the requester's public comment, once.
    answer = {"body": "Januar til mars."}
    desk.clock.advance(minutes=1)
    path = f"/v1/requests/{request['id']}/messages"
    sent = desk.client.post(path, json=answer, headers={"Idempotency-Key": "answer-1"})
    assert sent.status_code == 201, sent.text
    desk.kill_after("PUT /api/v2/tickets/{}.json".format(ticket["id"]))  # the comment is added, the worker ends
    with pytest.raises(Killed):
        desk.forward()
    desk.clock.advance(minutes=3)  # the worker's hold on the job ends
    assert desk.forward() == (1, 0)
    added = [c for c in desk.zendesk.tickets[ticket["id"]]["comments"] if c["body"] == "Januar til mars."]
    assert [(c["public"], c["author_id"]) for c in added] == [(True, ticket["requester_id"])]
    assert desk.forward() == (0, 0)
    # The desk's notice of the answer points to the ticket; the command line shows it too.
    mailing.send_queued_mail(desk.services.mailing)
    notices = [p.read_text() for p in outbox.glob("*.eml") if "Januar til mars." in p.read_text()]
    assert any(DESK in notice and ours.url in notice for notice in notices)
    shown_cli = json.loads(run_cli(desk.services, "requests", "show", reference))
    assert shown_cli["ticket"] == {"system": "zendesk", "id": ours.id, "url": ours.url}
    # Zendesk's trigger tells of that comment too: it is the requester's own, not the desk's answer.
    echo = {
        **event,
        "updated_at": (start + timedelta(hours=1, minutes=30)).isoformat(),
        "comment": {"id": "c-3", "body": "Januar til mars.", "public": True, "author_email": AUTHORIZED.upper()},
    }
    assert "comment" not in desk.hook(echo).json()["done"]

    solved = {**event, "status": "solved", "updated_at": (start + timedelta(hours=2)).isoformat(), "comment": None}
    assert desk.hook(solved).json() == {"done": ["status"]}
    shown = desk.client.get(f"/v1/requests/{request['id']}").json()
    assert [(e["author"], e["body"]) for e in shown["thread"] if e["kind"] == "message"] == [
        ("agent", "Hvilken periode gjelder det?"),
        ("requester", "Januar til mars."),
    ]
    assert shown["status"] == (MAPPING.statuses["solved"] if MAPPING else shown["status"])
    if MAPPING and MAPPING.statuses["solved"] in desk.services.catalog.conversation.closed:
        late = desk.client.post(f"/v1/requests/{request['id']}/messages", json={"body": "En ting til"})
        assert late.status_code == 409 and late.json()["code"] == "request_closed"


def test_a_worker_killed_mid_call_on_its_first_try_leaves_one_ticket(desk: ZendeskDesk) -> None:
    request = desk.submit(desk.upload())
    desk.kill_after("POST /api/v2/tickets.json")  # Zendesk made the ticket; the worker never heard
    with pytest.raises(Killed):
        desk.forward()
    assert desk.forward() == (0, 0)  # held by the worker that ended, until its hold runs out
    desk.clock.advance(minutes=3)
    assert desk.forward() == (1, 0)
    assert len(desk.zendesk.ticket_of(request["reference"])) == 1
    assert desk.zendesk.calls.count("GET /api/v2/tickets.json") == 1  # it looked before making another


def test_the_webhook_takes_only_what_the_desk_s_zendesk_signed_now(desk: ZendeskDesk) -> None:
    request = desk.submit()
    desk.forward()
    (ticket,) = desk.zendesk.ticket_of(request["reference"])
    event = {"ticket_id": str(ticket["id"]), "status": "open", "updated_at": desk.clock().isoformat()}
    assert desk.hook(event, secret="someone-else").status_code == 401
    assert desk.hook(event, at=(desk.clock() - timedelta(minutes=10)).isoformat()).status_code == 401  # a replay
    unsigned = desk.client.post("/v1/hooks/zendesk", json=event)
    assert unsigned.status_code == 401
    assert desk.hook({**event, "ticket_id": "999999"}).status_code == 404
    assert desk.hook({**event, "updated_at": "yesterday"}).status_code == 422
    assert desk.hook([1, 2]).status_code == 422  # type: ignore[arg-type]
    big = {**event, "comment": {"id": "x", "body": "x" * 70_000, "public": True}}
    assert desk.hook(big).status_code == 413
    assert desk.hook(event).status_code == 200


def test_a_request_zendesk_refuses_is_given_up_with_why_and_forwarded_again_by_the_operator(desk: ZendeskDesk) -> None:
    request = desk.submit()
    desk.zendesk.faults.append((422, None))
    assert desk.forward() == (0, 1)
    desk.clock.advance(hours=3)
    assert desk.forward() == (0, 0)  # a refusal is not tried again by itself
    listed = run_cli(desk.services, "forward", "failed")
    assert request["reference"] in listed and "422" in listed
    assert "forwarded 1" in run_cli(desk.services, "forward", "retry", request["reference"])
    assert len(desk.zendesk.ticket_of(request["reference"])) == 1
    assert run_cli(desk.services, "forward", "failed") == "no forwarding was given up\n"
    assert "the credentials work" in run_cli(desk.services, "forward", "check")


def test_accepting_a_request_never_waits_for_zendesk(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", "http://127.0.0.1:9")  # nothing listens there
    services = build_services(settings, store=LocalStore(tmp_path / "data"), clock=Clock(NOW))
    register(services.store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, tmp_path / 'data' / 'outbox', AUTHORIZED)}"
        sent = client.post("/v1/requests", json={"form": form().id, "data": valid_data()})
        assert sent.status_code == 201, sent.text
    (job,) = services.forwarding.forwards.due_forwards(NOW + timedelta(seconds=1), 10)
    assert job.request_id == sent.json()["id"] and job.target == "zendesk"
    assert forwarding.forward_due(services.forwarding) == (0, 1)  # tried, failed, kept for later


def test_on_aws_the_zendesk_token_and_webhook_secret_come_from_secrets_manager(
    ses: MailServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # moto's server stands in for Secrets Manager (nothing else runs it offline); the handler's own client finds
    # it through boto3's per-service endpoint variable.
    kept = {"token": "from-the-secret", "webhookSecret": "signed-by-zendesk"}
    client = boto3.session.Session().client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=ses.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    arn = client.create_secret(Name=f"zendesk-{tmp_path.name}", SecretString=json.dumps(kept))["ARN"]
    for name, value in {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": ses.endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    settings = replace(
        settings_for(tmp_path, "https://example.zendesk.com"),
        zendesk_token="",
        zendesk_webhook_secret="",
        forward_secret_arn=arn,
        region=REGION,
    )
    filled = with_forward_secret(settings)
    assert (filled.zendesk_token, filled.zendesk_webhook_secret) == ("from-the-secret", "signed-by-zendesk")
    assert "from-the-secret" not in repr(filled)  # never in a log line
