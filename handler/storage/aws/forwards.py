"""The forwarding outbox on AWS: each job an item in one of the ``FORWARD#<shard>`` partitions (found by strongly
consistent queries, written by the commit), each ticket an item beside its request and one that finds the request
by the ticket."""

from __future__ import annotations

from datetime import datetime

from handler.forwarding import ForwardJob, ForwardQueue, Ticket
from handler.storage.aws import records
from handler.storage.aws.records import shard, timestamp
from handler.storage.aws.table import Item, Table, Write

FORWARD = "FORWARD"


def _job_key(request_id: str) -> Item:
    return {"pk": f"{FORWARD}#{shard(request_id)}", "sk": request_id}


def forward_job_item(request_id: str, target: str, now: datetime) -> Item:
    """A new request's job of forwarding (the commit puts it)."""
    return {**_job_key(request_id), "target": target, "attempts": 0, "lastError": "-", "dueAt": timestamp(now)}


def _job(item: Item) -> ForwardJob:
    error = "" if item["lastError"] == "-" else item["lastError"]
    due = datetime.fromisoformat(item["dueAt"])
    epoch, held = int(item.get("epoch", 0)), "claimedUntil" in item
    return ForwardJob(item["sk"], item["target"], int(item["attempts"]), error, due, epoch, held)


def _ticket_key(request_id: str) -> Item:
    return {"pk": f"REQUEST#{request_id}", "sk": "TICKET"}


def _reverse_key(system: str, ticket_id: str) -> Item:
    return {"pk": f"TICKET#{system}#{ticket_id}", "sk": "TICKET"}


class AwsForwards(ForwardQueue):
    """Jobs held by ``claimedUntil``; the ticket's item keeps ``changedAt``, the time of its newest change seen."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def due_forwards(self, now: datetime, limit: int) -> list[ForwardJob]:
        items = records.sharded(self._table, "reading the forwarding jobs", FORWARD)
        due = [
            _job(item)
            for item in items
            if not item.get("givenUp")
            and item["dueAt"] <= timestamp(now)
            and item.get("claimedUntil", "") <= timestamp(now)
        ]
        return sorted(due, key=lambda job: (job.due_at, job.request_id))[:limit]

    def claim_forward(self, request_id: str, until: datetime, now: datetime) -> bool:
        claim = Write(
            "Update",
            _job_key(request_id),
            "attribute_exists(pk) AND attribute_not_exists(givenUp)"
            " AND (attribute_not_exists(claimedUntil) OR claimedUntil <= :now)",
            "SET claimedUntil = :until",
            {":until": timestamp(until), ":now": timestamp(now)},
        )
        return self._table.write("claiming the forwarding job", claim) is not None

    def keep_ticket(self, request_id: str, ticket: Ticket) -> None:
        fields = {"system": ticket.system, "ticketId": ticket.id, "url": ticket.url}
        self._table.write(
            "keeping the ticket",
            Write("Put", {**_ticket_key(request_id), **fields, "changedAt": "", "commentsSent": ""}),
            Write("Put", {**_reverse_key(ticket.system, ticket.id), "requestId": request_id}),
        )

    def finish_forward(self, job: ForwardJob) -> bool:
        unmarked = "attribute_not_exists(epoch)" if not job.epoch else "epoch = :epoch"
        values = {":epoch": job.epoch} if job.epoch else {}
        done = Write("Delete", _job_key(job.request_id), unmarked, "", values)
        if self._table.write("dropping the forwarding job", done) is not None:
            return True
        let_go = Write(
            "Update",
            _job_key(job.request_id),
            "attribute_exists(pk)",
            "SET attempts = :zero REMOVE claimedUntil",
            {":zero": 0},
        )
        self._table.write("letting go of the forwarding job", let_go)
        return False

    def forward_later(self, request_id: str, target: str, now: datetime) -> None:
        update = (
            "SET target = :target, dueAt = if_not_exists(dueAt, :now), attempts = if_not_exists(attempts, :zero),"
            " lastError = if_not_exists(lastError, :none) ADD epoch :one"
        )
        values = {":target": target, ":now": timestamp(now), ":zero": 0, ":none": "-", ":one": 1}
        self._table.write(
            "marking the request for its ticket", Write("Update", _job_key(request_id), "", update, values)
        )

    def comments_sent(self, request_id: str) -> str:
        item = self._table.get(_ticket_key(request_id), "reading the ticket")
        return str(item.get("commentsSent", "")) if item else ""

    def comment_sent(self, request_id: str, mark: str) -> None:
        sent = Write(
            "Update", _ticket_key(request_id), "attribute_exists(pk)", "SET commentsSent = :mark", {":mark": mark}
        )
        self._table.write("recording the ticket's comments", sent)

    def retry_forward(self, job: ForwardJob) -> None:
        update = "SET attempts = :attempts, lastError = :error, dueAt = :due REMOVE claimedUntil"
        values = {":attempts": job.attempts, ":error": job.last_error[:500] or "-", ":due": timestamp(job.due_at)}
        self._table.write(
            "putting the forwarding job back", Write("Update", _job_key(job.request_id), "", update, values)
        )

    def give_up_forward(self, job: ForwardJob) -> None:
        update = "SET attempts = :attempts, lastError = :error, givenUp = :yes REMOVE claimedUntil"
        values = {":attempts": job.attempts, ":error": job.last_error[:500] or "-", ":yes": True}
        self._table.write("giving up the forwarding job", Write("Update", _job_key(job.request_id), "", update, values))

    def given_up_forwards(self) -> list[ForwardJob]:
        items = records.sharded(self._table, "reading the forwarding jobs", FORWARD)
        return sorted((_job(i) for i in items if i.get("givenUp")), key=lambda job: (job.due_at, job.request_id))

    def forward_again(self, request_id: str, now: datetime) -> bool:
        again = Write(
            "Update",
            _job_key(request_id),
            "attribute_exists(givenUp)",
            "SET attempts = :zero, dueAt = :now REMOVE givenUp, claimedUntil",
            {":zero": 0, ":now": timestamp(now)},
        )
        return self._table.write("forwarding the job again", again) is not None

    def ticket_of(self, request_id: str) -> Ticket | None:
        item = self._table.get(_ticket_key(request_id), "reading the ticket")
        return Ticket(item["system"], item["ticketId"], item["url"]) if item else None

    def request_of_ticket(self, system: str, ticket_id: str) -> str | None:
        item = self._table.get(_reverse_key(system, ticket_id), "finding the ticket's request")
        return str(item["requestId"]) if item else None

    def ticket_changed(self, request_id: str, at: datetime) -> bool:
        newer = Write(
            "Update",
            _ticket_key(request_id),
            "attribute_exists(pk) AND changedAt < :at",
            "SET changedAt = :at",
            {":at": timestamp(at)},
        )
        return self._table.write("recording the ticket's change", newer) is not None
