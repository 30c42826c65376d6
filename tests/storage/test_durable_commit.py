"""The embedded store syncs once per submission: the request, its key, its e-mails and its document in one
durable commit; counters, upload marks and reads add none. Counted through the store's own commit counter
(``LocalStore.commits``) and by counting every ``os.fsync``/``os.fdatasync`` the handler makes."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler.mail import QueuedMail
from handler.storage.base import IndexRecord, PendingRequest, Receipt, Submission, document_bytes
from handler.storage.local import LocalStore
from handler.storage.local.records import request_row
from handler.uploads import Upload, take_upload
from tests.helpers.clock import NOW
from tests.helpers.shipped import valid_data
from tests.helpers.uploads import PNG, upload

DATA = valid_data(subject="Én synk", description="D")


@pytest.fixture
def file_syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every ``os.fsync`` and ``os.fdatasync`` the handler calls, counted (and still made)."""
    made: Counter[str] = Counter()

    def counting(name: str, real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(descriptor: int) -> None:
            made[name] += 1
            real(descriptor)

        return sync

    monkeypatch.setattr(os, "fsync", counting("fsync", os.fsync))
    monkeypatch.setattr(os, "fdatasync", counting("fdatasync", os.fdatasync))
    yield made


def commits_during(store: LocalStore, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """What ``action`` returned and the commits the store made while it ran, by sync level."""
    before = Counter(store.commits)
    result = action()
    made = Counter(store.commits)
    made.subtract(before)
    return result, +made


def post(client: TestClient, key: str, data: dict[str, Any] = DATA) -> Any:
    return client.post("/v1/requests", json={"form": "service-request", "data": data}, headers={"Idempotency-Key": key})


def test_a_submission_without_attachments_is_one_durable_commit(
    client: TestClient, store: LocalStore, file_syncs: Counter[str]
) -> None:
    assert post(client, "durable-warm-0001").status_code == 201  # the first one opens what stays open
    file_syncs.clear()
    answer, commits = commits_during(store, lambda: post(client, "durable-0001", {**DATA, "subject": "To"}))
    assert answer.status_code == 201, answer.text
    assert commits["full"] == 1, commits
    assert commits["normal"] >= 1  # the contact's daily count, synced by the commit after it
    assert file_syncs == Counter()
    request_id = answer.json()["id"]
    assert store.requests.document_ids() == {request_id, post(client, "durable-warm-0001").json()["id"]}
    assert not store.documents.exists()  # a new folder keeps no document files
    assert store.requests.pending_before(NOW + timedelta(days=1)) == []  # no pending record was needed


def test_a_submission_with_an_attachment_syncs_its_pending_record_before_the_copy(
    client: TestClient, store: LocalStore, file_syncs: Counter[str]
) -> None:
    assert post(client, "durable-warm-0002").status_code == 201
    png = upload(client, "skjerm.png", "image/png", PNG)
    file_syncs.clear()
    answer, commits = commits_during(store, lambda: post(client, "durable-0002", {**DATA, "attachments": [png]}))
    assert answer.status_code == 201, answer.text
    # The pending record (durable before the copy exists, so the sweep can always find the copy) and the commit;
    # the upload's mark and the daily count ride on the commit.
    assert commits["full"] == 2, commits
    assert file_syncs == Counter()
    assert store.requests.pending_before(NOW + timedelta(days=1)) == []


def test_retries_and_replays_add_no_durable_commit(client: TestClient, store: LocalStore) -> None:
    first = post(client, "durable-0003")
    assert first.status_code == 201
    again, commits = commits_during(store, lambda: post(client, "durable-0003"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert commits["full"] == 0, commits


def test_counters_and_upload_marks_are_relaxed_and_other_writes_durable(store: LocalStore) -> None:
    _, commits = commits_during(store, lambda: store.sign_in.count("submissions:kari", NOW, NOW + timedelta(days=1)))
    assert commits == Counter(normal=1)
    upload = Upload("u" * 32, "kari@example.no", "service-request", "attachments", "bilde.png", "image/png", 9, NOW)
    _, commits = commits_during(store, lambda: store.uploads.put_upload(upload))
    assert commits == Counter(full=1)
    _, commits = commits_during(store, lambda: take_upload(store.uploads, upload, "key-take-0001"))
    assert commits == Counter(normal=1)
    _, commits = commits_during(store, lambda: store.mail.forget_mail("no-such-mail"))
    assert commits == Counter()  # a write that changes nothing commits nothing
    mail = QueuedMail("m1", ("kari@example.no",), b"Subject: 1\r\n\r\nx", 0, "", NOW)
    _, commits = commits_during(store, lambda: store.mail.queue_mails([mail]))
    assert commits == Counter(full=1)


# Crashes: what a submission that never committed leaves -------------------------------------------------------

SUBMISSION = Submission("service-request", "beta-project", "sha256:0f1e2d3c", "nb", None, {"subject": "Æøå"})


def test_a_submission_that_stops_before_its_commit_leaves_nothing(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped(*args: Any) -> None:
        raise RuntimeError("the process stopped")

    monkeypatch.setattr(store.requests, "_commit", stopped)
    with pytest.raises(RuntimeError):
        store.requests.submit(SUBMISSION, "SR", "crash-key-0001", NOW)
    monkeypatch.undo()
    assert store.requests.document_ids() == set() and store.requests.list_requests() == []
    # Nothing for the sweep to find: nothing was kept.
    assert store.requests.pending_before(NOW + timedelta(days=1)) == []
    receipt, created = store.requests.submit(SUBMISSION, "SR", "crash-key-0001", NOW)  # the retry stores it
    assert created and store.requests.document_ids() == {receipt.request_id}


def test_an_abandoned_request_without_attachments_is_stopped_unless_it_committed(store: LocalStore) -> None:
    pending = store.requests.begin(NOW)
    store.requests._put_document(pending.request_id, b"{}")
    assert store.requests.abandon(pending) is True
    committed = store.requests.begin(NOW)
    receipt, created = store.requests.submit(SUBMISSION, "SR", None, NOW, pending=committed)
    assert created
    assert store.requests.abandon(committed) is False  # it committed: nothing of it is removed
    assert store.requests.get(receipt.request_id) is not None


# Folders written before documents moved into the database ------------------------------------------------------


def old_style_request(folder: Path, request_id: str, reference: str) -> Receipt:
    """A request as the store kept it before: its row in the database and its document as a file."""
    store = LocalStore(folder)
    receipt = Receipt(request_id, reference, "received", NOW)
    record = IndexRecord(receipt, SUBMISSION.form_id, SUBMISSION.category, None, "Gammel")
    with store._db.transaction() as db:
        db.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", request_row(record))
        db.execute("INSERT INTO status_events VALUES (?, 0, 'received', ?, NULL, NULL)", (request_id, NOW.isoformat()))
    (folder / "documents").mkdir(mode=0o700, exist_ok=True)
    (folder / "documents" / f"{request_id}.json").write_bytes(document_bytes(SUBMISSION, receipt))
    return receipt


def test_an_old_folder_keeps_its_documents_as_files_and_new_ones_go_into_the_database(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    old = old_style_request(folder, "0d5c2a8e-1111-4111-8111-000000000001", "SR-OLD0-0001")
    # A request that never committed under the old store: its pending record and its document file.
    unfinished = PendingRequest("0d5c2a8e-2222-4222-8222-000000000002", NOW - timedelta(hours=2))
    (folder / "documents" / f"{unfinished.request_id}.json").write_bytes(b"{}")
    with LocalStore(folder)._db.connect() as db:
        db.execute(
            "INSERT INTO pending_requests (request_id, started_at, attachment_keys) VALUES (?, ?, '[]')",
            (unfinished.request_id, (NOW - timedelta(hours=2)).isoformat()),
        )

    store = LocalStore(folder)
    stored = store.requests.get(old.request_id)
    assert stored is not None and stored.receipt == old and stored.data == SUBMISSION.data
    new, created = store.requests.submit(SUBMISSION, "SR", None, NOW)
    assert created and not (folder / "documents" / f"{new.request_id}.json").exists()
    assert store.requests.document(new.request_id) is not None
    assert store.requests.document_ids() == {old.request_id, unfinished.request_id, new.request_id}

    blobs, _ = store.files()
    found, removed = store.sweep(blobs, NOW)
    assert [p.request_id for p in found] == [unfinished.request_id] and removed == 1
    assert store.requests.document_ids() == {old.request_id, new.request_id}
    assert json.loads(store.requests.document(old.request_id) or b"")["reference"] == "SR-OLD0-0001"
