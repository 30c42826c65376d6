"""Submitting a service request: who may, whether the data and its attachments pass, storing it, its mail."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from handler import observe
from handler.codes import Code
from handler.contacts import Contact, ContactRegister, normalize_email
from handler.mail import QueuedMail
from handler.mails import Accepted
from handler.receipts import Receipts, copied, receipt_mails
from handler.refusals import Refused, invalid
from handler.schema.catalog import Catalog
from handler.schema.model import FieldError, Form
from handler.signin import ClaimedSession, InvalidSession, SignInState, rate_day, seconds_until
from handler.storage import IdempotencyConflict, IdempotencyInProgress, Receipt, StorageUnavailable, Submission
from handler.storage.base import (
    Attachment,
    PendingRequest,
    RequestBlobs,
    RequestStore,
    RequestTooLarge,
    StoreUnreachable,
)
from handler.uploads import Upload, UploadRefused, UploadRegistry, take_upload
from handler.usecases import mailing
from handler.usecases.attaching import copy_upload
from handler.usecases.authorizing import authorized_contact
from handler.usecases.envelope import parse_envelope
from handler.usecases.mailing import Mailing

# Threads that read the sender's contact and count the day's limits while a remote store writes the request.
OVERLAP_THREADS = 8


class AtOnce(Executor):
    """Runs each call as it is handed over, on the caller's thread: for a store on this machine, whose calls are
    quick enough that a thread would cost more than the overlap saves."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # given back by result(), where a thread's failure would be
            done.set_exception(exc)
        return done


def overlapping() -> Executor:
    """The threads a store across the network writes beside (the AWS store)."""
    return ThreadPoolExecutor(OVERLAP_THREADS, thread_name_prefix="submitting")


@dataclass(frozen=True)
class Submitting:
    """What sending a request works with, built once by the container."""

    catalog: Catalog
    requests: RequestStore
    contacts: ContactRegister
    counters: SignInState  # the contact's daily counts (requests, copied addresses)
    uploads: UploadRegistry
    blobs: RequestBlobs
    receipts: Receipts
    mailing: Mailing
    clock: Callable[[], datetime]
    submissions_per_day: int
    cc_addresses_per_day: int
    forward_to: str = ""  # the ticket system each request is marked for ('' none)
    overlap: Executor = dataclass_field(default_factory=AtOnce, compare=False)  # overlapping() for a remote store


# What a request that was not committed raises after its pending record was made: its copies and document go.
_NOT_COMMITTED = (
    Refused,
    InvalidSession,
    IdempotencyConflict,
    IdempotencyInProgress,
    RequestTooLarge,
    StorageUnavailable,
)


@dataclass(frozen=True)
class NewRequest:
    """A body as sent (``{"form", "data"}``), by whom, in which language, under which idempotency key.

    ``requester`` is a session whose contact is still to be read (``ClaimedSession``: read here, alongside the
    writes, and confirmed before anything is committed), one already read (``SignedInAddress``), or an address."""

    body: Any
    requester: str
    language: str
    idempotency_key: str | None = None


def submit(use: Submitting, new: NewRequest) -> tuple[Receipt, bool]:
    """Check and store a service request and queue its e-mails; the receipt, and whether it was stored
    now (False: a retry with the same idempotency key, answered with the first receipt).

    The sender's contact is read, and the day's limits counted, while the store writes the request; both are
    settled before it commits. Every other answer (a session signed out since, a contact not allowed the form,
    a body that does not pass, a replay) waits for the contact first, so it is the same as if it had been read
    before anything else."""
    reading = use.overlap.submit(_confirmed, use.contacts, new.requester)
    try:
        form, data = parse_envelope(new.body, use.catalog, new.language)
    except Refused:
        reading.result()  # a session that is no longer valid is refused first, whatever the body
        raise
    data = form.as_page_sends(data)
    observe.annotate(form=form.id)

    def sender() -> Contact:
        """The contact, once read, if the register gives them a contact type the form allows."""
        return authorized_contact(use.contacts, reading.result(), form, new.language)

    now = use.clock()
    submission = Submission(
        form_id=form.id,
        category=data.get(form.discriminator),
        schema_hash=form.schema_hash,
        language=new.language,
        requester=normalize_email(new.requester),
        data=data,
        title=data.get(form.title_field),
    )
    if earlier := _checked(use, form, data, submission, new, now, sender):
        return earlier, False
    return _stored(use, form, data, submission, new, now, sender, reading)


def _checked(
    use: Submitting,
    form: Form,
    data: dict[str, Any],
    submission: Submission,
    new: NewRequest,
    now: datetime,
    sender: Callable[[], Contact],
) -> Receipt | None:
    """The first receipt, when this is a retry answered before anything is stored; ``Refused`` when the data does
    not pass (unless it is such a retry); None when the request is to be stored."""
    # A retry is answered with its first receipt. With uploads named, before anything is checked: the first
    # request took them, and a different body under the same key must not. Without, the commit recognizes
    # the key as taken and answers the retry then, which saves a read on every first submission.
    looked_up = any(data.get(f.name) for f in form.fields if f.value_kind == "uploads")
    if looked_up:
        sender()  # its uploads are the contact's own: who sends is settled before they are touched
        if earlier := _replayed(use, submission, new.idempotency_key, now):
            return earlier
    if errors := form.validate(data, new.language, now):
        sender()
        # The data passed when it was stored, even if "now" has moved past a start time since.
        if not looked_up and (earlier := _replayed(use, submission, new.idempotency_key, now)):
            return earlier
        raise invalid(errors, "/data")
    return None


def _stored(
    use: Submitting,
    form: Form,
    data: dict[str, Any],
    submission: Submission,
    new: NewRequest,
    now: datetime,
    sender: Callable[[], Contact],
    reading: Future[str],
) -> tuple[Receipt, bool]:
    """Store the request that passed, with its attachments' copies and its e-mails, within the day's limits."""
    requester = submission.requester or ""
    observe.annotate(category=submission.category)  # one of the form's categories, now that the data passed
    counting = use.overlap.submit(within_limits, use, form, _sender_only(requester), data)
    copies = sum(len(data.get(f.name, ())) for f in form.fields if f.value_kind == "uploads")
    # Recorded before its copies and its document are written; the commit removes the record.
    pending = use.requests.begin(now, attachments=copies)
    try:
        attachments, problems = check_attachments(use, form, new, data, pending)
        if problems:
            raise invalid(problems, "/data")
        submission = replace(submission, attachments=tuple(attachments))

        def mails(receipt: Receipt) -> list[QueuedMail]:
            # Made before the commit, while the document is being written: who sends and the day's limits are
            # settled here, so that a refusal commits nothing.
            contact = sender()
            counting.result()
            return mailing.queued(
                use.mailing,
                receipt_mails(use.receipts, Accepted(form, receipt, contact, data, attachments), new.language),
            )

        receipt, created = use.requests.submit(
            submission,
            form.reference_prefix,
            new.idempotency_key,
            now,
            mails,
            looked_up=True,
            pending=pending,
            forward_to=use.forward_to,
        )
    except StoreUnreachable:
        raise  # the commit may still land: if it does not, the sweep removes what this request wrote
    except _NOT_COMMITTED:
        use.requests.abandon(pending, use.blobs)  # not committed: its copies and document go now
        _settled(reading, counting)
        raise
    if not created:  # another submission with this key was stored first: this one's copies go
        use.requests.abandon(pending, use.blobs)
    _settled(reading, counting)
    observe.annotate(reference=receipt.reference, outcome="created" if created else "replayed")
    if created:
        use.mailing.wake()
    return receipt, created


def _confirmed(contacts: ContactRegister, requester: str) -> str:
    """The requester with the contact the register has now: a claimed session is confirmed against it."""
    if isinstance(requester, ClaimedSession):
        return requester.confirm(contacts.get_contact(requester))
    return requester


def _sender_only(email: str) -> Contact:
    """The sender as far as the limits know them: by address (whose copies to themselves cost nothing)."""
    return Contact(email, "", "", "", ())


def _settled(*work: Future[Any]) -> None:
    """Wait for work begun alongside, whose outcome no longer matters, so that none outlives the answer."""
    wait(work)


def _replayed(use: Submitting, submission: Submission, key: str | None, now: datetime) -> Receipt | None:
    """The receipt of an earlier submission under ``key``, as it stands now; a different one is refused."""
    try:
        earlier = use.requests.replay(submission, key, now)
    except IdempotencyConflict as exc:
        raise Refused(Code.IDEMPOTENCY_CONFLICT, params={"reference": exc.reference}) from exc
    if earlier:
        observe.annotate(reference=earlier.reference, outcome="replayed")
    return earlier


def within_limits(use: Submitting, form: Form, contact: Contact, data: dict[str, Any]) -> None:
    """Count the request against the contact's daily limits, or refuse it past one of them: the different
    addresses copied (other than their own; an address already copied that day costs nothing again), and the
    requests sent. A retry answered with its first receipt may count again, its addresses do not."""
    now = use.clock()
    day, day_end = rate_day(now)
    store = use.counters
    for address in sorted(copied(form, data, contact.email)):
        marker = f"copies:{contact.email}|{address}"
        if not store.counted(marker, day):
            if store.count(f"copies:{contact.email}", day, day_end) > use.cc_addresses_per_day:
                raise Refused(Code.TOO_MANY_COPIES, retry_after=seconds_until(day_end, now))
            store.count(marker, day, day_end)
    if store.count(f"submissions:{contact.email}", day, day_end) > use.submissions_per_day:
        raise Refused(Code.TOO_MANY_SUBMISSIONS, retry_after=seconds_until(day_end, now))


def check_attachments(
    use: Submitting, form: Form, new: NewRequest, data: dict[str, Any], pending: PendingRequest
) -> tuple[list[Attachment], list[FieldError]]:
    """Copy every named upload to the key the pending request chose for it (under the request's id),
    then check the copy (whose it is, that it has the declared size, its real type): what was checked
    is what is kept, whatever happens to the upload later. When all pass, each upload is marked as
    taken by this request (its idempotency key may take them again on a retry). If any is refused,
    the request is refused, and abandoning it removes every copy."""
    positions = iter(pending.attachment_keys)
    kept: list[Attachment] = []
    checked: list[tuple[str, int, Upload]] = []
    problems: list[FieldError] = []
    now = use.clock()
    for field in (f for f in form.fields if f.value_kind == "uploads"):
        for index, upload_id in enumerate(data.get(field.name, ())):
            key = next(positions)
            try:
                upload, copy = copy_upload(use.blobs, use.uploads, upload_id, new.requester, form.id, field, key, now)
            except UploadRefused as exc:
                message = form.message(new.language, field.name, exc.keyword, value=exc.value, limit=exc.limit)
                problems.append(FieldError(field.name, f"/{field.name}/{index}", exc.keyword, message))
                continue
            kept.append(copy)
            checked.append((field.name, index, upload))
    if not problems:
        for name, index, upload in checked:
            if not take_upload(use.uploads, upload, new.idempotency_key):
                message = form.message(new.language, name, "x-upload")
                problems.append(FieldError(name, f"/{name}/{index}", "x-upload", message))
    return ([], problems) if problems else (kept, [])
