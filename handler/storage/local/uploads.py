"""The upload registry in the embedded store: one row of ``uploads`` per slot."""

from __future__ import annotations

from handler.storage.local import records
from handler.storage.local.db import Database
from handler.uploads import Upload, UploadRegistry


class LocalUploads(UploadRegistry):
    """Upload slots as rows of ``uploads``."""

    _db: Database

    def put_upload(self, upload: Upload) -> None:
        """Keep a new upload slot."""
        self._db.changed("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records.upload_row(upload))

    def get_upload(self, upload_id: str) -> Upload | None:
        """The slot with this id."""
        row = self._db.row("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        return records.upload(row) if row else None
