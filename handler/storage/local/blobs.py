"""Uploaded files and attachment copies in a folder of the embedded store."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from handler.storage.base import RequestBlobs, StorageUnavailable
from handler.storage.local.db import private_folder
from handler.uploads import Upload, slot_signature


class LocalBlobs(RequestBlobs):
    """Uploaded files in a folder; the local server's upload address stands in for S3's presigned POST."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        """The file for a key (keys are made by the handler, never by a client)."""
        return self.folder / key

    def upload_target(self, upload: Upload, local_url: str, secret: bytes) -> dict[str, Any]:
        """The local server's upload address with a signed slot."""
        return {
            "url": local_url,
            "fields": {
                "Content-Type": upload.content_type,
                "expires": str(int(upload.expires_at.timestamp())),
                "signature": slot_signature(secret, upload),
            },
        }

    def receive(self, upload: Upload, chunks: Any) -> None:
        """Write an uploaded file, refusing it past the size limit; nothing is left of a refused file."""
        target = self.path(upload.pending_key)
        private_folder(target.parent)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        written = 0
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if written > upload.max_bytes:
                        raise ValueError("too large")
                    out.write(chunk)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def size(self, key: str) -> int | None:
        """The file's size, if it exists."""
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def head(self, key: str, length: int) -> bytes:
        """The first bytes of the file."""
        with self.path(key).open("rb") as source:
            return source.read(length)

    def copy_upload(self, upload: Upload, key: str) -> bool:
        """Hard-link the upload at ``key`` (a later upload replaces the pending file, never this one)."""
        target = self.path(key)
        private_folder(target.parent)
        try:
            os.link(self.path(upload.pending_key), target)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return True

    def put(self, key: str, content: bytes, name: str, content_type: str) -> None:
        """Write the file at ``key``, readable by its owner only."""
        target = self.path(key)
        private_folder(target.parent)
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(content)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def remove(self, key: str) -> None:
        """Remove an attachment copy, and its request's folder once it is empty."""
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty, or already gone
                path.parent.rmdir()
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def download(self, key: str, name: str, content_type: str) -> str:
        """The attachment's path on this machine."""
        return str(self.path(key).resolve())

    def remove_abandoned(self, older_than: datetime) -> int:
        """Delete pending uploads last changed before ``older_than``; return how many."""
        removed = 0
        for path in (self.folder / "uploads" / "pending").glob("*"):
            if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, older_than.tzinfo) < older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
