"""Command line for operators and agents: the contact register, and requests (list, show, export, status).

Uses the same settings as the handler (``SDF_*`` environment variables): the embedded storage in
``./data`` by default, or AWS when ``SDF_STORAGE=aws``.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from handler.contacts import Contact, InvalidContact, make_contact, parse_csv
from handler.conversation import thread
from handler.mail import QueuedMail
from handler.services import Services, build_services
from handler.settings import ConfigurationError, Settings
from handler.storage.base import (
    SWEEP_MARGIN,
    RequestNotFound,
    RequestSummary,
    StatusConflict,
    StorageUnavailable,
)
from handler.usecases import forwarding, mailing
from handler.usecases.conversing import Outcome, agent_reply, receive
from handler.usecases.desk import UnknownStatus, change_status, find

EXPORT_COLUMNS = ("reference", "id", "status", "form", "category", "requester", "title", "receivedAt", "updatedAt")
# What a cell may start with that a spreadsheet runs as a formula, after NFKC (so fullwidth = counts too).
FORMULA_STARTS = frozenset("=+-@\u2212")


class CommandError(Exception):
    """A command failed in a way the user can fix; the message says how."""


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, services: Services | None = None) -> int:
    """Run one command; 0 on success, 1 on a problem explained on stderr, 2 on bad usage."""
    args = parser().parse_args(argv)
    out = out or sys.stdout
    try:
        services = services or build_services(Settings.from_env())
        args.run(services, args, out)
    except (CommandError, ConfigurationError, InvalidContact, UnknownStatus, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RequestNotFound as exc:
        print(f"error: no request has the id or reference {exc}", file=sys.stderr)
        return 1
    except StatusConflict:
        print("error: the status changed while you were changing it; look at the request again", file=sys.stderr)
        return 1
    except StorageUnavailable as exc:
        print(f"error: the store is not available ({exc}); try again", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    top = argparse.ArgumentParser(prog="python -m handler.cli", description=__doc__.splitlines()[0])
    groups = top.add_subparsers(dest="group", required=True)

    contacts = groups.add_parser("contacts", help="the contact register").add_subparsers(dest="command", required=True)
    for name in ("add", "update"):
        command = contacts.add_parser(name, help=f"{name} a contact")
        command.add_argument("email")
        command.add_argument("--name", required=name == "add")
        command.add_argument("--phone", default=None)
        command.add_argument("--organization", required=name == "add")
        command.add_argument(
            "--type", dest="types", action="append", required=name == "add", help="a contact type (repeatable)"
        )
        command.set_defaults(run=_add_contact if name == "add" else _update_contact)
    command = contacts.add_parser("list", help="list every contact")
    command.set_defaults(run=_list_contacts)
    command = contacts.add_parser("remove", help="remove a contact")
    command.add_argument("email")
    command.set_defaults(run=_remove_contact)
    command = contacts.add_parser("import", help="add or update contacts from a CSV file")
    command.add_argument("file", type=Path, help="CSV with the header email,name,phone,organization,contact_types")
    command.set_defaults(run=_import_contacts)

    requests = groups.add_parser("requests", help="service requests").add_subparsers(dest="command", required=True)
    for name, run in (("list", _list_requests), ("export", _export_requests)):
        command = requests.add_parser(name, help=f"{name} requests, newest first")
        command.add_argument("--status")
        command.add_argument("--category")
        command.add_argument("--since", type=date.fromisoformat, help="received on or after this date (YYYY-MM-DD)")
        command.add_argument("--until", type=date.fromisoformat, help="received before this date (YYYY-MM-DD)")
        if name == "export":
            command.add_argument("--format", choices=("json", "csv"), default="json")
        command.set_defaults(run=run)
    command = requests.add_parser("show", help="show one request with its fields and history")
    command.add_argument("request", help="id or reference number")
    command.set_defaults(run=_show_request)
    command = requests.add_parser("download", help="where to get one of a request's attachments")
    command.add_argument("request", help="id or reference number")
    command.add_argument("attachment", help="the attachment's name, or its number (1 for the first)")
    command.set_defaults(run=_download)
    command = requests.add_parser("status", help="give a request a new status and e-mail the requester")
    command.add_argument("request", help="id or reference number")
    command.add_argument("status")
    command.add_argument("--agent", required=True, help="who is making the change")
    command.add_argument("--comment", help="a note the requester sees")
    command.set_defaults(run=_change_status)
    command = requests.add_parser("reply", help="answer the requester on a request; they are e-mailed the answer")
    command.add_argument("request", help="id or reference number")
    command.add_argument("--agent", required=True, help="the name the requester sees beside the answer")
    command.add_argument("--message", required=True, help="the answer, as plain text")
    command.set_defaults(run=_reply)

    forward = groups.add_parser("forward", help="forwarding requests into the desk's ticket system")
    forward_commands = forward.add_subparsers(dest="command", required=True)
    command = forward_commands.add_parser("run", help="forward the requests that are due now")
    command.set_defaults(run=_forward_run)
    command = forward_commands.add_parser("failed", help="list the requests forwarding gave up on, and why")
    command.set_defaults(run=_forward_failed)
    command = forward_commands.add_parser("retry", help="forward a given-up request again now")
    command.add_argument("request", help="id or reference number")
    command.set_defaults(run=_forward_retry)
    command = forward_commands.add_parser("check", help="check the credentials and the mapping against the system")
    command.set_defaults(run=_forward_check)
    uploads = groups.add_parser("uploads", help="uploaded files").add_subparsers(dest="command", required=True)
    command = uploads.add_parser(
        "cleanup", help="delete uploads no request took (embedded storage; S3 expires them itself)"
    )
    command.add_argument("--older-than-hours", type=float, default=24.0)
    command.set_defaults(run=_cleanup_uploads)

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

    command = groups.add_parser(
        "sweep", help="remove the documents and attachment copies of requests that were never stored"
    )
    command.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    command.set_defaults(run=_sweep)
    return top


def _known_types(services: Services) -> tuple[str, ...]:
    return services.catalog.contact_types


def _unsafe(char: str) -> bool:
    # Controls (C0, DEL, C1), invisible formatting such as direction overrides, line and paragraph
    # separators, and lone surrogates; joiners stay, which emoji and some scripts need.
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") and char not in "\u200c\u200d"


def terminal_text(text: str) -> str:
    """Text safe to print to a terminal: each control or invisible formatting character escaped, like ``\\x9b``."""
    return "".join(repr(c)[1:-1] if _unsafe(c) else c for c in text)


def terminal_json(value: Any) -> str:
    """Indented JSON safe to print to a terminal: the same data, control and formatting characters escaped."""
    dumped = json.dumps(value, ensure_ascii=False, indent=2)
    # Inside strings JSON escapes C0 already, so a raw line break is the layout's own.
    return "".join(json.dumps(c)[1:-1] if _unsafe(c) and c != "\n" else c for c in dumped)


def _print_contact(contact: Contact, out: TextIO) -> None:
    values = (contact.email, contact.name, contact.phone, contact.organization, ",".join(contact.contact_types))
    print("\t".join(terminal_text(v) for v in values), file=out)


def _add_contact(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if services.store.get_contact(args.email):
        raise CommandError(f"{args.email} is already registered; use 'contacts update'")
    contact = make_contact(
        args.email, args.name, args.phone or "", args.organization, args.types, _known_types(services)
    )
    services.store.put_contact(contact)
    _print_contact(contact, out)


def _update_contact(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    current = services.store.get_contact(args.email)
    if current is None:
        raise CommandError(f"{args.email} is not registered; use 'contacts add'")
    contact = make_contact(
        current.email,
        args.name if args.name is not None else current.name,
        args.phone if args.phone is not None else current.phone,
        args.organization if args.organization is not None else current.organization,
        args.types if args.types else current.contact_types,
        _known_types(services),
    )
    services.store.put_contact(contact)
    _print_contact(contact, out)


def _list_contacts(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    for contact in services.store.list_contacts():
        _print_contact(contact, out)


def _remove_contact(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if not services.store.remove_contact(args.email):
        raise CommandError(f"{args.email} is not registered")
    print(f"removed {args.email}", file=out)


def _import_contacts(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from exc
    try:
        contacts = parse_csv(text, _known_types(services))
    except ValueError as exc:
        raise CommandError(f"{args.file}: nothing was imported:\n{exc}") from exc
    for contact in contacts:
        services.store.put_contact(contact)
    print(f"imported {len(contacts)} contacts from {args.file}", file=out)


def _filtered(services: Services, args: argparse.Namespace) -> list[RequestSummary]:
    if args.status and args.status not in services.catalog.statuses:
        raise UnknownStatus(f"{args.status!r} is not a status; choose one of {', '.join(services.catalog.statuses)}")
    since = datetime.combine(args.since, time(), UTC) if args.since else None
    until = datetime.combine(args.until, time(), UTC) if args.until else None
    return services.store.list_requests(args.status, args.category, since, until)


def _row(summary: Any) -> dict[str, Any]:
    body = summary.as_json()
    return {
        "reference": body["reference"],
        "id": body["id"],
        "status": body["status"],
        "form": body["form"],
        "category": body["category"],
        "requester": summary.requester,
        "title": body["title"],
        "receivedAt": body["receivedAt"],
        "updatedAt": body["updatedAt"],
    }


def _list_requests(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    rows = [_row(s) for s in _filtered(services, args)]
    for row in rows:
        line = (
            f"{row['reference']}  {row['status']:<21} {row['category'] or '-':<18} {row['receivedAt']}  "
            f"{row['requester'] or '-'}  {row['title'] or ''}"
        )
        print(terminal_text(line), file=out)
    print(f"{len(rows)} requests", file=out)


def _export_requests(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    rows = [_row(s) for s in _filtered(services, args)]
    if args.format == "json":
        out.write(terminal_json(rows) + "\n")
        return
    buffer = io.StringIO()
    # CRLF as RFC 4180 has it: the writer then quotes any field holding a CR or LF of its own.
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    # Spreadsheets run cells that start with = + - @ as formulas: quote them as text.
    writer.writerows({k: _csv_safe(v) for k, v in row.items()} for row in rows)
    out.write(buffer.getvalue())


def _csv_safe(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # A spreadsheet may skip leading spaces and controls, and read fullwidth and small forms as the sign.
    rest = "".join(itertools.dropwhile(lambda c: c.isspace() or unicodedata.category(c)[0] == "C", value))
    starts_formula = unicodedata.normalize("NFKC", rest[:1])[:1] in FORMULA_STARTS
    return f"'{value}" if starts_formula or value[:1] in ("\t", "\r", "\n") else value


def _show_request(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    request = find(services.desk, args.request)
    summary = services.store.summary(request.receipt.request_id)
    assert summary is not None
    history = services.store.history(request.receipt.request_id)
    messages = {m.id: m for m in services.conversing.conversation.messages(request.receipt.request_id)}
    document = {
        **_row(summary),
        "language": request.language,
        "schemaHash": request.schema_hash,
        "data": dict(request.data),
        "attachments": [{k: a[k] for k in ("name", "type", "size")} for a in request.attachments],
        "history": [{**event.as_json(), "agent": event.agent} for event in history],
        "ticket": asdict(ticket)
        if (ticket := services.forwarding.forwards.ticket_of(summary.receipt.request_id))
        else None,
        "thread": [
            {**entry, "address": message.address} if (message := messages.get(str(entry.get("id")))) else entry
            for entry in thread(list(messages.values()), history)
        ],
    }
    out.write(terminal_json(document) + "\n")


def _download(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    attachments = find(services.desk, args.request).attachments
    chosen = [a for a in attachments if a["name"] == args.attachment]
    if not chosen and args.attachment.isdigit() and 0 < int(args.attachment) <= len(attachments):
        chosen = [attachments[int(args.attachment) - 1]]
    if not chosen:
        names = ", ".join(a["name"] for a in attachments) or "none"
        raise CommandError(f"the request has no attachment {args.attachment!r}; it has: {names}")
    print(services.blobs.download(chosen[0]["key"], chosen[0]["name"], chosen[0]["type"]), file=out)


def _reply(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    message, summary = agent_reply(services.conversing, args.request, args.agent, args.message)
    sent, failed = mailing.send_queued_mail(services.mailing)  # the answer's e-mail, with anything else waiting
    print(f"answered {summary.receipt.reference} as {message.name}; e-mail sent {sent}, failed {failed}", file=out)


def _change_status(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    change = change_status(services.desk, args.request, args.status, args.agent, args.comment)
    print(f"{change.summary.receipt.reference} is now {change.event.status}", file=out)
    if change.notified:
        print(f"the requester was e-mailed: {change.notified}", file=out)
    elif change.summary.requester:
        print("warning: the e-mail to the requester failed; it is queued ('mail retry' sends it)", file=sys.stderr)


def _cleanup_uploads(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if services.receiver is None:
        raise CommandError("on AWS the bucket's lifecycle rule removes abandoned uploads")
    removed = services.receiver.remove_abandoned(services.clock() - timedelta(hours=args.older_than_hours))
    print(f"removed {removed} abandoned uploads", file=out)


def _send_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    sent, failed = mailing.send_queued_mail(services.mailing)
    print(f"sent {sent}, failed again {failed}", file=out)


def _list_queued_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    # As late as can be: the messages waiting for a later try too.
    _print_mails(services.store.queued_mails(1000, datetime.max.replace(tzinfo=UTC)), out)


def _list_given_up_mail(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    given_up = services.store.given_up_mails(1000)
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
    if not services.store.resend_mail(args.mail, services.clock()):
        raise CommandError(f"no given-up e-mail {args.mail!r}; 'mail failed' lists them")
    sent, failed = mailing.send_queued_mail(services.mailing)
    print(f"queued {args.mail} again; sent {sent}, failed {failed}", file=out)


def _forwarding(services: Services) -> forwarding.Forwarding:
    if services.forwarding.system is None:
        raise CommandError("no ticket system is set up: set SDF_FORWARD (docs/forwarding.md)")
    return services.forwarding


def _forward_run(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    done, failed = forwarding.forward_due(_forwarding(services), limit=1000)
    print(
        f"forwarded {done}, failed {failed} (each failure is tried again later; 'forward failed' lists given-up ones)",
        file=out,
    )


def _forward_failed(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    jobs = services.forwarding.forwards.given_up_forwards()
    for job in jobs:
        summary = services.store.summary(job.request_id)
        reference = summary.receipt.reference if summary else job.request_id
        print(terminal_text(f"{reference}  to {job.target}  tries {job.attempts}  {job.last_error}"), file=out)
    if not jobs:
        print("no forwarding was given up", file=out)


def _forward_retry(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if not forwarding.forward_again(services.forwarding, args.request):
        raise CommandError(f"{args.request!r} is not among the given-up requests; 'forward failed' lists them")
    done, failed = forwarding.forward_due(_forwarding(services))
    print(f"{args.request} is due again; forwarded {done}, failed {failed}", file=out)


def _forward_check(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    use = _forwarding(services)
    assert use.system is not None
    mapping = services.catalog.tickets.get(use.system.name)
    problems = use.system.check(mapping)
    categories = {c for form in services.catalog.forms.values() for c in form.categories}
    if mapping is None:
        problems.append(f"schema/site.json has no /tickets/{use.system.name} mapping")
    else:
        unknown = sorted(
            s
            for s in {*mapping.tags, *mapping.custom_fields, *mapping.request_types}
            if s != "*" and s not in categories
        )
        problems += [
            f"schema/site.json /tickets/{use.system.name}: {s!r} is not a service of any form" for s in unknown
        ]
    for problem in problems:
        print(terminal_text(f"problem: {problem}"), file=out)
    if problems:
        raise CommandError(f"{len(problems)} problems: forwarding would fail")
    print(f"{use.system.name}: the credentials work and the mapping names only services that exist", file=out)


def _sweep(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    found, removed = services.store.sweep(services.blobs, services.clock(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for pending in found:
        print(
            f"{verb} {pending.request_id} (started {pending.started_at.isoformat(timespec='seconds')}): "
            f"its document and {len(pending.attachment_keys)} attachment copies",
            file=out,
        )
    hours = SWEEP_MARGIN.total_seconds() / 3600
    print(f"{len(found)} requests started over {hours:g} h ago and never stored", file=out)
    if not args.dry_run and (interrupted := mailing.give_up_interrupted(services.mailing)):
        print(f"{interrupted} e-mails whose sending was interrupted given up: 'mail failed' lists them", file=out)
    if not args.dry_run and removed < len(found):
        raise CommandError(f"{len(found) - removed} could not be removed (see the log); the next sweep tries again")


if __name__ == "__main__":
    sys.exit(main())
