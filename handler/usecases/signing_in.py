"""Signing in with an e-mailed code, following one's session, and signing out everywhere."""

from __future__ import annotations

import re
from typing import Any

from handler.addresses import EMAIL_PATTERN, deliverable
from handler.codes import Code
from handler.contacts import Contact, ContactRegister
from handler.refusals import Refused
from handler.schema.catalog import Catalog
from handler.schema.model import FieldError
from handler.signin import ClaimedSession, RateLimited, Session, SignedInAddress, SignIn, SignInRequired

CODE = re.compile(r"^[0-9]{6}$")
EMAIL_FIELD = {"type": "string", "maxLength": 254, "pattern": EMAIL_PATTERN}  # the address as it is checked


def send_code(sign_in: SignIn, email: str, client: str, language: str) -> None:
    """Queue a one-time code for a registered address (as ``checked_email`` gives it); the same outcome
    whether or not one is registered."""
    try:
        sign_in.request_code(email, client, language)
    except RateLimited as exc:
        raise Refused(Code.TOO_MANY_CODES, retry_after=exc.retry_after) from exc


def open_session(sign_in: SignIn, email: str, code: str, client: str) -> Session:
    """A session for the address's pending code (both as checked here); ``InvalidCode`` when it is not that code."""
    try:
        return sign_in.exchange(email, code, client)
    except RateLimited as exc:
        raise Refused(Code.TOO_MANY_ATTEMPTS, retry_after=exc.retry_after) from exc


def signed_in(sign_in: SignIn, authorization: str | None) -> SignedInAddress:
    """The address of the ``Bearer`` session in an ``Authorization`` value, with its contact as registered now."""
    return sign_in.signed_in(_bearer(authorization))


def claimed(sign_in: SignIn, authorization: str | None) -> ClaimedSession:
    """The address of the ``Bearer`` session in an ``Authorization`` value, its contact not read yet."""
    return sign_in.claimed(_bearer(authorization))


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignInRequired()
    return token.strip()


def registered(contacts: ContactRegister, email: str) -> Contact | None:
    """The contact registered with ``email``; the one the session check just read, if it is a signed-in address."""
    return email.contact if isinstance(email, SignedInAddress) else contacts.get_contact(email)


def current_contact(contacts: ContactRegister, email: str) -> Contact:
    """The signed-in contact as the register has them now."""
    contact = registered(contacts, email)
    if contact is None:
        raise SignInRequired()
    return contact


def sign_out(sign_in: SignIn, email: str) -> None:
    """End every session of the contact, on every device."""
    sign_in.sign_out(email)


def checked_email(value: Any, catalog: Catalog, language: str) -> str:
    """``value`` as an e-mail address, or a refusal saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise Refused(Code.VALIDATION_FAILED, [_sign_in_error(catalog, language, "email", "emailRequired")])
    email = value.strip()
    if len(email) > 254 or not deliverable(email):
        raise Refused(Code.VALIDATION_FAILED, [_sign_in_error(catalog, language, "email", "emailFormat")])
    return email


def checked_code(value: Any, catalog: Catalog, language: str) -> str:
    """``value`` as a six-digit code, or a refusal saying it is not one."""
    code = value.strip() if isinstance(value, str) else ""
    if not CODE.fullmatch(code):
        raise Refused(Code.VALIDATION_FAILED, [_sign_in_error(catalog, language, "code", "codeFormat")])
    return code


def _sign_in_error(catalog: Catalog, language: str, field: str, text: str) -> FieldError:
    keyword = "required" if text.endswith("Required") else "format"
    return FieldError(field, f"/{field}", keyword, str(catalog.common[language]["signIn"][text]))
