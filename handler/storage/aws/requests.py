"""Requests on AWS: the document in S3 (never overwritten), everything that makes it visible in the table.

The submit flow itself lives in ``flow.SubmitFlow``; this writes the document, commits the request's
items in one transaction, and reads them back.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime

from handler.mail import QueuedMail
from handler.storage.aws import commit, records
from handler.storage.aws.commit import NEW
from handler.storage.aws.documents import S3Documents
from handler.storage.aws.records import KIND_INDEX, PENDING, REQUESTER_INDEX, timestamp
from handler.storage.aws.table import Table, Write, unavailable_on_any_error
from handler.storage.cursor import CursorCodec, new_cursor_key
from handler.storage.flow import SubmitFlow
from handler.storage.ports import RequestBlobs
from handler.storage.request import (
    IdempotencyInProgress,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    Receipt,
    RequestNotFound,
    RequestSummary,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    StoredRequest,
    Submission,
    document_bytes,
    stored_request,
)

# How long a second submission with a key this process is committing waits for it before it is told to ask again.
RACER_WAIT_SECONDS = 1.0
# Threads for the writes a submission makes alongside other work: two each, for the requests of one process.
OVERLAP_THREADS = 16


class AwsRequests(SubmitFlow):
    """Requests as S3 documents and table items."""

    remote = True

    def __init__(self, table: Table, documents: S3Documents) -> None:
        self._table = table
        self._documents = documents
        self._cursors: CursorCodec | None = None
        # boto3's clients may be shared between threads: a submission's independent writes go out together
        # (the pending record, the document).
        self._overlap = ThreadPoolExecutor(OVERLAP_THREADS, thread_name_prefix="aws-store")
        self._flights = threading.Lock()  # guards the three below
        self._recording: dict[str, Future[None]] = {}  # pending records still being written, by request id
        self._in_flight: dict[str, threading.Event] = {}  # idempotency keys this process is storing, set when done
        self._unrecorded: set[str] = set()  # requests whose pending record could not be written, until abandoned

    # The document --------------------------------------------------------------------------------

    def _put_document(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        self._documents.put(request_id, body, replace=replace)

    def _remove_document(self, request_id: str) -> None:
        self._documents.remove(request_id)

    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, joined with its document."""
        item = self._table.get(records.key("REQUEST", request_id), "reading the request")
        if item is None:
            return None
        body = self._documents.read(request_id, item["documentKey"])
        if body is None:
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
            return super()._store(submission, reference_prefix, None, fingerprint, now, mails, pending, forward_to)
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
            return super()._store(
                submission, reference_prefix, scoped_key, fingerprint, now, mails, pending, forward_to
            )
        finally:
            with self._flights:
                del self._in_flight[scoped_key]
            ours.set()

    def _prepare(
        self,
        submission: Submission,
        receipt: Receipt,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Callable[[Receipt], Sequence[QueuedMail]],
        pending: PendingRequest,
        *,
        replace: bool,
    ) -> Sequence[QueuedMail]:
        """As the flow's, with the document written while the e-mails are made, and the pending record (written
        alongside since ``begin``) settled before the commit."""
        body = document_bytes(submission, receipt)
        writing = self._overlap.submit(self._put_document, receipt.request_id, body, replace=replace)
        try:
            queued = mails(receipt)  # may wait for the sender's contact and limits, read meanwhile
            self._check_size(record, idempotency, now, queued)
        finally:
            wait([writing])  # the document's write is over before anything goes on, or is undone
        writing.result()
        self._record_settled(pending)
        return queued

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
        commit.check_size(record, idempotency, now, mails)

    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest,
        forward_to: str = "",
    ) -> None:
        commit.commit(self._table, record, idempotency, now, mails, pending, forward_to)

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
                new = Write("Put", {**records.CURSOR_KEY, "key": new_cursor_key()}, NEW)
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
