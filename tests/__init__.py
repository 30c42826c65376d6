"""The tests, grouped by the part they exercise; what they share is in tests/helpers/ and tests/conftest.py."""

import pytest

# The helpers' asserts report their values as a test's own do (registered before any helper is imported).
pytest.register_assert_rewrite("tests.helpers")
