"""What ``schema/site.json`` declares about the conversation on a request, read and checked with the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Without a declared limit, a message may be this long (a long e-mail's text; DynamoDB keeps far more).
DEFAULT_MAX_CHARS = 5000


@dataclass(frozen=True)
class ConversationRules:
    """``replyMoves``: the status a request goes to when the requester answers it in another one (e.g. waiting
    for the customer → in progress); ``closed``: the statuses in which a request is finished; ``reopenAs``: where
    an answer to a finished request moves it, or None when such an answer is refused; ``maxChars``: a message's
    longest text."""

    reply_moves: Mapping[str, str] = field(default_factory=dict)
    closed: frozenset[str] = frozenset()
    reopen_as: str | None = None
    max_chars: int = DEFAULT_MAX_CHARS

    def as_json(self) -> dict[str, Any]:
        return {
            "replyMoves": dict(self.reply_moves),
            "closed": sorted(self.closed),
            "reopenAs": self.reopen_as,
            "maxChars": self.max_chars,
        }


def read_rules(declared: Any, statuses: Sequence[str], where: str) -> tuple[ConversationRules, list[str]]:
    """The rules ``declared`` under ``/conversation`` (absent: none), and the problems found, each naming ``where``."""
    if declared is None:
        return ConversationRules(), []
    if not isinstance(declared, dict):
        return ConversationRules(), [f"{where}: /conversation: an object with replyMoves, closed, reopenAs, maxChars"]
    problems = [
        f"{where}: /conversation/{name}: not one of replyMoves, closed, reopenAs, maxChars"
        for name in declared
        if name not in ("replyMoves", "closed", "reopenAs", "maxChars")
    ]
    moves = declared.get("replyMoves", {})
    closed = declared.get("closed", [])
    reopen = declared.get("reopenAs")
    limit = declared.get("maxChars", DEFAULT_MAX_CHARS)
    named: list[tuple[str, Any]] = []
    if isinstance(moves, dict):
        named += [(f"replyMoves/{source}", source) for source in moves] + [
            (f"replyMoves/{s}", t) for s, t in moves.items()
        ]
    else:
        problems.append(f"{where}: /conversation/replyMoves: an object from status to status")
        moves = {}
    if isinstance(closed, list):
        named += [(f"closed/{n}", status) for n, status in enumerate(closed)]
    else:
        problems.append(f"{where}: /conversation/closed: a list of statuses")
        closed = []
    if reopen is not None:
        named.append(("reopenAs", reopen))
    problems += [
        f"{where}: /conversation/{path}: {status!r} is not one of the statuses ({', '.join(statuses)})"
        for path, status in named
        if status not in statuses
    ]
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
        problems.append(f"{where}: /conversation/maxChars: a whole number of characters from 1 to 100000")
        limit = DEFAULT_MAX_CHARS
    if problems:
        return ConversationRules(), problems
    return ConversationRules(dict(moves), frozenset(closed), reopen, limit), []
