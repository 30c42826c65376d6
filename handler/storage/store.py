"""A store as one object: the port objects built on one database, composed, with the sweep that spans them.

The container hands each use case the ports it uses (``store.requests``, ``store.contacts``, …), and the command
line, the local server and the tests call those port objects too: ``Store`` builds and holds them, it forwards
nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from handler.contacts import ContactRegister
from handler.mail import MailQueue
from handler.signin import SignInState
from handler.storage.ports import RequestBlobs, RequestStore
from handler.storage.request import PendingRequest
from handler.uploads import UploadReceiver, UploadRegistry

if TYPE_CHECKING:
    from handler.conversation import Conversation
    from handler.forwarding import ForwardQueue

# A pending record this old belongs to a request that will never commit: far longer than any submission
# takes (the function gives up after 10 s), so the sweep never races a request that is still on its way.
SWEEP_MARGIN = timedelta(hours=1)
# How many unfinished requests one scheduled sweep removes (each takes a few calls).
SWEEP_BATCH = 50


class Store(ABC):
    """Everything the handler keeps: requests, contacts, sign-in codes, counters, unsent mail and upload slots,
    each a port object of its own; the messages, forwarding jobs and files from the same database."""

    def __init__(
        self,
        requests: RequestStore,
        contacts: ContactRegister,
        sign_in: SignInState,
        mail: MailQueue,
        uploads: UploadRegistry,
    ) -> None:
        self.requests = requests
        self.contacts = contacts
        self.sign_in = sign_in
        self.mail = mail
        self.uploads = uploads
        # Whether the store's calls cross a network: then the use cases overlap what does not depend on them.
        self.remote = requests.remote

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
        found = self.requests.pending_before(now - SWEEP_MARGIN, limit)
        if dry_run:
            return found, 0
        removed = sum(self.requests.abandon(pending, blobs) for pending in found)
        return found, removed
