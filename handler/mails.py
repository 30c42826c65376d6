"""Every e-mail the product sends, composed from the texts of one language and plain values: the sign-in code, the
receipt and the desk's notice of a new request, a status change, and the messages of a request's conversation.

Each function takes ``EmailTexts`` (the ``email`` texts of ``schema/common.<lang>.json``, typed) and what the mail
is about, with every decision (who gets it, where answers go) already made by its caller; none reaches into the
container or the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from handler.contacts import Contact
from handler.conversation import Message
from handler.mail import Mail, Recipient
from handler.schema.model import Form
from handler.storage.base import Attachment, Receipt, RequestSummary
from handler.texts import EmailTexts, fill


def field_lines(form: Form, language: str, data: Mapping[str, Any]) -> list[str]:
    """The submitted fields as ``Label: value`` lines, in the form's order, with choices by label."""
    lines = []
    for field in form.fields:
        if field.name not in data or field.value_kind == "uploads":
            continue
        shown = form.display(language, field.name, data[field.name])
        label = form.label(language, field.name)
        # "Label: value"; a question, or several lines, gets its answer on the line below instead.
        if label.endswith("?"):
            lines.append(f"{label}\n{shown}")
        else:
            lines.append(f"{label.rstrip(':')}:{chr(10) if field.multiline else ' '}{shown}")
    return lines


def _params(summary: RequestSummary, message: Message) -> dict[str, str]:
    return {"reference": summary.receipt.reference, "title": summary.title or "", "name": message.name}


def requester_message(
    texts: EmailTexts,
    language: str,
    inbox: str,
    summary: RequestSummary,
    message: Message,
    reply_to: str | None,
    ticket_url: str = "",
) -> Mail:
    """The desk's notice of the requester's new message. Answering it joins the conversation when replies by e-mail
    are set up (``reply_to``), else it goes to the requester; with the request's ticket (``ticket_url``) the desk
    is pointed there instead of to the command line."""
    params = {**_params(summary, message), "link": ticket_url}
    answer = Recipient(reply_to) if reply_to else Recipient(message.address, message.name) if message.address else None
    paragraphs = [texts.reply_above] if reply_to else []
    how = texts.message_in_ticket if ticket_url else texts.message_desk_reply
    paragraphs += [fill(texts.message_from_requester, params), message.body, fill(how, params)]
    return Mail(
        to=(Recipient(inbox),),
        subject=fill(texts.message_desk_subject, params),
        paragraphs=tuple(paragraphs),
        language=language,
        reply_to=answer,
        headers=thread_headers(summary.receipt),
    )


def desk_message(
    texts: EmailTexts,
    language: str,
    to: Recipient,
    summary: RequestSummary,
    message: Message,
    link: str,
    reply_to: str | None,
    signed: bool,
    earlier: Sequence[Message] = (),
) -> Mail:
    """The requester's copy of a desk agent's message, with how to answer it: by e-mail to ``reply_to`` (the
    request's own address when ``signed``, else the desk's inbox) and on the page; then the ``earlier``
    messages of the conversation, newest first, quoted."""
    params = {**_params(summary, message), "link": link}
    paragraphs = [texts.reply_above] if signed else []
    paragraphs += [fill(texts.greeting, {"name": to.name}), fill(texts.message_from_desk, params), message.body]
    if link:
        paragraphs.append(fill(texts.message_answer, params))
    paragraphs.append(texts.signature)
    if earlier:
        quoted = ["\n".join([f"{m.name}:", *(f"> {line}" for line in m.body.splitlines())]) for m in earlier]
        paragraphs.append("\n\n".join([texts.message_earlier, *quoted]))
    return Mail(
        to=(to,),
        subject=fill(texts.message_subject, params),
        paragraphs=tuple(paragraphs),
        language=language,
        reply_to=Recipient(reply_to) if reply_to else None,
        headers=thread_headers(summary.receipt),
    )


def thread_headers(receipt: Receipt) -> dict[str, str]:
    """Headers that make mail clients show every mail about one request as one thread: each refers to the same
    made-up first message of the request."""
    root = f"<request-{receipt.request_id}@servicedesk-forms>"
    return {"X-Servicedesk-Reference": receipt.reference, "In-Reply-To": root, "References": root}


def with_stop_link(mail: Mail, texts: EmailTexts, summary: RequestSummary, link: str) -> Mail:
    """A copy to an address the request was copied to, with the link that stops further copies before the
    signature."""
    stop = fill(texts.stop_copies, {"reference": summary.receipt.reference, "link": link})
    return replace(mail, paragraphs=(*mail.paragraphs[:-1], stop, mail.paragraphs[-1]))


def code_mail(texts: EmailTexts, language: str, contact: Contact, code: str, minutes: int) -> Mail:
    """The e-mail with a sign-in code, good for ``minutes``."""
    return Mail(
        to=(Recipient(contact.email, contact.name),),
        subject=texts.code_subject,
        paragraphs=(
            fill(texts.greeting, {"name": contact.name}),
            fill(texts.code_body, {"code": code, "minutes": str(minutes)}),
            texts.code_ignore,
            texts.signature,
        ),
        language=language,
    )


def attachments_paragraph(texts: EmailTexts, attachments: Sequence[Attachment]) -> list[str]:
    """A heading and one line per attachment (name, type, size), or nothing without attachments."""
    lines = [f"- {a.name} ({a.type}, {max(1, round(a.size / 1024))} KB)" for a in attachments]
    return ["\n".join([texts.attachments, *lines])] if attachments else []


@dataclass(frozen=True)
class Accepted:
    """A request just accepted, as its e-mails tell of it: its form, receipt, sender, data and files."""

    form: Form
    receipt: Receipt
    contact: Contact
    data: Mapping[str, Any]
    attachments: Sequence[Attachment]


def receipt_mail(texts: EmailTexts, language: str, new: Accepted, copies: Iterable[str], signed: str | None) -> Mail:
    """The receipt to the requester, copied to ``copies``; answerable at the request's ``signed`` address, if any."""
    form, receipt, contact, data = new.form, new.receipt, new.contact, new.data
    params = {"reference": receipt.reference, "title": str(data.get(form.title_field, ""))}
    paragraphs = [
        fill(texts.greeting, {"name": contact.name}),
        fill(texts.receipt_intro, params),
        "\n".join([texts.receipt_fields, *field_lines(form, language, data)]),
    ]
    paragraphs += [*attachments_paragraph(texts, new.attachments), texts.receipt_follow, texts.signature]
    return Mail(
        to=(Recipient(contact.email, contact.name),),
        cc=tuple(Recipient(address) for address in copies),
        subject=fill(texts.receipt_subject, params),
        paragraphs=(texts.reply_above, *paragraphs) if signed else tuple(paragraphs),
        language=language,
        reply_to=Recipient(signed) if signed else None,
        headers=thread_headers(receipt),
    )


def desk_notice(texts: EmailTexts, language: str, new: Accepted, inbox: str, signed: str | None) -> Mail:
    """The desk's notice of a new request, shaped for an e-mail-to-ticket channel: the reference and category in the
    subject, the fields as one ``Label: value`` block, and answers to the request's ``signed`` address (or, without
    one, to the requester)."""
    form, receipt, contact, data = new.form, new.receipt, new.contact, new.data
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
        f"{texts.reference}: {receipt.reference}",
        f"{texts.form}: {form.texts[language]['title']}",
        f"{texts.requester}: {contact.name} <{contact.email}>" + (f", {contact.phone}" if contact.phone else ""),
        f"{texts.received}: {receipt.received_at.isoformat(timespec='seconds')}",
    ]
    paragraphs = [
        fill(texts.desk_intro, params),
        "\n".join(facts),
        "\n".join(field_lines(form, language, data)),
        *attachments_paragraph(texts, new.attachments),
    ]
    return Mail(
        to=(Recipient(inbox),),
        subject=fill(texts.desk_subject, params),
        paragraphs=(texts.reply_above, *paragraphs) if signed else tuple(paragraphs),
        language=language,
        reply_to=Recipient(signed) if signed else Recipient(contact.email, contact.name),
        headers={**thread_headers(receipt), "X-Servicedesk-Category": str(category or "")},
    )


def status_mail(
    texts: EmailTexts,
    language: str,
    to: Recipient,
    summary: RequestSummary,
    status: str,
    words: str,
    comment: str | None,
    link: str,
    answer_to: str | None,
    signed: bool,
    asks_answer: bool,
) -> Mail:
    """The requester's notice that the request is now ``status`` (``words`` in their language), with the desk's
    ``comment``, what to do next, whether and how to answer (to ``answer_to``, the request's own address when
    ``signed``) and the ``link`` to the request."""
    params = {"reference": summary.receipt.reference, "status": words, "title": summary.title or ""}
    paragraphs = [fill(texts.greeting, {"name": to.name}), fill(texts.status_body, params)]
    if comment:
        paragraphs.append(f"{texts.status_comment}\n{comment}")
    if status in texts.status_next:  # when the status asks something of the requester or ends the request
        paragraphs.append(fill(texts.status_next[status], params))
    if asks_answer:
        paragraphs.append(texts.status_reply)
    if link:
        paragraphs.append(fill(texts.status_link, {"link": link}))
    paragraphs.append(texts.signature)
    return Mail(
        to=(to,),
        subject=fill(texts.status_subject, params),
        paragraphs=(texts.reply_above, *paragraphs) if signed else tuple(paragraphs),
        language=language,
        reply_to=Recipient(answer_to) if answer_to else None,
        headers=thread_headers(summary.receipt),
    )
