"""Attachments: upload slots, where uploaded files are kept, and the checks before a request takes them.

Files never pass through the handler on AWS: the page asks for a slot, gets a presigned S3 POST
bounded in size and content type, and sends the file straight to the bucket under a pending prefix.
A slot is for one file of the size and type it declares, and its name ends with an extension of that
type. On submit, each named upload is checked (whose it is, that it exists, that it is exactly the
declared size, its real type by its first bytes) and copied under ``attachments/`` before the
request is committed; the first request that takes an upload uses it up.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from handler.schema.model import Field

UPLOAD_LIFETIME = timedelta(minutes=10)  # how long a slot may be used to upload
# How long an upload no request has taken is kept (the bucket's lifecycle rule; the local cleanup);
# the page treats an upload as gone a little earlier, so a draft never names one that has just expired.
PENDING_KEPT = timedelta(days=1)
PENDING_TRUSTED = PENDING_KEPT - timedelta(hours=2)
SNIFF_BYTES = 8192
# Types whose files are ZIP or OLE containers: a sniffer may only see the container.
_OOXML = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_OLE = {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
_TEXT = {"text/plain", "text/csv"}
_ALIASES = {"video/x-m4v": "video/mp4"}


class UploadRefused(Exception):
    """An upload slot or an uploaded file is refused; ``keyword`` says why, ``value`` names the file."""

    def __init__(self, keyword: str, value: str = "", limit: str | None = None) -> None:
        super().__init__(keyword)
        self.keyword = keyword
        self.value = value
        self.limit = limit


@dataclass(frozen=True)
class Upload:
    """A slot for one file: where it goes, its type and exact declared size (``max_bytes``), until when."""

    id: str
    requester: str
    form_id: str
    field: str
    name: str
    content_type: str
    max_bytes: int
    expires_at: datetime

    @property
    def size(self) -> int:
        """The declared size, which the uploaded file must have."""
        return self.max_bytes

    @property
    def created_at(self) -> datetime:
        """When the slot was given out."""
        return self.expires_at - UPLOAD_LIFETIME

    @property
    def pending_key(self) -> str:
        """Where the browser puts the file (a prefix the bucket's lifecycle rule empties)."""
        return f"uploads/pending/{self.id}"


@dataclass(frozen=True)
class Limits:
    """A field's upload limits, from its ``x-upload`` in the schema."""

    max_bytes: int
    types: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, field: Field) -> Limits:
        """The limits of an attachments field."""
        raw = field.schema["x-upload"]
        return cls(int(raw["maxBytes"]), {t: tuple(e) for t, e in raw["types"].items()})

    def human_size(self) -> str:
        """The size limit as people write it, like ``25 MB``."""
        return (
            f"{self.max_bytes // (1024 * 1024)} MB" if self.max_bytes >= 1024 * 1024 else f"{self.max_bytes // 1024} KB"
        )


def sanitize_name(name: str) -> str:
    """A file name safe to show and to put in a header: no folders, no control or odd characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r'[<>:"|?*;]', "_", name).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if dot and len(extension) <= 10:
        return f"{stem[: 119 - len(extension)]}.{extension}" if stem else f"file.{extension}"
    return name[:120] or "file"


def typed_name(name: str, extensions: Iterable[str]) -> str:
    """``name`` if it ends with one of ``extensions`` (any case), else ``name`` with the first appended."""
    allowed = tuple(extensions)
    if not allowed or name.lower().endswith(tuple(e.lower() for e in allowed)):
        return name
    return name[: 120 - len(allowed[0])] + allowed[0]


def new_upload(
    requester: str, form_id: str, field: Field, name: str, content_type: str, size: Any, now: datetime
) -> Upload:
    """A slot for a file of exactly ``size`` bytes named with its type's extension; ``UploadRefused`` if not allowed."""
    limits = Limits.of(field)
    clean = sanitize_name(name)
    if content_type not in limits.types:
        raise UploadRefused("x-upload-type", clean)
    if isinstance(size, int) and not isinstance(size, bool) and size == 0:
        raise UploadRefused("x-upload-empty", clean)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size > limits.max_bytes:
        raise UploadRefused("x-upload-size", clean, limits.human_size())
    return Upload(
        secrets.token_urlsafe(24),
        requester,
        form_id,
        field.name,
        typed_name(clean, limits.types[content_type]),
        content_type,
        size,
        now + UPLOAD_LIFETIME,
    )


def size_refusal(upload: Upload, size: int, limits: Limits) -> UploadRefused | None:
    """Why a stored file of ``size`` bytes does not fit its slot, or None when it is the declared size."""
    if size == 0:
        return UploadRefused("x-upload-empty", upload.name)
    if size > limits.max_bytes:
        return UploadRefused("x-upload-size", upload.name, limits.human_size())
    return UploadRefused("x-upload-failed", upload.name) if size != upload.size else None


def exact_chunks(chunks: Iterable[bytes], upload: Upload) -> Iterator[bytes]:
    """The chunks of an uploaded file; ``UploadRefused`` when it is empty, shorter or longer than declared."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > upload.size:
            raise UploadRefused("x-upload-size", upload.name)
        yield chunk
    if received != upload.size:
        raise UploadRefused("x-upload-empty" if received == 0 else "x-upload-failed", upload.name)


def content_matches(declared: str, head: bytes) -> bool:
    """Whether a file's first bytes show it really is of the declared type."""
    import filetype  # type: ignore[import-untyped]  # only a request with files needs it, not every cold start

    if declared in _TEXT:
        if b"\x00" in head or filetype.guess_mime(head):
            return False
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is fine
            if exc.start < len(head) - 3:
                return False
        return True
    detected = filetype.guess_mime(head)
    detected = _ALIASES.get(detected, detected)
    if detected == _ALIASES.get(declared, declared):
        return True
    if declared in _OOXML:
        return detected in ("application/zip", *_OOXML) and head.startswith(b"PK\x03\x04")
    return declared in _OLE and (detected in _OLE or head.startswith(bytes.fromhex("d0cf11e0a1b11ae1")))


def slot_signature(secret: bytes, upload: Upload) -> str:
    """Signs a local upload slot, like a presigned POST's policy signature on S3."""
    message = f"{upload.id}\n{upload.content_type}\n{upload.max_bytes}\n{int(upload.expires_at.timestamp())}"
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


class UploadClaims(Protocol):
    """What marking an upload as taken needs of the store."""

    def claim_upload(self, mark: Upload) -> Upload:
        """Keep ``mark`` unless a slot with its id is kept already, in one conditional write; the kept one."""


def taken_too_late(upload: Upload, now: datetime) -> bool:
    """Whether the upload is older than uploads are kept for (no request may take it any more)."""
    return now >= upload.created_at + PENDING_KEPT


def take_upload(store: UploadClaims, upload: Upload, taker: str | None) -> bool:
    """Mark the upload as used: True for the first taker and that ``taker``'s retries (the same idempotency
    key, however often and however concurrently it is sent), False for any other."""
    # One conditional write of a record under an id no request can name (ids are letters, digits, - and _)
    # that says who took it, so a fault can never fall between taking it and saying who did. A taker
    # without a key is one nobody else can be.
    digest = hashlib.sha256(taker.encode()).hexdigest() if taker else secrets.token_hex(32)
    mark = replace(upload, id=f"{upload.id}.taken", name=digest, content_type="application/x-taken", max_bytes=0)
    return hmac.compare_digest(store.claim_upload(mark).name, digest)


class UploadRegistry(ABC):
    """Where upload slots are kept, so a submit can tell whose an upload is."""

    @abstractmethod
    def put_upload(self, upload: Upload) -> None:
        """Keep a new slot."""

    @abstractmethod
    def get_upload(self, upload_id: str) -> Upload | None:
        """The slot with this id, if any."""

    @abstractmethod
    def claim_upload(self, mark: Upload) -> Upload:
        """Keep ``mark`` unless a slot with its id is kept already, in one conditional write; the kept one."""


class UploadReceiver(Protocol):
    """The embedded default's stand-in for the bucket's presigned POST: it takes the files itself."""

    def receive(self, upload: Upload, chunks: Iterable[bytes]) -> None:
        """Keep the file for ``upload``; nothing is left of a file the chunks refuse."""

    def remove_abandoned(self, older_than: datetime) -> int:
        """Delete uploads no request took, last changed before ``older_than``; how many."""


class Blobs(ABC):
    """Where uploaded files are kept: S3 on AWS, a folder in the embedded default."""

    @abstractmethod
    def upload_target(self, upload: Upload, local_url: str, secret: bytes) -> dict[str, Any]:
        """Where and how the browser sends the file: ``{"url", "fields"}`` for a multipart POST."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The stored file's size, or None if there is none."""

    @abstractmethod
    def head(self, key: str, length: int) -> bytes:
        """The file's first ``length`` bytes."""

    @abstractmethod
    def download(self, key: str, name: str, content_type: str) -> str:
        """Where an agent gets the file: a presigned address or a local path."""
