"""A fresh AWS store on the local servers (the fixture ``aws``), an API client on it (``aws_client``), and an
upload straight to the bucket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.mail import SesMailer
from handler.schema.catalog import Catalog
from handler.services import build_services
from handler.settings import Settings
from handler.storage.aws import AwsStore, S3Blobs
from tests.helpers.accounts import AUTHORIZED, SECRET, register
from tests.helpers.servers import SENDER, MailServer, Server, fresh_aws_store


@pytest.fixture
def aws(seaweedfs: Server, dynamodb_local: Server) -> Iterator[AwsStore]:
    with fresh_aws_store(seaweedfs, dynamodb_local) as store:
        yield store


def post(target: dict[str, Any], content: bytes, content_type: str) -> httpx.Response:
    return httpx.post(target["url"], data=target["fields"], files={"file": ("fil", content, content_type)}, timeout=30)


@pytest.fixture
def aws_client(aws: AwsStore, ses: MailServer, catalog_with_incident: Catalog, tmp_path: Any) -> Iterator[TestClient]:
    settings = Settings(
        storage="aws",
        bucket=aws.bucket,
        table=aws.table,
        session_secret=SECRET,
        desk_inbox="desk@vendor.example",
        code_answer_seconds=0,
    )
    services = build_services(
        settings,
        catalog=catalog_with_incident,
        store=aws,
        mailer=SesMailer(SENDER, ses.client()),
        blobs=S3Blobs(aws.s3, aws.bucket),
    )
    register(aws.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as client:
        assert client.post("/v1/session/code", json={"email": AUTHORIZED}).status_code == 202
        code_mail = [m for m in ses.sent() if AUTHORIZED in str(m["To"]) and m["X-Servicedesk-Reference"] is None][-1]
        code = re.search(r"\b(\d{6})\b", code_mail.get_body(preferencelist=("plain",)).get_content())
        assert code is not None
        answer = client.post("/v1/session", json={"email": AUTHORIZED, "code": code.group(1)})
        client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        yield client


def upload(client: TestClient, name: str, content_type: str, content: bytes) -> str:
    body = {"form": "service-request", "field": "attachments", "name": name, "type": content_type, "size": len(content)}
    target = client.post("/v1/uploads", json=body)
    assert target.status_code == 201, target.text
    assert target.json()["url"].startswith("http://127.0.0.1:")  # straight to the bucket, not the handler
    assert post(target.json(), content, content_type).status_code in (200, 204)
    return str(target.json()["id"])
