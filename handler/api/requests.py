"""Service requests: send one, list one's own, read one with its conversation, answer the desk on it."""

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from handler.api.bodies import read_json
from handler.api.deps import (
    NO_STORE,
    Claimed,
    ConversingDep,
    IdempotencyKey,
    Language,
    ServicesDep,
    SignedIn,
    created,
    run,
)
from handler.codes import Code
from handler.refusals import Refused
from handler.usecases import answering, conversing, following
from handler.usecases.submitting import NewRequest, submit

if TYPE_CHECKING:
    from handler import answers

router = APIRouter(prefix="/v1/requests")


# The body's schema in the OpenAPI document is built from the forms (handler/api/openapi.py).
@router.post(
    "", status_code=201, openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}}
)
async def submit_request(
    request: Request, language: Language, services: ServicesDep, email: Claimed, idempotency_key: IdempotencyKey
) -> JSONResponse:
    """Validate a submission against its form's schema and store it; answer with a receipt."""
    body = await read_json(request, services.settings.max_body_bytes)
    receipt, new = await run(submit, services.submitting, NewRequest(body, email, language, idempotency_key))
    return created(receipt.as_json(), language, new)


@router.get("")
async def my_requests(
    services: ServicesDep,
    email: SignedIn,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """The signed-in contact's requests, newest first, a page at a time."""
    page, next_cursor = await run(following.my_requests, services.following, email, limit, cursor)
    answer: answers.Page = {"items": [item.as_json() for item in page], "next": next_cursor}
    return JSONResponse(answer, headers=NO_STORE)


@router.get("/{request_id}")
async def one_request(request_id: str, services: ServicesDep, email: SignedIn) -> JSONResponse:
    """One of the signed-in contact's requests with its fields and status history."""
    return JSONResponse(await run(following.my_request, services.following, email, request_id), headers=NO_STORE)


@router.post(
    "/{request_id}/messages",
    status_code=201,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}},
)
async def reply(
    request_id: str,
    request: Request,
    language: Language,
    services: ServicesDep,
    use: ConversingDep,
    email: SignedIn,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    """Add the signed-in requester's message to one of their requests (``{"body": "..."}``)."""
    body = await read_json(request, services.settings.max_body_bytes)
    text = body.get("body") if isinstance(body, dict) else None
    files = body.get("attachments", []) if isinstance(body, dict) else []
    if not isinstance(files, list) or len(files) > 100 or not all(isinstance(f, str) and len(f) <= 64 for f in files):
        raise Refused(Code.INVALID_BODY)
    new = conversing.Reply(
        request_id, str(email), text if isinstance(text, str) else "", language, idempotency_key, tuple(files)
    )
    message, summary, new_one = await run(conversing.reply, use, new)
    answer: answers.Replied = {"message": message.as_json(), "request": summary.as_json()}
    return created(answer, language, new_one)


@router.post(
    "/{request_id}/stop-emails",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}},
)
async def stop_emails(request_id: str, request: Request, language: Language, use: ConversingDep) -> JSONResponse:
    """Send no more copies about the request to an address it was copied to (``{"address", "signature"}`` from
    the link in a copy); no session: the link's signature is the permission."""
    body = await read_json(request, 4096)
    address = body.get("address") if isinstance(body, dict) else None
    signature = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(address, str) or not isinstance(signature, str) or len(address) > 320 or len(signature) > 64:
        raise Refused(Code.INVALID_BODY)
    reference = await run(answering.stop_copies, use, request_id, address, signature)
    answer: answers.CopiesStopped = {"reference": reference}
    return JSONResponse(answer, headers={"Content-Language": language, **NO_STORE})
