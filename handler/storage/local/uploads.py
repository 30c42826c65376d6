"""The upload registry in the embedded store: one row of ``uploads`` per slot."""

from __future__ import annotations

from handler.storage.local import records
from handler.storage.local.db import Database
from handler.uploads import Upload, UploadRegistry


class LocalUploads(UploadRegistry):
    """Upload slots as rows of ``uploads``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put_upload(self, upload: Upload) -> None:
        """Keep a new upload slot."""
        self._db.changed("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records.upload_row(upload))

    def claim_upload(self, mark: Upload) -> Upload:
        """Keep ``mark`` unless its id is taken, and read back the one kept, in one transaction.

        Not synced on its own: the commit of the request or message that takes the upload syncs it; if a
        power cut comes first, nothing has the upload and losing the mark loses nothing.
        """
        with self._db.transaction(durable=False) as db:
            db.execute("INSERT OR IGNORE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records.upload_row(mark))
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (mark.id,)).fetchone()
        return records.upload(row)

    def get_upload(self, upload_id: str) -> Upload | None:
        """The slot with this id."""
        row = self._db.row("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        return records.upload(row) if row else None
