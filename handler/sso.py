"""Signing in through an organization's own OpenID Connect provider (Entra ID, Feide, Google Workspace, ...):
the authorization code flow with PKCE (S256), ``state`` and ``nonce``, the handler a confidential client.

The providers are declared per organization in a JSON list (``SDF_SSO_PROVIDERS``, docs/api.md). A login's
``state``, ``nonce``, PKCE verifier, provider and the page to go back to travel in a short-lived signed cookie;
the ID token that comes back is checked for its signature (the provider's JWKS), ``iss`` (for a multi-tenant
Entra issuer, the tenant's, with ``tid`` in the provider's allow-list), ``aud``, ``exp`` and ``nonce``, and the
person's e-mail address must be verified.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt

LOGIN_LIFETIME = timedelta(minutes=10)  # from leaving for the provider to coming back
_LOGIN_AUDIENCE = "servicedesk-forms/sso-login"
_MULTI_TENANT = ("/organizations/", "/common/")  # Entra's issuers for any tenant: the token names its own
_GOOGLE = "https://accounts.google.com"
DISCOVERY_LIFETIME = 3600.0  # seconds a provider's discovery document and keys are kept (per process)

Fetch = Callable[[str, str, Mapping[str, Any]], Any]  # method, url, options (data, headers, auth) -> JSON


class ProvidersInvalid(ValueError):
    """The declared providers are not a list of the documented shape."""


class LoginFailed(Exception):
    """The provider's answer does not sign the person in; ``reason`` is a short code the sign-in page explains."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Provider:
    """One organization's OpenID provider, the handler registered with it as ``client_id``."""

    id: str
    organization: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    tenants: tuple[str, ...] = ()  # the tenants (Entra's tid) or hosted domains (Google's hd) that may sign in
    email_claim: str = "email"
    label: Mapping[str, str] = field(default_factory=dict)

    @property
    def multi_tenant(self) -> bool:
        return any(part in self.issuer for part in _MULTI_TENANT)

    def issuer_of(self, claims: Mapping[str, Any]) -> str:
        """The issuer this provider's ID token must name: a multi-tenant issuer's with the token's own tenant."""
        if not self.multi_tenant:
            return self.issuer
        tenant = str(claims.get("tid", ""))
        if not tenant or tenant not in self.tenants:
            raise LoginFailed("tenant", f"tenant {tenant[:60]!r} is not allowed")
        for part in _MULTI_TENANT:
            if part in self.issuer:
                return self.issuer.replace(part, f"/{tenant}/")
        return self.issuer  # pragma: no cover (multi_tenant says one of them is there)


def read_providers(text: str) -> tuple[Provider, ...]:
    """The providers in ``SDF_SSO_PROVIDERS``'s JSON; ``ProvidersInvalid`` naming what is wrong."""
    try:
        declared = json.loads(text)
    except ValueError as exc:
        raise ProvidersInvalid(f"not JSON: {exc}") from exc
    if not isinstance(declared, list):
        raise ProvidersInvalid("a JSON list of providers")
    found = []
    for at, item in enumerate(declared):
        if not isinstance(item, dict):
            raise ProvidersInvalid(f"[{at}]: an object")
        missing = [k for k in ("id", "organization", "issuer", "client_id", "client_secret") if not item.get(k)]
        if missing:
            raise ProvidersInvalid(f"[{at}]: needs {', '.join(missing)}")
        label, tenants = item.get("label") or {}, item.get("tenants") or []
        if not isinstance(label, dict) or not isinstance(tenants, list):
            raise ProvidersInvalid(f"[{at}]: label is an object by language, tenants a list")
        if not str(item["issuer"]).startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ProvidersInvalid(f"[{at}]: the issuer must be an https:// address")
        provider = Provider(
            id=str(item["id"]),
            organization=str(item["organization"]),
            issuer=str(item["issuer"]).rstrip("/"),
            client_id=str(item["client_id"]),
            client_secret=str(item["client_secret"]),
            tenants=tuple(str(t) for t in tenants),
            email_claim=str(item.get("email_claim") or "email"),
            label={str(k): str(v) for k, v in label.items()},
        )
        if provider.multi_tenant and not provider.tenants:
            raise ProvidersInvalid(f"[{at}]: a multi-tenant issuer needs the tenants allowed")
        found.append(provider)
    if len({p.id for p in found}) != len(found):
        raise ProvidersInvalid("two providers have the same id")
    return tuple(found)


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    issuer: str
    subject: str
    email: str


@dataclass(frozen=True)
class Login:
    """A login on its way to the provider and back."""

    provider: str
    state: str
    nonce: str
    verifier: str
    next: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OpenIdClient:
    """The handler as a client of the declared providers; their discovery documents and keys kept per process."""

    def __init__(self, providers: tuple[Provider, ...], secret: bytes, fetch: Fetch) -> None:
        self.providers = {p.id: p for p in providers}
        self._secret = secret
        self._fetch = fetch
        self._documents: dict[str, tuple[float, dict[str, Any]]] = {}
        self._keys: dict[str, tuple[float, jwt.PyJWKSet]] = {}

    def discovery(self, provider: Provider) -> dict[str, Any]:
        kept = self._documents.get(provider.id)
        if kept and time.monotonic() - kept[0] < DISCOVERY_LIFETIME:
            return kept[1]
        document = self._fetch("GET", f"{provider.issuer}/.well-known/openid-configuration", {})
        if not isinstance(document, dict) or not all(
            isinstance(document.get(k), str) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        ):
            raise LoginFailed("provider", "its discovery document lacks the endpoints")
        self._documents[provider.id] = (time.monotonic(), document)
        return document

    def start(self, provider: Provider, redirect_uri: str, next_path: str, now: datetime) -> tuple[str, str]:
        """The provider's address to send the person to, and the signed login to keep in a cookie meanwhile."""
        login = Login(
            provider.id, secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path
        )
        query = {
            "response_type": "code",
            "response_mode": "query",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": _challenge(login.verifier),
            "code_challenge_method": "S256",
        }
        endpoint = self.discovery(provider)["authorization_endpoint"]
        claims = {**login.__dict__, "aud": _LOGIN_AUDIENCE, "exp": int((now + LOGIN_LIFETIME).timestamp())}
        return f"{endpoint}?{urlencode(query)}", jwt.encode(claims, self._secret, algorithm="HS256")

    def login_of(self, kept: str, now: datetime) -> Login:
        """The login kept in the cookie, if this handler signed it and it is not too old."""
        try:
            claims = jwt.decode(
                kept, self._secret, algorithms=["HS256"], audience=_LOGIN_AUDIENCE, options={"verify_exp": False}
            )
            if int(claims["exp"]) < now.timestamp():
                raise LoginFailed("expired", "the login took too long")
            return Login(*(str(claims[k]) for k in ("provider", "state", "nonce", "verifier", "next")))
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as exc:
            raise LoginFailed("state", "no login of ours is under way") from exc

    def finish(self, login: Login, code: str, redirect_uri: str, now: datetime) -> Identity:
        """Exchange the code (with the PKCE verifier) and check the ID token; who signed in."""
        provider = self.providers.get(login.provider)
        if provider is None:
            raise LoginFailed("provider", "the provider is no longer declared")
        document = self.discovery(provider)
        tokens = self._fetch(
            "POST",
            document["token_endpoint"],
            {
                "data": {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": login.verifier,
                    "client_id": provider.client_id,
                    "client_secret": provider.client_secret,
                }
            },
        )
        if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
            raise LoginFailed("token", "the provider gave no ID token")
        claims = self._checked(provider, document, tokens["id_token"], login.nonce, now)
        email = claims.get(provider.email_claim)
        if not email and isinstance(tokens.get("access_token"), str) and document.get("userinfo_endpoint"):
            # Feide (and others) give the address from userinfo only.
            info = self._fetch(
                "GET", document["userinfo_endpoint"], {"headers": {"Authorization": f"Bearer {tokens['access_token']}"}}
            )
            if isinstance(info, dict) and str(info.get("sub")) == str(claims["sub"]):
                claims = {**info, **claims, provider.email_claim: info.get(provider.email_claim)}
                email = claims.get(provider.email_claim)
        if not isinstance(email, str) or "@" not in email:
            raise LoginFailed("email", "the provider gave no e-mail address")
        if claims.get("email_verified") is False or (
            provider.issuer == _GOOGLE and claims.get("email_verified") is not True
        ):
            raise LoginFailed("email", "the e-mail address is not verified")
        if provider.issuer == _GOOGLE and provider.tenants and claims.get("hd") not in provider.tenants:
            raise LoginFailed("tenant", "the Google account is not of the organization's domain")
        return Identity(str(claims["iss"]), str(claims["sub"]), email.strip())

    def _checked(
        self, provider: Provider, document: Mapping[str, Any], token: str, nonce: str, now: datetime
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise LoginFailed("token", "the ID token cannot be read") from exc
        issuer = provider.issuer_of(unverified)
        key = self._key(provider, str(document["jwks_uri"]), str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=provider.client_id,
                issuer=issuer,
                # The service's own clock decides the token's age (below), as it does for its sessions.
                options={"require": ["iss", "aud", "exp", "sub", "nonce"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidIssuerError as exc:
            raise LoginFailed("issuer", "the ID token names another issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise LoginFailed("audience", "the ID token is for another client") from exc
        except jwt.InvalidTokenError as exc:
            raise LoginFailed("token", f"the ID token is not valid ({type(exc).__name__})") from exc
        if int(claims["exp"]) < now.timestamp() - 60:  # a minute's leeway for the provider's clock
            raise LoginFailed("expired", "the ID token has expired")
        if not secrets.compare_digest(str(claims["nonce"]), nonce):
            raise LoginFailed("nonce", "the ID token is for another login")
        return claims

    def _key(self, provider: Provider, jwks_uri: str, kid: str) -> Any:
        """The provider's signing key ``kid``; its key set fetched again once when the key is new to us."""
        for fresh in (False, True):
            kept = self._keys.get(provider.id)
            if fresh or not kept or time.monotonic() - kept[0] > DISCOVERY_LIFETIME:
                try:
                    kept = (time.monotonic(), jwt.PyJWKSet.from_dict(self._fetch("GET", jwks_uri, {})))
                except (jwt.PyJWKSetError, jwt.InvalidKeyError, TypeError) as exc:
                    raise LoginFailed("provider", "its signing keys cannot be read") from exc
                self._keys[provider.id] = kept
            for key in kept[1].keys:
                if not kid or key.key_id == kid:
                    return key.key
        raise LoginFailed("token", "the ID token is signed with a key the provider does not publish")


def http_fetch(method: str, url: str, options: Mapping[str, Any]) -> Any:
    """One call to a provider over HTTPS, its JSON answer; ``LoginFailed`` when it fails (its client loaded only
    when someone signs in this way)."""
    import httpx

    try:
        answer = httpx.request(method, url, timeout=httpx.Timeout(5.0, connect=2.0), **options)
    except httpx.HTTPError as exc:
        raise LoginFailed("provider", f"no answer from {url[:80]} ({type(exc).__name__})") from exc
    if answer.status_code >= 400:
        raise LoginFailed("token" if method == "POST" else "provider", f"{url[:80]} answered {answer.status_code}")
    try:
        return answer.json()
    except ValueError as exc:
        raise LoginFailed("provider", f"{url[:80]} answered something that is not JSON") from exc
