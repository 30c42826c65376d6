"""The shape of a request body: an object with exactly the members a use case reads."""

from __future__ import annotations

from typing import Any

from handler.codes import Code
from handler.dialect import pointer
from handler.refusals import Refused
from handler.schema.catalog import Catalog
from handler.schema.model import FieldError, Form


def object_with(body: Any, keys: tuple[str, ...], catalog: Catalog, language: str) -> dict[str, Any]:
    """``body`` if it is an object with exactly ``keys``; else a 422 listing what is wrong."""
    message = catalog.api_text(language, Code.INVALID_BODY)
    if not isinstance(body, dict):
        raise Refused(Code.INVALID_BODY, [FieldError(None, "", "type", message)])
    problems = [FieldError(None, pointer([key]), "required", message) for key in keys if key not in body]
    problems += [FieldError(None, pointer([key]), "unevaluatedProperties", message) for key in body if key not in keys]
    if problems:
        raise Refused(Code.INVALID_BODY, problems)
    return body


def parse_envelope(body: Any, catalog: Catalog, language: str) -> tuple[Form, dict[str, Any]]:
    """The form and the data of ``{"form": ID, "data": {...}}``, or a 422 naming what is wrong."""
    body = object_with(body, ("form", "data"), catalog, language)
    if not isinstance(body["data"], dict):
        message = catalog.api_text(language, Code.INVALID_BODY)
        raise Refused(Code.INVALID_BODY, [FieldError(None, "/data", "type", message)])
    form = catalog.forms.get(body["form"]) if isinstance(body["form"], str) else None
    if form is None:
        message = catalog.api_text(language, Code.UNKNOWN_FORM)
        raise Refused(Code.UNKNOWN_FORM, [FieldError(None, "/form", "enum", message)])
    return form, body["data"]
