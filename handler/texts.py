"""The texts the handler's own code uses, and the one way every text is filled in.

Texts live in ``schema/common.<lang>.json``; ``required()`` lists the ones this code reads, so the
catalog refuses a language that lacks any of them when it is loaded, not when an answer needs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from handler.codes import Code

# Every code an API answer can carry: each problem (handler/refusals.py), and the one message that is not one.
API_CODES = (*(code.value for code in Code), "code_sent")


@dataclass(frozen=True)
class EmailTexts:
    """What e-mails say in one language: the ``email`` texts of ``schema/common.<lang>.json``, each a member named
    as the file names it (in snake case), so the code that composes e-mails (``handler/mails.py``) is checked by
    the type checker and the catalog refuses a language that lacks one when it is loaded."""

    greeting: str
    signature: str
    reply_above: str
    code_subject: str
    code_body: str
    code_ignore: str
    status_subject: str
    status_body: str
    status_comment: str
    status_reply: str
    status_link: str
    receipt_subject: str
    receipt_intro: str
    receipt_fields: str
    attachments: str
    receipt_follow: str
    desk_subject: str
    desk_intro: str
    reference: str
    requester: str
    received: str
    form: str
    cc: str
    message_subject: str
    message_from_desk: str
    message_answer: str
    message_desk_subject: str
    message_from_requester: str
    message_desk_reply: str
    message_in_ticket: str
    message_earlier: str
    stop_copies: str
    status_next: Mapping[str, str] = field(default_factory=dict)  # optional: per status, what the requester does next

    @classmethod
    def of(cls, texts: Mapping[str, Any]) -> EmailTexts:
        """The view of one language's ``email`` texts (checked by ``missing_texts`` when the catalog loads)."""
        return cls(**{member.name: texts[key] for member, key in _EMAIL_KEYS if key in texts})


def email_text_problems(texts: Any) -> list[str]:
    """Where one language's ``email`` texts are not what ``EmailTexts`` reads: a text that is no string, or a
    ``statusNext`` that is not an object of texts (missing ones are ``missing_texts``')."""
    if not isinstance(texts, Mapping):
        return []
    problems = [f"/email/{key}: not a text" for key in EMAIL_TEXTS if key in texts and not isinstance(texts[key], str)]
    following = texts.get("statusNext", {})
    if not isinstance(following, Mapping) or not all(isinstance(v, str) for v in following.values()):
        problems.append("/email/statusNext: not an object of texts, one per status")
    return problems


_EMAIL_KEYS = [(m, re.sub(r"_([a-z])", lambda c: c.group(1).upper(), m.name)) for m in fields(EmailTexts)]  # camelCase
# The keys every language's ``email`` texts must have: the members without a default.
EMAIL_TEXTS = tuple(key for member, key in _EMAIL_KEYS if member.default_factory is MISSING)

# What the conversation's refusals say (handler/usecases/conversing.py).
CONVERSATION_TEXTS = ("required", "tooLong")
# How a language writes numbers, dates and office hours (handler/schema/wording.py).
STYLE_TEXTS: tuple[str, ...] = ("decimalMark", "groupMark", "dateFormat", "today", "now", "yes", "no")
STYLE_TEXTS += ("weekdays", "dayRange", "officeHours", "locale")

_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z-]*)\}")


def fill(template: str, params: Mapping[str, str], keep: tuple[str, ...] = ()) -> str:
    """``template`` with each ``{name}`` replaced in one pass (a value is never read as a template);
    names in ``keep`` or without a value stay as they are."""
    return _PLACEHOLDER.sub(
        lambda m: m.group(0) if m.group(1) in keep or m.group(1) not in params else params[m.group(1)], template
    )


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders a text uses."""
    return set(_PLACEHOLDER.findall(template))


def required() -> list[str]:
    """JSON pointers of every common text the handler's code reads."""
    return (
        [f"/api/{code}" for code in API_CODES]
        + [f"/email/{key}" for key in EMAIL_TEXTS]
        + [f"/{key}" for key in STYLE_TEXTS]
        + [f"/conversation/{key}" for key in CONVERSATION_TEXTS]
        + ["/errors/invalid"]
    )


def missing_texts(common: Mapping[str, Any]) -> list[str]:
    """The pointers of ``required()`` that one language's common texts lack."""
    found = []
    for pointer in required():
        node: Any = common
        for part in pointer.strip("/").split("/"):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            found.append(pointer)
    return found
