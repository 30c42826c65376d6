"""E-mails about an accepted request: the receipt (copied to CC addresses) and the desk's notification."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handler.contacts import Contact
from handler.mail import Mail, Recipient
from handler.mails import field_lines, thread_headers
from handler.schema.model import Catalog, Form
from handler.storage.base import Receipt
from handler.texts import fill

log = logging.getLogger("servicedesk_forms.receipts")


@dataclass(frozen=True)
class Receipts:
    """What the e-mails about an accepted request are made from, built once by the container."""

    catalog: Catalog
    reply_to: Callable[[str], str | None]  # the signed address answers about a reference go to, if any
    desk_inbox: str  # '' for none: the desk gets no notification
    desk_language: str


def attachments_paragraph(texts: Mapping[str, str], attachments: Sequence[Mapping[str, Any]]) -> list[str]:
    """A heading and one line per attachment (name, type, size), or nothing without attachments."""
    lines = [f"- {a['name']} ({a['type']}, {max(1, round(a['size'] / 1024))} KB)" for a in attachments]
    return ["\n".join([texts["attachments"], *lines])] if attachments else []


def copied(form: Form, data: Mapping[str, Any], contact: Contact) -> dict[str, str]:
    """The addresses the receipt is copied to, in lower case, each as given: every address in the form's e-mail
    list fields (the CC field; the schema caps their number) but the contact's own. Addresses are compared without
    regard to case, so nobody gets the same receipt twice."""
    copies = {
        address.lower(): address
        for field in form.fields
        if field.widget == "email-list"
        for address in data.get(field.name, ())
    }
    copies.pop(contact.email.lower(), None)
    return copies


def receipt_mail(
    use: Receipts,
    form: Form,
    receipt: Receipt,
    contact: Contact,
    language: str,
    data: Mapping[str, Any],
    attachments: Sequence[Mapping[str, Any]],
) -> Mail:
    """The receipt to the requester in their language, with the CC addresses as copies."""
    texts = use.catalog.common[language]["email"]
    params = {"reference": receipt.reference, "title": str(data.get(form.title_field, ""))}
    cc = tuple(Recipient(address) for address in copied(form, data, contact).values())
    paragraphs = [
        fill(texts["greeting"], {"name": contact.name}),
        fill(texts["receiptIntro"], params),
        "\n".join([texts["receiptFields"], *field_lines(form, language, data)]),
    ]
    paragraphs += [*attachments_paragraph(texts, attachments), texts["receiptFollow"], texts["signature"]]
    # An answer to the receipt joins the request's conversation when replies by e-mail are set up.
    signed = use.reply_to(receipt.reference)
    return Mail(
        to=(Recipient(contact.email, contact.name),),
        cc=cc,
        subject=fill(texts["receiptSubject"], params),
        paragraphs=(texts["replyAbove"], *paragraphs) if signed else tuple(paragraphs),
        language=language,
        reply_to=Recipient(signed) if signed else None,
        headers=thread_headers(receipt),
    )


def desk_mail(
    use: Receipts,
    form: Form,
    receipt: Receipt,
    contact: Contact,
    data: Mapping[str, Any],
    attachments: Sequence[Mapping[str, Any]],
) -> Mail | None:
    """The notification to the desk's inbox, shaped for an e-mail-to-ticket channel, or None without an inbox.

    The subject carries the reference and category, Reply-To is the requester (so a ticket's replies
    reach them), and the fields come as one ``Label: value`` block.
    """
    inbox = use.desk_inbox
    if not inbox:
        return None
    language = use.desk_language
    texts = use.catalog.common[language]["email"]
    category = data.get(form.discriminator)
    params = {
        "reference": receipt.reference,
        "title": str(data.get(form.title_field, "")),
        "category": form.option_label(language, form.discriminator, category)
        if category
        else form.texts[language]["title"],
        "name": contact.name,
        "organization": contact.organization,
    }
    facts = [
        f"{texts['reference']}: {receipt.reference}",
        f"{texts['form']}: {form.texts[language]['title']}",
        f"{texts['requester']}: {contact.name} <{contact.email}>" + (f", {contact.phone}" if contact.phone else ""),
        f"{texts['received']}: {receipt.received_at.isoformat(timespec='seconds')}",
    ]
    paragraphs = [
        fill(texts["deskIntro"], params),
        "\n".join(facts),
        "\n".join(field_lines(form, language, data)),
        *attachments_paragraph(texts, attachments),
    ]
    # With replies by e-mail set up, the desk's answer joins the conversation; else it goes to the requester.
    signed = use.reply_to(receipt.reference)
    return Mail(
        to=(Recipient(inbox),),
        subject=fill(texts["deskSubject"], params),
        paragraphs=(texts["replyAbove"], *paragraphs) if signed else tuple(paragraphs),
        language=language,
        reply_to=Recipient(signed) if signed else Recipient(contact.email, contact.name),
        headers={**thread_headers(receipt), "X-Servicedesk-Category": str(category or "")},
    )


def receipt_mails(
    use: Receipts,
    form: Form,
    receipt: Receipt,
    contact: Contact,
    language: str,
    data: Mapping[str, Any],
    attachments: Sequence[Mapping[str, Any]],
) -> list[Mail]:
    """The receipt and, when the desk has an inbox, its notification: queued with the request, so the
    answer neither waits for nor fails with the mail service."""
    mails = [receipt_mail(use, form, receipt, contact, language, data, attachments)]
    notification = desk_mail(use, form, receipt, contact, data, attachments)
    return [*mails, notification] if notification else mails
