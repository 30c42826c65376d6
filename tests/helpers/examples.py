"""How many examples a property test draws: its full count, or a tenth of it (at least 10) under the fast profile
(``HYPOTHESIS_PROFILE=fast``, which ``make test-fast`` sets); ``make test`` always draws the full count."""

from __future__ import annotations

from hypothesis import settings

DEFAULT_EXAMPLES = 100  # Hypothesis's own default, which the default profile keeps


def examples(full: int) -> int:
    """``full`` under the default profile; scaled down as the loaded profile scales Hypothesis's default."""
    current = settings().max_examples
    return full if current >= DEFAULT_EXAMPLES else max(10, full * current // DEFAULT_EXAMPLES)
