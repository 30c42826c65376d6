"""E-mails about a request's conversation, composed from the texts of one language and plain values.

Each function takes the ``email`` texts of ``schema/common.<lang>.json`` and what the mail is about; none reaches
into the container or the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from handler.conversation import Message
from handler.mail import Mail, Recipient
from handler.schema.model import Form
from handler.storage.base import Receipt, RequestSummary
from handler.texts import fill

Texts = Mapping[str, str]


def field_lines(form: Form, language: str, data: Mapping[str, Any]) -> list[str]:
    """The submitted fields as ``Label: value`` lines, in the form's order, with choices by label."""
    lines = []
    for field in form.fields:
        if field.name not in data or field.widget == "attachments":
            continue
        shown = form.display(language, field.name, data[field.name])
        label = form.label(language, field.name)
        # "Label: value"; a question, or several lines, gets its answer on the line below instead.
        if label.endswith("?"):
            lines.append(f"{label}\n{shown}")
        else:
            lines.append(f"{label.rstrip(':')}:{chr(10) if field.widget == 'textarea' else ' '}{shown}")
    return lines


def _params(summary: RequestSummary, message: Message) -> dict[str, str]:
    return {"reference": summary.receipt.reference, "title": summary.title or "", "name": message.name}


def requester_message(
    texts: Texts,
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
    paragraphs = [texts["replyAbove"]] if reply_to else []
    how = texts["messageInTicket"] if ticket_url else texts["messageDeskReply"]
    paragraphs += [fill(texts["messageFromRequester"], params), message.body, fill(how, params)]
    return Mail(
        to=(Recipient(inbox),),
        subject=fill(texts["messageDeskSubject"], params),
        paragraphs=tuple(paragraphs),
        language=language,
        reply_to=answer,
        headers=thread_headers(summary.receipt),
    )


def desk_message(
    texts: Texts,
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
    paragraphs = [texts["replyAbove"]] if signed else []
    paragraphs += [fill(texts["greeting"], {"name": to.name}), fill(texts["messageFromDesk"], params), message.body]
    if link:
        paragraphs.append(fill(texts["messageAnswer"], params))
    paragraphs.append(texts["signature"])
    if earlier:
        quoted = ["\n".join([f"{m.name}:", *(f"> {line}" for line in m.body.splitlines())]) for m in earlier]
        paragraphs.append("\n\n".join([texts["messageEarlier"], *quoted]))
    return Mail(
        to=(to,),
        subject=fill(texts["messageSubject"], params),
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


def with_stop_link(mail: Mail, texts: Texts, summary: RequestSummary, link: str) -> Mail:
    """A copy to an address the request was copied to, with the link that stops further copies before the
    signature."""
    stop = fill(texts["stopCopies"], {"reference": summary.receipt.reference, "link": link})
    return replace(mail, paragraphs=(*mail.paragraphs[:-1], stop, mail.paragraphs[-1]))
