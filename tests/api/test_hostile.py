"""Hostile input, kept as data in tests/data/hostile: each case over HTTP and through every Lambda event source.

Every case must be answered below 500, every 4xx in the API's error shape, and with the status the case
states, if it states one. A case is ``{"description", "method", "path"}`` with optional ``query`` (raw),
``headers`` (a ``null`` value removes a default header), one body (``json``; ``body``, text given whole or as
parts, a part being a string or ``[text, times]``; ``body_base64``, raw bytes), ``session`` (default true),
``status`` and ``allow`` (the ``Allow`` header a 405 must carry).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import jsonschema
import pytest
from fastapi.testclient import TestClient

from handler import lambda_entry
from tests.helpers.lambda_events import EVENTS, session_token
from tests.helpers.paths import TESTS
from tests.helpers.problems import validate_problem
from tests.helpers.shipped import stand_in, stand_in_text

CASES_DIR = TESTS / "data" / "hostile"
LAMBDA_SOURCES = {
    "rest-api-v1": "rest-api-v1.json",
    "http-api-v2": "http-api-v2.json",
    "function-url": "function-url.json",
}
# Headers of the recorded events that describe their own body, replaced by each case's.
BODY_HEADERS = {"content-type", "content-length", "idempotency-key", "accept-language", "authorization"}


def load_cases() -> list[dict[str, Any]]:
    """Every case of every file in tests/data/hostile, named after its file. The cases are written for a
    service of the shipped form; one that schema/ no longer has stands for another that it has
    (tests/helpers/shipped.py). A body in parts is measured to the byte and stays as written: its status does not
    depend on the service."""
    cases = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            case = {**case, "description": f"{path.stem}: {case['description']}"}
            if isinstance(case.get("json"), dict) and "data" in case["json"]:
                case["json"] = {**case["json"], "data": stand_in(case["json"]["data"])}
            if isinstance(case.get("body"), str):
                case["body"] = stand_in_text(case["body"])
            if "body_base64" in case:
                raw = base64.b64decode(case["body_base64"])
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
                if text is not None and stand_in_text(text) != text:
                    case["body_base64"] = base64.b64encode(stand_in_text(text).encode("utf-8")).decode()
            cases.append(case)
    return cases


CASES = load_cases()


def body_of(case: dict[str, Any]) -> bytes | None:
    """The bytes a case sends, if any."""
    if "json" in case:
        return json.dumps(case["json"], ensure_ascii=False).encode("utf-8")
    if "body_base64" in case:
        return base64.b64decode(case["body_base64"])
    body = case.get("body")
    if body is None:
        return None
    parts = [body] if isinstance(body, str) else body
    text = "".join(part if isinstance(part, str) else part[0] * part[1] for part in parts)
    return text.encode("utf-8", "surrogatepass")


def headers_of(case: dict[str, Any], body: bytes | None) -> dict[str, str]:
    """The case's headers over the defaults: JSON bodies say so and give their length."""
    headers: dict[str, str | None] = {}
    if body is not None:
        headers |= {"Content-Type": "application/json", "Content-Length": str(len(body))}
    for name, value in case.get("headers", {}).items():
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    return {k: v for k, v in headers.items() if v is not None}


def check(case: dict[str, Any], status: int, headers: dict[str, str], body: bytes) -> str | None:
    """What is wrong with an answer to ``case``, or None."""
    if status >= 500:
        return f"answered {status}: {body[:300]!r}"
    if "status" in case and status != case["status"]:
        return f"answered {status}, not {case['status']}: {body[:300]!r}"
    if 400 <= status < 500 and case["method"] != "HEAD":
        try:
            validate_problem(json.loads(body))
        except (ValueError, jsonschema.ValidationError) as exc:
            return f"a {status} not in the error shape ({exc.__class__.__name__}): {body[:300]!r}"
        if headers.get("content-type") != "application/problem+json":
            return f"a {status} as {headers.get('content-type')}"
    if "allow" in case and headers.get("allow") != case["allow"]:
        return f"Allow is {headers.get('allow')!r}, not {case['allow']!r}"
    return None


def report(transport: str, failures: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Print how many cases ran through the transport, and fail with every case that went wrong."""
    with capsys.disabled():
        print(f"\nhostile input: {len(CASES)} cases x {transport}: {len(CASES) - len(failures)} passed")
    assert not failures, "\n".join(failures)


def test_there_are_enough_cases(capsys: pytest.CaptureFixture[str]) -> None:
    """Every kind of hostile input is present, and the total stays at or above 300."""
    kinds = {case["description"].split(":")[0] for case in CASES}
    assert kinds == {"encodings", "headers", "json", "methods", "paths", "sizes", "types", "unicode"}
    assert len(CASES) >= 300
    with capsys.disabled():
        transports = 1 + len(LAMBDA_SOURCES)
        print(f"\nhostile input: {len(CASES)} cases x {transports} transports = {len(CASES) * transports} requests")


# Over HTTP ----------------------------------------------------------------------------------------------------


def test_every_case_over_http(client: TestClient, anonymous: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    """Every case through FastAPI's test client, signed in unless the case says otherwise."""
    failures = []
    for case in CASES:
        body = body_of(case)
        headers = headers_of(case, body)
        sender = client if case.get("session", True) else anonymous
        url = case["path"] + (f"?{case['query']}" if "query" in case else "")
        answer = sender.request(
            case["method"], url, content=body, headers={k.encode(): v.encode("utf-8") for k, v in headers.items()}
        )
        problem = check(case, answer.status_code, dict(answer.headers), answer.content)
        if problem:
            failures.append(f"{case['description']}: {problem}")
    report("HTTP", failures, capsys)


# Through Lambda -----------------------------------------------------------------------------------------------


def lambda_event(source: str, case: dict[str, Any], token: str) -> dict[str, Any]:
    """The case as the event API Gateway (REST v1 or HTTP API v2) or a Function URL would deliver."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / LAMBDA_SOURCES[source]).read_text(encoding="utf-8")))
    body = body_of(case)
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in BODY_HEADERS}
    if case.get("session", True):
        headers["Authorization"] = f"Bearer {token}"
    headers |= headers_of(case, body)
    path, query = case["path"], case.get("query", "")
    try:
        event["body"], event["isBase64Encoded"] = (body or b"").decode("utf-8"), False
    except UnicodeDecodeError:  # API Gateway passes bytes that are not UTF-8 in base64
        event["body"], event["isBase64Encoded"] = base64.b64encode(body or b"").decode(), True
    if source == "rest-api-v1":
        event.update(httpMethod=case["method"], path=unquote(path), headers=headers)
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        values = parse_qs(query, keep_blank_values=True)
        event["queryStringParameters"] = {k: v[-1] for k, v in values.items()} or None
        event["multiValueQueryStringParameters"] = values or None
        event["requestContext"].update(httpMethod=case["method"], path="/prod" + unquote(path))
    else:
        event.update(rawPath=path, rawQueryString=query, headers={k.lower(): v for k, v in headers.items()})
        event["queryStringParameters"] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        event["requestContext"]["http"].update(method=case["method"], path=unquote(path))
    return event


@pytest.fixture
def lambda_cases(data_dir: Path) -> Iterator[str]:
    """A session token for the events, on a fresh container and data folder."""
    yield session_token()


@pytest.mark.parametrize("source", list(LAMBDA_SOURCES))
def test_every_case_through_lambda(source: str, lambda_cases: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every case as an event of the source, through ``handler.lambda_entry.handler``."""
    failures = []
    for case in CASES:
        answer = lambda_entry.handler(lambda_event(source, case, lambda_cases), None)
        raw = answer.get("body") or ""
        body = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode("utf-8")
        headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers.setdefault(name.lower(), ", ".join(values))
        problem = check(case, int(answer["statusCode"]), headers, body)
        if problem:
            failures.append(f"{case['description']}: {problem}")
    report(source, failures, capsys)
