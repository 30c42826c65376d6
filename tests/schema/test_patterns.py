"""Schema patterns: what the server accepts, the page compiles (``new RegExp(p, "u")`` in node) and
reads the same way, on a generated corpus of patterns and sample texts."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from handler.patterns import check_pattern, python_regex
from tests.helpers.pagecheck import NODE, node

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js compiles the patterns as the page does")

ATOMS = [
    *"aabAB1_- é😀٣/",
    ".",
    *["\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\.", "\\/", "\\-", "\\\\", "\\*", "\\{", "\\}", "\\]", "\\|"],
    *["\\x41", "\\x4", "\\xg1", "\\u0041", "\\u00e9", "\\u{1F600}", "\\u{}", "\\u{110000}", "\\u{0000041}"],
    *["\\uD83D", "\\uD83D\\uDE00", "\\0", "\\00", "\\01", "\\1", "\\k<n>", "\\cA", "\\c1", "\\c", "\\t", "\\n"],
    *["\\v", "\\f", "\\r", "\\b", "\\B", "\\A", "\\Z", "\\z", "\\G", "\\h", "\\a", "\\e", "\\p{L}", "\\P{L}", "\\q"],
    *["\\U00000041", "\\N{DIGIT ONE}", "\\_", "\\ ", "\\😀", "\\٣"],
    *["[abc]", "[^ab]", "[a-c]", "[c-a]", "[\\d-z]", "[a-\\d]", "[a-]", "[-a]", "[]", "[^]", "[\\s\\S]", "[\\w.]"],
    *["[\\b]", "[\\B]", "[\\-]", "[a\\-z]", "[!--]", "[!-\\-]", "[a--b]", "[\\u{1F600}-\\u{1F64F}]", "[[]", "[&&]"],
    *["[~~a]", "[||]", "[\\x41-\\x5a]", "[\\0]", "[\\00]", "[\\cJ]", "[\\c1]", "[^\\n]", "[\\]]", "[a-z0-9_]"],
    *["[\\/]", "[\\k]", "[\\1]", "[\\p{L}]", "[.]", "[*+?{}()|$^]", "[^^]", "[\\^]", "[a-a]", "[😀-😂]", "[\\D]"],
    *["[\\u0041-\\u{5A}]", "[\\t-\\r]", "[ -~]", "[\\x00-\\x1f]", "[-]", "[--]", "[a-b-c]", "[\\w-]"],
]
LOOSE = ["{", "}", "]", ")", "(", "|", "^", "$", "{2", "{a}", "{٣}", "{,}", "{ 1}"]
OPENERS = ["(", "(?:", "(?=", "(?!", "(?<n>", "(?<m>", "(?<=", "(?<!", "(?>", "(?P<n>", "(?i:", "(?#"]
LONE_GROUPS = ["(?P=n)", "(?i)", "(?#c)", "()", "(?:)", "(?=)", "(|)", "(?<1>a)", "(?<a b>a)"]
QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{2,}", "{,2}", "{3,1}", "{0}", "{01}", "{0,0}", "{1,1}"]
SUFFIXES = ["", "", "", "?", "+", "*", "{2}"]
# Half of the corpus draws only from constructs both sides take, so that many patterns are accepted.
WILD = {"atoms": ATOMS, "openers": OPENERS, "lone": LONE_GROUPS, "quantifiers": QUANTIFIERS, "suffixes": SUFFIXES}
TAME = {
    "atoms": [a for a in ATOMS if check_pattern(a) is None],
    "openers": ["(", "(?:", "(?=", "(?!", "(?<n>"],
    "lone": ["()", "(?:)", "(|)", "(?:a|b)"],
    "quantifiers": ["*", "+", "?", "{2}", "{1,3}", "{2,}", "{0}"],
    "suffixes": ["", "", "?"],
}
ALPHABET = [*"abAB1٣_- .\n\t😀é{}/\\\x00\u2028"]
SAMPLES = ["", "a", "b", "ab", "ba", "aaa", "A1_", "a b", "a\nb", "-", "😀", "é", "{}", "[]", ".", "\u2028a", "aB-1"]
PATTERNS = 4000


def _term(rng: random.Random, depth: int, pool: dict[str, list[str]]) -> str:
    roll = rng.random()
    if roll < 0.55:
        term = rng.choice(pool["atoms"])
    elif roll < 0.7 and depth < 3:
        closed = pool is TAME or rng.random() < 0.95
        term = rng.choice(pool["openers"]) + _sequence(rng, depth + 1, pool) + (")" if closed else "")
    elif roll < 0.78:
        term = rng.choice(pool["lone"])
    elif roll < 0.86 or pool is TAME:
        term = rng.choice(["^", "$", "|"])
    else:
        term = rng.choice(LOOSE)
    if rng.random() < 0.35:
        term += rng.choice(pool["quantifiers"]) + rng.choice(pool["suffixes"])
    return term


def _sequence(rng: random.Random, depth: int, pool: dict[str, list[str]]) -> str:
    return "".join(_term(rng, depth, pool) for _ in range(rng.randint(0, 4 if depth else 6)))


def corpus(count: int = PATTERNS, seed: int = 20260) -> list[str]:
    """Patterns from random atoms, classes, escapes, groups and quantifiers, many valid and many not."""
    rng = random.Random(seed)
    found = {_sequence(rng, 0, WILD if i % 2 else TAME) for i in range(count)}
    return sorted(found)


def samples_for(pattern: str, rng: random.Random) -> list[str]:
    made = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(4)]
    return [*SAMPLES, *made, pattern]


# Compiles every pattern as the page does and says, for each, why it does not compile or whether
# each of its sample texts matches.
PAGE_SIDE = """
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const answers = JSON.parse(input).map(({ pattern, samples }) => {
    let regex;
    try {
      regex = new RegExp(pattern, "u");
    } catch (error) {
      return { error: String(error.message) };
    }
    return { matches: samples.map((s) => regex.test(s)) };
  });
  process.stdout.write(JSON.stringify(answers));
});
"""


def page_verdicts(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = json.loads(node(PAGE_SIDE, json.dumps(cases)))
    return answers


def test_every_pattern_the_server_accepts_compiles_in_the_page_and_matches_alike() -> None:
    rng = random.Random(7)
    patterns = corpus()
    accepted = [p for p in patterns if check_pattern(p) is None]
    cases: list[dict[str, Any]] = [{"pattern": p, "samples": samples_for(p, rng)} for p in accepted]
    refused = [p for p in patterns if check_pattern(p) is not None]
    # Refused ones are compiled too, only to show the corpus is not all one or the other.
    answers = page_verdicts([*cases, *({"pattern": p, "samples": []} for p in refused)])
    broken = [(c["pattern"], a["error"]) for c, a in zip(cases, answers, strict=False) if "error" in a]
    assert broken == [], f"the server accepts {len(broken)} patterns the page cannot compile: {broken[:20]}"
    differ = []
    for case, answer in zip(cases, answers, strict=False):
        pattern, samples = case["pattern"], case["samples"]
        server = [python_regex(pattern).search(s) is not None for s in samples]
        if server != answer["matches"]:
            differ.append((pattern, [s for s, a, b in zip(samples, server, answer["matches"], strict=True) if a != b]))
    assert differ == [], f"{len(differ)} patterns match differently on the two sides: {differ[:20]}"
    also_refused_by_page = sum("error" in a for a in answers[len(cases) :])
    # The corpus exercises both sides of the check: thousands of patterns, many of each kind.
    assert len(patterns) > 2500 and len(accepted) > 800 and also_refused_by_page > 800, (
        len(patterns),
        len(accepted),
        also_refused_by_page,
    )


UNPORTABLE = [
    "a++",
    "h*+",
    "t{2}+",
    "x?+",
    "a{1,3}+",
    "(?>ab)c",
    "a\\Z",
    "\\Aa",
    "(?P<x>a)",
    "(?P=x)",
    "\\x4",
    "\\u{110000}",
    "(?=a)*",
    "(?!a){2}",
    "a{,3}",
    "*a",
    "a|*",
    "(*a)",
    "^*",
    "$+",
    "a{3,1}",
    "a{٣}",
    "[\\d-z]",
    "[a-\\w]",
    "[z-a]",
    "(?<a>x)(?<a>y)",
    "a???",
    "\\-",
    "[\\00]",
    "\\00",
]


def test_the_patterns_the_page_cannot_compile_are_refused() -> None:
    assert [p for p in UNPORTABLE if check_pattern(p) is None] == []
    answers = page_verdicts([{"pattern": p, "samples": []} for p in UNPORTABLE])
    assert [p for p, a in zip(UNPORTABLE, answers, strict=True) if "error" not in a] == []
