"""The HTTP API: thin routes over the use cases, and one mapping of what goes wrong onto problem details."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from handler.api import hooks, requests, session, sso, uploads
from handler.api.openapi import openapi_document
from handler.api.problems import HANDLED, Problem, problem_of, problem_response
from handler.codes import Code
from handler.schema.catalog import Catalog
from handler.services import Services, build_services, now_utc
from handler.settings import Settings
from handler.storage.base import Store

if TYPE_CHECKING:
    from handler import answers

log = logging.getLogger("servicedesk_forms")
ROUTERS = (session.router, sso.router, requests.router, uploads.router, hooks.router)


def create_app(
    settings: Settings,
    catalog: Catalog | None = None,
    store: Store | None = None,
    clock: Callable[[], datetime] = now_utc,
    services: Services | None = None,
) -> FastAPI:
    """The API; its parts are built from ``settings`` unless given."""
    app = FastAPI(
        title="servicedesk-forms",
        summary="Takes service requests validated against the forms in schema/.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
    )
    app.state.services = services or build_services(settings, catalog=catalog, store=store, clock=clock)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Accept-Language", "X-Requested-With"],
            max_age=3600,
        )

    _answer_problems(app)

    @app.get("/v1/health")
    async def health() -> JSONResponse:
        """Answers when the handler is up."""
        answer: answers.Health = {"status": "ok"}
        return JSONResponse(answer)

    for router in ROUTERS:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, app.state.services.catalog)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _answer_problems(app: FastAPI) -> None:
    """Every answer other than success, whatever raised it, as problem details (``handler.api.problems``)."""

    async def problem(request: Request, exc: Exception) -> JSONResponse:
        """Every answer other than success, whatever raised it."""
        if isinstance(exc, StarletteHTTPException):
            code = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}.get(exc.status_code, Code.BAD_REQUEST)
            headers = dict(exc.headers or {})
            if exc.status_code == 405:  # every method the path takes, not only those of the first route matched
                headers["Allow"] = ", ".join(_allowed_methods(app, request))
            return problem_response(request, Problem(code, headers=headers))
        if isinstance(exc, RequestValidationError):  # a parameter FastAPI checks (limit, cursor)
            return problem_response(request, Problem(Code.BAD_REQUEST))
        found = problem_of(exc)
        if found.code == Code.INTERNAL_ERROR:
            log.error(
                "unexpected error on %s %s", request.method, request.url.path, exc_info=exc, extra={"status": 500}
            )
        return problem_response(request, found)

    app.add_exception_handler(Exception, problem)
    app.add_exception_handler(StarletteHTTPException, problem)
    app.add_exception_handler(RequestValidationError, problem)
    for handled in HANDLED:
        app.add_exception_handler(handled, problem)


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods some route takes at the request's path, for a 405's ``Allow``."""
    methods: set[str] = set()
    for route in [*app.router.routes, *(route for router in ROUTERS for route in router.routes)]:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)
