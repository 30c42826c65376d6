"""The API's one error body, checked as ``jsonschema.validate`` checks it, with its schema checked and compiled once
rather than on every answer."""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from handler.api.problems import PROBLEM_SCHEMA

_VALIDATOR_CLASS = validator_for(PROBLEM_SCHEMA)
_VALIDATOR_CLASS.check_schema(PROBLEM_SCHEMA)
_VALIDATOR = _VALIDATOR_CLASS(PROBLEM_SCHEMA)


def validate_problem(document: Any) -> None:
    """Raise the best-matching ``jsonschema.ValidationError`` if ``document`` is not in the error shape."""
    error = best_match(_VALIDATOR.iter_errors(document))
    if error is not None:
        raise error
