"""``forward``: forwarding requests into the desk's ticket system (run, failed, retry, check)."""

from __future__ import annotations

import argparse
from typing import TextIO

from handler.commands.terminal import CommandError, terminal_text
from handler.services import Services
from handler.usecases import forwarding


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``forward`` commands."""
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
        summary = services.store.requests.summary(job.request_id)
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
