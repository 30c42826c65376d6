"""Sending e-mail: queued with what it is about, sent by the queue's sender at most once per message."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from handler import observe
from handler.mail import Mail, QueuedMail, render
from handler.storage.base import StorageUnavailable

if TYPE_CHECKING:
    from handler.services import Services

log = logging.getLogger("servicedesk_forms.mail")
MAIL_CLAIM = timedelta(minutes=2)  # how long a sender holds a queued message
MAIL_ATTEMPTS = 20  # then a message is given up (logged as an error, with the MailGivenUp metric)


def queued(services: Services, mails: Sequence[Mail]) -> list[QueuedMail]:
    """``mails`` as queue entries; the sender renders them."""
    now = services.clock()
    return [QueuedMail(uuid.uuid4().hex, tuple(m.recipients()), m.to_json(), 0, "", now) for m in mails]


def queue(services: Services, mails: Sequence[Mail], about: str) -> None:
    """Queue ``mails`` for the sender and wake it; never raises."""
    try:
        services.store.queue_mails(queued(services, mails))
    except Exception:
        log.exception("could not queue the e-mail about %s", about, extra={"about": about})
        return
    services.mail_queued()


def send_now(services: Services, mail: Mail, about: str) -> str | None:
    """Send ``mail`` while the caller waits; if that fails, queue it for a retry. Never raises."""
    try:
        return services.mailer.send(mail)
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
        queue(services, [mail], about)
        return None


def send_queued_mail(services: Services, limit: int = 100) -> tuple[int, int]:
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
    started = services.clock()
    waiting = services.store.queued_mails(limit, started)
    for queued in waiting:
        now = services.clock()
        if not services.store.claim_mail(queued.id, now + MAIL_CLAIM, now):
            continue  # another sender has it
        try:
            mail = Mail.from_json(queued.message)
            message = queued_message(queued.id, mail, services.mailer.sender)
        except (ValueError, KeyError, TypeError) as exc:
            log.error(
                "dropping queued e-mail %s, which cannot be built",
                queued.id,
                extra={"mailId": queued.id, **failure(exc), **observe.metrics({"MailGivenUp": (1, "Count")})},
            )
            services.store.forget_mail(queued.id)
            failed += 1
            continue
        if not services.store.mark_mail_sending(queued.id, now):
            continue  # another sender marked it first
        try:
            services.mailer.deliver(message, mail.recipients())
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
                services.store.forget_mail(queued.id)
            else:
                log.warning(
                    "queued e-mail %s failed (attempt %d)",
                    queued.id,
                    attempts,
                    extra={"mailId": queued.id, "attempts": attempts, **failure(exc)},
                )
                services.store.queue_mails(
                    [replace(queued, attempts=attempts, last_error=str(exc)[:500], queued_at=now)]
                )
            continue
        sent += 1
        try:
            services.store.forget_mail(queued.id)
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
