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
_CONTROL_ESCAPES = {"t": 0x09, "n": 0x0A, "v": 0x0B, "f": 0x0C, "r": 0x0D}
_SYNTAX = set("^$\\.*+?()[]{}|/")
_DIGITS = tuple("0123456789")  # JavaScript's decimal digits (str.isdigit would take others too)
_QUANTIFIER = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_COUNT_DIGITS = 9  # Python refuses repeat counts from 2**32 - 1; JavaScript takes any
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class UnportablePattern(ValueError):
    """A pattern the browser and the server would not read the same way; the message says why."""


@functools.cache
def python_regex(pattern: str) -> re.Pattern[str]:
    """The compiled Python equivalent of ``pattern`` as ``new RegExp(pattern, "u")`` reads it."""
    translated = _Translator(pattern).run()
    try:
        return re.compile(translated)
    except (re.error, OverflowError, RecursionError) as exc:
        raise UnportablePattern(f"the server cannot compile it: {exc}") from exc


def check_pattern(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or None when it means the same on both sides."""
    try:
        python_regex(pattern)
    except UnportablePattern as exc:
        return str(exc)
    return None


class _Translator:
    """A single pass over the pattern as JavaScript's Unicode mode parses it: each construct is copied,
    translated or refused, so the server compiles only what the page compiles, with the same meaning."""

    def __init__(self, pattern: str) -> None:
        self.source = pattern
        self.at = 0
        self.out: list[str] = []
        self.groups: list[str] = []  # the groups open here, innermost last: "group" or "lookahead"
        self.names: set[str] = set()
        self.last = "start"  # what the next quantifier would repeat: "atom", "quantifier", "lookahead", ...

    def refuse(self, why: str) -> UnportablePattern:
        return UnportablePattern(f"{why} (at character {self.at + 1})")

    def run(self) -> str:
        surrogate = _LONE_SURROGATE.search(self.source)
        if surrogate:
            self.at = surrogate.start()
            raise self.refuse("a lone surrogate cannot be read alike by both sides")
        while self.at < len(self.source):
            char = self.source[self.at]
            if char in "*+?{":
                self.out.append(self.quantifier())
                continue
            last = "atom"
            if char == "\\":
                escaped = self.escape(in_class=False)
                text = _literal(escaped) if isinstance(escaped, int) else escaped
            elif char == "[":
                text = self.char_class()
            elif char == "(":
                text = self.group_start()
                last = "start"
            else:
                if char == ")":
                    if not self.groups:
                        raise self.refuse("unbalanced ')'")
                    text = ")"
                    last = "lookahead" if self.groups.pop() == "lookahead" else "atom"
                elif char in "|^$":
                    text = {"|": "|", "^": "^", "$": "\\Z"}[char]
                    last = "start" if char == "|" else "assertion"
                elif char == ".":
                    text = "[^\\n\\r\\u2028\\u2029]"
                elif char in "}]":
                    raise self.refuse(f"a lone {char!r}; write \\{char}")
                else:
                    text = _literal(ord(char))
                self.at += 1
            self.out.append(text)
            self.last = last
        if self.groups:
            raise self.refuse("unbalanced '('")
        return "".join(self.out)

    def quantifier(self) -> str:
        char = self.source[self.at]
        if char == "{":
            match = _QUANTIFIER.match(self.source, self.at)
            if not match:
                if re.match(r"\{,[0-9]*\}", self.source[self.at :]):
                    raise self.refuse("{,n} is a quantifier only to Python; write {0,n}")
                raise self.refuse("a '{' that does not start a quantifier like {2,5}; write \\{")
            low, high = match.group(1, 3)
            if max(len(low), len(high or "")) > _COUNT_DIGITS:
                raise self.refuse(f"a repeat count of more than {_COUNT_DIGITS} digits")
            if high and int(high) < int(low):
                raise self.refuse(f"the numbers of {match.group(0)} are out of order")
            text = match.group(0)
        else:
            text = char
        if self.last == "quantifier":
            if char == "+":
                raise self.refuse("a possessive quantifier (a++, a*+, a{2}+) is Python-only: nothing to repeat")
            raise self.refuse("a quantifier cannot follow another quantifier: nothing to repeat")
        if self.last == "lookahead":
            raise self.refuse("a lookahead cannot be repeated in JavaScript's Unicode mode")
        if self.last != "atom":
            raise self.refuse(f"nothing to repeat before {text!r}; write \\{char} for the character")
        self.at += len(text)
        if self.source.startswith("?", self.at):  # lazy: the same in both
            text += "?"
            self.at += 1
        self.last = "quantifier"
        return text

    def group_start(self) -> str:
        rest = self.source[self.at : self.at + 256]
        for opening, kind in (("(?:", "group"), ("(?=", "lookahead"), ("(?!", "lookahead")):
            if rest.startswith(opening):
                self.at += len(opening)
                self.groups.append(kind)
                return opening
        if rest.startswith(("(?<=", "(?<!")):
            raise self.refuse("lookbehind is not supported alike by both sides")
        if rest.startswith("(?<"):
            name = re.match(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", rest)
            if not name:
                raise self.refuse("a malformed group name")
            if name.group(1) in self.names:
                raise self.refuse(f"the group name {name.group(1)!r} is used twice")
            self.names.add(name.group(1))
            self.at += name.end()
            self.groups.append("group")
            return "("
        if rest.startswith("(?>"):
            raise self.refuse("an atomic group (?>...) is Python-only, not part of JavaScript's syntax")
        if rest.startswith("(?P"):
            raise self.refuse("(?P...) is Python-only, not part of JavaScript's syntax; name a group (?<name>...)")
        if rest.startswith("(?"):
            raise self.refuse("this kind of group is not part of JavaScript's syntax")
        self.at += 1
        self.groups.append("group")
        return "("

    def escape(self, in_class: bool) -> int | str:
        """One escape: the code point it stands for, or the Python text of the set it names."""
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
            return 0x08
        if letter in "bB":
            raise self.refuse("word boundaries differ between the two sides")
        if letter == "0" and self.source[self.at : self.at + 1] not in _DIGITS:
            return 0
        if letter in _DIGITS or letter == "k":
            raise self.refuse("back-references (and \\0 before a digit) are not supported")
        if letter in "pP":
            raise self.refuse("Unicode property escapes are not supported by the server")
        if letter == "c":
            control = self.source[self.at : self.at + 1]
            if not control.isascii() or not control.isalpha():
                raise self.refuse("\\c must be followed by a letter")
            self.at += 1
            return ord(control) % 32
        if letter == "x":
            digits = self.source[self.at : self.at + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                raise self.refuse("\\x needs two hexadecimal digits")
            self.at += 2
            return int(digits, 16)
        if letter == "u":
            return self.unicode_escape()
        if letter in _SYNTAX or (in_class and letter == "-"):
            return ord(letter)
        raise self.refuse(f"\\{letter} is not a valid escape in JavaScript's Unicode mode")

    def unicode_escape(self) -> int:
        braced = re.match(r"\{([0-9A-Fa-f]+)\}", self.source[self.at : self.at + 64])
        if braced:
            digits = braced.group(1).lstrip("0") or "0"
            if len(digits) > 6 or int(digits, 16) > 0x10FFFF:
                raise self.refuse("the code point is beyond U+10FFFF")
            self.at += braced.end()
            code = int(digits, 16)
        else:
            digits = self.source[self.at : self.at + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise self.refuse("\\u needs four hexadecimal digits or {...}")
            self.at += 4
            code = int(digits, 16)
        if 0xD800 <= code <= 0xDFFF:
            raise self.refuse("surrogate escapes are read differently; write the character or \\u{...}")
        return code

    def char_class(self) -> str:
        """``[...]``, as JavaScript's Unicode mode reads it, with every character written out for Python."""
        self.at += 1
        negated = self.source.startswith("^", self.at)
        if negated:
            self.at += 1
        parts: list[str] = []
        while True:
            if self.at >= len(self.source):
                raise self.refuse("unterminated [")
            if self.source[self.at] == "]":
                self.at += 1
                break
            low = self.class_atom()
            if not self.source.startswith("-", self.at) or self.source[self.at + 1 : self.at + 2] in ("]", ""):
                parts.append(_literal(low) if isinstance(low, int) else low)
                continue
            if self.source.startswith("--", self.at):
                raise self.refuse("'--' inside [...] is read differently; escape the '-'")
            self.at += 1
            high = self.class_atom()
            if not isinstance(low, int) or not isinstance(high, int):
                raise self.refuse("a range cannot start or end at \\d, \\w or \\s")
            if low > high:
                raise self.refuse("the range is out of order")
            parts.append(f"{_literal(low)}-{_literal(high)}")
        if not parts:
            return "[\\s\\S]" if negated else "[^\\s\\S]"
        return f"[{'^' if negated else ''}{''.join(parts)}]"

    def class_atom(self) -> int | str:
        """One member of a class: a code point, or the Python text of the set an escape names."""
        if self.source.startswith("--", self.at):
            raise self.refuse("'--' inside [...] is read differently; escape the '-'")
        if self.source[self.at] == "\\":
            return self.escape(in_class=True)
        self.at += 1
        return ord(self.source[self.at - 1])


def _literal(code: int) -> str:
    """One character as Python reads it literally, anywhere in a pattern."""
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\U{code:08x}"
