"""The AWS store when S3 or DynamoDB fail: a 503 the client can retry, and nothing half-visible.

Failures are injected into botocore (an error answer or a broken connection in place of the real
call), or played for real by pausing the SeaweedFS or DynamoDB Local process (SIGSTOP) mid-test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from fastapi.testclient import TestClient

from handler import lambda_entry
from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.settings import Settings
from handler.storage.aws import AwsStore
from handler.storage.base import StorageUnavailable, Submission
from handler.storage.factory import make_store
from tests.helpers.accounts import AUTHORIZED, register, sign_in
from tests.helpers.aws_faults import broken, dynamodb_error, injected
from tests.helpers.clock import NOW
from tests.helpers.lambda_events import SECRET, event, event_data, signed_in
from tests.helpers.servers import (
    MailServer,
    RawBody,
    Server,
    aws_document_ids,
    aws_items,
    aws_request_ids,
    client_config,
    fresh_aws_store,
)
from tests.helpers.shipped import valid_data

DATA = valid_data(subject="S", description="D")
KEY = "form-session-aws-0001"


@dataclass
class Api:
    client: TestClient
    aws: AwsStore

    def post(self, key: str = KEY) -> Any:
        return self.client.post(
            "/v1/requests", json={"form": "service-request", "data": DATA}, headers={"Idempotency-Key": key}
        )

    def post_until_answered(self, key: str = KEY, attempts: int = 5) -> Any:
        """Retry on 503 as the form does: a server that was just resumed may need a moment."""
        for _ in range(attempts - 1):
            response = self.post(key)
            if response.status_code != 503:
                return response
            time.sleep(0.5)
        return self.post(key)


@pytest.fixture
def api(seaweedfs: Server, dynamodb_local: Server, catalog: Catalog, tmp_path: Path) -> Iterator[Api]:
    # One attempt and a short read timeout, so that a paused server fails the call quickly.
    config = client_config(connect_timeout=1, read_timeout=2)
    with fresh_aws_store(seaweedfs, dynamodb_local, config) as aws:
        register(aws.contacts, AUTHORIZED, "authorized-for-change")
        # Requests, contacts and sign-in state on the AWS store; e-mail to the outbox under tmp_path.
        settings = Settings(data_dir=tmp_path / "data", session_secret=SECRET, code_answer_seconds=0)
        app = create_app(settings, catalog=catalog, store=aws, clock=lambda: NOW)
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {sign_in(client, tmp_path / 'data' / 'outbox', AUTHORIZED)}"
            yield Api(client, aws)


# Injected failures -----------------------------------------------------------------------------------


def s3_error(status: int, code: str) -> Callable[[AWSRequest], AWSResponse]:
    """An error answer from S3, as its XML protocol sends it."""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'
    headers: Any = {"Content-Type": "application/xml", "x-amz-request-id": "injected"}
    return lambda request: AWSResponse(str(request.url), status, headers, RawBody(body.encode()))


# ... or another of its items (the request's): nothing says a racer holds the key, so the client retries later.
CONFLICT_ELSEWHERE = dynamodb_error(
    400,
    "TransactionCanceledException",
    CancellationReasons=[{"Code": "TransactionConflict", "Message": "ongoing"}, {"Code": "None"}, {"Code": "None"}],
)

FAILURES = [
    pytest.param("s3", "PutObject", broken(EndpointConnectionError), id="s3-put-endpoint-connection-error"),
    pytest.param("s3", "PutObject", broken(ReadTimeoutError), id="s3-put-read-timeout"),
    pytest.param("s3", "PutObject", s3_error(503, "SlowDown"), id="s3-put-slow-down"),
    pytest.param("dynamodb", "TransactWriteItems", dynamodb_error(400, "ThrottlingException"), id="ddb-throttling"),
    pytest.param(
        "dynamodb",
        "TransactWriteItems",
        dynamodb_error(400, "ProvisionedThroughputExceededException"),
        id="ddb-throughput-exceeded",
    ),
    pytest.param("dynamodb", "TransactWriteItems", dynamodb_error(500, "InternalServerError"), id="ddb-500"),
    pytest.param("dynamodb", "TransactWriteItems", broken(ConnectionClosedError), id="ddb-connection-closed"),
    pytest.param("dynamodb", "TransactWriteItems", CONFLICT_ELSEWHERE, id="ddb-transaction-conflict"),
    pytest.param("dynamodb", "GetItem", broken(ReadTimeoutError), id="ddb-idempotency-lookup-read-timeout"),
]


def assert_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "storage_unavailable"
    assert response.json()["detail"]
    assert int(response.headers["retry-after"]) > 0


def assert_nothing_half_visible(aws: AwsStore) -> None:
    """Every visible request has its document; every other document is invisible."""
    visible = aws_request_ids(aws)
    for request_id in visible:
        assert aws.requests.get(request_id) is not None
    for orphan in aws_document_ids(aws) - visible:
        assert aws.requests.get(orphan) is None
    referenced = {item["requestId"]["S"] for item in aws_items(aws, "REFERENCE")}
    assert referenced == visible


def assert_stored_once(api: Api, receipt: dict[str, Any]) -> None:
    assert aws_request_ids(api.aws) == {receipt["id"]}
    stored = api.aws.requests.get(receipt["id"])
    assert stored is not None
    assert stored.receipt.reference == receipt["reference"]
    assert stored.data == DATA and stored.requester == AUTHORIZED
    assert_nothing_half_visible(api.aws)


@pytest.mark.parametrize(("service", "operation", "failure"), FAILURES)
def test_a_failing_call_is_a_503_and_the_retry_stores_the_request_once(
    api: Api, service: str, operation: str, failure: Callable[[AWSRequest], AWSResponse]
) -> None:
    client = api.aws.s3 if service == "s3" else api.aws.dynamodb
    submission = Submission("service-request", DATA["service"], "sha256:0", "nb", AUTHORIZED, DATA)
    with injected(client, operation, failure) as calls:
        with pytest.raises(StorageUnavailable):
            api.aws.requests.submit(submission, "SR", "form-session-direct", NOW)
        response = api.post()
    assert len(calls) == 2  # the failure was met once by each attempt, and not retried behind our back
    assert_503(response)
    assert aws_request_ids(api.aws) == set()
    assert aws_items(api.aws, "IDEMPOTENCY") == []
    assert_nothing_half_visible(api.aws)

    retried = api.post()
    assert retried.status_code == 201, retried.text
    assert_stored_once(api, retried.json())
    again = api.post()
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (201, retried.json(), "true")


# Real outages: the server process paused ------------------------------------------------------------


def test_dynamodb_paused_between_document_and_commit(api: Api, dynamodb_local: Server) -> None:
    paused: list[bool] = []

    def pause_dynamodb(**_: Any) -> None:  # right after the document was written
        if not paused:
            paused.append(True)
            dynamodb_local.pause()

    api.aws.s3.meta.events.register("after-call.s3.PutObject", pause_dynamodb, unique_id="pause-dynamodb")
    try:
        response = api.post()
    finally:
        api.aws.s3.meta.events.unregister("after-call.s3.PutObject", unique_id="pause-dynamodb")
        dynamodb_local.resume()
    assert paused, "the document was never written"
    assert_503(response)
    (document_id,) = aws_document_ids(api.aws)
    # The commit's bytes were sent before the pause, so the server may still apply it once it runs
    # again: then the request appears whole, at once. Wait for that (or for nothing) before looking.
    deadline = time.monotonic() + 3
    while not (visible := aws_request_ids(api.aws)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert visible in (set(), {document_id})
    assert_nothing_half_visible(api.aws)

    retried = api.post_until_answered()
    assert retried.status_code == 201, retried.text
    assert_stored_once(api, retried.json())
    if visible:  # the late commit holds the key: the retry gets its receipt instead of a second request
        assert retried.json()["id"] == document_id
        assert retried.headers["idempotent-replayed"] == "true"


def test_seaweedfs_paused_while_writing_the_document(api: Api, seaweedfs: Server) -> None:
    with seaweedfs.paused():
        response = api.post()
        assert_503(response)
        assert aws_request_ids(api.aws) == set()  # DynamoDB still answers: nothing was committed
        assert aws_items(api.aws, "IDEMPOTENCY") == []
    retried = api.post_until_answered()
    assert retried.status_code == 201, retried.text
    assert_stored_once(api, retried.json())


# The Lambda entry point configured for AWS from its environment ---------------------------------------


def test_the_environment_selects_the_aws_store(aws_environment: AwsStore) -> None:
    store = make_store(Settings.from_env())
    assert isinstance(store, AwsStore)
    assert (store.bucket, store.table) == (aws_environment.bucket, aws_environment.table)
    submission = Submission("service-request", DATA["service"], "sha256:0", "en", AUTHORIZED, DATA)
    receipt, created = store.requests.submit(submission, "SR", "form-session-env-0001", NOW)
    assert created
    assert aws_request_ids(aws_environment) == aws_document_ids(aws_environment) == {receipt.request_id}


def test_the_lambda_entry_point_stores_an_api_gateway_event_in_s3_and_dynamodb(
    aws_environment: AwsStore, ses: MailServer
) -> None:
    register(aws_environment.contacts, AUTHORIZED, "authorized-for-change")
    result = lambda_entry.handler(signed_in(event("http-api-v2.json")), None)
    body = json.loads(result["body"])
    assert result["statusCode"] == 201, body
    assert aws_request_ids(aws_environment) == aws_document_ids(aws_environment) == {body["id"]}
    stored = aws_environment.requests.get(body["id"])
    assert (
        stored is not None
        and stored.language == "en"
        and stored.data["service"] == event_data("http-api-v2.json")["service"]
    )
    assert stored.requester == AUTHORIZED
    assert [m for m in ses.sent() if m["X-Servicedesk-Reference"] == body["reference"]] == []  # only queued
    # The table's stream wakes the function for the queued e-mail, which goes out through SES.
    assert lambda_entry.handler(event("dynamodb-stream.json"), None) == {"sent": 2, "failed": 0}
    mails = [m for m in ses.sent() if m["X-Servicedesk-Reference"] == body["reference"]]
    assert sorted(str(m["To"]) for m in mails) == ["Kari Nordmann <kari.nordmann@example.no>", "desk@vendor.example"]
