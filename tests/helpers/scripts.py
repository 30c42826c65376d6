"""A snippet of Python run in a fresh interpreter, as a cold start or a copy of the project would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def run_script(
    script: str, *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> tuple[Any, str]:
    """Run ``script`` with ``args`` in a fresh interpreter in ``cwd``, which must succeed: the last line it printed,
    read as JSON, and what it wrote to stderr."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr
