"""The storage contract: the submit flow lives here, implementations fill in a few primitives.

A request is stored as two things: an immutable JSON *document* (the fields as submitted, with the
schema hash, language, requester and time received) and an *index record* (reference, id, status,
category, requester, timestamps) that makes it visible. The document is written first and never
overwritten; the index record, the reference's uniqueness and the idempotency key are committed
together in one atomic step. A failure between the two leaves an unreferenced document that nobody
can see, never a visible request without its document.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handler.contacts import ContactRegister
from handler.mail import MailQueue, QueuedMail
from handler.signin import SignInState
from handler.uploads import UploadRegistry

# Crockford's base32 alphabet: no I, L, O or U, so references survive being read aloud or retyped.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ATTEMPTS = 5


class StorageUnavailable(Exception):
    """The store could not be reached or did not answer in time; the client may retry."""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different submission."""


class ReferenceTaken(Exception):
    """The generated reference number already belongs to another request."""


class IdempotencyKeyTaken(Exception):
    """Another submission committed the same idempotency key first."""


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


class RequestStore(ABC):
    """Stores accepted requests exactly once; subclasses provide the primitives."""

    idempotency_ttl = timedelta(hours=24)

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
        looked_up: bool = False,
    ) -> tuple[Receipt, bool]:
        """Store ``submission`` and return its receipt and whether it is new.

        With an idempotency key, a repeat of the same submission returns the first receipt and a
        different submission under the same key raises ``IdempotencyConflict``. The e-mails ``mails``
        makes for the receipt are queued in the same atomic step as the request: both or neither.
        ``looked_up`` says the caller has just asked ``replay`` about this key and got nothing, so the
        key is not read again. A request too large for the store raises ``RequestTooLarge`` before
        anything is written.
        """
        fingerprint = submission.fingerprint()
        scoped_key = self._scoped(submission, idempotency_key) if idempotency_key else None
        # Skipping the read after ``replay`` is safe: a key taken since then makes the commit raise
        # IdempotencyKeyTaken, which replays below; the race only costs a discarded document.
        if scoped_key and not looked_up and (earlier := self._find_idempotent(scoped_key, now)):
            return self._replay(earlier, fingerprint), False
        for _ in range(_ATTEMPTS):
            receipt = Receipt(str(uuid.uuid4()), new_reference(reference_prefix), "received", now)
            record = IndexRecord(
                receipt, submission.form_id, submission.category, submission.requester, submission.title
            )
            idempotency = (
                IdempotencyRecord(scoped_key, fingerprint, receipt, now + self.idempotency_ttl) if scoped_key else None
            )
            queued = mails(receipt)
            self._check_size(record, idempotency, now, queued)
            self._put_document(receipt.request_id, document_bytes(submission, receipt))
            try:
                self._commit(record, idempotency, now, queued)
                return receipt, True
            except ReferenceTaken:
                self._discard_document(receipt.request_id)
            except IdempotencyKeyTaken:
                self._discard_document(receipt.request_id)
                assert scoped_key is not None
                if earlier := self._find_idempotent(scoped_key, now):
                    return self._replay(earlier, fingerprint), False
        raise StorageUnavailable("could not commit the request after several attempts")

    @staticmethod
    def _replay(earlier: IdempotencyRecord, fingerprint: str) -> Receipt:
        if earlier.fingerprint != fingerprint:
            raise IdempotencyConflict(earlier.key)
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
    def _put_document(self, request_id: str, body: bytes) -> None:
        """Write the request's document; never overwrite an existing one."""

    @abstractmethod
    def _discard_document(self, request_id: str) -> None:
        """Remove a document whose index record was never committed (best effort)."""

    @abstractmethod
    def _check_size(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail] = (),
    ) -> None:
        """Raise ``RequestTooLarge`` if ``_commit`` could not store these (checked before the document is written)."""

    @abstractmethod
    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail] = (),
    ) -> None:
        """Atomically add the index record, the idempotency key (an expired key counts as free) and the
        queued e-mails.

        Raises ``ReferenceTaken`` or ``IdempotencyKeyTaken`` and changes nothing when either is in use.
        """

    @abstractmethod
    def _find_idempotent(self, key: str, now: datetime) -> IdempotencyRecord | None:
        """The unexpired idempotency record for ``key``, if any, its receipt with the request's current status."""


class Store(RequestStore, ContactRegister, SignInState, MailQueue, UploadRegistry):
    """Everything the handler keeps: requests, contacts, sign-in codes, counters and unsent mail."""
