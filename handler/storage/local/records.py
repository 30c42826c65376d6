"""The embedded store's rows as the domain's objects: ``x_row(x)`` writes one, ``x(row)`` reads it back.

Times are ``isoformat()`` strings (pending records and sending marks in UTC, see ``db.utc``), lists JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handler.contacts import Contact
from handler.mail import QueuedMail
from handler.signin import PendingCode
from handler.storage.base import IdempotencyRecord, IndexRecord, PendingRequest, Receipt, RequestSummary, StatusEvent
from handler.storage.local.db import utc
from handler.uploads import Upload

Row = Sequence[Any]

SUMMARY = "SELECT id, reference, status, received_at, form_id, category, requester, title, updated_at FROM requests"
# The summary's columns and the request's document (NULL for a request whose document is a file).
SUMMARY_AND_DOCUMENT = SUMMARY.replace(
    " FROM requests", ", (SELECT body FROM documents WHERE documents.request_id = requests.id) FROM requests"
)
CONTACT_COLUMNS = "email, name, phone, organization, contact_types, security_stamp"
MAIL_COLUMNS = "id, recipients, message, attempts, last_error, queued_at"
PENDING_COLUMNS = "request_id, started_at, attachment_keys"
EVENT_COLUMNS = "status, at, agent, comment"
IDEMPOTENCY_COLUMNS = "k.fingerprint, k.expires_at, r.id, r.reference, r.status, r.received_at"


def request_row(record: IndexRecord) -> Row:
    """A new request's row of ``requests``, in the table's column order."""
    receipt = record.receipt
    received = receipt.received_at.isoformat()
    return (
        receipt.request_id,
        receipt.reference,
        record.form_id,
        record.category,
        receipt.status,
        record.requester,
        record.title,
        received,
        received,
    )


def summary(row: Row) -> RequestSummary:
    request_id, reference, status, received_at, form_id, category, requester, title, updated_at = row
    receipt = Receipt(request_id, reference, status, datetime.fromisoformat(received_at))
    return RequestSummary(receipt, form_id, category, requester, title, datetime.fromisoformat(updated_at))


def idempotency(key: str, row: Row) -> IdempotencyRecord:
    """A row of ``IDEMPOTENCY_COLUMNS``: the key joined with its request as it is now."""
    fingerprint, expires_at, request_id, reference, status, received_at = row
    receipt = Receipt(request_id, reference, status, datetime.fromisoformat(received_at))
    return IdempotencyRecord(key, fingerprint, receipt, datetime.fromisoformat(expires_at))


def event(row: Row) -> StatusEvent:
    status, at, agent, comment = row
    return StatusEvent(status, datetime.fromisoformat(at), agent, comment)


def pending_row(pending: PendingRequest) -> Row:
    return pending.request_id, utc(pending.started_at), json.dumps(pending.attachment_keys)


def pending(row: Row) -> PendingRequest:
    return PendingRequest(row[0], datetime.fromisoformat(row[1]), tuple(json.loads(row[2])))


def contact_row(contact: Contact, stamp: str) -> Row:
    """A contact as ``CONTACT_COLUMNS``, with the security stamp it gets if it is new."""
    return contact.email, contact.name, contact.phone, contact.organization, json.dumps(contact.contact_types), stamp


def contact(row: Row) -> Contact:
    return Contact(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5])


def code_row(code: PendingCode) -> Row:
    return code.email, code.digest, code.expires_at.isoformat(), code.attempts_left, code.nonce


def code(email: str, row: Row) -> PendingCode:
    """The digest, expiry, attempts left and nonce of an address's code."""
    return PendingCode(email, row[0], datetime.fromisoformat(row[1]), row[2], row[3])


def mail_row(mail: QueuedMail) -> Row:
    return (
        mail.id,
        json.dumps(mail.recipients),
        mail.message,
        mail.attempts,
        mail.last_error,
        mail.queued_at.isoformat(),
    )


def mail(row: Row) -> QueuedMail:
    return QueuedMail(row[0], tuple(json.loads(row[1])), bytes(row[2]), row[3], row[4], datetime.fromisoformat(row[5]))


def upload_row(upload: Upload) -> Row:
    """An upload slot's row of ``uploads``, in the table's column order."""
    return (
        upload.id,
        upload.requester,
        upload.form_id,
        upload.field,
        upload.name,
        upload.content_type,
        upload.max_bytes,
        upload.expires_at.isoformat(),
    )


def upload(row: Row) -> Upload:
    upload_id, requester, form_id, field, name, content_type, max_bytes, expires_at = row
    return Upload(
        upload_id, requester, form_id, field, name, content_type, max_bytes, datetime.fromisoformat(expires_at)
    )
