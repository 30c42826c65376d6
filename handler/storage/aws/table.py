"""The DynamoDB table as plain Python items, and the one place botocore's errors become the store's.

``Table`` turns items into DynamoDB's typed values and back (boto3's ``TypeSerializer`` and
``TypeDeserializer``), reads strongly consistently where DynamoDB can, and makes every write, alone or
in a transaction, through ``Table.write``: a condition that fails is an answer (None, or the caller's
exception), not an error. Throttling, timeouts and outages of DynamoDB or S3 become
``StorageUnavailable`` (``StoreUnreachable`` when the store did not answer at all).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

from handler.storage.base import StorageUnavailable, StoreUnreachable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]

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
_BATCH_GET_KEYS = 100
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def error_code(exc: ClientError) -> str:
    """The error code of a service's answer."""
    return exc.response.get("Error", {}).get("Code", "")


def is_retryable(exc: BaseException) -> bool:
    """Whether a botocore error means the store is unreachable, overloaded or briefly failing."""
    if isinstance(exc, _TRANSPORT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in _RETRYABLE_CODES or status >= 500 or status == 429
    return False


@contextmanager
def unavailable_on_transient_errors(action: str) -> Iterator[None]:
    """Turn a transient failure of ``action`` into ``StorageUnavailable``; others stay as they are."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, _TRANSPORT_ERRORS):
            raise StoreUnreachable(f"{action}: {exc}") from exc
        if is_retryable(exc):
            raise StorageUnavailable(f"{action}: {exc}") from exc
        raise


@contextmanager
def unavailable_on_any_error(action: str) -> Iterator[None]:
    """For removals: whatever stops one (even denied access) leaves the pending record for the sweep."""
    try:
        with unavailable_on_transient_errors(action):
            yield
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"{action}: {exc}") from exc


def attribute_values(item: Mapping[str, Any]) -> Item:
    """An item as DynamoDB's typed values; an attribute that is None is left out."""
    return {name: _serializer.serialize(value) for name, value in item.items() if value is not None}


def item_size(item: Mapping[str, Any]) -> int:
    """The bytes DynamoDB counts for an item of typed values (numbers at one byte per digit, a little over)."""
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


@dataclass(frozen=True)
class Write:
    """One write: ``Put`` the item, or ``Update`` or ``Delete`` the item at that key, if ``condition`` holds.

    ``#name`` in the expressions stands for the attribute ``name``; ``values`` gives the ``:value``s.
    """

    kind: Literal["Put", "Update", "Delete"]
    item: Item
    condition: str = ""
    update: str = ""
    values: Item = field(default_factory=dict)


class Table:
    """One DynamoDB table, its items as plain dicts (numbers come back as ``Decimal``, bytes as ``Binary``)."""

    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self.client = client
        self.name = name

    def _expressions(self, values: Item, *expressions: str) -> Item:
        arguments: Item = {"TableName": self.name}
        if names := {f"#{name}": name for name in re.findall(r"#(\w+)", " ".join(expressions))}:
            arguments["ExpressionAttributeNames"] = names
        if values:
            arguments["ExpressionAttributeValues"] = attribute_values(values)
        return arguments

    def _arguments(self, write: Write) -> Item:
        arguments = self._expressions(write.values, write.condition, write.update)
        arguments["Item" if write.kind == "Put" else "Key"] = attribute_values(write.item)
        if write.condition:
            arguments["ConditionExpression"] = write.condition
        if write.update:
            arguments["UpdateExpression"] = write.update
        return arguments

    def get(self, key: Item, action: str) -> Item | None:
        """The item at ``key``, strongly consistent."""
        with unavailable_on_transient_errors(action):
            answer = self.client.get_item(TableName=self.name, Key=attribute_values(key), ConsistentRead=True)
        return _plain(answer["Item"]) if "Item" in answer else None

    def get_many(self, keys: Sequence[Item], action: str) -> list[Item]:
        """The items at ``keys`` that exist, strongly consistent, in no particular order."""
        found: list[Item] = []
        for first in range(0, len(keys), _BATCH_GET_KEYS):
            batch = [attribute_values(key) for key in keys[first : first + _BATCH_GET_KEYS]]
            request: Any = {self.name: {"Keys": batch, "ConsistentRead": True}}
            while request:  # each answer serves some of the keys or raises, so this ends
                with unavailable_on_transient_errors(action):
                    answer = self.client.batch_get_item(RequestItems=request)
                found += map(_plain, answer["Responses"].get(self.name, []))
                request = answer.get("UnprocessedKeys")
        return found

    def page(
        self,
        action: str,
        condition: str,
        values: Item,
        *,
        index: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        after: Item | None = None,
    ) -> tuple[list[Item], Item | None]:
        """One page of a query (strongly consistent on the table itself) and the key to go on after, if any."""
        arguments = self._expressions(values, condition)
        arguments.update(KeyConditionExpression=condition, ScanIndexForward=not newest_first)
        arguments.update({"IndexName": index} if index else {"ConsistentRead": True})
        if limit is not None:
            arguments["Limit"] = limit
        if after is not None:
            arguments["ExclusiveStartKey"] = attribute_values(after)
        with unavailable_on_transient_errors(action):
            answer = self.client.query(**arguments)
        last = answer.get("LastEvaluatedKey")
        return [_plain(item) for item in answer.get("Items", [])], _plain(last) if last else None

    def query(
        self, action: str, condition: str, values: Item, *, index: str | None = None, limit: int | None = None
    ) -> list[Item]:
        """The items a query finds, page after page (the first ``limit`` of them)."""
        found: list[Item] = []
        after: Item | None = None
        while limit is None or len(found) < limit:
            items, after = self.page(action, condition, values, index=index, after=after)
            found += items
            if after is None:
                break
        return found[:limit]

    def write(
        self,
        action: str,
        *writes: Write,
        returns: Literal["NONE", "ALL_OLD", "UPDATED_NEW", "ALL_NEW"] = "NONE",
        refused: Callable[[list[int]], Exception] | None = None,
        conflicted: Callable[[list[int]], Exception | None] | None = None,
    ) -> Item | None:
        """Make ``writes`` (several in one transaction) and answer the attributes ``returns`` asks for of one.

        When a condition fails nothing is written and the answer is None, or ``refused`` given the positions of
        the writes whose condition failed makes the exception to raise. A transaction cancelled by a conflict
        raises what ``conflicted`` makes of the positions in conflict, if anything; that and throttling
        otherwise raise ``StorageUnavailable``.
        """
        try:
            with unavailable_on_transient_errors(action):
                if len(writes) > 1:
                    items: Any = [{write.kind: self._arguments(write)} for write in writes]
                    self.client.transact_write_items(TransactItems=items)
                    return {}
                (only,) = writes
                arguments = {**self._arguments(only), "ReturnValues": returns}
                if only.kind == "Put":
                    answer = self.client.put_item(**arguments)
                elif only.kind == "Update":
                    answer = self.client.update_item(**arguments)
                else:
                    answer = self.client.delete_item(**arguments)
                return _plain(answer.get("Attributes", {}))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                reasons = ["ConditionalCheckFailed"]
            elif error_code(exc) == "TransactionCanceledException":
                reasons = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]
            else:
                raise
            if failed := [position for position, code in enumerate(reasons) if code == "ConditionalCheckFailed"]:
                if refused is not None:
                    raise refused(failed) from exc
                return None
            in_conflict = [position for position, code in enumerate(reasons) if code == "TransactionConflict"]
            if in_conflict and conflicted is not None and (raised := conflicted(in_conflict)):
                raise raised from exc
            if any(code in _RETRYABLE_CANCELLATIONS for code in reasons):
                # Another transaction touched the same items at the same moment (or throttling): retryable.
                raise StorageUnavailable(f"{action}: the transaction was cancelled: {reasons}") from exc
            raise


def _plain(item: Mapping[str, Any]) -> Item:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
