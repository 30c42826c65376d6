"""Attaching files: a slot for each file, and (embedded default only) receiving the file for a slot."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handler.codes import Code
from handler.contacts import ContactRegister
from handler.refusals import Refused
from handler.schema.catalog import Catalog
from handler.schema.model import FieldError
from handler.signin import SignInState
from handler.storage.base import RequestBlobs
from handler.uploads import (
    Upload,
    UploadReceiver,
    UploadRefused,
    UploadRegistry,
    exact_chunks,
    new_upload,
    slot_signature,
)
from handler.usecases.authorizing import authorized_contact
from handler.usecases.envelope import object_with

UPLOADS_PER_HOUR = 100  # upload slots one contact may ask for in an hour
SLOT_KEYS = ("form", "field", "name", "type", "size")


@dataclass(frozen=True)
class Uploading:
    """What taking files works with, built once by the container."""

    catalog: Catalog
    contacts: ContactRegister
    uploads: UploadRegistry
    counters: SignInState  # the hourly count of slots per contact
    blobs: RequestBlobs  # where a slot's file goes (a presigned POST to the bucket, or the embedded receiver)
    receiver: UploadReceiver | None  # takes the files itself (the embedded default); None on AWS
    clock: Callable[[], datetime]
    secret: bytes


@dataclass(frozen=True)
class Slot:
    """A new slot, and where and how the browser sends its file (``{"url", "fields"}``)."""

    upload: Upload
    target: dict[str, Any]


def new_slot(use: Uploading, body: Any, requester: str, language: str, local_url: Callable[[str], str]) -> Slot:
    """A slot for one file of the declared name, type and size in an attachments field of a form the
    requester may send; ``local_url`` gives the address where the embedded default takes an upload's file."""
    body = object_with(body, SLOT_KEYS, use.catalog, language)
    form = use.catalog.forms.get(body["form"]) if isinstance(body["form"], str) else None
    field = form.field(body["field"]) if form and isinstance(body["field"], str) else None
    if form is None or field is None or field.value_kind != "uploads":
        message = use.catalog.api_text(language, Code.UNKNOWN_FORM)
        raise Refused(Code.UNKNOWN_FORM, [FieldError(None, "/field", "enum", message)])
    authorized_contact(use.contacts, requester, form, language)
    now = use.clock()
    window = datetime.fromtimestamp(now.timestamp() // 3600 * 3600, now.tzinfo)
    if use.counters.count(f"uploads:{requester}", window, window + timedelta(hours=1)) > UPLOADS_PER_HOUR:
        raise Refused(Code.TOO_MANY_UPLOADS, retry_after=int((window + timedelta(hours=1) - now).total_seconds()) or 1)
    if not isinstance(body["name"], str) or not isinstance(body["type"], str):
        raise Refused(Code.INVALID_BODY)
    try:
        upload = new_upload(requester, form.id, field, body["name"], body["type"], body["size"], now)
    except UploadRefused as exc:
        message = form.message(language, field.name, exc.keyword, value=exc.value, limit=exc.limit)
        member = "/type" if exc.keyword == "x-upload-type" else "/size"  # the member of the slot's body at fault
        raise Refused(Code.VALIDATION_FAILED, [FieldError(field.name, member, exc.keyword, message)]) from exc
    use.uploads.put_upload(upload)
    return Slot(upload, use.blobs.upload_target(upload, local_url(upload.id), use.secret))


def receivable(use: Uploading, upload_id: str, declared_length: str) -> Upload:
    """The slot a file is being sent for, before its body is read: refused when the embedded default
    does not take files, the slot is unknown, or the body cannot fit it."""
    if use.receiver is None:
        raise Refused(Code.NOT_FOUND)  # on AWS files go straight to the bucket
    upload = use.uploads.get_upload(upload_id)
    if upload is None:
        raise Refused(Code.UPLOAD_REFUSED)
    if not declared_length.isdigit() or int(declared_length) > upload.max_bytes + 65536:
        raise Refused(Code.PAYLOAD_TOO_LARGE)
    return upload


def receive_file(
    use: Uploading, upload: Upload, fields: Mapping[str, str], chunks: Iterable[bytes] | None, language: str
) -> None:
    """Keep the file sent for ``upload`` if its signed form fields match the unexpired slot and it is
    exactly the declared size (the embedded default's stand-in for a presigned S3 POST)."""
    assert use.receiver is not None  # checked by ``receivable``
    if (
        chunks is None
        or use.clock() > upload.expires_at
        or not hmac.compare_digest(fields.get("signature", "").encode(), slot_signature(use.secret, upload).encode())
        or fields.get("Content-Type") != upload.content_type
        or fields.get("expires") != str(int(upload.expires_at.timestamp()))
    ):
        raise Refused(Code.UPLOAD_REFUSED)
    try:
        use.receiver.receive(upload, exact_chunks(chunks, upload))
    except ValueError as exc:
        raise Refused(Code.PAYLOAD_TOO_LARGE) from exc
    except UploadRefused as exc:
        if exc.keyword == "x-upload-size":
            raise Refused(Code.PAYLOAD_TOO_LARGE) from exc
        if exc.keyword != "x-upload-empty":
            raise Refused(Code.UPLOAD_REFUSED) from exc  # shorter than the slot declared
        message = use.catalog.forms[upload.form_id].message(language, upload.field, exc.keyword, value=exc.value)
        raise Refused(
            Code.VALIDATION_FAILED, [FieldError(upload.field, f"/{upload.field}", exc.keyword, message)]
        ) from exc
