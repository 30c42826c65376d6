"""Where the tests find the project and their own data: tests/events, tests/data, tests/forms and the rest."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
