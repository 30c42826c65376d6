"""The conversation on a request: the requester answers on the page, the desk from the CLI; each side is e-mailed.

A use case here takes ``Conversing``, the parts it works with, never the whole container.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from handler import mails, observe, replies
from handler.codes import Code
from handler.contacts import ContactRegister
from handler.conversation import Author, Channel, Conversation, Message, StatusMove, thread
from handler.conversation_rules import ConversationRules
from handler.mail import Mail
from handler.refusals import Refused
from handler.schema.catalog import Catalog
from handler.schema.model import Field, FieldError
from handler.storage.base import (
    REQUEST_ID,
    Attachment,
    PendingRequest,
    RequestBlobs,
    RequestNotFound,
    RequestStore,
    RequestSummary,
    StatusConflict,
    StatusEvent,
    StoredRequest,
    StoreUnreachable,
)
from handler.texts import fill
from handler.uploads import Upload, UploadRefused, UploadRegistry, take_upload
from handler.usecases import answering
from handler.usecases.attaching import attachments_field, copy_upload, keep_mail_file

if TYPE_CHECKING:
    from handler import answers

log = logging.getLogger("servicedesk_forms.conversation")
# A mail larger than this is refused unread (SES takes up to 40 MB; the form's attachments are far smaller).
MAX_MAIL_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class Conversing:
    """What the conversation's use cases work with, built once by the container."""

    requests: RequestStore
    conversation: Conversation
    contacts: ContactRegister
    catalog: Catalog
    queue: Callable[[Sequence[Mail], str], None]  # queues e-mails about a request for the sender
    clock: Callable[[], datetime]
    desk_inbox: str
    desk_language: str
    site_url: str
    blobs: RequestBlobs  # where the messages' files are kept
    uploads: UploadRegistry  # the upload slots a message's files come through
    secret: bytes = b""
    reply_domain: str = ""  # where replies by e-mail go; none: mails are answered to the desk's inbox
    agents: tuple[str, ...] = ()  # the agents' addresses and @domains
    for_the_ticket: Callable[[str], None] | None = None  # marks a request whose new message its ticket lacks
    ticket_url: Callable[[str], str] | None = None  # the link to the request's ticket, once there is one

    def is_agent(self, address: str) -> bool:
        """Whether mail from ``address`` is a desk agent's."""
        address = address.lower()
        return any(address == a or (a.startswith("@") and address.endswith(a)) for a in self.agents)

    def reply_to(self, reference: str) -> str | None:
        """The signed address replies about ``reference`` go to, if replies by e-mail are set up."""
        return replies.reply_address(self.secret, reference, self.reply_domain) if self.reply_domain else None

    @property
    def rules(self) -> ConversationRules:
        return self.catalog.conversation


@dataclass(frozen=True)
class Reply:
    """A message the requester wrote on the page, under the client's idempotency key (if any)."""

    request_id: str
    requester: str
    body: str
    language: str
    key: str | None = None
    attachments: tuple[str, ...] = ()  # upload ids, as the form's attachments field takes them


def conversation_of(use: Conversing, requester: str, request_id: str) -> list[answers.ThreadEntry]:
    """The requester's request's messages and status changes, oldest first."""
    request = _own(use, requester, request_id)
    rid = request.receipt.request_id
    return thread(use.conversation.messages(rid), use.requests.history(rid))


def reply(use: Conversing, new: Reply) -> tuple[Message, RequestSummary, bool]:
    """Append the requester's message, move the status as the schema says, and tell the desk: the message, the
    request as it is now, and whether the message is new (False: a retry of the same key, nothing done again)."""
    request = _own(use, new.requester, new.request_id)
    body = _checked_body(use, new.body, new.language, with_files=bool(new.attachments))
    request_id = request.receipt.request_id
    # A retry is answered with the message its key made, before any file is taken again.
    if new.key and (earlier := use.conversation.message_for_key(request_id, new.key)):
        if earlier.body != body or [a.id for a in earlier.attachments] != list(new.attachments):
            raise Refused(Code.IDEMPOTENCY_CONFLICT, params={"reference": request.receipt.reference})
        return earlier, _summary(use, request_id), False
    contact = use.contacts.get_contact(new.requester)
    author = (Author.REQUESTER, contact.name if contact else new.requester, new.requester)

    def append(pending: PendingRequest | None) -> tuple[Message, RequestSummary, bool]:
        files = _uploaded_files(use, request, new, pending)
        return _append(use, request, author, body, Channel.PAGE, new.key, files, pending)

    stored, summary, created = _with_files(use, len(new.attachments), append)
    if not created and stored.body != body:
        raise Refused(Code.IDEMPOTENCY_CONFLICT, params={"reference": summary.receipt.reference})
    return stored, summary, created


def agent_reply(use: Conversing, id_or_reference: str, agent: str, body: str) -> tuple[Message, RequestSummary]:
    """Append a desk agent's message (from the CLI) and e-mail it to the requester in the request's language."""
    request_id = use.requests.find_reference(id_or_reference) or id_or_reference
    request = use.requests.get(request_id)
    if request is None:
        raise RequestNotFound(id_or_reference)
    text = body.strip()
    if not text or len(text) > use.rules.max_chars:
        raise ValueError(f"a message has 1 to {use.rules.max_chars} characters")
    stored, summary, _ = _append(use, request, (Author.AGENT, agent.strip() or "Service desk", ""), text, Channel.CLI)
    return stored, summary


def ticket_comment(use: Conversing, request_id: str, author: str, body: str, key: str) -> bool:
    """Append a public comment from the desk's ticket system as the desk's message (once per ``key``), e-mailed to
    the requester; whether it was new."""
    request = use.requests.get(request_id)
    text = body.strip()[: use.rules.max_chars]
    if request is None or not text:
        return False
    _, _, created = _append(
        use, request, (Author.AGENT, author.strip() or "Service desk", ""), text, Channel.TICKET, key
    )
    return created


class Outcome(StrEnum):
    """What became of a mail that came in."""

    APPENDED = "appended"
    REPEATED = "repeated"  # the same Message-ID came before: nothing done again
    IGNORED = "ignored"  # a machine's mail (an auto-reply, a bounce) or one without new text: never answered
    REFUSED = "refused"  # failed a check: never appended


@dataclass(frozen=True)
class Received:
    """A mail's outcome, why, and the request it was about (when one was found)."""

    outcome: Outcome
    reason: str
    reference: str = ""


def receive(use: Conversing, raw: bytes, verdicts: Mapping[str, str] | None = None) -> Received:
    """Take a reply that came by e-mail: appended to its request's conversation only when it went to that request's
    signed address, came from its requester or an agent, passed the mail service's checks (``verdicts``: SES's
    spam, virus, SPF and DKIM) and has new text; a machine's mail is recorded as ignored and never answered."""
    if len(raw) > MAX_MAIL_BYTES:
        return _counted(Received(Outcome.REFUSED, f"larger than {MAX_MAIL_BYTES} bytes"))
    failed = [name for name, verdict in (verdicts or {}).items() if str(verdict).upper() == "FAIL"]
    if failed:
        return _counted(Received(Outcome.REFUSED, f"the mail service's {', '.join(sorted(failed))} check failed"))
    incoming = replies.read_mail(raw)
    if incoming.automatic:
        return _counted(Received(Outcome.IGNORED, incoming.automatic))
    found = [replies.reference_of(use.secret, to, use.reply_domain) for to in incoming.recipients]
    reference = next((r for r in found if r), None) if use.reply_domain else None
    request_id = use.requests.find_reference(reference) if reference else None
    request = use.requests.get(request_id) if request_id else None
    if request is None or reference is None:
        return _counted(Received(Outcome.REFUSED, "not sent to a request's signed reply address"))
    sender = incoming.sender.lower()
    if request.requester and sender == request.requester.lower():
        contact = use.contacts.get_contact(request.requester)
        author = (Author.REQUESTER, contact.name if contact else incoming.sender_name or sender, request.requester)
    elif use.is_agent(sender):
        author = (Author.AGENT, incoming.sender_name or sender.split("@")[0], sender)
    else:
        return _counted(Received(Outcome.REFUSED, "from neither the requester nor an agent", reference))
    language = use.catalog.language_or_default(request.language)
    text = replies.new_text(incoming, language, use.catalog.email(language).reply_above)
    if not text:
        return _counted(Received(Outcome.IGNORED, "no new text above the quoted mail", reference))
    if len(text) > use.rules.max_chars:
        return _counted(Received(Outcome.REFUSED, f"longer than {use.rules.max_chars} characters", reference))
    key = "email:" + hashlib.sha256((incoming.message_id or raw.decode("latin-1")).encode()).hexdigest()[:40]
    if use.conversation.message_for_key(request.receipt.request_id, key):
        return _counted(Received(Outcome.REPEATED, str(author[0]), reference))
    if incoming.unreadable:
        return _counted(Received(Outcome.REFUSED, "a file of it cannot be read", reference))
    field = _files_field(use, request)
    files = incoming.attachments
    if files and (field is None or len(files) > field.schema.get("maxItems", len(files))):
        return _counted(Received(Outcome.REFUSED, f"{len(files)} files: more than the request takes", reference))

    def append(pending: PendingRequest | None) -> tuple[Message, RequestSummary, bool]:
        kept = tuple(
            keep_mail_file(use.blobs, field, name, kind, content, where)
            for (name, kind, content), where in zip(files, pending.attachment_keys if pending else (), strict=True)
            if field is not None
        )
        return _append(use, request, author, text, Channel.EMAIL, key, kept, pending)

    try:
        _, _, created = _with_files(use, len(files), append)
    except UploadRefused as exc:
        return _counted(Received(Outcome.REFUSED, f"a file was refused ({exc.keyword})", reference))
    except Refused as exc:  # the request is closed
        return _counted(Received(Outcome.REFUSED, f"the request cannot take it ({exc.code})", reference))
    return _counted(Received(Outcome.APPENDED if created else Outcome.REPEATED, str(author[0]), reference))


def _counted(received: Received) -> Received:
    """The outcome, logged without addresses, refused and ignored mails counted by their metrics."""
    counted = {
        Outcome.REFUSED: {"InboundMailRefused": (1, "Count")},
        Outcome.IGNORED: {"InboundMailIgnored": (1, "Count")},
    }.get(received.outcome)
    log.log(
        logging.WARNING if received.outcome == Outcome.REFUSED else logging.INFO,
        f"incoming mail {received.outcome}: {received.reason}",
        extra={"reference": received.reference, **(observe.metrics(counted) if counted else {})},
    )
    return received


def _append(
    use: Conversing,
    request: StoredRequest,
    author: tuple[Author, str, str],
    body: str,
    channel: Channel,
    key: str | None = None,
    files: tuple[Attachment, ...] = (),
    pending: PendingRequest | None = None,
) -> tuple[Message, RequestSummary, bool]:
    """Append a message by ``author`` (who, the name shown, their address) with its ``files`` (kept under
    ``pending``), moving the status when the requester answers, and e-mail the other side when it is new."""
    kind, name, address = author
    request_id = request.receipt.request_id
    now = use.clock()
    message = Message(uuid.uuid4().hex, request_id, kind, name, address, body, now, channel, files)
    for _ in range(3):  # the status may move between reading and writing: read it again
        summary = _summary(use, request_id)
        move = _move_on_reply(use, summary, now) if kind != Author.AGENT else None
        try:
            stored, created = use.conversation.add_message(message, key or message.id, move, pending)
            break
        except StatusConflict:
            continue
    else:
        raise StatusConflict(request_id)
    after = _summary(use, request_id)
    if created and kind == Author.AGENT and request.requester:
        use.queue(answering.to_requester(use, request, after, stored), after.receipt.reference)
    if created and kind != Author.AGENT and use.for_the_ticket:
        use.for_the_ticket(request_id)
    if created and kind != Author.AGENT and use.desk_inbox:
        texts = use.catalog.email(use.desk_language)
        reply_to = use.reply_to(after.receipt.reference)
        ticket = use.ticket_url(request_id) if use.ticket_url else ""
        mail = mails.requester_message(texts, use.desk_language, use.desk_inbox, after, stored, reply_to, ticket)
        use.queue([mail], after.receipt.reference)
    return stored, after, created


def _with_files(
    use: Conversing, count: int, append: Callable[[PendingRequest | None], tuple[Message, RequestSummary, bool]]
) -> tuple[Message, RequestSummary, bool]:
    """``append`` with a record of the ``count`` files it keeps, made first (the sweep removes what a message that
    never landed kept); the files go again when it is refused or was there before."""
    pending = use.requests.begin(use.clock(), attachments=count) if count else None
    try:
        stored, summary, created = append(pending)
    except StoreUnreachable:
        raise  # the message may still land: if it does not, the sweep removes its files
    except Exception:
        if pending:
            use.requests.abandon(pending, use.blobs)
        raise
    if pending and not created:
        use.requests.abandon(pending, use.blobs)
    return stored, summary, created


def _files_field(use: Conversing, request: StoredRequest) -> Field | None:
    """The field of the request's form whose limits a message's files are held to."""
    form = use.catalog.forms.get(request.form_id)
    return attachments_field(form) if form else None


def _uploaded_files(
    use: Conversing, request: StoredRequest, new: Reply, pending: PendingRequest | None
) -> tuple[Attachment, ...]:
    """The requester's uploads, copied under ``pending`` and checked as the form's are, then taken by ``new.key``;
    ``Refused`` names each file at fault."""
    if pending is None:
        return ()
    form = use.catalog.forms.get(request.form_id)
    field = attachments_field(form) if form else None
    if form is None or field is None:
        message = fill(use.catalog.common[new.language]["errors"]["invalid"], {})
        raise Refused(Code.VALIDATION_FAILED, [FieldError("attachments", "/attachments", "x-upload", message)])
    if len(new.attachments) > field.schema.get("maxItems", len(new.attachments)):
        message = form.message(new.language, field.name, "maxItems")
        raise Refused(Code.VALIDATION_FAILED, [FieldError("attachments", "/attachments", "maxItems", message)])
    now = use.clock()
    copied: list[tuple[Upload, Attachment]] = []
    problems: list[FieldError] = []
    for index, (upload_id, key) in enumerate(zip(new.attachments, pending.attachment_keys, strict=True)):
        try:
            copied.append(copy_upload(use.blobs, use.uploads, upload_id, new.requester, form.id, field, key, now))
        except UploadRefused as exc:
            message = form.message(new.language, field.name, exc.keyword, value=exc.value, limit=exc.limit)
            problems.append(FieldError("attachments", f"/attachments/{index}", exc.keyword, message))
    for index, (upload, _) in enumerate(copied if not problems else ()):
        if not take_upload(use.uploads, upload, new.key):
            message = form.message(new.language, field.name, "x-upload")
            problems.append(FieldError("attachments", f"/attachments/{index}", "x-upload", message))
    if problems:
        raise Refused(Code.VALIDATION_FAILED, problems)
    return tuple(attachment for _, attachment in copied)


def _own(use: Conversing, requester: str, request_id: str) -> StoredRequest:
    """The request, if it is the requester's: anybody else's looks exactly like a missing one."""
    found = use.requests.get(request_id) if REQUEST_ID.fullmatch(request_id) else None
    if found is None or found.requester != requester:
        raise Refused(Code.NOT_FOUND)
    return found


def _summary(use: Conversing, request_id: str) -> RequestSummary:
    summary = use.requests.summary(request_id)
    if summary is None:
        raise Refused(Code.NOT_FOUND)
    return summary


def _checked_body(use: Conversing, body: str, language: str, with_files: bool = False) -> str:
    """The message as kept: trailing spaces and blank lines at either end gone; 1 to ``max_chars`` characters
    (none when files come with it)."""
    text = "\n".join(line.rstrip() for line in body.strip().splitlines())
    texts = use.catalog.common[language]["conversation"]
    if not text and not with_files:
        raise Refused(Code.VALIDATION_FAILED, [FieldError("body", "/body", "required", texts["required"])])
    if len(text) > use.rules.max_chars:
        message = fill(texts["tooLong"], {"limit": str(use.rules.max_chars)})
        raise Refused(Code.VALIDATION_FAILED, [FieldError("body", "/body", "maxLength", message)])
    return text


def _move_on_reply(use: Conversing, summary: RequestSummary, now: datetime) -> StatusMove | None:
    """Where the requester's answer moves the request, as ``schema/site.json`` declares; refused when closed."""
    status = summary.receipt.status
    if status in use.rules.closed:
        if not use.rules.reopen_as:
            raise Refused(Code.REQUEST_CLOSED, params={"reference": summary.receipt.reference})
        target: str | None = use.rules.reopen_as
    else:
        target = use.rules.reply_moves.get(status)
    return StatusMove(status, StatusEvent(target, now)) if target and target != status else None
