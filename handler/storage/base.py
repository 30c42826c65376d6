"""The storage contract: the submit flow lives here, implementations fill in a few primitives.

A request is stored as two things: an immutable JSON *document* (the fields as submitted, with the
schema hash, language, requester and time received) and an *index record* (reference, id, status,
category, requester, timestamps) that makes it visible. The document is written first and never
overwritten; the index record, the reference's uniqueness and the idempotency key are committed
together in one atomic step. A failure between the two leaves an unreferenced document that nobody
can see, never a visible request without its document.

Before anything of a request is written, a *pending record* names its id and the keys of its
attachment copies; the commit removes it in the same atomic step. A pending record that outlives the
request's answer is therefore a request that never committed, and ``Store.sweep`` removes what it left.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from handler.contacts import ContactRegister
from handler.mail import MailQueue, QueuedMail
from handler.signin import SignInState
from handler.uploads import Blobs, Upload, UploadReceiver, UploadRegistry

if TYPE_CHECKING:
    from handler.conversation import Conversation
    from handler.forwarding import ForwardQueue

log = logging.getLogger("servicedesk_forms")

# Crockford's base32 alphabet: no I, L, O or U, so references survive being read aloud or retyped.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ATTEMPTS = 5
# A pending record this old belongs to a request that will never commit: far longer than any submission
# takes (the function gives up after 10 s), so the sweep never races a request that is still on its way.
SWEEP_MARGIN = timedelta(hours=1)
# A request's id: a UUID in lower case, as ``begin`` makes it.
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# How many unfinished requests one scheduled sweep removes (each takes a few calls).
SWEEP_BATCH = 50


class StorageUnavailable(Exception):
    """The store could not be reached or did not answer in time; the client may retry."""


class StoreUnreachable(StorageUnavailable):
    """The store did not answer at all (a timeout, a broken connection): what was sent may still land."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different submission: the one with ``reference``."""

    def __init__(self, key: str, reference: str) -> None:
        super().__init__(key)
        self.reference = reference


class ReferenceTaken(Exception):
    """The generated reference number already belongs to another request."""


class IdempotencyKeyTaken(Exception):
    """Another submission committed the same idempotency key first."""


class IdempotencyKeyBusy(IdempotencyKeyTaken):
    """Another submission with the same idempotency key was committing at the same moment."""


class IdempotencyInProgress(Exception):
    """A submission with the same idempotency key is being stored right now: ask again in a moment."""


class RequestTooLarge(Exception):
    """The request is larger than the store can keep in one commit; nothing was stored."""


@dataclass(frozen=True)
class Submission:
    """A validated submission, ready to be stored."""

    form_id: str
    category: str | None
    schema_hash: str
    language: str
    requester: str | None
    data: Mapping[str, Any]
    title: str | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()

    def fingerprint(self) -> str:
        """A digest of what was submitted, to tell a retry from a different request."""
        canonical = json.dumps([self.form_id, self.requester, self.data], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Receipt:
    """What the requester gets back for a stored request."""

    request_id: str
    reference: str
    status: str
    received_at: datetime

    def as_json(self) -> dict[str, str]:
        """The receipt as the API returns it."""
        return {
            "id": self.request_id,
            "reference": self.reference,
            "status": self.status,
            "receivedAt": self.received_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class IndexRecord:
    """The searchable record that makes a stored request visible."""

    receipt: Receipt
    form_id: str
    category: str | None
    requester: str | None
    title: str | None = None


@dataclass(frozen=True)
class RequestSummary:
    """One line of a list of requests: the index record as it is now."""

    receipt: Receipt
    form_id: str
    category: str | None
    requester: str | None
    title: str | None
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The summary as the API returns it."""
        return {
            **self.receipt.as_json(),
            "form": self.form_id,
            "category": self.category,
            "title": self.title,
            "updatedAt": self.updated_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class StatusEvent:
    """One step in a request's history: the status it got, when, from which agent, and why."""

    status: str
    at: datetime
    agent: str | None = None
    comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The event as the API returns it; the agent's name stays inside the vendor."""
        return {"status": self.status, "at": self.at.isoformat(timespec="seconds"), "comment": self.comment}


class RequestNotFound(Exception):
    """No visible request has that id or reference."""


class InvalidCursor(ValueError):
    """A page cursor that this listing did not hand out."""


class StatusConflict(Exception):
    """The request's status changed while this change was being made; read it again and retry."""


@dataclass(frozen=True)
class IdempotencyRecord:
    """Which request a requester's idempotency key produced, until it expires."""

    key: str
    fingerprint: str
    receipt: Receipt
    expires_at: datetime


@dataclass(frozen=True)
class StoredRequest:
    """One stored request: its index record joined with its document."""

    receipt: Receipt
    form_id: str
    category: str | None
    requester: str | None
    language: str
    schema_hash: str
    data: Mapping[str, Any]
    attachments: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class PendingRequest:
    """A request on its way in: recorded before any of it is written, removed by the step that commits it."""

    request_id: str
    started_at: datetime
    attachment_keys: tuple[str, ...] = ()


def attachment_key(request_id: str, position: int) -> str:
    """Where a request keeps the copy of its attachment number ``position`` (from 0): under its own id."""
    return f"attachments/{request_id}/{position}"


class RequestBlobs(Blobs):
    """Uploaded files as the submit flow uses them: copied to the keys a request chose, removed or refused."""

    @abstractmethod
    def copy_upload(self, upload: Upload, key: str) -> bool:
        """Copy the upload to ``key`` with its name and type; False if nothing was uploaded."""

    @abstractmethod
    def put(self, key: str, content: bytes, name: str, content_type: str) -> None:
        """Keep a file that came with a mail at ``key``, with its name and type."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Remove the file at ``key`` if there is one; ``StorageUnavailable`` if that failed."""


def new_reference(prefix: str) -> str:
    """A reference like ``SR-7KQ2-M9XD``: the form's prefix and 40 random bits in Crockford base32."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"{prefix}-{chars[:4]}-{chars[4:]}"


def document_bytes(submission: Submission, receipt: Receipt) -> bytes:
    """The immutable document of a request, as stored."""
    document = {
        "id": receipt.request_id,
        "reference": receipt.reference,
        "form": submission.form_id,
        "category": submission.category,
        "schemaHash": submission.schema_hash,
        "language": submission.language,
        "requester": submission.requester,
        "receivedAt": receipt.received_at.isoformat(timespec="seconds"),
        "data": submission.data,
        "attachments": list(submission.attachments),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode()


def stored_request(receipt: Receipt, body: bytes) -> StoredRequest:
    """A request as its index record's receipt and the document ``document_bytes`` made."""
    document: dict[str, Any] = json.loads(body)
    return StoredRequest(
        receipt,
        document["form"],
        document["category"],
        document["requester"],
        document["language"],
        document["schemaHash"],
        document["data"],
        tuple(document.get("attachments", ())),
    )


class RequestStore(ABC):
    """Stores accepted requests exactly once; subclasses provide the primitives."""

    idempotency_ttl = timedelta(hours=24)
    # Whether each call crosses a network (milliseconds each): then what does not depend on it is worth doing
    # beside it, in another thread; a store on this machine answers faster than a thread starts.
    remote = False

    def replay(self, submission: Submission, idempotency_key: str | None, now: datetime) -> Receipt | None:
        """The receipt an earlier submission with this key got, if any (``IdempotencyConflict`` if that
        submission was a different one): a retry is answered before anything is checked again."""
        if not idempotency_key:
            return None
        earlier = self._find_idempotent(self._scoped(submission, idempotency_key), now)
        return self._replay(earlier, submission.fingerprint()) if earlier else None

    @staticmethod
    def _scoped(submission: Submission, idempotency_key: str) -> str:
        return f"{submission.requester or '-'}:{idempotency_key}"

    def submit(
        self,
        submission: Submission,
        reference_prefix: str,
        idempotency_key: str | None,
        now: datetime,
        mails: Callable[[Receipt], Sequence[QueuedMail]] = lambda receipt: (),
        *,
        forward_to: str = "",
        looked_up: bool = False,
        pending: PendingRequest | None = None,
    ) -> tuple[Receipt, bool]:
        """Store ``submission`` and return its receipt and whether it is new.

        With an idempotency key, a repeat of the same submission returns the first receipt and a
        different submission under the same key raises ``IdempotencyConflict``. The e-mails ``mails``
        makes for the receipt are queued in the same atomic step as the request: both or neither.
        ``looked_up`` says the key is not to be read first: the caller has just asked ``replay`` and got
        nothing, or leaves it to the commit, which finds the key taken and then replays. A request too
        large for the store raises ``RequestTooLarge`` before its document is written.

        ``pending`` is the caller's record from ``begin`` (its id becomes the request's), and the caller
        ``abandon``s it when the request is not new or this raises. Without one, ``submit`` makes its own
        and removes what it wrote unless it committed, or the store did not answer (``StoreUnreachable``:
        the commit may still land, so what it wrote is left to ``sweep``).
        """
        fingerprint = submission.fingerprint()
        scoped_key = self._scoped(submission, idempotency_key) if idempotency_key else None
        # Skipping the read after ``replay`` is safe: a key taken since then makes the commit raise
        # IdempotencyKeyTaken, which replays below; the race only costs a discarded document.
        if scoped_key and not looked_up and (earlier := self._find_idempotent(scoped_key, now)):
            return self._replay(earlier, fingerprint), False
        if pending is not None:
            return self._store(submission, reference_prefix, scoped_key, fingerprint, now, mails, pending, forward_to)
        own = self.begin(now)
        try:
            receipt, created = self._store(
                submission, reference_prefix, scoped_key, fingerprint, now, mails, own, forward_to
            )
        except StoreUnreachable:
            raise
        except BaseException:
            self.abandon(own)
            raise
        if not created:
            self.abandon(own)
        return receipt, created

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
        written = False
        for _ in range(_ATTEMPTS):
            receipt = Receipt(pending.request_id, new_reference(reference_prefix), "received", now)
            record = IndexRecord(
                receipt, submission.form_id, submission.category, submission.requester, submission.title
            )
            idempotency = (
                IdempotencyRecord(scoped_key, fingerprint, receipt, now + self.idempotency_ttl) if scoped_key else None
            )
            queued = mails(receipt)
            self._check_size(record, idempotency, now, queued)
            # A retry with a new reference rewrites the document it wrote itself, never a committed one.
            self._put_document(receipt.request_id, document_bytes(submission, receipt), replace=written)
            written = True
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

    def begin(self, now: datetime, attachments: int = 0) -> PendingRequest:
        """Record a new request before anything of it is written: its id and its ``attachments`` copies' keys."""
        request_id = str(uuid.uuid4())
        pending = PendingRequest(request_id, now, tuple(attachment_key(request_id, n) for n in range(attachments)))
        self._record_pending(pending)
        return pending

    def abandon(self, pending: PendingRequest, blobs: RequestBlobs | None = None) -> bool:
        """Remove an uncommitted request's copies, document and record; False if it committed or a removal failed."""
        if pending.attachment_keys and blobs is None:
            raise TypeError("removing attachment copies needs the blobs they are in")
        try:
            # First make the commit impossible, so nothing is removed from under a request that lands late.
            if not self._stop_pending(pending):
                return False
            for key in pending.attachment_keys:
                assert blobs is not None
                blobs.remove(key)
            self._remove_document(pending.request_id)
            self._forget_pending(pending)
        except StorageUnavailable as exc:
            log.warning(
                "could not remove what the unfinished request %s wrote; the sweep tries again: %s",
                pending.request_id,
                exc,
                extra={"document": pending.request_id, "failure": type(exc).__name__},
            )
            return False
        return True

    @staticmethod
    def _replay(earlier: IdempotencyRecord, fingerprint: str) -> Receipt:
        if earlier.fingerprint != fingerprint:
            raise IdempotencyConflict(earlier.key, earlier.receipt.reference)
        return earlier.receipt

    @abstractmethod
    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, or None if none is visible or its document is missing (logged as an error)."""

    @abstractmethod
    def summary(self, request_id: str) -> RequestSummary | None:
        """The index record of one request as it is now."""

    @abstractmethod
    def find_reference(self, reference: str) -> str | None:
        """The id of the request with this reference number."""

    @abstractmethod
    def list_for_requester(
        self, requester: str, limit: int, cursor: str | None = None
    ) -> tuple[list[RequestSummary], str | None]:
        """One requester's requests, newest first, a page at a time; raises ``InvalidCursor``."""

    @abstractmethod
    def list_requests(
        self,
        status: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestSummary]:
        """Every request matching the filters, newest first (for agents)."""

    @abstractmethod
    def history(self, request_id: str) -> list[StatusEvent]:
        """The request's status changes, oldest first."""

    @abstractmethod
    def change_status(self, request_id: str, expected: str, event: StatusEvent) -> RequestSummary:
        """Move the request from ``expected`` to ``event.status``; ``StatusConflict`` if it moved meanwhile."""

    @abstractmethod
    def _put_document(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        """Write the request's document, never over another (with ``replace``, over this submission's own)."""

    @abstractmethod
    def _remove_document(self, request_id: str) -> None:
        """Remove the document of a request that was never committed; ``StorageUnavailable`` if that failed."""

    @abstractmethod
    def _record_pending(self, pending: PendingRequest) -> None:
        """Keep the pending record of a request about to be written."""

    @abstractmethod
    def _stop_pending(self, pending: PendingRequest) -> bool:
        """Make the pending record's commit impossible; False if there is no record (committed, or removed)."""

    @abstractmethod
    def _forget_pending(self, pending: PendingRequest) -> None:
        """Remove a pending record whose request's writes are gone."""

    @abstractmethod
    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        """Pending records of requests started before ``cutoff``, oldest first."""

    def _check_size(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail] = (),
    ) -> None:
        """Raise ``RequestTooLarge`` if ``_commit`` could not store these (checked before the document is written).

        A store without a practical item limit keeps this default, which accepts everything.
        """
        return

    @abstractmethod
    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest,
        forward_to: str = "",
    ) -> None:
        """Atomically add the index record, the idempotency key (an expired key counts as free), the
        queued e-mails and (with ``forward_to``) the job of forwarding it, and remove the pending record.

        Raises ``ReferenceTaken`` or ``IdempotencyKeyTaken`` and changes nothing when either is in use,
        and ``StorageUnavailable`` when the pending record was stopped.
        """

    @abstractmethod
    def _find_idempotent(self, key: str, now: datetime) -> IdempotencyRecord | None:
        """The unexpired idempotency record for ``key``, if any, its receipt with the request's current status."""


class Store(RequestStore, ContactRegister, SignInState, MailQueue, UploadRegistry):
    """Everything the handler keeps: requests, contacts, sign-in codes, counters and unsent mail."""

    @abstractmethod
    def files(self) -> tuple[RequestBlobs, UploadReceiver | None]:
        """Where this store keeps uploaded files (on its own clients or under its own folder), and what takes
        the files in itself (None where the browser sends them straight to the bucket)."""

    @abstractmethod
    def conversation(self) -> Conversation:
        """The port that keeps the requests' messages, on this store's own database."""

    @abstractmethod
    def forwards(self) -> ForwardQueue:
        """The port that keeps the forwarding jobs and the tickets, on this store's own database."""

    def sweep(
        self, blobs: RequestBlobs, now: datetime, *, dry_run: bool = False, limit: int | None = None
    ) -> tuple[list[PendingRequest], int]:
        """Remove what requests started over ``SWEEP_MARGIN`` ago that never committed left: those found, removed."""
        found = self.pending_before(now - SWEEP_MARGIN, limit)
        if dry_run:
            return found, 0
        removed = sum(self.abandon(pending, blobs) for pending in found)
        return found, removed
