"""The API's one error shape, RFC 9457 problem details, and the one mapping of exceptions onto it.

An answer other than success is ``application/problem+json``::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "<what is wrong, in the request's language>",
     "code": "validation_failed",
     "errors": [{"field": "subject", "pointer": "/data/subject", "keyword": "required", "detail": "..."}]}

``code`` (a stable name for the problem) and ``errors`` (the fields at fault, ``pointer`` a JSON Pointer
into the request body) are this API's extension members. The problem type is ``about:blank``: the HTTP
status says what kind of problem it is, ``code`` which one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from handler.api.languages import language_of
from handler.codes import Code
from handler.refusals import Refused
from handler.schema.catalog import Catalog
from handler.schema.model import FieldError
from handler.signin import InvalidCode, InvalidSession, SessionExpired, SignInRequired
from handler.storage.base import (
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidCursor,
    RequestTooLarge,
    StorageUnavailable,
)
from handler.texts import fill

log = logging.getLogger("servicedesk_forms")
MEDIA_TYPE = "application/problem+json"

# The HTTP status of each problem code (handler/refusals.py), by its name.
STATUS: dict[str, int] = {code.value: code.status for code in Code}
# Each status's name as RFC 9110 gives it: a problem of type "about:blank" takes it as its title.
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TOKEN_REFUSED = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
# The domain's own exceptions, by the problem each is (the first class in an exception's MRO found here).
_DOMAIN: dict[type[Exception], tuple[Code, dict[str, str]]] = {
    SignInRequired: (Code.SIGN_IN_REQUIRED, {"WWW-Authenticate": "Bearer"}),
    SessionExpired: (Code.SESSION_EXPIRED, _TOKEN_REFUSED),
    InvalidSession: (Code.SIGN_IN_REQUIRED, _TOKEN_REFUSED),
    InvalidCode: (Code.INVALID_CODE, {}),
    IdempotencyConflict: (Code.IDEMPOTENCY_CONFLICT, {}),
    IdempotencyInProgress: (Code.IDEMPOTENCY_IN_PROGRESS, {"Retry-After": "1"}),
    RequestTooLarge: (Code.REQUEST_TOO_LARGE, {}),
    InvalidCursor: (Code.BAD_REQUEST, {}),
    StorageUnavailable: (Code.STORAGE_UNAVAILABLE, {"Retry-After": "2"}),
}

HANDLED: tuple[type[Exception], ...] = (Refused, *_DOMAIN)  # what routes raise on purpose


@dataclass(frozen=True)
class Problem:
    """What an answer other than success says: its code, the fields at fault, and its extra headers."""

    code: Code
    errors: tuple[FieldError, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return STATUS[self.code]


def problem_of(exc: Exception) -> Problem:
    """The problem an exception is: a use case's refusal, a domain exception, or an unexpected failure."""
    if isinstance(exc, Refused):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
        return Problem(exc.code, exc.errors, exc.params, headers)
    for kind in type(exc).__mro__:
        if kind in _DOMAIN:
            code, headers = _DOMAIN[kind]
            if isinstance(exc, StorageUnavailable | RequestTooLarge):
                log.warning(
                    "%s: %s", type(exc).__name__, exc, extra={"failure": type(exc).__name__, "status": STATUS[code]}
                )
            params = {"reference": exc.reference} if isinstance(exc, IdempotencyConflict) else {}
            return Problem(code, params=params, headers=dict(headers))
    return Problem(Code.INTERNAL_ERROR)


def problem_body(catalog: Catalog, language: str, problem: Problem) -> dict[str, Any]:
    """The problem as RFC 9457 problem details, worded in ``language``."""
    detail = fill(catalog.api_text(language, problem.code), problem.params)
    return {
        "type": "about:blank",
        "title": TITLES[problem.status],
        "status": problem.status,
        "detail": detail,
        "code": problem.code,
        "errors": [e.as_json() | ({"detail": detail} if not e.message else {}) for e in problem.errors],
    }


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    """The problem as an answer in the request's language."""
    language = language_of(request)
    body = problem_body(request.app.state.services.catalog, language, problem)
    headers = {"Content-Language": language, "Cache-Control": "no-store", **problem.headers}
    if problem.status == 401:  # RFC 9110: a 401 names the scheme that would work
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=problem.status, headers=headers, media_type=MEDIA_TYPE)


# The problem body as JSON Schema (OpenAPI 3.1): what ``problem_body`` writes.
PROBLEM_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"enum": sorted(set(TITLES.values()))},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "minLength": 1},
        "code": {"enum": sorted(STATUS)},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "pointer", "keyword", "detail"],
                "additionalProperties": False,
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "pointer": {"type": "string"},
                    "keyword": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
