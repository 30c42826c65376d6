"""The forwarding outbox in the embedded store: one row of ``forward_jobs`` per request on its way to the desk's
ticket system (written by the commit), one row of ``tickets`` per request that is there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handler.forwarding import ForwardJob, ForwardQueue, Ticket
from handler.storage.local.db import Database, utc

_JOB = "request_id, target, attempts, last_error, due_at, epoch, claimed_until"


def _job(row: Sequence[Any]) -> ForwardJob:
    request_id, target, attempts, last_error, due_at, epoch, held = row
    due = datetime.fromisoformat(due_at)
    return ForwardJob(request_id, target, int(attempts), last_error, due, int(epoch), bool(held))


class LocalForwards(ForwardQueue):
    """Jobs held by ``claimed_until``; a ticket kept with the time of its last change."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def due_forwards(self, now: datetime, limit: int) -> list[ForwardJob]:
        query = (
            f"SELECT {_JOB} FROM forward_jobs WHERE given_up = 0 AND due_at <= ? AND claimed_until <= ? "
            "ORDER BY due_at, request_id LIMIT ?"
        )
        return [_job(row) for row in self._db.rows(query, (utc(now), utc(now), limit))]

    def claim_forward(self, request_id: str, until: datetime, now: datetime) -> bool:
        claim = "UPDATE forward_jobs SET claimed_until = ? WHERE request_id = ? AND given_up = 0 AND claimed_until <= ?"
        return bool(self._db.changed(claim, (utc(until), request_id, utc(now))))

    def keep_ticket(self, request_id: str, ticket: Ticket) -> None:
        self._db.changed(
            "INSERT OR REPLACE INTO tickets (request_id, system, ticket_id, url) VALUES (?, ?, ?, ?)",
            (request_id, ticket.system, ticket.id, ticket.url),
        )

    def finish_forward(self, job: ForwardJob) -> bool:
        with self._db.transaction() as db:
            done = "DELETE FROM forward_jobs WHERE request_id = ? AND epoch = ?"
            if db.execute(done, (job.request_id, job.epoch)).rowcount:
                return True
            let_go = "UPDATE forward_jobs SET attempts = 0, claimed_until = '' WHERE request_id = ?"
            db.execute(let_go, (job.request_id,))
            return False

    def forward_later(self, request_id: str, target: str, now: datetime) -> None:
        self._db.changed(
            "INSERT INTO forward_jobs (request_id, target, due_at) VALUES (?, ?, ?) "
            "ON CONFLICT (request_id) DO UPDATE SET epoch = epoch + 1",
            (request_id, target, utc(now)),
        )

    def comments_sent(self, request_id: str) -> str:
        row = self._db.row("SELECT comments_sent FROM tickets WHERE request_id = ?", (request_id,))
        return str(row[0]) if row else ""

    def comment_sent(self, request_id: str, mark: str) -> None:
        self._db.changed("UPDATE tickets SET comments_sent = ? WHERE request_id = ?", (mark, request_id))

    def retry_forward(self, job: ForwardJob) -> None:
        self._db.changed(
            "UPDATE forward_jobs SET attempts = ?, last_error = ?, due_at = ?, claimed_until = '' WHERE request_id = ?",
            (job.attempts, job.last_error[:500], utc(job.due_at), job.request_id),
        )

    def give_up_forward(self, job: ForwardJob) -> None:
        self._db.changed(
            "UPDATE forward_jobs SET attempts = ?, last_error = ?, given_up = 1, claimed_until = '' "
            "WHERE request_id = ?",
            (job.attempts, job.last_error[:500], job.request_id),
        )

    def given_up_forwards(self) -> list[ForwardJob]:
        query = f"SELECT {_JOB} FROM forward_jobs WHERE given_up = 1 ORDER BY due_at, request_id"
        return [_job(row) for row in self._db.rows(query)]

    def forward_again(self, request_id: str, now: datetime) -> bool:
        again = (
            "UPDATE forward_jobs SET given_up = 0, attempts = 0, due_at = ?, claimed_until = '' WHERE request_id = ?"
        )
        return bool(self._db.changed(again + " AND given_up = 1", (utc(now), request_id)))

    def ticket_of(self, request_id: str) -> Ticket | None:
        row = self._db.row("SELECT system, ticket_id, url FROM tickets WHERE request_id = ?", (request_id,))
        return Ticket(*row) if row else None

    def request_of_ticket(self, system: str, ticket_id: str) -> str | None:
        row = self._db.row("SELECT request_id FROM tickets WHERE system = ? AND ticket_id = ?", (system, ticket_id))
        return str(row[0]) if row else None

    def ticket_changed(self, request_id: str, at: datetime) -> bool:
        newer = "UPDATE tickets SET changed_at = ? WHERE request_id = ? AND changed_at < ?"
        return bool(self._db.changed(newer, (utc(at), request_id, utc(at))))


def insert_job(db: Any, request_id: str, target: str, now: datetime) -> None:
    """In the commit's transaction: mark the new request for forwarding to ``target``."""
    db.execute("INSERT INTO forward_jobs (request_id, target, due_at) VALUES (?, ?, ?)", (request_id, target, utc(now)))
