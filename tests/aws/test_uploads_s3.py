"""Uploads on S3 for real: SeaweedFS enforces the presigned POST's policy, and the whole API runs on AWS parts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient

from handler.schema.catalog import Catalog
from handler.storage.aws import AwsStore, S3Blobs
from handler.uploads import Upload, new_upload
from handler.usecases import mailing
from tests.helpers.accounts import AUTHORIZED
from tests.helpers.aws_uploads import post, upload
from tests.helpers.servers import MailServer
from tests.helpers.uploads import EXE, MP4, PNG, VALID


def slot(aws: AwsStore, catalog: Catalog, content_type: str, size: int, now: datetime | None = None) -> Upload:
    field = catalog.forms["service-request"].field("attachments")
    assert field is not None
    return new_upload(AUTHORIZED, "service-request", field, "fil", content_type, size, now or datetime.now(UTC))


def test_the_presigned_post_policy_is_enforced_by_s3(aws: AwsStore, catalog: Catalog) -> None:
    blobs = S3Blobs(aws.s3, aws.bucket)
    upload = slot(aws, catalog, "image/png", len(PNG))
    target = blobs.upload_target(upload, "unused", b"")
    assert set(target["fields"]) >= {"key", "policy", "Content-Type"}
    assert target["fields"]["key"] == upload.pending_key  # the server chose the key
    assert post(target, PNG, "image/png").status_code in (200, 204)
    assert blobs.size(upload.pending_key) == len(PNG)

    small = slot(aws, catalog, "image/png", 10)
    too_big = post(blobs.upload_target(replace_max(small, 10), "unused", b""), PNG, "image/png")
    assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
    wrong_type = blobs.upload_target(slot(aws, catalog, "image/png", len(PNG)), "unused", b"")
    assert (
        post(
            {**wrong_type, "fields": {**wrong_type["fields"], "Content-Type": "text/html"}}, PNG, "text/html"
        ).status_code
        == 403
    )
    other_key = blobs.upload_target(slot(aws, catalog, "image/png", len(PNG)), "unused", b"")
    assert (
        post(
            {**other_key, "fields": {**other_key["fields"], "key": "requests/forged.json"}}, PNG, "image/png"
        ).status_code
        == 403
    )
    assert blobs.size("requests/forged.json") is None


def replace_max(upload: Upload, max_bytes: int) -> Upload:
    from dataclasses import replace

    return replace(upload, max_bytes=max_bytes)


def test_an_expired_presigned_post_is_refused(aws: AwsStore, catalog: Catalog) -> None:
    blobs = S3Blobs(aws.s3, aws.bucket)
    upload = slot(
        aws, catalog, "image/png", len(PNG), now=datetime.now(UTC) - timedelta(minutes=10) + timedelta(seconds=1)
    )
    target = blobs.upload_target(upload, "unused", b"")
    time.sleep(2.5)
    assert post(target, PNG, "image/png").status_code == 403
    assert blobs.size(upload.pending_key) is None


def test_the_whole_flow_on_aws_parts(aws_client: TestClient, aws: AwsStore, ses: MailServer) -> None:
    png = upload(aws_client, "skjermbilde.png", "image/png", PNG)
    mp4 = upload(aws_client, "opptak.mp4", "video/mp4", MP4)
    answer = aws_client.post(
        "/v1/requests", json={"form": "service-request", "data": {**VALID, "attachments": [png, mp4]}}
    )
    assert answer.status_code == 201, answer.text
    stored = aws.requests.get(answer.json()["id"])
    assert stored is not None and [a.name for a in stored.attachments] == ["skjermbilde.png", "opptak.mp4"]
    linked = aws.s3.head_object(Bucket=aws.bucket, Key=stored.attachments[0].key)
    assert linked["ContentType"] == "image/png" and linked["Metadata"]["original-name"] == "skjermbilde.png"
    mailing.send_queued_mail(aws_client.app.state.services.mailing)  # type: ignore[attr-defined]
    mails = [m for m in ses.sent() if m["X-Servicedesk-Reference"] == answer.json()["reference"]]
    assert sorted(str(m["To"]) for m in mails) == [f"Kari Nordmann <{AUTHORIZED}>", "desk@vendor.example"]
    assert "- opptak.mp4 (video/mp4" in mails[0].get_body(preferencelist=("plain",)).get_content()
    listed = aws_client.get("/v1/requests").json()["items"]
    assert [item["reference"] for item in listed] == [answer.json()["reference"]]


def test_an_executable_named_png_is_refused_on_s3_and_nothing_is_linked(aws_client: TestClient, aws: AwsStore) -> None:
    fake = upload(aws_client, "katt.png", "image/png", EXE)
    answer = aws_client.post("/v1/requests", json={"form": "service-request", "data": {**VALID, "attachments": [fake]}})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["keyword"] == "x-upload-content"
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="attachments/")
    assert listed.get("KeyCount", 0) == 0
    assert aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="requests/").get("KeyCount", 0) == 0


def test_agents_get_a_presigned_download_that_saves_the_file(aws_client: TestClient, aws: AwsStore) -> None:
    png = upload(aws_client, "skjerm bilde.png", "image/png", PNG)
    answer = aws_client.post("/v1/requests", json={"form": "service-request", "data": {**VALID, "attachments": [png]}})
    stored = aws.requests.get(answer.json()["id"])
    assert stored is not None
    url = S3Blobs(aws.s3, aws.bucket).download(stored.attachments[0].key, "skjerm bilde.png", "image/png")
    downloaded = httpx.get(url, timeout=30)
    assert downloaded.status_code == 200 and downloaded.content == PNG
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert "skjerm%20bilde.png" in downloaded.headers["content-disposition"]
