"""The conversation on a request over the API and the CLI: the requester answers on the page, the desk from the CLI,
each side is e-mailed, statuses move as schema/site.json says, and nobody else reads or answers.

Which statuses an answer moves and which are closed are read from schema/, never written here."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient

from handler import cli
from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.schema.loader import load_catalog
from handler.services import Services, build_services
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.texts import fill
from handler.uploads import Limits
from handler.usecases import mailing
from handler.usecases.attaching import attachments_field
from handler.usecases.desk import change_status
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import NOW, Clock
from tests.helpers.shipped import form, valid_data

DESK = "desk@example.no"
SITE = "https://desk.example.no"
OTHER = "ola.nordmann@example.no"
RULES = load_catalog().conversation


@pytest.fixture
def desk(tmp_path: Path, catalog: Catalog) -> Iterator[tuple[TestClient, Services]]:
    """The API with a desk inbox, signed in as a contact authorized for change, and its services."""
    store = LocalStore(tmp_path / "data")
    settings = Settings(
        data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0, desk_inbox=DESK, site_url=SITE
    )
    services = build_services(settings, catalog=catalog, store=store, clock=Clock(NOW))
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, store.folder / 'outbox', AUTHORIZED)}"
        yield client, services


def sent_request(client: TestClient, language: str = "nb") -> dict[str, Any]:
    answer = client.post(
        "/v1/requests", json={"form": "service-request", "data": valid_data()}, headers={"Accept-Language": language}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def reply(client: TestClient, request_id: str, body: Any, key: str | None = None, language: str = "nb") -> Any:
    headers = {"Accept-Language": language, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/v1/requests/{request_id}/messages", json=body, headers=headers)


def mails_to(services: Services, address: str) -> list[Any]:
    """The e-mails to ``address``, once the queue has been sent."""
    mailing.send_queued_mail(services.mailing)
    outbox = Path(services.settings.data_dir) / "outbox"
    parsed = [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in parsed if address in str(m["To"])]


def text_of(mail: Any) -> str:
    return str(mail.get_body(preferencelist=("plain",)).get_content())


def run_cli(services: Services, *words: str) -> str:
    out = io.StringIO()
    assert cli.main(list(words), out=out, services=services) == 0
    return out.getvalue()


def thread_of(client: TestClient, request_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/requests/{request_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["thread"]  # type: ignore[no-any-return]


def test_the_requester_answers_on_the_page_once_per_key_and_the_desk_is_told(
    desk: tuple[TestClient, Services],
) -> None:
    client, services = desk
    request = sent_request(client)
    body = "Hei!\nVedlegget kommer i neste melding.\n\n<b>ikke HTML</b>"
    first = reply(client, request["id"], {"body": f"  {body}  \n\n"}, key="reply-key-0001")
    assert first.status_code == 201, first.text
    assert first.json()["message"]["body"] == body  # kept as written, without the blank ends
    again = reply(client, request["id"], {"body": body}, key="reply-key-0001")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["message"] == first.json()["message"]
    other = reply(client, request["id"], {"body": "Noe annet"}, key="reply-key-0001")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_conflict"
    messages = [entry for entry in thread_of(client, request["id"]) if entry["kind"] == "message"]
    assert [(m["author"], m["name"], m["body"], m["channel"]) for m in messages] == [
        ("requester", "Kari Nordmann", body, "page")
    ]
    texts = services.catalog.common[services.catalog.default_language]["email"]
    title = valid_data()[form().title_field]
    subject = fill(texts["messageDeskSubject"], {"reference": request["reference"], "title": title})
    (notice,) = [m for m in mails_to(services, DESK) if str(m["Subject"]) == subject]
    assert AUTHORIZED in str(notice["Reply-To"])
    assert body in text_of(notice)


def test_the_thread_weaves_status_changes_and_messages_oldest_first(desk: tuple[TestClient, Services]) -> None:
    client, services = desk
    request = sent_request(client)
    clock: Clock = services.clock  # type: ignore[assignment]
    clock.advance(minutes=5)
    reply(client, request["id"], {"body": "Første"})
    clock.advance(minutes=5)
    later = next(s for s in services.catalog.statuses if s not in RULES.closed and s != request["status"])
    change_status(services.desk, request["reference"], later, "Agent", "Vi ser på det")
    clock.advance(minutes=5)
    run_cli(services, "requests", "reply", request["reference"], "--agent", "Agent Smith", "--message", "Svar")
    kinds = [(e["kind"], e.get("status") or e.get("body")) for e in thread_of(client, request["id"])]
    assert kinds == [("status", request["status"]), ("message", "Første"), ("status", later), ("message", "Svar")]
    assert "agent" not in thread_of(client, request["id"])[2]  # the agent's own name stays inside the vendor


@pytest.mark.skipif(not RULES.reply_moves, reason="schema/site.json moves no status when the requester answers")
def test_an_answer_while_the_desk_waits_for_it_moves_the_request_on(desk: tuple[TestClient, Services]) -> None:
    client, services = desk
    request = sent_request(client)
    waiting, moved_to = next(iter(RULES.reply_moves.items()))
    change_status(services.desk, request["reference"], waiting, "Agent", "Hvilken rapport gjelder det?")
    answer = reply(client, request["id"], {"body": "Innleveringsrapporten."})
    assert answer.status_code == 201, answer.text
    assert answer.json()["request"]["status"] == moved_to
    assert client.get(f"/v1/requests/{request['id']}").json()["status"] == moved_to
    statuses = [e["status"] for e in thread_of(client, request["id"]) if e["kind"] == "status"]
    assert statuses[-2:] == [waiting, moved_to]


@pytest.mark.skipif(
    not RULES.closed or RULES.reopen_as is not None, reason="schema/site.json lets an answer reopen a closed request"
)
@pytest.mark.parametrize("language", ["nb", "en"])
def test_a_closed_request_says_how_to_go_on_instead_of_taking_an_answer(
    desk: tuple[TestClient, Services], language: str
) -> None:
    client, services = desk
    request = sent_request(client)
    change_status(services.desk, request["reference"], sorted(RULES.closed)[0], "Agent")
    answer = reply(client, request["id"], {"body": "Et svar til"}, language=language)
    assert answer.status_code == 409 and answer.json()["code"] == "request_closed"
    assert request["reference"] in answer.json()["detail"]
    assert answer.headers["Content-Language"] == language
    assert [e for e in thread_of(client, request["id"]) if e["kind"] == "message"] == []


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ({"body": " \n "}, "required"),
        ({}, "required"),
        ({"body": 7}, "required"),
        ([], "required"),
        ({"body": "x" * (RULES.max_chars + 1)}, "maxLength"),
    ],
)
@pytest.mark.parametrize("language", ["nb", "en"])
def test_an_empty_or_overlong_answer_is_refused_at_its_field_in_the_language_asked(
    desk: tuple[TestClient, Services], body: Any, keyword: str, language: str
) -> None:
    client, services = desk
    request = sent_request(client)
    answer = reply(client, request["id"], body, language=language)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    texts = services.catalog.common[language]["conversation"]
    expected = texts["required"] if keyword == "required" else texts["tooLong"].replace("{limit}", str(RULES.max_chars))
    assert (error["field"], error["pointer"], error["keyword"], error["detail"]) == ("body", "/body", keyword, expected)


def test_nobody_else_reads_or_answers_a_request(desk: tuple[TestClient, Services], tmp_path: Path) -> None:
    client, services = desk
    request = sent_request(client)
    register(services.store.contacts, OTHER, "authorized-for-change")
    with TestClient(create_app(services.settings, services=services), raise_server_exceptions=False) as other:
        other.headers["Authorization"] = f"Bearer {sign_in(other, Path(services.settings.data_dir) / 'outbox', OTHER)}"
        assert other.get(f"/v1/requests/{request['id']}").status_code == 404
        refused = reply(other, request["id"], {"body": "Ikke min"})
        assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    del client.headers["Authorization"]
    assert reply(client, request["id"], {"body": "Uten økt"}).status_code == 401
    assert reply(client, "not-an-id", {"body": "x"}).status_code == 401
    client.headers["Authorization"] = "Bearer nonsense"
    assert reply(client, request["id"], {"body": "x"}).status_code == 401
    assert services.conversing.conversation.messages(request["id"]) == []


@pytest.mark.parametrize("language", ["nb", "en"])
def test_an_agent_answers_from_the_cli_and_the_requester_is_mailed_in_their_language(
    desk: tuple[TestClient, Services], language: str
) -> None:
    client, services = desk
    request = sent_request(client, language)
    out = run_cli(
        services, "requests", "reply", request["reference"], "--agent", "Agent Smith", "--message", "Hei!\nSvar"
    )
    assert out.startswith(f"answered {request['reference']} as Agent Smith")
    (mail,) = [
        m for m in mails_to(services, AUTHORIZED) if "Hei!" in m.get_body(preferencelist=("plain",)).get_content()
    ]
    texts = services.catalog.common[language]["email"]
    assert str(mail["Subject"]).startswith(texts["messageSubject"].split("{")[0])
    assert str(mail["Reply-To"]) == DESK
    assert (
        f"{SITE}/{language}/my-requests/?id={request['id']}" in mail.get_body(preferencelist=("plain",)).get_content()
    )
    shown = run_cli(services, "requests", "show", request["reference"])
    assert '"author": "agent"' in shown and '"name": "Agent Smith"' in shown and "Hei!\\nSvar" in shown
    (entry,) = [e for e in thread_of(client, request["id"]) if e["kind"] == "message"]
    assert (entry["author"], entry["name"], entry["channel"]) == ("agent", "Agent Smith", "cli")


def test_an_agent_answer_that_is_empty_or_to_no_request_is_refused(
    desk: tuple[TestClient, Services], capsys: pytest.CaptureFixture[str]
) -> None:
    client, services = desk
    request = sent_request(client)
    assert (
        cli.main(["requests", "reply", request["reference"], "--agent", "A", "--message", "  "], services=services) == 1
    )
    assert "a message has 1 to" in capsys.readouterr().err
    assert cli.main(["requests", "reply", "SR-NONE-0000", "--agent", "A", "--message", "x"], services=services) == 1
    assert "no request has the id or reference SR-NONE-0000" in capsys.readouterr().err


FILES_FIELD = attachments_field(form())
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def upload(client: TestClient, content: bytes = PNG, name: str = "skjerm.png") -> str:
    """An upload slot for the form's attachments field, with the file sent to it."""
    assert FILES_FIELD is not None
    slot = {"form": form().id, "field": FILES_FIELD.name, "name": name, "type": "image/png", "size": len(content)}
    target = client.post("/v1/uploads", json=slot)
    assert target.status_code == 201, target.text
    sent = client.post(target.json()["url"], data=target.json()["fields"], files={"file": ("f", content, "image/png")})
    assert sent.status_code in (200, 204), sent.text
    return str(target.json()["id"])


@pytest.mark.skipif(
    FILES_FIELD is None or "image/png" not in Limits.of(FILES_FIELD).types,
    reason="schema/'s form takes no PNG files in an attachments field",
)
def test_a_reply_takes_files_through_upload_slots_checked_as_the_form_s(desk: tuple[TestClient, Services]) -> None:
    client, services = desk
    request = sent_request(client)
    files = [upload(client), upload(client, name="to.png")]
    answer = reply(client, request["id"], {"body": "", "attachments": files}, key="reply-files-0001")
    assert answer.status_code == 201, answer.text
    assert [a["name"] for a in answer.json()["message"]["attachments"]] == ["skjerm.png", "to.png"]
    again = reply(client, request["id"], {"body": "", "attachments": files}, key="reply-files-0001")
    assert again.json()["message"] == answer.json()["message"] and again.headers["Idempotent-Replayed"] == "true"
    (message,) = services.conversing.conversation.messages(request["id"])
    assert [services.blobs.head(a.key, len(PNG)) for a in message.attachments] == [PNG, PNG]
    # An upload is taken once: by this reply, so no other message or request gets it.
    taken = reply(client, request["id"], {"body": "Igjen", "attachments": files[:1]})
    assert taken.status_code == 422 and taken.json()["errors"][0]["pointer"] == "/attachments/0"
    fake = upload(client, b"not a picture at all", "falsk.png")
    refused = reply(client, request["id"], {"body": "x", "attachments": ["no-such-upload", fake]})
    assert refused.status_code == 422, refused.text
    problems = [(e["field"], e["pointer"], e["keyword"]) for e in refused.json()["errors"]]
    assert problems == [
        ("attachments", "/attachments/0", "x-upload"),
        ("attachments", "/attachments/1", "x-upload-content"),
    ]
    assert len(services.conversing.conversation.messages(request["id"])) == 1
    assert services.store.requests.pending_before(NOW + timedelta(days=1)) == []  # the refused reply's copies are gone
    assert reply(client, request["id"], {"body": "x", "attachments": "nope"}).status_code == 422


COPY_FIELDS = [f.name for f in form().fields if f.lists_addresses]


@pytest.mark.skipif(not COPY_FIELDS, reason="schema/'s form has no field of addresses to copy")
def test_the_desk_s_answer_is_copied_to_whom_the_request_was_copied_to(desk: tuple[TestClient, Services]) -> None:
    client, services = desk
    data = valid_data(**{COPY_FIELDS[0]: ["kopi@example.no", AUTHORIZED.upper()]})
    sent = client.post("/v1/requests", json={"form": form().id, "data": data})
    assert sent.status_code == 201, sent.text
    run_cli(services, "requests", "reply", sent.json()["reference"], "--agent", "Per", "--message", "Kopi til deg")
    (mail,) = [m for m in mails_to(services, AUTHORIZED) if "Kopi til deg" in text_of(m)]  # once, though copied too
    assert "Cc" not in mail
    (copy,) = [m for m in mails_to(services, "kopi@example.no") if "Kopi til deg" in text_of(m)]
    assert f"{SITE}/nb/my-requests/" not in text_of(copy)  # the page is the requester's, not the copied one's


@pytest.mark.skipif(not COPY_FIELDS, reason="schema/'s form has no field of addresses to copy")
def test_someone_copied_stops_the_copies_with_the_link_in_one(desk: tuple[TestClient, Services]) -> None:
    client, services = desk
    sent = client.post(
        "/v1/requests", json={"form": form().id, "data": valid_data(**{COPY_FIELDS[0]: ["kopi@example.no"]})}
    )
    reference, request_id = sent.json()["reference"], sent.json()["id"]
    run_cli(services, "requests", "reply", reference, "--agent", "Per", "--message", "Første svar")
    (copy,) = [m for m in mails_to(services, "kopi@example.no") if "Første svar" in text_of(m)]
    assert "Cc" not in copy and AUTHORIZED not in str(copy["To"])  # a copy of its own, never the requester's mail
    link = re.search(rf"{SITE}/nb/stop-emails/\?(\S+)", text_of(copy))
    assert link, text_of(copy)
    query = dict(parse_qsl(link[1]))
    assert query["r"] == request_id and query["a"] == "kopi@example.no"
    forged = {"address": "kopi@example.no", "signature": query["s"][:-2] + "xx"}
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    assert anonymous.post(f"/v1/requests/{request_id}/stop-emails", json=forged).status_code == 404
    other = {"address": "annen@example.no", "signature": query["s"]}
    assert anonymous.post(f"/v1/requests/{request_id}/stop-emails", json=other).status_code == 404
    assert anonymous.post(f"/v1/requests/{request_id}/stop-emails", json={"address": 1}).status_code == 422
    stopped = anonymous.post(
        f"/v1/requests/{request_id}/stop-emails", json={"address": query["a"], "signature": query["s"]}
    )
    assert stopped.status_code == 200 and stopped.json() == {"reference": reference}
    run_cli(services, "requests", "reply", reference, "--agent", "Per", "--message", "Andre svar")
    assert [m for m in mails_to(services, "kopi@example.no") if "Andre svar" in text_of(m)] == []
    assert [m for m in mails_to(services, AUTHORIZED) if "Andre svar" in text_of(m)]  # the requester still gets it


def test_the_desk_s_answer_by_e_mail_quotes_the_latest_messages_before_it(desk: tuple[TestClient, Services]) -> None:
    client, services = desk
    request = sent_request(client)
    clock: Clock = services.clock  # type: ignore[assignment]
    for who, text in [("agent", "Første"), ("requester", "Andre"), ("agent", "Tredje")]:
        clock.advance(minutes=1)
        if who == "agent":
            run_cli(services, "requests", "reply", request["reference"], "--agent", "Per", "--message", f"{text} svar")
        else:
            assert reply(client, request["id"], {"body": f"{text} svar"}).status_code == 201
    (last,) = [m for m in mails_to(services, AUTHORIZED) if text_of(m).count("Tredje svar") == 1 and "> " in text_of(m)]
    earlier = text_of(last).split(services.catalog.common["nb"]["email"]["messageEarlier"])[1]
    assert earlier.index("> Andre svar") < earlier.index("> Første svar")  # newest first
    assert "Kari Nordmann:" in earlier and "Per:" in earlier
