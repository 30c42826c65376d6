"""The contact register in the embedded store: one row of ``contacts`` per address."""

from __future__ import annotations

from handler.contacts import Contact, ContactRegister, new_security_stamp, normalize_email
from handler.storage.local import records
from handler.storage.local.db import Database

_SELECT = f"SELECT {records.CONTACT_COLUMNS} FROM contacts"


class LocalContacts(ContactRegister):
    """Contacts as rows of ``contacts``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_contact(self, email: str) -> Contact | None:
        """The registered contact with this address (any case)."""
        row = self._db.row(f"{_SELECT} WHERE email = ?", (normalize_email(email),))
        return records.contact(row) if row else None

    def put_contact(self, contact: Contact) -> None:
        """Add a contact with a new security stamp, or replace one and keep its stamp."""
        self._db.changed(
            f"INSERT INTO contacts ({records.CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) "
            "DO UPDATE SET name = excluded.name, phone = excluded.phone, organization = excluded.organization, "
            "contact_types = excluded.contact_types",
            records.contact_row(contact, new_security_stamp()),
        )

    def remove_contact(self, email: str) -> bool:
        """Remove a contact; whether it existed."""
        return bool(self._db.changed("DELETE FROM contacts WHERE email = ?", (normalize_email(email),)))

    def list_contacts(self) -> list[Contact]:
        """All contacts by address."""
        return [records.contact(row) for row in self._db.rows(f"{_SELECT} ORDER BY email")]

    def renew_security_stamp(self, email: str) -> str | None:
        """A new security stamp for the contact; None if not registered."""
        stamp = new_security_stamp()
        renewed = self._db.changed(
            "UPDATE contacts SET security_stamp = ? WHERE email = ?", (stamp, normalize_email(email))
        )
        return stamp if renewed else None

    def link_identity(self, issuer: str, subject: str, email: str, stamp: str) -> None:
        self._db.changed(
            "INSERT INTO identities (issuer, subject, email, stamp) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, stamp = excluded.stamp",
            (issuer, subject, normalize_email(email), stamp),
        )

    def linked(self, issuer: str, subject: str) -> tuple[str, str] | None:
        row = self._db.row("SELECT email, stamp FROM identities WHERE issuer = ? AND subject = ?", (issuer, subject))
        return (str(row[0]), str(row[1])) if row else None
