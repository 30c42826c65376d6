"""Sign-in without passwords: an e-mailed one-time code, exchanged for a signed, expiring session."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

import jwt

from handler.contacts import Contact, ContactRegister, normalize_email

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
# A session ends this long after its code was exchanged, whatever its token says.
SESSION_LIFETIME = timedelta(hours=8)
ISSUER = "servicedesk-forms"
AUDIENCE = "servicedesk-forms/v1"

# Limits count in fixed windows of RATE_WINDOW and in days (UTC). A client's own limits stop only that client; the
# limits shared by everyone asking about an address, or by everyone behind one client address, never stop the
# owner of an address: asking for a code again e-mails the code pending rather than a new one, and a client's
# first try at an address today is always checked (docs/api.md, "Limits").
RATE_WINDOW = timedelta(minutes=15)
CODES_PER_CLIENT_AND_ADDRESS = 3
ADDRESSES_PER_CLIENT = 30  # addresses one client asks codes for, each counted once a window
CODE_MAILS_PER_ADDRESS = 5  # a window; more asks send nothing and keep the code pending instead
CODE_MAILS_PER_ADDRESS_A_DAY = 20
GUESSES_PER_CLIENT = 10  # wrong codes a window, at any address
GUESSES_PER_CLIENT_AND_ADDRESS = 5
GUESSES_PER_CLIENT_AND_ADDRESS_A_DAY = 30
GUESSES_PER_ADDRESS = 10  # wrong codes a window by every client together, past which only a first try is checked
GUESSES_PER_ADDRESS_A_DAY = 100
# Every try a code can take: more than ten clients can make in its life; a backstop against very many.
CODE_ATTEMPTS = 200
# A session signed in later than this ahead of the clock is refused (clocks of two servers differ a little).
CLOCK_SKEW = timedelta(seconds=60)
# The least a session secret's estimated entropy may be (``secret_bits``); far below that of a random one.
MIN_SECRET_BITS = 56


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
    """A sent code, kept as a keyed hash, with its expiry, the attempts left and the nonce it was made from
    (with the secret, the nonce gives the code again, so that it can be e-mailed again; "" for none)."""

    email: str
    digest: str
    expires_at: datetime
    attempts_left: int
    nonce: str = ""


@dataclass(frozen=True)
class Session:
    """A signed-in contact's session token, the contact, and when it expires."""

    token: str
    contact: Contact
    expires_at: datetime


class SignedInAddress(str):
    """The address of a session just checked, carrying the contact the check read from the register."""

    contact: Contact
    expires_at: datetime | None  # when the session ends (None where it was not read from one)

    def __new__(cls, contact: Contact, expires_at: datetime | None = None) -> SignedInAddress:
        address = super().__new__(cls, contact.email)
        address.contact = contact
        address.expires_at = expires_at
        return address


class ClaimedSession(str):
    """The address a session token names, its signature and expiry checked, its security stamp not yet: what a route
    that reads the contact itself, alongside other work, is given; ``confirm`` finishes the check."""

    stamp: str
    ends: datetime

    def __new__(cls, email: str, stamp: str, ends: datetime) -> ClaimedSession:
        address = super().__new__(cls, email)
        address.stamp = stamp
        address.ends = ends
        return address

    def confirm(self, contact: Contact | None) -> SignedInAddress:
        """The signed-in address, if ``contact`` (the register's, read after the token was checked) still has the
        token's security stamp; ``InvalidSession`` if it is gone or signed out since."""
        if contact is None or not contact.security_stamp or contact.security_stamp != self.stamp:
            raise InvalidSession()
        return SignedInAddress(contact, self.ends)


class SignInState(ABC):
    """Where pending codes and rate-limit counters are kept."""

    @abstractmethod
    def put_code(self, code: PendingCode) -> None:
        """Keep ``code`` for its address, replacing any earlier one."""

    @abstractmethod
    def use_attempt(self, email: str, now: datetime) -> PendingCode | None:
        """Atomically spend one attempt on the address's unexpired code; None if none is left."""

    @abstractmethod
    def live_code(self, email: str, now: datetime) -> PendingCode | None:
        """The address's unexpired code with attempts left, spending none; None if there is none."""

    @abstractmethod
    def extend_code(self, email: str, digest: str, now: datetime, expires_at: datetime) -> bool:
        """Make the code, if it is still this one and unexpired at ``now``, expire at ``expires_at``; whether it did."""

    @abstractmethod
    def delete_code(self, email: str, digest: str) -> bool:
        """Remove the code if it is still this one; whether this call removed it (single use)."""

    @abstractmethod
    def count(self, key: str, window_start: datetime, expires_at: datetime) -> int:
        """Atomically add one to the counter for ``key`` in the window starting at ``window_start``."""

    @abstractmethod
    def counted(self, key: str, window_start: datetime) -> int:
        """The counter for ``key`` in the window starting at ``window_start``, adding nothing (0 if none)."""


def code_digest(secret: bytes, email: str, code: str) -> str:
    """The keyed hash a code is stored as; without the secret it cannot be checked offline."""
    return hmac.new(secret, f"{email}\n{code}".encode(), hashlib.sha256).hexdigest()


def code_of(secret: bytes, email: str, nonce: str) -> str:
    """The code a nonce stands for: the same every time, and unknown without the secret."""
    mac = hmac.new(secret, f"code\n{email}\n{nonce}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def rate_window(now: datetime) -> tuple[datetime, datetime]:
    """The start and end of the rate-limit window ``now`` falls in."""
    step = RATE_WINDOW.total_seconds()
    start = datetime.fromtimestamp(now.timestamp() // step * step, tz=now.tzinfo)
    return start, start + RATE_WINDOW


def rate_day(now: datetime) -> tuple[datetime, datetime]:
    """The start and end of the day (UTC) ``now`` falls in, for the limits counted by the day."""
    start = datetime.combine(now.astimezone(UTC).date(), time.min, UTC)
    return start, start + timedelta(days=1)


def seconds_until(end: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` to ``end``, at least one: what ``Retry-After`` says."""
    return max(1, math.ceil((end - now).total_seconds()))


def secret_bits(secret: bytes) -> float:
    """A rough estimate of the entropy of ``secret``, in bits: the entropy of its bytes, one byte at a time,
    times the number of different pairs of neighbouring bytes, so that repeating adds nothing; and the same of
    the steps between neighbours, if lower, so that a run such as "abcd…" counts as little as "aaaa…"."""

    def estimate(values: list[int]) -> float:
        per_value = -sum(n / len(values) * math.log2(n / len(values)) for n in Counter(values).values())
        return per_value * len(set(pairwise(values)))

    if len(secret) < 2:
        return 0.0
    return min(estimate(list(secret)), estimate([(b - a) % 256 for a, b in pairwise(secret)]))


def weak_secret(secret: bytes) -> str | None:
    """What is wrong with ``secret`` as the key that signs sessions and codes, or None if nothing is."""
    if len(secret) < 32:
        return "must be at least 32 characters"
    if secret_bits(secret) < MIN_SECRET_BITS:
        return "looks far from random (repeated or patterned); make one with: openssl rand -base64 48"
    return None


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
        if problem := weak_secret(secret):
            raise ValueError(f"the session secret {problem}")
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
        pair = f"{client}|{email}"
        asked = self.state.count(f"codes:client-address:{pair}", window, window_end)
        # A client counts once for each address it asks for: asking again for one's own costs nobody else.
        key = f"codes:client:{client}"
        addresses = self.state.count(key, window, window_end) if asked == 1 else self.state.counted(key, window)
        if asked > CODES_PER_CLIENT_AND_ADDRESS or addresses > ADDRESSES_PER_CLIENT:
            raise RateLimited(seconds_until(window_end, now))
        day, day_end = rate_day(now)
        self.state.count(f"codes:asked:{pair}", day, day_end)  # lets the client try the code past its own limit
        contact = self.register.get_contact(email)
        if contact is not None:
            self._send_code(email, contact, language, now)

    def _send_code(self, email: str, contact: Contact, language: str, now: datetime) -> None:
        """E-mail the address's pending code again (it stays the one that works), or a new one if none is pending,
        as often as the address's caps allow; past them, keep the pending code pending."""
        window, window_end = rate_window(now)
        day, day_end = rate_day(now)
        in_window, in_day = self.state.count(f"codes:mailed:{email}", window, window_end), 0
        if in_window <= CODE_MAILS_PER_ADDRESS:
            in_day = self.state.count(f"codes:mailed-day:{email}", day, day_end)
        mailed = in_window <= CODE_MAILS_PER_ADDRESS and in_day <= CODE_MAILS_PER_ADDRESS_A_DAY
        # The last code the caps let through stays pending until they let another through: it is the newest in
        # the owner's mailbox, and nobody asking can make it lapse.
        until = max(
            now + CODE_LIFETIME,
            window_end if in_window == CODE_MAILS_PER_ADDRESS else now,
            day_end if in_day == CODE_MAILS_PER_ADDRESS_A_DAY else now,
        )
        live = self.state.live_code(email, now)
        if live and live.nonce and self.state.extend_code(email, live.digest, now, max(until, live.expires_at)):
            code = code_of(self.secret, email, live.nonce)
        elif mailed:
            nonce = secrets.token_urlsafe(16)
            code = code_of(self.secret, email, nonce)
            self.state.put_code(PendingCode(email, code_digest(self.secret, email, code), until, CODE_ATTEMPTS, nonce))
        else:
            return
        if mailed:
            self.send_code(contact, code, language)

    def exchange(self, email: str, code: str, client: str) -> Session:
        """A session for a registered contact's correct, unexpired, unused code; ``InvalidCode`` otherwise."""
        now = self.clock()
        email = normalize_email(email)
        try:
            return self._exchange(email, code.strip(), client, now)
        except InvalidCode:
            window, window_end = rate_window(now)
            self.state.count(f"guesses:client:{client}", window, window_end)
            raise

    def _exchange(self, email: str, code: str, client: str, now: datetime) -> Session:
        window, window_end = rate_window(now)
        day, day_end = rate_day(now)
        pair = f"{client}|{email}"
        failed_today = self.state.counted(f"guesses:client-address-day:{pair}", day)
        # Past its limit a client may still try a code it asked for today, until it gets one wrong.
        if self.state.counted(f"guesses:client:{client}", window) >= GUESSES_PER_CLIENT and (
            failed_today or not self.state.counted(f"codes:asked:{pair}", day)
        ):
            raise RateLimited(seconds_until(window_end, now))
        if (
            failed_today >= GUESSES_PER_CLIENT_AND_ADDRESS_A_DAY
            or self.state.counted(f"guesses:client-address:{pair}", window) >= GUESSES_PER_CLIENT_AND_ADDRESS
        ):
            raise InvalidCode()
        # The address's limits stop only clients that got a code wrong for it today: a first try is always checked.
        if failed_today and (
            self.state.counted(f"guesses:address:{email}", window) >= GUESSES_PER_ADDRESS
            or self.state.counted(f"guesses:address-day:{email}", day) >= GUESSES_PER_ADDRESS_A_DAY
        ):
            raise InvalidCode()
        pending = self.state.use_attempt(email, now)
        expected = code_digest(self.secret, email, code)
        if pending is None or not hmac.compare_digest(pending.digest, expected):
            self.state.count(f"guesses:client-address:{pair}", window, window_end)
            self.state.count(f"guesses:client-address-day:{pair}", day, day_end)
            if pending is not None:  # only a guess at a pending code counts against the address
                self.state.count(f"guesses:address:{email}", window, window_end)
                self.state.count(f"guesses:address-day:{email}", day, day_end)
            raise InvalidCode()
        if not self.state.delete_code(email, pending.digest):
            raise InvalidCode()
        contact = self.register.get_contact(email)
        if contact is None:  # removed since the code was sent
            raise InvalidCode()
        return self.session_for(contact)

    def session_for(self, contact: Contact) -> Session:
        """A new session of a registered contact, who has just proved who they are (a code, their organization's
        identity provider); ``InvalidCode`` if the contact is removed meanwhile."""
        now = self.clock()
        stamp = contact.security_stamp or self.register.renew_security_stamp(contact.email)
        if stamp is None:
            raise InvalidCode()
        expires_at = now + SESSION_LIFETIME
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": contact.email,
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
        claimed = self.claimed(token)
        return claimed.confirm(self.register.get_contact(claimed))

    def claimed(self, token: str) -> ClaimedSession:
        """The address of a session token whose signature, claims and expiry pass, before its contact is read: the
        caller ``confirm``s it with the contact as the register has it now."""
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
        now = self.clock().timestamp()
        if signed_in > now + CLOCK_SKEW.total_seconds():  # signed in later than now: it would never expire
            raise InvalidSession()
        # However late a token's own expiry, renewed or not, the session ends SESSION_LIFETIME after sign-in.
        ends = min(expires, signed_in + int(SESSION_LIFETIME.total_seconds()))
        if ends <= now:
            raise SessionExpired()
        return ClaimedSession(email, stamp, datetime.fromtimestamp(ends, UTC))

    def sign_out(self, email: str) -> None:
        """End every session of the contact, on every device."""
        self.register.renew_security_stamp(email)
