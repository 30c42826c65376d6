"""The Lambda entry point, driven by API Gateway and Function URL event documents from tests/events."""

from __future__ import annotations

import base64
import copy
import inspect
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from handler import lambda_entry
from handler.app import create_app
from handler.mail import Mail, QueuedMail, Recipient
from handler.settings import Settings
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED
from tests.helpers.lambda_events import event, event_data, session_token, signed_in, with_body
from tests.helpers.paths import TESTS
from tests.helpers.shipped import form, valid_data


def call(document: dict[str, Any], session: bool = True) -> tuple[int, dict[str, Any], dict[str, str]]:
    result = lambda_entry.handler(signed_in(document) if session else document, None)
    body = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"].encode()
    return result["statusCode"], json.loads(body), {k.lower(): v for k, v in result["headers"].items()}


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("http-api-v2.json", "en"),
        ("http-api-v2-stage-base64.json", "en"),
        ("rest-api-v1.json", "nb"),
        ("function-url.json", "en"),
    ],
)
def test_each_event_source_stores_a_valid_request(data_dir: Path, name: str, language: str) -> None:
    status, body, headers = call(event(name))
    assert status == 201, body
    assert body["reference"].startswith("SR-")
    stored = LocalStore(data_dir).requests.get(body["id"])
    assert stored is not None and stored.language == language
    assert stored.data["service"] == event_data(name)["service"]
    assert stored.data["description"] == "Vi ønsker premiumfunksjonen."
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "name", ["http-api-v2.json", "http-api-v2-stage-base64.json", "rest-api-v1.json", "function-url.json"]
)
def test_invalid_bodies_get_the_same_errors_through_lambda(data_dir: Path, name: str) -> None:
    service = valid_data()[form().discriminator]
    only_service = json.dumps({"form": "service-request", "data": {form().discriminator: service}}).encode()
    status, body, _ = call(with_body(event(name), only_service))
    assert status == 422
    # The simplest valid document of the service holds only the fields it must have.
    assert {d["field"] for d in body["errors"]} == set(valid_data()) - {form().discriminator}
    status, body, _ = call(with_body(event(name), b"\xff\xfe not json"))
    assert (status, body["code"]) == (400, "invalid_encoding")
    assert not LocalStore(data_dir).requests.document_ids()


def test_the_idempotency_key_header_reaches_the_handler(data_dir: Path) -> None:
    first = call(event("http-api-v2.json"))
    again = call(event("http-api-v2.json"))
    assert first[1] == again[1]
    assert again[2]["idempotent-replayed"] == "true"


def test_a_path_outside_the_api_is_a_json_404(data_dir: Path) -> None:
    document = event("http-api-v2-stage-base64.json")
    document["rawPath"] = document["requestContext"]["http"]["path"] = "/prod/v1/elsewhere"
    status, body, _ = call(document)
    assert (status, body["code"]) == (404, "not_found")


def test_without_a_session_the_event_is_refused(data_dir: Path) -> None:
    status, body, headers = call(event("http-api-v2.json"), session=False)
    assert (status, body["code"]) == (401, "sign_in_required")
    assert headers["www-authenticate"] == "Bearer"
    assert headers["content-type"] == "application/problem+json"
    # Problem details travel as text, as JSON does, not base64-encoded.
    assert lambda_entry.handler(event("http-api-v2.json"), None)["isBase64Encoded"] is False
    assert not LocalStore(data_dir).requests.document_ids()


@pytest.mark.parametrize("name", ["scheduled.json", "dynamodb-stream.json"])
def test_the_stream_and_the_schedule_send_queued_mail(data_dir: Path, name: str) -> None:
    store = LocalStore(data_dir)
    mail = Mail((Recipient("kari@example.no", "Kari"),), "Queued", ("Hei",), "nb")
    store.mail.queue_mails(
        [QueuedMail("m1", ("kari@example.no",), mail.to_json(), 0, "", datetime(2026, 11, 27, tzinfo=UTC))]
    )
    assert lambda_entry.handler(event(name), None) == {"sent": 1, "failed": 0}
    assert store.mail.queued_mails(10, datetime.now(UTC)) == []
    (sent,) = (data_dir / "outbox").glob("*.eml")
    assert b"Subject: Queued" in sent.read_bytes() and b"To: Kari <kari@example.no>" in sent.read_bytes()


def test_a_submission_through_lambda_only_queues_its_mail(data_dir: Path) -> None:
    status, _, _ = call(event("http-api-v2.json"))
    assert status == 201
    queued = LocalStore(data_dir).mail.queued_mails(10, datetime.now(UTC))
    assert [m.recipients for m in queued] == [(AUTHORIZED,)]
    assert not list((data_dir / "outbox").glob("*.eml"))


def test_the_page_s_cookie_session_works_through_api_gateway_and_a_forged_change_does_not(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDF_SITE_URL", "https://forms.example.com")  # the site; CloudFront sends /v1/* on
    lambda_entry._container.cache_clear()
    page = event("http-api-v2.json")  # from https://forms.example.com, as the recorded event is
    page["cookies"] = [f"__Host-sdf-session={session_token()}"]
    page["headers"]["x-requested-with"] = "servicedesk-forms"
    status, body, _ = call(page, session=False)
    assert status == 201, body
    forged = copy.deepcopy(page)
    forged["headers"]["origin"] = "https://evil.example"
    forged["headers"]["idempotency-key"] = "another-key-0001"
    status, body, _ = call(forged, session=False)
    assert (status, body["code"]) == (403, "cross_site_request")


@pytest.mark.parametrize("name", ["http-api-v2.json", "rest-api-v1.json"])
def test_signing_out_through_api_gateway_tells_the_browser_to_forget_the_cookie(data_dir: Path, name: str) -> None:
    document = event(name)
    document["body"], document["isBase64Encoded"] = "", False
    if "rawPath" in document:
        document["rawPath"] = document["requestContext"]["http"]["path"] = "/v1/session"
        document["requestContext"]["http"]["method"] = "DELETE"
    else:
        document["path"] = document["requestContext"]["path"] = "/prod/v1/session"
        document["httpMethod"] = document["requestContext"]["httpMethod"] = "DELETE"
    result = lambda_entry.handler(signed_in(document), None)
    assert result["statusCode"] == 204
    set_cookies = [
        *result.get("cookies", []),
        *result.get("multiValueHeaders", {}).get("set-cookie", []),
        *([result["headers"]["set-cookie"]] if "set-cookie" in result.get("headers", {}) else []),
    ]
    assert any(c.startswith("__Host-sdf-session=") and "Max-Age=0" in c for c in set_cookies), result


@pytest.mark.parametrize("on_lambda", [False, True], ids=["elsewhere", "on-lambda"])
def test_the_collector_is_back_after_the_entry_is_imported(data_dir: Path, on_lambda: bool) -> None:
    """The entry switches garbage collection off while a cold start imports and builds, never for longer: on
    Lambda what INIT built is frozen (never walked again) and collection runs for every event after it."""
    environment = {**os.environ, "SDF_STORAGE": "local"}
    environment.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    if on_lambda:
        environment["AWS_LAMBDA_FUNCTION_NAME"] = "servicedesk-forms-test"
    probe = (
        "import gc, handler.lambda_entry as e;"
        "print(gc.isenabled(), gc.get_freeze_count() > 0, e._container.cache_info().currsize)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], env=environment, cwd=TESTS.parent, capture_output=True, text=True, timeout=60
    ).stdout.split()[-3:]
    assert found == ["True", str(on_lambda), "1" if on_lambda else "0"]


def test_the_routes_annotations_are_objects_not_text(data_dir: Path) -> None:
    """FastAPI reads each route's parameters from its annotations the first time a route is matched; written as
    text (postponed evaluation), each would be compiled and evaluated then, on the first event of every cold
    start. The route modules leave them as the objects they are."""
    app = create_app(Settings.from_env())
    endpoints = [route.endpoint for route in app.routes if isinstance(route, APIRoute)]
    assert endpoints
    written_as_text = {
        f"{endpoint.__module__}.{endpoint.__name__}"
        for endpoint in endpoints
        if any(isinstance(annotation, str) for annotation in inspect.get_annotations(endpoint).values())
    }
    assert not written_as_text
