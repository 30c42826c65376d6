"""Values at the edges of the dialect, on the server and through the API: decimals and ``multipleOf``,
numbers that cannot be compared, whole numbers stored as integers, choices that are numbers, branches
on a yes/no and on a list of checkboxes, and text with a lone surrogate (page and server alike)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import build
from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.schema.loader import COMPILED, compile_catalog, load_catalog
from handler.schema.values import FormValidator
from handler.settings import Settings
from handler.storage.local import LocalStore
from tests.helpers.accounts import SECRET
from tests.helpers.clock import NOW, Clock
from tests.helpers.pagecheck import NODE, verdicts
from tests.helpers.schema_copies import copy_schema, edit, problems_of

FORM = "every-keyword"


def amounts() -> list[float]:
    """Every amount from 0.00 to 1000.00 in steps of 0.01, as JSON gives them to the server."""
    return list(json.loads("[" + ",".join(f"{i // 100}.{i % 100:02d}" for i in range(100_001)) + "]"))


def test_every_amount_in_steps_of_0_01_is_a_multiple_of_0_01_on_the_server() -> None:
    validator = FormValidator({"type": "number", "multipleOf": 0.01})
    assert [v for v in amounts() if not validator.is_valid(v)] == []
    for value in (0.07, 1.15, 19.99, 1234.56, -0.01, 0, 3):
        assert validator.is_valid(value), value
    for value in (0.075, 0.001, 19.995, 1234.567):
        assert not validator.is_valid(value), value


@pytest.mark.parametrize(
    ("step", "value", "valid"),
    [
        (0.1, 0.3, True),
        (0.5, 1e308, True),  # the official suite's optional float-overflow case
        (0.123456789, 1e308, False),  # "float division = inf"
        (1e-8, 12391239123, True),  # "small multiple of large integer"
        (0.01, 10**400, True),
        (0.01, float("inf"), False),
        (0.01, float("-inf"), False),
    ],
)
def test_multiple_of_never_raises_and_is_exact(step: float, value: Any, valid: bool) -> None:
    assert FormValidator({"multipleOf": step}).is_valid(value) is valid


# ---- Through the API, with the test-only form that has every keyword --------------------------------


@pytest.fixture
def app(catalog_with_test_forms: Catalog, store: LocalStore, clock: Clock) -> FastAPI:
    settings = Settings(data_dir=store.folder, session_secret=SECRET, code_answer_seconds=0)
    return create_app(settings, catalog=catalog_with_test_forms, store=store, clock=clock)


def post_text(client: TestClient, data: str) -> Any:
    """Post a body written as JSON text, so it can hold numbers Python's json.dumps cannot write."""
    body = '{"form": "every-keyword", "data": ' + data + "}"
    return client.post(
        "/v1/requests", content=body, headers={"Content-Type": "application/json", "Accept-Language": "en"}
    )


def post(client: TestClient, data: dict[str, Any]) -> Any:
    return post_text(client, json.dumps(data))


NUMBERS = '{"kind": "numbers", "title": "Numbers", "participants": 3, '


@pytest.mark.parametrize(
    ("member", "field"),
    [
        ('"budget": 1e400', "budget"),
        ('"budget": -1e400', "budget"),
        ('"price": 1e400', "price"),
        ('"price": ' + "1" + "0" * 400, "price"),
        ('"level": -' + "9" * 400, "level"),
        ('"participants": 1e400', "participants"),
    ],
)
def test_a_number_the_server_cannot_compare_is_a_422_naming_the_field(
    client: TestClient, store: LocalStore, member: str, field: str
) -> None:
    data = NUMBERS.replace('"participants": 3, ', "") if field == "participants" else NUMBERS
    response = post_text(client, data + member + "}")
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors[0]["field"] == field and errors[0]["keyword"] == "x-number"
    assert errors[0]["pointer"] == f"/data/{field}"
    label = {"budget": "Budget", "price": "Price", "level": "Floor", "participants": "Number of participants"}[field]
    assert errors[0]["detail"] == f"“{label}” is a number too large to be read. Enter a smaller number."
    assert not store.requests.document_ids()


def stored(store: LocalStore, response: Any) -> Mapping[str, Any]:
    assert response.status_code == 201, response.text
    found = store.requests.get(response.json()["id"])
    assert found is not None
    return found.data


@pytest.mark.parametrize("price", [0.07, 1.15, 19.99, 1234.56])
def test_a_decimal_amount_passes_multiple_of_0_01_through_the_api(
    client: TestClient, store: LocalStore, price: float
) -> None:
    assert stored(store, post_text(client, NUMBERS + f'"price": {price}}}'))["price"] == price
    response = post_text(client, NUMBERS + '"price": 0.075}')
    assert [(e["field"], e["keyword"]) for e in response.json()["errors"]] == [("price", "multipleOf")]


def test_a_whole_number_of_an_integer_field_is_stored_as_an_integer(client: TestClient, store: LocalStore) -> None:
    data = stored(store, post_text(client, '{"kind": "numbers", "title": "Numbers", "participants": 12.0}'))
    assert data["participants"] == 12 and type(data["participants"]) is int
    (request_id,) = store.requests.document_ids()
    document = (store.requests.document(request_id) or b"").decode("utf-8")
    assert '"participants": 12.0' not in document and '"participants":12.0' not in document
    response = post_text(client, '{"kind": "numbers", "title": "Numbers", "participants": 12.5}')
    assert [(e["field"], e["keyword"]) for e in response.json()["errors"]] == [("participants", "type")]


CHOICES = {"kind": "choices", "title": "Choices", "consent": True, "channels": ["chat"]}


def test_a_choice_of_numbers_is_validated_and_stored_as_a_number(client: TestClient, store: LocalStore) -> None:
    data = stored(store, post(client, {**CHOICES, "rating": 5, "stars": 2.5}))
    assert (data["rating"], data["stars"]) == (5, 2.5)
    for wrong, first in (
        ({"rating": "5"}, "type"),
        ({"rating": 3}, "enum"),
        ({"rating": True}, "type"),
        ({"stars": 2}, "enum"),
    ):
        response = post(client, {**CHOICES, **wrong})
        assert response.status_code == 422
        assert response.json()["errors"][0]["keyword"] == first, wrong


@pytest.mark.parametrize(
    ("extra", "errors"),
    [
        ({"newsletter": True, "topic": "Releases"}, []),
        ({"newsletter": True}, [("topic", "required")]),
        ({"newsletter": False, "topic": "Releases"}, [("topic", "unevaluatedProperties")]),
        ({"topic": "Releases"}, [("topic", "unevaluatedProperties")]),
        ({"channels": ["chat", "phone"], "call_at": "09:30"}, []),
        ({"channels": ["phone"]}, []),
        ({"channels": ["chat"], "call_at": "09:30"}, [("call_at", "unevaluatedProperties")]),
        ({"channels": ["phone"], "call_at": "9.30"}, [("call_at", "format")]),
    ],
)
def test_a_branch_on_a_yes_no_or_a_checkbox_is_validated_by_the_api(
    client: TestClient, extra: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    response = post(client, {**CHOICES, **extra})
    if not errors:
        assert response.status_code == 201, response.text
    else:
        assert [(e["field"], e["keyword"]) for e in response.json()["errors"]] == errors


# ---- Page and server give the same verdicts ----------------------------------------------------------

EDGE_DOCUMENTS: list[dict[str, Any]] = [
    {"kind": "numbers", "title": "a\ud800b"},
    {"kind": "numbers", "title": "Lone \udc00", "participants": 3},
    {"kind": "numbers", "title": "Pair 😀", "participants": 3, "price": 19.99},
    {"kind": "numbers", "title": "Cents", "participants": 3, "price": 0.075},
    {"kind": "numbers", "title": "Whole", "participants": 12.0, "budget": 0.5},
    {**CHOICES, "newsletter": True},
    {**CHOICES, "newsletter": True, "topic": "x\ud800"},
    {**CHOICES, "newsletter": True, "topic": "Releases"},
    {**CHOICES, "newsletter": False, "topic": "Releases"},
    {**CHOICES, "newsletter": 1, "topic": "Releases"},
    {**CHOICES, "channels": ["phone", "chat"], "call_at": "09:30"},
    {**CHOICES, "channels": ["email"], "call_at": "09:30"},
    {**CHOICES, "channels": "phone", "call_at": "09:30"},
    {**CHOICES, "rating": 2, "stars": 0.5},
    {**CHOICES, "rating": 2.0, "stars": 1.0},
    {**CHOICES, "rating": "2", "stars": "0.5"},
    {**CHOICES, "rating": 4},
]


@pytest.mark.skipif(NODE is None, reason="Node.js runs the page's checker")
def test_page_and_server_agree_on_decimals_surrogates_branches_and_numeric_choices(
    catalog_with_test_forms: Catalog,
) -> None:
    form = catalog_with_test_forms.forms[FORM]
    compared = verdicts(catalog_with_test_forms, form, EDGE_DOCUMENTS, NOW)
    for data, server, mine in compared:
        assert server == mine, data
    assert sum(1 for _, server, _ in compared if server) >= 10  # most are refused: not all trivially valid
    first = catalog_with_test_forms.languages[0]
    assert compared[0][1] == {
        "participants": form.message(first, "participants", "required"),
        "title": form.message(first, "title", "x-text"),
    }


# ---- The loader, the page and the compiled catalog ---------------------------------------------------


def test_options_that_are_numbers_are_labelled_by_their_json_text(catalog_with_test_forms: Catalog) -> None:
    form = catalog_with_test_forms.forms[FORM]
    assert form.field("rating") is not None and form.field("rating").widget == "select"  # type: ignore[union-attr]
    assert form.option_label("en", "rating", 5) == "Five"
    assert form.display("en", "rating", 5.0) == "Five"
    assert form.display("en", "stars", 2.5) == "Two and a half hours"
    params = {f.name: build.field_params(form, f, "en") for f in form.fields}
    assert [i["value"] for i in params["rating"]["items"]] == ["1", "2", "5"]
    assert [i["value"] for i in params["stars"]["items"]] == ["0.5", "1", "2.5"]
    summary = build.summary_model(catalog_with_test_forms, "en")[FORM]["fields"]
    assert summary["rating"]["options"] == {"1": "One", "2": "Two", "5": "Five"}


def test_branches_on_a_yes_no_and_a_checkbox_reach_the_page_and_the_compiled_catalog(
    catalog_with_test_forms: Catalog, tmp_path: Path
) -> None:
    form = catalog_with_test_forms.forms[FORM]
    shown = {f["name"]: f["shownWhen"] for f in build.form_model(form, "en")["fields"]}
    assert shown["topic"] == [[["kind", "choices"], ["newsletter", True]]]
    assert shown["call_at"] == [[["kind", "choices"], ["channels", "phone", "contains"]]]
    (tmp_path / COMPILED).write_text(json.dumps(compile_catalog(catalog_with_test_forms)), encoding="utf-8")
    assert load_catalog(tmp_path).forms[FORM].fields == form.fields


def _every_keyword_in(root: Path) -> None:
    """Put the test-only form into a copy of schema/."""
    from tests.helpers.forms import EVERY_KEYWORD_FORM

    for path in EVERY_KEYWORD_FORM.parent.glob(f"{FORM}.*"):
        (root / "forms" / path.name).write_bytes(path.read_bytes())
    edit(root / "site.json", lambda d: d["forms"].append(FORM))


def _choices_branch(schema: dict[str, Any]) -> dict[str, Any]:
    branch = next(b for b in schema["allOf"] if b["if"]["properties"]["kind"]["const"] == "choices")
    then: dict[str, Any] = branch["then"]
    return then


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (
            lambda s: _choices_branch(s)["allOf"][1]["if"]["properties"].update(channels={"const": "phone"}),
            "test a list of choices with contains",
        ),
        (
            lambda s: _choices_branch(s)["allOf"][0]["if"]["properties"].update(
                newsletter={"contains": {"const": "x"}}
            ),
            "test a list of choices with contains",
        ),
        (
            lambda s: _choices_branch(s)["allOf"][1]["if"]["properties"].update(
                channels={"contains": {"const": "fax"}}
            ),
            "channels='fax', which cannot be chosen",
        ),
        (
            lambda s: _choices_branch(s)["allOf"][0]["if"]["properties"].update(newsletter={"const": 1}),
            "newsletter=1, which cannot be chosen",
        ),
        (lambda s: _choices_branch(s)["properties"]["rating"]["enum"].append(7), "/fields/rating/options/7: missing"),
        (
            lambda s: _choices_branch(s)["allOf"][0]["if"]["properties"].update(newsletter={"const": {"a": 1}}),
            "(dialect)",
        ),
    ],
    ids=[
        "const on a list",
        "contains on a yes/no",
        "a checkbox that is not there",
        "1 for true",
        "an unlabelled number",
        "an object",
    ],
)
def test_a_branch_test_or_a_numeric_choice_that_cannot_work_is_refused(tmp_path: Path, change: Any, what: str) -> None:
    root = copy_schema(tmp_path)
    _every_keyword_in(root)
    load_catalog(root)  # the form as it is loads
    edit(root / "forms" / f"{FORM}.schema.json", change)
    problems = problems_of(root)
    assert any(f"{FORM}." in p and what in p for p in problems), problems
