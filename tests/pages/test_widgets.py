"""A widget is one folder (site/widgets/<name>/): its widget.json, its macro with documented params and examples,
and the rest of the code asks what it declares, never its name. An operator adds one as a new folder."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from handler.dialect import WIDGETS_DIR, widgets
from handler.schema.catalog import Catalog
from site_build.fields import field_params
from site_build.writing import environment
from tests.helpers.clock import NOW
from tests.helpers.forms import INCIDENT_FORM
from tests.helpers.paths import ROOT
from tests.helpers.scripts import run_script

DRAWING = sorted(w.name for w in widgets().values() if (w.folder / "macro.html").is_file())


def documented(name: str) -> dict[str, Any]:
    return dict(json.loads((WIDGETS_DIR / name / "widget.json").read_text(encoding="utf-8")))


def read_params(macro: str) -> set[str]:
    """The params a macro's own text reads: ``params.x`` and ``params["x"]``."""
    return set(re.findall(r"\bparams\.([A-Za-z]+)\b", macro)) - {"get"} | set(
        re.findall(r"\bparams\[\"([A-Za-z]+)\"\]", macro)
    )


@pytest.mark.parametrize("name", DRAWING)
def test_a_widget_macro_documents_its_params_and_renders_each_example(name: str) -> None:
    spec = documented(name)
    params, examples = spec["params"], spec["examples"]
    macro = (WIDGETS_DIR / name / "macro.html").read_text(encoding="utf-8")
    assert read_params(macro) <= set(params), "a param the macro reads is not documented in widget.json"
    assert set().union(*(example["params"] for example in examples)) == set(params), "an example per documented param"
    drawn = environment().get_template(f"widgets/{name}/macro.html").module
    for example in examples:
        given = example["params"]
        html = str(drawn.widget(given))  # type: ignore[attr-defined]
        soup = BeautifulSoup(html, "html.parser")
        controls = soup.select("input, select, textarea")
        assert controls and all(c.get("name") == given["name"] for c in controls), example["name"]
        one_per_choice = soup.select("input[type=radio], input[type=checkbox]")
        ids = [item["id"] for item in given["items"]] if one_per_choice else [given["id"]]
        assert [c.get("id") for c in controls] == ids, example["name"]
        for control_id in ids:  # every control is named by a label or the group's legend
            assert soup.find("label", attrs={"for": control_id}) is not None or soup.find("legend") is not None
        error = soup.find(id=given["errorId"])
        assert error is not None and error.has_attr("hidden") and given["errorPrefix"] in error.get_text()
        described = " ".join(str(e.get("aria-describedby", "")) for e in soup.select("[aria-describedby]")).split()
        if given.get("hint") or given.get("formatHint"):
            assert soup.find(id=given["hintId"]) is not None and given["hintId"] in described, example["name"]
        assert all(soup.find(id=target) is not None for target in described), "aria-describedby names what exists"
        if given["attributes"].get("disabled"):
            assert all(c.has_attr("disabled") for c in controls)


def test_the_build_hands_each_field_the_params_its_macro_documents(catalog_with_test_forms: Catalog) -> None:
    for form in catalog_with_test_forms.forms.values():
        for field in form.fields:
            macro = widgets()[field.widget].macro
            for language in catalog_with_test_forms.languages:
                assert set(documented(macro)["params"]) <= set(field_params(form, field, language)), field.name


def _widget_comparisons(tree: ast.AST) -> list[int]:
    """Lines that compare or match a field's widget (``f.widget``, ``f["widget"]``) with anything: its name."""

    def names_widget(node: ast.expr) -> bool:
        if isinstance(node, ast.Subscript):
            return isinstance(node.slice, ast.Constant) and node.slice.value == "widget"
        return isinstance(node, ast.Attribute) and node.attr == "widget"

    compared = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and any(names_widget(n) for n in [node.left, *node.comparators])
    ]
    return compared + [
        node.lineno for node in ast.walk(tree) if isinstance(node, ast.Match) and names_widget(node.subject)
    ]


def test_no_code_outside_a_widget_folder_asks_which_widget_a_field_has() -> None:
    python = [*(ROOT / "handler").rglob("*.py"), *(ROOT / "site_build").glob("*.py"), ROOT / "build.py"]
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in [*python, ROOT / "site_assets.py"]
        for line in _widget_comparisons(ast.parse(path.read_text(encoding="utf-8")))
    ]
    pages = [*(ROOT / "site").rglob("*.js"), *(ROOT / "site").rglob("*.html")]  # page code, templates, macros
    found += [
        f"{path.relative_to(ROOT)}: {match}"
        for path in pages
        for match in re.findall(
            r"""(?:\.widget\b(?!\()|\[["']widget["']\]).*""", path.read_text(encoding="utf-8")
        )  # not a call
    ]
    assert found == [], "ask what the widget declares (site/widgets/widget.schema.json), not its name"


# ---- Adding a widget: one new folder, in a copy of the project ------------------------------------------------

RATING = {
    "description": "A whole number chosen on a slider between the field's minimum and maximum.",
    "accepts": {"required": ["type", "minimum", "maximum"], "properties": {"type": {"const": "integer"}}},
    "keywords": ["type", "minimum", "maximum"],
    "attributes": {"type": "range"},
    "value": "number",
    "params": {
        "id": "The control's id",
        "name": "The name the value is sent under",
        "label": "The question",
        "errorId": "The error message's id",
        "errorPrefix": "The hidden word before an error",
        "attributes": "HTML attributes of the control",
    },
    "examples": [
        {
            "name": "one to five",
            "params": {
                "id": "impact",
                "name": "impact",
                "label": "Impact",
                "errorId": "impact-error",
                "errorPrefix": "Error:",
                "attributes": {"type": "range", "min": 1, "max": 5},
            },
        }
    ],
}
RATING_MACRO = """{% from "components/label.html" import label %}
{% from "components/error-message.html" import error_message %}
{% from "components/attributes.html" import attributes %}
{% macro widget(params) -%}
{{ label({"for": params.id, "text": params.label}) }}
{{ error_message({"id": params.errorId, "prefix": params.errorPrefix}) }}
<input class="rating" id="{{ params.id }}" name="{{ params.name }}"{{ attributes(params.attributes) }}>
{%- endmacro %}
"""
# Run inside the copy: build its site with the test form, and check two documents with its handler's validation.
CHECK = """
import json, sys
from datetime import datetime
from pathlib import Path
from handler.schema.loader import load_catalog
from site_build.writing import build
form_file = Path(sys.argv[1])
build(Path(sys.argv[2]), extra_forms=(form_file,))
catalog = load_catalog(extra_forms=(form_file,))
form, language = catalog.forms["incident"], catalog.default_language
base = {"severity": "minor", "summary": "The export stops"}
now = datetime.fromisoformat(sys.argv[3])  # the tests' clock
found = {str(v): sorted(e.keyword for e in form.validate(base | {"impact": v}, language, now)) for v in (3, 9)}
print(json.dumps(found))
"""


def test_a_widget_added_as_one_folder_draws_its_fields_and_the_handler_checks_them(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    for part in ("handler", "site", "schema", "site_build"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for module in ("build.py", "site_assets.py", "package.json"):
        shutil.copy2(ROOT / module, copy / module)
    (copy / "node_modules").symlink_to(ROOT / "node_modules")
    folder = copy / "site" / "widgets" / "rating"  # the whole change: one folder ...
    folder.mkdir()
    (folder / "widget.json").write_text(json.dumps(RATING, indent=2), encoding="utf-8")
    (folder / "macro.html").write_text(RATING_MACRO, encoding="utf-8")
    forms = tmp_path / "forms"  # ... and a form whose field names it (with texts for every language of schema/)
    shutil.copytree(INCIDENT_FORM.parent, forms)
    schema = json.loads((forms / "incident.schema.json").read_text(encoding="utf-8"))
    schema["properties"]["impact"] = {"type": "integer", "minimum": 1, "maximum": 5, "x-widget": "rating"}
    (forms / "incident.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    languages = [path.name.split(".")[1] for path in sorted(forms.glob("incident.*.json")) if "schema" not in path.name]
    for language in languages:
        texts_file = forms / f"incident.{language}.json"
        texts = json.loads(texts_file.read_text(encoding="utf-8"))
        texts["fields"]["impact"] = {"label": f"Impact ({language})"}
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")

    out = tmp_path / "site"
    refused, _ = run_script(
        CHECK, str(forms / "incident.schema.json"), str(out), NOW.isoformat(), cwd=copy, timeout=300
    )
    assert refused == {"3": [], "9": ["maximum"]}
    soup = BeautifulSoup((out / languages[0] / "incident" / "index.html").read_text(encoding="utf-8"), "html.parser")
    control = soup.select_one('[data-field="impact"] input.rating')
    assert control is not None and control["type"] == "range" and (control["min"], control["max"]) == ("1", "5")
    label = soup.find("label", attrs={"for": "impact"})
    assert label is not None and label.get_text().startswith(f"Impact ({languages[0]})")
    model = json.loads(soup.select_one("#page-model").get_text())  # type: ignore[union-attr]
    assert next(f for f in model["fields"] if f["name"] == "impact")["value"] == "number"  # read as a number
