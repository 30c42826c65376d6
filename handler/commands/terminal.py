"""What the command line prints: text and JSON safe for a terminal, and the error a user can fix."""

from __future__ import annotations

import json
import unicodedata
from typing import Any


class CommandError(Exception):
    """A command failed in a way the user can fix; the message says how."""


def _unsafe(char: str) -> bool:
    # Controls (C0, DEL, C1), invisible formatting such as direction overrides, line and paragraph
    # separators, and lone surrogates; joiners stay, which emoji and some scripts need.
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") and char not in "\u200c\u200d"


def terminal_text(text: str) -> str:
    """Text safe to print to a terminal: each control or invisible formatting character escaped, like ``\\x9b``."""
    return "".join(repr(c)[1:-1] if _unsafe(c) else c for c in text)


def terminal_json(value: Any) -> str:
    """Indented JSON safe to print to a terminal: the same data, control and formatting characters escaped."""
    dumped = json.dumps(value, ensure_ascii=False, indent=2)
    # Inside strings JSON escapes C0 already, so a raw line break is the layout's own.
    return "".join(json.dumps(c)[1:-1] if _unsafe(c) and c != "\n" else c for c in dumped)
