"""The AWS store: documents in S3, index, references and idempotency keys in one DynamoDB table.

See docs/storage.md for the data model. The submit flow itself lives in ``base.RequestStore``; this
module only writes the document (S3, never overwritten), commits the DynamoDB items in one
transaction, reads them back, and turns throttling, timeouts and outages into ``StorageUnavailable``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

from handler.contacts import Contact, new_security_stamp, normalize_email
from handler.mail import QueuedMail
from handler.signin import PendingCode
from handler.storage.base import (
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    Receipt,
    ReferenceTaken,
    RequestBlobs,
    RequestNotFound,
    RequestSummary,
    RequestTooLarge,
    StatusConflict,
    StatusEvent,
    StorageUnavailable,
    Store,
    StoredRequest,
    StoreUnreachable,
)
from handler.storage.cursor import CursorCodec, new_cursor_key
from handler.uploads import Upload

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, CreateTableInputTypeDef, TransactWriteItemTypeDef
    from mypy_boto3_s3.client import S3Client

    from handler.settings import Settings

log = logging.getLogger("servicedesk_forms")

REQUESTER_INDEX = "byRequester"
# Lists every request (by time received) and every contact (by address) for agents and operators,
# without a scan. Its partition key is the kind and a shard, ``REQUEST#3``, so that no one partition
# takes every write; a listing reads all the shards and merges them.
KIND_INDEX = "byKind"
SHARDS = 8
TTL_ATTRIBUTE = "expiresAt"
# Queued e-mail is found through small entries in the base table (``OUTBOX#<shard>``, one per message),
# read with strongly consistent queries; pending records of requests on their way in likewise
# (``PENDING#<shard>``, sorted by when they started).
OUTBOX, PENDING = "OUTBOX", "PENDING"
# How long the record of a message that went out is kept if removing it failed (TTL then removes it).
SENT_KEPT = timedelta(days=7)
# The key page cursors are signed with: one item, made by the first container that hands out a cursor.
CURSOR_KEY_PK, CURSOR_KEY_SK = "KEY#page-cursor", "KEY"

# Error codes (from either service) that mean "busy, overloaded or briefly down": the client may retry.
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "TransactionConflict",
        "TransactionConflictException",
        "TransactionInProgressException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "OperationAborted",
        "ConditionalRequestConflict",
    }
)
# Codes a cancelled transaction may give for one of its items when the cause is transient.
_RETRYABLE_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
# The transport failing: EndpointConnectionError and ConnectTimeoutError are ConnectionErrors,
# ReadTimeoutError and ConnectionClosedError are HTTPClientErrors.
_TRANSPORT_ERRORS = (BotoConnectionError, ReadTimeoutError, ConnectionClosedError)
# A mail's two items in a transaction; a transaction takes up to 100 items.
_MAILS_PER_TRANSACTION = 50

# Positions of the items in the commit transaction, to read its CancellationReasons.
_REQUEST, _REFERENCE, _IDEMPOTENCY = 0, 1, 2

# Every call to S3 or DynamoDB gets at most ATTEMPTS tries, each with CONNECT_TIMEOUT seconds to connect
# and READ_TIMEOUT seconds of silence while waiting for the answer: CALL_BUDGET_SECONDS in all, set
# against the function's timeout in docs/deploy.md.
CONNECT_TIMEOUT = 1
READ_TIMEOUT = 2
ATTEMPTS = 2
BACK_OFF_SECONDS = 1  # standard mode's longest wait before the second try (jittered: mostly far less)
CALL_BUDGET_SECONDS = ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + BACK_OFF_SECONDS
# DynamoDB's limits on one item and on all the items of one transaction.
ITEM_LIMIT_BYTES = 400 * 1024
TRANSACTION_LIMIT_BYTES = 4 * 1024 * 1024
# What S3 answers for a missing object; without s3:ListBucket (which the function does not have) that is
# 403 AccessDenied rather than 404 NoSuchKey.
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


def table_definition(name: str) -> CreateTableInputTypeDef:
    """The ``create_table`` arguments for the store's table (the SAM template must declare the same)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "requesterKey", "AttributeType": "S"},
            {"AttributeName": "receivedKey", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "sortKey", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": REQUESTER_INDEX,
                "KeySchema": [
                    {"AttributeName": "requesterKey", "KeyType": "HASH"},
                    {"AttributeName": "receivedKey", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": KIND_INDEX,
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "sortKey", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def document_key(request_id: str) -> str:
    """The S3 key of a request's document."""
    return f"requests/{request_id}.json"


def shard(value: str) -> int:
    """The shard (0 to ``SHARDS`` - 1) an item with this id or address goes to, the same in every process."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") % SHARDS


def is_retryable(exc: BaseException) -> bool:
    """Whether a botocore error means the store is unreachable, overloaded or briefly failing."""
    if isinstance(exc, _TRANSPORT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _RETRYABLE_CODES or status >= 500 or status == 429
    return False


@contextmanager
def _unavailable_on_transient_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, _TRANSPORT_ERRORS):
            raise StoreUnreachable(f"{action}: {exc}") from exc
        if is_retryable(exc):
            raise StorageUnavailable(f"{action}: {exc}") from exc
        raise


@contextmanager
def _unavailable_on_any_error(action: str) -> Iterator[None]:
    # For removals: whatever stops one (even denied access) leaves the pending record for the sweep.
    try:
        with _unavailable_on_transient_errors(action):
            yield
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"{action}: {exc}") from exc


def _cancellation_reasons(exc: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]


def _timestamp(moment: datetime) -> str:
    # One fixed format in UTC, so the strings sort in time order (the GSI's sort key relies on it).
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _text(item: Mapping[str, AttributeValueTypeDef], name: str) -> str:
    return item[name]["S"]


def _send_body_at_once(request: AWSPreparedRequest, **_: Any) -> None:
    del request.headers["Expect"]  # not signed (SigV4 leaves it out), so it can go


def item_size(item: Mapping[str, Any]) -> int:
    """The bytes DynamoDB counts for an item (numbers counted at one byte per digit, a little over)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    if "S" in value:
        return len(value["S"].encode())
    if "B" in value:
        blob = value["B"]
        return len(blob) if isinstance(blob, bytes | bytearray) else len(str(blob).encode())
    if "N" in value:
        return len(value["N"])
    if "L" in value:
        return 3 + sum(1 + _value_size(element) for element in value["L"])
    if "M" in value:
        return 3 + sum(len(name.encode()) + 1 + _value_size(element) for name, element in value["M"].items())
    return len(json.dumps(value, default=str))  # sets, booleans and nulls: never less than DynamoDB counts


class AwsStore(Store):
    """Requests in an S3 bucket (documents) and a DynamoDB table (everything that makes them visible),
    and in the same table the contact register, sign-in codes, rate counters, upload slots and unsent mail."""

    def __init__(self, s3: S3Client, dynamodb: DynamoDBClient, bucket: str, table: str) -> None:
        # botocore asks for "100 Continue" before every PUT body and waits up to a second for it, a second
        # more per try when S3 does not answer; a document is a few kilobytes, sent at once.
        s3.meta.events.register("before-send.s3.PutObject", _send_body_at_once, unique_id="sdf-send-body-at-once")
        self.s3 = s3
        self.dynamodb = dynamodb
        self.bucket = bucket
        self.table = table
        self._cursors: CursorCodec | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsStore:
        """The store the settings describe, with its clients created once (a Lambda container reuses them)."""
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        )
        s3_config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
        s3_endpoint = settings.s3_endpoint_url
        if s3_endpoint:  # an S3-compatible server (tests, local runs): path-style
            s3_config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        elif settings.region:
            # The regional endpoint, so presigned uploads go to https://<bucket>.s3.<region>.amazonaws.com,
            # the template's UploadOrigin, which the site's Content-Security-Policy allows.
            s3_endpoint = f"https://s3.{settings.region}.amazonaws.com"
        session = boto3.session.Session()
        s3 = session.client("s3", region_name=settings.region or None, endpoint_url=s3_endpoint, config=s3_config)
        dynamodb = session.client(
            "dynamodb", region_name=settings.region or None, endpoint_url=settings.dynamodb_endpoint_url, config=config
        )
        return cls(s3, dynamodb, settings.bucket, settings.table)

    # The document --------------------------------------------------------------------------------

    def _put_document(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        key = document_key(request_id)
        try:
            with _unavailable_on_transient_errors("writing the document"):
                if replace:
                    self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
                else:
                    # IfNoneMatch="*": S3 refuses the write if the key exists, so a document is never overwritten.
                    self.s3.put_object(
                        Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
                    )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                # Only possible if the id was already used; the submit can be retried with a fresh id.
                raise StorageUnavailable(f"the document for {request_id} already exists") from exc
            raise

    def _remove_document(self, request_id: str) -> None:
        with _unavailable_on_any_error("removing the uncommitted document"):
            self.s3.delete_object(Bucket=self.bucket, Key=document_key(request_id))

    # Pending records -----------------------------------------------------------------------------

    @staticmethod
    def _pending_key(pending: PendingRequest) -> dict[str, AttributeValueTypeDef]:
        return {
            "pk": _s(f"{PENDING}#{shard(pending.request_id)}"),
            "sk": _s(f"{_timestamp(pending.started_at)}#{pending.request_id}"),
        }

    def _record_pending(self, pending: PendingRequest) -> None:
        self._put(
            {
                **self._pending_key(pending),
                "requestId": _s(pending.request_id),
                "startedAt": _s(_timestamp(pending.started_at)),
                "attachmentKeys": {"L": [_s(key) for key in pending.attachment_keys]},
            },
            "recording the request on its way in",
        )

    def _stop_pending(self, pending: PendingRequest) -> bool:
        try:
            with _unavailable_on_transient_errors("stopping the unfinished request"):
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=self._pending_key(pending),
                    UpdateExpression="SET stopped = :yes",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":yes": {"BOOL": True}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _forget_pending(self, pending: PendingRequest) -> None:
        with _unavailable_on_any_error("removing the pending record"):
            self.dynamodb.delete_item(TableName=self.table, Key=self._pending_key(pending))

    def pending_before(self, cutoff: datetime, limit: int | None = None) -> list[PendingRequest]:
        """Pending records started before ``cutoff``, oldest first, from strongly consistent queries."""
        found: list[PendingRequest] = []
        for number in range(SHARDS):
            items = self._query_partition(
                f"{PENDING}#{number}", "sk < :cutoff", {":cutoff": _s(_timestamp(cutoff))}, limit
            )
            found += [
                PendingRequest(
                    _text(item, "requestId"),
                    datetime.fromisoformat(_text(item, "startedAt")),
                    tuple(value["S"] for value in item["attachmentKeys"]["L"]),
                )
                for item in items
            ]
        found.sort(key=lambda pending: (pending.started_at, pending.request_id))
        return found[:limit] if limit is not None else found

    # The index -----------------------------------------------------------------------------------

    def _check_size(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail] = (),
    ) -> None:
        items = self._commit_items(record, idempotency, now, mails, None)
        sizes = [item_size(entry["Put"]["Item"]) for entry in items if "Put" in entry]
        if max(sizes) > ITEM_LIMIT_BYTES or sum(sizes) > TRANSACTION_LIMIT_BYTES:
            raise RequestTooLarge(
                f"request {record.receipt.request_id}: its largest item would be {max(sizes)} bytes "
                f"(DynamoDB takes {ITEM_LIMIT_BYTES}), {sum(sizes)} in all"
            )

    def _commit(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest,
    ) -> None:
        items = self._commit_items(record, idempotency, now, mails, pending)
        try:
            with _unavailable_on_transient_errors("committing the request"):
                self.dynamodb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            self._raise_cancellation(exc, record, idempotency)

    def _commit_items(
        self,
        record: IndexRecord,
        idempotency: IdempotencyRecord | None,
        now: datetime,
        mails: Sequence[QueuedMail],
        pending: PendingRequest | None,
    ) -> list[TransactWriteItemTypeDef]:
        receipt = record.receipt
        received = _timestamp(receipt.received_at)
        request: dict[str, AttributeValueTypeDef] = {
            "pk": _s(f"REQUEST#{receipt.request_id}"),
            "sk": _s("REQUEST"),
            "id": _s(receipt.request_id),
            "reference": _s(receipt.reference),
            "status": _s(receipt.status),
            "form": _s(record.form_id),
            "receivedAt": _s(received),
            "updatedAt": _s(received),
            "documentKey": _s(document_key(receipt.request_id)),
            "kind": _s(f"REQUEST#{shard(receipt.request_id)}"),
            "sortKey": _s(f"{received}#{receipt.request_id}"),
        }
        if record.category is not None:
            request["category"] = _s(record.category)
        if record.title is not None:
            request["title"] = _s(record.title)
        if record.requester is not None:
            request["requester"] = _s(record.requester)
            # Only requests with a requester carry the GSI's keys: the index stays sparse.
            request["requesterKey"] = _s(record.requester)
            request["receivedKey"] = _s(f"{received}#{receipt.request_id}")
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": request,
                    # A new request, never a replacement (the id is a fresh UUID; this makes sure of it).
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": _s(f"REFERENCE#{receipt.reference}"),
                        "sk": _s("REFERENCE"),
                        "requestId": _s(receipt.request_id),
                    },
                    # The reference is unique: if another request holds it, the whole transaction fails.
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if idempotency is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": _s(f"IDEMPOTENCY#{idempotency.key}"),
                            "sk": _s("IDEMPOTENCY"),
                            "fingerprint": _s(idempotency.fingerprint),
                            "requestId": _s(receipt.request_id),
                            "reference": _s(receipt.reference),
                            "status": _s(receipt.status),
                            "receivedAt": _s(received),
                            TTL_ATTRIBUTE: {"N": str(_epoch(idempotency.expires_at))},
                        },
                        # The key is free if nobody holds it, or if its holder expired: TTL deletes
                        # expired items late, so an expired item may still be there and counts as absent.
                        "ConditionExpression": "attribute_not_exists(pk) OR #expires <= :now",
                        "ExpressionAttributeNames": {"#expires": TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {":now": {"N": str(_epoch(now))}},
                    }
                }
            )
        # The first step of the request's history, last so the positions above stay fixed.
        items.append(
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._event_item(receipt.request_id, StatusEvent(receipt.status, receipt.received_at)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )
        # The request's e-mails, queued with it (their INSERTs wake the sender through the stream).
        for mail in mails:
            items += [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in (self._mail_item(mail), self._outbox_entry(mail))
            ]
        # Last: the request is no longer on its way in, unless the sweep stopped it meanwhile.
        if pending is not None:
            items.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": self._pending_key(pending),
                        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(stopped)",
                    }
                }
            )
        return items

    @staticmethod
    def _raise_cancellation(exc: ClientError, record: IndexRecord, idempotency: IdempotencyRecord | None) -> None:
        reasons = _cancellation_reasons(exc)

        def failed(position: int) -> bool:
            return len(reasons) > position and reasons[position] == "ConditionalCheckFailed"

        if idempotency is not None and failed(_IDEMPOTENCY):
            raise IdempotencyKeyTaken(idempotency.key) from exc
        if failed(_REFERENCE):
            raise ReferenceTaken(record.receipt.reference) from exc
        if failed(_REQUEST) or (reasons and reasons[-1] == "ConditionalCheckFailed"):
            # The id is taken (a fresh UUID: never in practice) or the sweep stopped the request as unfinished.
            raise StorageUnavailable(f"request {record.receipt.request_id} cannot be committed: {reasons}") from exc
        if any(code in _RETRYABLE_CANCELLATIONS for code in reasons):
            # Another transaction touched the same items at the same moment (or throttling): retryable.
            raise StorageUnavailable(f"the transaction was cancelled: {reasons}") from exc
        raise exc

    def _find_idempotent(self, key: str, now: datetime) -> IdempotencyRecord | None:
        item = self._get(f"IDEMPOTENCY#{key}", "IDEMPOTENCY", "reading the idempotency key")
        if item is None:
            return None
        expires = int(item[TTL_ATTRIBUTE]["N"])
        if expires <= _epoch(now):  # expired but not yet deleted by TTL: absent
            return None
        request_id = _text(item, "requestId")
        # The key's item keeps the status the request was received with; a replay answers the current one.
        request = self._get(f"REQUEST#{request_id}", "REQUEST", "reading the request")
        receipt = Receipt(
            request_id,
            _text(item, "reference"),
            _text(request or item, "status"),
            datetime.fromisoformat(_text(item, "receivedAt")),
        )
        return IdempotencyRecord(key, _text(item, "fingerprint"), receipt, datetime.fromtimestamp(expires, UTC))

    def get(self, request_id: str) -> StoredRequest | None:
        """The request with this id, joined with its document."""
        item = self._get(f"REQUEST#{request_id}", "REQUEST", "reading the request")
        if item is None:
            return None
        key = _text(item, "documentKey")
        try:
            with _unavailable_on_transient_errors("reading the document"):
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in _MISSING_OBJECT_CODES:
                raise
            # Waiting will not bring it back: an operator must restore it (the bucket keeps old versions).
            log.error(
                "request %s is in the table but its document %s is missing (S3 answered %s)",
                request_id,
                key,
                code,
                extra={"document": request_id, "s3Error": code},
            )
            return None
        document: dict[str, Any] = json.loads(body)
        return StoredRequest(
            receipt=Receipt(
                request_id,
                _text(item, "reference"),
                _text(item, "status"),
                datetime.fromisoformat(_text(item, "receivedAt")),
            ),
            form_id=document["form"],
            category=document["category"],
            requester=document["requester"],
            language=document["language"],
            schema_hash=document["schemaHash"],
            data=document["data"],
            attachments=tuple(document.get("attachments", ())),
        )

    # Items in general ------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str, action: str) -> dict[str, AttributeValueTypeDef] | None:
        with _unavailable_on_transient_errors(action):
            answer = self.dynamodb.get_item(TableName=self.table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True)
        return answer.get("Item")

    def _put(self, item: dict[str, AttributeValueTypeDef], action: str) -> None:
        with _unavailable_on_transient_errors(action):
            self.dynamodb.put_item(TableName=self.table, Item=item)

    def _query_kind(
        self,
        kind: str,
        newest_first: bool = False,
        start: str | None = None,
        end: str | None = None,
    ) -> list[dict[str, AttributeValueTypeDef]]:
        condition = "kind = :kind"
        values: dict[str, AttributeValueTypeDef] = {}
        if start is not None and end is not None:
            condition += " AND sortKey BETWEEN :start AND :end"
        elif start is not None:
            condition += " AND sortKey >= :start"
        elif end is not None:
            condition += " AND sortKey < :end"
        if start is not None:
            values[":start"] = _s(start)
        if end is not None:
            values[":end"] = _s(end)
        found: list[dict[str, AttributeValueTypeDef]] = []
        for number in range(SHARDS):
            arguments: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": KIND_INDEX,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": {**values, ":kind": _s(f"{kind}#{number}")},
            }
            found += self._pages(arguments, f"listing {kind.lower()} items")
        return sorted(found, key=lambda item: _text(item, "sortKey"), reverse=newest_first)

    def _query_partition(
        self, pk: str, condition: str, values: dict[str, AttributeValueTypeDef], limit: int | None = None
    ) -> list[dict[str, AttributeValueTypeDef]]:
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": f"pk = :pk AND {condition}" if condition else "pk = :pk",
            "ExpressionAttributeValues": {**values, ":pk": _s(pk)},
            "ConsistentRead": True,
        }
        return self._pages(arguments, "reading the table", limit)

    def _pages(
        self, arguments: dict[str, Any], action: str, limit: int | None = None
    ) -> list[dict[str, AttributeValueTypeDef]]:
        found: list[dict[str, AttributeValueTypeDef]] = []
        while limit is None or len(found) < limit:
            with _unavailable_on_transient_errors(action):
                answer = self.dynamodb.query(**arguments)
            found += answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                break
            arguments = {**arguments, "ExclusiveStartKey": answer["LastEvaluatedKey"]}
        return found if limit is None else found[:limit]

    # Listing and status ------------------------------------------------------------------------------

    @staticmethod
    def _summary(item: Mapping[str, AttributeValueTypeDef]) -> RequestSummary:
        receipt = Receipt(
            _text(item, "id"),
            _text(item, "reference"),
            _text(item, "status"),
            datetime.fromisoformat(_text(item, "receivedAt")),
        )
        optional = {name: item[name]["S"] if name in item else None for name in ("category", "requester", "title")}
        return RequestSummary(
            receipt,
            _text(item, "form"),
            optional["category"],
            optional["requester"],
            optional["title"],
            datetime.fromisoformat(_text(item, "updatedAt")),
        )

    def summary(self, request_id: str) -> RequestSummary | None:
        """The index record of one request."""
        item = self._get(f"REQUEST#{request_id}", "REQUEST", "reading the request")
        return self._summary(item) if item else None

    def find_reference(self, reference: str) -> str | None:
        """The id of the request with this reference number."""
        item = self._get(f"REFERENCE#{reference.upper()}", "REFERENCE", "reading the reference")
        return _text(item, "requestId") if item else None

    def _cursor_codec(self) -> CursorCodec:
        if self._cursors is None:
            item = self._get(CURSOR_KEY_PK, CURSOR_KEY_SK, "reading the cursor key")
            if item is None:
                try:
                    with _unavailable_on_transient_errors("keeping the cursor key"):
                        self.dynamodb.put_item(
                            TableName=self.table,
                            Item={"pk": _s(CURSOR_KEY_PK), "sk": _s(CURSOR_KEY_SK), "key": {"B": new_cursor_key()}},
                            ConditionExpression="attribute_not_exists(pk)",
                        )
                except ClientError as exc:  # another container put its key first: that one counts
                    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                item = self._get(CURSOR_KEY_PK, CURSOR_KEY_SK, "reading the cursor key")
                if item is None:
                    raise StorageUnavailable("the cursor key was removed while it was being made")
            self._cursors = CursorCodec(bytes(item["key"]["B"]))
        return self._cursors

    def list_for_requester(
        self, requester: str, limit: int, cursor: str | None = None
    ) -> tuple[list[RequestSummary], str | None]:
        """One requester's requests, newest first, from the ``byRequester`` index; no scan."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": REQUESTER_INDEX,
            "KeyConditionExpression": "requesterKey = :requester",
            "ExpressionAttributeValues": {":requester": _s(requester)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            received_at, request_id = self._cursor_codec().unseal(cursor, requester)
            arguments["ExclusiveStartKey"] = {
                "pk": _s(f"REQUEST#{request_id}"),
                "sk": _s("REQUEST"),
                "requesterKey": _s(requester),
                "receivedKey": _s(f"{_timestamp(received_at)}#{request_id}"),
            }
        with _unavailable_on_transient_errors("listing the requester's requests"):
            answer = self.dynamodb.query(**arguments)
        page = [self._summary(item) for item in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            return page, None
        received, _, request_id = _text(answer["LastEvaluatedKey"], "receivedKey").rpartition("#")
        return page, self._cursor_codec().seal(requester, datetime.fromisoformat(received), request_id)

    def list_requests(
        self,
        status: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestSummary]:
        """Every request matching the filters, newest first, from the ``byKind`` index."""
        start = _timestamp(since) if since else None
        end = _timestamp(until) if until else None
        found = (self._summary(item) for item in self._query_kind("REQUEST", newest_first=True, start=start, end=end))
        return [
            s
            for s in found
            if (status is None or s.receipt.status == status) and (category is None or s.category == category)
        ]

    @staticmethod
    def _event_item(request_id: str, event: StatusEvent) -> dict[str, AttributeValueTypeDef]:
        at = _timestamp(event.at)
        item: dict[str, AttributeValueTypeDef] = {
            "pk": _s(f"REQUEST#{request_id}"),
            "sk": _s(f"STATUS#{at}#{uuid.uuid4().hex[:8]}"),
            "status": _s(event.status),
            "at": _s(at),
        }
        if event.agent:
            item["agent"] = _s(event.agent)
        if event.comment:
            item["comment"] = _s(event.comment)
        return item

    def history(self, request_id: str) -> list[StatusEvent]:
        """The request's status changes, oldest first."""
        with _unavailable_on_transient_errors("reading the history"):
            answer = self.dynamodb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :status)",
                ExpressionAttributeValues={":pk": _s(f"REQUEST#{request_id}"), ":status": _s("STATUS#")},
                ConsistentRead=True,
            )
        return [
            StatusEvent(
                _text(item, "status"),
                datetime.fromisoformat(_text(item, "at")),
                item["agent"]["S"] if "agent" in item else None,
                item["comment"]["S"] if "comment" in item else None,
            )
            for item in answer.get("Items", [])
        ]

    def change_status(self, request_id: str, expected: str, event: StatusEvent) -> RequestSummary:
        """Move the request from ``expected`` to the event's status and record the event, in one transaction."""
        key: dict[str, AttributeValueTypeDef] = {"pk": _s(f"REQUEST#{request_id}"), "sk": _s("REQUEST")}
        try:
            with _unavailable_on_transient_errors("changing the status"):
                self.dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": key,
                                "UpdateExpression": "SET #status = :new, updatedAt = :at",
                                # Only from the status the agent saw: a change in between is not overwritten.
                                "ConditionExpression": "attribute_exists(pk) AND #status = :expected",
                                "ExpressionAttributeNames": {"#status": "status"},
                                "ExpressionAttributeValues": {
                                    ":new": _s(event.status),
                                    ":at": _s(_timestamp(event.at)),
                                    ":expected": _s(expected),
                                },
                            }
                        },
                        {"Put": {"TableName": self.table, "Item": self._event_item(request_id, event)}},
                    ]
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            if self.summary(request_id) is None:
                raise RequestNotFound(request_id) from exc
            raise StatusConflict(request_id) from exc
        found = self.summary(request_id)
        assert found is not None
        return found

    # Contact register --------------------------------------------------------------------------------

    @staticmethod
    def _contact(item: Mapping[str, AttributeValueTypeDef]) -> Contact:
        return Contact(
            _text(item, "email"),
            _text(item, "name"),
            _text(item, "phone"),
            _text(item, "organization"),
            tuple(value["S"] for value in item["contactTypes"]["L"]),
            item["securityStamp"]["S"] if "securityStamp" in item else "",
        )

    def get_contact(self, email: str) -> Contact | None:
        """The registered contact with this address (any case)."""
        item = self._get(f"CONTACT#{normalize_email(email)}", "CONTACT", "reading the contact")
        return self._contact(item) if item else None

    def put_contact(self, contact: Contact) -> None:
        """Add a contact with a new security stamp, or replace one and keep its stamp."""
        values: dict[str, AttributeValueTypeDef] = {
            "kind": _s(f"CONTACT#{shard(contact.email)}"),
            "sortKey": _s(contact.email),
            "email": _s(contact.email),
            "name": _s(contact.name),
            "phone": _s(contact.phone),
            "organization": _s(contact.organization),
            "contactTypes": {"L": [_s(t) for t in contact.contact_types]},
        }
        assignments = ", ".join(f"#{name} = :{name}" for name in values)
        with _unavailable_on_transient_errors("writing the contact"):
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": _s(f"CONTACT#{contact.email}"), "sk": _s("CONTACT")},
                UpdateExpression=f"SET {assignments}, #stamp = if_not_exists(#stamp, :stamp)",
                ExpressionAttributeNames={**{f"#{name}": name for name in values}, "#stamp": "securityStamp"},
                ExpressionAttributeValues={
                    **{f":{name}": value for name, value in values.items()},
                    ":stamp": _s(new_security_stamp()),
                },
            )

    def renew_security_stamp(self, email: str) -> str | None:
        """A new security stamp for the contact; None if not registered."""
        stamp = new_security_stamp()
        try:
            with _unavailable_on_transient_errors("renewing the security stamp"):
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": _s(f"CONTACT#{normalize_email(email)}"), "sk": _s("CONTACT")},
                    UpdateExpression="SET securityStamp = :stamp",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":stamp": _s(stamp)},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return stamp

    def remove_contact(self, email: str) -> bool:
        """Remove a contact; whether it existed."""
        with _unavailable_on_transient_errors("removing the contact"):
            answer = self.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": _s(f"CONTACT#{normalize_email(email)}"), "sk": _s("CONTACT")},
                ReturnValues="ALL_OLD",
            )
        return "Attributes" in answer

    def list_contacts(self) -> list[Contact]:
        """All contacts by address."""
        return [self._contact(item) for item in self._query_kind("CONTACT")]

    # Sign-in codes and rate limits --------------------------------------------------------------------

    def put_code(self, code: PendingCode) -> None:
        """Keep the address's new code (replacing the old one); TTL removes it after it expires."""
        self._put(
            {
                "pk": _s(f"CODE#{code.email}"),
                "sk": _s("CODE"),
                "digest": _s(code.digest),
                "attemptsLeft": {"N": str(code.attempts_left)},
                TTL_ATTRIBUTE: {"N": str(_epoch(code.expires_at))},
            },
            "writing the sign-in code",
        )

    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        """Spend one attempt on the unexpired code, atomically; None when none is left."""
        try:
            with _unavailable_on_transient_errors("checking the sign-in code"):
                answer = self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": _s(f"CODE#{email}"), "sk": _s("CODE")},
                    UpdateExpression="SET attemptsLeft = attemptsLeft - :one",
                    # Attempts left, and not expired (TTL deletes late: an expired item still counts as absent).
                    ConditionExpression="attemptsLeft > :zero AND #expires > :now",
                    ExpressionAttributeNames={"#expires": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":zero": {"N": "0"},
                        ":now": {"N": str(_epoch(now))},
                    },
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        item = answer["Attributes"]
        return PendingCode(
            email,
            item["digest"]["S"],
            datetime.fromtimestamp(int(item[TTL_ATTRIBUTE]["N"]), UTC),
            int(item["attemptsLeft"]["N"]),
        )

    def delete_code(self, email: str, digest: str) -> bool:
        """Remove this very code; only one caller can succeed, so a code signs in once."""
        try:
            with _unavailable_on_transient_errors("using the sign-in code"):
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key={"pk": _s(f"CODE#{email}"), "sk": _s("CODE")},
                    ConditionExpression="digest = :digest",
                    ExpressionAttributeValues={":digest": _s(digest)},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        """An atomic counter per key and window; TTL removes old windows."""
        with _unavailable_on_transient_errors("counting"):
            answer = self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": _s(f"COUNTER#{key}"), "sk": _s(_timestamp(window_start))},
                UpdateExpression="ADD hits :one SET #expires = :expires",
                ExpressionAttributeNames={"#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(_epoch(expires_at))}},
                ReturnValues="UPDATED_NEW",
            )
        return int(answer["Attributes"]["hits"]["N"])

    # Mail waiting to be sent --------------------------------------------------------------------

    def queue_mails(self, mails: Sequence[QueuedMail]) -> None:
        """Add or replace messages (unclaimed, unmarked) with their outbox entries; new ones wake the sender."""
        for first in range(0, len(mails), _MAILS_PER_TRANSACTION):
            items: list[TransactWriteItemTypeDef] = [
                {"Put": {"TableName": self.table, "Item": item}}
                for mail in mails[first : first + _MAILS_PER_TRANSACTION]
                for item in (self._mail_item(mail), self._outbox_entry(mail))
            ]
            self._transact(items, "queueing the e-mail")

    @staticmethod
    def _mail_item(mail: QueuedMail) -> dict[str, AttributeValueTypeDef]:
        return {
            "pk": _s(f"MAIL#{mail.id}"),
            "sk": _s("MAIL"),
            "recipients": {"L": [_s(r) for r in mail.recipients]},
            "message": {"B": mail.message},
            "attempts": {"N": str(mail.attempts)},
            "lastError": _s(mail.last_error or "-"),
            "queuedAt": _s(_timestamp(mail.queued_at)),
        }

    @staticmethod
    def _outbox_key(mail_id: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": _s(f"{OUTBOX}#{shard(mail_id)}"), "sk": _s(mail_id)}

    @classmethod
    def _outbox_entry(cls, mail: QueuedMail) -> dict[str, AttributeValueTypeDef]:
        return {**cls._outbox_key(mail.id), "queuedAt": _s(_timestamp(mail.queued_at))}

    def queued_mails(self, limit: int, now: datetime) -> list[QueuedMail]:
        """The oldest messages no sender holds or has sent, by strongly consistent reads of the outbox entries."""
        waiting = [
            (_text(entry, "queuedAt"), _text(entry, "sk"))
            for number in range(SHARDS)
            for entry in self._query_partition(f"{OUTBOX}#{number}", "", {})
        ]
        found: list[QueuedMail] = []
        for _, mail_id in sorted(waiting):
            if len(found) == limit:
                break
            item = self._get(f"MAIL#{mail_id}", "MAIL", "reading the queued e-mail")
            if item is None or "sendingAt" in item:
                continue
            if "claimedUntil" in item and _text(item, "claimedUntil") > _timestamp(now):
                continue
            found.append(
                QueuedMail(
                    mail_id,
                    tuple(value["S"] for value in item["recipients"]["L"]),
                    bytes(item["message"]["B"]),
                    int(item["attempts"]["N"]),
                    "" if _text(item, "lastError") == "-" else _text(item, "lastError"),
                    datetime.fromisoformat(_text(item, "queuedAt")),
                )
            )
        return found

    def claim_mail(self, mail_id: str, until: datetime, now: datetime) -> bool:
        """Take the message for sending: only one sender (stream, schedule or command) gets it."""
        try:
            with _unavailable_on_transient_errors("claiming the e-mail"):
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": _s(f"MAIL#{mail_id}"), "sk": _s("MAIL")},
                    UpdateExpression="SET claimedUntil = :until",
                    # Still queued, not gone out, and nobody holds it (or their hold ran out).
                    ConditionExpression=(
                        "attribute_exists(pk) AND attribute_not_exists(sendingAt)"
                        " AND (attribute_not_exists(claimedUntil) OR claimedUntil <= :now)"
                    ),
                    ExpressionAttributeValues={":until": _s(_timestamp(until)), ":now": _s(_timestamp(now))},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_mail_sending(self, mail_id: str, now: datetime) -> bool:
        """Mark the message as going out and take it out of the outbox (TTL removes it if forgetting fails)."""
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": _s(f"MAIL#{mail_id}"), "sk": _s("MAIL")},
                    "UpdateExpression": "SET sendingAt = :now, #expires = :expires",
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(sendingAt)",
                    "ExpressionAttributeNames": {"#expires": TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": {
                        ":now": _s(_timestamp(now)),
                        ":expires": {"N": str(_epoch(now + SENT_KEPT))},
                    },
                }
            },
            {"Delete": {"TableName": self.table, "Key": self._outbox_key(mail_id)}},
        ]
        try:
            self._transact(items, "marking the e-mail as going out")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                if _cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                    return False
                raise StorageUnavailable(f"marking the e-mail as going out: {exc}") from exc
            raise
        return True

    def forget_mail(self, mail_id: str) -> None:
        """Drop a message that has been sent (or given up) with its outbox entry."""
        self._transact(
            [
                {"Delete": {"TableName": self.table, "Key": {"pk": _s(f"MAIL#{mail_id}"), "sk": _s("MAIL")}}},
                {"Delete": {"TableName": self.table, "Key": self._outbox_key(mail_id)}},
            ],
            "forgetting the sent e-mail",
        )

    def _drop_sent_mail(self, before: datetime) -> int:
        return 0  # TTL removes them (SENT_KEPT after they went out)

    def _transact(self, items: list[TransactWriteItemTypeDef], action: str) -> None:
        try:
            with _unavailable_on_transient_errors(action):
                self.dynamodb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if any(code in _RETRYABLE_CANCELLATIONS for code in reasons):
                raise StorageUnavailable(f"{action}: the transaction was cancelled: {reasons}") from exc
            raise

    # Upload slots -----------------------------------------------------------------------------------

    def put_upload(self, upload: Upload) -> None:
        """Keep a new upload slot; TTL removes it a while after the pending file has expired too."""
        self._put(
            {
                "pk": _s(f"UPLOAD#{upload.id}"),
                "sk": _s("UPLOAD"),
                "requester": _s(upload.requester),
                "form": _s(upload.form_id),
                "field": _s(upload.field),
                "name": _s(upload.name),
                "contentType": _s(upload.content_type),
                "maxBytes": {"N": str(upload.max_bytes)},
                "slotExpiresAt": _s(_timestamp(upload.expires_at)),
                TTL_ATTRIBUTE: {"N": str(_epoch(upload.expires_at + UPLOAD_RECORD_LIFETIME))},
            },
            "keeping the upload slot",
        )

    def get_upload(self, upload_id: str) -> Upload | None:
        """The slot with this id."""
        item = self._get(f"UPLOAD#{upload_id}", "UPLOAD", "reading the upload slot")
        if item is None:
            return None
        return Upload(
            upload_id,
            _text(item, "requester"),
            _text(item, "form"),
            _text(item, "field"),
            _text(item, "name"),
            _text(item, "contentType"),
            int(item["maxBytes"]["N"]),
            datetime.fromisoformat(_text(item, "slotExpiresAt")),
        )


# Upload records outlive the pending file (removed by the bucket's lifecycle rule after a day).
UPLOAD_RECORD_LIFETIME = timedelta(days=3)


class S3Blobs(RequestBlobs):
    """Uploads in the bucket: presigned POSTs bounded by their policy, checks by HEAD and ranged GET."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def upload_target(self, upload: Upload, local_url: str, secret: bytes) -> dict[str, Any]:
        """A presigned POST: the key is fixed, the size and content type bounded, valid until the slot expires."""
        seconds = max(1, int((upload.expires_at - datetime.now(UTC)).total_seconds()))
        with _unavailable_on_transient_errors("signing the upload"):
            post = self.s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=upload.pending_key,
                Fields={"Content-Type": upload.content_type},
                Conditions=[
                    {"Content-Type": upload.content_type},
                    ["content-length-range", upload.max_bytes, upload.max_bytes],
                ],
                ExpiresIn=seconds,
            )
        return {"url": post["url"], "fields": post["fields"]}

    def size(self, key: str) -> int | None:
        """The object's size, or None if there is none."""
        try:
            with _unavailable_on_transient_errors("looking at the upload"):
                return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            # Without s3:ListBucket (which the function is not given) S3 answers 403 for a missing key.
            if exc.response.get("Error", {}).get("Code") in ("403", "404", "NoSuchKey", "NotFound", "Forbidden"):
                return None
            raise

    def head(self, key: str, length: int) -> bytes:
        """The object's first bytes (a ranged GET: the file never passes through whole)."""
        with _unavailable_on_transient_errors("reading the upload"):
            return self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"].read()

    def link(self, upload: Upload) -> str | None:
        """Copy the upload to a new key under ``attachments/`` with its sanitized name as metadata; the
        copy is what gets checked and kept."""
        key = upload.new_attachment_key()
        return key if self.copy_upload(upload, key) else None

    def copy_upload(self, upload: Upload, key: str) -> bool:
        """Copy the upload to ``key`` with its sanitized name as metadata (S3's CopyObject)."""
        try:
            with _unavailable_on_transient_errors("copying the attachment"):
                self.s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": upload.pending_key},
                    MetadataDirective="REPLACE",
                    ContentType=upload.content_type,
                    Metadata={"original-name": quote(upload.name), "requester": quote(upload.requester)},
                )
        except ClientError as exc:
            # Without s3:ListBucket, S3 answers 403 rather than 404 for a source that is not there.
            if exc.response.get("Error", {}).get("Code") in ("403", "404", "NoSuchKey", "AccessDenied"):
                return False
            raise
        return True

    def remove(self, key: str) -> None:
        """Remove an attachment copy (S3 answers the same whether or not it was there)."""
        with _unavailable_on_any_error("removing the attachment copy"):
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def discard(self, key: str) -> None:
        """Remove an attachment copy no request took (best effort)."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            log.warning(
                "could not remove the unused attachment %s: %s",
                key,
                exc,
                extra={"key": key, "failure": type(exc).__name__},
            )

    def download(self, key: str, name: str, content_type: str) -> str:
        """A presigned GET valid for five minutes that saves the file under its name."""
        disposition = f"attachment; filename=\"{quote(name)}\"; filename*=UTF-8''{quote(name)}"
        return self.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=300,
        )
