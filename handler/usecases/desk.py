"""What service desk agents do with requests: look them up and move them through their statuses."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handler.mail import Mail, Recipient
from handler.mails import thread_headers
from handler.services import Services
from handler.storage.base import RequestNotFound, RequestSummary, StatusEvent, StoredRequest
from handler.texts import fill
from handler.usecases import mailing

log = logging.getLogger("servicedesk_forms.desk")


class UnknownStatus(ValueError):
    """The status is not one of the statuses in schema/site.json."""


@dataclass(frozen=True)
class StatusChange:
    """The outcome of a status change: the request as it is now, the event, and where the e-mail went
    (None when it failed and was queued for a retry)."""

    summary: RequestSummary
    event: StatusEvent
    notified: str | None


def find(services: Services, id_or_reference: str) -> StoredRequest:
    """The request with this id or reference number."""
    request_id = services.store.find_reference(id_or_reference) or id_or_reference
    found = services.store.get(request_id)
    if found is None:
        raise RequestNotFound(id_or_reference)
    return found


def status_mail(services: Services, request: StoredRequest, summary: RequestSummary, event: StatusEvent) -> Mail:
    """The e-mail telling the requester about a new status, in the language they wrote in."""
    language = request.language if request.language in services.catalog.languages else services.catalog.default_language
    common = services.catalog.common[language]
    texts = common["email"]
    status = common["statuses"][event.status]
    # Each text is filled in one pass, so a title is never read as a template itself.
    params = {"reference": summary.receipt.reference, "status": status, "title": summary.title or ""}
    contact = services.store.get_contact(request.requester or "")
    paragraphs = [fill(texts["greeting"], {"name": contact.name if contact else ""}), fill(texts["statusBody"], params)]
    if event.comment:
        paragraphs.append(f"{texts['statusComment']}\n{event.comment}")
    # What to do next, when the status asks something of the requester or ends the request.
    if event.status in texts.get("statusNext", {}):
        paragraphs.append(fill(texts["statusNext"][event.status], params))
    # An answer joins the conversation (the request's signed address) or goes to the desk's inbox, with the
    # reference in the subject; it is never asked for when there is neither, nor once the request is closed.
    rules = services.catalog.conversation
    closed = event.status in rules.closed and not rules.reopen_as
    signed = None if closed else services.conversing.reply_to(summary.receipt.reference)
    answer_to = signed or services.settings.desk_inbox
    if answer_to and not closed:
        paragraphs.append(texts["statusReply"])
    if services.settings.site_url:
        link = f"{services.settings.site_url}/{language}/my-requests/?id={summary.receipt.request_id}"
        paragraphs.append(fill(texts["statusLink"], {"link": link}))
    paragraphs.append(texts["signature"])
    if signed:
        paragraphs.insert(0, texts["replyAbove"])
    return Mail(
        to=(Recipient(request.requester or "", contact.name if contact else ""),),
        subject=fill(texts["statusSubject"], params),
        paragraphs=tuple(paragraphs),
        language=language,
        reply_to=Recipient(answer_to) if answer_to else None,
        headers=thread_headers(summary.receipt),
    )


def change_status(
    services: Services, id_or_reference: str, status: str, agent: str, comment: str | None = None
) -> StatusChange:
    """Give a request a new status, record who did it and why, and e-mail the requester."""
    if status not in services.catalog.statuses:
        raise UnknownStatus(f"{status!r} is not a status; choose one of {', '.join(services.catalog.statuses)}")
    request = find(services, id_or_reference)
    event = StatusEvent(status, services.clock(), agent.strip() or None, (comment or "").strip() or None)
    summary = services.store.change_status(request.receipt.request_id, request.receipt.status, event)
    if not request.requester:
        return StatusChange(summary, event, None)
    where = mailing.send_now(
        services.mailing, status_mail(services, request, summary, event), summary.receipt.reference
    )
    return StatusChange(summary, event, where)
