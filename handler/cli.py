"""Command line for operators and agents: the contact register, and requests (list, show, export, status).

Uses the same settings as the handler (``SDF_*`` environment variables): the embedded storage in
``./data`` by default, or AWS when ``SDF_STORAGE=aws``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TextIO

from handler.commands import contacts, forward, mail, requests
from handler.commands.terminal import CommandError
from handler.contacts import InvalidContact
from handler.services import Services, build_services
from handler.settings import ConfigurationError, Settings
from handler.storage.base import SWEEP_MARGIN, RequestNotFound, StatusConflict, StorageUnavailable
from handler.usecases import mailing
from handler.usecases.desk import UnknownStatus


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
    """The command line's grammar: each group's commands from its module under ``handler.commands``."""
    top = argparse.ArgumentParser(prog="python -m handler.cli", description=__doc__.splitlines()[0])
    groups = top.add_subparsers(dest="group", required=True)
    for group in (contacts, requests, forward):
        group.register(groups)
    uploads = groups.add_parser("uploads", help="uploaded files").add_subparsers(dest="command", required=True)
    command = uploads.add_parser(
        "cleanup", help="delete uploads no request took (embedded storage; S3 expires them itself)"
    )
    command.add_argument("--older-than-hours", type=float, default=24.0)
    command.set_defaults(run=_cleanup_uploads)
    mail.register(groups)
    command = groups.add_parser(
        "sweep", help="remove the documents and attachment copies of requests that were never stored"
    )
    command.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    command.set_defaults(run=_sweep)
    return top


def _cleanup_uploads(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if services.receiver is None:
        raise CommandError("on AWS the bucket's lifecycle rule removes abandoned uploads")
    removed = services.receiver.remove_abandoned(services.clock() - timedelta(hours=args.older_than_hours))
    print(f"removed {removed} abandoned uploads", file=out)


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
