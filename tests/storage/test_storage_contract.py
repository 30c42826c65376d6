"""One contract for every store: the embedded one, and the AWS one on SeaweedFS + DynamoDB Local."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handler.contacts import make_contact
from handler.conversation import Author, Channel, Message, StatusMove
from handler.forwarding import Ticket
from handler.mail import QueuedMail
from handler.settings import Settings
from handler.signin import PendingCode
from handler.storage import base
from handler.storage.aws import AwsStore
from handler.storage.base import (
    Attachment,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidCursor,
    Receipt,
    RequestNotFound,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    Store,
    Submission,
    stored_request,
)
from handler.storage.local import LocalStore
from handler.uploads import Upload, take_upload
from tests.helpers.accounts import CONTACT_TYPES, SECRET
from tests.helpers.clock import NOW
from tests.helpers.servers import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    Server,
    admin_dynamodb,
    aws_document,
    aws_document_ids,
    aws_items,
    aws_request_ids,
    fresh_aws_store,
)

DATA = {"service": "beta-project", "beta_project": "Ny rapportmotor", "account": "Kunde AS", "subject": "Æøå"}
ATTACHMENT = Attachment("u-1", "skjermbilde.png", "image/png", 1234, "attachments/u-1")


def submission(requester: str | None = None, **changes: Any) -> Submission:
    return Submission(
        form_id="service-request",
        category="beta-project",
        schema_hash="sha256:0f1e2d3c",
        language="nb",
        requester=requester,
        data={**DATA, **changes},
    )


@dataclass
class Harness:
    """A store and a look behind it: which documents exist and which requests are visible."""

    store: LocalStore | AwsStore
    document_ids: Callable[[], set[str]]
    request_ids: Callable[[], set[str]]
    document: Callable[[str], bytes]


def local_harness(folder: Path) -> Harness:
    store = LocalStore(folder)

    def request_ids() -> set[str]:
        with sqlite3.connect(store.database) as db:
            return {row[0] for row in db.execute("SELECT id FROM requests")}

    def document(request_id: str) -> bytes:
        found = store.requests.document(request_id)
        assert found is not None
        return found

    return Harness(store, store.requests.document_ids, request_ids, document)


@pytest.fixture(params=["local", "aws"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "local":
        yield local_harness(tmp_path)
        return
    seaweedfs: Server = request.getfixturevalue("seaweedfs")
    dynamodb: Server = request.getfixturevalue("dynamodb_local")
    with fresh_aws_store(seaweedfs, dynamodb) as store:
        yield Harness(
            store,
            lambda: aws_document_ids(store),
            lambda: aws_request_ids(store),
            lambda request_id: aws_document(store, request_id),
        )


@pytest.fixture
def aws_store(seaweedfs: Server, dynamodb_local: Server) -> Iterator[AwsStore]:
    with fresh_aws_store(seaweedfs, dynamodb_local) as store:
        yield store


def test_an_accepted_submission_is_stored_once_and_reads_back_the_same(harness: Harness) -> None:
    with_attachment = replace(submission(), title="Æøå", attachments=(ATTACHMENT,))
    receipt, created = harness.store.requests.submit(with_attachment, "SR", None, NOW)
    assert created
    assert receipt.status == "received" and receipt.received_at == NOW and receipt.reference.startswith("SR-")
    assert harness.request_ids() == harness.document_ids() == {receipt.request_id}
    stored = harness.store.requests.get(receipt.request_id)
    assert stored is not None
    assert stored.receipt == receipt
    assert stored.receipt.as_json() == receipt.as_json()
    assert stored.data == DATA
    assert stored.attachments == (ATTACHMENT,)
    assert (stored.form_id, stored.category, stored.language, stored.schema_hash, stored.requester) == (
        "service-request",
        "beta-project",
        "nb",
        "sha256:0f1e2d3c",
        None,
    )


def test_documents_are_never_overwritten(harness: Harness) -> None:
    harness.store.requests._put_document("0b7c1d2e-same-id", b'{"first": true}')
    with pytest.raises(StorageUnavailable):
        harness.store.requests._put_document("0b7c1d2e-same-id", b'{"second": true}')
    if isinstance(harness.store, LocalStore):  # its document is written by the commit, which never came
        assert harness.document_ids() == set()
    else:
        assert harness.document("0b7c1d2e-same-id") == b'{"first": true}'
    assert harness.request_ids() == set()  # a document alone is not a visible request


def test_a_retry_with_the_same_key_and_body_returns_the_first_receipt(harness: Harness) -> None:
    first, created = harness.store.requests.submit(submission(), "SR", "form-session-0001", NOW)
    again, created_again = harness.store.requests.submit(
        submission(), "SR", "form-session-0001", NOW + timedelta(minutes=5)
    )
    assert (created, created_again) == (True, False)
    assert again == first
    assert harness.request_ids() == harness.document_ids() == {first.request_id}


def test_the_same_key_with_a_different_body_is_refused(harness: Harness) -> None:
    first, _ = harness.store.requests.submit(submission(), "SR", "form-session-0002", NOW)
    with pytest.raises(IdempotencyConflict):
        harness.store.requests.submit(submission(subject="Something else"), "SR", "form-session-0002", NOW)
    assert harness.request_ids() == harness.document_ids() == {first.request_id}


def test_keys_belong_to_their_requester(harness: Harness) -> None:
    alice, _ = harness.store.requests.submit(submission("alice@example.com"), "SR", "form-session-0003", NOW)
    bob, created = harness.store.requests.submit(submission("bob@example.com"), "SR", "form-session-0003", NOW)
    assert created and bob.request_id != alice.request_id


def test_concurrent_submissions_with_one_key_create_one_request_and_never_answer_unavailable(
    harness: Harness,
) -> None:
    threads, results, told_to_wait = 8, [], []
    start = threading.Barrier(threads)
    lock = threading.Lock()

    def submit() -> None:
        start.wait()
        for attempt in range(5):  # as a client does on 409: the racer that holds the key commits in a moment
            try:
                outcome = harness.store.requests.submit(submission(), "SR", "form-session-0004", NOW)
            except IdempotencyInProgress:
                with lock:
                    told_to_wait.append(attempt)
                time.sleep(0.05)
                continue
            with lock:
                results.append(outcome)
            return

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(results) == threads, f"{threads - len(results)} threads never got a receipt ({told_to_wait=})"
    receipts = {receipt for receipt, _ in results}
    assert len(receipts) == 1
    assert sum(created for _, created in results) == 1
    (receipt,) = receipts
    # The racers told to wait kept nothing: only the stored request's document is left.
    assert harness.request_ids() == harness.document_ids() == {receipt.request_id}


def test_an_expired_key_counts_as_free(harness: Harness) -> None:
    ttl = harness.store.requests.idempotency_ttl
    first, _ = harness.store.requests.submit(submission(), "SR", "form-session-0005", NOW)
    with pytest.raises(IdempotencyConflict):  # not expired yet, one second before
        harness.store.requests.submit(
            submission(subject="Later"), "SR", "form-session-0005", NOW + ttl - timedelta(seconds=1)
        )
    later = NOW + ttl + timedelta(seconds=1)
    second, created = harness.store.requests.submit(submission(subject="Later"), "SR", "form-session-0005", later)
    assert created and second.request_id != first.request_id
    # The key now belongs to the second request.
    again, created_again = harness.store.requests.submit(
        submission(subject="Later"), "SR", "form-session-0005", later + timedelta(seconds=1)
    )
    assert (again, created_again) == (second, False)
    assert harness.request_ids() == harness.document_ids() == {first.request_id, second.request_id}


def test_a_reference_collision_is_retried_and_leaves_no_orphan(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = harness.store.requests.submit(submission(), "SR", None, NOW)
    original = base.new_reference
    handed_out: list[str] = []

    def colliding(prefix: str) -> str:
        handed_out.append(first.reference if not handed_out else original(prefix))
        return handed_out[-1]

    monkeypatch.setattr(base, "new_reference", colliding)
    second, created = harness.store.requests.submit(submission(subject="Second"), "SR", None, NOW)
    assert created
    assert len(handed_out) == 2 and handed_out[0] == first.reference
    assert second.reference == handed_out[1] != first.reference
    assert harness.request_ids() == harness.document_ids() == {first.request_id, second.request_id}
    first_stored = harness.store.requests.get(first.request_id)
    assert first_stored is not None and first_stored.receipt == first and first_stored.data == DATA


def test_an_unknown_id_is_none(harness: Harness) -> None:
    harness.store.requests.submit(submission(), "SR", None, NOW)
    assert harness.store.requests.get("9c4a0c4e-0000-4000-8000-000000000000") is None


# AWS only: the shape of what is written ------------------------------------------------------------


def test_the_idempotency_item_expires_with_a_number(aws_store: AwsStore) -> None:
    titled = replace(submission("alice@example.com"), title="Æøå")
    receipt, _ = aws_store.requests.submit(titled, "SR", "form-session-0006", NOW)
    (item,) = aws_items(aws_store, "IDEMPOTENCY")
    expires = NOW + aws_store.requests.idempotency_ttl
    assert item["expiresAt"] == {"N": str(int(expires.timestamp()))}
    assert item["pk"] == {"S": "IDEMPOTENCY#alice@example.com:form-session-0006"}
    assert item["requestId"] == {"S": receipt.request_id}
    (reference,) = aws_items(aws_store, "REFERENCE")
    assert reference["pk"] == {"S": f"REFERENCE#{receipt.reference}"}
    assert reference["requestId"] == {"S": receipt.request_id}
    (request,) = aws_items(aws_store, "REQUEST")
    assert request["documentKey"] == {"S": f"requests/{receipt.request_id}.json"}
    assert request["requesterKey"] == {"S": "alice@example.com"}
    assert request["receivedKey"] == {"S": f"{request['receivedAt']['S']}#{receipt.request_id}"}
    assert request["title"] == {"S": "Æøå"} and request["category"] == {"S": "beta-project"}


def test_the_index_lists_a_requester_s_requests_newest_first(aws_store: AwsStore) -> None:
    alice = {}
    for hours in (1, 3, 0, 2):  # written out of order
        receipt, _ = aws_store.requests.submit(
            submission("alice@example.com", subject=f"{hours}"), "SR", None, NOW + timedelta(hours=hours)
        )
        alice[hours] = receipt.request_id
    bob, _ = aws_store.requests.submit(submission("bob@example.com"), "SR", None, NOW + timedelta(hours=5))
    anonymous, _ = aws_store.requests.submit(submission(), "SR", None, NOW + timedelta(hours=6))
    query = admin_dynamodb(aws_store.dynamodb.meta.endpoint_url).query(
        TableName=aws_store.table,
        IndexName="byRequester",
        KeyConditionExpression="requesterKey = :requester",
        ExpressionAttributeValues={":requester": {"S": "alice@example.com"}},
        ScanIndexForward=False,
    )
    assert [item["id"]["S"] for item in query["Items"]] == [alice[3], alice[2], alice[1], alice[0]]
    assert query["Items"][0]["reference"]["S"].startswith("SR-")  # projected: what a listing shows
    assert "documentKey" not in query["Items"][0]  # and nothing more
    listed = admin_dynamodb(aws_store.dynamodb.meta.endpoint_url).scan(
        TableName=aws_store.table, IndexName="byRequester"
    )
    ids = {item["id"]["S"] for item in listed["Items"]}
    assert bob.request_id in ids and anonymous.request_id not in ids  # sparse: no requester, not indexed


def test_from_settings_builds_clients_that_work(aws_store: AwsStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    settings = Settings(
        storage="aws",
        bucket=aws_store.bucket,
        table=aws_store.table,
        region=REGION,
        s3_endpoint_url=aws_store.s3.meta.endpoint_url,
        dynamodb_endpoint_url=aws_store.dynamodb.meta.endpoint_url,
        session_secret=SECRET,
    )
    store = AwsStore.from_settings(settings)
    for client in (store.s3, store.dynamodb):
        config: Any = client.meta.config
        # Bounded so that a stalled store answers 503 well inside the function's timeout (docs/deploy.md).
        assert (config.connect_timeout, config.read_timeout) == (1, 2)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
        assert client.meta.region_name == REGION
    s3_config: Any = store.s3.meta.config
    assert (s3_config.s3, s3_config.signature_version) == ({"addressing_style": "path"}, "s3v4")
    receipt, _ = store.requests.submit(submission(), "SR", "form-session-0007", NOW)
    stored = aws_store.requests.get(receipt.request_id)
    assert stored is not None and stored.receipt == receipt


def test_a_receipt_round_trips_through_the_idempotency_item(aws_store: AwsStore) -> None:
    first, _ = aws_store.requests.submit(submission(), "SR", "form-session-0008", NOW + timedelta(microseconds=250))
    found = aws_store.requests._find_idempotent("-:form-session-0008", NOW)
    assert found is not None and found.receipt == first
    assert found.receipt == Receipt(first.request_id, first.reference, "received", first.received_at)
    assert aws_store.requests._find_idempotent("-:form-session-0008", found.expires_at) is None


# The rest of the store: listing and status, contacts, sign-in state, unsent mail, upload slots -------


def store_of(harness: Harness) -> Store:
    assert isinstance(harness.store, Store)
    return harness.store


def test_a_requester_s_requests_are_listed_newest_first_a_page_at_a_time(harness: Harness) -> None:
    store = store_of(harness)
    mine = [
        store.requests.submit(submission("kari@example.no", subject=f"S{i}"), "SR", None, NOW + timedelta(minutes=i))[0]
        for i in range(5)
    ]
    store.requests.submit(submission("ola@example.no"), "SR", None, NOW + timedelta(minutes=9))
    pages, cursor, listed = 0, None, []
    while True:
        page, cursor = store.requests.list_for_requester("kari@example.no", 2, cursor)
        listed += page
        pages += 1
        if cursor is None:
            break
    assert [s.receipt for s in listed] == mine[::-1]
    assert pages in (3, 4)  # a store may end with an empty page
    with pytest.raises(InvalidCursor):
        store.requests.list_for_requester("kari@example.no", 2, "not-a-cursor")
    store.requests.submit(submission("ola@example.no", subject="again"), "SR", None, NOW + timedelta(minutes=10))
    _, foreign = store.requests.list_for_requester("ola@example.no", 1)
    assert foreign is not None
    with pytest.raises(InvalidCursor):  # one requester's cursor does not page through another's list
        store.requests.list_for_requester("kari@example.no", 2, foreign)


def test_agents_list_requests_by_status_category_and_time(harness: Harness) -> None:
    store = store_of(harness)
    early = store.requests.submit(submission("kari@example.no"), "SR", None, NOW)[0]
    late = store.requests.submit(
        replace(submission("kari@example.no"), category="data-extract"), "SR", None, NOW + timedelta(days=2)
    )[0]
    assert [s.receipt.request_id for s in store.requests.list_requests()] == [late.request_id, early.request_id]
    assert [s.receipt.request_id for s in store.requests.list_requests(category="data-extract")] == [late.request_id]
    assert [s.receipt.request_id for s in store.requests.list_requests(since=NOW + timedelta(days=1))] == [
        late.request_id
    ]
    assert [s.receipt.request_id for s in store.requests.list_requests(until=NOW + timedelta(days=1))] == [
        early.request_id
    ]
    assert store.requests.list_requests(status="resolved") == []
    assert store.requests.find_reference(late.reference.lower()) == late.request_id
    assert store.requests.find_reference("SR-0000-0000") is None


def test_a_status_change_is_recorded_once_and_never_overwrites_a_newer_one(harness: Harness) -> None:
    store = store_of(harness)
    receipt = store.requests.submit(replace(submission("kari@example.no"), title="Tittel"), "SR", None, NOW)[0]
    event = StatusEvent("in-progress", NOW + timedelta(hours=1), "Agent A", "Vi ser på det")
    summary = store.requests.change_status(receipt.request_id, "received", event)
    assert (summary.receipt.status, summary.updated_at, summary.title) == ("in-progress", event.at, "Tittel")
    with pytest.raises(StatusConflict):
        store.requests.change_status(receipt.request_id, "received", StatusEvent("rejected", NOW + timedelta(hours=2)))
    with pytest.raises(RequestNotFound):
        store.requests.change_status("00000000-0000-4000-8000-000000000000", "received", event)
    assert store.requests.history(receipt.request_id) == [StatusEvent("received", NOW), event]
    stored = store.requests.get(receipt.request_id)
    assert stored is not None and stored.receipt.status == "in-progress"


def test_contacts_are_unique_by_address_whatever_the_case(harness: Harness) -> None:
    store = store_of(harness)
    kari = make_contact("Kari@Example.no", "Kari", "", "Kunde AS", ["technical-contact"], CONTACT_TYPES)
    store.contacts.put_contact(kari)
    store.contacts.put_contact(replace(kari, contact_types=("authorized-for-change",)))
    store.contacts.put_contact(
        make_contact("ola@example.no", "Ola", "+47 22 33 44 55", "Kunde AS", ["billing-contact"], CONTACT_TYPES)
    )
    assert store.contacts.get_contact("KARI@example.NO") == replace(kari, contact_types=("authorized-for-change",))
    assert [c.email for c in store.contacts.list_contacts()] == ["kari@example.no", "ola@example.no"]
    assert store.contacts.remove_contact("KARI@example.no") is True
    assert store.contacts.remove_contact("kari@example.no") is False
    assert store.contacts.get_contact("kari@example.no") is None


def test_an_identity_provider_s_person_is_linked_to_the_contact_they_signed_in_as(harness: Harness) -> None:
    store = store_of(harness)
    issuer = "https://login.example/tenant/v2.0"
    assert store.contacts.linked(issuer, "person-1") is None
    store.contacts.link_identity(issuer, "person-1", "Kari@Example.no", "stamp-1")
    assert store.contacts.linked(issuer, "person-1") == ("kari@example.no", "stamp-1")
    assert (
        store.contacts.linked(issuer, "person-2") is None
        and store.contacts.linked("https://other.example", "person-1") is None
    )
    store.contacts.link_identity(issuer, "person-1", "kari.ny@example.no", "stamp-2")  # linked again: the newest counts
    assert store.contacts.linked(issuer, "person-1") == ("kari.ny@example.no", "stamp-2")


def test_a_code_has_few_attempts_expires_and_works_once(harness: Harness) -> None:
    store = store_of(harness)
    store.sign_in.put_code(PendingCode("kari@example.no", "digest-1", NOW + timedelta(minutes=10), 2))
    first = store.sign_in.use_attempt("kari@example.no", NOW)
    assert first is not None and first.digest == "digest-1" and first.attempts_left == 1
    expired = NOW + timedelta(minutes=10)
    assert store.sign_in.use_attempt("kari@example.no", expired) is None  # expired (TTL deletes late)
    assert store.sign_in.use_attempt("kari@example.no", NOW) is not None
    assert store.sign_in.use_attempt("kari@example.no", NOW) is None  # no attempts left
    store.sign_in.put_code(PendingCode("kari@example.no", "digest-2", NOW + timedelta(minutes=10), 5))
    assert store.sign_in.delete_code("kari@example.no", "digest-1") is False  # an older code is gone
    assert store.sign_in.delete_code("kari@example.no", "digest-2") is True
    assert store.sign_in.delete_code("kari@example.no", "digest-2") is False
    assert store.sign_in.use_attempt("nobody@example.no", NOW) is None


def test_a_pending_code_is_read_and_kept_longer_without_spending_an_attempt(harness: Harness) -> None:
    store = store_of(harness)
    email, later = "kari@example.no", NOW + timedelta(hours=3)
    assert store.sign_in.live_code(email, NOW) is None
    code = PendingCode(email, "digest-1", NOW + timedelta(minutes=10), 2, "nonce-1")
    store.sign_in.put_code(code)
    assert store.sign_in.live_code(email, NOW) == store.sign_in.live_code(email, NOW) == code  # reading spends nothing
    assert store.sign_in.extend_code(email, "digest-0", NOW, later) is False  # not the pending code
    assert store.sign_in.extend_code(email, "digest-1", NOW, later) is True
    assert store.sign_in.live_code(email, NOW + timedelta(hours=2)) == replace(code, expires_at=later)
    assert store.sign_in.extend_code(email, "digest-1", later, later + timedelta(hours=1)) is False  # expired by then
    spent = store.sign_in.use_attempt(email, NOW)
    assert spent is not None and (spent.nonce, spent.attempts_left) == ("nonce-1", 1)
    assert store.sign_in.use_attempt(email, NOW) is not None
    assert store.sign_in.live_code(email, NOW) is None  # no attempts left
    assert store.sign_in.delete_code(email, "digest-1") is True
    assert store.sign_in.extend_code(email, "digest-1", NOW, later) is False  # used


def test_counters_count_per_key_and_window_even_when_concurrent(harness: Harness) -> None:
    store = store_of(harness)
    window, later = NOW, NOW + timedelta(minutes=15)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.sign_in.count("address:kari", window, later)))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    counted = store.sign_in.counted
    assert counted("address:kari", window) == counted("address:kari", window) == 6  # reading adds none
    assert store.sign_in.counted("address:nobody", window) == 0
    assert store.sign_in.count("address:ola", window, later) == 1
    assert store.sign_in.count("address:kari", later, later + timedelta(minutes=15)) == 1


def test_queued_mail_is_taken_by_one_sender_at_a_time(harness: Harness) -> None:
    store = store_of(harness)
    older = QueuedMail("m1", ("a@example.no",), b"Subject: 1\r\n\r\nx\xff", 0, "", NOW)
    newer = QueuedMail(
        "m2", ("b@example.no", "c@example.no"), b"Subject: 2\r\n\r\ny", 0, "", NOW + timedelta(minutes=1)
    )
    store.mail.queue_mails([newer])
    store.mail.queue_mails([older])
    assert store.mail.queued_mails(10, NOW) == [older, newer]
    assert store.mail.queued_mails(1, NOW) == [older]
    assert store.mail.claim_mail("m1", NOW + timedelta(minutes=2), NOW) is True
    assert store.mail.claim_mail("m1", NOW + timedelta(minutes=2), NOW) is False  # another sender has it
    assert store.mail.queued_mails(10, NOW) == [newer]
    assert store.mail.queued_mails(10, NOW + timedelta(minutes=3)) == [older, newer]  # the hold ran out
    store.mail.queue_mails([replace(older, attempts=1, last_error="down")])  # a failed send puts it back
    assert store.mail.queued_mails(10, NOW)[0] == replace(older, attempts=1, last_error="down")
    store.mail.forget_mail("m1")
    assert store.mail.queued_mails(10, NOW) == [newer]
    assert store.mail.claim_mail("m1", NOW + timedelta(minutes=2), NOW) is False


def test_upload_slots_are_kept_for_their_requester(harness: Harness) -> None:
    store = store_of(harness)
    upload = Upload("u" * 32, "kari@example.no", "service-request", "attachments", "bilde.png", "image/png", 1000, NOW)
    store.uploads.put_upload(upload)
    assert store.uploads.get_upload(upload.id) == upload
    assert store.uploads.get_upload("v" * 32) is None


def test_an_upload_is_taken_in_one_write_by_one_key_however_often_and_concurrently_it_is_sent(
    harness: Harness,
) -> None:
    store = store_of(harness)
    upload = Upload("t" * 32, "kari@example.no", "service-request", "attachments", "bilde.png", "image/png", 1000, NOW)
    store.uploads.put_upload(upload)
    with ThreadPoolExecutor(max_workers=6) as pool:
        racing = list(pool.map(lambda _: take_upload(store.uploads, upload, "key-take-0001"), range(6)))
    assert racing == [True] * 6  # every retry of the key that took it, however they race
    assert take_upload(store.uploads, upload, "key-take-0001")
    assert not take_upload(store.uploads, upload, "key-take-0002") and not take_upload(store.uploads, upload, None)
    unkeyed = replace(upload, id="w" * 32)
    store.uploads.put_upload(unkeyed)
    assert take_upload(store.uploads, unkeyed, None) and not take_upload(store.uploads, unkeyed, None)  # no key: once
    assert store.uploads.get_upload(upload.id) == upload  # the slot itself is unchanged


def test_a_request_s_mails_are_queued_with_it_and_only_once(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_of(harness)
    taken = store.requests.submit(submission("kari@example.no"), "SR", None, NOW)[0]
    references = iter([taken.reference, "SR-FRSH-0001"])  # the first try collides, the second is fresh
    monkeypatch.setattr(base, "new_reference", lambda prefix: next(references))

    def mails(receipt: Receipt) -> list[QueuedMail]:
        return [QueuedMail(f"mail-{receipt.reference}", ("kari@example.no",), b"{}", 0, "", NOW)]

    receipt, created = store.requests.submit(
        submission("kari@example.no", subject="To"), "SR", "key-mails-0001", NOW, mails
    )
    assert created and receipt.reference == "SR-FRSH-0001"
    assert [m.id for m in store.mail.queued_mails(10, NOW)] == ["mail-SR-FRSH-0001"]
    again, created = store.requests.submit(
        submission("kari@example.no", subject="To"), "SR", "key-mails-0001", NOW, mails
    )
    assert (again, created) == (receipt, False)
    assert [m.id for m in store.mail.queued_mails(10, NOW)] == ["mail-SR-FRSH-0001"]


def test_a_forged_page_cursor_is_refused(aws_store: AwsStore) -> None:
    import base64
    import json

    forged = {"pk": "", "sk": "", "requesterKey": "kari@example.no", "receivedKey": ""}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    with pytest.raises(InvalidCursor):
        aws_store.requests.list_for_requester("kari@example.no", 2, cursor)


def test_a_message_marked_as_going_out_stays_findable_until_it_is_forgotten(harness: Harness) -> None:
    store = store_of(harness)
    mail = QueuedMail("mail-marked-0001", ("kari@example.no",), b"{}", 0, "", NOW)
    store.mail.queue_mails([mail])
    assert store.mail.claim_mail(mail.id, NOW + timedelta(minutes=2), NOW)
    assert store.mail.mark_mail_sending(mail.id, NOW)
    assert not store.mail.mark_mail_sending(mail.id, NOW)  # once
    assert store.mail.queued_mails(10, NOW + timedelta(hours=2)) == []
    assert store.mail.interrupted_mails(NOW) == []  # marked at NOW, not before it
    assert store.mail.interrupted_mails(NOW + timedelta(seconds=1)) == [mail]
    store.mail.forget_mail(mail.id)
    assert store.mail.interrupted_mails(NOW + timedelta(hours=2)) == []


def test_a_commit_that_meets_a_same_key_racer_replays_it_or_says_it_is_in_progress(aws_store: AwsStore) -> None:
    from tests.helpers.aws_faults import TRANSACTION_CONFLICT, injected

    # Cancelled for meeting a racer with the same key that has not committed: told at once, nothing kept.
    with (
        injected(aws_store.dynamodb, "TransactWriteItems", TRANSACTION_CONFLICT) as calls,
        pytest.raises(IdempotencyInProgress),
    ):
        aws_store.requests.submit(submission(), "SR", "form-session-race", NOW)
    assert len(calls) == 1
    assert aws_store.requests.pending_before(NOW + timedelta(days=1)) == []
    # Cancelled for meeting one that has committed by the time the key is read: its receipt.
    first, _ = aws_store.requests.submit(submission(), "SR", "form-session-race", NOW)
    with injected(aws_store.dynamodb, "TransactWriteItems", TRANSACTION_CONFLICT):
        assert aws_store.requests.submit(submission(), "SR", "form-session-race", NOW, looked_up=True) == (first, False)


def a_message(request_id: str, body: str, at: datetime, author: Author = Author.REQUESTER) -> Message:
    return Message(f"m-{body}", request_id, author, "Kari Nordmann", "kari@example.no", body, at, Channel.PAGE)


def test_messages_are_kept_beside_their_request_once_per_key_oldest_first(harness: Harness) -> None:
    store = store_of(harness)
    thread = store.conversation()
    receipt, _ = store.requests.submit(submission("kari@example.no"), "SR", None, NOW)
    later = a_message(receipt.request_id, "Andre\nlinje", NOW + timedelta(minutes=2), Author.AGENT)
    first = a_message(receipt.request_id, "Første", NOW + timedelta(minutes=1))
    assert thread.add_message(later, "key-later") == (later, True)
    summary = store.requests.summary(receipt.request_id)
    assert summary is not None and summary.updated_at == later.at  # a new message changes the request
    assert thread.add_message(first, "key-first") == (first, True)
    retried = a_message(receipt.request_id, "Første, sendt igjen", NOW + timedelta(minutes=3))
    assert thread.add_message(retried, "key-first") == (first, False)  # the key's message, nothing added
    assert thread.messages(receipt.request_id) == [first, later]
    other, _ = store.requests.submit(submission("kari@example.no", subject="Annen"), "SR", None, NOW)
    assert thread.add_message(a_message(other.request_id, "Annen", NOW), "key-first")[1]  # keys are per request
    assert thread.messages(receipt.request_id) == [first, later]


def test_a_message_moves_the_status_in_the_same_step_or_not_at_all(harness: Harness) -> None:
    store = store_of(harness)
    thread = store.conversation()
    receipt, _ = store.requests.submit(submission("kari@example.no"), "SR", None, NOW)
    moved = StatusEvent("in-progress", NOW + timedelta(minutes=1))
    with pytest.raises(StatusConflict):  # the request is not where the move starts: nothing is written
        thread.add_message(a_message(receipt.request_id, "Nei", moved.at), "key-no", StatusMove("waiting", moved))
    assert thread.messages(receipt.request_id) == [] and store.requests.history(receipt.request_id) == [
        StatusEvent("received", NOW)
    ]
    message = a_message(receipt.request_id, "Ja", moved.at)
    assert thread.add_message(message, "key-yes", StatusMove("received", moved)) == (message, True)
    assert store.requests.history(receipt.request_id)[-1] == moved
    summary = store.requests.summary(receipt.request_id)
    assert summary is not None and summary.receipt.status == "in-progress"
    with pytest.raises(RequestNotFound):
        thread.add_message(a_message("0b7c1d2e-0000-4000-8000-000000000000", "Ingen", NOW), "key-none")


def test_a_forwarding_job_is_written_with_its_request_held_by_one_worker_and_kept_until_its_ticket(
    harness: Harness,
) -> None:
    store = store_of(harness)
    forwards = store.forwards()
    plain, _ = store.requests.submit(submission("kari@example.no"), "SR", None, NOW)
    receipt, _ = store.requests.submit(
        submission("kari@example.no", subject="Til Zendesk"), "SR", None, NOW, forward_to="zendesk"
    )
    (job,) = forwards.due_forwards(NOW, 10)  # only the request marked for forwarding, in the commit itself
    assert (job.request_id, job.target, job.attempts) == (receipt.request_id, "zendesk", 0)
    assert forwards.claim_forward(job.request_id, NOW + timedelta(minutes=2), NOW)
    assert not forwards.claim_forward(job.request_id, NOW + timedelta(minutes=2), NOW)  # one worker at a time
    assert forwards.due_forwards(NOW, 10) == []
    later = NOW + timedelta(minutes=1)
    forwards.retry_forward(replace(job, attempts=1, last_error="503", due_at=later))
    assert forwards.due_forwards(NOW, 10) == []
    assert forwards.due_forwards(later, 10) == [replace(job, attempts=1, last_error="503", due_at=later)]
    forwards.give_up_forward(replace(job, attempts=2, last_error="422 refused"))
    assert forwards.due_forwards(later, 10) == [] and [j.last_error for j in forwards.given_up_forwards()] == [
        "422 refused"
    ]
    assert forwards.forward_again(job.request_id, later) and not forwards.forward_again(job.request_id, later)
    assert [j.attempts for j in forwards.due_forwards(later, 10)] == [0]
    # A worker that stopped holding the job leaves it due again once its hold ends, marked as held.
    assert forwards.claim_forward(job.request_id, later + timedelta(minutes=2), later)
    (held,) = forwards.due_forwards(later + timedelta(minutes=3), 10)
    assert held.held and held.attempts == 0
    forwards.keep_ticket(job.request_id, Ticket("zendesk", "41", "https://desk.example/agent/tickets/41"))
    # A new message while a worker holds the job: that worker lets go of it, due at once, instead of dropping it.
    forwards.forward_later(job.request_id, "zendesk", later)
    assert not forwards.finish_forward(held)
    (again,) = forwards.due_forwards(later + timedelta(minutes=3), 10)
    assert again.epoch == held.epoch + 1 and not again.held
    assert forwards.finish_forward(again)
    assert forwards.due_forwards(later + timedelta(days=1), 10) == [] and forwards.given_up_forwards() == []
    assert forwards.comments_sent(job.request_id) == ""
    forwards.comment_sent(job.request_id, "2026-01-01T00:00:00+00:00|m1")
    assert forwards.comments_sent(job.request_id) == "2026-01-01T00:00:00+00:00|m1"
    forwards.forward_later(job.request_id, "zendesk", later)  # no job left: a new one, due now
    (comment_job,) = forwards.due_forwards(later, 10)
    assert (comment_job.request_id, comment_job.attempts, comment_job.held) == (job.request_id, 0, False)
    assert forwards.ticket_of(job.request_id) == Ticket("zendesk", "41", "https://desk.example/agent/tickets/41")
    assert forwards.ticket_of(plain.request_id) is None
    assert forwards.request_of_ticket("zendesk", "41") == job.request_id
    assert forwards.request_of_ticket("jsm", "41") is None
    assert forwards.ticket_changed(job.request_id, later) and not forwards.ticket_changed(job.request_id, later)
    assert not forwards.ticket_changed(job.request_id, NOW)  # older than the newest seen


def test_a_document_written_before_files_had_sizes_still_reads() -> None:
    receipt = Receipt("3dce0de9-4347-4ca9-a8b1-5687742ce7d6", "SR-BDFF-XH99", "received", NOW)
    legacy = {"id": "u-1", "name": "skjermbilde.png", "type": "image/png", "key": "requests/3dce/attachments/0"}
    document = {"form": "service-request", "category": None, "requester": None, "language": "nb", "schemaHash": "x"}
    body = json.dumps({**document, "data": DATA, "attachments": [legacy]}).encode()
    found = stored_request(receipt, body)
    assert found.attachments == (Attachment("u-1", "skjermbilde.png", "image/png", 0, legacy["key"]),)
    assert found.attachments[0].as_json() == {"id": "u-1", "name": "skjermbilde.png", "type": "image/png", "size": 0}
