"""The contact register: who may sign in, and with which contact types."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from handler.addresses import deliverable

_PHONE = re.compile(r"^\+?[0-9][0-9 ]{3,18}[0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CSV_COLUMNS = ("email", "name", "phone", "organization", "contact_types")


class InvalidContact(ValueError):
    """A contact's field has a value the register refuses; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Contact:
    """A customer's contact person, registered by an operator.

    ``security_stamp`` is the register's own: a random value given when the address is registered and
    replaced on signing out everywhere. Every session carries it, so a session ends when the contact is
    removed, registered anew or signs out. Writing a contact never sets it, and it is not compared.
    """

    email: str
    name: str
    phone: str
    organization: str
    contact_types: tuple[str, ...]
    security_stamp: str = dataclasses.field(default="", compare=False, repr=False)

    def may_submit(self, allowed: Iterable[str]) -> bool:
        """Whether one of the contact's types is among ``allowed``."""
        return not set(self.contact_types).isdisjoint(allowed)


def new_security_stamp() -> str:
    """A fresh random security stamp."""
    return secrets.token_urlsafe(16)


def normalize_email(value: str) -> str:
    """E-mail addresses are compared case-insensitively: the register keeps them in lower case."""
    return value.strip().lower()


def make_contact(
    email: str, name: str, phone: str, organization: str, contact_types: Iterable[str], known_types: Iterable[str]
) -> Contact:
    """A checked contact; raises ``InvalidContact`` naming the first field that is wrong."""
    email = normalize_email(email)
    if len(email) > 254 or not deliverable(email):
        raise InvalidContact("email", f"{email!r} is not a valid e-mail address")
    for field, value, limit in (("name", name, 200), ("organization", organization, 200)):
        if not value.strip() or len(value) > limit or _CONTROL.search(value):
            raise InvalidContact(field, f"must be 1-{limit} characters on one line")
    phone = phone.strip()
    if phone and not _PHONE.match(phone):
        raise InvalidContact("phone", f"{phone!r} is not a phone number (digits and spaces, optional leading +)")
    types = tuple(dict.fromkeys(t.strip() for t in contact_types if t.strip()))
    known = tuple(known_types)
    unknown = [t for t in types if t not in known]
    if unknown:
        raise InvalidContact("contact_types", f"unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    if not types:
        raise InvalidContact("contact_types", f"give at least one of {', '.join(known)}")
    return Contact(email, name.strip(), phone, organization.strip(), types)


def parse_csv(text: str, known_types: Iterable[str]) -> list[Contact]:
    """Contacts from CSV with the header ``email,name,phone,organization,contact_types``.

    Several contact types are separated by ``;``. Every problem is reported at once as
    ``row N, field F: ...`` (row 1 is the header) and nothing is returned unless all rows are good.
    """
    known = tuple(known_types)
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ValueError(f"row 1: the header must be {','.join(CSV_COLUMNS)}")
    contacts: list[Contact] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(reader, start=2):
        extra = row.pop(None, [])
        columns = sum(value is not None for value in row.values()) + len(extra)
        if columns != len(CSV_COLUMNS):
            problems.append(f"row {row_number}: has {columns} columns instead of {len(CSV_COLUMNS)}")
            continue
        try:
            contact = make_contact(
                row["email"], row["name"], row["phone"], row["organization"], row["contact_types"].split(";"), known
            )
        except InvalidContact as exc:
            problems.append(f"row {row_number}, field {exc}")
            continue
        if contact.email in seen:
            problems.append(f"row {row_number}, field email: {contact.email} is also on row {seen[contact.email]}")
            continue
        seen[contact.email] = row_number
        contacts.append(contact)
    if problems:
        raise ValueError("\n".join(problems))
    return contacts


class ContactRegister(ABC):
    """Where contacts are kept; e-mail addresses are unique regardless of case."""

    @abstractmethod
    def get_contact(self, email: str) -> Contact | None:
        """The contact with this address, if registered."""

    @abstractmethod
    def put_contact(self, contact: Contact) -> None:
        """Add the contact with a new security stamp, or replace the one with the same address, keeping its stamp."""

    @abstractmethod
    def remove_contact(self, email: str) -> bool:
        """Remove the contact; whether there was one."""

    @abstractmethod
    def list_contacts(self) -> list[Contact]:
        """Every contact, ordered by e-mail address."""

    @abstractmethod
    def renew_security_stamp(self, email: str) -> str | None:
        """Give the contact a new security stamp, ending every session with the old one; None if not registered."""

    @abstractmethod
    def link_identity(self, issuer: str, subject: str, email: str, stamp: str) -> None:
        """Remember that the person ``subject`` of the identity provider ``issuer`` signed in as ``email``, whose
        security stamp was ``stamp`` (a contact removed and registered again has another: the link is void)."""

    @abstractmethod
    def linked(self, issuer: str, subject: str) -> tuple[str, str] | None:
        """The address the provider's person signed in as before, and that contact's stamp then, if they did."""
