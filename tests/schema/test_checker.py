"""The page's checker and the handler agree: on the official JSON Schema cases, and field by field on
documents generated from every form (valid ones and near misses), in every language."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from handler.dialect import FORMAT_CHECKER, FORMAT_PATTERNS, KEYWORD_NAMES, RULES
from handler.schema.catalog import Catalog
from handler.schema.model import Field, Form
from handler.schema.values import FormValidator
from tests.helpers.examples import examples
from tests.helpers.pagecheck import NODE, ROOT, node, verdicts
from tests.helpers.paths import TESTS

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="Node.js runs the page's checker; 'make test' installs it"),
    pytest.mark.filterwarnings("ignore:Overriding standard format:hypothesis.errors.HypothesisWarning"),
]
DOCUMENTS_PER_FORM = examples(300)


def test_the_page_knows_the_same_keywords_in_the_same_order() -> None:
    keys = node(
        "import { KEYWORDS } from './site/static/checks.js'; console.log(JSON.stringify(Object.keys(KEYWORDS)))"
    )
    assert tuple(json.loads(keys)) == KEYWORD_NAMES
    source = (ROOT / "site" / "static" / "checks.js").read_text(encoding="utf-8")
    for rule in RULES:
        assert f'"{rule}"' in source, f"the page's checker has no rule {rule!r}"


def test_the_page_checks_each_format_with_the_servers_pattern() -> None:
    script = "import { FORMAT_PATTERNS } from './site/static/checks.js'; console.log(JSON.stringify(FORMAT_PATTERNS))"
    assert json.loads(node(script)) == FORMAT_PATTERNS


def test_the_server_passes_the_official_cases_the_page_passes(capsys: pytest.CaptureFixture[str]) -> None:
    listing = node(
        "import { groups } from './tests/pages/js/suite.js'; import { KEYWORDS } from './site/static/checks.js';"
        "console.log(JSON.stringify(groups(Object.keys(KEYWORDS))))"
    )
    ran = skipped = 0
    wrong = []
    for group in json.loads(listing):
        if group["skip"]:
            skipped += len(group["tests"])
            continue
        validator = FormValidator(group["schema"], format_checker=FORMAT_CHECKER)
        for case in group["tests"]:
            ran += 1
            if validator.is_valid(case["data"]) != case["valid"]:
                wrong.append(f"{group['file']}: {group['description']}: {case['description']}")
    with capsys.disabled():
        print(f"\nofficial cases on the server: {ran} ran, {skipped} skipped as outside the dialect")
    assert wrong == []
    assert ran > 200


# ---- Generated documents ----------------------------------------------------------------------

CUSTOM_FORMATS = {
    "local-time": st.from_regex(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z"),
    "local-date-time": st.dates()
    .map(lambda d: d.isoformat())
    .flatmap(lambda day: st.from_regex(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z").map(lambda t: f"{day}T{t}")),
    "uri": st.sampled_from(["https://example.no/a", "http://x.y", "mailto:a@b.no", "ftp://f.no/ f", "x", "https://"]),
}
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=5,
)


def generation_schema(field: Field) -> dict[str, Any]:
    """The field's schema as hypothesis-jsonschema reads it: the dialect's extensions left out."""

    def strip(schema: Mapping[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in schema.items() if not k.startswith(("x-", "$"))}
        if isinstance(kept.get("items"), Mapping):
            kept["items"] = strip(kept["items"])
        return kept

    return strip(field.schema)


def valid_value(field: Field) -> st.SearchStrategy[Any]:
    """Values the field's own schema allows (cross-field rules and limits in time may still refuse them)."""
    if field.value_kind == "uploads":
        return st.lists(st.from_regex(r"\A[A-Za-z0-9_-]{16,20}\Z"), min_size=1, max_size=2, unique=True)
    return from_schema(generation_schema(field), custom_formats=CUSTOM_FORMATS)


NEAR_MISS = st.one_of(st.text(max_size=8), st.integers(-5, 600), st.floats(-10, 10), st.booleans(), ANY_JSON)


@st.composite
def documents(draw: st.DrawFn, form: Form) -> dict[str, Any]:
    """A document as the page sends it, or a near miss: one wrong value, a missing or a foreign field."""
    data: dict[str, Any] = {form.discriminator: draw(st.sampled_from(form.categories))}
    for field in form.fields:
        wanted = field.name != form.discriminator and field.is_shown(data)
        if wanted and (field.is_required(data) or draw(st.booleans())):
            data[field.name] = draw(valid_value(field))
    miss = draw(st.sampled_from(["none", "none", "value", "missing", "foreign", "other-branch", "choice"]))
    names = sorted(data)
    if miss == "value":
        data[draw(st.sampled_from(names))] = draw(NEAR_MISS)
    elif miss == "missing":
        del data[draw(st.sampled_from(names))]
    elif miss == "foreign":
        data[draw(st.text(min_size=1, max_size=5))] = draw(ANY_JSON)
    elif miss == "other-branch" and len(data) < len(form.fields):
        other = draw(st.sampled_from([f for f in form.fields if f.name not in data]))
        data[other.name] = draw(st.one_of(valid_value(other), NEAR_MISS))
    elif miss == "choice":
        data[form.discriminator] = draw(NEAR_MISS)
    return data


FORMS = ["service-request", "incident", "every-keyword"]


def fixtures(form_id: str) -> list[dict[str, Any]]:
    """The shared submissions of ``tests/data/<form>/``, valid and invalid."""
    found = []
    for path in sorted((TESTS / "data" / form_id).glob("*.json")):
        content = json.loads(path.read_text(encoding="utf-8"))
        found += [case["data"] for kind in ("valid", "invalid") for case in content[kind]]
    return found


@pytest.mark.parametrize("form_id", FORMS)
def test_page_and_server_agree_on_every_field_of_generated_documents(
    catalog_with_test_forms: Catalog, form_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    form = catalog_with_test_forms.forms[form_id]
    generated: list[dict[str, Any]] = fixtures(form_id)
    shared = len(generated)

    @settings(max_examples=DOCUMENTS_PER_FORM, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents(form))
    def collect(document: dict[str, Any]) -> None:
        generated.append(document)

    collect()
    compared = verdicts(catalog_with_test_forms, form, generated, datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    disagreements = [
        {"document": data, "server": server, "page": mine} for data, server, mine in compared if server != mine
    ]
    refused = sum(1 for _, server, _ in compared if server)
    with capsys.disabled():
        print(
            f"\n{form_id}: {len(compared)} cases in {len(catalog_with_test_forms.languages)} languages "
            f"({shared} shared fixtures, {len(generated) - shared} generated; {refused} refused by the server), "
            f"{len(disagreements)} disagreements between page and server"
        )
    assert disagreements == [], json.dumps(disagreements[:3], ensure_ascii=False, indent=1)
