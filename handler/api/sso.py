"""Signing in through the organization's identity provider: the providers the sign-in page offers, leaving for
one, and coming back (docs/api.md, "Signing in with your organization")."""

import contextlib
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from handler.api.deps import COOKIE, NO_STORE, ServicesDep, keep_session, run
from handler.sso import LOGIN_LIFETIME, LoginFailed
from handler.usecases import sso_signin
from handler.usecases.sso_signin import SsoSignIn

if TYPE_CHECKING:
    from handler import answers

router = APIRouter(prefix="/v1/session/sso")
LOGIN_COOKIE = "__Host-sdf-login"  # the login under way: state, nonce, PKCE verifier, where to go back (signed)
_SHORT = Annotated[str, Query(max_length=2048)]


def _callback(request: Request, services: ServicesDep) -> str:
    """The address the provider sends the person back to: under the site's origin, where the cookie lives."""
    base = services.settings.site_url or str(request.base_url).rstrip("/")
    return f"{base}/v1/session/sso/callback"


@router.get("")
async def offered(services: ServicesDep) -> JSONResponse:
    """The organizations whose people can sign in with their own account, and each button's label by language."""
    answer: answers.Providers = {"providers": sso_signin.providers(services.sso)}
    return JSONResponse(answer, headers=NO_STORE)


@router.get("/callback", response_class=RedirectResponse, status_code=302)
async def came_back(
    request: Request,
    services: ServicesDep,
    state: _SHORT = "",
    code: _SHORT = "",
    error: _SHORT = "",
    iss: _SHORT = "",
) -> RedirectResponse:
    """The provider's answer: signed in, back to the page the person left from; or back to the sign-in page,
    which says why not."""
    use = services.sso
    kept = request.cookies.get(LOGIN_COOKIE, "")
    try:
        if error:  # the person said no, or the provider could not sign them in
            raise LoginFailed("denied", error[:60])
        session, login = await run(sso_signin.finish, use, kept, state, code, _callback(request, services), iss)
    except LoginFailed as exc:
        return _back(use, exc.reason, _left_from(use, kept))
    # Back through the sign-in page, which takes the session's contact into the browser's storage first.
    answer = _back(use, "done", login.next)
    keep_session(answer, session, use.clock())
    return answer


def _left_from(use: SsoSignIn, kept: str) -> str:
    """The page the login under way left from, if there is one."""
    with contextlib.suppress(LoginFailed):
        return use.client.login_of(kept, use.clock()).next if use.client and kept else ""
    return ""


def _back(use: SsoSignIn, outcome: str, next_path: str) -> RedirectResponse:
    """To the sign-in page in the language of the page left from, saying how it went; the login is over."""
    query = urlencode({"sso": outcome, "next": next_path})
    answer = RedirectResponse(f"/{sso_signin.language_of(next_path, use)}/sign-in/?{query}", 302, headers=NO_STORE)
    answer.delete_cookie(LOGIN_COOKIE, **COOKIE)  # type: ignore[arg-type]
    return answer


@router.get("/{provider}", response_class=RedirectResponse, status_code=302)
async def leave_for(provider: str, request: Request, services: ServicesDep, next: _SHORT = "") -> RedirectResponse:
    """Off to the organization's provider to sign in; ``next`` is the page of this site to come back to."""
    use = services.sso
    back = sso_signin.same_site(next, sso_signin.language_of(next, use))
    try:
        address, kept = await run(sso_signin.start, use, provider, back, _callback(request, services))
    except LoginFailed as exc:
        return _back(use, exc.reason, back)
    answer = RedirectResponse(address, status_code=302, headers=NO_STORE)
    answer.set_cookie(LOGIN_COOKIE, kept, max_age=int(LOGIN_LIFETIME.total_seconds()), **COOKIE)  # type: ignore[arg-type]
    return answer
