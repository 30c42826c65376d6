"""Files that come with a request or a message: an upload taken from its slot, or a file that came with a mail, each
copied to the key its request or message chose and checked there (what was checked is what is kept)."""

from __future__ import annotations

import secrets
from datetime import datetime

from handler.schema.model import Field, Form
from handler.storage.base import Attachment, RequestBlobs
from handler.uploads import (
    SNIFF_BYTES,
    Limits,
    Upload,
    UploadRefused,
    UploadRegistry,
    content_matches,
    sanitize_name,
    size_refusal,
    taken_too_late,
    typed_name,
)


def attachments_field(form: Form) -> Field | None:
    """The form's field that takes files for every service (else its first one that takes files), if any: the
    limits a message's files are held to."""
    taking = [field for field in form.fields if field.value_kind == "uploads"]
    return next((field for field in taking if field.always_shown), taking[0] if taking else None)


def copy_upload(
    blobs: RequestBlobs,
    uploads: UploadRegistry,
    upload_id: str,
    requester: str,
    form_id: str,
    field: Field,
    key: str,
    now: datetime,
) -> tuple[Upload, Attachment]:
    """Copy the upload ``upload_id`` to ``key`` and check the copy: whose it is, that it has its declared size and
    its real type is the declared one; the upload and its copy. ``UploadRefused`` says why not (the copy, if made,
    is the caller's to remove).
    """
    upload = uploads.get_upload(upload_id)
    if (
        upload is None
        or upload.requester != requester
        or (upload.form_id, upload.field) != (form_id, field.name)
        or taken_too_late(upload, now)
    ):
        raise UploadRefused("x-upload")
    if not blobs.copy_upload(upload, key):
        raise UploadRefused("x-upload-failed", upload.name)
    size = blobs.size(key) or 0
    if refused := size_refusal(upload, size, Limits.of(field)):
        raise refused
    if not content_matches(upload.content_type, blobs.head(key, SNIFF_BYTES)):
        raise UploadRefused("x-upload-content", upload.name)
    return upload, Attachment(upload.id, upload.name, upload.content_type, size, key)


def keep_mail_file(
    blobs: RequestBlobs, field: Field, name: str, content_type: str, content: bytes, key: str
) -> Attachment:
    """Check a file that came with a mail as an upload to ``field`` is checked, then keep it at ``key``."""
    limits = Limits.of(field)
    clean = sanitize_name(name)
    if content_type not in limits.types:
        raise UploadRefused("x-upload-type", clean)
    if not content:
        raise UploadRefused("x-upload-empty", clean)
    if len(content) > limits.max_bytes:
        raise UploadRefused("x-upload-size", clean, limits.human_size())
    if not content_matches(content_type, content[:SNIFF_BYTES]):
        raise UploadRefused("x-upload-content", clean)
    named = typed_name(clean, limits.types[content_type])
    blobs.put(key, content, named, content_type)
    return Attachment(secrets.token_urlsafe(24), named, content_type, len(content), key)
