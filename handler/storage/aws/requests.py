"""Requests on AWS: the document in S3 (never overwritten), everything that makes it visible in the table.

The submit flow itself lives in ``base.RequestStore``; this writes the document, commits the request's
items in one transaction, and reads them back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from handler.mail import QueuedMail
from handler.storage import base
from handler.storage.aws import records
from handler.storage.aws.forwards import forward_job_item
from handler.storage.aws.records import KIND_INDEX, PENDING, REQUESTER_INDEX, document_key, timestamp
from handler.storage.aws.table import (
    Table,
    Write,
    attribute_values,
    error_code,
    item_size,
    unavailable_on_any_error,
    unavailable_on_transient_errors,
)
from handler.storage.base import (
    IdempotencyInProgress,
    IdempotencyKeyBusy,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    Receipt,
    ReferenceTaken,
    RequestBlobs,
    RequestNotFound,
    RequestStore,
    RequestSummary,
    RequestTooLarge,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    StoredRequest,
    Submission,
    document_bytes,
    stored_request,
)
from handler.storage.cursor import CursorCodec, new_cursor_key

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger("servicedesk_forms")

# DynamoDB's limits on one item and on all the items of one transaction.
ITEM_LIMIT_BYTES = 400 * 1024
TRANSACTION_LIMIT_BYTES = 4 * 1024 * 1024
# What S3 answers for a missing object; without s3:ListBucket (which the function does not have) that is
# 403 AccessDenied rather than 404 NoSuchKey.
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})
# Positions of the writes in the commit transaction whose failed condition says what was taken.
_REFERENCE, _IDEMPOTENCY = 1, 2
_NEW = "attribute_not_exists(pk)"
# Tries at a new reference when the one drawn is taken (as ``RequestStore``'s own flow).
ATTEMPTS = 5
# How long a second submission with a key this process is committing waits for it before it is told to ask again.
RACER_WAIT_SECONDS = 1.0


class AwsRequests(RequestStore):
    """Requests as S3 documents and table items."""

    remote = True

    s3: S3Client
    bucket: str
    _table: Table
    _cursors: CursorCodec | None
    _overlap: ThreadPoolExecutor  # writes made alongside other work (the pending record, the document)
    _flights: threading.Lock  # guards the two below
    _recording: dict[str, Future[None]]  # pending records still being written, by request id
    _in_flight: dict[str, threading.Event]  # idempotency keys this process is storing, set when done
    _unrecorded: set[str]  # requests whose pending record could not be written, until they are abandoned

    # The document --------------------------------------------------------------------------------

    def _put_document(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        # IfNoneMatch="*": S3 refuses the write if the key exists, so a document is never overwritten.
        only_new: dict[str, Any] = {} if replace else {"IfNoneMatch": "*"}
        key = document_key(request_id)
        try:
            with unavailable_on_transient_errors("writing the document"):
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **only_new)
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                # Only possible if the id was already used; the submit can be retried with a fresh id.
                raise StorageUnavailable(f"the document for {request_id} already exists") from exc
            raise

    def _remove_document(self, request_id: str) -> None:
        with unavailable_on_any_error("removing the uncommitted document"):
            self.s3.delete_object(Bucket=self.bucket, Key=document_key(request_id))

    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, joined with its document."""
        item = self._table.get(records.key("REQUEST", request_id), "reading the request")
        if item is None:
            return None
        try:
            with unavailable_on_transient_errors("reading the document"):
                body = self.s3.get_object(Bucket=self.bucket, Key=item["documentKey"])["Body"].read()
        except ClientError as exc:
            if (code := error_code(exc)) not in _MISSING_OBJECT_CODES:
                raise
            # Waiting will not bring it back: an operator must restore it (the bucket keeps old versions).
            log.error(
                "request %s is in the table but its document %s is missing (S3 answered %s)",
                request_id,
                item["documentKey"],
                code,
                extra={"document": request_id, "s3Error": code},
            )
            return None
        return stored_request(records.summary(item).receipt, body)

    # The submit flow, overlapped ----------------------------------------------------------------------

    def begin(self, now: datetime, attachments: int = 0) -> PendingRequest:
        """Record a new request; without attachments the record is written while the request goes on (its
        document is written alongside, and the commit waits for both)."""
        if attachments:  # its copies are written next, and only once the record is there
            return super().begin(now, attachments)
        pending = PendingRequest(str(uuid.uuid4()), now)
        recording = self._overlap.submit(self._record_pending, pending)
        with self._flights:
            self._recording[pending.request_id] = recording
        return pending

    def _recorded(self, pending: PendingRequest) -> None:
        """Wait for the pending record's write, if it is still on its way; raises what it raised."""
        with self._flights:
            recording = self._recording.pop(pending.request_id, None)
        if recording is not None:
            recording.result()

    def abandon(self, pending: PendingRequest, blobs: RequestBlobs | None = None) -> bool:
        """As ``RequestStore.abandon``, once the pending record's write is over. If that write failed, no commit
        was sent and none can be: only the document written beside it goes, and the table is not asked again
        (it has just failed to answer, and each call would cost the request its budget once more); a record
        that landed all the same is the sweep's."""
        with self._flights:
            unrecorded = pending.request_id in self._unrecorded
            self._unrecorded.discard(pending.request_id)
        if not unrecorded:
            try:
                self._recorded(pending)
            except StorageUnavailable:
                unrecorded = True
        if unrecorded:
            with contextlib.suppress(StorageUnavailable):
                self._remove_document(pending.request_id)
            return False
        return super().abandon(pending, blobs)

    def _store(
        self,
        submission: Submission,
        reference_prefix: str,
        scoped_key: str | None,
        fingerprint: str,
        now: datetime,
        mails: Callable[[Receipt], Sequence[QueuedMail]],
        pending: PendingRequest,
        forward_to: str = "",
    ) -> tuple[Receipt, bool]:
        """As ``RequestStore._store``, with the document written while the e-mails are made; and a second
        submission with a key this process is committing right now waits for it briefly and replays it (or is
        told to ask again), without writing anything of its own."""
        if scoped_key is None:
            return self._attempts(submission, reference_prefix, None, fingerprint, now, mails, pending, forward_to)
        with self._flights:
            racing = self._in_flight.get(scoped_key)
            if racing is None:
                self._in_flight[scoped_key] = ours = threading.Event()
        if racing is not None:
            racing.wait(RACER_WAIT_SECONDS)
            if earlier := self._find_idempotent(scoped_key, now):
                return self._replay(earlier, fingerprint), False
            raise IdempotencyInProgress(scoped_key)
        try:
            return self._attempts(
                submission, reference_prefix, scoped_key, fingerprint, now, mails, pending, forward_to
            )
        finally:
            with self._flights:
                del self._in_flight[scoped_key]
            ours.set()

    def _attempts(
        self,
        submission: Submission,
        reference_prefix: str,
        scoped_key: str | None,
        fingerprint: str,
        now: datetime,
        mails: Callable[[Receipt], Sequence[QueuedMail]],
        pending: PendingRequest,
        forward_to: str,
    ) -> tuple[Receipt, bool]:
        written = False
        for _ in range(ATTEMPTS):
            receipt = Receipt(pending.request_id, base.new_reference(reference_prefix), "received", now)
            record = IndexRecord(
                receipt, submission.form_id, submission.category, submission.requester, submission.title
            )
            idempotency = (
                IdempotencyRecord(scoped_key, fingerprint, receipt, now + self.idempotency_ttl) if scoped_key else None
            )
            # A retry with a new reference rewrites the document it wrote itself, never a committed one.
            body = document_bytes(submission, receipt)
            writing = self._overlap.submit(self._put_document, receipt.request_id, body, replace=written)
            try:
                queued = mails(receipt)  # may wait for the sender's contact and limits, read meanwhile
                self._check_size(record, idempotency, now, queued)
            finally:
                wait([writing])  # the document's write is over before anything goes on, or is undone
            writing.result()
            written = True
            self._record_settled(pending)
            try:
                self._commit(record, idempotency, now, queued, pending, forward_to)
                return receipt, True
            except ReferenceTaken:
                continue
            except IdempotencyKeyTaken as exc:
                assert scoped_key is not None
                if earlier := self._find_idempotent(scoped_key, now):
                    return self._replay(earlier, fingerprint), False
                if isinstance(exc, IdempotencyKeyBusy):  # its racer has not committed yet: no waiting here
                    raise IdempotencyInProgress(scoped_key) from exc
        raise StorageUnavailable("could not commit the request after several attempts")

    def _record_settled(self, pending: PendingRequest) -> None:
        """Wait for the pending record; if it failed, remove the document at once (no commit was sent, so none
        can land) and refuse the request: nothing of it is left for the sweep to find."""
        try:
            self._recorded(pending)
        except StorageUnavailable as exc:
            with self._flights:
                self._unrecorded.add(pending.request_id)  # abandoning it asks the table nothing more
            self._remove_document(pending.request_id)
            raise StorageUnavailable(f"request {pending.request_id} could not be recorded: {exc}") from exc

    # Pending records -----------------------------------------------------------------------------

    def _record_pending(self, pending: PendingRequest) -> None:
        self._table.write("recording the request on its way in", Write("Put", records.pending_item(pending)))

    def _stop_pending(self, pending: PendingRequest) -> bool:
        stop = Write("Update", records.pending_key(pending), "attribute_exists(pk)", "SET stopped = :y", {":y": True})
        return self._table.write("stopping the unfinished request", stop) is not None

    def _forget_pending(self, pending: PendingRequest) -> None:
        with unavailable_on_any_error("removing the pending record"):
            self._table.write("removing the pending record", Write("Delete", records.pending_key(pending)))

    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        """Pending records started before ``cutoff``, oldest first, from strongly consistent queries."""
        items = records.sharded(
            self._table, "reading the table", PENDING, "sk < :cutoff", {":cutoff": timestamp(cutoff)}, limit=limit
        )
        found = sorted(map(records.pending, items), key=lambda pending: (pending.started_at, pending.request_id))
        return found[:limit]

    # The commit ----------------------------------------------------------------------------------

    def _check_size(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail] = (),
    ) -> None:
        writes = self._commit_writes(record, idempotency, now, mails, None, "")
        sizes = [item_size(attribute_values(write.item)) for write in writes if write.kind == "Put"]
        if max(sizes) > ITEM_LIMIT_BYTES or sum(sizes) > TRANSACTION_LIMIT_BYTES:
            raise RequestTooLarge(
                f"request {record.receipt.request_id}: its largest item would be {max(sizes)} bytes "
                f"(DynamoDB takes {ITEM_LIMIT_BYTES}), {sum(sizes)} in all"
            )

    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest,
        forward_to: str = "",
    ) -> None:
        def refused(failed: list[int]) -> Exception:
            if idempotency is not None and _IDEMPOTENCY in failed:
                return IdempotencyKeyTaken(idempotency.key)
            if _REFERENCE in failed:
                return ReferenceTaken(record.receipt.reference)
            # The id is taken (a fresh UUID: never in practice) or the sweep stopped the request as unfinished.
            return StorageUnavailable(f"request {record.receipt.request_id} cannot be committed: {failed} refused")

        def conflicted(positions: list[int]) -> Exception | None:
            # A racer with the same key is committing: the caller answers without waiting for it.
            return IdempotencyKeyBusy(idempotency.key) if idempotency and _IDEMPOTENCY in positions else None

        writes = self._commit_writes(record, idempotency, now, mails, pending, forward_to)
        self._table.write("committing the request", *writes, refused=refused, conflicted=conflicted)

    @staticmethod
    def _commit_writes(
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest | None,
        forward_to: str,
    ) -> list[Write]:
        receipt = record.receipt
        # The request is new (its id a fresh UUID; this makes sure) and its reference unique.
        writes = [Write("Put", records.request_item(record), _NEW), Write("Put", records.reference_item(receipt), _NEW)]
        if idempotency is not None:
            # The key is free if nobody holds it, or if its holder expired: TTL deletes expired items
            # late, so an expired item may still be there and counts as absent.
            free = f"{_NEW} OR #{records.TTL_ATTRIBUTE} <= :now"
            now_value = {":now": records.epoch(now)}
            writes.append(Write("Put", records.idempotency_item(idempotency), free, values=now_value))
        # The first step of the request's history, then its e-mails with their outbox entries (their
        # INSERTs wake the sender through the stream): after the positions above, which stay fixed.
        first = records.event_item(receipt.request_id, StatusEvent(receipt.status, receipt.received_at))
        items = [first] + [item for mail in mails for item in (records.mail_item(mail), records.outbox_entry(mail))]
        if forward_to:  # its INSERT wakes the worker through the stream, as a queued e-mail's does
            items.append(forward_job_item(receipt.request_id, forward_to, now))
        writes += [Write("Put", item, _NEW) for item in items]
        if pending is not None:
            # Last: the request is no longer on its way in, unless the sweep stopped it meanwhile.
            on_its_way = "attribute_exists(pk) AND attribute_not_exists(stopped)"
            writes.append(Write("Delete", records.pending_key(pending), on_its_way))
        return writes

    def _find_idempotent(self, key: str, now: datetime) -> IdempotencyRecord | None:
        item = self._table.get(records.key("IDEMPOTENCY", key), "reading the idempotency key")
        if item is None or int(item[records.TTL_ATTRIBUTE]) <= records.epoch(now):
            return None  # none, or expired but not yet deleted by TTL: absent
        # The key's item keeps the status the request was received with; a replay answers the current one.
        request = self._table.get(records.key("REQUEST", item["requestId"]), "reading the request")
        return records.idempotency(key, item, (request or item)["status"])

    # Listing and status ------------------------------------------------------------------------------

    def summary(self, request_id: str) -> RequestSummary | None:
        """The index record of one request."""
        item = self._table.get(records.key("REQUEST", request_id), "reading the request")
        return records.summary(item) if item else None

    def find_reference(self, reference: str) -> str | None:
        """The id of the request with this reference number."""
        item = self._table.get(records.key("REFERENCE", reference.upper()), "reading the reference")
        return str(item["requestId"]) if item else None

    def _cursor_codec(self) -> CursorCodec:
        if self._cursors is None:
            item = self._table.get(records.CURSOR_KEY, "reading the cursor key")
            if item is None:
                # Another container may put its key first: that one counts.
                new = Write("Put", {**records.CURSOR_KEY, "key": new_cursor_key()}, _NEW)
                self._table.write("keeping the cursor key", new)
                item = self._table.get(records.CURSOR_KEY, "reading the cursor key")
                if item is None:
                    raise StorageUnavailable("the cursor key was removed while it was being made")
            self._cursors = CursorCodec(bytes(item["key"]))
        return self._cursors

    def list_for_requester(
        self, requester: str, limit: int, cursor: str | None = None
    ) -> tuple[list[RequestSummary], str | None]:
        """One requester's requests, newest first, from the ``byRequester`` index; no scan."""
        after = None
        if cursor:
            received_at, request_id = self._cursor_codec().unseal(cursor, requester)
            position = {"requesterKey": requester, "receivedKey": f"{timestamp(received_at)}#{request_id}"}
            after = {**records.key("REQUEST", request_id), **position}
        items, last = self._table.page(
            "listing the requester's requests",
            "requesterKey = :requester",
            {":requester": requester},
            index=REQUESTER_INDEX,
            limit=limit,
            newest_first=True,
            after=after,
        )
        page = [records.summary(item) for item in items]
        if last is None:
            return page, None
        received, _, request_id = last["receivedKey"].rpartition("#")
        return page, self._cursor_codec().seal(requester, datetime.fromisoformat(received), request_id)

    def list_requests(
        self,
        status: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestSummary]:
        """Every request matching the filters, newest first, from the ``byKind`` index."""
        bounds = {":start": timestamp(since) if since else None, ":end": timestamp(until) if until else None}
        values = {name: value for name, value in bounds.items() if value is not None}
        condition = {
            (":start", ":end"): "sortKey BETWEEN :start AND :end",
            (":start",): "sortKey >= :start",
            (":end",): "sortKey < :end",
        }.get(tuple(values), "")
        items = records.sharded(self._table, "listing request items", "REQUEST", condition, values, index=KIND_INDEX)
        found = (records.summary(item) for item in sorted(items, key=lambda item: item["sortKey"], reverse=True))
        return [
            s
            for s in found
            if (status is None or s.receipt.status == status) and (category is None or s.category == category)
        ]

    def history(self, request_id: str) -> list[StatusEvent]:
        """The request's status changes, oldest first."""
        values = {":pk": f"REQUEST#{request_id}", ":status": "STATUS#"}
        items = self._table.query("reading the history", "pk = :pk AND begins_with(sk, :status)", values)
        return [records.event(item) for item in items]

    def change_status(self, request_id: str, expected: str, event: StatusEvent) -> RequestSummary:
        """Move the request from ``expected`` to the event's status and record the event, in one transaction."""
        change = Write(
            "Update",
            records.key("REQUEST", request_id),
            # Only from the status the agent saw: a change in between is not overwritten.
            "attribute_exists(pk) AND #status = :expected",
            "SET #status = :new, updatedAt = :at",
            {":new": event.status, ":at": timestamp(event.at), ":expected": expected},
        )
        recorded = Write("Put", records.event_item(request_id, event))
        if self._table.write("changing the status", change, recorded) is None:
            raise (StatusConflict if self.summary(request_id) else RequestNotFound)(request_id)
        found = self.summary(request_id)
        assert found is not None
        return found
