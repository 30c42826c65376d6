"""The AWS store: documents in S3, everything else in one DynamoDB table, one module and one object per port.

``table`` is the table helper (typed values, the one conditional write, errors), ``records`` the table's
layout and items; ``requests`` (with ``documents`` in the bucket and ``commit``, its transaction),
``contacts``, ``signin``, ``mail``, ``uploads``, ``thread`` and ``forwards`` each keep one port of the
store, and ``blobs`` the uploaded files. Each port object is built from the one ``Table`` (and the bucket);
``AwsStore`` composes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config

from handler.storage.aws.blobs import S3Blobs
from handler.storage.aws.contacts import AwsContacts
from handler.storage.aws.documents import S3Documents
from handler.storage.aws.forwards import AwsForwards
from handler.storage.aws.mail import AwsMail
from handler.storage.aws.records import (
    KIND_INDEX,
    REQUESTER_INDEX,
    SHARDS,
    TTL_ATTRIBUTE,
    document_key,
    shard,
    table_definition,
)
from handler.storage.aws.requests import AwsRequests
from handler.storage.aws.signin import AwsSignIn
from handler.storage.aws.table import Table, is_retryable, item_size
from handler.storage.aws.thread import AwsConversation
from handler.storage.aws.uploads import AwsUploads
from handler.storage.base import Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

    from handler.settings import Settings

__all__ = [
    "ATTEMPTS",
    "CALL_BUDGET_SECONDS",
    "CONNECT_TIMEOUT",
    "KIND_INDEX",
    "READ_TIMEOUT",
    "REQUESTER_INDEX",
    "SHARDS",
    "TTL_ATTRIBUTE",
    "AwsStore",
    "S3Blobs",
    "document_key",
    "is_retryable",
    "item_size",
    "shard",
    "table_definition",
]

# Every call to S3 or DynamoDB gets at most ATTEMPTS tries, each with CONNECT_TIMEOUT seconds to connect
# and READ_TIMEOUT seconds of silence while waiting for the answer: CALL_BUDGET_SECONDS in all, set
# against the function's timeout in docs/deploy.md.
CONNECT_TIMEOUT = 1
READ_TIMEOUT = 2
ATTEMPTS = 2
BACK_OFF_SECONDS = 1  # standard mode's longest wait before the second try (jittered: mostly far less)
CALL_BUDGET_SECONDS = ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + BACK_OFF_SECONDS


def _send_body_at_once(request: AWSPreparedRequest, **_: Any) -> None:
    del request.headers["Expect"]  # not signed (SigV4 leaves it out), so it can go


class AwsStore(Store):
    """Requests in an S3 bucket (documents) and a DynamoDB table (everything that makes them visible),
    and in the same table the contact register, sign-in codes, rate counters, upload slots and unsent mail:
    one port object each, all on the one ``Table``."""

    requests: AwsRequests
    contacts: AwsContacts
    sign_in: AwsSignIn
    mail: AwsMail
    uploads: AwsUploads

    def __init__(self, s3: S3Client, dynamodb: DynamoDBClient, bucket: str, table: str) -> None:
        # botocore asks for "100 Continue" before every PUT body and waits up to a second for it, a second
        # more per try when S3 does not answer; a document is a few kilobytes, sent at once.
        s3.meta.events.register("before-send.s3.PutObject", _send_body_at_once, unique_id="sdf-send-body-at-once")
        self.s3 = s3
        self.dynamodb = dynamodb
        self.bucket = bucket
        self.table = table
        self._table = Table(dynamodb, table)
        super().__init__(
            AwsRequests(self._table, S3Documents(s3, bucket)),
            AwsContacts(self._table),
            AwsSignIn(self._table),
            AwsMail(self._table),
            AwsUploads(self._table),
        )

    def conversation(self) -> AwsConversation:
        """The messages, in this store's table."""
        return AwsConversation(self._table)

    def forwards(self) -> AwsForwards:
        """The forwarding jobs and tickets, in this store's table."""
        return AwsForwards(self._table)

    def files(self) -> tuple[S3Blobs, None]:
        """The bucket, on this store's own S3 client; the browser sends files to it itself."""
        return S3Blobs(self.s3, self.bucket), None

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsStore:
        """The store the settings describe, with its clients created once (a Lambda container reuses them)."""
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        )
        s3_config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
        s3_endpoint = settings.s3_endpoint_url
        if s3_endpoint:  # an S3-compatible server (tests, local runs): path-style
            s3_config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        elif settings.region:
            # The regional endpoint, so presigned uploads go to https://<bucket>.s3.<region>.amazonaws.com,
            # the template's UploadOrigin, which the site's Content-Security-Policy allows.
            s3_endpoint = f"https://s3.{settings.region}.amazonaws.com"
        session = boto3.session.Session()
        s3 = session.client("s3", region_name=settings.region or None, endpoint_url=s3_endpoint, config=s3_config)
        dynamodb = session.client(
            "dynamodb", region_name=settings.region or None, endpoint_url=settings.dynamodb_endpoint_url, config=config
        )
        return cls(s3, dynamodb, settings.bucket, settings.table)
