"""The HTTP API: sign-in, submitting requests and following them."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from handler import observe
from handler.bodies import object_with, parse_envelope, read_json
from handler.contacts import Contact
from handler.dialect import EMAIL_PATTERN
from handler.errors import ERROR_SCHEMA, ApiError, error_response, language_of
from handler.forms import Catalog, FieldError, Form
from handler.mail import QueuedMail
from handler.patterns import python_regex
from handler.receipts import receipt_mails
from handler.services import Services, build_services, now_utc
from handler.settings import Settings
from handler.signin import InvalidCode, InvalidSession, RateLimited, SessionExpired, SignedInAddress
from handler.storage import IdempotencyConflict, Receipt, StorageUnavailable, Submission
from handler.storage.base import (
    InvalidCursor,
    PendingRequest,
    RequestTooLarge,
    Store,
    StoreUnreachable,
    request_blobs,
)
from handler.storage.local import LocalBlobs
from handler.uploads import (
    SNIFF_BYTES,
    Limits,
    Upload,
    UploadRefused,
    content_matches,
    exact_chunks,
    new_upload,
    size_refusal,
    slot_signature,
    take_upload,
    taken_too_late,
)

log = logging.getLogger("servicedesk_forms")

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
EMAIL = python_regex(EMAIL_PATTERN)
CODE = re.compile(r"^[0-9]{6}$")
UPLOADS_PER_HOUR = 100  # upload slots one contact may ask for in an hour
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EMAIL_FIELD = {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN}  # as the API checks it


# The dependencies are coroutines: FastAPI runs plain functions in a thread pool, a hop each request
# would pay for nothing (none of them blocks).
async def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _language(request: Request) -> str:
    return language_of(request)


Language = Annotated[str, Depends(_language)]
ServicesDep = Annotated[Services, Depends(_services)]


async def signed_in_email(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The e-mail address of the ``Authorization: Bearer`` session, if it has not been ended; else a 401.

    The address carries the contact the check read (``SignedInAddress``), so that ``authorized_contact``
    does not read it again.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "sign_in_required", headers={"WWW-Authenticate": "Bearer"})
    try:
        email: SignedInAddress = await stored(services.sign_in.signed_in, token.strip())
        return email
    except SessionExpired as exc:
        raise ApiError(401, "session_expired", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
    except InvalidSession as exc:
        raise ApiError(401, "sign_in_required", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc


SignedIn = Annotated[str, Depends(signed_in_email)]


async def stored(call: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking store call off the event loop; an unavailable store becomes a retryable 503."""
    try:
        return await run_in_threadpool(call, *args)
    except StorageUnavailable as exc:
        log.warning("storage unavailable: %s", exc, extra={"failure": type(exc).__name__, "status": 503})
        raise ApiError(503, "storage_unavailable", headers={"Retry-After": "2"}) from exc


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
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Accept-Language"],
            max_age=3600,
        )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path takes, not only those of the first route matched
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return error_response(
            request, ApiError(exc.status_code, codes.get(exc.status_code, "bad_request"), headers=headers)
        )

    @app.exception_handler(RequestValidationError)
    async def _parameter_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, ApiError(400, "bad_request"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path, extra={"status": 500})
        return error_response(request, ApiError(500, "internal_error"))

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        """Answers when the handler is up."""
        return {"status": "ok"}

    @app.post("/v1/session/code", status_code=202, openapi_extra=_body({"email": _EMAIL_FIELD}))
    async def send_code(request: Request, language: Language, services: ServicesDep) -> JSONResponse:
        """E-mail a one-time code to a registered contact; the answer never tells whether one was sent."""
        body = object_with(await read_json(request, 4096), ("email",), services.catalog, language)
        email = _checked_email(body["email"], services.catalog, language)
        client = request.client.host if request.client else "unknown"
        started = time.monotonic()
        try:
            await stored(services.sign_in.request_code, email, client, language)
        except RateLimited as exc:
            raise ApiError(429, "too_many_codes", headers={"Retry-After": str(exc.retry_after)}) from exc
        finally:
            await asyncio.sleep(max(0.0, services.settings.code_answer_seconds - (time.monotonic() - started)))
        message = services.catalog.common[language]["api"]["code_sent"]

        def send_queued_code() -> None:
            try:
                services.send_queued_mail()
            except Exception:  # it stays queued for the next sender
                log.exception("could not send the queued sign-in code")

        # The code is queued, and sent once this answer has left, so its timing cannot depend on the mail
        # service. Lambda returns the answer only when the app is done: there the table's stream sends it.
        on_lambda = services.settings.storage == "aws" and "aws.event" in request.scope
        return JSONResponse(
            {"message": message},
            status_code=202,
            headers={"Cache-Control": "no-store"},
            background=None if on_lambda else BackgroundTask(send_queued_code),
        )

    @app.post(
        "/v1/session",
        openapi_extra=_body({"email": _EMAIL_FIELD, "code": {"type": "string", "pattern": CODE.pattern}}),
    )
    async def open_session(request: Request, language: Language, services: ServicesDep) -> JSONResponse:
        """Exchange an e-mailed code for a signed session token."""
        body = object_with(await read_json(request, 4096), ("email", "code"), services.catalog, language)
        email = _checked_email(body["email"], services.catalog, language)
        code = body["code"].strip() if isinstance(body["code"], str) else ""
        if not CODE.fullmatch(code):
            raise ApiError(422, "validation_failed", [_sign_in_error(services.catalog, language, "code", "codeFormat")])
        client = request.client.host if request.client else "unknown"
        started = time.monotonic()
        try:
            session = await stored(services.sign_in.exchange, email, code, client)
        except InvalidCode as exc:
            raise ApiError(401, "invalid_code") from exc
        except RateLimited as exc:
            raise ApiError(429, "too_many_attempts", headers={"Retry-After": str(exc.retry_after)}) from exc
        finally:
            # As long as a code request's answer, so that its timing cannot tell whether a code was pending.
            await asyncio.sleep(max(0.0, services.settings.code_answer_seconds - (time.monotonic() - started)))
        return JSONResponse(
            {
                "token": session.token,
                "expiresAt": session.expires_at.isoformat(timespec="seconds"),
                "contact": _contact_json(session.contact),
            },
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/v1/session")
    async def current_session(email: SignedIn, services: ServicesDep) -> JSONResponse:
        """Who the session belongs to, as the register has them now."""
        contact = await stored(services.store.get_contact, email)
        if contact is None:
            raise ApiError(401, "sign_in_required")
        return JSONResponse({"contact": _contact_json(contact)}, headers={"Cache-Control": "no-store"})

    @app.delete("/v1/session", status_code=204)
    async def end_sessions(email: SignedIn, services: ServicesDep) -> Response:
        """Sign out everywhere: end every session of the signed-in contact, on every device."""
        await stored(services.sign_in.sign_out, email)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    @app.post(
        "/v1/requests", status_code=201, openapi_extra=_body({"form": {"type": "string"}, "data": {"type": "object"}})
    )
    async def submit_request(
        request: Request,
        language: Language,
        services: ServicesDep,
        email: SignedIn,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Validate a submission against its form's schema and store it; answer with a receipt."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ApiError(400, "invalid_idempotency_key")
        body = await read_json(request, services.settings.max_body_bytes)
        form, data = parse_envelope(body, services.catalog, language)
        receipt, created = await stored(accept, services, form, data, email, language, idempotency_key)
        headers = {"Content-Language": language, "Cache-Control": "no-store"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(receipt.as_json(), status_code=201, headers=headers)

    @app.post(
        "/v1/uploads",
        status_code=201,
        openapi_extra=_body(
            {
                "form": {"type": "string"},
                "field": {"type": "string"},
                "name": {"type": "string"},
                "type": {"type": "string"},
                "size": {"type": "integer"},
            }
        ),
    )
    async def upload_slot(request: Request, language: Language, services: ServicesDep, email: SignedIn) -> JSONResponse:
        """A slot for one attachment: where to send the file, bounded in size and type."""
        keys = ("form", "field", "name", "type", "size")
        body = object_with(await read_json(request, 4096), keys, services.catalog, language)
        form = services.catalog.forms.get(body["form"]) if isinstance(body["form"], str) else None
        field = form.field(body["field"]) if form and isinstance(body["field"], str) else None
        if form is None or field is None or field.widget != "attachments":
            raise ApiError(
                422,
                "unknown_form",
                [FieldError(None, "/field", "enum", services.catalog.common[language]["api"]["unknown_form"])],
            )
        await stored(authorized_contact, services, email, form, language)
        now = services.clock()
        window = datetime.fromtimestamp(now.timestamp() // 3600 * 3600, now.tzinfo)
        if (
            await stored(services.store.count, f"uploads:{email}", window, window + timedelta(hours=1))
            > UPLOADS_PER_HOUR
        ):
            raise ApiError(
                429,
                "too_many_uploads",
                headers={"Retry-After": str(int((window + timedelta(hours=1) - now).total_seconds()) or 1)},
            )
        if not isinstance(body["name"], str) or not isinstance(body["type"], str):
            raise ApiError(422, "invalid_body")
        try:
            upload = new_upload(email, form.id, field, body["name"], body["type"], body["size"], services.clock())
        except UploadRefused as exc:
            message = form.message(language, field.name, exc.keyword, value=exc.value, limit=exc.limit)
            raise ApiError(
                422, "validation_failed", [FieldError(field.name, f"/{field.name}", exc.keyword, message)]
            ) from exc
        await stored(services.store.put_upload, upload)
        target = services.blobs.upload_target(
            upload, str(request.url_for("receive_upload", upload_id=upload.id)), services.secret
        )
        return JSONResponse(
            {
                "id": upload.id,
                "name": upload.name,
                "expiresAt": upload.expires_at.isoformat(timespec="seconds"),
                **target,
            },
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    @app.post("/v1/uploads/{upload_id}/file", name="receive_upload", status_code=204)
    async def receive_upload(upload_id: str, request: Request, language: Language, services: ServicesDep) -> Response:
        """The embedded default's stand-in for S3: takes a file of the declared size for a signed, unexpired slot."""
        blobs = services.blobs
        if not isinstance(blobs, LocalBlobs):
            raise ApiError(404, "not_found")
        upload = await stored(services.store.get_upload, upload_id)
        declared = request.headers.get("content-length", "")
        if upload is None:
            raise ApiError(403, "upload_refused")
        if not declared.isdigit() or int(declared) > upload.max_bytes + 65536:
            raise ApiError(413, "payload_too_large")
        form = await request.form(max_files=1, max_fields=5)
        file = form.get("file")
        signature = str(form.get("signature", ""))
        if (
            services.clock() > upload.expires_at
            or not hmac.compare_digest(signature, slot_signature(services.secret, upload))
            or form.get("Content-Type") != upload.content_type
            or form.get("expires") != str(int(upload.expires_at.timestamp()))
            or isinstance(file, str)
            or file is None
        ):
            raise ApiError(403, "upload_refused")
        try:
            await run_in_threadpool(
                blobs.receive, upload, exact_chunks(iter(lambda: file.file.read(65536), b""), upload)
            )
        except ValueError as exc:
            raise ApiError(413, "payload_too_large") from exc
        except UploadRefused as exc:
            if exc.keyword == "x-upload-size":
                raise ApiError(413, "payload_too_large") from exc
            if exc.keyword != "x-upload-empty":
                raise ApiError(403, "upload_refused") from exc  # shorter than the slot declared
            upload_form = services.catalog.forms[upload.form_id]
            message = upload_form.message(language, upload.field, exc.keyword, value=exc.value)
            raise ApiError(
                422, "validation_failed", [FieldError(upload.field, f"/{upload.field}", exc.keyword, message)]
            ) from exc
        return Response(status_code=204)

    @app.get("/v1/requests")
    async def my_requests(
        services: ServicesDep,
        email: SignedIn,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> JSONResponse:
        """The signed-in contact's requests, newest first, a page at a time."""
        try:
            page, next_cursor = await stored(services.store.list_for_requester, email, limit, cursor)
        except InvalidCursor as exc:
            raise ApiError(400, "bad_request") from exc
        return JSONResponse(
            {"items": [item.as_json() for item in page], "next": next_cursor}, headers={"Cache-Control": "no-store"}
        )

    @app.get("/v1/requests/{request_id}")
    async def one_request(request_id: str, services: ServicesDep, email: SignedIn) -> JSONResponse:
        """One of the signed-in contact's requests with its fields and status history."""
        found = await stored(services.store.get, request_id) if REQUEST_ID.fullmatch(request_id) else None
        if found is None or found.requester != email:
            raise ApiError(404, "not_found")  # someone else's request looks exactly like a missing one
        summary = await stored(services.store.summary, request_id)
        if summary is None:
            raise ApiError(404, "not_found")
        history = await stored(services.store.history, request_id)
        # The attachments by the names they were sent with (never where they are kept).
        attachments = [{k: a[k] for k in ("id", "name", "type", "size") if k in a} for a in found.attachments]
        return JSONResponse(
            {
                **summary.as_json(),
                "data": found.data,
                "attachments": attachments,
                "history": [event.as_json() for event in history],
            },
            headers={"Cache-Control": "no-store"},
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, app.state.services.catalog)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods some route takes at the request's path, for a 405's ``Allow``."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def _contact_json(contact: Contact) -> dict[str, Any]:
    return {"email": contact.email, "name": contact.name, "contactTypes": list(contact.contact_types)}


def _checked_email(value: Any, catalog: Catalog, language: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "validation_failed", [_sign_in_error(catalog, language, "email", "emailRequired")])
    email = value.strip()
    if len(email) > 254 or not EMAIL.match(email):
        raise ApiError(422, "validation_failed", [_sign_in_error(catalog, language, "email", "emailFormat")])
    return email


def _sign_in_error(catalog: Catalog, language: str, field: str, text: str) -> FieldError:
    keyword = "required" if text.endswith("Required") else "format"
    return FieldError(field, f"/{field}", keyword, str(catalog.common[language]["signIn"][text]))


def accept(
    services: Services, form: Form, data: dict[str, Any], email: str, language: str, idempotency_key: str | None
) -> tuple[Receipt, bool]:
    """Everything accepting a submission asks of the store, in one trip off the event loop: who is
    sending, whether the data and the attachments pass, storing it, and queueing the e-mails."""
    observe.annotate(form=form.id)
    contact = authorized_contact(services, email, form, language)
    now = services.clock()
    submission = Submission(
        form_id=form.id,
        category=data.get(form.discriminator),
        schema_hash=form.schema_hash,
        language=language,
        requester=contact.email,
        data=data,
        title=data.get(form.title_field),
    )
    try:
        # A retry is answered with the first receipt before anything is checked again: the data
        # passed when it was stored, even if "now" has moved past a start time since.
        if earlier := services.store.replay(submission, idempotency_key, now):
            observe.annotate(reference=earlier.reference, outcome="replayed")
            return earlier, False
    except IdempotencyConflict as exc:
        raise ApiError(422, "idempotency_conflict") from exc
    errors = form.validate(data, language, now)
    if errors:
        raise ApiError(422, "validation_failed", [replace(e, path=f"/data{e.path}") for e in errors])
    observe.annotate(category=submission.category)  # one of the form's categories, now that the data passed
    blobs = request_blobs(services.blobs)
    copies = sum(len(data.get(f.name, ())) for f in form.fields if f.widget == "attachments")
    # Recorded before its copies and its document are written; the commit removes the record.
    pending = services.store.begin(now, attachments=copies)
    try:
        attachments, problems = check_attachments(services, form, email, data, language, idempotency_key, pending)
        if problems:
            raise ApiError(422, "validation_failed", [replace(e, path=f"/data{e.path}") for e in problems])
        submission = replace(submission, attachments=tuple(attachments))

        def mails(receipt: Receipt) -> list[QueuedMail]:
            return services.queued(receipt_mails(services, form, receipt, contact, language, data, attachments))

        receipt, created = services.store.submit(
            submission, form.reference_prefix, idempotency_key, now, mails, looked_up=True, pending=pending
        )
    except StoreUnreachable:
        raise  # the commit may still land: if it does not, the sweep removes what this request wrote
    except (ApiError, IdempotencyConflict, RequestTooLarge, StorageUnavailable) as exc:
        services.store.abandon(pending, blobs)  # not committed: its copies and document go now
        if isinstance(exc, IdempotencyConflict):
            raise ApiError(422, "idempotency_conflict") from exc
        if isinstance(exc, RequestTooLarge):
            log.warning("refused a request too large for the store: %s", exc, extra={"status": 413})
            raise ApiError(413, "request_too_large") from exc
        raise
    if not created:  # another submission with this key was stored first: this one's copies go
        services.store.abandon(pending, blobs)
    observe.annotate(reference=receipt.reference, outcome="created" if created else "replayed")
    if created:
        services.mail_queued()
    return receipt, created


def authorized_contact(services: Services, email: str, form: Form, language: str) -> Contact:
    """The signed-in contact, if the register gives them a contact type the form allows; else a 403."""
    # The session check has just read the contact: the same item, read once per request.
    contact = email.contact if isinstance(email, SignedInAddress) else services.store.get_contact(email)
    if contact is None or not contact.may_submit(form.allowed_contact_types):
        names = " / ".join(services.catalog.common[language]["contactTypes"][t] for t in form.allowed_contact_types)
        raise ApiError(403, "not_authorized", params={"types": names})
    return contact


def check_attachments(
    services: Services,
    form: Form,
    requester: str,
    data: dict[str, Any],
    language: str,
    taker: str | None,
    pending: PendingRequest,
) -> tuple[list[dict[str, Any]], list[FieldError]]:
    """Copy every named upload to the key the pending request chose for it (under the request's id),
    then check the copy (whose it is, that it has the declared size, its real type): what was checked
    is what is kept, whatever happens to the upload later. When all pass, each upload is marked as
    taken by this request (``taker``, its idempotency key, may take them again on a retry). If any is
    refused, the request is refused, and abandoning it removes every copy."""
    blobs = request_blobs(services.blobs)
    positions = iter(pending.attachment_keys)
    kept: list[dict[str, Any]] = []
    checked: list[tuple[str, int, Upload]] = []
    problems: list[FieldError] = []
    now = services.clock()
    for field in (f for f in form.fields if f.widget == "attachments"):
        for index, upload_id in enumerate(data.get(field.name, ())):
            key = next(positions)
            upload = services.store.get_upload(upload_id)
            try:
                if (
                    upload is None
                    or upload.requester != requester
                    or (upload.form_id, upload.field) != (form.id, field.name)
                    or taken_too_late(upload, now)
                ):
                    raise UploadRefused("x-upload")
                if not blobs.copy_upload(upload, key):
                    raise UploadRefused("x-upload-failed", upload.name)
                kept.append({"id": upload.id, "name": upload.name, "type": upload.content_type, "key": key})
                size = services.blobs.size(key) or 0
                kept[-1]["size"] = size
                if refused := size_refusal(upload, size, Limits.of(field)):
                    raise refused
                if not content_matches(upload.content_type, services.blobs.head(key, SNIFF_BYTES)):
                    raise UploadRefused("x-upload-content", upload.name)
                checked.append((field.name, index, upload))
            except UploadRefused as exc:
                message = form.message(language, field.name, exc.keyword, value=exc.value, limit=exc.limit)
                problems.append(FieldError(field.name, f"/{field.name}/{index}", exc.keyword, message))
    if not problems:
        for name, index, upload in checked:
            if not take_upload(services.store, upload, taker):
                message = form.message(language, name, "x-upload")
                problems.append(FieldError(name, f"/{name}/{index}", "x-upload", message))
    return ([], problems) if problems else (kept, [])


def _body(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# The OpenAPI document -----------------------------------------------------------------------------------------

_JSON = "application/json"
_STRING = {"type": "string"}
_CONTACT = {
    "type": "object",
    "required": ["email", "name", "contactTypes"],
    "properties": {
        "email": _STRING,
        "name": _STRING,
        "contactTypes": {"type": "array", "items": {"$ref": "#/components/schemas/ContactType"}},
    },
}
_RECEIPT = {
    "type": "object",
    "required": ["id", "reference", "status", "receivedAt"],
    "properties": {
        "id": {"type": "string", "pattern": REQUEST_ID.pattern},
        "reference": _STRING,
        "status": _STRING,
        "receivedAt": {"type": "string", "format": "date-time"},
    },
}
_SUMMARY = {
    "allOf": [{"$ref": "#/components/schemas/Receipt"}],
    "required": ["form", "category", "title", "updatedAt"],
    "properties": {
        "form": _STRING,
        "category": {},
        "title": {},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}
# Per operation: its success status and body, whether it needs a session, and every other status it can answer
# (each in the error shape). 500 (an unexpected failure) can be answered by any operation.
_OPERATIONS: dict[tuple[str, str], tuple[int, dict[str, Any] | None, bool, tuple[int, ...]]] = {
    ("get", "/v1/health"): (
        200,
        {"type": "object", "required": ["status"], "properties": {"status": _STRING}},
        False,
        (),
    ),
    ("post", "/v1/session/code"): (
        202,
        {"type": "object", "required": ["message"], "properties": {"message": _STRING}},
        False,
        (400, 413, 415, 422, 429, 503),
    ),
    ("post", "/v1/session"): (
        200,
        {
            "type": "object",
            "required": ["token", "expiresAt", "contact"],
            "properties": {
                "token": _STRING,
                "expiresAt": {"type": "string", "format": "date-time"},
                "contact": {"$ref": "#/components/schemas/Contact"},
            },
        },
        False,
        (400, 401, 413, 415, 422, 429, 503),
    ),
    ("get", "/v1/session"): (
        200,
        {
            "type": "object",
            "required": ["contact"],
            "properties": {"contact": {"$ref": "#/components/schemas/Contact"}},
        },
        True,
        (401, 503),
    ),
    ("delete", "/v1/session"): (204, None, True, (401, 503)),
    ("post", "/v1/requests"): (
        201,
        {"$ref": "#/components/schemas/Receipt"},
        True,
        (400, 401, 403, 413, 415, 422, 503),
    ),
    ("post", "/v1/uploads"): (
        201,
        {
            "type": "object",
            "required": ["id", "name", "expiresAt", "url"],
            "properties": {
                "id": _STRING,
                "name": _STRING,
                "expiresAt": {"type": "string", "format": "date-time"},
                "url": _STRING,
                "fields": {"type": "object", "additionalProperties": _STRING},
            },
        },
        True,
        (400, 401, 403, 413, 415, 422, 429, 503),
    ),
    ("post", "/v1/uploads/{upload_id}/file"): (204, None, False, (400, 403, 404, 413, 422, 503)),
    ("get", "/v1/requests"): (
        200,
        {
            "type": "object",
            "required": ["items", "next"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Summary"}},
                "next": {"type": ["string", "null"]},
            },
        },
        True,
        (400, 401, 503),
    ),
    ("get", "/v1/requests/{request_id}"): (
        200,
        {
            "allOf": [{"$ref": "#/components/schemas/Summary"}],
            "required": ["data", "attachments", "history"],
            "properties": {
                "data": {"type": "object"},
                "attachments": {"type": "array", "items": {"type": "object"}},
                "history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["status", "at", "comment"],
                        "properties": {
                            "status": _STRING,
                            "at": {"type": "string", "format": "date-time"},
                            "comment": {},
                        },
                    },
                },
            },
        },
        True,
        (401, 404, 503),
    ),
}
_REASONS = {
    400: "The request could not be read (body, encoding, text or parameters)",
    401: "No valid session, or a wrong code",
    403: "Not allowed for this contact or slot",
    404: "Nothing at this address",
    413: "The body is too large",
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
    schemas.update(form_components(catalog))
    schemas.update(Error=ERROR_SCHEMA, Contact=_CONTACT, Receipt=_RECEIPT, Summary=_SUMMARY)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    for (method, path), (status, body, session, errors) in _OPERATIONS.items():
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
            operation["security"] = [{"bearer": []}]
        success: dict[str, Any] = {"description": "Done"}
        if body is not None:
            success["content"] = {_JSON: {"schema": body}}
        operation["responses"] = {str(status): success} | {
            str(code): {
                "description": _REASONS[code],
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for code in sorted({*errors, 500})
        }
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
    document["paths"]["/v1/uploads/{upload_id}/file"]["post"]["requestBody"] = {
        "required": True,
        "content": {"multipart/form-data": {"schema": _UPLOAD_FORM}},
    }
    return document


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
