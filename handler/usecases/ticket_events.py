"""What the desk's ticket system says back about a ticket (its webhook): a public comment joins the request's
conversation and reaches the requester; a status it maps onto ours moves the request, never back to an older
state; a private note never leaves the desk."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from handler.refusals import Refused
from handler.services import Services
from handler.storage.base import StatusConflict
from handler.usecases import conversing
from handler.usecases.desk import UnknownStatus, change_status

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


def take_event(services: Services, system: str, event: TicketEvent) -> list[str]:
    """Apply the event to its ticket's request; what it did (``comment``, ``status``), or nothing for a replay.
    ``Refused("not_found")`` for a ticket that is none of ours."""
    forwarding = services.forwarding
    request_id = forwarding.forwards.request_of_ticket(system, event.ticket_id)
    if request_id is None:
        raise Refused("not_found")
    done = []
    # A comment is taken once by its id, whenever its event arrives.
    if event.public and event.comment_id and event.comment:
        key = f"{system}:comment:{event.comment_id}"
        if conversing.ticket_comment(services.conversing, request_id, event.author, event.comment, key):
            done.append("comment")
    # A status only from an event newer than any seen: an old one arriving late never moves the request back.
    mapping = services.catalog.tickets.get(system)
    ours = mapping.statuses.get(event.status) if mapping else None
    if event.status and ours is None:
        log.info("ignored the %s status %r, which schema/site.json maps onto none of ours", system, event.status[:40])
    summary = services.store.summary(request_id)
    newer = bool(ours and summary) and forwarding.forwards.ticket_changed(request_id, event.changed_at)
    if ours and summary and newer and summary.receipt.status != ours:
        try:
            change_status(services, request_id, ours, event.author or system)
            done.append("status")
        except (StatusConflict, UnknownStatus):
            log.warning("could not move %s to %s from the %s ticket", summary.receipt.reference, ours, system)
    return done
