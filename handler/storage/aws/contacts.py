"""The contact register on AWS: one item per address, listed by address through the ``byKind`` index."""

from __future__ import annotations

from handler.contacts import Contact, ContactRegister, new_security_stamp, normalize_email
from handler.storage.aws import records
from handler.storage.aws.records import KIND_INDEX
from handler.storage.aws.table import Table, Write


class AwsContacts(ContactRegister):
    """Contacts as ``CONTACT#`` items."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get_contact(self, email: str) -> Contact | None:
        """The registered contact with this address (any case)."""
        item = self._table.get(records.key("CONTACT", normalize_email(email)), "reading the contact")
        return records.contact(item) if item else None

    def put_contact(self, contact: Contact) -> None:
        """Add a contact with a new security stamp, or replace one and keep its stamp."""
        fields = records.contact_fields(contact)
        assignments = ", ".join(f"#{name} = :{name}" for name in fields)
        values = {**{f":{name}": value for name, value in fields.items()}, ":stamp": new_security_stamp()}
        update = f"SET {assignments}, #securityStamp = if_not_exists(#securityStamp, :stamp)"
        write = Write("Update", records.key("CONTACT", contact.email), "", update, values)
        self._table.write("writing the contact", write)

    def renew_security_stamp(self, email: str) -> str | None:
        """A new security stamp for the contact; None if not registered."""
        stamp = new_security_stamp()
        renew = Write(
            "Update",
            records.key("CONTACT", normalize_email(email)),
            "attribute_exists(pk)",
            "SET securityStamp = :stamp",
            {":stamp": stamp},
        )
        return stamp if self._table.write("renewing the security stamp", renew) is not None else None

    def remove_contact(self, email: str) -> bool:
        """Remove a contact; whether it existed."""
        remove = Write("Delete", records.key("CONTACT", normalize_email(email)), "attribute_exists(pk)")
        return self._table.write("removing the contact", remove) is not None

    def list_contacts(self) -> list[Contact]:
        """All contacts by address: found through the index, read from the table."""
        entries = records.sharded(self._table, "listing contact items", "CONTACT", index=KIND_INDEX)
        keys = [{"pk": entry["pk"], "sk": entry["sk"]} for entry in entries]
        contacts = map(records.contact, self._table.get_many(keys, "reading the contacts"))
        return sorted(contacts, key=lambda contact: contact.email)

    def link_identity(self, issuer: str, subject: str, email: str, stamp: str) -> None:
        item = {**records.key("IDENTITY", f"{issuer} {subject}"), "email": normalize_email(email), "stamp": stamp}
        self._table.write("remembering the identity", Write("Put", item))

    def linked(self, issuer: str, subject: str) -> tuple[str, str] | None:
        item = self._table.get(records.key("IDENTITY", f"{issuer} {subject}"), "reading the identity")
        return (str(item["email"]), str(item["stamp"])) if item else None
