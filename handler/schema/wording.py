"""How a form speaks: labels, values as a person reads them, numbers, dates and office hours, error messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from handler.schema.values import json_equal, option_key
from handler.texts import fill

if TYPE_CHECKING:
    from handler.rules import OfficeHours
    from handler.schema.model import Field, Form


def format_number(value: float, common: Mapping[str, Any]) -> str:
    """A number as the language writes it: whole numbers without decimals, the language's decimal mark."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    whole, dot, fraction = str(value).partition(".")
    if "e" not in whole and len(whole.lstrip("-")) > 4:
        whole = f"{int(whole):,}".replace(",", str(common["groupMark"]))
    return whole + (str(common["decimalMark"]) + fraction if dot else "")


def format_moment(value: str, common: Mapping[str, Any]) -> str:
    """An ISO date, time or date-time (or ``today``/``now``) as the language writes it."""
    if value in ("today", "now"):
        return str(common[value])
    if len(value) >= 10 and value[4:5] == "-":
        day = fill(str(common["dateFormat"]), {"y": value[:4], "m": value[5:7], "d": value[8:10]})
        return f"{day} {value[11:16]}" if len(value) > 10 else day
    return value


def format_office_hours(hours: OfficeHours, common: Mapping[str, Any]) -> str:
    """Office hours as the language says them (``officeHours`` in the common texts)."""
    names = common["weekdays"]
    days = sorted(hours.days)
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        wording = fill(str(common["dayRange"]), {"first": names[days[0] - 1], "last": names[days[-1] - 1]})
    else:
        wording = ", ".join(names[d - 1] for d in days)
    said = fill(str(common["officeHours"]), {"days": wording, "opens": hours.opens, "closes": hours.closes})
    return fill(str(common["officeHoursBesidesHolidays"]), {"officeHours": said}) if hours.closed else said


def short(value: Any) -> str:
    """A value for an error text, cut at 60 characters."""
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def label(form: Form, language: str, name: str) -> str:
    """The field's label in ``language``."""
    return str(form.texts[language]["fields"][name]["label"])


def option_label(form: Form, language: str, name: str, option: Any) -> str:
    """The label of one choice of a choice field in ``language``."""
    found = form.field(name)
    if found is not None and found.lists_contact_types:
        return str(form.common[language]["contactTypes"][option])
    if found is not None and found.value_kind == "boolean":
        return str(form.common[language]["yes" if option else "no"])
    return str(form.texts[language]["fields"][name]["options"][option_key(option)])


def display(form: Form, language: str, name: str, value: Any) -> str:
    """A submitted value as a person reads it: choices by label, numbers and dates in their style."""
    found = form.field(name)
    common = form.common[language]
    if found is None:
        return str(value)
    if isinstance(value, list):
        return ", ".join(display(form, language, name, v) if found.options else str(v) for v in value)
    if any(json_equal(value, option) for option in found.options):
        return option_label(form, language, name, value)
    if found.moment and isinstance(value, str):
        return format_moment(value, common)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value, common)
    return str(value)


def not_authorized(form: Form, language: str) -> dict[str, str]:
    """What the refusal of a contact whose type may not send the form names: the types that may."""
    names = form.common[language]["contactTypes"]
    return {"types": " / ".join(str(names[t]) for t in form.allowed_contact_types)}


def hint(form: Form, language: str, name: str) -> str | None:
    """A field's hint, its limits filled in; None if it has none."""
    texts = form.texts[language]["fields"][name]
    return fill(texts["hint"], form.message_params(language, name)) if "hint" in texts else None


def message_params(form: Form, language: str, name: str) -> dict[str, str]:
    """What a field's error texts may say besides ``{value}``: its label and its limits, worded
    (``Form.message_params`` keeps them once worked out)."""
    found = form.field(name)
    common = form.common[language]
    params = {"label": label(form, language, name) if found else name}
    if found is None:
        return params
    for source in (found.item_constraints(), found.constraints()):
        for keyword, limit in source.items():
            if keyword in ("x-earliest", "x-latest"):
                params[keyword] = format_moment(str(limit), common)
            elif isinstance(limit, int | float) and not isinstance(limit, bool):
                params[keyword] = format_number(limit, common)
    if name in form.office_hours:
        params["officeHours"] = format_office_hours(form.office_hours[name], common)
    compared = [r.other for r in form.rules if r.field == name and r.other]
    other = form.texts[language]["fields"].get(compared[0], {}) if compared else {}
    if "label" in other:  # the field a rule compares this one with, by its label (a missing one is reported)
        params["other"] = str(other["label"])
    return params


def message_template(form: Form, language: str, name: str | None, keyword: str) -> str:
    """The error text for ``keyword`` on field ``name``: the field's own, else the common one."""
    own = form.texts[language]["fields"].get(name or "", {}).get("errors", {})
    if keyword in own:
        return str(own[keyword])
    common = form.common[language]["errors"]
    found = form.field(name) if name else None
    for key in _message_keys(keyword, found):
        if key in common:
            return str(common[key])
    return str(common["invalid"])


def static_message(form: Form, language: str, name: str, keyword: str) -> str:
    """The error text with everything but ``{value}`` filled in: what the page is given."""
    params = form.message_params(language, name)
    if keyword in params and keyword != "label":
        params["limit"] = params[keyword]
    return fill(message_template(form, language, name, keyword), params, keep=("value",))


def message(
    form: Form, language: str, name: str | None, keyword: str, value: Any = None, limit: str | None = None
) -> str:
    """The error text filled in; the page's checker fills ``{value}`` (and an upload's ``{limit}``) alike."""
    if name is None:
        return fill(message_template(form, language, None, keyword), {"label": ""})
    dynamic = {"value": short(value)} | ({"limit": limit} if limit is not None else {})
    return fill(static_message(form, language, name, keyword), dynamic)


def _message_keys(keyword: str, found: Field | None) -> tuple[str, ...]:
    """The common texts that can word ``keyword`` on ``found``, most specific first."""
    schema = found.schema if found else {}
    if keyword == "type" and isinstance(schema.get("type"), str):
        return (f"type-{schema['type']}", "type")
    if keyword in ("minimum", "maximum") and "minimum" in schema and "maximum" in schema:
        return ("range", keyword)
    if keyword == "required" and found and found.value_kind in ("choice", "choices", "boolean"):
        return (f"required-{found.value_kind}", keyword)  # a choice is made, not filled in
    return (keyword,)
