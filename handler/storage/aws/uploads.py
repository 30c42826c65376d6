"""The upload registry on AWS: one item per upload slot."""

from __future__ import annotations

from handler.storage.aws import records
from handler.storage.aws.table import Table, Write
from handler.storage.base import StorageUnavailable
from handler.uploads import Upload, UploadRegistry


class AwsUploads(UploadRegistry):
    """Upload slots as ``UPLOAD#`` items; TTL removes each a while after its pending file has expired too."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put_upload(self, upload: Upload) -> None:
        """Keep a new upload slot."""
        self._table.write("keeping the upload slot", Write("Put", records.upload_item(upload)))

    def claim_upload(self, mark: Upload) -> Upload:
        """Put ``mark`` unless an item has its key (the condition); else read the one there, consistently."""
        claim = Write("Put", records.upload_item(mark), "attribute_not_exists(pk)")
        if self._table.write("taking the upload", claim) is not None:
            return mark
        kept = self.get_upload(mark.id)
        if kept is None:  # removed between the two calls: only the sweep of long-expired records does that
            raise StorageUnavailable("the upload's record went away while it was being taken")
        return kept

    def get_upload(self, upload_id: str) -> Upload | None:
        """The slot with this id."""
        item = self._table.get(records.key("UPLOAD", upload_id), "reading the upload slot")
        return records.upload(upload_id, item) if item else None
