"""Uploaded files and attachment copies in the requests bucket."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from handler.storage.aws.table import error_code, unavailable_on_any_error, unavailable_on_transient_errors
from handler.storage.base import RequestBlobs
from handler.uploads import Upload

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class S3Blobs(RequestBlobs):
    """Uploads in the bucket: presigned POSTs bounded by their policy, checks by HEAD and ranged GET."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def upload_target(self, upload: Upload, local_url: str, secret: bytes) -> dict[str, Any]:
        """A presigned POST: the key is fixed, the size and content type bounded, valid until the slot expires."""
        seconds = max(1, int((upload.expires_at - datetime.now(UTC)).total_seconds()))
        with unavailable_on_transient_errors("signing the upload"):
            post = self.s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=upload.pending_key,
                Fields={"Content-Type": upload.content_type},
                Conditions=[
                    {"Content-Type": upload.content_type},
                    ["content-length-range", upload.max_bytes, upload.max_bytes],
                ],
                ExpiresIn=seconds,
            )
        return {"url": post["url"], "fields": post["fields"]}

    def size(self, key: str) -> int | None:
        """The object's size, or None if there is none."""
        try:
            with unavailable_on_transient_errors("looking at the upload"):
                return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            # Without s3:ListBucket (which the function is not given) S3 answers 403 for a missing key.
            if error_code(exc) in ("403", "404", "NoSuchKey", "NotFound", "Forbidden"):
                return None
            raise

    def head(self, key: str, length: int) -> bytes:
        """The object's first bytes (a ranged GET: the file never passes through whole)."""
        with unavailable_on_transient_errors("reading the upload"):
            return self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"].read()

    def copy_upload(self, upload: Upload, key: str) -> bool:
        """Copy the upload to ``key`` with its sanitized name as metadata (S3's CopyObject)."""
        try:
            with unavailable_on_transient_errors("copying the attachment"):
                self.s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": upload.pending_key},
                    MetadataDirective="REPLACE",
                    ContentType=upload.content_type,
                    Metadata={"original-name": quote(upload.name), "requester": quote(upload.requester)},
                )
        except ClientError as exc:
            # Without s3:ListBucket, S3 answers 403 rather than 404 for a source that is not there.
            if error_code(exc) in ("403", "404", "NoSuchKey", "AccessDenied"):
                return False
            raise
        return True

    def put(self, key: str, content: bytes, name: str, content_type: str) -> None:
        """Write the file at ``key`` with its name as metadata, as a copied upload has it."""
        with unavailable_on_transient_errors("keeping the attachment"):
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=content,
                ContentType=content_type,
                Metadata={"original-name": quote(name)},
            )

    def remove(self, key: str) -> None:
        """Remove an attachment copy (S3 answers the same whether or not it was there)."""
        with unavailable_on_any_error("removing the attachment copy"):
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    def download(self, key: str, name: str, content_type: str) -> str:
        """A presigned GET valid for five minutes that saves the file under its name."""
        disposition = f"attachment; filename=\"{quote(name)}\"; filename*=UTF-8''{quote(name)}"
        return self.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=300,
        )
