"""Forwarding into the desk's Jira Service Management, on both stores, against a stateful fake of its API on
127.0.0.1: one request per request of ours whatever fails on the way (found again by its label), raised on
behalf of the requester, its status and public comments back through the signed Jira webhook (deduplicated),
and the requester's answers added to it as comments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from handler.schema.loader import load_catalog
from handler.settings import Settings
from handler.tickets import jira_signature
from handler.tickets.jsm import Jsm
from handler.usecases import mailing
from tests.helpers.accounts import AUTHORIZED, SECRET
from tests.helpers.fake_jsm import EMAIL, SERVICE_DESK_ID, TOKEN, FakeJsm, fake_jsm
from tests.helpers.ticket_desk import Desk, Killed, open_desk, quick_client

HOOK_SECRET = "jira-webhook-secret"
MAPPING = load_catalog().tickets.get("jsm")


@dataclass
class JsmDesk(Desk):
    """A desk forwarding into the fake JSM, and Jira's signed webhook."""

    jsm: FakeJsm

    def hook(self, body: Any, *, secret: str = HOOK_SECRET, identifier: str = "d-1") -> Any:
        raw = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": jira_signature(secret, raw),
            "X-Atlassian-Webhook-Identifier": identifier,
        }
        return self.client.post("/v1/hooks/jsm", content=raw, headers=headers)

    def event(self, key: str, status: str, minutes: float, comment: dict[str, Any] | None = None) -> dict[str, Any]:
        """A Jira webhook's body about the issue ``key``, ``minutes`` after now."""
        at = self.clock() + timedelta(minutes=minutes)
        body: dict[str, Any] = {
            "timestamp": int(at.timestamp() * 1000),
            "webhookEvent": "comment_created" if comment else "jira:issue_updated",
            "issue": {"id": "10001", "key": key, "fields": {"status": {"name": status}}},
        }
        return body | ({"comment": comment} if comment else {})


@pytest.fixture(params=["local", "aws"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JsmDesk]:
    if MAPPING is None or not MAPPING.request_types:
        pytest.skip("schema/site.json maps no request type for Jira Service Management (/tickets/jsm)")
    settings = Settings(
        data_dir=tmp_path / "data",
        session_secret=SECRET,
        code_answer_seconds=0,
        forward="jsm",
        jsm_url="http://127.0.0.1:9",  # the test's own client below talks to the fake
        jsm_email=EMAIL,
        jsm_token=TOKEN,
        jsm_service_desk_id=SERVICE_DESK_ID,
        jsm_webhook_secret=HOOK_SECRET,
    )
    with fake_jsm() as fake:
        fake.customers.append(("qm:requester", AUTHORIZED, "Autorisert Kontakt"))
        for kind in MAPPING.request_types.values():  # the desk has the request types the mapping names
            fake.request_types.setdefault(kind, "Service request")
            fake.fields.setdefault(kind, ("summary", "description", "attachment", "labels"))
        system = Jsm(fake.url, EMAIL, TOKEN, SERVICE_DESK_ID, client=quick_client())
        for opened in open_desk(request, tmp_path, settings, system):
            yield JsmDesk(opened.client, opened.services, opened.clock, fake)


def ours(their: str) -> str | None:
    return MAPPING.statuses.get(their) if MAPPING else None


def test_a_request_becomes_one_jsm_request_and_the_conversation_flows_both_ways(desk: JsmDesk) -> None:
    request = desk.submit(desk.upload())
    reference = request["reference"]
    # JSM is down, then throttles, then the worker ends right after JSM made the request.
    desk.jsm.faults += [(503, None), (429, "120")]
    assert desk.forward() == (0, 1)
    desk.clock.advance(minutes=1)
    assert desk.forward() == (0, 1)
    desk.clock.advance(seconds=121)
    desk.kill_after("POST /rest/servicedeskapi/request")
    with pytest.raises(Killed):
        desk.forward()
    desk.clock.advance(minutes=3)
    assert desk.forward() == (1, 0)
    (made,) = desk.jsm.request_of(reference)  # found again by its label, not made twice
    assert desk.jsm.calls.count("POST /rest/servicedeskapi/request") == 1
    assert made["raiseOnBehalfOf"] == "qm:requester" and made["attachments"] == ["skjerm.png"]
    assert made["summary"].startswith(reference) and made["requestTypeId"] in MAPPING.request_types.values()  # type: ignore[union-attr]
    key = made["key"]
    ticket = desk.services.forwarding.forwards.ticket_of(request["id"])
    assert ticket is not None and ticket.id == key and ticket.url.endswith(f"/browse/{key}")

    # The desk asks, publicly: the comment joins the thread, the status moves, the requester is e-mailed.
    asked = {"id": "20001", "body": "Hvilken periode?", "jsdPublic": True, "author": {"displayName": "Per Agent"}}
    event = desk.event(key, "Waiting for customer", 10, asked)
    assert desk.hook(event).json() == {"done": ["comment", "status"]}
    assert desk.hook(event).json() == {"done": []}  # Jira delivers it again (the same identifier): nothing twice
    shown = desk.shown(request["id"])
    assert shown["status"] == (ours("waiting for customer") or shown["status"])
    assert [m["body"] for m in shown["thread"] if m["kind"] == "message"] == ["Hvilken periode?"]
    mailing.send_queued_mail(desk.services.mailing)
    outbox = Path(desk.services.settings.data_dir) / "outbox"
    assert any(b"Hvilken periode" in p.read_bytes() for p in outbox.glob("*.eml"))
    # A private note stays in the desk.
    note = {"id": "20002", "body": "Internt", "jsdPublic": False, "author": {"displayName": "Per Agent"}}
    assert desk.hook(desk.event(key, "Waiting for customer", 11, note), identifier="d-2").json() == {"done": []}

    # The requester answers on the page: JSM gets it as a public comment naming them, once.
    desk.clock.advance(minutes=12)
    desk.answer(request["id"], "Januar til mars.", "answer-one")
    assert desk.forward() == (1, 0)
    added = [c for c in desk.jsm.requests[key]["comments"] if "Januar til mars." in c["body"]]
    assert len(added) == 1 and added[0]["public"] and AUTHORIZED in added[0]["body"]
    # Jira tells of that comment too (by the API's user): it is not the desk's answer.
    echo = {"id": added[0]["id"], "body": added[0]["body"], "jsdPublic": True, "author": {"emailAddress": EMAIL}}
    assert desk.hook(desk.event(key, "Waiting for support", 1, echo), identifier="d-3").json()["done"] != ["comment"]

    desk.hook(desk.event(key, "Resolved", 30), identifier="d-4")
    shown = desk.shown(request["id"])
    assert shown["status"] == (ours("resolved") or shown["status"])
    assert [m["author"] for m in shown["thread"] if m["kind"] == "message"] == ["agent", "requester"]


def test_the_jira_webhook_takes_only_what_the_desk_s_jira_signed(desk: JsmDesk) -> None:
    request = desk.submit()
    desk.forward()
    (made,) = desk.jsm.request_of(request["reference"])
    event = desk.event(made["key"], "In progress", 1)
    assert desk.hook(event, secret="someone-else").status_code == 401
    assert desk.client.post("/v1/hooks/jsm", json=event).status_code == 401  # unsigned
    assert desk.hook(desk.event("SD-999", "In progress", 1)).status_code == 404
    for bad in ([1], {"issue": "SD-1"}, {**event, "timestamp": "now"}, {**event, "timestamp": True}):
        assert desk.hook(bad).status_code == 422, bad
    big = desk.event(made["key"], "In progress", 1, {"id": "1", "body": "x" * 70_000, "jsdPublic": True})
    assert desk.hook(big).status_code == 413
    document = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Ferdig"}]}]}
    rich = desk.event(made["key"], "In progress", 2, {"id": "9", "body": document, "jsdPublic": True})
    assert desk.hook(rich).json()["done"][0] == "comment"
    assert [m["body"] for m in desk.shown(request["id"])["thread"] if m["kind"] == "message"] == ["Ferdig"]
