"""JSON values as the page and the handler both read them, and JSON Schema's validator reading them so."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from handler.patterns import python_regex


def exact(number: float) -> Fraction | None:
    """A JSON number as the decimal it is written as (a float by its shortest representation, as the
    page's ``String(number)`` writes it), exactly; None for a number that is not finite."""
    if isinstance(number, float):
        return Fraction(Decimal(repr(number))) if math.isfinite(number) else None
    return Fraction(number)


def is_multiple(number: float, step: float) -> bool:
    """Whether ``number`` is a whole multiple of ``step``, in decimal arithmetic: 19.99 is a multiple of 0.01."""
    value, unit = exact(number), exact(step)
    return value is not None and unit is not None and unit != 0 and (value / unit).denominator == 1


def json_equal(one: Any, other: Any) -> bool:
    """JSON's equality, as JSON Schema's ``const`` and ``enum`` use it: 1 and 1.0 are equal, true and 1 are not."""
    if isinstance(one, bool) or isinstance(other, bool):
        return type(one) is type(other) and one == other
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(json_equal(a, b) for a, b in zip(one, other, strict=True))
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(json_equal(one[k], other[k]) for k in one)
    if isinstance(one, list | dict) or isinstance(other, list | dict):
        return False
    return bool(one == other)


def option_key(option: Any) -> str:
    """A choice as its texts and the page name it: a text as it is, a number or true/false as JSON
    writes it (whole numbers without ``.0``, as the page writes them)."""
    if isinstance(option, str):
        return option
    if isinstance(option, float) and option.is_integer() and abs(option) < 1e21:
        return str(int(option))
    return json.dumps(option)


def unreadable_number(value: Any) -> bool:
    """Whether ``value`` holds a number that neither side can compare alike: one that is not finite
    (JSON's ``1e400``), or a whole number beyond what a browser's numbers hold (``10**400``). Lists and
    objects are walked without recursion, however deep they nest."""
    waiting = [value]
    while waiting:
        item = waiting.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, int) and abs(item) > sys.float_info.max:
            return True
        if isinstance(item, list):
            waiting.extend(item)
        elif isinstance(item, dict):
            waiting.extend(item.values())
    return False


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not python_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _multiple_of(validator: Any, step: float, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "number") and not is_multiple(instance, step):
        yield ValidationError(f"{instance!r} is not a multiple of {step!r}")


# JSON Schema's own validator, with ``pattern`` read as the browser reads it (handler/patterns.py) and
# ``multipleOf`` in decimal arithmetic, as the page's checker does it.
FormValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern, "multipleOf": _multiple_of}
)
