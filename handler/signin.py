"""Sign-in without passwords: an e-mailed one-time code, exchanged for a signed, expiring session."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from handler.contacts import Contact, ContactRegister, normalize_email

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
# A session ends this long after its code was exchanged, whatever its token says.
SESSION_LIFETIME = timedelta(hours=8)
ISSUER = "servicedesk-forms"
AUDIENCE = "servicedesk-forms/v1"

# A client's own limits (per client, and per client and address) stop only that client. The limits an address
# shares with everyone asking about it are higher than one client can reach, and they count in the same fixed
# windows as the clients' own: holding up someone else's address takes several clients, and ends with the window.
RATE_WINDOW = timedelta(minutes=15)
CODES_PER_CLIENT = 10
CODES_PER_CLIENT_AND_ADDRESS = 3
CODES_PER_ADDRESS = 10
EXCHANGES_PER_CLIENT = 10
GUESSES_PER_CLIENT_AND_ADDRESS = 5
GUESSES_PER_ADDRESS = 10
GUESSES_PER_CLIENT_AND_ADDRESS_A_DAY = 30
# Twice what one client can spend on a code in its life (two windows at most): one client cannot use it up.
CODE_ATTEMPTS = 20


class RateLimited(Exception):
    """Too many codes asked for or tried; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class InvalidCode(Exception):
    """The code is wrong, expired, used up or was never sent: the answer is the same for all."""


class InvalidSession(Exception):
    """The session token is missing, tampered with, signed with another key, or its session was ended."""


class SignInRequired(InvalidSession):
    """No session token was shown at all."""


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
    """A signed-in contact's session token, the contact, and when it expires."""

    token: str
    contact: Contact
    expires_at: datetime


class SignedInAddress(str):
    """The address of a session just checked, carrying the contact the check read from the register."""

    contact: Contact

    def __new__(cls, contact: Contact) -> SignedInAddress:
        address = super().__new__(cls, contact.email)
        address.contact = contact
        return address


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


def rate_window(now: datetime) -> tuple[datetime, datetime]:
    """The start and end of the rate-limit window ``now`` falls in."""
    step = RATE_WINDOW.total_seconds()
    start = datetime.fromtimestamp(now.timestamp() // step * step, tz=now.tzinfo)
    return start, start + RATE_WINDOW


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
        window, window_end = rate_window(now)
        # The client is counted first, so one client cannot learn anything by flooding many addresses.
        for key, limit in (
            (f"codes:client:{client}", CODES_PER_CLIENT),
            (f"codes:client-address:{client}|{email}", CODES_PER_CLIENT_AND_ADDRESS),
            (f"codes:address:{email}", CODES_PER_ADDRESS),
        ):
            if self.state.count(key, window, window_end) > limit:
                raise RateLimited(math.ceil((window_end - now).total_seconds()))
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        digest = code_digest(self.secret, email, code)
        contact = self.register.get_contact(email)
        if contact is None:
            return
        self.state.put_code(PendingCode(email, digest, now + CODE_LIFETIME, CODE_ATTEMPTS))
        self.send_code(contact, code, language)

    def exchange(self, email: str, code: str, client: str) -> Session:
        """A session for a registered contact's correct, unexpired, unused code; ``InvalidCode`` otherwise."""
        now = self.clock()
        email = normalize_email(email)
        window, window_end = rate_window(now)
        if self.state.count(f"exchanges:client:{client}", window, window_end) > EXCHANGES_PER_CLIENT:
            raise RateLimited(math.ceil((window_end - now).total_seconds()))
        key = f"guesses:client-address:{client}|{email}"
        if self.state.count(key, window, window_end) > GUESSES_PER_CLIENT_AND_ADDRESS:
            raise InvalidCode()
        pending = self.state.use_attempt(email, now)
        if pending is None:
            raise InvalidCode()
        # Only a guess at a pending code counts against the address.
        day = datetime.combine(now.date(), datetime.min.time(), now.tzinfo)
        if (
            self.state.count(f"guesses:address:{email}", window, window_end) > GUESSES_PER_ADDRESS
            or self.state.count(f"guesses:day:{client}|{email}", day, day + timedelta(days=1))
            > GUESSES_PER_CLIENT_AND_ADDRESS_A_DAY
        ):
            raise InvalidCode()
        expected = code_digest(self.secret, email, code.strip())
        if not hmac.compare_digest(pending.digest, expected) or not self.state.delete_code(email, pending.digest):
            raise InvalidCode()
        contact = self.register.get_contact(email)
        if contact is None:  # removed since the code was sent
            raise InvalidCode()
        stamp = contact.security_stamp or self.register.renew_security_stamp(email)
        if stamp is None:
            raise InvalidCode()
        expires_at = now + SESSION_LIFETIME
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": email,
            "iat": int(now.timestamp()),
            "auth_time": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "typ": "session",
            "stamp": stamp,
        }
        return Session(jwt.encode(claims, self.secret, algorithm="HS256"), contact, expires_at)

    def verify(self, token: str) -> str:
        """The e-mail address of a valid session whose contact is registered and has not signed out since."""
        return str(self.signed_in(token))

    def signed_in(self, token: str) -> SignedInAddress:
        """Like ``verify``, with the contact read for the check, so that a request need not read it again."""
        try:
            # Expiry is checked below against the injected clock, after the signature.
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                audience=AUDIENCE,
                options={
                    "require": ["iss", "aud", "sub", "iat", "auth_time", "exp", "typ", "stamp"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidSession() from exc
        email, stamp, signed_in, expires = claims["sub"], claims["stamp"], claims["auth_time"], claims["exp"]
        if (
            claims["typ"] != "session"
            or not isinstance(email, str)
            or not isinstance(stamp, str)
            or not isinstance(signed_in, int)
            or not isinstance(expires, int)
        ):
            raise InvalidSession()
        # However late a token's own expiry, renewed or not, the session ends SESSION_LIFETIME after sign-in.
        if min(expires, signed_in + int(SESSION_LIFETIME.total_seconds())) <= self.clock().timestamp():
            raise SessionExpired()
        contact = self.register.get_contact(email)
        if contact is None or not contact.security_stamp or contact.security_stamp != stamp:
            raise InvalidSession()
        return SignedInAddress(contact)

    def sign_out(self, email: str) -> None:
        """End every session of the contact, on every device."""
        self.register.renew_security_stamp(email)
