"""Sign-in: ask for a code, exchange it for a session, see whose session it is, sign out everywhere."""

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from handler.api.bodies import json_body, read_json
from handler.api.deps import (
    COOKIE,
    NO_STORE,
    PAGE_CALL,
    PAGE_HEADER,
    SESSION_COOKIE,
    Client,
    Language,
    ServicesDep,
    SignedIn,
    at_least,
    from_the_page,
    keep_session,
    run,
)
from handler.codes import Code
from handler.contacts import Contact
from handler.refusals import Refused
from handler.services import Services
from handler.signin import Session
from handler.usecases import mailing, signing_in
from handler.usecases.envelope import object_with

if TYPE_CHECKING:
    from handler import answers

log = logging.getLogger("servicedesk_forms")
router = APIRouter(prefix="/v1/session")


@router.post("/code", status_code=202, openapi_extra=json_body({"email": signing_in.EMAIL_FIELD}))
async def send_code(request: Request, language: Language, services: ServicesDep, client: Client) -> JSONResponse:
    """E-mail a one-time code to a registered contact; the answer never tells whether one was sent."""
    body = object_with(await read_json(request, 4096), ("email",), services.catalog, language)
    email = signing_in.checked_email(body["email"], services.catalog, language)
    async with at_least(services.settings.code_answer_seconds):
        await run(signing_in.send_code, services.sign_in, email, client, language)

    def send_queued_code() -> None:
        try:
            mailing.send_queued_mail(services.mailing)
        except Exception:  # it stays queued for the next sender
            log.exception("could not send the queued sign-in code")

    # The code is queued, and sent once this answer has left, so its timing cannot depend on the mail
    # service. Lambda returns the answer only when the app is done: there the table's stream sends it.
    on_lambda = services.settings.storage == "aws" and "aws.event" in request.scope
    answer: answers.CodeSent = {"message": services.catalog.api_text(language, "code_sent")}
    return JSONResponse(
        answer,
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
    """Exchange an e-mailed code for a session: for the service's own page (its X-Requested-With header) an HttpOnly
    cookie, for an API client a bearer token in the answer."""
    body = object_with(await read_json(request, 4096), ("email", "code"), services.catalog, language)
    email = signing_in.checked_email(body["email"], services.catalog, language)
    code = signing_in.checked_code(body["code"], services.catalog, language)
    # As long as a code request's answer, so that its timing cannot tell whether a code was pending.
    async with at_least(services.settings.code_answer_seconds):
        session = await run(signing_in.open_session, services.sign_in, email, code, client)
    return session_answer(request, services, session)


def session_answer(request: Request, services: Services, session: Session) -> JSONResponse:
    """The new session: a cookie that no script of the page can read when the page asked for it, else a token."""
    body: answers.NewSession = {
        "expiresAt": session.expires_at.isoformat(timespec="seconds"),
        "contact": contact_json(session.contact),
    }
    if request.headers.get(PAGE_HEADER) != PAGE_CALL:
        with_token: answers.NewSession = {"token": session.token, **body}
        return JSONResponse(with_token, headers=NO_STORE)
    if not from_the_page(request, services):
        raise Refused(Code.CROSS_SITE_REQUEST)
    answer = JSONResponse(body, headers=NO_STORE)
    keep_session(answer, session, services.clock())
    return answer


@router.get("")
async def current_session(email: SignedIn, services: ServicesDep) -> JSONResponse:
    """Who the session belongs to, as the register has them now."""
    contact = await run(signing_in.current_contact, services.store, email)
    answer: answers.CurrentSession = {"contact": contact_json(contact)}
    if email.expires_at:
        answer["expiresAt"] = email.expires_at.isoformat(timespec="seconds")
    return JSONResponse(answer, headers=NO_STORE)


@router.delete("", status_code=204)
async def end_sessions(email: SignedIn, services: ServicesDep) -> Response:
    """Sign out everywhere: end every session of the signed-in contact, on every device (and forget the cookie)."""
    await run(signing_in.sign_out, services.sign_in, email)
    answer = Response(status_code=204, headers=NO_STORE)
    answer.delete_cookie(SESSION_COOKIE, **COOKIE)  # type: ignore[arg-type]
    return answer


def contact_json(contact: Contact) -> "answers.Contact":
    return {"email": contact.email, "name": contact.name, "contactTypes": list(contact.contact_types)}
