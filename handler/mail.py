"""E-mail: messages in plain text and HTML, sent through SES on AWS or written to a local outbox."""

from __future__ import annotations

import html
import json
import logging
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

log = logging.getLogger("servicedesk_forms.mail")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Text made safe for a header: control characters and line breaks become single spaces."""
    return _CONTROL.sub(" ", text).strip()


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
        """Every address the message is delivered to."""
        return [r.email for r in (*self.to, *self.cc)]

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


def _address(recipient: Recipient) -> Address:
    local, _, domain = recipient.email.rpartition("@")
    return Address(display_name=one_line(recipient.name), username=local, domain=domain)


def render(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message; headers are built from parts, so no value can add a header of its own."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = [_address(r) for r in mail.to]
    if mail.cc:
        message["Cc"] = [_address(r) for r in mail.cc]
    message["Subject"] = one_line(mail.subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or "localhost")
    if mail.reply_to:
        message["Reply-To"] = _address(mail.reply_to)
    for name, value in mail.headers.items():
        message[name] = one_line(value)
    message.set_content("\n\n".join(mail.paragraphs) + "\n")
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>\n" for p in mail.paragraphs)
    message.add_alternative(
        f'<!doctype html>\n<html lang="{html.escape(mail.language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(one_line(mail.subject))}</title></head>\n<body>\n{body}</body></html>\n",
        subtype="html",
    )
    message["Content-Language"] = mail.language  # after the bodies: setting content resets Content-* headers
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
        """Write the message to the outbox folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message)
        log.info("e-mail to %s: %s", ", ".join(recipients), path.resolve())
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
