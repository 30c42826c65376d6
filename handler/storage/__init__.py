"""Where accepted requests are kept: one contract, an embedded default and AWS."""

from handler.storage.base import (
    IdempotencyConflict,
    IdempotencyInProgress,
    Receipt,
    RequestStore,
    StorageUnavailable,
    StoredRequest,
    Submission,
)

__all__ = [
    "IdempotencyConflict",
    "IdempotencyInProgress",
    "Receipt",
    "RequestStore",
    "StorageUnavailable",
    "StoredRequest",
    "Submission",
]
