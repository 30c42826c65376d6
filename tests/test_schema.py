"""The schema folder: metaschema, the project's conventions, and translation completeness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from handler.forms import SCHEMA_DIR, Catalog, SchemaProblem, load_catalog


def copy_schema(tmp_path: Path) -> Path:
    target = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def problems_of(root: Path) -> list[str]:
    with pytest.raises(SchemaProblem) as raised:
        load_catalog(root)
    return raised.value.problems


def test_the_shipped_schema_loads_without_problems(catalog: Catalog) -> None:
    assert catalog.languages == ("nb", "en")
    assert list(catalog.forms) == ["service-request"]


def test_the_service_request_has_the_seven_categories_with_their_labels(catalog: Catalog) -> None:
    form = catalog.forms["service-request"]
    assert len(form.categories) == 7
    labels = {form.option_label("nb", "service", c) for c in form.categories}
    assert "Bestill utvidet support utenfor kontortid" in labels
    assert form.option_label("en", "service", "beta-project") == "Join beta projects"


def test_the_common_fields_come_in_the_article_s_order(catalog: Catalog) -> None:
    names = [f.name for f in catalog.forms["service-request"].fields]
    common = [n for n in names if n in ("cc", "service", "subject", "description", "attachments")]
    assert common == ["cc", "service", "subject", "description", "attachments"]


def test_every_category_has_its_own_fields_and_description_hint(catalog: Catalog) -> None:
    form = catalog.forms["service-request"]
    for category in form.categories:
        own = [f for f in form.fields if not f.always_shown and f.is_shown({"service": category})]
        assert own, f"{category} shows no fields of its own"
        for language in catalog.languages:
            assert form.texts[language]["fields"]["description"]["categoryHints"][category]


def test_only_authorized_contacts_may_submit_service_requests(catalog: Catalog) -> None:
    form = catalog.forms["service-request"]
    assert form.allowed_contact_types == ("authorized-for-change",)
    assert catalog.common["nb"]["contactTypes"]["authorized-for-change"] == "Autorisert for endring"
    assert catalog.common["en"]["contactTypes"]["authorized-for-change"] == "Authorized for change"


def test_a_missing_translation_is_named_by_file_and_place(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.en.json", lambda d: d["fields"]["subject"].pop("hint"))
    problems = problems_of(root)
    assert any("service-request.en.json: /fields/subject/hint: missing text (present in nb)" in p for p in problems)


def test_a_field_without_a_label_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    for language in ("nb", "en"):
        edit(root / "forms" / f"service-request.{language}.json", lambda d: d["fields"].pop("beta_project"))
    problems = problems_of(root)
    assert any("/fields/beta_project/label: missing text" in p for p in problems)


def test_an_option_without_a_label_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)

    def add_category(schema: dict[str, Any]) -> None:
        schema["properties"]["service"]["enum"].append("training")

    edit(root / "forms" / "service-request.schema.json", add_category)
    problems = problems_of(root)
    assert any("/fields/service/options/training: missing text" in p for p in problems)
    assert any("/fields/description/categoryHints/training: missing text" in p for p in problems)


def test_a_branch_for_a_category_that_cannot_be_chosen_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(
        root / "forms" / "service-request.schema.json",
        lambda s: s["properties"]["service"]["enum"].remove("beta-project"),
    )
    problems = problems_of(root)
    assert any("service='beta-project'" in p and "cannot be chosen" in p for p in problems)


def test_metaschema_errors_name_the_file_and_place(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.schema.json", lambda s: s["properties"]["subject"].update(maxLength="long"))
    problems = problems_of(root)
    assert any(
        "service-request.schema.json: /properties/subject/maxLength:" in p and "(metaschema)" in p for p in problems
    )


def test_malformed_json_is_named(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    (root / "common.en.json").write_text("{", encoding="utf-8")
    assert any("common.en.json: not valid JSON" in p for p in problems_of(root))


def test_an_error_text_for_a_rule_the_field_cannot_break_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    for language in ("nb", "en"):
        edit(
            root / "forms" / f"service-request.{language}.json",
            lambda d: d["fields"]["account"]["errors"].update({"format": "x"}),
        )
    assert any("/fields/account/errors/format: this field cannot fail 'format'" in p for p in problems_of(root))


def test_a_widget_the_site_cannot_render_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(
        root / "forms" / "service-request.schema.json",
        lambda s: s["properties"]["subject"].update({"x-widget": "slider"}),
    )
    assert any("/properties/subject/x-widget: 'slider' is not one of" in p for p in problems_of(root))


def test_an_unknown_contact_type_is_a_problem(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.schema.json", lambda s: s["x-form"].update(allowedContactTypes=["boss"]))
    assert any("/x-form/allowedContactTypes: 'boss' is not a contact type" in p for p in problems_of(root))


def test_a_new_language_needs_only_its_texts(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    edit(root / "site.json", lambda s: s["languages"].append("nn"))
    problems = problems_of(root)
    assert problems == [f"{root / 'common.nn.json'}: file is missing"]
    shutil.copy(root / "common.nb.json", root / "common.nn.json")
    shutil.copy(root / "forms" / "service-request.nb.json", root / "forms" / "service-request.nn.json")
    edit(root / "site.json", lambda s: s.update(languageAliases={"no": "nb"}))
    assert load_catalog(root).languages == ("nb", "en", "nn")


def test_the_second_form_uses_the_same_format(catalog_with_incident: Catalog) -> None:
    incident = catalog_with_incident.forms["incident"]
    assert incident.categories == ("critical", "minor")
    assert [f.name for f in incident.fields] == ["severity", "users_affected", "summary", "steps"]
    assert incident.reference_prefix == "INC"
