"""The HTTP API through FastAPI's test client: validation per category, errors, and bad input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, sign_in
from tests.helpers.forms import load_cases
from tests.helpers.paths import TESTS
from tests.helpers.shipped import form, service_having, service_with_rule, valid_data, valid_data_of

CASES = load_cases(TESTS / "data" / "service-request")


def post(client: TestClient, data: Any, **headers: str) -> Any:
    return client.post("/v1/requests", json={"form": "service-request", "data": data}, headers=headers)


def stored_count(store: LocalStore) -> int:
    return len(store.requests.document_ids())


@pytest.mark.parametrize(("valid", "case"), CASES)
def test_submission_cases(client: TestClient, store: LocalStore, valid: bool, case: dict[str, Any]) -> None:
    response = post(client, case["data"])
    if valid:
        assert response.status_code == 201, response.json()
        receipt = response.json()
        stored = store.requests.get(receipt["id"])
        assert stored is not None
        assert stored.receipt.reference == receipt["reference"]
        assert stored.data == case["data"]
        assert stored.category == case["data"]["service"]
    else:
        assert response.status_code == 422
        details = response.json()["errors"]
        assert {(d["pointer"], d["keyword"]) for d in details} == {
            ("/data" + e["path"], e["keyword"]) for e in case["errors"]
        }
        assert all(d["detail"] and "{" not in d["detail"] for d in details)
        assert stored_count(store) == 0


def test_receipt_has_a_readable_reference_and_an_id(client: TestClient) -> None:
    response = post(client, valid_data(subject="S", description="D"))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "reference", "status", "receivedAt"}
    assert body["status"] == "received"
    prefix, first, second = body["reference"].split("-")
    assert prefix == "SR" and len(first) == len(second) == 4
    assert not set(first + second) & set("ILOU")


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", "Skriv et emne"),
        ({"Accept-Language": "en-GB,en;q=0.9"}, "", "Enter a subject"),
        ({"Accept-Language": "de, no;q=0.5"}, "", "Skriv et emne"),
        ({"Accept-Language": "nb;q=0.2, en;q=0.8"}, "", "Enter a subject"),
        ({"Accept-Language": "en"}, "?lang=nb", "Skriv et emne"),
        ({}, "?lang=en", "Enter a subject"),
    ],
)
def test_messages_follow_the_requested_language(
    client: TestClient, headers: dict[str, str], query: str, expected: str
) -> None:
    data = valid_data(description="D", subject=None)
    response = client.post(f"/v1/requests{query}", json={"form": "service-request", "data": data}, headers=headers)
    assert response.json()["errors"][0]["detail"] == expected
    assert response.headers["content-language"] == ("en" if expected.startswith("Enter") else "nb")


def test_limits_in_messages_are_the_field_s_own(client: TestClient) -> None:
    data = valid_data(subject="x" * 151, description="D")
    details = post(client, data, **{"Accept-Language": "en"}).json()["errors"]
    assert details == [
        {
            "field": "subject",
            "pointer": "/data/subject",
            "keyword": "maxLength",
            "detail": "The subject must be 150 characters or fewer",
        }
    ]


def test_the_second_form_validates_with_no_code_of_its_own(client: TestClient) -> None:
    ok = client.post("/v1/requests", json={"form": "incident", "data": {"severity": "minor", "summary": "Slow"}})
    assert ok.status_code == 201
    assert ok.json()["reference"].startswith("INC-")
    bad = client.post(
        "/v1/requests?lang=en",
        json={"form": "incident", "data": {"severity": "critical", "summary": "Down", "users_affected": "many"}},
    )
    assert bad.json()["errors"] == [
        {
            "field": "users_affected",
            "pointer": "/data/users_affected",
            "keyword": "type",
            "detail": "Enter “How many users are affected?” as a whole number, for example 1,500",
        }
    ]
    too_many = client.post(
        "/v1/requests?lang=nb",
        json={"form": "incident", "data": {"severity": "critical", "summary": "Nede", "users_affected": 0}},
    )
    (detail,) = too_many.json()["errors"]
    assert detail["detail"] == "Skriv et tall fra 1 til 1\u00a0000\u00a0000 i «Hvor mange brukere er rammet?»"


# RFC 9110's names of the statuses the API answers with, the titles of their problem details.
RFC_9110 = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code", "errors"}
    assert (body["type"], body["title"], body["status"]) == ("about:blank", RFC_9110[status], status)
    assert body["code"] == code
    assert body["detail"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b'{"form": "service-request", "data": {}, "data": {}}', "application/json", 400, "invalid_json"),
        (b'{"form": NaN}', "application/json", 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "invalid_json"),
        ('{"form": "service-request"}'.encode("utf-16"), "application/json", 400, "invalid_encoding"),
        (b'{"form": "\xff"}', "application/json", 400, "invalid_encoding"),
        (b"form=service-request", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b"{}", "application/json; charset=latin-1", 415, "unsupported_media_type"),
        (b"[]", "application/json", 422, "invalid_body"),
        (b'{"form": "service-request"}', "application/json", 422, "invalid_body"),
        (b'{"form": "service-request", "data": [], "extra": 1}', "application/json", 422, "invalid_body"),
        (b'{"form": "nope", "data": {}}', "application/json", 422, "unknown_form"),
        (b'{"form": 7, "data": {}}', "application/json", 422, "unknown_form"),
        (b'{"form": "service-request", "data": {"subject": 5}}', "application/json", 422, "validation_failed"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_stores_nothing(
    client: TestClient, store: LocalStore, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post("/v1/requests", content=content, headers={"Content-Type": content_type})
    assert_error(response, status, code)
    assert stored_count(store) == 0


def test_oversize_bodies_are_refused_before_they_are_read(client: TestClient, store: LocalStore) -> None:
    big = json.dumps({"form": "service-request", "data": {"description": "x" * 300_000}}).encode()
    assert_error(
        client.post("/v1/requests", content=big, headers={"Content-Type": "application/json"}), 413, "payload_too_large"
    )

    def chunks() -> Any:  # no Content-Length: the limit applies while reading
        for _ in range(300):
            yield b" " * 1024

    response = client.post("/v1/requests", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert stored_count(store) == 0


def test_unknown_routes_and_methods_use_the_same_error_shape(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.put("/v1/requests"), 405, "method_not_allowed")
    error = assert_error(client.get("/v1/nothing-here", headers={"Accept-Language": "en"}), 404, "not_found")
    assert error["detail"] == "There is nothing at this address."


def test_a_bad_idempotency_key_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/requests", json={"form": "service-request", "data": {}}, headers={"Idempotency-Key": "short"}
    )
    assert_error(response, 400, "invalid_idempotency_key")


def test_a_retry_with_the_same_key_returns_the_first_receipt(client: TestClient, store: LocalStore) -> None:
    data = valid_data(subject="S", description="D")
    first = post(client, data, **{"Idempotency-Key": "form-session-0001"})
    again = post(client, data, **{"Idempotency-Key": "form-session-0001"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    changed = post(client, {**data, "subject": "Other"}, **{"Idempotency-Key": "form-session-0001"})
    assert_error(changed, 422, "idempotency_conflict")
    assert first.json()["reference"] in changed.json()["detail"]  # names the request it was sent as
    assert stored_count(store) == 1


def test_storage_failures_answer_503_and_can_be_retried(client: TestClient, store: LocalStore) -> None:
    data = valid_data(subject="S", description="D")
    saved = store.database.rename(store.database.with_suffix(".saved"))
    store.database.mkdir()  # the database can no longer be opened
    response = post(client, data, **{"Idempotency-Key": "form-session-0002"})
    error = assert_error(response, 503, "storage_unavailable")
    assert response.headers["retry-after"]
    assert "ikke sendt to ganger" in error["detail"] or "to ganger" in error["detail"]
    store.database.rmdir()
    saved.rename(store.database)
    retried = post(client, data, **{"Idempotency-Key": "form-session-0002"})
    assert retried.status_code == 201


def test_the_openapi_document_describes_the_submit_route(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()
    assert "/v1/requests" in document["paths"]


def test_attachments_must_name_uploads_that_exist(client: TestClient, store: LocalStore) -> None:
    data = valid_data(subject="S", description="D")
    response = post(client, {**data, "attachments": ["a" * 20]}, **{"Accept-Language": "en"})
    assert response.json()["errors"] == [
        {
            "field": "attachments",
            "pointer": "/data/attachments/0",
            "keyword": "x-upload",
            "detail": "The attachment cannot be found or is not yours. Upload it again.",
        }
    ]
    assert stored_count(store) == 0


def test_a_retry_gets_its_receipt_even_when_the_data_would_no_longer_pass(
    client: TestClient, store: LocalStore, clock: Any
) -> None:
    # A valid document of a service with a moment that must not be past, sent an hour before that moment.
    soon = valid_data_of(service_with_rule("not-past"), subject="S", description="D")
    rule = next(r for r in form().rules if r.rule == "not-past" and r.field in soon)
    start = datetime.fromisoformat(soon[rule.field]).replace(tzinfo=ZoneInfo(rule.time_zone or form().time_zone))
    clock.now = start - timedelta(hours=1)
    client.headers["Authorization"] = f"Bearer {sign_in(client, store.folder / 'outbox', AUTHORIZED)}"
    first = post(client, soon, **{"Idempotency-Key": "evening-support-1"})
    assert first.status_code == 201, first.text
    clock.advance(hours=2)  # the start has passed when the lost answer is retried
    again = post(client, soon, **{"Idempotency-Key": "evening-support-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert post(client, soon, **{"Idempotency-Key": "evening-support-2"}).json()["errors"][0]["keyword"] == "x-not-past"


@pytest.mark.parametrize(
    "body",
    [
        b'{"form": "service-request", "data": {"subject": "\\ud800", "service": "premium-feature"}}',
        b'{"form": "service-request", "data": {"\\udfff": "x"}}',
        b'{"form": "service-request", "data": {"cc": ["a\\udc00@example.no"]}}',
        b'{"\\ud83d": 1}',
    ],
    ids=["a lone surrogate in a value", "as a key", "in a list", "at the top"],
)
def test_text_that_cannot_be_stored_is_a_4xx_naming_the_field(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/v1/requests", content=body, headers={"Content-Type": "application/json", "Accept-Language": "en"}
    )
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid_text" and "cannot be read" in error["detail"]
    assert error["errors"][0]["detail"] == error["detail"]
    if b'"subject"' in body:
        assert error["errors"][0]["field"] == "subject"


def test_cross_field_rules_never_compare_values_of_a_service_not_chosen(client: TestClient) -> None:
    compared = {name for r in form().rules for name in (r.field, r.other) if name}
    service = service_having(lambda s: not compared & set(valid_data_of(s)), "no field a cross-field rule compares")
    data = valid_data_of(service, subject="S", description="D")
    for other in ({"period_from": 5, "period_to": "2027-01-01"}, {"support_start": [], "support_end": "x"}):
        response = post(client, {**data, **other}, **{"Accept-Language": "en"})
        assert response.status_code == 422
        assert {d["keyword"] for d in response.json()["errors"]} == {"unevaluatedProperties"}


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("subject", "Faktura\u202egnp.exe"),
        ("subject", "\u200b\u200b\u200b"),
        ("subject", "   "),
        ("subject", "Linje\u2028to"),
        ("description", "Tekst med \x00 i"),
        ("description", "Skjult \u2066retning\u2069"),
        ("description", "\n\n\t"),
    ],
    ids=[
        "a right-to-left override",
        "only zero-width spaces",
        "only spaces",
        "a line separator",
        "a NUL",
        "an isolate",
        "no text",
    ],
)
def test_control_and_invisible_characters_are_refused_where_they_have_no_business(
    client: TestClient, field: str, text: str
) -> None:
    data = valid_data(subject="S", description="D")
    response = post(client, {**data, field: text}, **{"Accept-Language": "en"})
    assert response.status_code == 422
    assert [(d["field"], d["keyword"]) for d in response.json()["errors"]] == [(field, "pattern")]


def test_line_breaks_tabs_and_emoji_sequences_are_fine_in_a_description(client: TestClient) -> None:
    data = valid_data(subject="Familie 👨\u200d👩\u200d👧", description=None)
    response = post(client, {**data, "description": "Første linje\r\nAndre\tlinje"})
    assert response.status_code == 201, response.text


def test_an_address_listed_twice_in_another_case_is_refused_as_on_the_page(
    client: TestClient, store: LocalStore, catalog_with_incident: Any
) -> None:
    form = catalog_with_incident.forms["service-request"]
    lists = [f for f in form.fields if f.item_schema.get("format") == "email" and f.schema.get("uniqueItems")]
    if not lists:
        pytest.skip("schema/ has no list of e-mail addresses that must differ")
    name = lists[0].name
    data = valid_data(subject="S", description="D")
    twice = post(client, {**data, name: ["Kari@Example.no", "kari@example.NO"]})
    assert [(d["pointer"], d["keyword"]) for d in assert_error(twice, 422, "validation_failed")["errors"]] == [
        (f"/data/{name}", "uniqueItems")
    ]
    once = post(client, {**data, name: ["Kari@Example.no"]})
    assert once.status_code == 201, once.text
    stored = store.requests.get(once.json()["id"])
    assert stored is not None and stored.data[name] == ["kari@example.no"]
