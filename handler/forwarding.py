"""Forwarding requests into the desk's own ticket system: the outbox that holds them until they are there, and the
ticket each became.

A request is marked for forwarding in the same step that stores it (the store's commit writes its job), so
accepting it never waits for, or fails with, the ticket system. A worker takes due jobs one at a time, creates the
ticket idempotently (the target recognizes a retry by the request's reference) and keeps the ticket's id on the
request; then it adds the requester's messages the ticket does not have yet as comments, moving the request's
mark of the last one sent after each. A new message marks the request again (``forward_later``), and a job marked
while a worker held it is not dropped by that worker. A failure waits longer each time, and after
``FORWARD_ATTEMPTS`` the job is given up with its reason, for ``forward failed`` and ``forward retry``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Ticket:
    """The ticket a request became in the desk's system."""

    system: str  # zendesk, jsm
    id: str
    url: str


@dataclass(frozen=True)
class ForwardJob:
    """A request waiting to be forwarded, how often that has failed, why last, and when it is due again."""

    request_id: str
    target: str
    attempts: int
    last_error: str
    due_at: datetime
    epoch: int = 0  # how often it was marked again (a new message) since it was written
    held: bool = False  # a worker held it and stopped before putting it back: what it did may be done


class ForwardQueue(ABC):
    """Where the jobs of forwarding wait, and where each request's ticket is kept."""

    @abstractmethod
    def due_forwards(self, now: datetime, limit: int) -> list[ForwardJob]:
        """Jobs due at ``now`` that nobody holds and that were not given up, oldest first."""

    @abstractmethod
    def claim_forward(self, request_id: str, until: datetime, now: datetime) -> bool:
        """Hold the job until ``until``: only one worker gets it (False if another holds it or it is gone)."""

    @abstractmethod
    def keep_ticket(self, request_id: str, ticket: Ticket) -> None:
        """Keep the ticket the request became (and the way back from the ticket to the request)."""

    @abstractmethod
    def finish_forward(self, job: ForwardJob) -> bool:
        """Drop the job done; but if it was marked again since ``job`` was read, let go of it instead (due now)
        and answer False."""

    @abstractmethod
    def forward_later(self, request_id: str, target: str, now: datetime) -> None:
        """Mark the request for the ticket system again (a new message for its ticket): a job due ``now``, or the
        job already there marked again."""

    @abstractmethod
    def comments_sent(self, request_id: str) -> str:
        """The mark of the last of the request's messages its ticket has as a comment ('' for none)."""

    @abstractmethod
    def comment_sent(self, request_id: str, mark: str) -> None:
        """Record that the ticket has the request's messages up to ``mark``."""

    @abstractmethod
    def retry_forward(self, job: ForwardJob) -> None:
        """Put the job back, with its attempts, its last error and when it is due again; let go of it."""

    @abstractmethod
    def give_up_forward(self, job: ForwardJob) -> None:
        """Keep the job, with why, in the given-up list."""

    @abstractmethod
    def given_up_forwards(self) -> list[ForwardJob]:
        """The given-up jobs, oldest first."""

    @abstractmethod
    def forward_again(self, request_id: str, now: datetime) -> bool:
        """Make a given-up job due now with no attempts; False if there is none."""

    @abstractmethod
    def ticket_of(self, request_id: str) -> Ticket | None:
        """The ticket the request became, if it is there yet."""

    @abstractmethod
    def request_of_ticket(self, system: str, ticket_id: str) -> str | None:
        """The request a ticket was made for."""

    @abstractmethod
    def ticket_changed(self, request_id: str, at: datetime) -> bool:
        """Record that the ticket changed at ``at``; False when a change as new or newer was recorded before."""
