"""The one rule of an e-mail address the product takes: what the page, the API and the contact register accept
is what the mailer delivers to. Standard library only, so the mailer can be checked on any Python."""

from __future__ import annotations

import re

from handler.patterns import python_regex

# The HTML standard's "valid e-mail address" (browsers' <input type="email">), with the local part a dot-atom (no
# dot at either end, none twice in a row) and no "=?", which mail software reads as the start of an encoded word.
EMAIL_PATTERN = (
    r"^(?!.*=\?)[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_DELIVERABLE = re.compile(python_regex(EMAIL_PATTERN))


def deliverable(address: str) -> bool:
    """Whether ``address`` follows the rule."""
    return bool(_DELIVERABLE.search(address))
