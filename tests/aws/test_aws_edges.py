"""The AWS store's edges through the API, on SeaweedFS + DynamoDB Local with the production client
settings: an outage answered in time, a missing document, a request too large for a DynamoDB item,
a replay after a status change, and what the local server says about where it keeps things."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cfnlint.decode.decode import decode_str  # type: ignore[import-untyped]
from fastapi.testclient import TestClient

from handler import serve
from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.schema.loader import load_catalog
from handler.settings import Settings
from handler.storage import aws as aws_module
from handler.storage.aws import AwsStore, document_key
from handler.storage.base import StatusEvent
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import NOW
from tests.helpers.forms import INCIDENT_FORM
from tests.helpers.paths import ROOT
from tests.helpers.servers import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    Server,
    admin_s3,
    aws_document_ids,
    aws_environment_for,
    aws_items,
    aws_request_ids,
    fresh_aws_store,
)
from tests.helpers.shipped import valid_data

DATA = valid_data(subject="S", description="D")
KEY = "form-session-edges-0001"
# The function's timeout is 10 s (template.yaml); a 503 must come well before it, whatever the machine.
ANSWER_WITHIN_SECONDS = 8


@dataclass
class Api:
    client: TestClient
    store: AwsStore

    def post(self, data: dict[str, Any] | None = None, key: str = KEY, form: str = "service-request") -> Any:
        return self.client.post(
            "/v1/requests", json={"form": form, "data": data or DATA}, headers={"Idempotency-Key": key}
        )

    def post_until_answered(self, key: str = KEY, attempts: int = 10) -> Any:
        """Retry on 503 as the form does: a server that was just resumed may need a moment."""
        for _ in range(attempts - 1):
            response = self.post(key=key)
            if response.status_code != 503:
                return response
            time.sleep(0.5)
        return self.post(key=key)


@pytest.fixture
def aws(seaweedfs: Server, dynamodb_local: Server) -> Iterator[AwsStore]:
    """A fresh bucket and table, seen through the tests' own clients."""
    with fresh_aws_store(seaweedfs, dynamodb_local) as store:
        yield store


def aws_settings(store: AwsStore, seaweedfs: Server, dynamodb_local: Server) -> Settings:
    """The settings a deployment would give for this bucket and table (the endpoints are the local servers)."""
    return Settings(
        storage="aws",
        bucket=store.bucket,
        table=store.table,
        region=REGION,
        s3_endpoint_url=seaweedfs.endpoint_url,
        dynamodb_endpoint_url=dynamodb_local.endpoint_url,
        session_secret=SECRET,
    )


@pytest.fixture
def production(aws: AwsStore, seaweedfs: Server, dynamodb_local: Server, monkeypatch: pytest.MonkeyPatch) -> AwsStore:
    """The same bucket and table through clients made exactly as the deployed function makes them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return AwsStore.from_settings(aws_settings(aws, seaweedfs, dynamodb_local))


@contextlib.contextmanager
def api_on(store: AwsStore, catalog: Catalog, folder: Path, **settings: Any) -> Iterator[Api]:
    """The API on ``store``, signed in as a contact authorized for change (e-mail to an outbox)."""
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    app_settings = Settings(data_dir=folder / "data", session_secret=SECRET, code_answer_seconds=0, **settings)
    app = create_app(app_settings, catalog=catalog, store=store, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, folder / 'data' / 'outbox', AUTHORIZED)}"
        yield Api(client, store)


@pytest.fixture
def api(production: AwsStore, catalog: Catalog, tmp_path: Path) -> Iterator[Api]:
    with api_on(production, catalog, tmp_path) as signed_in:
        yield signed_in


def assert_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) > 0


# An outage is a 503 within the function's timeout ---------------------------------------------------


def function_timeout() -> int:
    document, errors = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not errors, errors
    return int(document["Resources"]["RequestsFunction"]["Properties"]["Timeout"])


def test_each_call_fits_the_function_timeout_with_room_to_spare(production: AwsStore) -> None:
    timeout = function_timeout()
    for client in (production.s3, production.dynamodb):
        config: Any = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (aws_module.CONNECT_TIMEOUT, aws_module.READ_TIMEOUT)
        assert config.retries == {"mode": "standard", "total_max_attempts": aws_module.ATTEMPTS}
    # A store that stops answering ends a submission at its first call to it: one call's budget, plus
    # the calls that went before (milliseconds each), must leave the function time to answer.
    assert timeout - 3 >= aws_module.CALL_BUDGET_SECONDS, (aws_module.CALL_BUDGET_SECONDS, timeout)


@pytest.mark.parametrize("paused", ["dynamodb", "s3"])
def test_a_paused_store_is_a_503_well_inside_the_function_timeout(
    api: Api, aws: AwsStore, paused: str, seaweedfs: Server, dynamodb_local: Server
) -> None:
    server = dynamodb_local if paused == "dynamodb" else seaweedfs
    with server.paused():
        started = time.monotonic()
        response = api.post()
        elapsed = time.monotonic() - started
    print(f"\n{paused} paused: {response.status_code} after {elapsed:.2f} s")
    assert_503(response)
    assert elapsed < ANSWER_WITHIN_SECONDS, f"the 503 took {elapsed:.1f} s"
    retried = api.post_until_answered()
    assert retried.status_code == 201, retried.text
    assert aws_request_ids(aws) == {retried.json()["id"]}


# A request whose document is missing ------------------------------------------------------------------


def test_a_request_whose_document_is_missing_is_a_404_and_an_error_in_the_log(
    api: Api, aws: AwsStore, seaweedfs: Server, caplog: pytest.LogCaptureFixture
) -> None:
    receipt = api.post().json()
    assert api.client.get(f"/v1/requests/{receipt['id']}").status_code == 200
    admin_s3(seaweedfs.endpoint_url).delete_object(Bucket=aws.bucket, Key=document_key(receipt["id"]))
    with caplog.at_level(logging.INFO, logger="servicedesk_forms"):
        for _ in range(2):  # not a 503 the client would retry for ever
            response = api.client.get(f"/v1/requests/{receipt['id']}?lang=en")
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "not_found"
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors and all(receipt["id"] in message for message in errors)
    assert all("@" not in record.getMessage() for record in caplog.records)


def test_the_embedded_store_answers_a_missing_document_the_same_way(
    client: TestClient, store: LocalStore, caplog: pytest.LogCaptureFixture
) -> None:
    receipt = client.post(
        "/v1/requests", json={"form": "service-request", "data": DATA}, headers={"Idempotency-Key": KEY}
    ).json()
    with sqlite3.connect(store.database) as db:
        db.execute("DELETE FROM documents WHERE request_id = ?", (receipt["id"],))
    with caplog.at_level(logging.INFO, logger="servicedesk_forms"):
        response = client.get(f"/v1/requests/{receipt['id']}")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors and receipt["id"] in errors[0] and "@" not in errors[0]


# A request too large for a DynamoDB item ----------------------------------------------------------------


@pytest.fixture(scope="module")
def unbounded_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' incident form as an operator might write it: a long text without ``maxLength``."""
    folder = tmp_path_factory.mktemp("forms")
    for source in INCIDENT_FORM.parent.glob("incident.*.json"):
        shutil.copy(source, folder / source.name)
    schema = json.loads((folder / INCIDENT_FORM.name).read_text(encoding="utf-8"))
    del schema["properties"]["steps"]["maxLength"]
    (folder / INCIDENT_FORM.name).write_text(json.dumps(schema), encoding="utf-8")
    return load_catalog(extra_forms=(folder / INCIDENT_FORM.name,))


def test_a_request_too_large_for_dynamodb_is_refused_clearly_and_leaves_nothing(
    production: AwsStore, aws: AwsStore, unbounded_catalog: Catalog, tmp_path: Path
) -> None:
    incident = {"severity": "minor", "summary": "Loggen"}
    with api_on(production, unbounded_catalog, tmp_path, max_body_bytes=2 * 1024 * 1024) as api:
        for language in ("nb", "en"):
            response = api.client.post(
                f"/v1/requests?lang={language}",
                json={"form": "incident", "data": {**incident, "steps": "æøå " * 60_000}},
                headers={"Idempotency-Key": f"form-session-too-large-{language}"},
            )
            assert response.status_code == 413, response.text
            error = response.json()
            assert error["code"] == "request_too_large"
            assert error["detail"] == unbounded_catalog.common[language]["api"]["request_too_large"]
        assert aws_document_ids(aws) == set()  # the document was never written
        assert aws_request_ids(aws) == set()
        assert aws_items(aws, "IDEMPOTENCY") == aws_items(aws, "MAIL") == []
        # A long text that fits is stored as before.
        fits = api.post({**incident, "steps": "æøå " * 5_000}, key="form-session-fits-0001", form="incident")
        assert fits.status_code == 201, fits.text
        assert aws_request_ids(aws) == aws_document_ids(aws) == {fits.json()["id"]}


# A replay answers the request as it is now ------------------------------------------------------------------


def test_a_first_submission_reads_no_idempotency_key_and_a_replay_answers_the_current_status(api: Api) -> None:
    keys_read: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys_read.append(params["Key"]["pk"]["S"])

    api.store.dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", record, unique_id="edges-reads")
    try:
        first = api.post()
    finally:
        api.store.dynamodb.meta.events.unregister("provide-client-params.dynamodb.GetItem", unique_id="edges-reads")
    assert first.status_code == 201, first.text
    # Without attachments the commit's condition on the key finds a retry: a first submission never reads it.
    assert [key for key in keys_read if key.startswith("IDEMPOTENCY#")] == []

    api.store.requests.change_status(first.json()["id"], "received", StatusEvent("in-progress", NOW, "Agent", "On it"))
    again = api.post()
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "status": "in-progress"}


def test_a_replay_on_the_embedded_store_answers_the_current_status(client: TestClient, store: LocalStore) -> None:
    def post() -> Any:
        return client.post(
            "/v1/requests", json={"form": "service-request", "data": DATA}, headers={"Idempotency-Key": KEY}
        )

    first = post().json()
    store.requests.change_status(
        first["id"], "received", StatusEvent("waiting-for-customer", NOW, "Agent", "Which one?")
    )
    again = post()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first, "status": "waiting-for-customer"}


# What the local server says ----------------------------------------------------------------------------------


class _NotServing:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def run(self) -> None:
        pass


def serve_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], folder: Path) -> str:
    """What ``python -m handler.serve`` prints before it starts serving (nothing is served)."""
    site = folder / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html>", encoding="utf-8")
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(uvicorn, "Server", _NotServing)
    monkeypatch.setattr(serve, "start_mail_sender", lambda services: None)
    monkeypatch.setattr(sys, "argv", ["serve", "--site", str(site)])
    monkeypatch.chdir(folder)
    serve.main()
    return capsys.readouterr().out


def test_the_local_server_in_aws_mode_names_the_bucket_table_and_mail_service(
    aws: AwsStore,
    seaweedfs: Server,
    dynamodb_local: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        **aws_environment_for(aws.bucket, aws.table, seaweedfs, dynamodb_local),
        "SDF_SESSION_SECRET": SECRET,
        "SDF_MAIL_FROM": "Kundeservice <no-reply@forms.example.com>",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SDF_DATA_DIR", raising=False)
    out = serve_output(monkeypatch, capsys, tmp_path)
    assert f"S3 bucket {aws.bucket}" in out and f"DynamoDB table {aws.table}" in out
    assert "Amazon SES" in out and "no-reply@forms.example.com" in out
    assert str(tmp_path) not in out and "outbox" not in out and ".eml" not in out


def test_the_local_server_in_local_mode_names_its_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SDF_STORAGE", raising=False)
    monkeypatch.setenv("SDF_DATA_DIR", str(tmp_path / "data"))
    out = serve_output(monkeypatch, capsys, tmp_path)
    assert str((tmp_path / "data").resolve()) in out
    assert str((tmp_path / "data" / "outbox").resolve()) in out
    assert "S3" not in out and "SES" not in out
