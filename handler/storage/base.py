"""The storage contract, in one import: what a request is, the ports that keep it, the flow and the store.

A request is stored as two things: an immutable JSON *document* (the fields as submitted, with the
schema hash, language, requester and time received) and an *index record* (reference, id, status,
category, requester, timestamps) that makes it visible. The document is written first and never
overwritten; the index record, the reference's uniqueness and the idempotency key are committed
together in one atomic step. A failure between the two leaves an unreferenced document that nobody
can see, never a visible request without its document.

Before anything of a request is written, a *pending record* names its id and the keys of its
attachment copies; the commit removes it in the same atomic step. A pending record that outlives the
request's answer is therefore a request that never committed, and ``Store.sweep`` removes what it left.

``request`` holds the records and exceptions, ``ports`` the ``RequestStore`` and ``RequestBlobs`` ports,
``flow`` the submit flow the stores share (``SubmitFlow``), and ``store`` the ``Store`` that composes one
database's port objects.
"""

from __future__ import annotations

from handler.storage.ports import RequestBlobs, RequestStore
from handler.storage.request import (
    REQUEST_ID,
    Attachment,
    IdempotencyConflict,
    IdempotencyInProgress,
    IdempotencyKeyBusy,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    InvalidCursor,
    PendingRequest,
    Receipt,
    ReferenceTaken,
    RequestNotFound,
    RequestSummary,
    RequestTooLarge,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    StoredRequest,
    StoreUnreachable,
    Submission,
    attachment_key,
    document_bytes,
    new_reference,
    stored_request,
)
from handler.storage.store import SWEEP_BATCH, SWEEP_MARGIN, Store

__all__ = [
    "REQUEST_ID",
    "SWEEP_BATCH",
    "SWEEP_MARGIN",
    "Attachment",
    "IdempotencyConflict",
    "IdempotencyInProgress",
    "IdempotencyKeyBusy",
    "IdempotencyKeyTaken",
    "IdempotencyRecord",
    "IndexRecord",
    "InvalidCursor",
    "PendingRequest",
    "Receipt",
    "ReferenceTaken",
    "RequestBlobs",
    "RequestNotFound",
    "RequestStore",
    "RequestSummary",
    "RequestTooLarge",
    "StatusConflict",
    "StatusEvent",
    "StorageUnavailable",
    "Store",
    "StoreUnreachable",
    "StoredRequest",
    "Submission",
    "attachment_key",
    "document_bytes",
    "new_reference",
    "stored_request",
]
