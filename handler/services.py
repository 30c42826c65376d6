"""Wires the parts the settings ask for: schema catalog, store, mailer and sign-in, built once."""

from __future__ import annotations

import logging
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from handler.contacts import Contact
from handler.forms import Catalog, load_catalog
from handler.mail import Mail, Mailer, OutboxMailer, QueuedMail, Recipient, SesMailer, render
from handler.settings import Settings
from handler.signin import CODE_LIFETIME, SignIn
from handler.storage.base import Store
from handler.storage.factory import make_store
from handler.uploads import Blobs

log = logging.getLogger("servicedesk_forms.mail")
MAIL_CLAIM = timedelta(minutes=2)  # how long a sender holds a queued message
MAIL_ATTEMPTS = 20  # then a message is given up (and logged as an error)


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

    def queued(self, mails: Sequence[Mail]) -> list[QueuedMail]:
        """``mails`` as queue entries; the sender renders them."""
        now = self.clock()
        return [QueuedMail(uuid.uuid4().hex, tuple(m.recipients()), m.to_json(), 0, "", now) for m in mails]

    def queue(self, mails: Sequence[Mail], about: str) -> None:
        """Queue ``mails`` for the sender and wake it; never raises."""
        try:
            self.store.queue_mails(self.queued(mails))
        except Exception:
            log.exception("could not queue the e-mail about %s", about)
            return
        self.mail_queued()

    def send_now(self, mail: Mail, about: str) -> str | None:
        """Send ``mail`` while the caller waits; if that fails, queue it for a retry. Never raises."""
        try:
            return self.mailer.send(mail)
        except Exception as exc:  # any transport failure: the mail waits in the queue
            log.warning(
                "e-mail about %s to %s failed, queued for a retry: %s", about, ", ".join(mail.recipients()), exc
            )
            self.queue([mail], about)
            return None

    def send_queued_mail(self, limit: int = 100) -> tuple[int, int]:
        """Send what is queued; return how many were sent and how many failed this time.

        A failed message goes to the back of the queue (so it cannot hold up newer ones) until it has
        failed ``MAIL_ATTEMPTS`` times; a message that cannot even be built is dropped at once. Both
        are logged as errors for an operator to look at.
        """
        sent = failed = 0
        for queued in self.store.queued_mails(limit, self.clock()):
            now = self.clock()
            if not self.store.claim_mail(queued.id, now + MAIL_CLAIM, now):
                continue  # another sender has it
            try:
                mail = Mail.from_json(queued.message)
                message = bytes(render(mail, self.mailer.sender))
            except (ValueError, KeyError, TypeError) as exc:
                log.error("dropping queued e-mail %s, which cannot be built: %s", queued.id, exc)
                self.store.forget_mail(queued.id)
                failed += 1
                continue
            try:
                self.mailer.deliver(message, mail.recipients())
            except Exception as exc:
                failed += 1
                attempts = queued.attempts + 1
                if attempts >= MAIL_ATTEMPTS:
                    log.error(
                        "giving up on e-mail %s to %s after %d attempts: %s",
                        queued.id,
                        queued.recipients,
                        attempts,
                        exc,
                    )
                    self.store.forget_mail(queued.id)
                else:
                    log.warning("queued e-mail %s failed (attempt %d): %s", queued.id, attempts, exc)
                    self.store.queue_mails(
                        [replace(queued, attempts=attempts, last_error=str(exc)[:500], queued_at=now)]
                    )
                continue
            sent += 1
            self.store.forget_mail(queued.id)
        return sent, failed


def code_mail(catalog: Catalog, contact: Contact, code: str, language: str) -> Mail:
    """The e-mail with a sign-in code, in the language the person asked in."""
    texts = catalog.common[language]["email"]
    minutes = str(int(CODE_LIFETIME.total_seconds() // 60))
    return Mail(
        to=(Recipient(contact.email, contact.name),),
        subject=texts["codeSubject"],
        paragraphs=(
            texts["greeting"].replace("{name}", contact.name),
            texts["codeBody"].replace("{code}", code).replace("{minutes}", minutes),
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


def make_mailer(settings: Settings) -> Mailer:
    """SES on AWS, else the outbox folder under the data folder."""
    if settings.storage == "aws":
        import boto3

        ses = boto3.client("ses", region_name=settings.region or None, endpoint_url=settings.ses_endpoint_url)
        return SesMailer(settings.mail_from, ses)
    return OutboxMailer(settings.mail_from, Path(settings.data_dir) / "outbox")


def make_blobs(settings: Settings, store: Store) -> Blobs:
    """The bucket on AWS (through the store's own S3 client, made once), else a folder under the data folder."""
    if settings.storage == "aws":
        from handler.storage.aws import AwsStore, S3Blobs

        aws = store if isinstance(store, AwsStore) else AwsStore.from_settings(settings)
        return S3Blobs(aws.s3, aws.bucket)
    from handler.storage.local import LocalBlobs

    return LocalBlobs(Path(settings.data_dir) / "blobs")


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
        services.queue([code_mail(catalog, contact, code, language)], f"a sign-in code for {contact.email}")

    secret = session_secret(settings)
    sign_in = SignIn(store, store, secret, send_code, clock)
    services = Services(settings, catalog, store, mailer, sign_in, clock, blobs or make_blobs(settings, store), secret)
    return services
