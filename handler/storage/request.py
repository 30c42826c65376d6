"""What a stored request is: the submission, its receipt, index record, history and document, and what
storing one can raise.

The ports that keep them are in ``base``; the submit flow the stores share is in ``flow``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handler import answers

# Crockford's base32 alphabet: no I, L, O or U, so references survive being read aloud or retyped.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A request's id: a UUID in lower case, as ``begin`` makes it.
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


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
class Attachment:
    """A file kept with a request or a message: its name and type as checked, its size, and where its copy is kept."""

    id: str
    name: str
    type: str
    size: int
    key: str

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Attachment:
        """The record as a document or a table item holds it; a document written before sizes were kept has none
        (0: its copy's size is asked of the blobs where it matters)."""
        size = int(stored.get("size", 0))
        return cls(str(stored["id"]), str(stored["name"]), str(stored["type"]), size, str(stored["key"]))

    def as_json(self) -> answers.Attachment:
        """The file as the API shows it (never where it is kept)."""
        return {"id": self.id, "name": self.name, "type": self.type, "size": self.size}


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
    attachments: tuple[Attachment, ...] = ()

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

    def as_json(self) -> answers.Receipt:
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

    def as_json(self) -> answers.Summary:
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

    def as_json(self) -> answers.StatusEvent:
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
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class PendingRequest:
    """A request on its way in: recorded before any of it is written, removed by the step that commits it."""

    request_id: str
    started_at: datetime
    attachment_keys: tuple[str, ...] = ()


def attachment_key(request_id: str, position: int) -> str:
    """Where a request keeps the copy of its attachment number ``position`` (from 0): under its own id."""
    return f"attachments/{request_id}/{position}"


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
        "attachments": [asdict(attachment) for attachment in submission.attachments],
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
        tuple(Attachment.of(stored) for stored in document.get("attachments", ())),
    )
