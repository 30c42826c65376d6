"""The desk's own ticket systems, each behind one small client: what a ticket is made from, and what can go wrong.

A client raises ``TicketSystemError``: ``retryable`` when trying again later may work (the system was busy or
down, or its answer never came), with ``retry_after`` when the system said how long to wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from handler.forwarding import Ticket
from handler.ticket_mapping import TicketMapping


@dataclass(frozen=True)
class TicketDraft:
    """What a ticket is made from: the request's reference, its words and its people, and its files."""

    reference: str
    subject: str
    body: str  # the fields in the form's order, as the desk's e-mail has them
    requester_name: str
    requester_email: str
    tags: tuple[str, ...] = ()
    custom_fields: tuple[tuple[int | str, object], ...] = ()
    files: tuple[tuple[str, str, bytes], ...] = field(default=(), repr=False)  # name, type, content
    request_type: str = ""  # the kind of ticket, where the system has kinds (Jira Service Management's request type)


@dataclass(frozen=True)
class TicketComment:
    """The requester's later message, for the ticket as a public comment."""

    author_name: str
    author_email: str
    body: str
    files: tuple[tuple[str, str, bytes], ...] = field(default=(), repr=False)  # name, type, content


class TicketSystemError(Exception):
    """The ticket system did not do it; ``retryable`` says whether trying again later may work."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class TicketSystem(ABC):
    """One ticket system, through its public API."""

    name: str
    email: str  # the API's user: comments it adds for the requester come back by the webhook, and are not taken

    @abstractmethod
    def create(self, draft: TicketDraft, retried: bool) -> Ticket:
        """Create the ticket, or find the one an earlier try created (``retried``): never two for one request."""

    @abstractmethod
    def comment(self, ticket: Ticket, comment: TicketComment, retried: bool) -> None:
        """Add the requester's message to the ticket as a public comment; a retry (``retried``) first looks for
        the comment an earlier try may have added, so that it is there once."""

    @abstractmethod
    def check(self, mapping: TicketMapping | None) -> list[str]:
        """What is wrong with the credentials or the mapping (each request type and custom field it names exists),
        as the live system sees them; nothing when ready."""


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Zendesk signs a webhook with: base64 of the HMAC-SHA256 of its timestamp and body. Kept apart from the
    Zendesk client, so that the webhook's route loads no HTTP client."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def jira_signature(secret: str, body: bytes) -> str:
    """What Jira signs a webhook with (its X-Hub-Signature): ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
