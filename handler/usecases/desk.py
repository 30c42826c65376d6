"""What service desk agents do with requests: look them up and move them through their statuses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from handler import mails
from handler.contacts import ContactRegister
from handler.mail import Mail, Recipient
from handler.schema.catalog import Catalog
from handler.storage.base import RequestNotFound, RequestStore, RequestSummary, StatusEvent, StoredRequest
from handler.usecases import mailing
from handler.usecases.mailing import Mailing

log = logging.getLogger("servicedesk_forms.desk")


class UnknownStatus(ValueError):
    """The status is not one of the statuses in schema/site.json."""


@dataclass(frozen=True)
class Desk:
    """What the desk's use cases work with, built once by the container."""

    requests: RequestStore
    contacts: ContactRegister
    catalog: Catalog
    mailing: Mailing
    clock: Callable[[], datetime]
    reply_to: Callable[[str], str | None]  # the signed address answers about a reference go to, if any
    desk_inbox: str
    site_url: str


@dataclass(frozen=True)
class StatusChange:
    """The outcome of a status change: the request as it is now, the event, and where the e-mail went
    (None when it failed and was queued for a retry)."""

    summary: RequestSummary
    event: StatusEvent
    notified: str | None


def find(use: Desk, id_or_reference: str) -> StoredRequest:
    """The request with this id or reference number."""
    request_id = use.requests.find_reference(id_or_reference) or id_or_reference
    found = use.requests.get(request_id)
    if found is None:
        raise RequestNotFound(id_or_reference)
    return found


def status_mail(use: Desk, request: StoredRequest, summary: RequestSummary, event: StatusEvent) -> Mail:
    """The e-mail telling the requester about a new status, in the language they wrote in."""
    language = use.catalog.language_or_default(request.language)
    contact = use.contacts.get_contact(request.requester or "")
    to = Recipient(request.requester or "", contact.name if contact else "")
    # An answer joins the conversation (the request's signed address) or goes to the desk's inbox, with the
    # reference in the subject; it is never asked for when there is neither, nor once the request is closed.
    rules = use.catalog.conversation
    closed = event.status in rules.closed and not rules.reopen_as
    signed = None if closed else use.reply_to(summary.receipt.reference)
    answer_to = signed or use.desk_inbox
    link = f"{use.site_url}/{language}/my-requests/?id={summary.receipt.request_id}" if use.site_url else ""
    words = str(use.catalog.common[language]["statuses"][event.status])
    texts = use.catalog.email(language)
    return mails.status_mail(
        texts,
        language,
        to,
        summary,
        event.status,
        words,
        event.comment,
        link,
        answer_to or None,
        bool(signed),
        asks_answer=bool(answer_to) and not closed,
    )


def change_status(use: Desk, id_or_reference: str, status: str, agent: str, comment: str | None = None) -> StatusChange:
    """Give a request a new status, record who did it and why, and e-mail the requester."""
    if status not in use.catalog.statuses:
        raise UnknownStatus(f"{status!r} is not a status; choose one of {', '.join(use.catalog.statuses)}")
    request = find(use, id_or_reference)
    event = StatusEvent(status, use.clock(), agent.strip() or None, (comment or "").strip() or None)
    summary = use.requests.change_status(request.receipt.request_id, request.receipt.status, event)
    if not request.requester:
        return StatusChange(summary, event, None)
    where = mailing.send_now(use.mailing, status_mail(use, request, summary, event), summary.receipt.reference)
    return StatusChange(summary, event, where)
