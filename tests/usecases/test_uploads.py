"""Attachments in the embedded default: upload slots, the signed local upload address, and the checks on submit."""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from handler import cli
from handler.storage.local import LocalStore
from handler.uploads import content_matches, sanitize_name
from handler.usecases import mailing
from tests.helpers.accounts import register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.uploads import EXE, MP4, PNG, send, slot, submit, upload


def store_of(client: TestClient) -> LocalStore:
    return client.app.state.services.store  # type: ignore[attr-defined,no-any-return]


def test_a_screenshot_and_a_video_are_attached(client: TestClient, store: LocalStore) -> None:
    png = upload(client, "skjerm bilde.png", "image/png", PNG)
    mp4 = upload(client, "opptak.mp4", "video/mp4", MP4)
    answer = submit(client, png, mp4)
    assert answer.status_code == 201, answer.text
    stored = store.requests.get(answer.json()["id"])
    assert stored is not None
    assert [(a.name, a.type, a.size) for a in stored.attachments] == [
        ("skjerm bilde.png", "image/png", len(PNG)),
        ("opptak.mp4", "video/mp4", len(MP4)),
    ]
    blobs = client.app.state.services.blobs  # type: ignore[attr-defined]
    assert blobs.path(stored.attachments[0].key).read_bytes() == PNG


def test_an_attachment_cannot_be_swapped_or_listed_twice(client: TestClient, store: LocalStore) -> None:
    target = slot(client, "bilde.png", "image/png", len(PNG)).json()
    assert send(client, target, PNG).status_code == 204
    first = store.requests.get(submit(client, target["id"]).json()["id"])
    assert first is not None
    # Uploading again to the same slot leaves the first request's copy alone, and no second request takes it.
    assert send(client, target, EXE[: len(PNG)]).status_code == 204
    second = submit(client, target["id"], **{"Accept-Language": "en"})
    assert second.json()["errors"][0]["keyword"] == "x-upload-content"
    assert send(client, target, PNG).status_code == 204
    assert submit(client, target["id"]).json()["errors"][0]["keyword"] == "x-upload"
    blobs = client.app.state.services.blobs  # type: ignore[attr-defined]
    assert blobs.path(first.attachments[0].key).read_bytes() == PNG
    twice = submit(client, target["id"], target["id"])
    assert twice.json()["errors"][0]["keyword"] == "uniqueItems"


def test_the_slot_refuses_oversize_and_unknown_types_before_any_upload(client: TestClient) -> None:
    big = slot(client, "film.mp4", "video/mp4", 26 * 1024 * 1024, **{"Accept-Language": "en"})
    assert big.status_code == 422
    assert big.json()["errors"][0]["detail"] == "“film.mp4” is too large. Each file can be at most 25 MB."
    exe = slot(client, "setup.exe", "application/x-msdownload", 100)
    assert exe.json()["errors"][0]["keyword"] == "x-upload-type"
    assert slot(client, "x.png", "image/png", 0).status_code == 422


def test_only_signed_in_authorized_contacts_get_slots(anonymous: TestClient, store: LocalStore) -> None:
    assert slot(anonymous, "x.png", "image/png", 10).status_code == 401
    register(store.contacts, "tech@example.no", "technical-contact")
    token = sign_in(anonymous, store.folder / "outbox", "tech@example.no")
    assert slot(anonymous, "x.png", "image/png", 10, Authorization=f"Bearer {token}").status_code == 403


def test_the_local_upload_address_enforces_its_slot(client: TestClient, clock: Clock) -> None:
    target = slot(client, "x.png", "image/png", len(PNG)).json()
    assert send(client, target, PNG, signature="0" * 64).status_code == 403
    assert send(client, target, PNG, **{"Content-Type": "image/gif"}).status_code == 403
    assert send(client, target, PNG + b"\x00" * (25 * 1024 * 1024)).status_code == 413
    clock.advance(minutes=11)
    assert send(client, target, PNG).status_code == 403


def test_an_executable_named_png_is_refused_and_nothing_is_stored(client: TestClient, store: LocalStore) -> None:
    fake = upload(client, "cat.png", "image/png", EXE)
    good = upload(client, "real.png", "image/png", PNG)
    answer = submit(client, good, fake, **{"Accept-Language": "en"})
    assert answer.status_code == 422
    (detail,) = answer.json()["errors"]
    assert detail == {
        "field": "attachments",
        "pointer": "/data/attachments/1",
        "keyword": "x-upload-content",
        "detail": "“cat.png” is not what its name says it is. Upload the right file.",
    }
    assert not store.requests.document_ids()
    blobs = client.app.state.services.blobs  # type: ignore[attr-defined]
    assert [p for p in (blobs.folder / "attachments").rglob("*") if p.is_file()] == []  # nothing half-linked


def test_another_requester_s_upload_is_refused(client: TestClient, store: LocalStore) -> None:
    mine = upload(client, "mine.png", "image/png", PNG)
    register(store.contacts, "other@example.no", "authorized-for-change")
    other = sign_in(client, store.folder / "outbox", "other@example.no")
    answer = submit(client, mine, Authorization=f"Bearer {other}")
    assert answer.json()["errors"][0]["keyword"] == "x-upload"
    never_uploaded = slot(client, "gone.png", "image/png", 10).json()["id"]
    assert submit(client, never_uploaded).json()["errors"][0]["keyword"] == "x-upload-failed"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\kari\\Desktop\\bilde.png", "bilde.png"),
        ("ond\r\nBcc: x@example.com.png", "ondBcc_ x@example.com.png"),
        ("\u202egnp.exe", "gnp.exe"),
        ("...", "file"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
    ],
)
def test_file_names_are_sanitized(raw: str, clean: str) -> None:
    assert sanitize_name(raw) == clean


@pytest.mark.parametrize(
    ("declared", "content", "ok"),
    [
        ("image/png", PNG, True),
        ("image/jpeg", PNG, False),
        ("video/mp4", MP4, True),
        ("application/pdf", b"%PDF-1.7\n", True),
        ("text/plain", "2026-11-27 12:00 ERROR ødelagt\n".encode(), True),
        ("text/csv", b"a,b\n1,2\n", True),
        ("text/plain", EXE, False),
        ("text/plain", PNG, False),
        ("application/pdf", EXE, False),
    ],
)
def test_the_real_type_comes_from_the_first_bytes(declared: str, content: bytes, ok: bool) -> None:
    assert content_matches(declared, content) is ok


def test_agents_see_and_download_attachments(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    png = upload(client, "skjerm.png", "image/png", PNG)
    reference = submit(client, png).json()["reference"]
    services = client.app.state.services  # type: ignore[attr-defined]
    assert cli.main(["requests", "show", reference], services=services) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in shown["attachments"]] == ["skjerm.png"]
    assert cli.main(["requests", "download", reference, "skjerm.png"], services=services) == 0
    path = capsys.readouterr().out.strip()
    assert Path(path).read_bytes() == PNG


def test_the_receipt_lists_the_attachments(client: TestClient, store: LocalStore) -> None:
    png = upload(client, "skjerm.png", "image/png", PNG)
    reference = submit(client, png).json()["reference"]
    mailing.send_queued_mail(client.app.state.services.mailing)  # type: ignore[attr-defined]
    receipts = [p.read_text() for p in (store.folder / "outbox").glob("*.eml") if reference in p.read_text()]
    assert any("- skjerm.png (image/png, 1 KB)" in text for text in receipts)


def test_abandoned_uploads_are_removed_and_taken_ones_kept(client: TestClient, clock: Clock) -> None:
    taken = upload(client, "tatt.png", "image/png", PNG)
    kept = store_of(client).requests.get(submit(client, taken).json()["id"])
    assert kept is not None
    abandoned = upload(client, "glemt.png", "image/png", PNG)
    services = client.app.state.services  # type: ignore[attr-defined]
    blobs = services.blobs
    old = (clock() - timedelta(days=2)).timestamp()
    os.utime(blobs.path(f"uploads/pending/{abandoned}"), (old, old))
    out = io.StringIO()
    assert cli.main(["uploads", "cleanup"], out=out, services=services) == 0
    assert out.getvalue() == "removed 1 abandoned uploads\n"
    assert not blobs.path(f"uploads/pending/{abandoned}").exists()
    assert blobs.path(kept.attachments[0].key).read_bytes() == PNG


def test_upload_slots_are_capped_per_contact_and_hour(client: TestClient, clock: Clock) -> None:
    statuses = [slot(client, f"f{i}.png", "image/png", 10).status_code for i in range(101)]
    assert statuses[:100] == [201] * 100
    assert statuses[100] == 429
    clock.advance(hours=1)
    assert slot(client, "later.png", "image/png", 10).status_code == 201
