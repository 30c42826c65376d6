"""Hostile input to the ticket systems' webhooks, signed as the desk's own system signs it (so that it gets past
the signature to the parsing and the use case): every answer below 500, every 4xx in the API's error shape, and
nothing stored for a request but what a well-formed event says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.app import create_app
from handler.forwarding import Ticket
from handler.services import Services, build_services
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.tickets import jira_signature, zendesk_signature
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.examples import examples
from tests.helpers.problems import validate_problem
from tests.helpers.shipped import form, valid_data

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
HOOK_SECRET = "hook-secret"
TICKET = "41"
DESK_URL, API_USER = "https://desk.example", "api@desk.example"
# Any JSON value, small: what a hostile (or broken) sender may put where the event has a value.
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def zendesk_event() -> dict[str, Any]:
    return {
        "ticket_id": TICKET,
        "status": "pending",
        "updated_at": NOW.isoformat(),
        "comment": {"id": "1", "body": "Svar", "public": True, "author": "Per", "author_email": "per@desk.example"},
    }


def jira_event() -> dict[str, Any]:
    return {
        "timestamp": int(NOW.timestamp() * 1000),
        "webhookEvent": "comment_created",
        "issue": {"key": TICKET, "fields": {"status": {"name": "In progress"}}},
        "comment": {"id": "1", "body": "Svar", "jsdPublic": True, "author": {"displayName": "Per"}},
    }


SYSTEMS = {"zendesk": zendesk_event, "jsm": jira_event}


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where ``value`` has a value: each key's place, nested."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*at, key)
            yield from paths(inner, (*at, key))


def put(event: dict[str, Any], at: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = json.loads(json.dumps(event))
    place = changed
    for key in at[:-1]:
        place = place[key]
    place[at[-1]] = value
    return changed  # type: ignore[no-any-return]


class Hooks:
    def __init__(self, client: TestClient, services: Services, system: str) -> None:
        self.client, self.services, self.system = client, services, system

    def send(self, body: bytes) -> Any:
        if self.system == "zendesk":
            stamp = NOW.isoformat()
            headers = {
                "X-Zendesk-Webhook-Signature": zendesk_signature(HOOK_SECRET, stamp, body),
                "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            }
        else:
            headers = {"X-Hub-Signature": jira_signature(HOOK_SECRET, body)}
        headers["Content-Type"] = "application/json"
        return self.client.post(f"/v1/hooks/{self.system}", content=body, headers=headers)


@pytest.fixture(params=sorted(SYSTEMS))
def hooks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hooks]:
    system = request.param
    common = {"data_dir": tmp_path, "session_secret": SECRET, "code_answer_seconds": 0, "forward": system}
    settings_ = (
        Settings(
            **common,
            zendesk_url=DESK_URL,
            zendesk_email=API_USER,
            zendesk_token="t",
            zendesk_webhook_secret=HOOK_SECRET,
        )
        if system == "zendesk"
        else Settings(
            **common,
            jsm_url=DESK_URL,
            jsm_email=API_USER,
            jsm_token="t",
            jsm_service_desk_id="1",
            jsm_webhook_secret=HOOK_SECRET,
        )
    )
    services = build_services(settings_, store=LocalStore(tmp_path), clock=Clock(NOW))
    register(services.store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings_, services=services), raise_server_exceptions=False) as client:
        token = sign_in(client, tmp_path / "outbox", AUTHORIZED)
        sent = client.post(
            "/v1/requests",
            json={"form": form().id, "data": valid_data()},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert sent.status_code == 201, sent.text
        ticket = Ticket(system, TICKET, f"https://desk.example/{TICKET}")
        services.forwarding.forwards.keep_ticket(sent.json()["id"], ticket)
        yield Hooks(client, services, system)


def wrong(answer: Any) -> str | None:
    if answer.status_code >= 500:
        return f"answered {answer.status_code}: {answer.text[:300]}"
    if answer.status_code >= 400:
        try:
            validate_problem(answer.json())
        except (ValueError, jsonschema.ValidationError) as exc:
            return f"a {answer.status_code} not in the error shape ({type(exc).__name__}): {answer.text[:300]}"
    return None


def test_any_value_anywhere_in_a_signed_event_is_answered_below_500(hooks: Hooks) -> None:
    event = SYSTEMS[hooks.system]()
    places = list(paths(event))
    failures: list[str] = []
    statuses: set[int] = set()

    @given(at=st.sampled_from(places), value=VALUES)
    @settings(max_examples=examples(300), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(at: tuple[Any, ...], value: Any) -> None:
        answer = hooks.send(json.dumps(put(event, at, value)).encode())
        statuses.add(answer.status_code)
        if problem := wrong(answer):
            failures.append(f"{at} = {value!r}: {problem}")

    run()
    assert not failures, "\n".join(failures[:10])
    assert {200, 422} <= statuses  # some reached the request (and its conversation), some were refused


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"text"',
        b"{",
        b"\xff\xfe",
        b'{"a": 1, "a": 2}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"comment": {"body": ' + b'{"content": [' * 5_000 + b"]}" * 5_000 + b"}}",
        json.dumps({"x": "\ud800"}).encode(),
        b"NaN",
    ],
    ids=lambda body: repr(body[:20]),
)
def test_malformed_bodies_are_refused_below_500(hooks: Hooks, body: bytes) -> None:
    answer = hooks.send(body)
    assert wrong(answer) is None and answer.status_code in (400, 413, 415, 422)


@pytest.mark.parametrize("hooks", ["jsm"], indirect=True)  # only Jira sends comments as documents of nodes
def test_a_deep_document_comment_is_read_without_recursion(hooks: Hooks) -> None:
    deep: dict[str, Any] = {"type": "text", "text": "dypt"}
    for _ in range(200):
        deep = {"type": "paragraph", "content": [deep]}
    event = put(jira_event(), ("comment", "body"), {"type": "doc", "content": [deep]})
    answer = hooks.send(json.dumps(event).encode())
    assert wrong(answer) is None and answer.status_code == 200
