"""Sign-in without passwords: an e-mailed one-time code, exchanged for a signed, expiring session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from handler.contacts import Contact, ContactRegister, normalize_email

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
SESSION_LIFETIME = timedelta(hours=8)
# At most this many codes per window for one address, and for one client address.
CODES_PER_ADDRESS = 3
CODES_PER_CLIENT = 10
RATE_WINDOW = timedelta(minutes=15)
# Every code gets a few attempts, but an address gets at most this many attempts a day in all.
ATTEMPTS_PER_DAY = 30


class RateLimited(Exception):
    """Too many codes were asked for; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class InvalidCode(Exception):
    """The code is wrong, expired, used up or was never sent: the answer is the same for all."""


class InvalidSession(Exception):
    """The session token is missing, tampered with or signed with another key."""


class SessionExpired(InvalidSession):
    """The session token was valid but has expired."""


@dataclass(frozen=True)
class PendingCode:
    """A sent code, kept only as a keyed hash, with its expiry and the attempts left."""

    email: str
    digest: str
    expires_at: datetime
    attempts_left: int


@dataclass(frozen=True)
class Session:
    """A signed-in contact's session token and when it expires."""

    token: str
    email: str
    expires_at: datetime


class SignInState(ABC):
    """Where pending codes and rate-limit counters are kept."""

    @abstractmethod
    def put_code(self, code: PendingCode) -> None:
        """Keep ``code`` for its address, replacing any earlier one."""

    @abstractmethod
    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        """Atomically spend one attempt on the address's unexpired code; None if none is left."""

    @abstractmethod
    def delete_code(self, email: str, digest: str) -> bool:
        """Remove the code if it is still this one; whether this call removed it (single use)."""

    @abstractmethod
    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        """Atomically add one to the counter for ``key`` in the window starting at ``window_start``."""


def code_digest(secret: bytes, email: str, code: str) -> str:
    """The keyed hash a code is stored as; without the secret it cannot be checked offline."""
    return hmac.new(secret, f"{email}\n{code}".encode(), hashlib.sha256).hexdigest()


class SignIn:
    """Sends codes, exchanges them for sessions and checks sessions."""

    def __init__(
        self,
        register: ContactRegister,
        state: SignInState,
        secret: bytes,
        send_code: Callable[[Contact, str, str], None],
        clock: Callable[[], datetime],
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 bytes")
        self.register = register
        self.state = state
        self.secret = secret
        self.send_code = send_code
        self.clock = clock

    def request_code(self, email: str, client: str, language: str) -> None:
        """E-mail a code if the address is registered; behave the same either way."""
        now = self.clock()
        email = normalize_email(email)
        window = datetime.fromtimestamp(
            now.timestamp() // RATE_WINDOW.total_seconds() * RATE_WINDOW.total_seconds(), tz=now.tzinfo
        )
        window_end = window + RATE_WINDOW
        retry_after = max(1, int((window_end - now).total_seconds()))
        # Count the client first, so one client cannot learn anything by flooding many addresses.
        if self.state.count(f"client:{client}", window, window_end) > CODES_PER_CLIENT:
            raise RateLimited(retry_after)
        if self.state.count(f"address:{email}", window, window_end) > CODES_PER_ADDRESS:
            raise RateLimited(retry_after)
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        digest = code_digest(self.secret, email, code)
        contact = self.register.get_contact(email)
        if contact is None:
            return
        self.state.put_code(PendingCode(email, digest, now + CODE_LIFETIME, CODE_ATTEMPTS))
        self.send_code(contact, code, language)

    def exchange(self, email: str, code: str) -> Session:
        """A session for a correct, unexpired, unused code; ``InvalidCode`` otherwise."""
        now = self.clock()
        email = normalize_email(email)
        day = datetime.combine(now.date(), datetime.min.time(), now.tzinfo)
        if self.state.count(f"attempts:{email}", day, day + timedelta(days=1)) > ATTEMPTS_PER_DAY:
            raise InvalidCode()
        pending = self.state.use_attempt(email, now)
        if pending is None:
            raise InvalidCode()
        expected = code_digest(self.secret, email, code.strip())
        if not hmac.compare_digest(pending.digest, expected) or not self.state.delete_code(email, pending.digest):
            raise InvalidCode()
        expires_at = now + SESSION_LIFETIME
        claims = {"sub": email, "iat": int(now.timestamp()), "exp": int(expires_at.timestamp()), "typ": "session"}
        return Session(jwt.encode(claims, self.secret, algorithm="HS256"), email, expires_at)

    def verify(self, token: str) -> str:
        """The e-mail address a valid session token was issued to."""
        try:
            # Expiry is checked below against the injected clock, after the signature.
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"require": ["sub", "exp", "iat", "typ"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidSession() from exc
        if claims.get("typ") != "session" or not isinstance(claims.get("sub"), str):
            raise InvalidSession()
        if not isinstance(claims["exp"], int) or claims["exp"] <= self.clock().timestamp():
            raise SessionExpired()
        return str(claims["sub"])
