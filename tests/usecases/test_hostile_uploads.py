"""Hostile input around attachments and what the service desk sees: names, reuse, sizes, empty files, file
modes, spreadsheet formulas, terminal escapes and e-mail templates."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from handler import cli
from handler.mails import Accepted
from handler.receipts import desk_mail
from handler.schema.catalog import Catalog
from handler.services import Services
from handler.storage import Receipt, StorageUnavailable
from handler.storage.aws import AwsStore, S3Blobs
from handler.storage.local import LocalStore
from handler.uploads import new_upload
from handler.usecases import mailing
from tests.helpers.accounts import AUTHORIZED, sign_in
from tests.helpers.aws_uploads import upload as upload_to_s3
from tests.helpers.clock import Clock
from tests.helpers.uploads import EXE, PNG, VALID, send, slot, submit, upload

EN = {"Accept-Language": "en"}


def services_of(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def detail(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    (found,) = answer.json()["errors"]
    return found  # type: ignore[no-any-return]


def pending(client: TestClient, upload_id: str) -> Any:
    return services_of(client).blobs.path(f"uploads/pending/{upload_id}")  # type: ignore[attr-defined]


# ---- The kept name ends with an extension of the checked type --------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "content", "kept"),
    [
        ("x.html", "text/plain", b"<script>alert(1)</script>\n", "x.html.txt"),
        ("report.htm", "text/plain", b"<h1>Rapport</h1>\n", "report.htm.txt"),
        ("setup.exe", "image/png", PNG, "setup.exe.png"),
        ("Rapport v1.2", "application/pdf", b"%PDF-1.7\n", "Rapport v1.2.pdf"),
        ("BILDE.PNG", "image/png", PNG, "BILDE.PNG"),
        ("feil.log", "text/plain", b"12:00 ERROR\n", "feil.log"),
        ("a" * 300 + ".exe", "image/png", PNG, "a" * 116 + ".png"),
    ],
)
def test_the_kept_name_ends_with_an_extension_of_the_checked_type(
    client: TestClient, store: LocalStore, name: str, content_type: str, content: bytes, kept: str
) -> None:
    target = slot(client, name, content_type, len(content))
    assert target.status_code == 201, target.text
    assert target.json()["name"] == kept
    assert send(client, target.json(), content).status_code == 204
    answer = submit(client, target.json()["id"])
    assert answer.status_code == 201, answer.text
    stored = store.requests.get(answer.json()["id"])
    assert stored is not None and [a.name for a in stored.attachments] == [kept]


# ---- An upload is used up by the request that takes it ----------------------------------------------


def test_an_upload_is_taken_by_one_request_only(client: TestClient, store: LocalStore) -> None:
    png = upload(client, "bilde.png", "image/png", PNG)
    assert submit(client, png, **{"Idempotency-Key": "first-request"}).status_code == 201
    for headers in ({"Idempotency-Key": "second-request"}, {}):
        assert detail(submit(client, png, **headers, **EN)) == {
            "field": "attachments",
            "pointer": "/data/attachments/0",
            "keyword": "x-upload",
            "detail": "The attachment cannot be found or is not yours. Upload it again.",
        }
    assert len(store.requests.document_ids()) == 1
    assert [p for p in (services_of(client).blobs.folder / "attachments").rglob("*") if p.is_file()] != []  # type: ignore[attr-defined]


def test_a_retry_under_the_same_key_takes_the_upload_after_a_failure(
    client: TestClient, store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = upload(client, "bilde.png", "image/png", PNG)
    original, failures = store.requests.submit, [StorageUnavailable("down")]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return original(*args, **kwargs)

    monkeypatch.setattr(store.requests, "submit", flaky)
    assert submit(client, png, **{"Idempotency-Key": "retried-request"}).status_code == 503
    assert submit(client, png, **{"Idempotency-Key": "retried-request"}).status_code == 201
    assert submit(client, png, **{"Idempotency-Key": "retried-request"}).headers["Idempotent-Replayed"] == "true"
    assert detail(submit(client, png, **{"Idempotency-Key": "another-request"}))["keyword"] == "x-upload"


def test_a_refused_request_does_not_use_up_its_uploads(client: TestClient) -> None:
    png = upload(client, "bilde.png", "image/png", PNG)
    fake = upload(client, "katt.png", "image/png", EXE)
    assert detail(submit(client, png, fake))["keyword"] == "x-upload-content"
    assert submit(client, png).status_code == 201


def test_an_upload_older_than_uploads_are_kept_is_refused(client: TestClient, store: LocalStore, clock: Clock) -> None:
    png = upload(client, "bilde.png", "image/png", PNG)
    clock.advance(days=1)
    client.headers["Authorization"] = "Bearer " + sign_in(client, store.folder / "outbox", AUTHORIZED)
    assert detail(submit(client, png))["keyword"] == "x-upload"


# ---- The declared size binds -------------------------------------------------------------------------


def test_the_local_upload_address_takes_only_the_declared_size(client: TestClient, store: LocalStore) -> None:
    target = slot(client, "bilde.png", "image/png", 100).json()
    assert send(client, target, PNG + b"\x00" * (5 * 1024 * 1024)).status_code == 413
    assert send(client, target, PNG + b"\x00" * (101 - len(PNG))).status_code == 413
    short = send(client, target, PNG)
    assert short.status_code == 403 and short.json()["code"] == "upload_refused"
    assert not pending(client, target["id"]).exists()
    assert send(client, target, PNG + b"\x00" * (100 - len(PNG))).status_code == 204
    answer = submit(client, target["id"])
    assert answer.status_code == 201, answer.text
    stored = store.requests.get(answer.json()["id"])
    assert stored is not None and stored.attachments[0].size == 100


@pytest.mark.parametrize("change", [b"\x00" * 10, None])
def test_a_stored_file_of_another_size_than_declared_is_refused_on_submit(
    client: TestClient, change: bytes | None
) -> None:
    png = upload(client, "bilde.png", "image/png", PNG)
    pending(client, png).write_bytes(PNG + change if change else PNG[:-10])
    assert detail(submit(client, png, **EN)) == {
        "field": "attachments",
        "pointer": "/data/attachments/0",
        "keyword": "x-upload-failed",
        "detail": "“bilde.png” was not uploaded. Try again.",
    }


def test_the_presigned_post_takes_no_more_than_the_declared_size(aws: AwsStore, catalog: Catalog) -> None:
    field = catalog.forms["service-request"].field("attachments")
    assert field is not None
    blobs = S3Blobs(aws.s3, aws.bucket)
    upload = new_upload(AUTHORIZED, "service-request", field, "bilde.png", "image/png", len(PNG), datetime.now(UTC))
    target = blobs.upload_target(upload, "unused", b"")
    files = {"file": ("bilde.png", PNG + b"\x00" * 100, "image/png")}
    too_big = httpx.post(target["url"], data=target["fields"], files=files, timeout=30)
    assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
    files = {"file": ("bilde.png", PNG, "image/png")}
    assert httpx.post(target["url"], data=target["fields"], files=files, timeout=30).status_code in (200, 204)


def test_the_presigned_post_policy_pins_the_exact_size(aws: AwsStore, catalog: Catalog) -> None:
    field = catalog.forms["service-request"].field("attachments")
    assert field is not None
    upload = new_upload(AUTHORIZED, "service-request", field, "bilde.png", "image/png", 1234, datetime.now(UTC))
    policy = json.loads(
        base64.b64decode(S3Blobs(aws.s3, aws.bucket).upload_target(upload, "", b"")["fields"]["policy"])
    )
    assert ["content-length-range", 1234, 1234] in policy["conditions"]


def test_on_aws_a_file_shorter_than_declared_is_refused_on_submit(
    aws_client: TestClient,
) -> None:
    body = {"form": "service-request", "field": "attachments", "name": "bilde.png", "type": "image/png"}
    target = aws_client.post("/v1/uploads", json={**body, "size": len(PNG) + 10}).json()
    files = {"file": ("bilde.png", PNG, "image/png")}
    short = httpx.post(target["url"], data=target["fields"], files=files, timeout=30)
    assert short.status_code == 400 and "EntityTooSmall" in short.text  # the bucket refuses it already
    answer = aws_client.post(
        "/v1/requests", json={"form": "service-request", "data": {**VALID, "attachments": [target["id"]]}}
    )
    assert detail(answer)["keyword"] in ("x-upload", "x-upload-failed")  # nothing was stored for the slot
    good = upload_to_s3(aws_client, "riktig.png", "image/png", PNG)
    data = {**VALID, "attachments": [good]}
    assert aws_client.post("/v1/requests", json={"form": "service-request", "data": data}).status_code == 201


# ---- Empty files -------------------------------------------------------------------------------------


def test_an_empty_file_is_refused_everywhere_with_its_own_message(client: TestClient) -> None:
    assert detail(slot(client, "tom.txt", "text/plain", 0, **EN)) == {
        "field": "attachments",
        "pointer": "/size",  # the member of the slot's body at fault
        "keyword": "x-upload-empty",
        "detail": "“tom.txt” is empty. Choose a file that has something in it.",
    }
    assert (
        detail(slot(client, "tom.txt", "text/plain", 0))["detail"] == "«tom.txt» er tom. Velg en fil som har innhold."
    )
    target = slot(client, "logg.txt", "text/plain", 5).json()
    assert send(client, target, b"hallo", signature="åpen dør").status_code == 403  # any text, never a 500
    empty = send(client, target, b"")
    assert empty.status_code == 422 and empty.json()["errors"][0]["keyword"] == "x-upload-empty"
    assert not pending(client, target["id"]).exists()
    assert send(client, target, b"hallo").status_code == 204
    pending(client, target["id"]).write_bytes(b"")
    assert detail(submit(client, target["id"]))["keyword"] == "x-upload-empty"


def test_every_language_words_an_empty_file(catalog: Catalog) -> None:
    for language in catalog.languages:
        assert "{value}" in catalog.common[language]["errors"]["x-upload-empty"]


# ---- The data folder is private ----------------------------------------------------------------------


@pytest.fixture
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_everything_in_the_data_folder_is_private(usual_umask: None, client: TestClient, store: LocalStore) -> None:
    png = upload(client, "bilde.png", "image/png", PNG)
    assert submit(client, png).status_code == 201
    mailing.send_queued_mail(services_of(client).mailing)
    client.post("/v1/session/code", json={"email": AUTHORIZED})  # a sign-in code waits in the outbox
    mailing.send_queued_mail(services_of(client).mailing)
    paths = [store.folder, *store.folder.rglob("*")]
    assert any(p.suffix == ".eml" for p in paths) and any(p.name == "requests.sqlite3" for p in paths)
    modes = {str(p.relative_to(store.folder)): stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert modes == {name: 0o700 if (store.folder / name).is_dir() else 0o600 for name in modes}


# ---- What the desk's command line shows and exports ------------------------------------------------------


def incident(client: TestClient, summary: str) -> dict[str, Any]:
    answer = client.post("/v1/requests", json={"form": "incident", "data": {"severity": "minor", "summary": summary}})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def run(client: TestClient, *argv: str) -> str:
    out = io.StringIO()
    assert cli.main(list(argv), out=out, services=services_of(client)) == 0
    return out.getvalue()


FORMULAS = [
    " =1+1",
    "  =1+1",
    "\u3000=1+1",
    "\uff1d1+1",
    "\ufe661+1",
    "\uff0b1+1",
    "\uff0d1+1",
    "\uff20SUM(A1)",
    "\t=1+1",
    "\r=1+1",
]
FORMULAS += ["\u200b=1+1", " -1+1", "\u22121+1"]


def test_the_csv_export_quotes_formulas_behind_spaces_and_look_alikes(client: TestClient) -> None:
    references = {incident(client, summary)["reference"]: summary for summary in [*FORMULAS, "Skjerm", " Skjerm"]}
    rows = csv.DictReader(io.StringIO(run(client, "requests", "export", "--format", "csv")))
    titles = {row["reference"]: row["title"] for row in rows}
    for reference, summary in references.items():
        quoted = summary in FORMULAS
        assert titles[reference] == (f"'{summary}" if quoted else summary), summary


HOSTILE = "Skjerm\x1b]0;eid\x07 \x9b2J \u202egnp.exe\u202c \x85ny\u2028linje\x7f \x1b[31m ok 🧑\u200d💻"


def terminal_safe(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\n\u200d" for c in text)


def test_list_show_and_export_escape_terminal_controls(client: TestClient) -> None:
    created = incident(client, HOSTILE)
    listed = run(client, "requests", "list")
    assert terminal_safe(listed)
    assert (
        "Skjerm\\x1b]0;eid\\x07 \\x9b2J \\u202egnp.exe\\u202c \\x85ny\\u2028linje\\x7f \\x1b[31m ok 🧑\u200d💻"
        in listed
    )
    shown = run(client, "requests", "show", created["reference"])
    assert terminal_safe(shown) and json.loads(shown)["data"]["summary"] == HOSTILE
    exported = run(client, "requests", "export", "--format", "json")
    assert terminal_safe(exported) and json.loads(exported)[0]["title"] == HOSTILE


# ---- Requester text is never read as a template -----------------------------------------------------


def test_the_desk_notification_fills_its_texts_in_one_pass(client: TestClient, store: LocalStore) -> None:
    services = services_of(client)
    receipts = replace(services.submitting.receipts, desk_inbox="desk@vendor.example")
    form = services.catalog.forms["service-request"]
    contact = store.contacts.get_contact(AUTHORIZED)
    assert contact is not None
    contact = replace(contact, name="Kari {organization}")
    data = {**VALID, "subject": "{name} {organization} {category} {reference}"}
    receipt = Receipt("3dce0de9-4347-4ca9-a8b1-5687742ce7d6", "SR-BDFF-XH99", "received", datetime.now(UTC))
    mail = desk_mail(receipts, Accepted(form, receipt, contact, data, []))
    assert mail is not None
    category = form.option_label(receipts.desk_language, "service", VALID["service"])
    assert mail.subject == f"[SR-BDFF-XH99] {category}: {{name}} {{organization}} {{category}} {{reference}}"
    assert mail.paragraphs[0] == "Ny forespørsel fra Kari {organization} (Kunde AS)."
