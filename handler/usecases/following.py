"""Following one's own requests: the list, a page at a time, and one request with its history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from handler.codes import Code
from handler.conversation import Conversation, thread
from handler.refusals import Refused
from handler.storage.base import REQUEST_ID, RequestStore, RequestSummary

if TYPE_CHECKING:
    from handler import answers


@dataclass(frozen=True)
class Following:
    """What following one's requests reads, built once by the container."""

    requests: RequestStore
    conversation: Conversation


def my_requests(
    use: Following, requester: str, limit: int, cursor: str | None
) -> tuple[list[RequestSummary], str | None]:
    """The requester's requests, newest first, and the cursor of the next page (None on the last)."""
    return use.requests.list_for_requester(requester, limit, cursor)


def my_request(use: Following, requester: str, request_id: str) -> answers.RequestDetail:
    """One of the requester's requests: its summary, what was sent, its attachments by name, its history."""
    found = use.requests.get(request_id) if REQUEST_ID.fullmatch(request_id) else None
    if found is None or found.requester != requester:
        raise Refused(Code.NOT_FOUND)  # someone else's request looks exactly like a missing one
    summary = use.requests.summary(request_id)
    if summary is None:
        raise Refused(Code.NOT_FOUND)
    history = use.requests.history(request_id)
    # The attachments by the names they were sent with (never where they are kept).
    return {
        **summary.as_json(),
        "data": found.data,
        "attachments": [attachment.as_json() for attachment in found.attachments],
        "history": [event.as_json() for event in history],
        "thread": thread(use.conversation.messages(request_id), history),
    }
