"""Wires the parts the settings ask for: schema catalog, store, mailer and sign-in, built once."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from handler import observe
from handler.contacts import Contact
from handler.forms import Catalog, load_catalog
from handler.mail import Mail, Mailer, OutboxMailer, QueuedMail, Recipient, SesMailer, render
from handler.settings import Settings
from handler.signin import CODE_LIFETIME, SignIn
from handler.storage.base import StorageUnavailable, Store
from handler.storage.factory import make_store
from handler.texts import fill
from handler.uploads import Blobs, UploadReceiver

log = logging.getLogger("servicedesk_forms.mail")
MAIL_CLAIM = timedelta(minutes=2)  # how long a sender holds a queued message
MAIL_ATTEMPTS = 20  # then a message is given up (logged as an error, with the MailGivenUp metric)


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything a request handler or the command line needs."""

    settings: Settings
    catalog: Catalog
    store: Store
    mailer: Mailer
    sign_in: SignIn
    clock: Callable[[], datetime]
    blobs: Blobs
    secret: bytes

    mail_queued: Callable[[], None] = field(default=lambda: None)
    receiver: UploadReceiver | None = None  # takes uploaded files itself (the embedded default); None on AWS

    def queued(self, mails: Sequence[Mail]) -> list[QueuedMail]:
        """``mails`` as queue entries; the sender renders them."""
        now = self.clock()
        return [QueuedMail(uuid.uuid4().hex, tuple(m.recipients()), m.to_json(), 0, "", now) for m in mails]

    def queue(self, mails: Sequence[Mail], about: str) -> None:
        """Queue ``mails`` for the sender and wake it; never raises."""
        try:
            self.store.queue_mails(self.queued(mails))
        except Exception:
            log.exception("could not queue the e-mail about %s", about, extra={"about": about})
            return
        self.mail_queued()

    def send_now(self, mail: Mail, about: str) -> str | None:
        """Send ``mail`` while the caller waits; if that fails, queue it for a retry. Never raises."""
        try:
            return self.mailer.send(mail)
        except Exception as exc:  # any transport failure: the mail waits in the queue
            if may_have_gone_out(exc):
                log.error(
                    "e-mail about %s may have gone out although sending it failed; it is not sent again",
                    about,
                    extra={"about": about, "recipients": len(mail.recipients()), **failure(exc)},
                )
                return None
            log.warning(
                "e-mail about %s failed, queued for a retry",
                about,
                extra={"about": about, "recipients": len(mail.recipients()), **failure(exc)},
            )
            self.queue([mail], about)
            return None

    def send_queued_mail(self, limit: int = 100) -> tuple[int, int]:
        """Send what is queued; return how many were sent and how many failed this time.

        A failed message goes to the back of the queue (so it cannot hold up newer ones) until it has
        failed ``MAIL_ATTEMPTS`` times; a message that cannot even be built is dropped at once. Both
        are logged as errors for an operator to look at.

        Each message goes out at most once: it is marked in the store just before the mail service
        gets it, and a marked message is never offered again, even when forgetting it afterwards fails
        or the mail service's answer is lost. Its Message-ID is made from its queue id, so it is the
        same however often it is rendered.
        """
        sent = failed = 0
        started = self.clock()
        waiting = self.store.queued_mails(limit, started)
        for queued in waiting:
            now = self.clock()
            if not self.store.claim_mail(queued.id, now + MAIL_CLAIM, now):
                continue  # another sender has it
            try:
                mail = Mail.from_json(queued.message)
                message = queued_message(queued.id, mail, self.mailer.sender)
            except (ValueError, KeyError, TypeError) as exc:
                log.error(
                    "dropping queued e-mail %s, which cannot be built",
                    queued.id,
                    extra={"mailId": queued.id, **failure(exc), **observe.metrics({"MailGivenUp": (1, "Count")})},
                )
                self.store.forget_mail(queued.id)
                failed += 1
                continue
            if not self.store.mark_mail_sending(queued.id, now):
                continue  # another sender marked it first
            try:
                self.mailer.deliver(message, mail.recipients())
            except Exception as exc:
                failed += 1
                if may_have_gone_out(exc):
                    log.error(
                        "queued e-mail %s may have gone out although sending it failed; it is not sent again",
                        queued.id,
                        extra={"mailId": queued.id, **failure(exc)},
                    )
                    continue
                attempts = queued.attempts + 1
                if attempts >= MAIL_ATTEMPTS:
                    log.error(
                        "giving up on queued e-mail %s after %d attempts",
                        queued.id,
                        attempts,
                        extra={
                            "mailId": queued.id,
                            "attempts": attempts,
                            **failure(exc),
                            **observe.metrics({"MailGivenUp": (1, "Count")}),
                        },
                    )
                    self.store.forget_mail(queued.id)
                else:
                    log.warning(
                        "queued e-mail %s failed (attempt %d)",
                        queued.id,
                        attempts,
                        extra={"mailId": queued.id, "attempts": attempts, **failure(exc)},
                    )
                    self.store.queue_mails(
                        [replace(queued, attempts=attempts, last_error=str(exc)[:500], queued_at=now)]
                    )
                continue
            sent += 1
            try:
                self.store.forget_mail(queued.id)
            except StorageUnavailable as exc:  # it is marked as gone out: no sender takes it again
                log.warning(
                    "could not forget the sent e-mail %s; it stays marked as gone out until it is removed",
                    queued.id,
                    extra={"mailId": queued.id, **failure(exc)},
                )
        if waiting:
            # How long the message that waited longest since it was queued or last tried had waited.
            age = max(0.0, (started - min(q.queued_at for q in waiting)).total_seconds())
            values = {"MailSent": (sent, "Count"), "MailFailed": (failed, "Count"), "MailQueueAge": (age, "Seconds")}
            log.info(
                f"queued e-mail: {sent} sent, {failed} failed",
                extra={"waiting": len(waiting), "oldestSeconds": round(age, 1), **observe.metrics(values)},
            )
        return sent, failed


def message_id(mail_id: str, sender: str) -> str:
    """The Message-ID of the queued message ``mail_id``: the same every time it is rendered."""
    return f"<{mail_id}@{sender.rpartition('@')[2].strip('>') or 'localhost'}>"


def queued_message(mail_id: str, mail: Mail, sender: str) -> bytes:
    """The queued message rendered for sending, with the Message-ID its queue id gives it."""
    message = render(mail, sender)
    message.replace_header("Message-ID", message_id(mail_id, sender))
    return bytes(message)


def may_have_gone_out(exc: BaseException) -> bool:
    """Whether a failed send may have delivered the message after all: its answer was lost, or a server error."""
    try:
        from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
    except ImportError:  # no boto3: the embedded default's outbox fails clearly or not at all
        return False
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return True
    return isinstance(exc, ClientError) and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500


def failure(exc: BaseException) -> dict[str, str]:
    """What a log line says of an exception: its type, and its message cut short (addresses redacted)."""
    return {"failure": type(exc).__name__, "detail": observe.redact(str(exc))[:300]}


def code_mail(catalog: Catalog, contact: Contact, code: str, language: str) -> Mail:
    """The e-mail with a sign-in code, in the language the person asked in."""
    texts = catalog.common[language]["email"]
    minutes = str(int(CODE_LIFETIME.total_seconds() // 60))
    return Mail(
        to=(Recipient(contact.email, contact.name),),
        subject=texts["codeSubject"],
        paragraphs=(
            fill(texts["greeting"], {"name": contact.name}),
            fill(texts["codeBody"], {"code": code, "minutes": minutes}),
            texts["codeIgnore"],
            texts["signature"],
        ),
        language=language,
    )


def session_secret(settings: Settings) -> bytes:
    """The key sessions and codes are signed with: from the settings, from AWS Secrets Manager,
    or (embedded default only) a random key kept in the data folder."""
    if settings.session_secret:
        return settings.session_secret.encode()
    if settings.session_secret_arn:
        import boto3

        client = boto3.client("secretsmanager", region_name=settings.region or None)
        return str(client.get_secret_value(SecretId=settings.session_secret_arn)["SecretString"]).encode()
    path = settings.data_dir / "session-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


class LazyClient:
    """A boto3 client made on its first use, so that a container that never calls it never pays for it."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
        return getattr(self._client, name)


def make_mailer(settings: Settings) -> Mailer:
    """SES on AWS, its client made when the first message goes out; else the outbox folder under the data folder."""
    if settings.storage == "aws":

        def ses() -> Any:
            import boto3
            from botocore.config import Config

            # One try per call: botocore would otherwise send a message again after a timeout, when SES may
            # have taken it already. A refused send stays queued for the next round instead.
            config = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 1})
            # A session of its own: clients made from boto3's default session in several threads at once can fail.
            return boto3.session.Session().client(
                "ses", region_name=settings.region or None, endpoint_url=settings.ses_endpoint_url, config=config
            )

        # Creating the client (loading SES's service model) took about 120 ms of a cold start, and a
        # submission never sends mail on AWS: the table's stream does, in another invocation.
        return SesMailer(settings.mail_from, LazyClient(ses))
    return OutboxMailer(settings.mail_from, Path(settings.data_dir) / "outbox")


def make_blobs(settings: Settings, store: Store) -> tuple[Blobs, UploadReceiver | None]:
    """The bucket on AWS (through the store's own S3 client, made once), else a folder under the data folder,
    which also takes the uploaded files."""
    if settings.storage == "aws":
        from handler.storage.aws import AwsStore, S3Blobs

        aws = store if isinstance(store, AwsStore) else AwsStore.from_settings(settings)
        return S3Blobs(aws.s3, aws.bucket), None
    from handler.storage.local import LocalBlobs

    folder = LocalBlobs(Path(settings.data_dir) / "blobs")
    return folder, folder


def build_services(
    settings: Settings,
    catalog: Catalog | None = None,
    store: Store | None = None,
    mailer: Mailer | None = None,
    clock: Callable[[], datetime] = now_utc,
    blobs: Blobs | None = None,
) -> Services:
    """The services for ``settings``; any part given is used instead of the one the settings name."""
    catalog = catalog or load_catalog(settings.schema_dir)
    store = store or make_store(settings)
    mailer = mailer or make_mailer(settings)

    def send_code(contact: Contact, code: str, language: str) -> None:  # called once ``services`` exists
        services.queue([code_mail(catalog, contact, code, language)], "a sign-in code")

    secret = session_secret(settings)
    sign_in = SignIn(store, store, secret, send_code, clock)
    blobs, receiver = (blobs, None) if blobs else make_blobs(settings, store)
    services = Services(settings, catalog, store, mailer, sign_in, clock, blobs, secret, receiver=receiver)
    return services
