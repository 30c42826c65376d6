"""E-mail: messages in plain text and HTML, sent through SES on AWS or written to a local outbox."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from handler.addresses import deliverable

log = logging.getLogger("servicedesk_forms.mail")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls, DEL, and every line break str.splitlines() knows (\x85, \u2028, \u2029 among them).
_HEADER_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_BODY_BREAK = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ATOMS = re.compile(rf"{_ATOM}(?: {_ATOM})*")
_LINE = 78
# Headers given as text (the address headers) are written as they are, never refolded.
_POLICY = policy.default.clone(refold_source="none")


def one_line(text: str) -> str:
    """Text made safe for a header: controls and line breaks become spaces, and no encoded word can start."""
    text = _HEADER_BREAK.sub(" ", _SURROGATE.sub("\ufffd", text)).strip()
    # The email package decodes any "=?charset?q?...?=" it meets when it folds a header, on some Python
    # versions straight into the output, so user text must never contain the sequence that opens one.
    return text.replace("=?", "= ?")


def body_text(text: str) -> str:
    """Text made safe for a body: line breaks become newlines, other controls except tab become U+FFFD."""
    text = _BODY_BREAK.sub("\n", _SURROGATE.sub("\ufffd", text))
    return _BODY_CONTROL.sub("\ufffd", text)


def writable_address(email: str) -> bool:
    """Whether an address can go into a header as it is: the one rule of a deliverable address, which the page
    and the API apply to every address they take (``handler.addresses``), so this refuses only what they never
    let in."""
    # The email package decodes an encoded word at the start of a local part, and a local part with a dot
    # at either end or two in a row is not a dot-atom (Python 3.11 and 3.12 crash parsing one in a list).
    return deliverable(email.strip())


@dataclass(frozen=True)
class Recipient:
    """Someone a message goes to."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class Mail:
    """One message: paragraphs become both the plain-text and the HTML body."""

    to: tuple[Recipient, ...]
    subject: str
    paragraphs: tuple[str, ...]
    language: str
    reply_to: Recipient | None = None
    cc: tuple[Recipient, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def recipients(self) -> list[str]:
        """Every address the message is delivered to: those ``render`` can write into its headers."""
        return [r.email.strip() for r in (*self.to, *self.cc) if writable_address(r.email)]

    def to_json(self) -> bytes:
        """The message as JSON, to wait in a queue; rendering waits for the sender."""
        return json.dumps(asdict(self), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Mail:
        """A message read back from ``to_json``."""
        fields = json.loads(raw)
        people = {k: tuple(Recipient(**r) for r in fields[k]) for k in ("to", "cc")}
        reply_to = Recipient(**fields["reply_to"]) if fields["reply_to"] else None
        return cls(**{**fields, **people, "paragraphs": tuple(fields["paragraphs"]), "reply_to": reply_to})


def _display_name(name: str) -> list[str]:
    """The words of a display name: plain atoms as they are, other ASCII quoted, the rest RFC 2047 encoded."""
    if not name:
        return []
    if _ATOMS.fullmatch(name):
        return name.split(" ")
    if name.isascii():
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return Header(name, "utf-8").encode(linesep="\n").split()


def _address_list(header: str, recipients: Sequence[Recipient]) -> str | None:
    """An address header's value, folded between words, or None when no recipient can be written."""
    mailboxes = []
    for recipient in recipients:
        if not writable_address(recipient.email):
            # The address is for a local reader: the JSON lines on AWS redact it (handler.observe).
            log.warning(
                "leaving out %r, which cannot be written into a header safely",
                recipient.email,
                extra={"header": header},
            )
            continue
        name = _display_name(one_line(recipient.name))
        email = recipient.email.strip()
        mailboxes.append([*name, f"<{email}>"] if name else [email])
    if not mailboxes:
        return None
    words = [word for mailbox in mailboxes[:-1] for word in [*mailbox[:-1], mailbox[-1] + ","]] + mailboxes[-1]
    lines, room = [""], _LINE - len(header) - 2
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > room:
            lines.append("")
            room = _LINE - 1
        lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return "\n ".join(lines)


def _transfer_encoding(text: str) -> str | None:
    # Non-ASCII text goes quoted-printable; ASCII is left to the email package (7bit, or an encoding
    # when lines are too long for 7bit).
    return None if text.isascii() else "quoted-printable"


def render(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message; headers are built from parts, so no value can add a header of its own."""
    to = _address_list("To", mail.to)
    if to is None:
        raise ValueError("no recipient address can be written into the message")
    # The address headers are written here, not folded by the email package: on Python 3.11 to 3.13 its
    # folder can drop the quotes around a long display name, so that part of the name becomes the address.
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message.set_raw("To", to)
    cc = _address_list("Cc", mail.cc)
    if cc is not None:
        message.set_raw("Cc", cc)
    subject = one_line(mail.subject)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or "localhost")
    reply_to = _address_list("Reply-To", [mail.reply_to] if mail.reply_to else [])
    if reply_to is not None:
        message.set_raw("Reply-To", reply_to)
    for name, value in mail.headers.items():
        message[name] = one_line(value)
    paragraphs = [body_text(p) for p in mail.paragraphs]
    text = "\n\n".join(paragraphs) + "\n"
    message.set_content(text, cte=_transfer_encoding(text))
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>\n" for p in paragraphs)
    page = (
        f'<!doctype html>\n<html lang="{html.escape(one_line(mail.language))}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n{body}</body></html>\n"
    )
    message.add_alternative(page, subtype="html", cte=_transfer_encoding(page))
    message["Content-Language"] = one_line(mail.language)  # after the bodies: setting content resets Content-*
    return message


class Mailer(ABC):
    """Sends messages."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, mail: Mail) -> str:
        """Send ``mail``; return where it went (a message id or a file path)."""
        return self.deliver(bytes(render(mail, self.sender)), mail.recipients())

    @abstractmethod
    def deliver(self, message: bytes, recipients: list[str]) -> str:
        """Hand a rendered message to the transport."""


class OutboxMailer(Mailer):
    """The embedded default: each message becomes an .eml file in a folder, and the path is logged."""

    def __init__(self, sender: str, folder: Path) -> None:
        super().__init__(sender)
        self.folder = folder

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        """Write the message to the outbox folder, readable by its owner only (it may hold a sign-in code)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        # Written under another name and then renamed, so whoever reads the folder never sees half a message.
        writing = path.with_name(f".{path.name}.part")
        with os.fdopen(os.open(writing, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(message)
        os.replace(writing, path)
        log.info("e-mail to %s: %s", ", ".join(recipients), path.resolve(), extra={"recipients": len(recipients)})
        return str(path)


class SesMailer(Mailer):
    """Amazon SES through boto3's ``send_raw_email``."""

    def __init__(self, sender: str, ses: Any) -> None:
        super().__init__(sender)
        self.ses = ses

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        """Send the message through SES."""
        answer = self.ses.send_raw_email(Source=self.sender, Destinations=recipients, RawMessage={"Data": message})
        return str(answer["MessageId"])


@dataclass(frozen=True)
class QueuedMail:
    """A message waiting to be sent (``Mail.to_json``), with how often sending it failed and why."""

    id: str
    recipients: tuple[str, ...]
    message: bytes
    attempts: int
    last_error: str
    queued_at: datetime


class MailQueue(ABC):
    """Messages wait here, so that sending them never holds up or fails the answer to a request."""

    @abstractmethod
    def mark_mail_sending(self, mail_id: str, now: datetime) -> bool:
        """Mark the message as going out, just before it is sent: no sender gets it again; False if one did."""

    @abstractmethod
    def interrupted_mails(self, before: datetime) -> list[QueuedMail]:
        """Messages marked as going out before ``before`` and never forgotten: the sender stopped while sending
        them or could not forget them after, so each may or may not have gone out."""

    @abstractmethod
    def queue_mails(self, mails: Sequence[QueuedMail]) -> None:
        """Add messages, or replace them (which also lets go of any claim on them)."""

    @abstractmethod
    def queued_mails(self, limit: int, now: datetime) -> list[QueuedMail]:
        """The oldest messages nobody is sending right now, at most ``limit``."""

    @abstractmethod
    def claim_mail(self, mail_id: str, until: datetime, now: datetime) -> bool:
        """Take a message for sending until ``until``; False if it is gone or another sender has it."""

    @abstractmethod
    def forget_mail(self, mail_id: str) -> None:
        """Drop a message that has been sent."""

    @abstractmethod
    def give_up_mail(self, mail: QueuedMail) -> None:
        """Move a message out of the queue into the given-up list (its ``last_error`` says why), where it
        stays until it is sent again."""

    @abstractmethod
    def given_up_mails(self, limit: int) -> list[QueuedMail]:
        """The given-up messages, oldest first, at most ``limit``."""

    @abstractmethod
    def resend_mail(self, mail_id: str, now: datetime) -> bool:
        """Put a given-up message back in the queue with no attempts counted; False if there is none."""
