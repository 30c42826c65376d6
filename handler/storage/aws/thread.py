"""Conversations on AWS: each message an item in its request's partition, each idempotency key an item of its own."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from handler.conversation import Author, Channel, Conversation, Message, StatusMove
from handler.storage.aws import records
from handler.storage.aws.records import timestamp
from handler.storage.aws.table import Item, Table, Write
from handler.storage.base import Attachment, PendingRequest, RequestNotFound, StatusConflict, StorageUnavailable

_MESSAGE = "MESSAGE#"
_MUTED = "MUTED#"  # an address copied on the request that asked for no more copies
_NEW = "attribute_not_exists(pk)"


def _key(message: Message) -> Item:
    return {"pk": f"REQUEST#{message.request_id}", "sk": f"{_MESSAGE}{timestamp(message.at)}#{message.id}"}


def _item(message: Message) -> Item:
    m = message
    fields = {"id": m.id, "author": str(m.author), "name": m.name, "address": m.address, "body": m.body}
    files = [asdict(attachment) for attachment in m.attachments]
    return {**_key(m), **fields, "at": timestamp(m.at), "channel": str(m.channel), "attachments": files}


def _message(request_id: str, item: Item) -> Message:
    return Message(
        item["id"],
        request_id,
        Author(item["author"]),
        item["name"],
        item["address"],
        item["body"],
        datetime.fromisoformat(item["at"]),
        Channel(item["channel"]),
        tuple(Attachment.of(a) for a in item.get("attachments", [])),
    )


def _key_item(request_id: str, key: str) -> Item:
    return {"pk": f"MESSAGEKEY#{request_id}#{key}", "sk": "MESSAGEKEY"}


class AwsConversation(Conversation):
    """One transaction appends a message: the key's item (only if new), the message, and the request's update."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def add_message(
        self, message: Message, key: str, move: StatusMove | None = None, pending: PendingRequest | None = None
    ) -> tuple[Message, bool]:
        """Append in one transaction; a used key answers with its message, a moved status with StatusConflict."""
        request = records.key("REQUEST", message.request_id)
        if move is None:
            touch = Write(
                "Update", request, "attribute_exists(pk)", "SET updatedAt = :at", {":at": timestamp(message.at)}
            )
            writes = [touch]
        else:
            event = move.event
            change = Write(
                "Update",
                request,
                "attribute_exists(pk) AND #status = :expected",
                "SET #status = :new, updatedAt = :at",
                {":new": event.status, ":at": timestamp(event.at), ":expected": move.expected},
            )
            writes = [change, Write("Put", records.event_item(message.request_id, event))]
        where = _key(message)
        taken = Write(
            "Put", {**_key_item(message.request_id, key), "messagePk": where["pk"], "messageSk": where["sk"]}, _NEW
        )
        appended = Write("Put", _item(message), _NEW)

        if pending is not None:  # last: the files are no longer on their way in, unless the sweep stopped them
            on_its_way = "attribute_exists(pk) AND attribute_not_exists(stopped)"
            writes.append(Write("Delete", records.pending_key(pending), on_its_way))

        def refused(failed: list[int]) -> Exception:
            if 0 in failed:  # the key: answered below
                return _KeyUsed()
            if pending is not None and len(writes) + 1 in failed:
                return StorageUnavailable(f"the message's files {pending.request_id} were stopped as unfinished")
            return StatusConflict(message.request_id)

        try:
            self._table.write("adding the message", taken, appended, *writes, refused=refused)
        except _KeyUsed:
            return self._used(message.request_id, key), False
        except StatusConflict:
            if self._table.get(request, "reading the request") is None:
                raise RequestNotFound(message.request_id) from None
            raise
        return message, True

    def _used(self, request_id: str, key: str) -> Message:
        used = self.message_for_key(request_id, key)
        if used is None:  # never: the key and its message are written together
            raise StatusConflict(request_id)
        return used

    def message_for_key(self, request_id: str, key: str) -> Message | None:
        """The message the key's item points to (two strongly consistent reads)."""
        used = self._table.get(_key_item(request_id, key), "reading the message key")
        where = {"pk": used["messagePk"], "sk": used["messageSk"]} if used else None
        item = self._table.get(where, "reading the message") if where else None
        return _message(request_id, item) if item else None

    def mute(self, request_id: str, address: str) -> None:
        item = {"pk": f"REQUEST#{request_id}", "sk": f"{_MUTED}{address.lower()}"}
        self._table.write("muting the address", Write("Put", item))

    def muted(self, request_id: str) -> frozenset[str]:
        values = {":pk": f"REQUEST#{request_id}", ":sk": _MUTED}
        items = self._table.query("reading the muted addresses", "pk = :pk AND begins_with(sk, :sk)", values)
        return frozenset(item["sk"].removeprefix(_MUTED) for item in items)

    def messages(self, request_id: str) -> list[Message]:
        values = {":pk": f"REQUEST#{request_id}", ":sk": _MESSAGE}
        items = self._table.query("reading the messages", "pk = :pk AND begins_with(sk, :sk)", values)
        return [_message(request_id, item) for item in items]


class _KeyUsed(Exception):
    """The message's key was used before."""
