"""How messages read: a rule names the other field it compares with, a choice asks to be chosen rather than
filled in, checked on the test-only form that has every widget and rule (tests/forms/every-keyword.*)."""

from __future__ import annotations

import pytest

from handler.schema.catalog import Catalog
from handler.schema.model import Form


@pytest.fixture
def form(catalog_with_test_forms: Catalog) -> Form:
    return catalog_with_test_forms.forms["every-keyword"]


@pytest.mark.parametrize("language", ["nb", "en"])
def test_a_rule_names_the_field_it_compares_with(form: Form, language: str) -> None:
    rule = next(r for r in form.rules if r.rule in ("after", "not-before") and r.other)
    assert rule.other is not None
    params = form.message_params(language, rule.field)
    assert params["other"] == form.label(language, rule.other)
    message = form.static_message(language, rule.field, rule.keyword)
    assert form.label(language, rule.other) in message and "forrige verdien" not in message


@pytest.mark.parametrize(("language", "wanted"), [("nb", "Velg minst ett alternativ i"), ("en", "Choose at least one")])
def test_a_list_of_checkboxes_asks_to_choose_not_to_fill_in(form: Form, language: str, wanted: str) -> None:
    field = next(f for f in form.fields if f.value_kind == "choices")
    assert form.static_message(language, field.name, "required").startswith(wanted)
    text = next(f for f in form.fields if f.value_kind == "text")
    assert not form.static_message(language, text.name, "required").startswith(wanted)
