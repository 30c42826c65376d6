"""What ``schema/site.json`` declares about each ticket system: the tags and custom fields a service's tickets get,
and which of the system's statuses is which of ours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TicketMapping:
    """``tags``, ``custom_fields`` and ``request_types`` by service (``*``: every service's), ``statuses`` from the
    system's to ours (a status of theirs not named here is ignored)."""

    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    custom_fields: Mapping[str, tuple[tuple[int | str, Any], ...]] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    request_types: Mapping[str, str] = field(default_factory=dict)

    def tags_of(self, service: str | None) -> tuple[str, ...]:
        return (*self.tags.get("*", ()), *self.tags.get(service or "", ()))

    def fields_of(self, service: str | None) -> tuple[tuple[int | str, Any], ...]:
        return (*self.custom_fields.get("*", ()), *self.custom_fields.get(service or "", ()))

    def request_type_of(self, service: str | None) -> str:
        return self.request_types.get(service or "", self.request_types.get("*", ""))


def read_mappings(declared: Any, statuses: Sequence[str], where: str) -> tuple[dict[str, TicketMapping], list[str]]:
    """The mappings under ``/tickets`` (absent: none) and the problems found, each naming ``where``."""
    if declared is None:
        return {}, []
    if not isinstance(declared, dict):
        return {}, [f"{where}: /tickets: an object with one mapping per ticket system, such as zendesk"]
    found: dict[str, TicketMapping] = {}
    problems: list[str] = []
    for system, mapping in declared.items():
        at = f"{where}: /tickets/{system}"
        if not isinstance(mapping, dict):
            problems.append(f"{at}: an object with tags, customFields and statuses")
            continue
        tags = mapping.get("tags", {})
        fields = mapping.get("customFields", {})
        theirs = mapping.get("statuses", {})
        kinds = mapping.get("requestTypes", {})
        if not isinstance(tags, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) and t for t in v) for v in tags.values()
        ):
            problems.append(f"{at}/tags: an object from a service (or *) to a list of tags")
            tags = {}
        if not isinstance(fields, dict) or not all(
            isinstance(v, list)
            and all(isinstance(f, dict) and isinstance(f.get("id"), int | str) and f["id"] != "" for f in v)
            for v in fields.values()
        ):
            problems.append(f"{at}/customFields: an object from a service (or *) to a list of {{id, value}}")
            fields = {}
        if not isinstance(kinds, dict) or not all(isinstance(v, str) and v for v in kinds.values()):
            problems.append(f"{at}/requestTypes: an object from a service (or *) to the system's request type id")
            kinds = {}
        if not isinstance(theirs, dict):
            problems.append(f"{at}/statuses: an object from the system's statuses to ours")
            theirs = {}
        problems += [
            f"{at}/statuses/{name}: {ours!r} is not one of the statuses ({', '.join(statuses)})"
            for name, ours in theirs.items()
            if ours not in statuses
        ]
        found[system] = TicketMapping(
            {service: tuple(v) for service, v in tags.items()},
            {service: tuple((f["id"], f.get("value")) for f in v) for service, v in fields.items()},
            dict(theirs),
            dict(kinds),
        )
    return (found, []) if not problems else ({}, problems)


def site_tickets(catalog: Any) -> dict[str, Any]:
    """The catalog's mappings as ``schema/site.json`` writes them (for the compiled catalog)."""
    return {
        system: {
            "tags": {service: list(tags) for service, tags in mapping.tags.items()},
            "customFields": {s: [{"id": i, "value": v} for i, v in f] for s, f in mapping.custom_fields.items()},
            "statuses": dict(mapping.statuses),
            "requestTypes": dict(mapping.request_types),
        }
        for system, mapping in catalog.tickets.items()
    }
