"""A store as one object: the port objects built on one database, composed, with the sweep that spans them.

The container hands each use case the ports it uses (``store.requests``, ``store.contacts``, …). The methods
here forward to those ports, for the command line and the local server, which work with the store as one.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from handler.contacts import Contact, ContactRegister
from handler.mail import MailQueue, QueuedMail
from handler.signin import PendingCode, SignInState
from handler.storage.ports import RequestBlobs, RequestStore
from handler.storage.request import PendingRequest, Receipt, RequestSummary, StatusEvent, StoredRequest, Submission
from handler.uploads import Upload, UploadReceiver, UploadRegistry

if TYPE_CHECKING:
    from handler.conversation import Conversation
    from handler.forwarding import ForwardQueue

# A pending record this old belongs to a request that will never commit: far longer than any submission
# takes (the function gives up after 10 s), so the sweep never races a request that is still on its way.
SWEEP_MARGIN = timedelta(hours=1)
# How many unfinished requests one scheduled sweep removes (each takes a few calls).
SWEEP_BATCH = 50


class Store(RequestStore, ContactRegister, SignInState, MailQueue, UploadRegistry):
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
        self.remote = requests.remote
        self.idempotency_ttl = requests.idempotency_ttl

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

    # Requests ----------------------------------------------------------------------------------------------

    def replay(self, submission: Submission, idempotency_key: str | None, now: datetime) -> Receipt | None:
        return self.requests.replay(submission, idempotency_key, now)

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
        return self.requests.submit(
            submission,
            reference_prefix,
            idempotency_key,
            now,
            mails,
            forward_to=forward_to,
            looked_up=looked_up,
            pending=pending,
        )

    def begin(self, now: datetime, attachments: int = 0) -> PendingRequest:
        return self.requests.begin(now, attachments)

    def abandon(self, pending: PendingRequest, blobs: RequestBlobs | None = None) -> bool:
        return self.requests.abandon(pending, blobs)

    def get(self, request_id: str) -> StoredRequest | None:
        return self.requests.get(request_id)

    def summary(self, request_id: str) -> RequestSummary | None:
        return self.requests.summary(request_id)

    def find_reference(self, reference: str) -> str | None:
        return self.requests.find_reference(reference)

    def list_for_requester(
        self, requester: str, limit: int, cursor: str | None = None
    ) -> tuple[list[RequestSummary], str | None]:
        return self.requests.list_for_requester(requester, limit, cursor)

    def list_requests(
        self,
        status: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestSummary]:
        return self.requests.list_requests(status, category, since, until)

    def history(self, request_id: str) -> list[StatusEvent]:
        return self.requests.history(request_id)

    def change_status(self, request_id: str, expected: str, event: StatusEvent) -> RequestSummary:
        return self.requests.change_status(request_id, expected, event)

    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        return self.requests.pending_before(cutoff, limit)

    # Contacts ----------------------------------------------------------------------------------------------

    def get_contact(self, email: str) -> Contact | None:
        return self.contacts.get_contact(email)

    def put_contact(self, contact: Contact) -> None:
        self.contacts.put_contact(contact)

    def remove_contact(self, email: str) -> bool:
        return self.contacts.remove_contact(email)

    def list_contacts(self) -> list[Contact]:
        return self.contacts.list_contacts()

    def renew_security_stamp(self, email: str) -> str | None:
        return self.contacts.renew_security_stamp(email)

    def link_identity(self, issuer: str, subject: str, email: str, stamp: str) -> None:
        self.contacts.link_identity(issuer, subject, email, stamp)

    def linked(self, issuer: str, subject: str) -> tuple[str, str] | None:
        return self.contacts.linked(issuer, subject)

    # Sign-in codes and counters ----------------------------------------------------------------------------

    def put_code(self, code: PendingCode) -> None:
        self.sign_in.put_code(code)

    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        return self.sign_in.use_attempt(email, now)

    def live_code(self, email: str, now: datetime) -> PendingCode | None:
        return self.sign_in.live_code(email, now)

    def extend_code(self, email: str, digest: str, now: datetime, expires_at: datetime) -> bool:
        return self.sign_in.extend_code(email, digest, now, expires_at)

    def delete_code(self, email: str, digest: str) -> bool:
        return self.sign_in.delete_code(email, digest)

    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        return self.sign_in.count(key, window_start, expires_at)

    def counted(self, key: str, window_start: datetime) -> int:
        return self.sign_in.counted(key, window_start)

    # Unsent mail -------------------------------------------------------------------------------------------

    def queue_mails(self, mails: Sequence[QueuedMail]) -> None:
        self.mail.queue_mails(mails)

    def queued_mails(self, limit: int, now: datetime) -> list[QueuedMail]:
        return self.mail.queued_mails(limit, now)

    def claim_mail(self, mail_id: str, until: datetime, now: datetime) -> bool:
        return self.mail.claim_mail(mail_id, until, now)

    def mark_mail_sending(self, mail_id: str, now: datetime) -> bool:
        return self.mail.mark_mail_sending(mail_id, now)

    def forget_mail(self, mail_id: str) -> None:
        self.mail.forget_mail(mail_id)

    def give_up_mail(self, mail: QueuedMail) -> None:
        self.mail.give_up_mail(mail)

    def given_up_mails(self, limit: int) -> list[QueuedMail]:
        return self.mail.given_up_mails(limit)

    def resend_mail(self, mail_id: str, now: datetime) -> bool:
        return self.mail.resend_mail(mail_id, now)

    def interrupted_mails(self, before: datetime) -> list[QueuedMail]:
        return self.mail.interrupted_mails(before)

    # Upload slots ------------------------------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> None:
        self.uploads.put_upload(upload)

    def get_upload(self, upload_id: str) -> Upload | None:
        return self.uploads.get_upload(upload_id)

    def claim_upload(self, mark: Upload) -> Upload:
        return self.uploads.claim_upload(mark)
