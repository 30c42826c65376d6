"""Forwarding requests into the desk's own ticket system: the outbox that holds them until they are there, and the
ticket each became.

A request is marked for forwarding in the same step that stores it (the store's commit writes its job), so
accepting it never waits for, or fails with, the ticket system. A worker takes due jobs one at a time, creates the
ticket idempotently (the target recognizes a retry by the request's reference), keeps the ticket's id on the
request and drops the job, in one step; a failure waits longer each time, and after ``FORWARD_ATTEMPTS`` the job
is given up with its reason, for ``forward failed`` and ``forward retry``.
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


class ForwardQueue(ABC):
    """Where the jobs of forwarding wait, and where each request's ticket is kept."""

    @abstractmethod
    def due_forwards(self, now: datetime, limit: int) -> list[ForwardJob]:
        """Jobs due at ``now`` that nobody holds and that were not given up, oldest first."""

    @abstractmethod
    def claim_forward(self, request_id: str, until: datetime, now: datetime) -> bool:
        """Hold the job until ``until``: only one worker gets it (False if another holds it or it is gone)."""

    @abstractmethod
    def forwarded(self, request_id: str, ticket: Ticket) -> None:
        """Keep the request's ticket and drop its job, in one step."""

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
