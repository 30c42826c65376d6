"""The operator's and agent's command line, run against the embedded store."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler import cli
from handler.services import Services
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED
from tests.helpers.shipped import another_service, valid_data, valid_data_of


def run(services: Services, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out, services=services)
    return code, out.getvalue()


@pytest.fixture
def services(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def test_contacts_are_added_updated_listed_and_removed(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        services,
        "contacts",
        "add",
        "Per@Example.no",
        "--name",
        "Per",
        "--organization",
        "Kunde AS",
        "--type",
        "technical-contact",
    )
    assert code == 0 and out.startswith("per@example.no\tPer")
    assert (
        run(
            services,
            "contacts",
            "add",
            "per@example.no",
            "--name",
            "P",
            "--organization",
            "K",
            "--type",
            "technical-contact",
        )[0]
        == 1
    )
    assert "already registered" in capsys.readouterr().err
    code, out = run(
        services,
        "contacts",
        "update",
        "PER@example.no",
        "--type",
        "authorized-for-change",
        "--type",
        "technical-contact",
    )
    assert code == 0 and out.strip().endswith("authorized-for-change,technical-contact")
    assert "per@example.no" in run(services, "contacts", "list")[1]
    assert run(services, "contacts", "remove", "per@example.no") == (0, "removed per@example.no\n")
    assert run(services, "contacts", "remove", "per@example.no")[0] == 1


def test_a_bad_contact_type_is_refused_with_the_choices(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(services, "contacts", "add", "a@example.no", "--name", "A", "--organization", "K", "--type", "boss")
    assert code == 1
    assert "contact_types: unknown boss; choose from authorized-for-change" in capsys.readouterr().err


def test_import_refuses_every_bad_row_and_imports_nothing(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,name,phone,organization,contact_types\n"
        "ola@example.no,Ola,+47 22 33 44 55,Kunde AS,authorized-for-change;technical-contact\n"
        "not-an-address,Per,,Kunde AS,technical-contact\n"
        "eva@example.no,Eva,12,Kunde AS,technical-contact\n"
        "OLA@example.no,Ola again,,Kunde AS,billing-contact\n"
        "kim@example.no,Kim,,Kunde AS\n",
        encoding="utf-8",
    )
    assert run(services, "contacts", "import", str(path))[0] == 1
    err = capsys.readouterr().err
    assert "row 3, field email: 'not-an-address' is not a valid e-mail address" in err
    assert "row 4, field phone:" in err
    assert "row 5, field email: ola@example.no is also on row 2" in err
    assert "row 6: has 4 columns instead of 5" in err
    assert services.store.contacts.list_contacts() == [services.store.contacts.get_contact(AUTHORIZED)]
    path.write_text("email,name,phone,organization,contact_types\nola@example.no,Ola,,Kunde AS,authorized-for-change\n")
    assert run(services, "contacts", "import", str(path)) == (0, f"imported 1 contacts from {path}\n")
    assert services.store.contacts.get_contact("Ola@Example.NO") is not None


def submit(client: TestClient, document: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    body = (document or valid_data(subject="S", description="D")) | data
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.post("/v1/requests", json={"form": "service-request", "data": body})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_requests_are_listed_filtered_shown_and_exported(client: TestClient, services: Services) -> None:
    beta = submit(client, subject='=HYPERLINK("http://evil")')
    premium = submit(client, valid_data_of(another_service(), subject="S", description="D"))
    code, out = run(services, "requests", "list", "--category", another_service())
    assert code == 0 and premium["reference"] in out and beta["reference"] not in out
    assert run(services, "requests", "list", "--status", "resolved")[1].strip() == "0 requests"
    assert run(services, "requests", "list", "--since", "2099-01-01")[1].strip() == "0 requests"
    shown = json.loads(run(services, "requests", "show", beta["reference"])[1])
    assert shown["id"] == beta["id"] and shown["data"]["subject"].startswith("=HYPERLINK")
    exported = json.loads(run(services, "requests", "export", "--format", "json")[1])
    assert {row["reference"] for row in exported} == {beta["reference"], premium["reference"]}
    rows = list(csv.DictReader(io.StringIO(run(services, "requests", "export", "--format", "csv")[1])))
    titles = {row["reference"]: row["title"] for row in rows}
    assert titles[beta["reference"]].startswith("'=HYPERLINK")  # a spreadsheet shows it as text


def test_a_status_change_is_recorded_and_e_mailed_in_the_request_s_language(
    client: TestClient, services: Services, store: LocalStore, capsys: pytest.CaptureFixture[str]
) -> None:
    created = client.post(
        "/v1/requests?lang=en",
        json={
            "form": "service-request",
            "data": valid_data(subject="Join", description="D"),
        },
    ).json()
    code, out = run(
        services,
        "requests",
        "status",
        created["reference"],
        "waiting-for-customer",
        "--agent",
        "Agent A",
        "--comment",
        "Which team?",
    )
    assert code == 0
    assert f"{created['reference']} is now waiting-for-customer" in out
    history = store.requests.history(created["id"])
    assert [(e.status, e.agent, e.comment) for e in history] == [
        ("received", None, None),
        ("waiting-for-customer", "Agent A", "Which team?"),
    ]
    eml = Path(out.strip().splitlines()[-1].split(": ", 1)[1]).read_bytes()
    assert b"Subject: " + created["reference"].encode() + b": Waiting for your reply" in eml
    assert run(services, "requests", "status", created["reference"], "done", "--agent", "A")[0] == 1
    assert "'done' is not a status; choose one of received, in-progress" in capsys.readouterr().err
    assert run(services, "requests", "status", "SR-0000-0000", "resolved", "--agent", "A")[0] == 1


@pytest.mark.parametrize("desk", ["desk@vendor.example", ""])
def test_a_status_e_mail_asks_for_an_answer_only_where_one_can_be_given(
    client: TestClient, services: Services, desk: str
) -> None:
    created = submit(client)
    with_desk = replace(services, desk=replace(services.desk, desk_inbox=desk))
    code, out = run(with_desk, "requests", "status", created["reference"], "waiting-for-customer", "--agent", "A")
    assert code == 0
    message = BytesParser(policy=policy.default).parsebytes(
        Path(out.strip().splitlines()[-1].split(": ", 1)[1]).read_bytes()
    )
    body = message.get_body(("plain",))
    assert body is not None
    if desk:
        assert message["Reply-To"] == desk and "svarer du på denne e-posten" in body.get_content()
    else:
        assert message["Reply-To"] is None and "svar" not in body.get_content().lower().replace("svar fra deg", "")
