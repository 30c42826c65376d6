"""A request's conversation: the messages the requester and the desk write each other, and the port that keeps them.

Status changes are not messages: they stay the request's history, and ``thread`` weaves both into one story.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from handler.storage.base import Attachment, PendingRequest, StatusEvent

if TYPE_CHECKING:
    from handler import answers


class Author(StrEnum):
    """Who wrote a message: the person who sent the request, a contact copied on it, or someone at the desk."""

    REQUESTER = "requester"
    CC = "cc"
    AGENT = "agent"


class Channel(StrEnum):
    """How a message came in."""

    PAGE = "page"
    EMAIL = "email"
    CLI = "cli"
    TICKET = "ticket"


@dataclass(frozen=True)
class Message:
    """One message of a request's conversation: plain text, shown with its line breaks and never as HTML."""

    id: str
    request_id: str
    author: Author
    name: str  # as shown beside the message
    address: str  # the author's e-mail address ('' for an agent who has none here); never shown to others
    body: str
    at: datetime
    channel: Channel
    attachments: tuple[Attachment, ...] = ()

    def as_json(self) -> answers.Message:
        """The message as the API returns it (without the author's address)."""
        return {
            "kind": "message",
            "id": self.id,
            "author": self.author,
            "name": self.name,
            "body": self.body,
            "at": self.at.isoformat(timespec="seconds"),
            "channel": self.channel,
            "attachments": [attachment.as_json() for attachment in self.attachments],
        }


@dataclass(frozen=True)
class StatusMove:
    """A status change made in the same step as a message: from ``expected`` to ``event.status``."""

    expected: str
    event: StatusEvent


class Conversation(ABC):
    """Where each request's messages are kept, beside the request."""

    @abstractmethod
    def add_message(
        self, message: Message, key: str, move: StatusMove | None = None, pending: PendingRequest | None = None
    ) -> tuple[Message, bool]:
        """Append ``message`` and, with ``move``, change the request's status in the same atomic step, in which
        ``pending`` (the record of the message's attachment copies, from the store's ``begin``) is removed too.

        ``key`` makes appending idempotent: when the request already has a message under it, nothing is
        written and that message comes back with False (the caller abandons ``pending``). Raises
        ``RequestNotFound`` when there is no such request, ``StatusConflict`` (nothing written) when its status
        is no longer ``move.expected``, and ``StorageUnavailable`` when the sweep stopped ``pending``.
        """

    @abstractmethod
    def message_for_key(self, request_id: str, key: str) -> Message | None:
        """The request's message appended under ``key``, if any."""

    @abstractmethod
    def mute(self, request_id: str, address: str) -> None:
        """Send no more copies about the request to ``address`` (as it was copied, in lower case)."""

    @abstractmethod
    def muted(self, request_id: str) -> frozenset[str]:
        """The addresses that asked for no more copies about the request."""

    @abstractmethod
    def messages(self, request_id: str) -> list[Message]:
        """The request's messages, oldest first."""


def thread(messages: Sequence[Message], history: Sequence[StatusEvent]) -> list[answers.ThreadEntry]:
    """The conversation as the API returns it: messages and status changes in one list, oldest first (a status
    change before a message of the same moment)."""
    entries: list[tuple[datetime, int, answers.ThreadEntry]]
    entries = [(event.at, 0, {"kind": "status", **event.as_json()}) for event in history]
    entries += [(message.at, 1, message.as_json()) for message in messages]
    return [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]
