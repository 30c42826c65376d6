"""A field as its component macro draws it: the params, the HTML constraint attributes and the format hint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handler.dialect import KEYWORDS, widgets
from handler.schema.catalog import Catalog
from handler.schema.model import Field, Form
from handler.schema.values import option_key
from handler.texts import fill
from handler.uploads import Limits
from site_build import BuildError


def page_fields(form: Form) -> list[Field]:
    """The fields the page renders: all of them."""
    return list(form.fields)


def control_attributes(field: Field, required: bool) -> dict[str, Any]:
    """HTML constraint attributes from the widget and the field's schema, so the browser knows the same limits."""
    widget = widgets()[field.widget]
    attributes: dict[str, Any] = dict(widget.attributes)
    if required:
        attributes["required"] = True
    typed = attributes.get("type") == "text"  # numbers, dates and times too: typed as the language writes
    for keyword in KEYWORDS:
        value = field.schema.get(keyword.name)
        if typed and keyword.attribute in ("min", "max", "step"):
            continue  # min, max and step mean nothing to a text input; the page's checker applies them
        if keyword.attribute and keyword.name in widget.keywords and value not in (None, "today", "now"):
            attributes[keyword.attribute] = value
    if widget.value == "number":
        attributes["inputmode"] = "numeric" if field.schema.get("type") == "integer" else "decimal"
    if widget.value == "uploads":
        limits = Limits.of(field)
        attributes["accept"] = ",".join([*limits.types, *(e for exts in limits.types.values() for e in exts)])
    return attributes


def format_hint(field: Field, common: Mapping[str, Any]) -> str | None:
    """The example of what to type that the field's widget names (widget.json: formatHint), in the page's language."""
    key = widgets()[field.widget].format_hint
    if key is None:
        return None
    if key not in common.get("formatHints", {}):
        raise BuildError(f"formatHints/{key}: missing text for the {field.widget} widget ({common['languageName']})")
    return str(common["formatHints"][key])


def field_params(form: Form, field: Field, language: str) -> dict[str, Any]:
    """The parameters one component macro needs for ``field`` in ``language``."""
    texts = form.texts[language]["fields"][field.name]
    common = form.common[language]
    required = bool(field.required_when)
    label = texts["label"] if required else f"{texts['label']} {common['optional']}"
    items = [
        {
            "value": option_key(option),
            "text": form.option_label(language, field.name, option),
            "id": field.name if i == 0 else f"{field.name}-{i + 1}",
        }
        for i, option in enumerate(field.options)
    ]
    drawn = widgets()[field.widget]
    limit = field.schema.get("maxLength") if drawn.character_count else None
    return {
        "id": field.name,
        "name": field.name,
        "macro": drawn.macro,
        "short": drawn.short,
        "label": label,
        "hint": form.hint(language, field.name),
        "formatHint": format_hint(field, common),
        "hintId": f"{field.name}-hint",
        "errorId": f"{field.name}-error",
        "errorPrefix": common["errorPrefix"],
        "chooseOption": common["chooseOption"],
        "items": items,
        "count": {"limit": limit, "text": fill(common["characterCount"]["limit"], {"count": str(limit)})}
        if limit
        else None,
        "attributes": control_attributes(field, required and field.required_when == field.shown_when)
        | {"disabled": not field.always_shown},
        "hidden": not field.always_shown,
    }


def sign_in_fields(catalog: Catalog, language: str) -> dict[str, dict[str, Any]]:
    """The sign-in page's two fields, drawn with the same components as a form's fields."""
    common = catalog.common[language]
    texts = common["signIn"]
    base = {
        "macro": "text",  # drawn as the text widget's input
        "short": False,
        "count": None,
        "formatHint": None,
        "errorPrefix": common["errorPrefix"],
        "items": [],
        "hidden": False,
    }
    return {
        name: base
        | {
            "id": name,
            "name": name,
            "label": texts[f"{name}Label"],
            "hint": texts[f"{name}Hint"],
            "hintId": f"{name}-hint",
            "errorId": f"{name}-error",
            "chooseOption": "",
            "attributes": attributes,
        }
        for name, attributes in (
            (
                "email",
                {"type": "email", "autocomplete": "email", "required": True, "maxlength": 254, "spellcheck": "false"},
            ),
            (
                "code",
                {
                    "type": "text",
                    "inputmode": "numeric",
                    "autocomplete": "one-time-code",
                    "required": True,
                    "maxlength": 6,
                },
            ),
        )
    }
