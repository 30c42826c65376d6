"""The desk's answer by e-mail: to the requester, answerable, and a copy to each address the request was copied to,
with the link that stops the copies."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from handler import mails, replies
from handler.codes import Code
from handler.conversation import Message
from handler.mail import Mail, Recipient
from handler.receipts import copied
from handler.refusals import Refused
from handler.storage.base import REQUEST_ID, RequestSummary, StoredRequest

if TYPE_CHECKING:
    from handler.usecases.conversing import Conversing

EARLIER_IN_MAIL = 3  # the desk's answer e-mailed to the requester quotes this many earlier messages


def to_requester(use: Conversing, request: StoredRequest, summary: RequestSummary, message: Message) -> list[Mail]:
    """The desk's message to the requester, answerable, and a copy to each address the request was copied to that
    has not asked to stop, with a link that stops them."""
    language = use.catalog.language_or_default(request.language)
    contact = use.contacts.get_contact(request.requester or "")
    request_id = summary.receipt.request_id
    link = f"{use.site_url}/{language}/my-requests/?id={request_id}" if use.site_url else ""
    to = Recipient(request.requester or "", contact.name if contact else "")
    texts = use.catalog.email(language)
    signed = use.reply_to(summary.receipt.reference)
    # The conversation's latest messages before this one, newest first, for the context a mail client lacks.
    earlier = [m for m in use.conversation.messages(request_id) if m.id != message.id][-EARLIER_IN_MAIL:][::-1]
    answer_to = signed or use.desk_inbox
    found = [mails.desk_message(texts, language, to, summary, message, link, answer_to, bool(signed), earlier)]
    muted = use.conversation.muted(request_id) if use.site_url else frozenset()
    form = use.catalog.forms.get(request.form_id)
    for address in copied(form, request.data, request.requester or "").values() if form else ():
        if address.lower() in muted:
            continue
        stop = ""
        if use.site_url:
            query = urlencode(
                {"r": request_id, "a": address, "s": replies.stop_signature(use.secret, request_id, address)}
            )
            stop = f"{use.site_url}/{language}/stop-emails/?{query}"
        copy = mails.desk_message(texts, language, Recipient(address), summary, message, "", use.desk_inbox, False)
        found.append(mails.with_stop_link(copy, texts, summary, stop) if stop else copy)
    return found


def stop_copies(use: Conversing, request_id: str, address: str, signature: str) -> str:
    """Send no more copies about the request to ``address``, if the link's signature holds; the reference."""
    summary = use.requests.summary(request_id) if REQUEST_ID.fullmatch(request_id) else None
    if summary is None or not replies.stop_signature_holds(use.secret, request_id, address, signature):
        raise Refused(Code.NOT_FOUND)  # a wrong link looks exactly like one to a request that is gone
    use.conversation.mute(request_id, address)
    return summary.receipt.reference
