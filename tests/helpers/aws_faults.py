"""Failures injected into botocore, and the Lambda entry's environment on the local AWS servers (the fixture
``aws_environment``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, AWSResponse

from handler import lambda_entry
from handler.storage.aws import AwsStore
from tests.helpers.lambda_events import SECRET
from tests.helpers.servers import (
    SENDER,
    MailServer,
    RawBody,
    Server,
    aws_environment_for,
    fresh_aws_store,
)


def dynamodb_error(status: int, code: str, **extra: Any) -> Callable[[AWSRequest], AWSResponse]:
    """An error answer from DynamoDB, as its JSON protocol sends it."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code, **extra}).encode()
    headers: Any = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return lambda request: AWSResponse(str(request.url), status, headers, RawBody(body))


def broken(error: type[Exception]) -> Callable[[AWSRequest], AWSResponse]:
    """The connection failing instead of an answer."""

    def fail(request: AWSRequest) -> AWSResponse:
        raise error(endpoint_url=request.url)  # type: ignore[call-arg]

    return fail


@contextlib.contextmanager
def injected(client: Any, operation: str, failure: Callable[[AWSRequest], AWSResponse]) -> Iterator[list[str]]:
    """Replace every ``operation`` call of ``client`` with ``failure`` for the block; yields the calls seen."""
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    calls: list[str] = []

    def handler(request: AWSRequest, **_: Any) -> AWSResponse:
        calls.append(str(request.url))
        return failure(request)

    client.meta.events.register(event, handler, unique_id="test-injected-failure")
    try:
        yield calls
    finally:
        client.meta.events.unregister(event, unique_id="test-injected-failure")


# A commit cancelled because another transaction touched its idempotency key (the third write) at the same moment.
TRANSACTION_CONFLICT = dynamodb_error(
    400,
    "TransactionCanceledException",
    CancellationReasons=[{"Code": "None"}, {"Code": "None"}, {"Code": "TransactionConflict", "Message": "ongoing"}],
)


@pytest.fixture
def aws_environment(
    seaweedfs: Server, dynamodb_local: Server, ses: MailServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AwsStore]:
    """A fresh bucket and table, and the environment a Lambda function would be given for them."""
    with fresh_aws_store(seaweedfs, dynamodb_local) as aws:
        for name, value in {
            **aws_environment_for(aws.bucket, aws.table, seaweedfs, dynamodb_local),
            "SDF_SES_ENDPOINT_URL": ses.endpoint_url,
            "SDF_MAIL_FROM": SENDER,
            "SDF_DESK_INBOX": "desk@vendor.example",
            "SDF_SESSION_SECRET": SECRET,
            "SDF_API_BASE_PATH": "/",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        lambda_entry._container.cache_clear()
        yield aws
        lambda_entry._container.cache_clear()
