"""Wires the parts the settings ask for: schema catalog, store, mailer and sign-in, built once."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handler import mails
from handler.contacts import Contact
from handler.conversation import Conversation
from handler.forwarding import ForwardQueue
from handler.mail import Mail, Mailer, OutboxMailer, SesMailer
from handler.receipts import Receipts
from handler.schema.catalog import Catalog
from handler.schema.loader import load_catalog
from handler.settings import ConfigurationError, Settings
from handler.signin import CODE_LIFETIME, SignIn
from handler.sso import OpenIdClient, ProvidersInvalid, http_fetch, read_providers
from handler.storage.base import RequestBlobs, Store
from handler.storage.factory import make_store
from handler.tickets import TicketSystem
from handler.uploads import UploadReceiver
from handler.usecases import mailing
from handler.usecases.conversing import Conversing
from handler.usecases.desk import Desk, change_status
from handler.usecases.following import Following
from handler.usecases.forwarding import Forwarding
from handler.usecases.mailing import Mailing
from handler.usecases.sso_signin import SsoSignIn
from handler.usecases.submitting import AtOnce, Submitting, overlapping
from handler.usecases.ticket_events import TicketEvents
from handler.usecases.uploading import Uploading


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """The parts a use case works with, built once (``build_services``): data only, no behaviour of its own."""

    settings: Settings
    catalog: Catalog
    store: Store
    mailer: Mailer
    sign_in: SignIn
    clock: Callable[[], datetime]
    blobs: RequestBlobs
    secret: bytes

    mailing: Mailing
    conversing: Conversing
    forwarding: Forwarding
    sso: SsoSignIn
    ticket_events: TicketEvents
    following: Following
    uploading: Uploading
    desk: Desk
    submitting: Submitting
    mail_queued: Callable[[], None] = field(default=lambda: None)
    receiver: UploadReceiver | None = None  # takes uploaded files itself (the embedded default); None on AWS


def code_mail(catalog: Catalog, contact: Contact, code: str, language: str) -> Mail:
    """The e-mail with a sign-in code, in the language the person asked in."""
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return mails.code_mail(catalog.email(language), language, contact, code, minutes)


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


def with_forward_secret(settings: Settings) -> Settings:
    """The settings with the ticket system's API token and webhook secret read from Secrets Manager, when they are
    kept there (``SDF_FORWARD_SECRET_ARN``)."""
    if not settings.forward or not settings.forward_secret_arn:
        return settings
    if settings.zendesk_token if settings.forward == "zendesk" else settings.jsm_token:
        return settings
    import boto3

    client = boto3.client("secretsmanager", region_name=settings.region or None)
    kept = json.loads(client.get_secret_value(SecretId=settings.forward_secret_arn)["SecretString"])
    token, webhook = str(kept.get("token", "")), str(kept.get("webhookSecret", ""))
    if settings.forward == "zendesk":
        return replace(settings, zendesk_token=token, zendesk_webhook_secret=webhook)
    return replace(settings, jsm_token=token, jsm_webhook_secret=webhook)


def sso_client(settings: Settings, secret: bytes) -> OpenIdClient | None:
    """The client of the providers ``SDF_SSO_PROVIDERS`` declares (a file, or a secret's ARN on AWS), if any."""
    source = settings.sso_providers
    if not source:
        return None
    if source.startswith("arn:"):
        import boto3

        client = boto3.client("secretsmanager", region_name=settings.region or None)
        text = str(client.get_secret_value(SecretId=source)["SecretString"])
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"SDF_SSO_PROVIDERS: cannot read {source}: {exc.strerror}") from exc
    try:
        return OpenIdClient(read_providers(text), secret, http_fetch)
    except ProvidersInvalid as exc:
        raise ConfigurationError(f"SDF_SSO_PROVIDERS: {exc}") from exc


def ticket_system(settings: Settings) -> TicketSystem | None:
    """The desk's ticket system the settings name, if any (its HTTP client loaded only then)."""
    if settings.forward == "zendesk":
        from handler.tickets.zendesk import Zendesk

        return Zendesk(settings.zendesk_url, settings.zendesk_email, settings.zendesk_token)
    if settings.forward == "jsm":
        from handler.tickets.jsm import Jsm

        return Jsm(settings.jsm_url, settings.jsm_email, settings.jsm_token, settings.jsm_service_desk_id)
    return None


def conversing_for(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    blobs: RequestBlobs,
    secret: bytes,
    clock: Callable[[], datetime],
    queue: Callable[[Sequence[Mail], str], None],
    forwards: ForwardQueue,
    conversation: Conversation,
) -> Conversing:
    """The conversations' ports: the store's, the settings' desk, and the ticket system's comments when forwarding."""

    def for_the_ticket(request_id: str) -> None:  # a requester's new message, for the ticket's comments
        forwards.forward_later(request_id, settings.forward, clock())

    def ticket_url(request_id: str) -> str:
        ticket = forwards.ticket_of(request_id)
        return ticket.url if ticket else ""

    return Conversing(
        requests=store.requests,
        conversation=conversation,
        contacts=store.contacts,
        catalog=catalog,
        queue=queue,
        clock=clock,
        desk_inbox=settings.desk_inbox,
        desk_language=settings.desk_language or catalog.default_language,
        site_url=settings.site_url,
        blobs=blobs,
        uploads=store.uploads,
        secret=secret,
        reply_domain=settings.reply_domain,
        agents=settings.agents,
        for_the_ticket=for_the_ticket if settings.forward else None,
        ticket_url=ticket_url if settings.forward else None,
    )


def submitting_for(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    blobs: RequestBlobs,
    reply_to: Callable[[str], str | None],
    mailing_use: Mailing,
    clock: Callable[[], datetime],
) -> Submitting:
    """The submissions' ports: the store's, the receipts in the desk's words, and the settings' limits."""
    desk_language = settings.desk_language or catalog.default_language
    return Submitting(
        catalog,
        store.requests,
        store.contacts,
        store.sign_in,
        store.uploads,
        blobs,
        Receipts(catalog, reply_to, settings.desk_inbox, desk_language),
        mailing_use,
        clock,
        settings.submissions_per_day,
        settings.cc_addresses_per_day,
        settings.forward,
        overlapping() if store.remote else AtOnce(),
    )


def desk_for(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    mailing_use: Mailing,
    clock: Callable[[], datetime],
    reply_to: Callable[[str], str | None],
) -> Desk:
    """The desk's ports: the store's requests and contacts, the mail queue, the settings' inbox and site."""
    inbox, site = settings.desk_inbox, settings.site_url
    return Desk(store.requests, store.contacts, catalog, mailing_use, clock, reply_to, inbox, site)


def build_services(
    settings: Settings,
    catalog: Catalog | None = None,
    store: Store | None = None,
    mailer: Mailer | None = None,
    clock: Callable[[], datetime] = now_utc,
    blobs: RequestBlobs | None = None,
) -> Services:
    """The services for ``settings``; any part given is used instead of the one the settings name."""
    settings = with_forward_secret(settings)
    catalog = catalog or load_catalog(settings.schema_dir)
    store = store or make_store(settings)
    mailer = mailer or make_mailer(settings)

    def send_code(contact: Contact, code: str, language: str) -> None:  # called once ``services`` exists
        mailing.queue(services.mailing, [code_mail(catalog, contact, code, language)], "a sign-in code")

    def queue(mails: Sequence[Mail], about: str) -> None:  # called once ``services`` exists
        mailing.queue(services.mailing, mails, about)

    def api_user() -> str:  # the system in use now (a test may give forwarding another client)
        return getattr(services.forwarding.system, "email", "")

    secret = session_secret(settings)
    sign_in = SignIn(store.contacts, store.sign_in, secret, send_code, clock)
    blobs, receiver = (blobs, None) if blobs else store.files()
    forwards, conversation = store.forwards(), store.conversation()
    conversing = conversing_for(settings, catalog, store, blobs, secret, clock, queue, forwards, conversation)
    forwarding = Forwarding(
        store.requests, forwards, conversation, store.contacts, catalog, blobs, clock, ticket_system(settings)
    )
    sso = SsoSignIn(sso_client(settings, secret), store.contacts, sign_in.session_for, clock, catalog.languages)
    mailing_use = Mailing(store.mail, mailer, clock, lambda: services.mail_queued())
    desk = desk_for(settings, catalog, store, mailing_use, clock, conversing.reply_to)

    def move(request_id: str, status: str, who: str) -> None:
        change_status(desk, request_id, status, who)

    services = Services(
        settings,
        catalog,
        store,
        mailer,
        sign_in,
        clock,
        blobs,
        secret,
        mailing_use,
        conversing,
        forwarding,
        sso,
        TicketEvents(forwards, store.requests, catalog.tickets, conversing, move, api_user),
        Following(store.requests, conversation),
        Uploading(catalog, store.contacts, store.uploads, store.sign_in, blobs, receiver, clock, secret),
        desk,
        submitting_for(settings, catalog, store, blobs, conversing.reply_to, mailing_use, clock),
        receiver=receiver,
    )
    return services
