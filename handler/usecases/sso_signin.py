"""Signing in through the organization's own identity provider: which providers there are, leaving for one, and
coming back from it signed in as the registered contact whose verified address it gave."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from handler.codes import Code
from handler.contacts import Contact, ContactRegister, normalize_email
from handler.refusals import Refused
from handler.signin import Session
from handler.sso import Login, LoginFailed, OpenIdClient

if TYPE_CHECKING:
    from handler import answers

log = logging.getLogger("servicedesk_forms.sso")
# Where a person may be sent back to: a path of this site, never another host ("//host", "/\\host") or scheme.
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%-]{0,200}")


@dataclass(frozen=True)
class SsoSignIn:
    """What signing in through a provider works with, built once by the container."""

    client: OpenIdClient | None  # None: no provider is declared
    contacts: ContactRegister
    open_session: Callable[[Contact], Session]
    clock: Callable[[], datetime]
    languages: Sequence[str]


def providers(use: SsoSignIn) -> list[answers.Provider]:
    """The declared providers, as the sign-in page offers them."""
    found = use.client.providers.values() if use.client else ()
    return [{"id": p.id, "organization": p.organization, "label": dict(p.label)} for p in found]


def same_site(path: str | None, language: str) -> str:
    """``path`` if it is a path of this site, else the sign-in page of ``language`` (an open redirect never)."""
    if path and _SAME_SITE_PATH.fullmatch(path) and ".." not in path:
        return path
    return f"/{language}/my-requests/"


def language_of(path: str, use: SsoSignIn) -> str:
    """The language a path of the site is in (its first segment), else the site's first."""
    first = path.strip("/").split("/")[0]
    return first if first in use.languages else use.languages[0]


def start(use: SsoSignIn, provider_id: str, next_path: str, redirect_uri: str) -> tuple[str, str]:
    """The provider's address to send the person to, and the login to keep meanwhile; ``not_found`` for a
    provider not declared."""
    provider = use.client.providers.get(provider_id) if use.client else None
    if use.client is None or provider is None:
        raise Refused(Code.NOT_FOUND)
    try:
        return use.client.start(provider, redirect_uri, next_path, use.clock())
    except LoginFailed as exc:  # the provider's discovery cannot be read: come back with why
        log.warning("could not start signing in with %s: %s", provider_id, exc)
        raise


def finish(
    use: SsoSignIn, kept: str, state: str, code: str, redirect_uri: str, issuer: str = ""
) -> tuple[Session, Login]:
    """The session of the contact the provider's answer signs in, and the login it was for; ``LoginFailed``
    with why otherwise (the same ``not_authorized`` for an address that is not a contact of the organization as
    for one that is not registered at all)."""
    if use.client is None:
        raise LoginFailed("provider", "no provider is declared")
    now = use.clock()
    login = use.client.login_of(kept, now)
    if not state or state != login.state:
        raise LoginFailed("state", "the answer is not for the login under way")
    provider = use.client.providers.get(login.provider)
    # A provider that names itself in its answer (RFC 9207) must be the one the login went to (a mix-up).
    if issuer and provider and not provider.multi_tenant and issuer.rstrip("/") != provider.issuer:
        raise LoginFailed("issuer", "the answer came from another provider")
    identity = use.client.finish(login, code, redirect_uri, now)
    provider = use.client.providers[login.provider]  # finish() refused a login of a provider no longer declared
    # The contact this person signed in as before comes first (an address can change at the provider), as long as
    # it is the same registration (its stamp); else the contact with the address the provider gives.
    linked = use.contacts.linked(identity.issuer, identity.subject)
    contact = use.contacts.get_contact(linked[0]) if linked else None
    if not (linked and _of(contact, provider.organization) and contact and contact.security_stamp == linked[1]):
        contact = use.contacts.get_contact(normalize_email(identity.email))
    if contact is None or not _of(contact, provider.organization):
        log.info("signing in with %s: no contact of %s has the address given", provider.id, provider.organization)
        raise LoginFailed("not_authorized", "no contact of the organization has the address")
    session = use.open_session(contact)
    stamp = session.contact.security_stamp or (use.contacts.get_contact(contact.email) or contact).security_stamp
    if linked != (contact.email, stamp):  # remembered for next time
        use.contacts.link_identity(identity.issuer, identity.subject, contact.email, stamp)
    return session, login


def _of(contact: Contact | None, organization: str) -> bool:
    return contact is not None and contact.organization.casefold() == organization.casefold()
