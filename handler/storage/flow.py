"""The submit flow every store shares: a store fills in a few primitives (its document, its pending record,
its commit) and the flow keeps a request exactly once.

The document is written first and never overwritten; the index record, the reference's uniqueness and the
idempotency key are committed together in one atomic step, which also removes the pending record.
"""

from __future__ import annotations

import logging
import uuid
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime

from handler.mail import QueuedMail
from handler.storage import base
from handler.storage.ports import RequestBlobs, RequestStore
from handler.storage.request import (
    IdempotencyConflict,
    IdempotencyInProgress,
    IdempotencyKeyBusy,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    Receipt,
    ReferenceTaken,
    StorageUnavailable,
    StoreUnreachable,
    Submission,
    attachment_key,
    document_bytes,
)

log = logging.getLogger("servicedesk_forms")

# Tries at a new reference when the one drawn is taken.
ATTEMPTS = 5


class SubmitFlow(RequestStore):
    """Stores accepted requests exactly once; subclasses provide the primitives."""

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
        """As ``RequestStore.submit``: the key read first (unless ``looked_up``), then stored by ``_store``."""
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
        for _ in range(ATTEMPTS):
            receipt = Receipt(pending.request_id, base.new_reference(reference_prefix), "received", now)
            record = IndexRecord(
                receipt, submission.form_id, submission.category, submission.requester, submission.title
            )
            idempotency = (
                IdempotencyRecord(scoped_key, fingerprint, receipt, now + self.idempotency_ttl) if scoped_key else None
            )
            queued = self._prepare(submission, receipt, record, idempotency, now, mails, pending, replace=written)
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
        """Everything an attempt needs before its commit: the receipt's e-mails, made and checked to fit with the
        record, and the document written (a retry with a new reference rewrites the document it wrote itself,
        never a committed one). The e-mails to queue in the commit."""
        queued = mails(receipt)
        self._check_size(record, idempotency, now, queued)
        self._put_document(receipt.request_id, document_bytes(submission, receipt), replace=replace)
        return queued

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
