"""An OpenID provider for the sign-in tests whose every answer a test can bend: served on 127.0.0.1, it signs a
person in at once (no login page), checks the client's secret and the PKCE verifier as a provider does, and mints
the ID token from claims the test may change (another issuer, audience, nonce, tenant, expiry, an unverified
address) or signs it with a key it does not publish. One issuer is single-tenant (``/single``); another plays
Entra's multi-tenant ``/organizations/v2.0``, its tokens naming their tenant's issuer and ``tid``."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.helpers.servers import serving

CLIENT_ID, CLIENT_SECRET = "servicedesk-forms", "client-secret-of-the-tests"
TENANT = "9f0c1d2e-tenant-a"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeIdp:
    """The provider's state; ``person`` is who signs in next, ``bend`` changes the next ID token's claims."""

    url: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    stranger: rsa.RSAPrivateKey = field(default_factory=_key)  # a key it never publishes
    person: dict[str, Any] = field(default_factory=dict)
    bend: dict[str, Any] = field(default_factory=dict)  # claims to set (None: to remove) on the next token
    sign_with_stranger: bool = False
    userinfo: dict[str, Any] = field(default_factory=dict)  # what userinfo says beside the subject (Feide's way)
    subject: str = ""  # the last token's subject
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Any = time.time  # the moment tokens are minted at (the test's clock, as seconds)

    def issuer(self, tenant: str | None) -> str:
        return f"{self.url}/{tenant}/v2.0" if tenant else f"{self.url}/single"

    def provider(self, multi_tenant: bool = False, **overrides: Any) -> dict[str, Any]:
        """The provider as ``SDF_SSO_PROVIDERS`` declares it."""
        declared = {
            "id": "entra" if multi_tenant else "single",
            "organization": "Kunde AS",
            "issuer": f"{self.url}/organizations/v2.0" if multi_tenant else f"{self.url}/single",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "tenants": [TENANT] if multi_tenant else [],
            "label": {"nb": "Logg inn med Kunde AS", "en": "Sign in with Kunde AS"},
        }
        return declared | overrides


def _discovery(fake: FakeIdp, base: str, issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{fake.url}/keys",
        "userinfo_endpoint": f"{base}/userinfo",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }


def app_for(fake: FakeIdp) -> FastAPI:
    app = FastAPI()

    @app.get("/single/.well-known/openid-configuration")
    async def single() -> Response:
        return JSONResponse(_discovery(fake, f"{fake.url}/single", fake.issuer(None)))

    @app.get("/organizations/v2.0/.well-known/openid-configuration")
    async def organizations() -> Response:
        return JSONResponse(_discovery(fake, f"{fake.url}/organizations/v2.0", f"{fake.url}/{{tenantid}}/v2.0"))

    @app.get("/keys")
    async def keys() -> Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(fake.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    @app.get("/{where:path}/authorize")
    async def authorize(request: Request, where: str) -> Response:
        asked = dict(request.query_params)
        if asked.get("client_id") != CLIENT_ID or asked.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        fake.codes[code] = {**asked, "tenant": TENANT if where.startswith("organizations") else None}
        back = {"code": code, "state": asked["state"]}
        return RedirectResponse(f"{asked['redirect_uri']}?{urlencode(back)}", status_code=302)

    @app.post("/{where:path}/token")
    async def token(
        code: str = Form(),
        code_verifier: str = Form(),
        client_id: str = Form(),
        client_secret: str = Form(),
        redirect_uri: str = Form(),
    ) -> Response:
        pending = fake.codes.pop(code, None)  # a code is good once
        if pending is None or client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != pending["code_challenge"] or redirect_uri != pending["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        now = int(fake.clock())
        claims: dict[str, Any] = {
            "iss": fake.issuer(pending["tenant"]),
            "aud": CLIENT_ID,
            "sub": f"subject-of-{fake.person.get('email', 'nobody')}",
            "iat": now,
            "exp": now + 300,
            "nonce": pending["nonce"],
            **({"tid": pending["tenant"]} if pending["tenant"] else {}),
            **fake.person,
        }
        for name, value in fake.bend.items():
            claims.pop(name) if value is None else claims.__setitem__(name, value)
        fake.bend = {}
        fake.subject = str(claims["sub"])
        key = fake.stranger if fake.sign_with_stranger else fake.key
        minted = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        return JSONResponse({"id_token": minted, "access_token": "access", "token_type": "Bearer"})

    @app.get("/{where:path}/userinfo")
    async def userinfo(request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer access":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"sub": fake.subject, **fake.userinfo})

    return app


@contextmanager
def fake_idp() -> Iterator[FakeIdp]:
    """The provider on a free port of 127.0.0.1, until the block ends."""
    fake = FakeIdp()
    # The app reads the fake's address only when it answers: it is known once the server is up.
    with serving(app_for(fake)) as url:
        fake.url = url
        yield fake
