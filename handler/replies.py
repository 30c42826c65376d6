"""Replies by e-mail: each request's own signed Reply-To address, and the new text of a reply that comes back.

A request's reply address is ``svar+<reference>.<signature>@<reply domain>``: the signature is an HMAC of the
reference under the service's secret, so an address cannot be guessed for another request or forged. A reply's
new text is what is left once the quoted history, our own "write above this line" marker and the client's reply
header ("On … wrote:", "Fra: … Sendt: …", "… skrev …:") are cut off, by ``mail-parser-reply``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from email import policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

LOCAL_PART = "svar"
_ADDRESS = re.compile(r"^svar\+(?P<reference>[A-Z0-9-]{3,40})\.(?P<signature>[a-z2-7]{16})@(?P<domain>[^@\s]+)$", re.I)
# The languages whose reply headers are recognized, by the language the request was written in (Norwegian
# clients write their headers as Danish and Swedish ones do: "Den … skrev:", "Fra:/Sendt:/Til:/Emne:").
_REPLY_LANGUAGES = {"nb": ["da", "sv", "en"], "nn": ["da", "sv", "en"], "en": ["en"]}
# What marks a message as written by a machine: never answered, never appended.
_AUTOMATIC_SUBJECTS = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|svar)|automatisk svar|fraværsmelding|frav(æ|ae)r|out of (the )?office|"
    r"undeliverable|undelivered|delivery (status notification|has failed)|returned mail|mail delivery failed|"
    r"kan ikke leveres|ikke levert)",
    re.I,
)
# What the email package raises on a part it cannot read (unknown or broken charsets, broken encodings).
_MALFORMED = (LookupError, ValueError, AssertionError, MessageError)
_MACHINE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|bounces?)([+@]|$)", re.I)


def _signature(secret: bytes, reference: str) -> str:
    digest = hmac.new(secret, f"reply:{reference.upper()}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:16]


def stop_signature(secret: bytes, request_id: str, address: str) -> str:
    """What a link that stops the copies about a request to ``address`` is signed with."""
    message = f"stop:{request_id}:{address.lower()}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret, message, hashlib.sha256).digest()[:18]).decode()


def stop_signature_holds(secret: bytes, request_id: str, address: str, signature: str) -> bool:
    return hmac.compare_digest(
        stop_signature(secret, request_id, address).encode(), signature.encode("utf-8", "replace")
    )


def reply_address(secret: bytes, reference: str, domain: str) -> str:
    """The address replies about ``reference`` go to."""
    return f"{LOCAL_PART}+{reference}.{_signature(secret, reference)}@{domain}"


def reference_of(secret: bytes, address: str, domain: str) -> str | None:
    """The reference a reply address was made for, if it is one of ours and its signature holds."""
    found = _ADDRESS.match(address.strip())
    if not found or found["domain"].lower() != domain.lower():
        return None
    reference = found["reference"].upper()
    return reference if hmac.compare_digest(found["signature"].lower(), _signature(secret, reference)) else None


@dataclass(frozen=True)
class Incoming:
    """What the conversation needs of a mail that came in."""

    message_id: str
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    text: str  # the plain text, or the HTML's text without its quoted parts
    automatic: str | None  # why the mail is a machine's (an auto-reply, a bounce), or None
    attachments: tuple[tuple[str, str, bytes], ...] = field(default=())  # name, type, content
    unreadable: bool = False  # a file of it could not be read


class _Headers:
    """A mail's header fields as written (``compat32`` never parses them into structures, so no malformed field
    can raise), each decoded from its encoded words where that works."""

    def __init__(self, raw: bytes) -> None:
        self._message = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)

    def all(self, name: str) -> list[str]:
        return [_decoded(value) for value in self._message.get_all(name, [])]

    def first(self, name: str) -> str:
        found = self.all(name)
        return found[0] if found else ""

    def __contains__(self, name: str) -> bool:
        return name in self._message


def _decoded(value: object) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except _MALFORMED:  # an unknown charset, broken encoded words
        return str(value)


def read_mail(raw: bytes) -> Incoming:
    """The parts of a raw RFC 5322 message the conversation uses; never raises on malformed input."""
    headers = _Headers(raw)
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    name, sender = parseaddr(headers.first("From"))
    recipients = tuple(
        address
        for header in ("To", "Cc", "Delivered-To", "X-Original-To")
        for _, address in getaddresses(headers.all(header))
        if address
    )
    subject = " ".join(headers.first("Subject").split())
    files = _attachments(message)
    return Incoming(
        message_id=headers.first("Message-ID").strip()[:300],
        sender=sender.strip(),
        sender_name=name.strip()[:200],
        recipients=recipients,
        subject=subject[:300],
        text=_text(message),
        automatic=_automatic(headers, message, sender, subject),
        attachments=tuple(files or ()),
        unreadable=files is None,
    )


def ses_verdicts(raw: bytes) -> dict[str, str]:
    """SES's spam, virus, SPF and DKIM verdicts on a mail it stored: from the headers it puts first (a header of the
    same name further down, written by the sender, is never read)."""
    headers = _Headers(raw)

    def first(name: str) -> str:
        return headers.first(name).strip().lower()

    spf = first("Received-SPF").split(" ")[0]
    dkim = re.search(r"\bdkim=(\w+)", first("Authentication-Results"))
    found = {"spam": first("X-SES-Spam-Verdict"), "virus": first("X-SES-Virus-Verdict"), "spf": spf}
    found["dkim"] = dkim[1] if dkim else ""
    return {name: "FAIL" if value == "fail" else value.upper() or "NONE" for name, value in found.items()}


def new_text(incoming: Incoming, language: str, marker: str) -> str:
    """The reply's own text: above our marker line, without the quoted history, trailing blank lines gone."""
    text = incoming.text.replace("\r\n", "\n")
    if marker and marker in text:
        text = text.split(marker, 1)[0]
    from mailparser_reply import EmailReplyParser  # only when a mail comes in, not at every cold start

    parsed = EmailReplyParser(languages=_REPLY_LANGUAGES.get(language, ["en"])).read(text).replies
    # The first part is the new text (its sign-off kept), unless it starts with a reply header: then all is quoted.
    latest = parsed[0].content if parsed and not parsed[0].headers else ""
    lines = [line.rstrip() for line in latest.splitlines() if not line.startswith(">")]
    return "\n".join(lines).strip()


def _automatic(headers: _Headers, message: EmailMessage, sender: str, subject: str) -> str | None:
    auto = headers.first("Auto-Submitted").strip().lower() or "no"
    if auto != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = headers.first("Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond"):
        if header in headers:
            return header
    if message.get_content_type() == "multipart/report":
        return "a delivery status notification"
    if _MACHINE_SENDERS.match(sender):
        return "sent by a mail system"
    if _AUTOMATIC_SUBJECTS.match(subject):
        return "an automatic reply by its subject"
    return None


def _text(message: EmailMessage) -> str:
    try:
        body = message.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        content = str(body.get_content())
    except _MALFORMED:  # an unknown charset or a broken part: no text
        return ""
    return html_text(content) if body.get_content_type() == "text/html" else content


def _attachments(message: EmailMessage) -> list[tuple[str, str, bytes]] | None:
    """The mail's files, or None when one cannot be read (it is refused rather than taken without it)."""
    found = []
    try:
        for part in message.iter_attachments():
            if part.get("Content-ID") and part.get_content_disposition() != "attachment":
                continue  # an image the HTML shows in its text (a logo in a signature): part of the layout, not a file
            content = part.get_content()
            data = content if isinstance(content, bytes) else str(content).encode()
            found.append((str(part.get_filename() or "vedlegg")[:200], part.get_content_type(), data))
    except _MALFORMED:
        return None
    return found


class _HtmlText(HTMLParser):
    """An HTML mail's text: paragraphs and line breaks kept, the quoted history (blockquotes, the clients' quote
    containers) left out, scripts and styles never read."""

    # Where a client puts the mail it answers: everything from there on is the quoted history.
    _QUOTES = ("gmail_quote", "moz-cite-prefix", "divrplyfwdmsg", "appendonsend", "yahoo_quoted", "protonmail_quote")
    _BLOCKS = frozenset({"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "table"})
    _VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []  # the tags whose content is left out, innermost last
        self._history = False  # inside the quoted history: nothing more is read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            if tag == "br" and not self._skipping and not self._history:
                self.parts.append("\n")
            return
        marks = " ".join(value or "" for name, value in attrs if name in ("class", "id", "type")).lower()
        if any(quote in marks for quote in self._QUOTES):
            self._history = True
        if self._history:
            return
        if self._skipping or tag in ("script", "style", "head", "blockquote"):
            self._skipping.append(tag)
            return
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._history:
            return
        if self._skipping:
            if self._skipping[-1] == tag:
                self._skipping.pop()
            return
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping and not self._history:
            self.parts.append(" ".join(data.split()) if data.strip() else "")


def html_text(html: str) -> str:
    """The readable text of an HTML body, without what it quotes."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()
