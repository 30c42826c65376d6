"""Who may send a form: a contact the register gives a contact type the form allows."""

from __future__ import annotations

from handler.codes import Code
from handler.contacts import Contact, ContactRegister
from handler.refusals import Refused
from handler.schema.model import Form
from handler.signin import SignedInAddress


def authorized_contact(contacts: ContactRegister, email: str, form: Form, language: str) -> Contact:
    """The signed-in contact, if the register gives them a contact type the form allows (the contact the session
    check just read, for a signed-in address)."""
    contact = email.contact if isinstance(email, SignedInAddress) else contacts.get_contact(email)
    if contact is None or not contact.may_submit(form.allowed_contact_types):
        raise Refused(Code.NOT_AUTHORIZED, params=form.not_authorized(language))
    return contact
