"""The mail queue on AWS: one item per message, found through its outbox entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from handler.mail import MailQueue, QueuedMail
from handler.storage.aws import records
from handler.storage.aws.records import OUTBOX, timestamp
from handler.storage.aws.table import Table, Write

# A mail's two items in a transaction; a transaction takes up to 100 items.
_MAILS_PER_TRANSACTION = 50


class AwsMail(MailQueue):
    """Messages as ``MAIL#`` items, each with an entry in one of the ``OUTBOX#`` partitions while it waits."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def queue_mails(self, mails: Sequence[QueuedMail]) -> None:
        """Add or replace messages (unclaimed, unmarked) with their outbox entries; new ones wake the sender."""
        for first in range(0, len(mails), _MAILS_PER_TRANSACTION):
            batch = mails[first : first + _MAILS_PER_TRANSACTION]
            items = [item for mail in batch for item in (records.mail_item(mail), records.outbox_entry(mail))]
            self._table.write("queueing the e-mail", *(Write("Put", item) for item in items))

    def queued_mails(self, limit: int, now: datetime) -> list[QueuedMail]:
        """The oldest messages no sender holds or has sent, by strongly consistent reads of the outbox entries."""
        entries = records.sharded(self._table, "reading the table", OUTBOX)
        found: list[QueuedMail] = []
        waiting = ((entry["queuedAt"], entry["sk"]) for entry in entries if "sendingAt" not in entry)
        for _, mail_id in sorted(waiting):
            if len(found) == limit:
                break
            item = self._table.get(records.key("MAIL", mail_id), "reading the queued e-mail")
            if item is None or "sendingAt" in item or item.get("claimedUntil", "") > timestamp(now):
                continue
            found.append(records.mail(mail_id, item))
        return found

    def claim_mail(self, mail_id: str, until: datetime, now: datetime) -> bool:
        """Take the message for sending: only one sender (stream, schedule or command) gets it."""
        claim = Write(
            "Update",
            records.key("MAIL", mail_id),
            # Still queued, not gone out, and nobody holds it (or their hold ran out).
            "attribute_exists(pk) AND attribute_not_exists(sendingAt)"
            " AND (attribute_not_exists(claimedUntil) OR claimedUntil <= :now)",
            "SET claimedUntil = :until",
            {":until": timestamp(until), ":now": timestamp(now)},
        )
        return self._table.write("claiming the e-mail", claim) is not None

    def mark_mail_sending(self, mail_id: str, now: datetime) -> bool:
        """Mark the message and its outbox entry as going out: the entry keeps it findable if the sender stops
        before forgetting it."""
        marks = (
            Write(
                "Update",
                where,
                "attribute_exists(pk) AND attribute_not_exists(sendingAt)",
                "SET sendingAt = :now",
                {":now": timestamp(now)},
            )
            for where in (records.key("MAIL", mail_id), records.outbox_key(mail_id))
        )
        return self._table.write("marking the e-mail as going out", *marks) is not None

    def forget_mail(self, mail_id: str) -> None:
        """Drop a message that has been sent (or given up) with its outbox entry."""
        forget = Write("Delete", records.key("MAIL", mail_id)), Write("Delete", records.outbox_key(mail_id))
        self._table.write("forgetting the sent e-mail", *forget)

    def give_up_mail(self, mail: QueuedMail) -> None:
        """Put the message in the given-up partition and drop it from the queue, in one transaction."""
        moves = (
            Write("Put", {**records.mail_item(mail), **records.given_up_key(mail.id)}),
            Write("Delete", records.key("MAIL", mail.id)),
            Write("Delete", records.outbox_key(mail.id)),
        )
        self._table.write("giving up the e-mail", *moves)

    def given_up_mails(self, limit: int) -> list[QueuedMail]:
        """The given-up partition's messages, oldest first."""
        items = self._table.query("reading the given-up e-mail", "pk = :pk", {":pk": records.GIVEN_UP})
        found = sorted((records.mail(item["sk"], item) for item in items), key=lambda m: (m.queued_at, m.id))
        return found[:limit]

    def resend_mail(self, mail_id: str, now: datetime) -> bool:
        """Queue the given-up message again and drop it from the given-up partition, in one transaction."""
        item = self._table.get(records.given_up_key(mail_id), "reading the given-up e-mail")
        if item is None:
            return False
        mail = replace(records.mail(mail_id, item), attempts=0, queued_at=now)
        # Only while it is still given up: two operators resending it queue it once.
        leave = Write("Delete", records.given_up_key(mail_id), "attribute_exists(pk)")
        moves = (Write("Put", records.mail_item(mail)), Write("Put", records.outbox_entry(mail)), leave)
        return self._table.write("queueing the given-up e-mail again", *moves) is not None

    def interrupted_mails(self, before: datetime) -> list[QueuedMail]:
        """Messages marked as going out before ``before`` and never forgotten, found by their outbox entries."""
        entries = records.sharded(self._table, "reading the table", OUTBOX)
        found: list[QueuedMail] = []
        for entry in entries:
            if entry.get("sendingAt", "~") >= timestamp(before):
                continue
            item = self._table.get(records.key("MAIL", entry["sk"]), "reading the e-mail that was going out")
            if item is None:  # forgotten but for its entry
                self._table.write("forgetting the sent e-mail", Write("Delete", records.outbox_key(entry["sk"])))
            else:
                found.append(records.mail(entry["sk"], item))
        return found
