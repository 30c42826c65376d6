"""``requests``: list, export, show and download; change a request's status or answer its requester."""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import sys
import unicodedata
from dataclasses import asdict
from datetime import UTC, date, datetime, time
from typing import Any, TextIO

from handler.commands.terminal import CommandError, terminal_json, terminal_text
from handler.conversation import thread
from handler.services import Services
from handler.storage.base import RequestSummary
from handler.usecases import mailing
from handler.usecases.conversing import agent_reply
from handler.usecases.desk import UnknownStatus, change_status, find

EXPORT_COLUMNS = ("reference", "id", "status", "form", "category", "requester", "title", "receivedAt", "updatedAt")
# What a cell may start with that a spreadsheet runs as a formula, after NFKC (so fullwidth = counts too).
FORMULA_STARTS = frozenset("=+-@\u2212")


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``requests`` commands."""
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


def _filtered(services: Services, args: argparse.Namespace) -> list[RequestSummary]:
    if args.status and args.status not in services.catalog.statuses:
        raise UnknownStatus(f"{args.status!r} is not a status; choose one of {', '.join(services.catalog.statuses)}")
    since = datetime.combine(args.since, time(), UTC) if args.since else None
    until = datetime.combine(args.until, time(), UTC) if args.until else None
    return services.store.requests.list_requests(args.status, args.category, since, until)


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
    summary = services.store.requests.summary(request.receipt.request_id)
    assert summary is not None
    history = services.store.requests.history(request.receipt.request_id)
    messages = {m.id: m for m in services.conversing.conversation.messages(request.receipt.request_id)}
    document = {
        **_row(summary),
        "language": request.language,
        "schemaHash": request.schema_hash,
        "data": dict(request.data),
        "attachments": [{"name": a.name, "type": a.type, "size": a.size} for a in request.attachments],
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
    chosen = [a for a in attachments if a.name == args.attachment]
    if not chosen and args.attachment.isdigit() and 0 < int(args.attachment) <= len(attachments):
        chosen = [attachments[int(args.attachment) - 1]]
    if not chosen:
        names = ", ".join(a.name for a in attachments) or "none"
        raise CommandError(f"the request has no attachment {args.attachment!r}; it has: {names}")
    print(services.blobs.download(chosen[0].key, chosen[0].name, chosen[0].type), file=out)


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
