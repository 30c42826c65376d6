"""Sign-in: ask for a code, exchange it for a session, see whose session it is, sign out everywhere."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from handler.api.bodies import json_body, read_json
from handler.api.deps import NO_STORE, Client, Language, ServicesDep, SignedIn, at_least, run
from handler.contacts import Contact
from handler.usecases import mailing, signing_in
from handler.usecases.envelope import object_with

log = logging.getLogger("servicedesk_forms")
router = APIRouter(prefix="/v1/session")


@router.post("/code", status_code=202, openapi_extra=json_body({"email": signing_in.EMAIL_FIELD}))
async def send_code(request: Request, language: Language, services: ServicesDep, client: Client) -> JSONResponse:
    """E-mail a one-time code to a registered contact; the answer never tells whether one was sent."""
    body = object_with(await read_json(request, 4096), ("email",), services.catalog, language)
    email = signing_in.checked_email(body["email"], services.catalog, language)
    async with at_least(services.settings.code_answer_seconds):
        await run(signing_in.send_code, services, email, client, language)

    def send_queued_code() -> None:
        try:
            mailing.send_queued_mail(services)
        except Exception:  # it stays queued for the next sender
            log.exception("could not send the queued sign-in code")

    # The code is queued, and sent once this answer has left, so its timing cannot depend on the mail
    # service. Lambda returns the answer only when the app is done: there the table's stream sends it.
    on_lambda = services.settings.storage == "aws" and "aws.event" in request.scope
    return JSONResponse(
        {"message": services.catalog.common[language]["api"]["code_sent"]},
        status_code=202,
        headers=NO_STORE,
        background=None if on_lambda else BackgroundTask(send_queued_code),
    )


@router.post(
    "",
    openapi_extra=json_body(
        {"email": signing_in.EMAIL_FIELD, "code": {"type": "string", "pattern": signing_in.CODE.pattern}}
    ),
)
async def open_session(request: Request, language: Language, services: ServicesDep, client: Client) -> JSONResponse:
    """Exchange an e-mailed code for a signed session token."""
    body = object_with(await read_json(request, 4096), ("email", "code"), services.catalog, language)
    email = signing_in.checked_email(body["email"], services.catalog, language)
    code = signing_in.checked_code(body["code"], services.catalog, language)
    # As long as a code request's answer, so that its timing cannot tell whether a code was pending.
    async with at_least(services.settings.code_answer_seconds):
        session = await run(signing_in.open_session, services, email, code, client)
    return JSONResponse(
        {
            "token": session.token,
            "expiresAt": session.expires_at.isoformat(timespec="seconds"),
            "contact": contact_json(session.contact),
        },
        headers=NO_STORE,
    )


@router.get("")
async def current_session(email: SignedIn, services: ServicesDep) -> JSONResponse:
    """Who the session belongs to, as the register has them now."""
    contact = await run(signing_in.current_contact, services, email)
    return JSONResponse({"contact": contact_json(contact)}, headers=NO_STORE)


@router.delete("", status_code=204)
async def end_sessions(email: SignedIn, services: ServicesDep) -> Response:
    """Sign out everywhere: end every session of the signed-in contact, on every device."""
    await run(signing_in.sign_out, services, email)
    return Response(status_code=204, headers=NO_STORE)


def contact_json(contact: Contact) -> dict[str, Any]:
    return {"email": contact.email, "name": contact.name, "contactTypes": list(contact.contact_types)}
