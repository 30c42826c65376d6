"""Run the tests that need no browser or local server on copies of this work tree whose schema/ an operator
edited: each service removed in turn, the first renamed, the services reordered, a language added, a service
with every widget added. The product's promise is that such edits need no code, so the suite stays green.

    python scripts/operator_edits.py                 # every edit, one per CPU side by side
    python scripts/operator_edits.py rename reorder  # only these
    python scripts/operator_edits.py remove:data-extract --pytest="-x tests/api/test_api.py"  # one service, some tests
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import edits  # noqa: E402  (the edits live beside the tests that use them)

# What a copy of the work tree leaves out: the environment, what builds and runs write, and caches.
TOP_LEFT_OUT = {".git", ".venv", "node_modules", "dist", "data", "test-results", ".tools", "build"}


def left_out(folder: str, names: list[str]) -> set[str]:
    """The entries of ``folder`` the copy leaves out."""
    top = Path(folder) == ROOT
    return {n for n in names if (top and n in TOP_LEFT_OUT) or n == "__pycache__" or n.endswith(".egg-info")}


# One removal stands for "remove any service": the tests hold no service dearer than another, and each removal
# costs a whole run. REMOVE=all removes each in turn.
EDITS = ("remove", "rename", "reorder", "add-language", "add-service")


def chosen_edits(names: list[str], every_removal: bool) -> list[str]:
    """The edits to run, with ``remove`` spelt out as the service(s) it removes."""
    services = edits.services(ROOT / "schema")
    spelt: list[str] = []
    for name in names or EDITS:
        if name == "remove":
            spelt += [f"remove:{s}" for s in (services if every_removal else services[-1:])]
        else:
            spelt.append(name)
    return spelt


def run(edit: str, pytest_args: list[str]) -> tuple[str, int, float, str]:
    """Copy the work tree, apply ``edit`` to its schema/, run the suite there; what was done, exit code, seconds,
    and what the run printed."""
    with tempfile.TemporaryDirectory(prefix="operator-edit-") as folder:
        tree = Path(folder) / "tree"
        shutil.copytree(ROOT, tree, ignore=left_out)
        if (ROOT / "node_modules").exists():
            (tree / "node_modules").symlink_to(ROOT / "node_modules")
        what = edits.apply(tree / "schema", edit)
        started = time.monotonic()
        command = [sys.executable, "-m", "pytest", "-m", "not servers and not browser", "-p", "no:cacheprovider"]
        # The copy's own handler and tests come first on the path, ahead of the editable install of this tree.
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(
            [*command, "-q", *pytest_args],
            cwd=tree,
            env=environment,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return what, done.returncode, time.monotonic() - started, done.stdout


def main() -> int:
    """Run the chosen edits and print one line for each."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "edits",
        nargs="*",
        metavar="EDIT",
        help=f"any of {', '.join(EDITS)}, or remove:SERVICE to remove that service (default: all)",
    )
    parser.add_argument("--every-removal", action="store_true", help="remove each service in turn")
    parser.add_argument("--pytest", default="", help="more arguments for pytest, such as '-x'")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="edits run side by side (default: one per CPU)"
    )
    args = parser.parse_args()
    if unknown := {e for e in args.edits if e not in EDITS and not e.startswith("remove:")}:
        parser.error(f"unknown edit(s) {', '.join(sorted(unknown))}; choose from {', '.join(EDITS)}")
    chosen = chosen_edits(args.edits, args.every_removal)
    print(f"{len(chosen)} edits, {max(1, args.jobs)} side by side: {', '.join(chosen)}", flush=True)
    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for what, code, seconds, printed in pool.map(lambda edit: run(edit, args.pytest.split()), chosen):
            print(f"== {what}\n{printed}", flush=True)  # each run's output whole, as it ends, in order
            results.append((what, code, seconds))
    for what, code, seconds in results:
        print(f"{'passed' if code == 0 else 'FAILED'}: {what} ({seconds:.0f} s)")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
