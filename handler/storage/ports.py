"""The ports of the request store: ``RequestStore`` (what use cases call) and ``RequestBlobs`` (the files)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from handler.mail import QueuedMail
from handler.storage.request import PendingRequest, Receipt, RequestSummary, StatusEvent, StoredRequest, Submission
from handler.uploads import Blobs, Upload


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


class RequestStore(ABC):
    """Stores accepted requests exactly once, and reads them back (``flow.SubmitFlow`` is the shared flow)."""

    idempotency_ttl = timedelta(hours=24)
    # Whether each call crosses a network (milliseconds each): then what does not depend on it is worth doing
    # beside it, in another thread; a store on this machine answers faster than a thread starts.
    remote = False

    @abstractmethod
    def replay(self, submission: Submission, idempotency_key: str | None, now: datetime) -> Receipt | None:
        """The receipt an earlier submission with this key got, if any (``IdempotencyConflict`` if that
        submission was a different one): a retry is answered before anything is checked again."""

    @abstractmethod
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

    @abstractmethod
    def begin(self, now: datetime, attachments: int = 0) -> PendingRequest:
        """Record a new request before anything of it is written: its id and its ``attachments`` copies' keys."""

    @abstractmethod
    def abandon(self, pending: PendingRequest, blobs: RequestBlobs | None = None) -> bool:
        """Remove an uncommitted request's copies, document and record; False if it committed or a removal failed."""

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
    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        """Pending records of requests started before ``cutoff``, oldest first."""
