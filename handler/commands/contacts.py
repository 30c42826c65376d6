"""``contacts``: the contact register (add, update, list, remove, import)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from handler.commands.terminal import CommandError, terminal_text
from handler.contacts import Contact, make_contact, parse_csv
from handler.services import Services


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``contacts`` commands."""
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


def _known_types(services: Services) -> tuple[str, ...]:
    return services.catalog.contact_types


def _print_contact(contact: Contact, out: TextIO) -> None:
    values = (contact.email, contact.name, contact.phone, contact.organization, ",".join(contact.contact_types))
    print("\t".join(terminal_text(v) for v in values), file=out)


def _add_contact(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if services.store.contacts.get_contact(args.email):
        raise CommandError(f"{args.email} is already registered; use 'contacts update'")
    contact = make_contact(
        args.email, args.name, args.phone or "", args.organization, args.types, _known_types(services)
    )
    services.store.contacts.put_contact(contact)
    _print_contact(contact, out)


def _update_contact(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    current = services.store.contacts.get_contact(args.email)
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
    services.store.contacts.put_contact(contact)
    _print_contact(contact, out)


def _list_contacts(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    for contact in services.store.contacts.list_contacts():
        _print_contact(contact, out)


def _remove_contact(services: Services, args: argparse.Namespace, out: TextIO) -> None:
    if not services.store.contacts.remove_contact(args.email):
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
        services.store.contacts.put_contact(contact)
    print(f"imported {len(contacts)} contacts from {args.file}", file=out)
