"""Schema patterns that mean the same in the page (ECMA-262 with the ``u`` flag) and on the server.

A pattern is read as the browser reads it and translated into an equivalent Python expression:
``$`` is the end of the text, ``.`` stops at every line terminator JavaScript knows, and ``\\d``,
``\\w`` and ``\\s`` are JavaScript's sets rather than Python's Unicode ones. Anything whose meaning
differs between the two engines, or that one of them cannot compile, is refused with a reason.
"""

from __future__ import annotations

import functools
import re

# JavaScript's sets for the class escapes (ECMA-262 WhiteSpace and LineTerminator for \s).
_DIGIT = "0-9"
_WORD = "A-Za-z0-9_"
_SPACE = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_CLASS_ESCAPES = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
_CONTROL_ESCAPES = {"t": "\\t", "n": "\\n", "r": "\\r", "f": "\\x0c", "v": "\\x0b"}
_SYNTAX = set("^$\\.*+?()[]{}|/")
_QUANTIFIER = re.compile(r"\{(\d+)(,(\d*))?\}")


class UnportablePattern(ValueError):
    """A pattern the browser and the server would not read the same way; the message says why."""


@functools.cache
def python_regex(pattern: str) -> re.Pattern[str]:
    """The compiled Python equivalent of ``pattern`` as ``new RegExp(pattern, "u")`` reads it."""
    translated = _Translator(pattern).run()
    try:
        return re.compile(translated)
    except re.error as exc:
        raise UnportablePattern(f"the server cannot compile it: {exc}") from exc


def check_pattern(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or None when it means the same on both sides."""
    try:
        python_regex(pattern)
    except UnportablePattern as exc:
        return str(exc)
    return None


class _Translator:
    """A single pass over the pattern: each construct is copied, translated or refused."""

    def __init__(self, pattern: str) -> None:
        self.source = pattern
        self.at = 0
        self.out: list[str] = []
        self.depth = 0

    def refuse(self, why: str) -> UnportablePattern:
        return UnportablePattern(f"{why} (at character {self.at + 1})")

    def run(self) -> str:
        while self.at < len(self.source):
            char = self.source[self.at]
            if char == "\\":
                self.out.append(self.escape(in_class=False))
                continue
            if char == "[":
                self.out.append(self.char_class())
                continue
            if char == "(":
                self.out.append(self.group_start())
                continue
            if char == ")":
                if self.depth == 0:
                    raise self.refuse("unbalanced ')'")
                self.depth -= 1
            elif char == "$":
                char = r"\Z"
            elif char == ".":
                char = "[^\\n\\r\\u2028\\u2029]"
            elif char == "{":
                match = _QUANTIFIER.match(self.source, self.at)
                if not match:
                    raise self.refuse("a '{' that does not start a quantifier like {2,5}; write \\{")
                char = match.group(0)
                self.at = match.end() - 1
            elif char in "}]":
                raise self.refuse(f"a lone {char!r}; write \\{char}")
            self.out.append(char)
            self.at += 1
        if self.depth:
            raise self.refuse("unbalanced '('")
        return "".join(self.out)

    def group_start(self) -> str:
        rest = self.source[self.at :]
        self.depth += 1
        for opening in ("(?:", "(?=", "(?!"):
            if rest.startswith(opening):
                self.at += len(opening)
                return opening
        if rest.startswith(("(?<=", "(?<!")):
            raise self.refuse("lookbehind is not supported alike by both sides")
        if rest.startswith("(?<"):
            name = re.match(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", rest)
            if not name:
                raise self.refuse("a malformed group name")
            self.at += name.end()
            return "("
        if rest.startswith("(?"):
            raise self.refuse("this kind of group is not part of JavaScript's syntax")
        self.at += 1
        return "("

    def escape(self, in_class: bool) -> str:
        if self.at + 1 >= len(self.source):
            raise self.refuse("a pattern cannot end with '\\'")
        letter = self.source[self.at + 1]
        self.at += 2
        if letter in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[letter] if in_class else f"[{_CLASS_ESCAPES[letter]}]"
        if letter.lower() in _CLASS_ESCAPES:
            if in_class:
                raise self.refuse(f"\\{letter} inside [...] is not supported alike by both sides")
            return f"[^{_CLASS_ESCAPES[letter.lower()]}]"
        if letter in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[letter]
        if letter == "b" and in_class:
            return "\\x08"
        if letter in "bB":
            raise self.refuse("word boundaries differ between the two sides")
        if letter == "0" and not self.source[self.at : self.at + 1].isdigit():
            return "\\x00"
        if letter.isdigit() or letter == "k":
            raise self.refuse("back-references are not supported")
        if letter in "pP":
            raise self.refuse("Unicode property escapes are not supported by the server")
        if letter == "c":
            control = self.source[self.at : self.at + 1]
            if not control.isascii() or not control.isalpha():
                raise self.refuse("\\c must be followed by a letter")
            self.at += 1
            return f"\\x{ord(control) % 32:02x}"
        if letter == "x":
            digits = self.source[self.at : self.at + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                raise self.refuse("\\x needs two hexadecimal digits")
            self.at += 2
            return f"\\x{digits}"
        if letter == "u":
            return self.unicode_escape()
        if letter in _SYNTAX or (in_class and letter == "-"):
            return "\\" + letter
        raise self.refuse(f"\\{letter} is not a valid escape in JavaScript's Unicode mode")

    def unicode_escape(self) -> str:
        braced = re.match(r"\{([0-9A-Fa-f]{1,6})\}", self.source[self.at :])
        if braced:
            self.at += braced.end()
            code = int(braced.group(1), 16)
        else:
            digits = self.source[self.at : self.at + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise self.refuse("\\u needs four hexadecimal digits or {...}")
            self.at += 4
            code = int(digits, 16)
        if code > 0x10FFFF:
            raise self.refuse("the code point is beyond U+10FFFF")
        if 0xD800 <= code <= 0xDFFF:
            raise self.refuse("surrogate escapes are read differently; write the character or \\u{...}")
        return f"\\U{code:08x}"

    def char_class(self) -> str:
        self.at += 1
        negated = self.source.startswith("^", self.at)
        if negated:
            self.at += 1
        parts: list[str] = []
        while True:
            if self.at >= len(self.source):
                raise self.refuse("unterminated [")
            char = self.source[self.at]
            if char == "]":
                self.at += 1
                break
            if char == "\\":
                parts.append(self.escape(in_class=True))
                continue
            # Characters Python reads specially inside a set ("[", "&&", "--", "~~", "||") are escaped.
            parts.append("\\" + char if char in "[&~|" else char)
            self.at += 1
        if not parts:
            return "[\\s\\S]" if negated else "(?!)"
        body = "".join(parts)
        if "--" in body.replace("\\-", ""):
            raise self.refuse("'--' inside [...] is read differently; escape the '-'")
        return f"[{'^' if negated else ''}{body}]"
