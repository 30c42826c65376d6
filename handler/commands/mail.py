"""``mail``: the e-mail waiting to be sent or given up, and replies that came by e-mail."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from handler.commands.terminal import CommandError, terminal_text
from handler.mail import QueuedMail
from handler.services import Services
from handler.usecases import mailing
from handler.usecases.conversing import Outcome, receive


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``mail`` commands."""
    mail = groups.add_parser("mail", help="e-mail that could not be sent").add_subparsers(dest="command", required=True)
    command = mail.add_parser("retry", help="send the queued messages now")
    command.set_defaults(run=_send_mail)
    command = mail.add_parser("list", help="list the messages waiting to be sent")
    command.set_defaults(run=_list_queued_mail)
    command = mail.add_parser("failed", help="list the messages sending gave up on, and why")
    command.set_defaults(run=_list_given_up_mail)
    command = mail.add_parser("receive", help="take a reply that came by e-mail (.eml files, or one on stdin)")
    command.add_argument("files", nargs="*", type=Path, help="raw messages; none: read one from standard input")
    command.set_defaults(run=_receive_mail)
    command = mail.add_parser("resend", help="queue a given-up message again and send the queue")
    command.add_argument("mail", help="the message's id, as 'mail failed' lists it")
    command.set_defaults(run=_resend_mail)


def _send_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    sent, failed = mailing.send_queued_mail(services.mailing)
    print(f"sent {sent}, failed again {failed}", file=out)


def _list_queued_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    # As late as can be: the messages waiting for a later try too.
    _print_mails(services.store.mail.queued_mails(1000, datetime.max.replace(tzinfo=UTC)), out)


def _list_given_up_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    given_up = services.store.mail.given_up_mails(1000)
    _print_mails(given_up, out)
    if not given_up:
        print("no e-mail was given up", file=out)


def _print_mails(mails: list[QueuedMail], out: TextIO) -> None:
    for queued in mails:
        line = (
            f"{queued.id}  {queued.queued_at.isoformat(timespec='seconds')}  attempts {queued.attempts}  "
            f"to {', '.join(queued.recipients)}  {queued.last_error}"
        )
        print(terminal_text(line), file=out)


def _receive_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    sources = [(str(path), path.read_bytes()) for path in args.files] or [("stdin", sys.stdin.buffer.read())]
    refused = 0
    for name, raw in sources:
        received = receive(services.conversing, raw)
        refused += received.outcome == Outcome.REFUSED
        print(terminal_text(f"{name}: {received.outcome} ({received.reason}) {received.reference}".rstrip()), file=out)
    mailing.send_queued_mail(services.mailing)  # whom the new messages concern is told now
    if refused:
        raise CommandError(f"{refused} of {len(sources)} refused; nothing of them was kept")


def _resend_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if not services.store.mail.resend_mail(args.mail, services.clock()):
        raise CommandError(f"no given-up e-mail {args.mail!r}; 'mail failed' lists them")
    sent, failed = mailing.send_queued_mail(services.mailing)
    print(f"queued {args.mail} again; sent {sent}, failed {failed}", file=out)
