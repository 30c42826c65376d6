"""The helper that derives the shipped form's test documents from schema/ as it is (tests/helpers/shipped.py)."""

from __future__ import annotations

import json

from tests.helpers.clock import NOW
from tests.helpers.forms import load_cases
from tests.helpers.paths import TESTS
from tests.helpers.shipped import (
    a_service,
    accepted,
    fixture_paths,
    fixture_service,
    form,
    services,
    skip_reason,
    stand_in,
    valid_data,
)

CASES = load_cases(TESTS / "data" / "service-request")


def test_a_fixture_whose_service_is_in_schema_is_never_skipped() -> None:
    for path in fixture_paths():
        assert (skip_reason(path) is None) == (fixture_service(path) in services()), path.name
    for case in CASES:
        service = str(case.id).split(":")[0]
        assert bool(case.marks) == (service not in services()), case.id
        assert all(mark.kwargs.get("reason") for mark in case.marks), case.id


def test_every_service_of_schema_with_a_fixture_has_a_valid_document_at_the_tests_moment() -> None:
    for path in fixture_paths():
        if fixture_service(path) in services():
            cases = json.loads(path.read_text(encoding="utf-8"))["valid"]
            assert any(accepted(case["data"], NOW) for case in cases), path.name


def test_the_valid_document_is_accepted_and_the_same_on_every_call() -> None:
    assert valid_data() == valid_data() and valid_data()[form().discriminator] == a_service()
    assert form().validate(valid_data(), "nb", NOW) == []
    assert "subject" not in valid_data(subject=None) and valid_data(subject="S")["subject"] == "S"


def test_a_document_of_a_service_in_schema_stands_as_written() -> None:
    document = valid_data(subject="S")
    assert stand_in(document) is document
