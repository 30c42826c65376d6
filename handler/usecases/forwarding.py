"""Forwarding: the worker that takes each request from the outbox into the desk's ticket system, and the ticket
system's word coming back (its status changes and public comments) into the request.

A use case here takes ``Forwarding``, the parts it works with, never the whole container.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from handler import observe
from handler.contacts import ContactRegister
from handler.conversation import Author, Conversation, Message
from handler.forwarding import ForwardJob, ForwardQueue
from handler.mails import field_lines
from handler.schema.catalog import Catalog
from handler.storage.base import RequestBlobs, RequestStore, StoredRequest
from handler.tickets import TicketComment, TicketDraft, TicketSystem, TicketSystemError

log = logging.getLogger("servicedesk_forms.forwarding")
FORWARD_CLAIM = timedelta(minutes=2)  # how long a worker holds a job (a try takes seconds)
FORWARD_ATTEMPTS = 12  # then a job is given up, with its reason, for `forward failed` and `forward retry`
# A failed try waits a minute, then twice as long each time, at most this long (or as long as the system said).
FORWARD_BACKOFF_LIMIT = timedelta(hours=2)


@dataclass(frozen=True)
class Forwarding:
    """What forwarding works with, built once by the container."""

    requests: RequestStore
    forwards: ForwardQueue
    conversation: Conversation  # the requester's later messages, for the ticket's comments
    contacts: ContactRegister
    catalog: Catalog
    blobs: RequestBlobs
    clock: Callable[[], datetime]
    system: TicketSystem | None  # None: nothing is forwarded


def forward_due(use: Forwarding, limit: int = 20) -> tuple[int, int]:
    """Forward the jobs that are due; how many were done and how many failed this time. A job marked again while
    it was held (a new message) is taken once more in a second pass."""
    if use.system is None:
        return 0, 0
    done = failed = 0
    for _ in range(2):
        jobs = use.forwards.due_forwards(use.clock(), limit)
        for job in jobs:
            now = use.clock()
            if not use.forwards.claim_forward(job.request_id, now + FORWARD_CLAIM, now):
                continue  # another worker has it
            if forward_one(use, job):
                done += 1
            else:
                failed += 1
        if not jobs:
            break
    return done, failed


def forward_one(use: Forwarding, job: ForwardJob) -> bool:
    """One try at one job: the ticket made (once) and the requester's messages it lacks added as comments; or the
    job put back (or given up) with why."""
    assert use.system is not None
    request = use.requests.get(job.request_id)
    if request is None:
        give_up(use, replace(job, last_error="the request is not in the store"))
        return False
    # An earlier try may have done it: its answer lost, its worker gone, or given up and tried again.
    retried = job.attempts > 0 or job.held or bool(job.last_error)
    try:
        ticket = use.forwards.ticket_of(job.request_id)
        if ticket is None:
            ticket = use.system.create(draft_of(use, request), retried)
            use.forwards.keep_ticket(job.request_id, ticket)
            log.info(
                "forwarded %s to %s as ticket %s",
                request.receipt.reference,
                ticket.system,
                ticket.id,
                extra={"reference": request.receipt.reference, **observe.metrics({"Forwarded": (1, "Count")})},
            )
        sent = use.forwards.comments_sent(job.request_id)
        for message in use.conversation.messages(job.request_id):
            if message.author != Author.REQUESTER or _mark(message) <= sent:
                continue
            use.system.comment(ticket, _comment_of(use, message), retried)
            use.forwards.comment_sent(job.request_id, sent := _mark(message))
    except TicketSystemError as exc:
        _failed(use, job, request.receipt.reference, exc)
        return False
    use.forwards.finish_forward(job)
    return True


def _mark(message: Message) -> str:
    """Where a message stands in its thread, as the ticket's mark of the comments it has compares it."""
    return f"{message.at.astimezone(UTC).isoformat()}|{message.id}"


def _comment_of(use: Forwarding, message: Message) -> TicketComment:
    files = tuple((a.name, a.type, use.blobs.head(a.key, a.size)) for a in message.attachments)
    return TicketComment(message.name, message.address, message.body, files)


def _failed(use: Forwarding, job: ForwardJob, reference: str, exc: TicketSystemError) -> None:
    """Put the job back to wait longer than last time (or as long as the system asked), or give it up."""
    tried = replace(job, attempts=job.attempts + 1, last_error=str(exc)[:500])
    if not exc.retryable or tried.attempts >= FORWARD_ATTEMPTS:
        give_up(use, tried)
        return
    wait = min(timedelta(minutes=2 ** (tried.attempts - 1)), FORWARD_BACKOFF_LIMIT)
    if exc.retry_after:
        wait = max(wait, timedelta(seconds=exc.retry_after))
    use.forwards.retry_forward(replace(tried, due_at=use.clock() + wait))
    log.warning(
        "forwarding %s failed (try %d), tried again in %d s",
        reference,
        tried.attempts,
        wait.total_seconds(),
        extra={"reference": reference, "failure": tried.last_error[:200]},
    )


def give_up(use: Forwarding, job: ForwardJob) -> None:
    """Keep the job in the given-up list, logged as an error and counted by the ForwardGivenUp metric."""
    log.error(
        "giving up forwarding %s after %d tries; 'forward failed' lists it and 'forward retry' tries again",
        job.request_id,
        job.attempts,
        extra={
            "document": job.request_id,
            "failure": job.last_error[:200],
            **observe.metrics({"ForwardGivenUp": (1, "Count")}),
        },
    )
    use.forwards.give_up_forward(job)


def draft_of(use: Forwarding, request: StoredRequest) -> TicketDraft:
    """The ticket a request becomes: its fields in the form's order, in the desk's language, and its files."""
    form = use.catalog.forms.get(request.form_id)
    language = use.catalog.default_language
    mapping = use.system and use.catalog.tickets.get(use.system.name)
    contact = use.contacts.get_contact(request.requester or "")
    lines = field_lines(form, language, request.data) if form else [f"{k}: {v}" for k, v in request.data.items()]
    title = str(request.data.get(form.title_field, "")) if form else ""
    files = tuple(
        (a.name, a.type, use.blobs.head(a.key, a.size or use.blobs.size(a.key) or 0)) for a in request.attachments
    )
    return TicketDraft(
        reference=request.receipt.reference,
        subject=f"{request.receipt.reference}: {title}" if title else request.receipt.reference,
        body="\n".join(lines),
        requester_name=contact.name if contact else "",
        requester_email=request.requester or "",
        tags=mapping.tags_of(request.category) if mapping else (),
        custom_fields=mapping.fields_of(request.category) if mapping else (),
        files=files,
        request_type=mapping.request_type_of(request.category) if mapping else "",
    )


def forward_again(use: Forwarding, id_or_reference: str) -> bool:
    """Make a given-up request due again now."""
    request_id = use.requests.find_reference(id_or_reference) or id_or_reference
    return use.forwards.forward_again(request_id, use.clock())
