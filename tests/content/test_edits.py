"""The operator edits that scripts/operator_edits.py runs the suite after (tests/helpers/edits.py): each makes a schema/
the loader accepts, and does what it says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handler.dialect import widgets
from handler.schema.loader import SCHEMA_DIR, load_catalog
from tests.helpers import edits

SHIPPED = load_catalog()
FORM = SHIPPED.forms[edits.FORM]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, copy)
    return copy


@pytest.mark.parametrize("service", FORM.categories)
def test_removing_any_service_leaves_a_form_without_it_and_its_own_fields(root: Path, service: str) -> None:
    edits.apply(root, f"remove:{service}")
    form = load_catalog(root).forms[edits.FORM]
    assert form.categories == tuple(c for c in FORM.categories if c != service)
    assert {f.name for f in form.fields} == {
        f.name
        for f in FORM.fields
        if f.always_shown or any(service not in {c.value for c in path} for path in f.shown_when)
    }


def test_renaming_reordering_and_adding_a_language(root: Path) -> None:
    first = FORM.categories[0]
    edits.apply(root, "rename")
    assert load_catalog(root).forms[edits.FORM].categories[0] == f"{first}-renamed"
    for system, mapping in load_catalog(root).tickets.items():  # its tickets keep their mapping under the new id
        shipped = SHIPPED.tickets[system]
        for member in ("tags", "custom_fields", "request_types"):
            assert first not in getattr(mapping, member)
            assert (first in getattr(shipped, member)) == (f"{first}-renamed" in getattr(mapping, member))
    edits.apply(root, "reorder")
    assert load_catalog(root).forms[edits.FORM].categories[-1] == f"{first}-renamed"
    edits.apply(root, "add-language")
    assert len(load_catalog(root).languages) == len(SHIPPED.languages) + 1


def test_the_added_service_has_a_field_of_every_widget(root: Path) -> None:
    edits.apply(root, "add-service")
    form = load_catalog(root).forms[edits.FORM]
    added = form.categories[-1]
    assert added not in FORM.categories
    drawn = {f.widget for f in form.fields if any(c.value == added for path in f.shown_when for c in path)}
    assert drawn == set(widgets())
