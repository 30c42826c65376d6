"""Which e-mails an accepted request gets: the receipt (copied to the CC addresses) and the desk's notification,
each composed by ``handler/mails.py``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handler import mails
from handler.mail import Mail
from handler.mails import Accepted
from handler.schema.catalog import Catalog
from handler.schema.model import Form

log = logging.getLogger("servicedesk_forms.receipts")


@dataclass(frozen=True)
class Receipts:
    """What the e-mails about an accepted request are made from, built once by the container."""

    catalog: Catalog
    reply_to: Callable[[str], str | None]  # the signed address answers about a reference go to, if any
    desk_inbox: str  # '' for none: the desk gets no notification
    desk_language: str


def copied(form: Form, data: Mapping[str, Any], requester: str) -> dict[str, str]:
    """The addresses a request's mails are copied to, in lower case, each as given: every address in the form's
    e-mail list fields (the CC field; the schema caps their number) but the requester's own. Addresses are compared
    without regard to case, so nobody gets the same mail twice."""
    copies = {
        address.lower(): address
        for field in form.fields
        if field.lists_addresses
        for address in data.get(field.name, ())
        if isinstance(address, str)
    }
    copies.pop(requester.lower(), None)
    return copies


def receipt_mail(use: Receipts, new: Accepted, language: str) -> Mail:
    """The receipt to the requester in their language, with the CC addresses as copies; an answer to it joins the
    request's conversation when replies by e-mail are set up."""
    copies = copied(new.form, new.data, new.contact.email).values()
    signed = use.reply_to(new.receipt.reference)
    return mails.receipt_mail(use.catalog.email(language), language, new, copies, signed)


def desk_mail(use: Receipts, new: Accepted) -> Mail | None:
    """The notification to the desk's inbox in the desk's language, or None without an inbox. With replies by
    e-mail set up, the desk's answer joins the conversation; else it goes to the requester."""
    if not use.desk_inbox:
        return None
    language, signed = use.desk_language, use.reply_to(new.receipt.reference)
    return mails.desk_notice(use.catalog.email(language), language, new, use.desk_inbox, signed)


def receipt_mails(use: Receipts, new: Accepted, language: str) -> list[Mail]:
    """The receipt and, when the desk has an inbox, its notification: queued with the request, so the
    answer neither waits for nor fails with the mail service."""
    notification = desk_mail(use, new)
    return [receipt_mail(use, new, language), *([notification] if notification else [])]
