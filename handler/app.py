"""The HTTP API: routes, the one error shape, and reading a submission safely."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from handler.forms import Catalog, FieldError, Form, load_catalog
from handler.settings import Settings
from handler.storage import IdempotencyConflict, RequestStore, StorageUnavailable, Submission
from handler.storage.factory import make_store

log = logging.getLogger("servicedesk_forms")

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class ApiError(Exception):
    """An answer other than success; carries its HTTP status, its code and the problems found."""

    def __init__(
        self, status: int, code: str, details: Sequence[FieldError] = (), headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.details = details
        self.headers = headers or {}


def language_of(request: Request) -> str:
    """The language to answer in: the ``lang`` parameter if supported, else ``Accept-Language``."""
    catalog: Catalog = request.app.state.catalog
    return catalog.language(request.query_params.get("lang")) or catalog.negotiate(
        request.headers.get("accept-language")
    )


def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


def _store(request: Request) -> RequestStore:
    return request.app.state.store  # type: ignore[no-any-return]


Language = Annotated[str, Depends(language_of)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
StoreDep = Annotated[RequestStore, Depends(_store)]


def error_response(request: Request, error: ApiError) -> JSONResponse:
    """The API's one error body: ``{"error": {"code", "message", "details"}}`` in the request's language."""
    language = language_of(request)
    catalog: Catalog = request.app.state.catalog
    body = {
        "error": {
            "code": error.code,
            "message": catalog.common[language]["api"][error.code],
            "details": [d.as_json() for d in error.details],
        }
    }
    headers = {"Content-Language": language, "Cache-Control": "no-store", **error.headers}
    return JSONResponse(body, status_code=error.status, headers=headers)


def create_app(
    settings: Settings,
    catalog: Catalog | None = None,
    store: RequestStore | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The API with its catalog and store; both are built from ``settings`` unless given."""
    app = FastAPI(
        title="servicedesk-forms",
        summary="Takes service requests validated against the forms in schema/.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
    )
    app.state.catalog = catalog or load_catalog(settings.schema_dir)
    app.state.store = store or make_store(settings)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Idempotency-Key", "Accept-Language"],
            max_age=3600,
        )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(request, ApiError(exc.status_code, codes.get(exc.status_code, "bad_request")))

    @app.exception_handler(RequestValidationError)
    async def _parameter_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, ApiError(400, "bad_request"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request, ApiError(500, "internal_error"))

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        """Answers when the handler is up."""
        return {"status": "ok"}

    @app.post(
        "/v1/requests",
        status_code=201,
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _envelope()}}}},
    )
    async def submit_request(
        request: Request,
        language: Language,
        catalog: CatalogDep,
        store: StoreDep,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Validate a submission against its form's schema and store it; answer with a receipt."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise ApiError(400, "invalid_idempotency_key")
        body = await read_json(request, settings.max_body_bytes)
        form, data = parse_envelope(body, catalog, language)
        now = clock()
        errors = form.validate(data, language, now) or unknown_uploads(form, data, language)
        if errors:
            raise ApiError(422, "validation_failed", [replace(e, path=f"/data{e.path}") for e in errors])
        submission = Submission(
            form_id=form.id,
            category=data.get(form.discriminator),
            schema_hash=form.schema_hash,
            language=language,
            requester=None,
            data=data,
        )
        try:
            receipt, created = await run_in_threadpool(
                store.submit, submission, form.reference_prefix, idempotency_key, now
            )
        except IdempotencyConflict as exc:
            raise ApiError(422, "idempotency_conflict") from exc
        except StorageUnavailable as exc:
            log.warning("storage unavailable: %s", exc)
            raise ApiError(503, "storage_unavailable", headers={"Retry-After": "2"}) from exc
        headers = {"Content-Language": language, "Cache-Control": "no-store"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(receipt.as_json(), status_code=201, headers=headers)

    return app


def unknown_uploads(form: Form, data: dict[str, Any], language: str) -> list[FieldError]:
    """Attachments must name uploads this requester made; until uploads exist, none can be found."""
    return [
        FieldError(field.name, f"/{field.name}/{index}", "x-upload", form.message(language, field.name, "x-upload"))
        for field in form.fields
        if field.widget == "attachments"
        for index, _ in enumerate(data.get(field.name, ()))
    ]


def _envelope() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["form", "data"],
        "additionalProperties": False,
        "properties": {"form": {"type": "string"}, "data": {"type": "object"}},
    }


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refusing wrong content types, oversize and malformed bodies with a 4xx."""
    mime, _, params = request.headers.get("content-type", "").partition(";")
    charset = params.strip().lower().removeprefix("charset=").strip('"') if "charset=" in params.lower() else "utf-8"
    if mime.strip().lower() != "application/json" or charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413 if declared.isdigit() else 400, "payload_too_large" if declared.isdigit() else "bad_request")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "payload_too_large")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding") from exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json") from exc


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in object")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_envelope(body: Any, catalog: Catalog, language: str) -> tuple[Form, dict[str, Any]]:
    """The form and the data of ``{"form": ID, "data": {...}}``, or a 422 naming what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_body", [_envelope_error(catalog, language, "", "type")])
    problems = [
        _envelope_error(catalog, language, f"/{key}", "required") for key in ("form", "data") if key not in body
    ]
    problems += [
        _envelope_error(catalog, language, f"/{key}", "unevaluatedProperties")
        for key in body
        if key not in ("form", "data")
    ]
    if "data" in body and not isinstance(body["data"], dict):
        problems.append(_envelope_error(catalog, language, "/data", "type"))
    if problems:
        raise ApiError(422, "invalid_body", problems)
    form = catalog.forms.get(body["form"]) if isinstance(body["form"], str) else None
    if form is None:
        raise ApiError(422, "unknown_form", [_envelope_error(catalog, language, "/form", "enum")])
    return form, body["data"]


def _envelope_error(catalog: Catalog, language: str, path: str, keyword: str) -> FieldError:
    message = catalog.common[language]["api"][
        "unknown_form" if path == "/form" and keyword == "enum" else "invalid_body"
    ]
    return FieldError(None, path, keyword, message)
