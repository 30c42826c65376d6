"""What a request that is never stored leaves behind, e-mail sent at most once, and the listings' index,
on SeaweedFS + DynamoDB Local (and the embedded store where it applies)."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from fastapi.testclient import TestClient

from handler import cli, lambda_entry
from handler.app import create_app
from handler.mail import Mail, Mailer, OutboxMailer, QueuedMail, Recipient, SesMailer
from handler.schema.catalog import Catalog
from handler.services import Services, build_services
from handler.settings import Settings
from handler.storage.aws import KIND_INDEX, AwsStore, S3Blobs, item_size
from handler.storage.base import IdempotencyInProgress, StorageUnavailable, Store, Submission
from handler.storage.local import LocalStore
from handler.usecases import mailing
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.aws_faults import TRANSACTION_CONFLICT, broken, injected
from tests.helpers.clock import Clock
from tests.helpers.lambda_events import event
from tests.helpers.servers import (
    SENDER,
    MailServer,
    Server,
    admin_dynamodb,
    admin_s3,
    aws_document_ids,
    aws_request_ids,
    client_config,
    dynamodb_client,
    fresh_aws_store,
    s3_client,
)
from tests.helpers.uploads import PNG, VALID

RACERS = 20


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def aws(seaweedfs: Server, dynamodb_local: Server) -> Iterator[AwsStore]:
    # One attempt and short timeouts: a paused server fails a call within about two seconds.
    with fresh_aws_store(seaweedfs, dynamodb_local, client_config(connect_timeout=1, read_timeout=2)) as store:
        yield store


# The API on either store ------------------------------------------------------------------------------


@dataclass
class Desk:
    """The API on one store, signed in as a contact authorized for change, and a look behind it."""

    client: TestClient
    services: Services
    clock: Clock
    aws: AwsStore | None

    @property
    def store(self) -> Store:
        return self.services.store

    def upload(self, content: bytes = PNG) -> str:
        body = {"form": "service-request", "field": "attachments", "name": "skjerm.png", "type": "image/png"}
        target = self.client.post("/v1/uploads", json={**body, "size": len(content)})
        assert target.status_code == 201, target.text
        url, fields = target.json()["url"], target.json()["fields"]
        sent: Any
        if self.aws is not None:  # straight to the bucket, as the browser sends it
            sent = httpx.post(url, data=fields, files={"file": ("fil", content, "image/png")}, timeout=30)
        else:
            sent = self.client.post(url, data=fields, files={"file": ("fil", content, "image/png")})
        assert sent.status_code in (200, 204), sent.text
        return str(target.json()["id"])

    def submit(self, *uploads: str, key: str) -> Any:
        data = {**VALID, "attachments": list(uploads)}
        return self.client.post(
            "/v1/requests", json={"form": "service-request", "data": data}, headers={"Idempotency-Key": key}
        )

    def visible(self) -> set[str]:
        """The ids of the requests the store makes visible."""
        if self.aws is not None:
            return aws_request_ids(self.aws)
        return {summary.receipt.request_id for summary in self.store.requests.list_requests()}

    def documents(self) -> set[str]:
        """The ids of every document stored, referenced or not."""
        if self.aws is not None:
            return aws_document_ids(self.aws)
        assert isinstance(self.store, LocalStore)
        return self.store.requests.document_ids()

    def copies(self) -> set[str]:
        """The keys of every attachment copy stored, referenced or not."""
        if self.aws is not None:
            paginator = admin_s3(self.aws.s3.meta.endpoint_url).get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.aws.bucket, Prefix="attachments/")
            return {entry["Key"] for page in pages for entry in page.get("Contents", [])}
        folder = self.services.blobs.folder  # type: ignore[attr-defined]
        return {path.relative_to(folder).as_posix() for path in (folder / "attachments").rglob("*") if path.is_file()}

    def referenced(self) -> set[str]:
        """The keys of the attachment copies the visible requests refer to."""
        keys = set()
        for request_id in self.visible():
            stored = self.store.requests.get(request_id)
            assert stored is not None
            keys |= {attachment.key for attachment in stored.attachments}
        return keys

    def sweep(self, *options: str) -> str:
        out = io.StringIO()
        assert cli.main(["sweep", *options], out=out, services=self.services) == 0
        return out.getvalue()


@contextlib.contextmanager
def desk_on(kind: str, request: pytest.FixtureRequest, catalog: Catalog, folder: Path, clock: Clock) -> Iterator[Desk]:
    outbox = folder / "data" / "outbox"
    if kind == "local":
        settings = Settings(data_dir=folder / "data", session_secret=SECRET, code_answer_seconds=0)
        services = build_services(settings, catalog=catalog, clock=clock)
        aws = None
    else:
        aws = request.getfixturevalue("aws")
        settings = Settings(
            storage="aws",
            bucket=aws.bucket,
            table=aws.table,
            data_dir=folder / "data",
            session_secret=SECRET,
            code_answer_seconds=0,
        )
        services = build_services(
            settings,
            catalog=catalog,
            store=aws,
            mailer=OutboxMailer(SENDER, outbox),
            clock=clock,
            blobs=S3Blobs(aws.s3, aws.bucket),
        )
    register(services.store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, outbox, AUTHORIZED)}"
        yield Desk(client, services, clock, aws)


@pytest.fixture(params=["local", "aws"])
def desk(request: pytest.FixtureRequest, catalog: Catalog, tmp_path: Path) -> Iterator[Desk]:
    with desk_on(request.param, request, catalog, tmp_path, Clock(now_utc())) as signed_in:
        yield signed_in


@pytest.fixture
def aws_desk(request: pytest.FixtureRequest, catalog: Catalog, tmp_path: Path) -> Iterator[Desk]:
    with desk_on("aws", request, catalog, tmp_path, Clock(now_utc())) as signed_in:
        yield signed_in


# Attachment copies ----------------------------------------------------------------------------------------


def test_racing_posts_with_one_key_leave_only_the_stored_request_s_copies(desk: Desk) -> None:
    png = desk.upload()
    start = threading.Barrier(RACERS)
    answers: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        start.wait()
        status = desk.submit(png, key="race-0001").status_code
        with lock:
            answers.append(status)

    racers = [threading.Thread(target=post) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
    # One stores the request; the rest replay it, or meet its transaction and are told at once to ask again in
    # a second (409), never 503. None loses the upload to it: the same key takes an upload as often as it is sent.
    assert len(answers) == RACERS and set(answers) <= {201, 409}, answers
    final = desk.submit(png, key="race-0001")  # a client that got a 409 asks again with the same key
    assert final.status_code == 201 and final.headers["Idempotent-Replayed"] == "true", final.text
    winner = final.json()["id"]
    left = desk.copies() - desk.referenced()
    print(f"\n{len(left)} unreferenced attachment copies after {RACERS} racing posts ({sorted(answers)})")
    assert left == set()
    assert desk.visible() == desk.documents() == {winner}
    assert desk.copies() == desk.referenced() == {f"attachments/{winner}/0"}
    assert desk.store.requests.pending_before(desk.clock() + timedelta(days=1)) == []


def test_a_commit_that_meets_a_same_key_racer_answers_409_at_once_and_keeps_nothing(aws_desk: Desk) -> None:
    assert aws_desk.aws is not None
    png = aws_desk.upload()
    # The commit's transaction is cancelled because another request with this key is committing right now.
    with injected(aws_desk.aws.dynamodb, "TransactWriteItems", TRANSACTION_CONFLICT) as calls:
        answer = aws_desk.submit(png, key="refused-0001")
    assert answer.status_code == 409 and answer.json()["code"] == "idempotency_in_progress", answer.text
    assert answer.headers["retry-after"] == "1" and len(calls) == 1  # told at once, not after retries
    assert aws_desk.copies() == aws_desk.documents() == aws_desk.visible() == set()
    assert aws_desk.store.requests.pending_before(aws_desk.clock() + timedelta(days=1)) == []
    retried = aws_desk.submit(png, key="refused-0001")
    assert retried.status_code == 201, retried.text
    assert aws_desk.copies() == aws_desk.referenced() == {f"attachments/{retried.json()['id']}/0"}


# Same-key racers without attachments ------------------------------------------------------------------------


def race(count: int, post: Callable[[int], Any]) -> list[Any]:
    """``post(n)`` from ``count`` threads let go together; their answers (or what they raised), in no order."""
    start = threading.Barrier(count)
    answers: list[Any] = []
    lock = threading.Lock()

    def racer(number: int) -> None:
        start.wait()
        try:
            answer = post(number)
        except Exception as exc:
            answer = exc
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_racing_posts_with_one_key_in_one_process_write_one_document(aws_desk: Desk) -> None:
    assert aws_desk.aws is not None
    documents: list[str] = []

    def count_document(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith("requests/"):
            documents.append(params["Key"])

    events = aws_desk.aws.s3.meta.events
    events.register("provide-client-params.s3.PutObject", count_document, unique_id="count-documents")
    try:
        body = {"form": "service-request", "data": VALID}
        answers = race(
            RACERS, lambda _: aws_desk.client.post("/v1/requests", json=body, headers={"Idempotency-Key": "race-0002"})
        )
    finally:
        events.unregister("provide-client-params.s3.PutObject", unique_id="count-documents")
    # One stores the request; the others wait for it and replay its receipt, or are told to ask again (409).
    assert len(answers) == RACERS and {a.status_code for a in answers} <= {201, 409}, answers
    stored = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a.headers]
    assert len(stored) == 1, [(a.status_code, a.headers.get("Idempotent-Replayed")) for a in answers]
    winner = stored[0].json()["id"]
    assert {a.json()["id"] for a in answers if a.status_code == 201} == {winner}
    assert len(documents) == 1  # no racer wrote a document of its own
    assert aws_desk.visible() == aws_desk.documents() == {winner}
    assert aws_desk.store.requests.pending_before(aws_desk.clock() + timedelta(days=1)) == []


def test_racing_posts_with_one_key_from_many_containers_leave_one_request_and_no_document_behind(
    aws: AwsStore,
) -> None:
    # Each racer has a store of its own, as each Lambda container has: they meet only in S3 and DynamoDB.
    containers = [
        AwsStore(
            s3_client(aws.s3.meta.endpoint_url, client_config(connect_timeout=1, read_timeout=2)),
            dynamodb_client(aws.dynamodb.meta.endpoint_url, client_config(connect_timeout=1, read_timeout=2)),
            aws.bucket,
            aws.table,
        )
        for _ in range(RACERS)
    ]
    now = now_utc()
    submission = Submission("service-request", "change", "hash", "nb", AUTHORIZED, {"subject": "Race"})
    outcomes = race(RACERS, lambda n: containers[n].requests.submit(submission, "SR", "race-0003", now))
    receipts = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    others = [outcome for outcome in outcomes if not isinstance(outcome, tuple)]
    # One stores it; the others replay it or are told a racer is committing (409): none fails with a 503.
    assert [created for _, created in receipts].count(True) == 1, outcomes
    assert len({receipt for receipt, _ in receipts}) == 1
    assert all(isinstance(outcome, IdempotencyInProgress) for outcome in others), others
    print(f"\n{len(receipts)} receipts ({len(receipts) - 1} replays) and {len(others)} told to ask again")
    (winner,) = {receipt.request_id for receipt, _ in receipts}
    assert aws_request_ids(aws) == aws_document_ids(aws) == {winner}  # the others removed their documents
    assert aws.requests.pending_before(now + timedelta(days=1)) == []


# The sweep ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def a_commit_that_never_answers(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """On AWS the commit's answer times out; the embedded store's process stops in the middle of it."""
    if desk.aws is not None:
        with injected(desk.aws.dynamodb, "TransactWriteItems", broken(ReadTimeoutError)):
            yield
        return

    def stopped(*args: Any) -> None:
        raise RuntimeError("the process stopped")

    with monkeypatch.context() as patch:
        patch.setattr(desk.store.requests, "_commit", stopped)
        yield


def test_the_sweep_removes_what_a_request_that_never_committed_left_and_nothing_else(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with a_commit_that_never_answers(desk, monkeypatch):
        lost = desk.submit(desk.upload(), key="lost-0001")
    assert lost.status_code in (500, 503), lost.text
    (copy,) = desk.copies()
    orphan = copy.split("/")[1]
    # On AWS the document was written before the commit; the embedded store writes it in the commit.
    assert desk.documents() == ({orphan} if desk.aws is not None else set())
    assert desk.visible() == set() and copy == f"attachments/{orphan}/0"
    kept = desk.submit(desk.upload(), key="kept-0001")
    assert kept.status_code == 201, kept.text
    stored = kept.json()["id"]

    assert desk.sweep().endswith("0 requests started over 1 h ago and never stored\n")  # too recent to tell
    desk.clock.advance(hours=2)
    listed = desk.sweep("--dry-run")
    assert f"would remove {orphan} " in listed and "its document and 1 attachment copies" in listed
    assert desk.documents() - {orphan} == {stored} and len(desk.copies()) == 2  # a dry run removes nothing
    swept = desk.sweep()
    assert f"removed {orphan} " in swept and stored not in swept
    assert desk.visible() == desk.documents() == {stored}
    assert desk.copies() == desk.referenced() == {f"attachments/{stored}/0"}
    assert desk.store.requests.pending_before(desk.clock()) == []
    assert desk.sweep().endswith("0 requests started over 1 h ago and never stored\n")
    again = desk.client.get(f"/v1/requests/{stored}")
    assert again.status_code == 200 and again.json()["attachments"][0]["name"] == "skjerm.png"


@pytest.mark.servers  # its fixture is asked for as it runs
def test_the_schedule_sweeps_and_the_stream_does_not(request: pytest.FixtureRequest) -> None:
    store: AwsStore = request.getfixturevalue("aws_environment")  # the Lambda's environment names its table
    old = store.requests.begin(datetime.now(UTC) - timedelta(hours=2), attachments=1)
    recent = store.requests.begin(datetime.now(UTC))
    for pending in (old, recent):
        store.requests._put_document(pending.request_id, b"{}")
    admin_s3(store.s3.meta.endpoint_url).put_object(Bucket=store.bucket, Key=old.attachment_keys[0], Body=PNG)

    assert lambda_entry.handler(event("dynamodb-stream.json"), None) == {"sent": 0, "failed": 0}
    assert aws_document_ids(store) == {old.request_id, recent.request_id}
    assert lambda_entry.handler(event("scheduled.json"), None) == {"sent": 0, "failed": 0}
    assert aws_document_ids(store) == {recent.request_id}
    listed = admin_s3(store.s3.meta.endpoint_url).list_objects_v2(Bucket=store.bucket, Prefix="attachments/")
    assert listed.get("KeyCount", 0) == 0
    assert store.requests.pending_before(datetime.now(UTC) + timedelta(days=1)) == [recent]


# E-mail, at most once ------------------------------------------------------------------------------------------


class TableDownAfterSending(Mailer):
    """The real mail service; right after it has taken the first message, DynamoDB stops answering (every
    call fails to connect) until ``back`` is called."""

    def __init__(self, inner: Mailer, dynamodb: Any) -> None:
        super().__init__(inner.sender)
        self.inner = inner
        self.dynamodb = dynamodb
        self.down = False

    @staticmethod
    def _unreachable(request: Any, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=str(request.url))

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        answer = self.inner.deliver(message, recipients)
        if not self.down:
            self.down = True
            self.dynamodb.meta.events.register("before-send.dynamodb", self._unreachable, unique_id="leaks-down")
        return answer

    def back(self) -> None:
        self.dynamodb.meta.events.unregister("before-send.dynamodb", unique_id="leaks-down")


def test_a_sent_message_whose_record_could_not_be_removed_is_not_sent_again(
    aws: AwsStore, ses: MailServer, tmp_path: Path
) -> None:
    clock = Clock(now_utc())
    mailer = TableDownAfterSending(SesMailer(SENDER, ses.client()), aws.dynamodb)
    settings = Settings(storage="aws", bucket=aws.bucket, table=aws.table, session_secret=SECRET)
    services = build_services(settings, store=aws, mailer=mailer, clock=clock, blobs=S3Blobs(aws.s3, aws.bucket))
    subject = f"Kvittering {time.monotonic_ns()}"
    mailing.queue(services.mailing, [Mail((Recipient("kari@example.no", "Kari"),), subject, ("Hei",), "nb")], "a test")
    (queued,) = aws.mail.queued_mails(10, clock())
    try:
        with contextlib.suppress(StorageUnavailable):
            mailing.send_queued_mail(services.mailing)
    finally:
        mailer.back()
    assert mailer.down
    clock.advance(minutes=10)  # every claim has run out
    for _ in range(3):
        mailing.send_queued_mail(services.mailing)
    sent = [message for message in ses.sent() if message["Subject"] == subject]
    print(f"\n{len(sent)} copies of a message whose record could not be removed after it was sent")
    assert len(sent) == 1
    assert sent[0]["Message-ID"] == f"<{queued.id}@vendor.example>"  # the same however often it is rendered
    assert aws.mail.queued_mails(10, clock()) == []


class LosesTheAnswer(Mailer):
    """A mail service that takes the message and whose answer never arrives, then one that refuses it."""

    def __init__(self) -> None:
        super().__init__(SENDER)
        self.calls = 0
        self.failure: Callable[[], Exception] = lambda: ReadTimeoutError(endpoint_url="https://email.example")

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        self.calls += 1
        raise self.failure()


@pytest.mark.parametrize("kind", ["local", "aws"])
def test_a_message_that_may_have_gone_out_is_never_sent_again_and_a_refused_one_is(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    clock = Clock(now_utc())
    mailer = LosesTheAnswer()
    if kind == "local":
        settings = Settings(data_dir=tmp_path, session_secret=SECRET)
        services = build_services(settings, mailer=mailer, clock=clock)
    else:
        aws: AwsStore = request.getfixturevalue("aws")
        settings = Settings(storage="aws", bucket=aws.bucket, table=aws.table, session_secret=SECRET)
        services = build_services(settings, store=aws, mailer=mailer, clock=clock, blobs=S3Blobs(aws.s3, aws.bucket))
    mailing.queue(services.mailing, [Mail((Recipient("kari@example.no"),), "Kvittering", ("Hei",), "nb")], "a test")
    assert mailing.send_queued_mail(services.mailing) == (0, 1)
    clock.advance(minutes=10)
    assert mailing.send_queued_mail(services.mailing) == (0, 0)
    assert mailer.calls == 1 and services.store.mail.queued_mails(10, clock()) == []
    (given_up,) = services.store.mail.given_up_mails(10)  # kept for an operator to look at and resend
    assert given_up.last_error == mailing.LOST_ANSWER

    refusal = {"Error": {"Code": "Throttling", "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    mailer.failure = lambda: ClientError(refusal, "SendRawEmail")  # type: ignore[arg-type]
    mailing.queue(services.mailing, [Mail((Recipient("kari@example.no"),), "Kvittering 2", ("Hei",), "nb")], "a test")
    assert mailing.send_queued_mail(services.mailing) == (0, 1)
    assert services.store.mail.queued_mails(10, clock()) == []  # refused: not sent, so it waits a minute
    clock.advance(minutes=1)
    (waiting,) = services.store.mail.queued_mails(10, clock())
    assert waiting.attempts == 1
    assert mailing.send_queued_mail(services.mailing) == (0, 1) and mailer.calls == 3
    assert services.store.mail.resend_mail(given_up.id, clock()) and services.store.mail.given_up_mails(10) == []
    assert given_up.id in {m.id for m in services.store.mail.queued_mails(10, clock())}
    assert not services.store.mail.resend_mail(given_up.id, clock())  # only once


def test_queued_mail_is_found_with_strongly_consistent_reads_of_the_table(aws: AwsStore) -> None:
    queries: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        queries.append(dict(params))

    now = now_utc()
    mails = [QueuedMail(f"m{n}", ("kari@example.no",), b"{}", 0, "", now + timedelta(seconds=n)) for n in range(12)]
    aws.mail.queue_mails(mails[6:])
    aws.mail.queue_mails(mails[:6])
    aws.dynamodb.meta.events.register("provide-client-params.dynamodb.Query", record, unique_id="leaks-queries")
    try:
        found = aws.mail.queued_mails(10, now)
    finally:
        aws.dynamodb.meta.events.unregister("provide-client-params.dynamodb.Query", unique_id="leaks-queries")
    assert [m.id for m in found] == [m.id for m in mails[:10]]
    assert queries and all("IndexName" not in q and q.get("ConsistentRead") is True for q in queries), queries


# The listings' index ----------------------------------------------------------------------------------------------


def index_items(store: AwsStore) -> list[dict[str, Any]]:
    paginator = admin_dynamodb(store.dynamodb.meta.endpoint_url).get_paginator("scan")
    return [item for page in paginator.paginate(TableName=store.table, IndexName=KIND_INDEX) for item in page["Items"]]


def test_listings_spread_over_index_partitions_and_carry_no_mail(aws: AwsStore, catalog: Catalog) -> None:
    requesters = [f"kunde{n}@example.no" for n in range(6)]
    for requester in requesters:
        register(aws.contacts, requester, "authorized-for-change")
    start = now_utc()
    body = b"x" * 100_000  # a long receipt

    def mails(receipt: Any) -> list[QueuedMail]:
        return [QueuedMail(f"mail-{receipt.request_id}", ("kari@example.no",), body, 0, "", start)]

    receipts = []
    for n in range(16):
        category = "data-extract" if n % 4 == 0 else "beta-project"
        submission = Submission("service-request", category, "sha256:0", "nb", requesters[n % 6], VALID, "Tittel")
        receipts.append(aws.requests.submit(submission, "SR", None, start + timedelta(minutes=n), mails)[0])

    items = index_items(aws)
    partitions = {item["kind"]["S"] for item in items}
    print(f"\nindex partitions: {sorted(partitions)}; largest index item {max(map(item_size, items))} bytes")
    assert len({p for p in partitions if p.startswith("REQUEST")}) >= 4
    assert len({p for p in partitions if p.startswith("CONTACT")}) >= 2
    assert not [item for item in items if item["pk"]["S"].startswith("MAIL")]
    assert max(map(item_size, items)) < 2048

    newest_first = [r.request_id for r in reversed(receipts)]
    assert [s.receipt.request_id for s in aws.requests.list_requests()] == newest_first
    assert [s.receipt.request_id for s in aws.requests.list_requests(category="data-extract")] == [
        r.request_id for r in reversed(receipts[::4])
    ]
    window = aws.requests.list_requests(since=start + timedelta(minutes=3), until=start + timedelta(minutes=7))
    assert [s.receipt.request_id for s in window] == newest_first[-7:-3]
    assert [c.email for c in aws.contacts.list_contacts()] == sorted(requesters)
    assert len(aws.mail.queued_mails(100, start)) == 16

    settings = Settings(storage="aws", bucket=aws.bucket, table=aws.table, session_secret=SECRET)
    services = build_services(settings, catalog=catalog, store=aws, blobs=S3Blobs(aws.s3, aws.bucket))
    out = io.StringIO()
    assert cli.main(["requests", "list"], out=out, services=services) == 0
    lines = out.getvalue().splitlines()
    assert lines[-1] == "16 requests" and [line.split()[0] for line in lines[:-1]] == [
        r.reference for r in reversed(receipts)
    ]
    out = io.StringIO()
    assert cli.main(["contacts", "list"], out=out, services=services) == 0
    assert [line.split("\t")[0] for line in out.getvalue().splitlines()] == sorted(requesters)


# The process killed at each write -----------------------------------------------------------------------------

_WRITES = {
    "s3": ("PutObject", "CopyObject", "DeleteObject"),
    "dynamodb": ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"),
}


class Killed(BaseException):
    """The process dying: no handler runs, nothing after it happens."""


@contextlib.contextmanager
def killed_at_write(aws: AwsStore, number: int | None, after: bool) -> Iterator[list[str]]:
    """Count the store's writes; the ``number``-th (from 0) kills the process just before it is sent, or once its
    answer has come back. Yields the writes seen."""
    seen: list[str] = []
    event = "after-call" if after else "before-call"

    def write(model: Any, **_: Any) -> None:
        seen.append(model.name)
        if len(seen) - 1 == number:
            raise Killed(model.name)

    clients = {"s3": aws.s3, "dynamodb": aws.dynamodb}
    hooks = [
        (clients[service].meta.events, f"{event}.{service}.{op}") for service, ops in _WRITES.items() for op in ops
    ]
    for events, name in hooks:
        events.register(name, write, unique_id=f"kill-{name}")
    try:
        yield seen
    finally:
        for events, name in hooks:
            events.unregister(name, unique_id=f"kill-{name}")


def test_a_retry_after_the_process_died_at_any_write_is_stored_once_and_the_sweep_leaves_nothing(
    aws_desk: Desk,
) -> None:
    from handler.usecases.submitting import NewRequest, submit

    assert aws_desk.aws is not None

    def new_request(upload: str, key: str) -> NewRequest:
        body = {"form": "service-request", "data": {**VALID, "attachments": [upload]}}
        return NewRequest(body, AUTHORIZED, "nb", key)

    counted = new_request(aws_desk.upload(), "kill-count")
    with killed_at_write(aws_desk.aws, None, after=False) as writes:
        submit(aws_desk.services.submitting, counted)
    outcomes = []
    for after in (False, True):
        for number in range(len(writes)):
            key = f"kill-{number}-{after}"
            request = new_request(aws_desk.upload(), key)
            with killed_at_write(aws_desk.aws, number, after), pytest.raises(Killed):
                submit(aws_desk.services.submitting, request)
            receipt, created = submit(aws_desk.services.submitting, request)  # the client's retry, in a new process
            again, created_again = submit(aws_desk.services.submitting, request)
            assert again == receipt and not created_again
            outcomes.append(f"{writes[number]} {'answered' if after else 'sent'}: {'201' if created else 'replay'}")
    print(f"\nkilled at each of {len(writes)} writes ({', '.join(writes)}), before and after:", *outcomes, sep="\n  ")
    aws_desk.clock.advance(hours=2)
    aws_desk.sweep()
    assert aws_desk.documents() == aws_desk.visible() and len(aws_desk.visible()) == 1 + 2 * len(writes)
    assert aws_desk.copies() == aws_desk.referenced()
    assert aws_desk.store.requests.pending_before(aws_desk.clock() + timedelta(days=1)) == []
