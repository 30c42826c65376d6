"""The Lambda entry point with events it does not serve, and its start in Lambda's INIT phase.

The events are real-shaped documents in tests/events: another service's (S3, SQS), an empty or
non-object invocation, and HTTP events Mangum cannot read (headers ``null``, a non-numeric
``X-Forwarded-Port``). Each is answered and logged without personal data, never raised.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from handler import lambda_entry
from handler.schema.catalog import Catalog
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED
from tests.helpers.lambda_events import EVENTS, SECRET
from tests.helpers.paths import ROOT
from tests.helpers.scripts import run_script

UNREADABLE_HTTP = ["http-api-v2-headers-null.json", "rest-api-v1-bad-forwarded-port.json"]
NOT_HTTP = [("s3-put.json", ["aws:s3"]), ("sqs.json", ["aws:sqs"]), ("empty.json", []), ("not-an-object.json", None)]
# What every log record carries anyway; the rest is what the handler added (Lambda's JSON log format
# puts those as fields of their own next to "message").
STANDARD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def raw_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def as_logged(record: logging.LogRecord) -> str:
    """The record as Lambda's JSON log format writes it (message and extra fields), as text."""
    fields = {key: value for key, value in record.__dict__.items() if key not in STANDARD_FIELDS}
    return json.dumps({"level": record.levelname, "message": record.getMessage(), **fields}, ensure_ascii=False)


def handled(name: str, caplog: pytest.LogCaptureFixture) -> tuple[Any, list[logging.LogRecord]]:
    """The handler's answer to the event in ``name`` and what it logged."""
    with caplog.at_level(logging.INFO, logger="servicedesk_forms"):
        result = lambda_entry.handler(raw_event(name), None)
    records = [record for record in caplog.records if record.name.startswith("servicedesk_forms")]
    for record in records:
        logged = as_logged(record)
        assert "@" not in logged and "kari" not in logged.lower(), logged
    return result, records


@pytest.mark.parametrize("name", UNREADABLE_HTTP)
def test_an_http_event_mangum_cannot_read_is_a_400_and_a_warning(
    data_dir: Path,
    name: str,
    catalog: Catalog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    result, records = handled(name, caplog)
    assert result["statusCode"] == 400
    assert result["headers"]["content-type"] == "application/problem+json"
    body = json.loads(result["body"])
    assert body == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": catalog.common["nb"]["api"]["bad_request"],
        "code": "bad_request",
        "errors": [],
    }
    (warning,) = [record for record in records if record.levelno == logging.WARNING]
    assert "requestContext" in warning.__dict__["eventKeys"]
    assert warning.__dict__["failure"] in ("AttributeError", "ValueError")
    assert json.loads(as_logged(warning))["eventKeys"] == warning.__dict__["eventKeys"]
    assert not list((data_dir / "outbox").glob("*.eml"))  # the code request inside was never served


@pytest.mark.parametrize(("name", "sources"), NOT_HTTP)
def test_an_event_that_is_not_http_is_answered_and_logged(
    data_dir: Path,
    name: str,
    sources: list[str] | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    result, records = handled(name, caplog)
    assert result == {"ignored": True, "reason": "unsupported event"}
    json.dumps(result)
    (warning,) = [record for record in records if record.levelno == logging.WARNING]
    if sources is None:
        assert warning.__dict__["eventType"] == "list"
    else:
        assert warning.__dict__["eventSources"] == sources
    assert not LocalStore(data_dir).requests.document_ids()


def test_the_events_it_serves_are_served_as_before(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    document = raw_event("http-api-v2.json")
    document["rawPath"] = document["requestContext"]["http"]["path"] = "/v1/session/code"
    document["body"] = json.dumps({"email": AUTHORIZED})
    with caplog.at_level(logging.WARNING, logger="servicedesk_forms"):
        result = lambda_entry.handler(document, None)
    assert result["statusCode"] == 202, result
    assert not [record for record in caplog.records if record.name.startswith("servicedesk_forms")]


# The container is built in Lambda's INIT phase ---------------------------------------------------------------

IMPORT_THEN_SERVE = r"""
import json, os, sys
import handler.lambda_entry as entry
built_at_import = entry._container.cache_info().currsize
os.environ["SDF_STORAGE"] = "local"  # a start-up that failed may succeed on the first event
health = json.load(open(sys.argv[1], encoding="utf-8"))
health["rawPath"] = health["requestContext"]["http"]["path"] = "/v1/health"
health["requestContext"]["http"]["method"] = "GET"
health["body"] = ""
answer = entry.handler(health, None)
print(json.dumps({"builtAtImport": built_at_import, "status": answer["statusCode"],
                  "builds": entry._container.cache_info().misses}))
"""


def import_then_serve(tmp_path: Path, **environment: str) -> tuple[dict[str, Any], str]:
    """Import the entry module in a fresh interpreter, then serve a health check; what happened, and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDF_", "AWS_LAMBDA_"))}
    env.update(SDF_DATA_DIR=str(tmp_path / "data"), SDF_SESSION_SECRET=SECRET, **environment)
    happened, stderr = run_script(IMPORT_THEN_SERVE, str(EVENTS / "http-api-v2.json"), cwd=ROOT, env=env)
    return happened, stderr


def test_on_lambda_the_container_is_built_while_the_module_is_imported(tmp_path: Path) -> None:
    outcome, _ = import_then_serve(tmp_path, AWS_LAMBDA_FUNCTION_NAME="servicedesk-forms-handler")
    assert outcome == {"builtAtImport": 1, "status": 200, "builds": 1}


def test_elsewhere_importing_the_module_builds_nothing_until_the_first_event(tmp_path: Path) -> None:
    outcome, _ = import_then_serve(tmp_path)
    assert outcome == {"builtAtImport": 0, "status": 200, "builds": 1}


def test_a_start_up_that_fails_is_logged_and_tried_again_on_the_first_event(tmp_path: Path) -> None:
    outcome, stderr = import_then_serve(
        tmp_path, AWS_LAMBDA_FUNCTION_NAME="servicedesk-forms-handler", SDF_STORAGE="nowhere"
    )
    assert outcome == {"builtAtImport": 0, "status": 200, "builds": 2}  # the failed one, then the first event's
    assert "could not build the handler at start-up" in stderr
