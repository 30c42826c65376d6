"""The texts the handler's own code uses, and the one way every text is filled in.

Texts live in ``schema/common.<lang>.json``; ``required()`` lists the ones this code reads, so the
catalog refuses a language that lacks any of them when it is loaded, not when an answer needs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handler.codes import Code

# Every code an API answer can carry: each problem (handler/refusals.py), and the one message that is not one.
API_CODES = (*(code.value for code in Code), "code_sent")
# What e-mails say (handler/receipts.py, handler/usecases/desk.py, handler/services.py).
EMAIL_TEXTS = (
    "greeting",
    "codeSubject",
    "codeBody",
    "codeIgnore",
    "statusSubject",
    "statusBody",
    "statusComment",
    "statusLink",
    "signature",
    "receiptSubject",
    "receiptIntro",
    "receiptFields",
    "attachments",
    "receiptFollow",
    "deskSubject",
    "deskIntro",
    "reference",
    "requester",
    "received",
    "form",
    "cc",
    "messageSubject",
    "messageFromDesk",
    "messageAnswer",
    "messageDeskSubject",
    "messageFromRequester",
    "messageDeskReply",
    "messageInTicket",
    "replyAbove",
    "stopCopies",
    "messageEarlier",
)
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
