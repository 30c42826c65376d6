"""Sending e-mail: queued with what it is about, sent by the queue's sender at most once per message."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from handler import observe
from handler.mail import Mail, Mailer, MailQueue, QueuedMail, render
from handler.storage.base import StorageUnavailable

log = logging.getLogger("servicedesk_forms.mail")
MAIL_CLAIM = timedelta(minutes=2)  # how long a sender holds a queued message
MAIL_ATTEMPTS = 20  # then a message is given up (logged as an error, with the MailGivenUp metric)
# A failed message waits before its next try: a minute, then twice as long each time, at most this long (twenty
# tries take about two days).
MAIL_BACKOFF_LIMIT = timedelta(hours=4)
LOST_ANSWER = "the mail service's answer was lost, so it may have gone out: check before sending it again"
INTERRUPTED = "the sender stopped while sending it, so it may have gone out: check before sending it again"
# A message marked as going out this long ago and never forgotten was interrupted (a send takes seconds).
INTERRUPTED_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Mailing:
    """What sending e-mail works with, built once by the container."""

    outbox: MailQueue  # the queue, in the store
    mailer: Mailer
    clock: Callable[[], datetime]
    wake: Callable[[], None]  # tells the sender that mail was queued


def queued(use: Mailing, mails: Sequence[Mail]) -> list[QueuedMail]:
    """``mails`` as queue entries; the sender renders them."""
    now = use.clock()
    return [QueuedMail(uuid.uuid4().hex, tuple(m.recipients()), m.to_json(), 0, "", now) for m in mails]


def queue(use: Mailing, mails: Sequence[Mail], about: str) -> None:
    """Queue ``mails`` for the sender and wake it; never raises."""
    try:
        use.outbox.queue_mails(queued(use, mails))
    except Exception:
        log.exception("could not queue the e-mail about %s", about, extra={"about": about})
        return
    use.wake()


def send_now(use: Mailing, mail: Mail, about: str) -> str | None:
    """Send ``mail`` while the caller waits; if that fails, queue it for a retry. Never raises."""
    try:
        return use.mailer.send(mail)
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
        queue(use, [mail], about)
        return None


def send_queued_mail(use: Mailing, limit: int = 100) -> tuple[int, int]:
    """Send what is queued; return how many were sent and how many failed this time.

    A message the mail service refused (an error answer, throttling included) goes to the back of the
    queue and waits longer after each failure, until it has failed ``MAIL_ATTEMPTS`` times. Then, or at
    once when it cannot be built or the service's answer was lost (it may have gone out), it is given up:
    kept in the store's given-up list for `mail failed` and `mail resend`, logged as an error and counted
    by the MailGivenUp metric, whose alarm tells an operator.

    Each message goes out at most once: it is marked in the store just before the mail service
    gets it, and a marked message is never offered again, even when forgetting it afterwards fails.
    Its Message-ID is made from its queue id, so it is the same however often it is rendered.
    """
    sent = failed = 0
    started = use.clock()
    waiting = use.outbox.queued_mails(limit, started)
    for queued in waiting:
        now = use.clock()
        if not use.outbox.claim_mail(queued.id, now + MAIL_CLAIM, now):
            continue  # another sender has it
        try:
            mail = Mail.from_json(queued.message)
            message = queued_message(queued.id, mail, use.mailer.sender)
        except (ValueError, KeyError, TypeError) as exc:
            give_up(use, replace(queued, last_error=f"cannot be built: {exc}"[:500], queued_at=now), exc)
            failed += 1
            continue
        if not use.outbox.mark_mail_sending(queued.id, now):
            continue  # another sender marked it first
        try:
            use.mailer.deliver(message, mail.recipients())
        except Exception as exc:
            failed += 1
            attempts = queued.attempts + 1
            tried = replace(queued, attempts=attempts, last_error=str(exc)[:500], queued_at=now)
            if may_have_gone_out(exc):
                give_up(use, replace(tried, last_error=LOST_ANSWER), exc)
            elif attempts >= MAIL_ATTEMPTS:
                give_up(use, tried, exc)
            else:
                retry_later(use, tried, exc)
            continue
        sent += 1
        try:
            use.outbox.forget_mail(queued.id)
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


def retry_later(use: Mailing, tried: QueuedMail, exc: BaseException) -> None:
    """Queue the message again, held back by a wait that doubles with each failed attempt."""
    wait = min(timedelta(minutes=2 ** (tried.attempts - 1)), MAIL_BACKOFF_LIMIT)
    log.warning(
        "queued e-mail %s failed (attempt %d), tried again in %d minutes",
        tried.id,
        tried.attempts,
        wait.total_seconds() // 60,
        extra={"mailId": tried.id, "attempts": tried.attempts, **failure(exc)},
    )
    use.outbox.queue_mails([tried])
    use.outbox.claim_mail(tried.id, tried.queued_at + wait, tried.queued_at)


def give_up_interrupted(use: Mailing) -> int:
    """Give up, with a trace, each message whose sender stopped between marking it and forgetting it: it may have
    gone out, so it is never sent again by itself; ``mail failed`` lists it. Returns how many."""
    now = use.clock()
    interrupted = use.outbox.interrupted_mails(now - INTERRUPTED_AFTER)
    for mail in interrupted:
        give_up(use, replace(mail, last_error=INTERRUPTED, queued_at=now), None)
    return len(interrupted)


def give_up(use: Mailing, mail: QueuedMail, exc: BaseException | None) -> None:
    """Keep the message in the given-up list, where `mail failed` shows it and `mail resend` queues it again."""
    log.error(
        "giving up on queued e-mail %s after %d attempts; 'mail failed' lists it and 'mail resend' sends it again",
        mail.id,
        mail.attempts,
        extra={
            "mailId": mail.id,
            "attempts": mail.attempts,
            **(failure(exc) if exc else {"failure": mail.last_error}),
            **observe.metrics({"MailGivenUp": (1, "Count")}),
        },
    )
    use.outbox.give_up_mail(mail)


def message_id(mail_id: str, sender: str) -> str:
    """The Message-ID of the queued message ``mail_id``: the same every time it is rendered."""
    return f"<{mail_id}@{sender.rpartition('@')[2].strip('>') or 'localhost'}>"


def queued_message(mail_id: str, mail: Mail, sender: str) -> bytes:
    """The queued message rendered for sending, with the Message-ID its queue id gives it."""
    message = render(mail, sender)
    message.replace_header("Message-ID", message_id(mail_id, sender))
    return bytes(message)


def may_have_gone_out(exc: BaseException) -> bool:
    """Whether a failed send may have delivered the message after all: the request reached the mail service but
    its answer was lost. An error answer (a 5xx or throttling too) says the message was not sent."""
    try:
        from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
    except ImportError:  # no boto3: the embedded default's outbox fails clearly or not at all
        return False
    return isinstance(exc, ReadTimeoutError | ConnectionClosedError)


def failure(exc: BaseException) -> dict[str, str]:
    """What a log line says of an exception: its type, and its message cut short (addresses redacted)."""
    return {"failure": type(exc).__name__, "detail": observe.redact(str(exc))[:300]}
