"""What the routes share: the services, the answer's language, the signed-in address, and running a use case."""

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from handler.api.languages import language_of
from handler.codes import Code
from handler.refusals import Refused
from handler.services import Services
from handler.signin import ClaimedSession, Session, SignedInAddress
from handler.usecases import signing_in
from handler.usecases.conversing import Conversing

T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store"}


# The dependencies are coroutines: FastAPI runs plain functions in a thread pool, a hop each request
# would pay for nothing (none of them blocks).
async def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _language(request: Request) -> str:
    return language_of(request)


async def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _conversing(request: Request) -> Conversing:
    return request.app.state.services.conversing  # type: ignore[no-any-return]


Language = Annotated[str, Depends(_language)]
ConversingDep = Annotated[Conversing, Depends(_conversing)]
ServicesDep = Annotated[Services, Depends(_services)]
Client = Annotated[str, Depends(_client)]


_INLINE: ContextVar[bool] = ContextVar("inline_calls", default=False)


@contextmanager
def inline_calls() -> Iterator[None]:
    """Within the block, ``run`` calls use cases on the event loop's own thread: for a caller that serves one
    request at a time (a Lambda event), where the loop has nothing else to do meanwhile."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


async def run(call: Callable[..., T], *args: Any) -> T:
    """Run a use case (which may block on the store or the mail service) off the event loop."""
    if _INLINE.get():
        return call(*args)
    return await run_in_threadpool(call, *args)


# The page's session is this cookie (HttpOnly: no script of the page can read it); API clients send a bearer token.
SESSION_COOKIE = "__Host-sdf-session"
# The page sends this header with every call: another site's page cannot (a form cannot set it, and fetch() would
# need a preflight the API refuses), so with the Origin it tells a page's call from a forged one.
PAGE_HEADER, PAGE_CALL = "X-Requested-With", "servicedesk-forms"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Every cookie of the site's: for its own origin only (``__Host-``), over HTTPS, out of the page's scripts' reach.
COOKIE = {"path": "/", "secure": True, "httponly": True, "samesite": "lax"}


def keep_session(answer: Response, session: Session, now: datetime) -> None:
    """Give the browser the session as its cookie, for as long as the session lasts."""
    lasts = int((session.expires_at - now).total_seconds())
    answer.set_cookie(SESSION_COOKIE, session.token, max_age=max(lasts, 0), **COOKIE)  # type: ignore[arg-type]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, as an Origin header writes it ('' for none)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def from_the_page(request: Request, services: Services) -> bool:
    """Whether a call comes from the service's own pages: with the page's header, from an origin of its own (this
    server's, the site's, or one SDF_ALLOWED_ORIGINS names)."""
    settings = services.settings
    own = {
        origin_of(str(request.base_url)),
        origin_of(settings.site_url),
        *(o.lower() for o in settings.allowed_origins),
    }
    origin = request.headers.get("origin", "").lower()
    return request.headers.get(PAGE_HEADER) == PAGE_CALL and bool(origin) and origin in own - {""}


def _authorization(request: Request, services: Services, authorization: str | None) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if authorization is None and cookie:
        # A browser sends the cookie with whatever page made the call: a change must come from ours (CSRF).
        if request.method in _UNSAFE and not from_the_page(request, services):
            raise Refused(Code.CROSS_SITE_REQUEST)
        authorization = f"Bearer {cookie}"
    return authorization


async def _signed_in(
    request: Request, services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> SignedInAddress:
    return await run(signing_in.signed_in, services.sign_in, _authorization(request, services, authorization))


async def _claimed(
    request: Request, services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> ClaimedSession:
    # No store call: the token's signature and expiry only. The use case reads the contact alongside its own work.
    return signing_in.claimed(services.sign_in, _authorization(request, services, authorization))


SignedIn = Annotated[SignedInAddress, Depends(_signed_in)]
# A session whose contact the route's use case reads itself (and must ``confirm`` before it answers).
Claimed = Annotated[ClaimedSession, Depends(_claimed)]

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


async def _idempotency_key(idempotency_key: Annotated[str | None, Header()] = None) -> str | None:
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise Refused(Code.INVALID_IDEMPOTENCY_KEY)
    return idempotency_key


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


def created(body: Any, language: str, new: bool) -> JSONResponse:
    """A 201 with ``body``, saying when it answers a retry of an earlier request with the same key."""
    headers = {"Content-Language": language, **NO_STORE} | ({} if new else {"Idempotent-Replayed": "true"})
    return JSONResponse(body, status_code=201, headers=headers)


@asynccontextmanager
async def at_least(seconds: float) -> AsyncIterator[None]:
    """Take at least ``seconds`` whatever happens inside, so that an answer's timing tells nothing."""
    started = time.monotonic()
    try:
        yield
    finally:
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
