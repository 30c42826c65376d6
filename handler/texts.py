"""The texts the handler's own code uses, and the one way every text is filled in.

Texts live in ``schema/common.<lang>.json``; ``required()`` lists the ones this code reads, so the
catalog refuses a language that lacks any of them when it is loaded, not when an answer needs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Every code an API answer can carry (handler/api/problems.py): each needs a message.
API_CODES = (
    "bad_request",
    "code_sent",
    "idempotency_conflict",
    "idempotency_in_progress",
    "internal_error",
    "invalid_body",
    "invalid_code",
    "invalid_encoding",
    "invalid_idempotency_key",
    "invalid_json",
    "invalid_text",
    "method_not_allowed",
    "not_authorized",
    "not_found",
    "payload_too_large",
    "request_closed",
    "cross_site_request",
    "request_too_large",
    "session_expired",
    "sign_in_required",
    "storage_unavailable",
    "too_many_attempts",
    "too_many_codes",
    "too_many_copies",
    "too_many_submissions",
    "too_many_uploads",
    "unknown_form",
    "unsupported_media_type",
    "upload_refused",
    "validation_failed",
)
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
# How a language writes numbers, dates and office hours (handler/forms.py).
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
