"""The OpenAPI 3.1 document: bearer sessions, every status each operation answers, the forms as bodies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from handler.api.deps import IDEMPOTENCY_KEY, SESSION_COOKIE
from handler.api.problems import MEDIA_TYPE, PROBLEM_SCHEMA, STATUS, TITLES
from handler.schema.catalog import Catalog

_JSON = "application/json"
_STRING = {"type": "string"}
_COMPONENT = "#/components/schemas/{model}"
# Per operation: its success status and the name of its body's type in ``handler.answers`` (None: no body; a name,
# as that module is imported only when the document is asked for), whether it needs a session, and every other status
# it can answer (each in the error shape). 500 (an unexpected failure) can be answered by any operation.
_OPERATIONS: dict[tuple[str, str], tuple[int, str | None, bool, tuple[int, ...]]] = {
    ("get", "/v1/health"): (200, "Health", False, ()),
    ("post", "/v1/session/code"): (202, "CodeSent", False, (400, 413, 415, 422, 429, 503)),
    ("post", "/v1/session"): (200, "NewSession", False, (400, 401, 403, 413, 415, 422, 429, 503)),
    ("get", "/v1/session"): (200, "CurrentSession", True, (401, 503)),
    ("delete", "/v1/session"): (204, None, True, (401, 403, 503)),
    ("get", "/v1/session/sso"): (200, "Providers", False, ()),
    ("get", "/v1/session/sso/callback"): (302, None, False, (400,)),
    ("get", "/v1/session/sso/{provider}"): (302, None, False, (400, 404)),
    ("post", "/v1/requests"): (201, "Receipt", True, (400, 401, 403, 409, 413, 415, 422, 503)),
    ("post", "/v1/uploads"): (201, "UploadSlot", True, (400, 401, 403, 413, 415, 422, 429, 503)),
    ("post", "/v1/uploads/{upload_id}/file"): (204, None, False, (400, 403, 404, 413, 422, 503)),
    ("get", "/v1/requests"): (200, "Page", True, (400, 401, 503)),
    ("get", "/v1/requests/{request_id}"): (200, "RequestDetail", True, (401, 404, 503)),
    ("post", "/v1/hooks/zendesk"): (200, "Done", False, (400, 401, 404, 413, 415, 422, 503)),
    ("post", "/v1/hooks/jsm"): (200, "Done", False, (400, 401, 404, 413, 415, 422, 503)),
    ("post", "/v1/requests/{request_id}/stop-emails"): (200, "CopiesStopped", False, (400, 404, 413, 415, 422, 503)),
    ("post", "/v1/requests/{request_id}/messages"): (
        201,
        "Replied",
        True,
        (400, 401, 403, 404, 409, 413, 415, 422, 503),
    ),
}
# The bodies that are components of their own; the others are written out in their operation (the answers they
# hold, such as Contact, Summary or Message, are components all the same).
_NAMED_BODIES = ("Receipt",)
_REASONS = {
    400: "The request could not be read (body, encoding, text or parameters)",
    401: "No valid session, or a wrong code",
    403: "Not allowed for this contact or slot, or a change that did not come from the site's pages",
    404: "Nothing at this address",
    413: "The body is too large",
    409: "The same request is being stored right now (see Retry-After), or the request is closed",
    415: "The body is not application/json in UTF-8",
    422: "The body does not pass its schema",
    429: "Too many attempts; see Retry-After",
    500: "An unexpected failure",
    503: "Storage is unavailable for now; see Retry-After",
}
_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "Content-Type": _STRING,
        "expires": _STRING,
        "signature": _STRING,
        "file": {"type": "string", "contentMediaType": "application/octet-stream"},
    },
}


def openapi_document(app: FastAPI, catalog: Catalog) -> dict[str, Any]:
    """The OpenAPI 3.1 document: bearer sessions, every status with the error shape, the forms as bodies."""
    document = get_openapi(title=app.title, version="1", summary=app.summary, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    bodies, answers = answer_schemas()
    schemas.update(form_components(catalog))
    schemas.update(Problem=PROBLEM_SCHEMA, **answers)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        # The page's session (docs/api.md): a change also needs X-Requested-With and an Origin of the site's.
        "cookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    }
    _describe_operations(document, bodies)
    _describe_bodies(document, catalog)
    return document


def answer_schemas() -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, Any]]:
    """Each operation's success body as a JSON Schema, and the components they refer to: made by pydantic of the
    types in ``handler.answers``, imported here (when the document is asked for) and never on a cold start."""
    from pydantic import TypeAdapter
    from pydantic.json_schema import JsonSchemaMode

    from handler import answers

    serialization: JsonSchemaMode = "serialization"
    names = {key: body for key, (_, body, _, _) in _OPERATIONS.items() if body}
    typed = [(key, serialization, TypeAdapter(getattr(answers, name))) for key, name in names.items()]
    _, definitions = TypeAdapter.json_schemas(typed, ref_template=_COMPONENT)
    components: dict[str, Any] = _without_titles(definitions["$defs"])  # each named as its class
    written_out = set(names.values()) - set(_NAMED_BODIES)
    bodies = {
        key: components[name] if name in written_out else {"$ref": _COMPONENT.format(model=name)}
        for key, name in names.items()
    }
    return bodies, {name: schema for name, schema in components.items() if name not in written_out}


def _without_titles(schema: Any) -> Any:
    """``schema`` without the ``title`` pydantic gives each schema (its class's or its key's name, said again), its
    descriptions (the classes' docstrings) each on one line."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: {name: _without_titles(inner) for name, inner in value.items()}
        if key in _NAMED_SCHEMAS and isinstance(value, dict)
        else " ".join(value.split())
        if key == "description" and isinstance(value, str)
        else _without_titles(value)
        for key, value in schema.items()
        if key != "title"
    }


def _describe_operations(document: dict[str, Any], bodies: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Each operation of ``_OPERATIONS`` with its parameters, its security and every status it answers with."""
    for (method, path), (status, _, session, errors) in _OPERATIONS.items():
        body = bodies.get((method, path))
        operation = document["paths"][path][method]
        parameters = [p for p in operation.get("parameters", []) if p["name"].lower() != "authorization"]
        for parameter in parameters:
            if parameter["name"].lower() == "idempotency-key":
                parameter["schema"] = {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}
        if parameters:
            operation["parameters"] = parameters
        else:
            operation.pop("parameters", None)
        if session:
            operation["security"] = [{"bearer": []}, {"cookie": []}]
        success: dict[str, Any] = {"description": "Done"}
        if body is not None:
            success["content"] = {_JSON: {"schema": body}}
        operation["responses"] = {str(status): success} | {
            str(code): {"description": _REASONS[code], "content": {MEDIA_TYPE: {"schema": _problem(code)}}}
            for code in sorted({*errors, 500})
        }


def _describe_bodies(document: dict[str, Any], catalog: Catalog) -> None:
    """The request bodies FastAPI does not know: the forms, a message, a stop link and an uploaded file."""
    submit = document["paths"]["/v1/requests"]["post"]
    submit["requestBody"]["content"][_JSON]["schema"] = {
        "oneOf": [
            {
                "type": "object",
                "required": ["form", "data"],
                "additionalProperties": False,
                "properties": {
                    "form": {"const": form_id},
                    "data": {"$ref": f"#/components/schemas/{_form_name(form_id)}"},
                },
            }
            for form_id in catalog.forms
        ]
    }
    stop = document["paths"]["/v1/requests/{request_id}/stop-emails"]["post"]
    stop["requestBody"]["content"][_JSON]["schema"] = {
        "type": "object",
        "required": ["address", "signature"],
        "properties": {
            "address": {"type": "string", "maxLength": 320},
            "signature": {"type": "string", "maxLength": 64},
        },
    }
    message = {"type": "string", "minLength": 1, "maxLength": catalog.conversation.max_chars}
    reply = document["paths"]["/v1/requests/{request_id}/messages"]["post"]
    files = {"type": "array", "maxItems": 100, "items": {"type": "string", "maxLength": 64}}
    reply["requestBody"]["content"][_JSON]["schema"] = {
        "type": "object",
        "required": ["body"],
        "properties": {"body": {**message, "minLength": 0}, "attachments": files},
    }
    document["paths"]["/v1/uploads/{upload_id}/file"]["post"]["requestBody"] = {
        "required": True,
        "content": {"multipart/form-data": {"schema": _UPLOAD_FORM}},
    }


def _problem(status: int) -> dict[str, Any]:
    """The problem details of ``status``, their ``code`` one of those this status is answered with."""
    codes = sorted(code for code, answered in STATUS.items() if answered == status)
    return {
        "allOf": [{"$ref": "#/components/schemas/Problem"}],
        "properties": {"status": {"const": status}, "title": {"const": TITLES[status]}, "code": {"enum": codes}},
    }


def _form_name(form_id: str) -> str:
    return f"form.{form_id}"


def form_components(catalog: Catalog) -> dict[str, Any]:
    """Each form's schema and its ``$defs`` as OpenAPI components, with their references rewritten to them."""
    contact_types = str(catalog.contact_schema.get("$id", ""))
    found: dict[str, Any] = {"ContactType": _openapi_schema(catalog.contact_schema, {})}
    for form_id, form in catalog.forms.items():
        name = _form_name(form_id)
        definitions: dict[str, Any] = dict(form.schema.get("$defs", {}))
        targets = {f"#/$defs/{d}": f"#/components/schemas/{name}.{d}" for d in definitions}
        targets[contact_types] = "#/components/schemas/ContactType"
        for definition, schema in definitions.items():
            found[f"{name}.{definition}"] = _openapi_schema(schema, targets)
        found[name] = _openapi_schema({k: v for k, v in form.schema.items() if k != "$defs"}, targets)
    return found


_NAMED_SCHEMAS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def _openapi_schema(schema: Any, targets: dict[str, str]) -> Any:
    """``schema`` without ``x-`` keywords, ``$id`` and ``$schema``, its ``$ref``s pointed at ``targets``, and
    patterns' ``[^]`` (any character) spelled ``[\\s\\S]``, which Python's engine reads the same way."""
    if isinstance(schema, list):
        return [_openapi_schema(item, targets) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-") or key in ("$id", "$schema"):
            continue
        if key == "$ref":
            result[key] = _rewritten_ref(str(value), targets)
        elif key == "pattern" and isinstance(value, str):
            result[key] = value.replace("[^]", "[\\s\\S]")
        elif key in _NAMED_SCHEMAS and isinstance(value, dict):
            result[key] = {name: _openapi_schema(inner, targets) for name, inner in value.items()}
        else:
            result[key] = _openapi_schema(value, targets)
    return result


def _rewritten_ref(ref: str, targets: dict[str, str]) -> str:
    for source, target in sorted(targets.items(), key=lambda item: -len(item[0])):
        if ref == source or ref.startswith(source + "/") or ref.startswith(source + "#"):
            rest = ref[len(source) :]
            return target + (rest[1:] if rest.startswith("#") else rest)
    raise ValueError(f"a form schema refers to {ref!r}, which the OpenAPI document cannot point at")
