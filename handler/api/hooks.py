"""Webhooks of the desk's ticket systems: signed, bounded, and answered 200 for a replay (nothing done twice)."""

import hmac
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from handler.api.bodies import parse_json, read_body
from handler.api.deps import NO_STORE, ServicesDep, run
from handler.codes import Code
from handler.refusals import Refused
from handler.tickets import jira_signature, zendesk_signature
from handler.usecases.ticket_events import TicketEvent, take_event

if TYPE_CHECKING:
    from handler import answers

router = APIRouter(prefix="/v1/hooks")
HOOK_BODY_LIMIT = 64 * 1024  # a ticket event with its comment; longer comments are cut to a message's length
SIGNED_WITHIN = timedelta(minutes=5)  # a signature older (or newer) than this is refused: a replay or a clock off


@router.post("/zendesk", openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}})
async def zendesk_event(request: Request, services: ServicesDep) -> JSONResponse:
    """A Zendesk trigger's webhook about a ticket (docs/forwarding.md), signed with its signing secret: the
    headers X-Zendesk-Webhook-Signature and X-Zendesk-Webhook-Signature-Timestamp."""
    secret = services.settings.zendesk_webhook_secret
    if not secret or services.settings.forward != "zendesk":
        raise Refused(Code.NOT_FOUND)  # no Zendesk here: the hook does not exist
    body = await read_body(request, HOOK_BODY_LIMIT)
    stamp = request.headers.get("x-zendesk-webhook-signature-timestamp", "")
    given = request.headers.get("x-zendesk-webhook-signature", "")
    if not _fresh(stamp, services.clock()) or not hmac.compare_digest(
        zendesk_signature(secret, stamp, body).encode(), given.encode("utf-8", "replace")
    ):
        raise Refused(Code.SIGN_IN_REQUIRED)  # 401: not signed by the desk's Zendesk
    event = _event(parse_json(body))
    answer: answers.Done = {"done": await run(take_event, services.ticket_events, "zendesk", event)}
    return JSONResponse(answer, headers=NO_STORE)


@router.post("/jsm", openapi_extra={"requestBody": {"required": True, "content": {"application/json": {}}}})
async def jsm_event(request: Request, services: ServicesDep) -> JSONResponse:
    """A Jira webhook about an issue of the desk's service desk (docs/forwarding.md), signed with its secret: the
    header X-Hub-Signature (``sha256=`` and the HMAC of the body). A delivery sent again (the same
    X-Atlassian-Webhook-Identifier) finds its comment taken and its change seen: nothing is done twice."""
    secret = services.settings.jsm_webhook_secret
    if not secret or services.settings.forward != "jsm":
        raise Refused(Code.NOT_FOUND)  # no Jira Service Management here: the hook does not exist
    body = await read_body(request, HOOK_BODY_LIMIT)
    given = request.headers.get("x-hub-signature", "")
    if not hmac.compare_digest(jira_signature(secret, body).encode(), given.encode("utf-8", "replace")):
        raise Refused(Code.SIGN_IN_REQUIRED)  # 401: not signed by the desk's Jira
    event = _jira_event(parse_json(body))
    answer: answers.Done = {"done": await run(take_event, services.ticket_events, "jsm", event)}
    return JSONResponse(answer, headers=NO_STORE)


def _fresh(stamp: str, now: datetime) -> bool:
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return abs(now - at) <= SIGNED_WITHIN


def _event(body: Any) -> TicketEvent:
    """The event in the shape docs/forwarding.md gives the trigger; anything else is ``invalid_body``."""
    if not isinstance(body, dict):
        raise Refused(Code.INVALID_BODY)
    comment = body.get("comment") or {}
    ticket, status, changed = body.get("ticket_id"), body.get("status", ""), body.get("updated_at", "")
    if not isinstance(comment, dict) or not isinstance(ticket, str | int) or not isinstance(status, str):
        raise Refused(Code.INVALID_BODY)
    try:
        at = datetime.fromisoformat(str(changed).replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused(Code.INVALID_BODY) from exc
    public = comment.get("public") in (True, "true", "True")
    text = comment.get("body", "")
    return TicketEvent(
        ticket_id=str(ticket)[:40],
        status=status[:40].lower(),
        changed_at=at if at.tzinfo else at.replace(tzinfo=UTC),
        comment_id=str(comment.get("id", ""))[:40],
        comment=text if isinstance(text, str) else "",
        public=public,
        author=str(comment.get("author", ""))[:120],
        author_email=str(comment.get("author_email", ""))[:254],
    )


def _jira_event(body: Any) -> TicketEvent:
    """A Jira webhook's event (``jira:issue_updated``, ``comment_created`` and the like): the issue's key and
    status, the event's time, and its comment when it has one; anything else is ``invalid_body``."""
    if not isinstance(body, dict) or not isinstance(body.get("issue"), dict):
        raise Refused(Code.INVALID_BODY)
    issue, comment, stamp = body["issue"], body.get("comment") or {}, body.get("timestamp")
    fields = issue.get("fields") or {}
    status = (fields.get("status") or {}) if isinstance(fields, dict) else None
    if not isinstance(comment, dict) or not isinstance(status, dict) or not isinstance(issue.get("key"), str):
        raise Refused(Code.INVALID_BODY)
    if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 < stamp < 10**14:
        raise Refused(Code.INVALID_BODY)  # the event's time, in milliseconds since 1970
    author: dict[str, Any] = comment["author"] if isinstance(comment.get("author"), dict) else {}
    name = status.get("name", "")
    return TicketEvent(
        ticket_id=issue["key"][:40],
        status=name[:40].lower() if isinstance(name, str) else "",
        changed_at=datetime.fromtimestamp(stamp / 1000, UTC),
        comment_id=str(comment.get("id", ""))[:40],
        comment=_text(comment.get("body", "")),
        public=comment.get("jsdPublic") is True,
        author=str(author.get("displayName", ""))[:120],
        author_email=str(author.get("emailAddress", ""))[:254],
    )


def _text(body: Any, depth: int = 0) -> str:
    """A comment's text: Jira sends it as text, or as an Atlassian Document (nodes with ``text``, paragraphs
    in ``content``), whose paragraphs become lines."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict) or depth > 20:
        return ""
    if isinstance(body.get("text"), str):
        return str(body["text"])
    parts = [_text(node, depth + 1) for node in body.get("content") or [] if isinstance(body.get("content"), list)]
    return ("\n" if body.get("type") in ("doc", None) else "").join(parts)
