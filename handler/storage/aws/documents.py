"""The requests' documents in the bucket: each written once (never over another), removed if its request never
committed, read back by the key its table item names."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from handler.storage.aws.records import document_key
from handler.storage.aws.table import error_code, unavailable_on_any_error, unavailable_on_transient_errors
from handler.storage.request import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger("servicedesk_forms")

# What S3 answers for a missing object; without s3:ListBucket (which the function does not have) that is
# 403 AccessDenied rather than 404 NoSuchKey.
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


class S3Documents:
    """Documents as S3 objects under ``documents/``, on the store's own client and bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, request_id: str, body: bytes, *, replace: bool = False) -> None:
        """Write the document; ``StorageUnavailable`` if one is there already (unless ``replace``)."""
        # IfNoneMatch="*": S3 refuses the write if the key exists, so a document is never overwritten.
        only_new: dict[str, Any] = {} if replace else {"IfNoneMatch": "*"}
        key = document_key(request_id)
        try:
            with unavailable_on_transient_errors("writing the document"):
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **only_new)
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                # Only possible if the id was already used; the submit can be retried with a fresh id.
                raise StorageUnavailable(f"the document for {request_id} already exists") from exc
            raise

    def remove(self, request_id: str) -> None:
        """Remove the document of a request that never committed; ``StorageUnavailable`` if that failed."""
        with unavailable_on_any_error("removing the uncommitted document"):
            self.s3.delete_object(Bucket=self.bucket, Key=document_key(request_id))

    def read(self, request_id: str, key: str) -> bytes | None:
        """The document at ``key``; None (logged as an error) if it is missing."""
        try:
            with unavailable_on_transient_errors("reading the document"):
                return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if (code := error_code(exc)) not in _MISSING_OBJECT_CODES:
                raise
            # Waiting will not bring it back: an operator must restore it (the bucket keeps old versions).
            log.error(
                "request %s is in the table but its document %s is missing (S3 answered %s)",
                request_id,
                key,
                code,
                extra={"document": request_id, "s3Error": code},
            )
            return None
