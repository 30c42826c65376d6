"""What the desk's ticket system says back about a ticket (its webhook): a public comment joins the request's
conversation and reaches the requester; a status it maps onto ours moves the request, never back to an older
state; a private note never leaves the desk."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from handler.codes import Code
from handler.forwarding import ForwardQueue
from handler.refusals import Refused
from handler.storage.base import RequestStore, StatusConflict
from handler.ticket_mapping import TicketMapping
from handler.usecases import conversing
from handler.usecases.conversing import Conversing

log = logging.getLogger("servicedesk_forms.forwarding")


@dataclass(frozen=True)
class TicketEvent:
    """One change of a ticket, as the webhook tells it."""

    ticket_id: str
    status: str
    changed_at: datetime
    comment_id: str = ""
    comment: str = ""
    public: bool = False
    author: str = ""
    author_email: str = ""


@dataclass(frozen=True)
class TicketEvents:
    """What taking a ticket system's word works with, built once by the container."""

    forwards: ForwardQueue
    requests: RequestStore
    mappings: Mapping[str, TicketMapping]  # schema/site.json's, by system
    conversing: Conversing
    move: Callable[[str, str, str], object]  # request id, our status, who: the desk's status change (and e-mail)
    api_user: Callable[[], str]  # the ticket system's API user: its comments are the requester's, come back


def take_event(use: TicketEvents, system: str, event: TicketEvent) -> list[str]:
    """Apply the event to its ticket's request; what it did (``comment``, ``status``), or nothing for a replay.
    ``Refused(Code.NOT_FOUND)`` for a ticket that is none of ours."""
    request_id = use.forwards.request_of_ticket(system, event.ticket_id)
    if request_id is None:
        raise Refused(Code.NOT_FOUND)
    done = ["comment"] if _take_comment(use, system, request_id, event) else []
    return done + (["status"] if _take_status(use, system, request_id, event) else [])


def _take_comment(use: TicketEvents, system: str, request_id: str, event: TicketEvent) -> bool:
    """A public comment joins the conversation once (by its id), whenever its event arrives. One of the
    requester's own messages, which the worker added (as the requester, or as the API's user), is not the
    desk's answer."""
    if not (event.public and event.comment_id and event.comment):
        return False
    request = use.requests.get(request_id)
    own = {(request.requester or "") if request else "", use.api_user()}
    if event.author_email.strip().lower() in {address.lower() for address in own if address}:
        log.info("a comment on the %s ticket by the requester or the API's user is not the desk's answer", system)
        return False
    key = f"{system}:comment:{event.comment_id}"
    return conversing.ticket_comment(use.conversing, request_id, event.author, event.comment, key)


def _take_status(use: TicketEvents, system: str, request_id: str, event: TicketEvent) -> bool:
    """A status only from an event newer than any seen: an old one arriving late never moves the request back."""
    mapping = use.mappings.get(system)
    ours = mapping.statuses.get(event.status) if mapping else None
    if event.status and ours is None:
        log.info("ignored the %s status %r, which schema/site.json maps onto none of ours", system, event.status[:40])
    summary = use.requests.summary(request_id)
    if not (ours and summary) or not use.forwards.ticket_changed(request_id, event.changed_at):
        return False
    if summary.receipt.status == ours:
        return False
    try:
        use.move(request_id, ours, event.author or system)
    except StatusConflict:  # moved meanwhile (the mapping names only statuses of schema/site.json)
        log.warning("could not move %s to %s from the %s ticket", summary.receipt.reference, ours, system)
        return False
    return True
