"""The API's one error shape, and the language an answer is given in."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import JSONResponse

from handler.forms import Catalog, FieldError
from handler.texts import fill


class ApiError(Exception):
    """An answer other than success; carries its HTTP status, its code and the problems found."""

    def __init__(
        self,
        status: int,
        code: str,
        details: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.details = details
        self.headers = headers or {}
        self.params = params or {}


def language_of(request: Request) -> str:
    """The language to answer in: the ``lang`` parameter if supported, else ``Accept-Language``."""
    catalog: Catalog = request.app.state.services.catalog
    return catalog.language(request.query_params.get("lang")) or catalog.negotiate(
        request.headers.get("accept-language")
    )


def error_response(request: Request, error: ApiError) -> JSONResponse:
    """``{"error": {"code", "message", "details"}}`` in the request's language."""
    language = language_of(request)
    catalog: Catalog = request.app.state.services.catalog
    message = str(catalog.common[language]["api"][error.code])
    message = fill(message, error.params)
    details = [d.as_json() | ({"message": message} if not d.message else {}) for d in error.details]
    body = {"error": {"code": error.code, "message": message, "details": details}}
    headers = {"Content-Language": language, "Cache-Control": "no-store", **error.headers}
    return JSONResponse(body, status_code=error.status, headers=headers)


# The error body as JSON Schema (OpenAPI 3.1): what ``error_response`` writes.
ERROR_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z_]+$"},
                "message": {"type": "string", "minLength": 1},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "path", "keyword", "message"],
                        "additionalProperties": False,
                        "properties": {
                            "field": {"type": ["string", "null"]},
                            "path": {"type": "string"},
                            "keyword": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}
