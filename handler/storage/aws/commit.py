"""A request's commit on AWS: every item that makes it visible, in one DynamoDB transaction, each write with its
condition; and the check, before its document is written, that the transaction fits DynamoDB's limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from handler.mail import QueuedMail
from handler.storage.aws import records
from handler.storage.aws.forwards import forward_job_item
from handler.storage.aws.table import Table, Write, attribute_values, item_size
from handler.storage.request import (
    IdempotencyKeyBusy,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    IndexRecord,
    PendingRequest,
    ReferenceTaken,
    RequestTooLarge,
    StatusEvent,
    StorageUnavailable,
)

# DynamoDB's limits on one item and on all the items of one transaction.
ITEM_LIMIT_BYTES = 400 * 1024
TRANSACTION_LIMIT_BYTES = 4 * 1024 * 1024
# Positions of the writes in the commit transaction whose failed condition says what was taken.
_REFERENCE, _IDEMPOTENCY = 1, 2
NEW = "attribute_not_exists(pk)"


def check_size(
    record: IndexRecord,
    idempotency: IdempotencyRecord | None,
    now: datetime,
    mails: Sequence[QueuedMail] = (),
) -> None:
    """Raise ``RequestTooLarge`` if the commit's largest item or all its items together pass DynamoDB's limits."""
    writes = commit_writes(record, idempotency, now, mails, None, "")
    sizes = [item_size(attribute_values(write.item)) for write in writes if write.kind == "Put"]
    if max(sizes) > ITEM_LIMIT_BYTES or sum(sizes) > TRANSACTION_LIMIT_BYTES:
        raise RequestTooLarge(
            f"request {record.receipt.request_id}: its largest item would be {max(sizes)} bytes "
            f"(DynamoDB takes {ITEM_LIMIT_BYTES}), {sum(sizes)} in all"
        )


def commit(
    table: Table,
    record: IndexRecord,
    idempotency: IdempotencyRecord | None,
    now: datetime,
    mails: Sequence[QueuedMail],
    pending: PendingRequest,
    forward_to: str = "",
) -> None:
    """Write the commit's transaction; raises what its failed conditions say was taken."""

    def refused(failed: list[int]) -> Exception:
        if idempotency is not None and _IDEMPOTENCY in failed:
            return IdempotencyKeyTaken(idempotency.key)
        if _REFERENCE in failed:
            return ReferenceTaken(record.receipt.reference)
        # The id is taken (a fresh UUID: never in practice) or the sweep stopped the request as unfinished.
        return StorageUnavailable(f"request {record.receipt.request_id} cannot be committed: {failed} refused")

    def conflicted(positions: list[int]) -> Exception | None:
        # A racer with the same key is committing: the caller answers without waiting for it.
        return IdempotencyKeyBusy(idempotency.key) if idempotency and _IDEMPOTENCY in positions else None

    writes = commit_writes(record, idempotency, now, mails, pending, forward_to)
    table.write("committing the request", *writes, refused=refused, conflicted=conflicted)


def commit_writes(
    record: IndexRecord,
    idempotency: IdempotencyRecord | None,
    now: datetime,
    mails: Sequence[QueuedMail],
    pending: PendingRequest | None,
    forward_to: str,
) -> list[Write]:
    """The commit's writes, the request's item and its reference's first, each with its condition."""
    receipt = record.receipt
    # The request is new (its id a fresh UUID; this makes sure) and its reference unique.
    writes = [Write("Put", records.request_item(record), NEW), Write("Put", records.reference_item(receipt), NEW)]
    if idempotency is not None:
        # The key is free if nobody holds it, or if its holder expired: TTL deletes expired items
        # late, so an expired item may still be there and counts as absent.
        free = f"{NEW} OR #{records.TTL_ATTRIBUTE} <= :now"
        now_value = {":now": records.epoch(now)}
        writes.append(Write("Put", records.idempotency_item(idempotency), free, values=now_value))
    # The first step of the request's history, then its e-mails with their outbox entries (their
    # INSERTs wake the sender through the stream): after the positions above, which stay fixed.
    first = records.event_item(receipt.request_id, StatusEvent(receipt.status, receipt.received_at))
    items = [first] + [item for mail in mails for item in (records.mail_item(mail), records.outbox_entry(mail))]
    if forward_to:  # its INSERT wakes the worker through the stream, as a queued e-mail's does
        items.append(forward_job_item(receipt.request_id, forward_to, now))
    writes += [Write("Put", item, NEW) for item in items]
    if pending is not None:
        # Last: the request is no longer on its way in, unless the sweep stopped it meanwhile.
        on_its_way = "attribute_exists(pk) AND attribute_not_exists(stopped)"
        writes.append(Write("Delete", records.pending_key(pending), on_its_way))
    return writes
