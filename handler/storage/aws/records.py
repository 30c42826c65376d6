"""The table's layout (see docs/storage.md): its keys and indexes, and each item as the domain object it stores:
``x_item(x)`` makes one, ``x(item)`` reads it back; the other modules only say which items to read and write."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from handler.contacts import Contact
from handler.mail import QueuedMail
from handler.signin import PendingCode
from handler.storage.aws.table import Item, Table
from handler.storage.base import IdempotencyRecord, IndexRecord, PendingRequest, Receipt, RequestSummary, StatusEvent
from handler.uploads import Upload

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

REQUESTER_INDEX = "byRequester"
# Lists every request (by time received) and every contact (by address) for agents and operators,
# without a scan. Its partition key is the kind and a shard, ``REQUEST#3``, so that no one partition
# takes every write; a listing reads all the shards and merges them.
KIND_INDEX = "byKind"
SHARDS = 8
TTL_ATTRIBUTE = "expiresAt"
# What a listing shows of a request: all that either index keeps besides its keys. A contact listing
# reads the contacts themselves from the table.
SUMMARY_ATTRIBUTES = ["id", "reference", "status", "form", "category", "requester", "title", "receivedAt", "updatedAt"]
# Queued e-mail is found through small entries in the base table (``OUTBOX#<shard>``, one per message),
# read with strongly consistent queries; pending records of requests on their way in likewise
# (``PENDING#<shard>``, sorted by when they started).
OUTBOX, PENDING = "OUTBOX", "PENDING"
GIVEN_UP = "MAILGIVENUP"  # the partition of e-mail that sending gave up on
# The key page cursors are signed with: one item, made by the first container that hands out a cursor.
CURSOR_KEY: Item = {"pk": "KEY#page-cursor", "sk": "KEY"}
# Upload records outlive the pending file (removed by the bucket's lifecycle rule after a day).
UPLOAD_RECORD_LIFETIME = timedelta(days=3)


def table_definition(name: str) -> CreateTableInputTypeDef:
    """The ``create_table`` arguments for the store's table (the SAM template must declare the same)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("pk", "sk", "requesterKey", "receivedKey", "kind", "sortKey")
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": SUMMARY_ATTRIBUTES},
            }
            for index, partition, sort in (
                (REQUESTER_INDEX, "requesterKey", "receivedKey"),
                (KIND_INDEX, "kind", "sortKey"),
            )
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def document_key(request_id: str) -> str:
    """The S3 key of a request's document."""
    return f"requests/{request_id}.json"


def shard(value: str) -> int:
    """The shard (0 to ``SHARDS`` - 1) an item with this id or address goes to, the same in every process."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") % SHARDS


def sharded(
    table: Table,
    action: str,
    prefix: str,
    condition: str = "",
    values: Item | None = None,
    *,
    index: str | None = None,
    limit: int | None = None,
) -> list[Item]:
    """The items of the ``SHARDS`` partitions ``{prefix}#0`` … of the table or of ``KIND_INDEX`` (each one's first
    ``limit``)."""
    partition = "kind" if index == KIND_INDEX else "pk"
    condition = " AND ".join(filter(None, [f"{partition} = :shard", condition]))
    return [
        item
        for number in range(SHARDS)
        for item in table.query(
            action, condition, {**(values or {}), ":shard": f"{prefix}#{number}"}, index=index, limit=limit
        )
    ]


def timestamp(moment: datetime) -> str:
    """One fixed format in UTC, so the strings sort in time order (the indexes' sort keys rely on it)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def epoch(moment: datetime) -> int:
    """Seconds since the epoch, as TTL reads them."""
    return int(moment.timestamp())


def key(kind: str, name: str) -> Item:
    """The key of the item of this kind for ``name``: ``{"pk": "KIND#name", "sk": "KIND"}``."""
    return {"pk": f"{kind}#{name}", "sk": kind}


# Requests ------------------------------------------------------------------------------------------


def request_item(record: IndexRecord) -> Item:
    """The index record; only requests with a requester carry the ``byRequester`` keys (a sparse index)."""
    receipt, received = record.receipt, timestamp(record.receipt.received_at)
    requester_keys = {"requesterKey": record.requester, "receivedKey": f"{received}#{receipt.request_id}"}
    return {
        **key("REQUEST", receipt.request_id),
        "id": receipt.request_id,
        "reference": receipt.reference,
        "status": receipt.status,
        "form": record.form_id,
        "category": record.category,
        "title": record.title,
        "requester": record.requester,
        "receivedAt": received,
        "updatedAt": received,
        "documentKey": document_key(receipt.request_id),
        "kind": f"REQUEST#{shard(receipt.request_id)}",
        "sortKey": f"{received}#{receipt.request_id}",
        **(requester_keys if record.requester is not None else {}),
    }


def summary(item: Item) -> RequestSummary:
    """A request item (or its entry in an index) as a line of a listing."""
    receipt = Receipt(item["id"], item["reference"], item["status"], datetime.fromisoformat(item["receivedAt"]))
    return RequestSummary(
        receipt,
        item["form"],
        item.get("category"),
        item.get("requester"),
        item.get("title"),
        datetime.fromisoformat(item["updatedAt"]),
    )


def reference_item(receipt: Receipt) -> Item:
    """What makes the reference unique and finds its request."""
    return {**key("REFERENCE", receipt.reference), "requestId": receipt.request_id}


def idempotency_item(idempotency: IdempotencyRecord) -> Item:
    """An idempotency key with the receipt it gave (the status it was received with)."""
    receipt = idempotency.receipt
    return {
        **key("IDEMPOTENCY", idempotency.key),
        "fingerprint": idempotency.fingerprint,
        "requestId": receipt.request_id,
        "reference": receipt.reference,
        "status": receipt.status,
        "receivedAt": timestamp(receipt.received_at),
        TTL_ATTRIBUTE: epoch(idempotency.expires_at),
    }


def idempotency(key: str, item: Item, status: str) -> IdempotencyRecord:
    """An idempotency key's item, its receipt with the request's ``status`` as it is now."""
    receipt = Receipt(item["requestId"], item["reference"], status, datetime.fromisoformat(item["receivedAt"]))
    return IdempotencyRecord(key, item["fingerprint"], receipt, datetime.fromtimestamp(int(item[TTL_ATTRIBUTE]), UTC))


def event_item(request_id: str, event: StatusEvent) -> Item:
    """One step of a request's history, next to the request (a random tail keeps equal times apart)."""
    at = timestamp(event.at)
    return {
        "pk": f"REQUEST#{request_id}",
        "sk": f"STATUS#{at}#{uuid.uuid4().hex[:8]}",
        "status": event.status,
        "at": at,
        "agent": event.agent or None,
        "comment": event.comment or None,
    }


def event(item: Item) -> StatusEvent:
    return StatusEvent(item["status"], datetime.fromisoformat(item["at"]), item.get("agent"), item.get("comment"))


def pending_key(pending: PendingRequest) -> Item:
    """Where a request on its way in is recorded: by shard, then by when it started."""
    return {
        "pk": f"{PENDING}#{shard(pending.request_id)}",
        "sk": f"{timestamp(pending.started_at)}#{pending.request_id}",
    }


def pending_item(pending: PendingRequest) -> Item:
    return {
        **pending_key(pending),
        "requestId": pending.request_id,
        "startedAt": timestamp(pending.started_at),
        "attachmentKeys": list(pending.attachment_keys),
    }


def pending(item: Item) -> PendingRequest:
    return PendingRequest(item["requestId"], datetime.fromisoformat(item["startedAt"]), tuple(item["attachmentKeys"]))


# Contacts, sign-in codes, mail and uploads --------------------------------------------------------------


def contact_fields(contact: Contact) -> Item:
    """A contact's attributes (its key and security stamp aside); ``byKind`` lists it by address."""
    return {
        "kind": f"CONTACT#{shard(contact.email)}",
        "sortKey": contact.email,
        "email": contact.email,
        "name": contact.name,
        "phone": contact.phone,
        "organization": contact.organization,
        "contactTypes": list(contact.contact_types),
    }


def contact(item: Item) -> Contact:
    """A contact; one registered before security stamps has an empty one."""
    return Contact(
        item["email"],
        item["name"],
        item["phone"],
        item["organization"],
        tuple(item["contactTypes"]),
        item.get("securityStamp", ""),
    )


def code_item(code: PendingCode) -> Item:
    """An address's sign-in code; TTL removes it after it expires."""
    return {
        **key("CODE", code.email),
        "digest": code.digest,
        "attemptsLeft": code.attempts_left,
        "nonce": code.nonce,
        TTL_ATTRIBUTE: epoch(code.expires_at),
    }


def code(email: str, item: Item) -> PendingCode:
    expires_at = datetime.fromtimestamp(int(item[TTL_ATTRIBUTE]), UTC)
    return PendingCode(email, item["digest"], expires_at, int(item["attemptsLeft"]), item.get("nonce", ""))


def mail_item(mail: QueuedMail) -> Item:
    """A queued message (``lastError`` is ``-`` while there is none)."""
    return {
        **key("MAIL", mail.id),
        "recipients": list(mail.recipients),
        "message": mail.message,
        "attempts": mail.attempts,
        "lastError": mail.last_error or "-",
        "queuedAt": timestamp(mail.queued_at),
    }


def mail(mail_id: str, item: Item) -> QueuedMail:
    return QueuedMail(
        mail_id,
        tuple(item["recipients"]),
        bytes(item["message"]),
        int(item["attempts"]),
        "" if item["lastError"] == "-" else item["lastError"],
        datetime.fromisoformat(item["queuedAt"]),
    )


def given_up_key(mail_id: str) -> Item:
    """Where a given-up message is kept: one partition, as few are expected and an operator lists them all."""
    return {"pk": GIVEN_UP, "sk": mail_id}


def outbox_key(mail_id: str) -> Item:
    return {"pk": f"{OUTBOX}#{shard(mail_id)}", "sk": mail_id}


def outbox_entry(mail: QueuedMail) -> Item:
    """The entry the sender finds a queued message by."""
    return {**outbox_key(mail.id), "queuedAt": timestamp(mail.queued_at)}


def upload_item(upload: Upload) -> Item:
    """An upload slot; TTL removes it a while after the pending file has expired too."""
    return {
        **key("UPLOAD", upload.id),
        "requester": upload.requester,
        "form": upload.form_id,
        "field": upload.field,
        "name": upload.name,
        "contentType": upload.content_type,
        "maxBytes": upload.max_bytes,
        "slotExpiresAt": timestamp(upload.expires_at),
        TTL_ATTRIBUTE: epoch(upload.expires_at + UPLOAD_RECORD_LIFETIME),
    }


def upload(upload_id: str, item: Item) -> Upload:
    return Upload(
        upload_id,
        item["requester"],
        item["form"],
        item["field"],
        item["name"],
        item["contentType"],
        int(item["maxBytes"]),
        datetime.fromisoformat(item["slotExpiresAt"]),
    )
