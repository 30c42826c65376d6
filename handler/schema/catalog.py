"""The catalog: everything in ``schema/`` once it is read and checked (``handler/schema/loader.py``): the languages,
the common texts (the e-mails' and the API's as typed views), the contact types, the statuses and the forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from handler.codes import Code
from handler.conversation_rules import ConversationRules
from handler.schema.model import Form
from handler.texts import EmailTexts
from handler.ticket_mapping import TicketMapping


@dataclass(frozen=True)
class Catalog:
    """Everything in ``schema/``: languages, common texts, contact types and forms."""

    root: Path
    languages: tuple[str, ...]
    default_language: str
    language_aliases: Mapping[str, str]
    common: Mapping[str, Mapping[str, Any]]
    contact_types: tuple[str, ...]
    contact_schema: Mapping[str, Any]
    statuses: tuple[str, ...]
    forms: Mapping[str, Form]
    conversation: ConversationRules = field(default_factory=ConversationRules)
    tickets: Mapping[str, TicketMapping] = field(default_factory=dict)

    def language_or_default(self, language: str | None) -> str:
        """``language`` if the catalog has it (a stored request's may have been removed since), else the default."""
        return language if language in self.languages else self.default_language

    def api_text(self, language: str, code: Code | Literal["code_sent"]) -> str:
        """What the API says in ``language`` for a problem's ``code`` (or that a code was sent)."""
        return str(self.common[language]["api"][code])

    def email(self, language: str) -> EmailTexts:
        """What e-mails say in ``language`` (one of ``languages``), as a typed view of its common texts."""
        return EmailTexts.of(self.common[language]["email"])
