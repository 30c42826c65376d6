"""Build the AWS Lambda deployment zip: runtime dependencies for the target platform, handler/ and schema/.

    python scripts/package_lambda.py [--runtime python3.12] [--arch arm64] [--out dist/lambda.zip] [--python PATH]

Decisions, each for a reason you can check:

- Dependencies are exactly those of the lock ``requirements/lambda.txt`` (``make lock`` writes it from the
  ``dependencies`` of pyproject.toml, with the versions the test lock pins, so the zip gets what the tests
  ran against), each checked against the lock's hashes, installed by pip for the *target* (CPython of the
  runtime's version, manylinux wheels for its glibc and architecture), wheels only. A lock that was not
  made from pyproject.toml's dependencies as they are now is refused (``--check-lock`` only checks);
  ``--resolve-latest`` ignores the lock and takes the newest matching releases, which is not reproducible.
- The AWS SDK (boto3, botocore, s3transfer, jmespath, urllib3) is left to the Lambda runtime, which
  ships it; a copy in the zip would also shadow the runtime's botocore dependencies.
- ``handler/serve.py`` is left out: it is the local development server, imports uvicorn (not packaged)
  and can never run on Lambda. Console scripts (``bin/``), ``RECORD`` files (their hashes describe files
  we drop and scripts whose first line names this machine's interpreter) and the dependencies' own test
  suites are left out too.
- Bytecode: a ``.pyc`` is only valid for the interpreter version that wrote it, and Lambda cannot write
  to ``/var/task``, so without shipped bytecode every cold start compiles every module again. The zip
  fixes every timestamp at 1980-01-01, which would make timestamp-based ``.pyc`` files look stale, so
  they are hash-based (PEP 552) and written by an interpreter of the runtime's major.minor only
  (``--python``, default: the one running this script). With any other interpreter the zip ships
  sources only, and says so. The default mode is ``unchecked-hash``: the package is immutable once
  deployed, so checking each source's hash on every cold start would only cost time; the embedded
  hash still lets anyone verify the bytecode against its source (``--invalidation-mode checked-hash``
  makes the interpreter do that check itself).
- Reproducible: entries sorted, timestamps 1980-01-01 00:00, permissions 0644 for files and 0755 for
  folders, deflate level 9, bytecode compiled with a fixed hash seed and paths as on Lambda
  (``/var/task/...``), so the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "dist" / "lambda.zip"
LOCK = ROOT / "requirements" / "lambda.txt"  # the zip's dependencies; requirements/run.txt and test.txt the others
# The line ``make lock`` adds to each lock: a digest of the dependency lists the lock was made from.
LOCK_STAMP = "# made from pyproject.toml dependencies with sha256 "
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the zip; used for paths inside the bytecode


@dataclass(frozen=True)
class Runtime:
    """A Lambda Python runtime: its interpreter version and the glibc of the Amazon Linux under it."""

    name: str
    version: tuple[int, int]
    glibc: tuple[int, int]

    @property
    def dotted(self) -> str:
        """The version as ``3.12``."""
        return f"{self.version[0]}.{self.version[1]}"


RUNTIMES = {
    runtime.name: runtime
    for runtime in (
        Runtime("python3.11", (3, 11), (2, 26)),  # Amazon Linux 2
        Runtime("python3.12", (3, 12), (2, 34)),  # Amazon Linux 2023
        Runtime("python3.13", (3, 13), (2, 34)),  # Amazon Linux 2023
    )
}
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}  # Lambda's name: the wheel platform's name
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3"})
LOCAL_ONLY = frozenset({"handler/serve.py"})
DROPPED_DIR_NAMES = frozenset({"__pycache__", "tests"})
INVALIDATION_MODES = ("unchecked-hash", "checked-hash")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
DIR_MODE = 0o755


class PackagingError(Exception):
    """The package cannot be built as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Distribution:
    """An installed distribution in the staging folder."""

    name: str
    version: str
    dist_info: Path


@dataclass(frozen=True)
class Summary:
    """What went into the zip."""

    path: Path
    size: int
    uncompressed: int
    files: int
    pyc_files: int
    sha256: str
    groups: list[tuple[str, int, int, int]]  # (top-level name, files, compressed bytes, uncompressed bytes)


def canonical_name(name: str) -> str:
    """A distribution name normalized as PEP 503 does (``Typing_Extensions`` -> ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_table(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, Any]:
    """The ``[project]`` table of pyproject.toml (its ``name`` and ``dependencies`` matter here)."""
    with pyproject.open("rb") as stream:
        return dict(tomllib.load(stream)["project"])


def dependency_digest(project: dict[str, Any]) -> str:
    """The sha256 of what the locks are made from: requires-python, the dependencies and the optional ones."""
    declared = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def stamp_lock(lock: Path, project: dict[str, Any]) -> None:
    """Record in ``lock`` (after the header its tool wrote) the digest of the dependencies it was made from."""
    lines = [line for line in lock.read_text(encoding="utf-8").splitlines() if not line.startswith(LOCK_STAMP)]
    header = next((n for n, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(header, LOCK_STAMP + dependency_digest(project))
    lock.write_text("\n".join(lines) + "\n", encoding="utf-8")


def locked_pins(text: str) -> dict[str, str]:
    """The ``name==version`` lines of a lock, by canonical name."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", text, flags=re.MULTILINE)
    return {canonical_name(name): version for name, version in found}


def lock_problems(lock: Path, project: dict[str, Any]) -> list[str]:
    """Why ``lock`` does not match the dependencies pyproject.toml declares now; empty if it does."""
    shown = lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock
    if not lock.is_file():
        return [f"{shown} does not exist"]
    text = lock.read_text(encoding="utf-8")
    stamps = [line.removeprefix(LOCK_STAMP).strip() for line in text.splitlines() if line.startswith(LOCK_STAMP)]
    problems = []
    if not stamps:
        problems.append(f"{shown} does not say which pyproject.toml dependencies it was made from")
    elif stamps[-1] != dependency_digest(project):
        problems.append(f"the dependencies in pyproject.toml have changed since {shown} was made")
    pins = locked_pins(text)
    for requirement in project.get("dependencies", []):
        name = canonical_name(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0])
        if name not in pins:
            problems.append(f"{shown} does not pin {name}, which pyproject.toml requires")
    return problems


def target_platforms(runtime: Runtime, arch: str) -> list[str]:
    """Wheel platform tags that run on the runtime: manylinux up to its glibc, newest first."""
    machine = ARCHITECTURES[arch]
    major, newest = runtime.glibc
    tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(newest, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]  # the legacy alias of manylinux_2_17


def install_dependencies(
    target: Path, runtime: Runtime, arch: str, requirements: Sequence[str], constraints: Path | None
) -> None:
    """pip-install the requirements and what they need, as wheels built for the runtime, into ``target``."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check"]
    command += ["--no-compile", "--target", str(target), "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", runtime.dotted]
    for platform in target_platforms(runtime, arch):
        command += ["--platform", platform]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    result = subprocess.run([*command, *requirements], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(f"pip could not install the runtime dependencies:\n{result.stdout}{result.stderr}")


def installed_distributions(target: Path) -> list[Distribution]:
    """The distributions pip installed into ``target``, by name."""
    found = []
    for dist_info in sorted(target.glob("*.dist-info")):
        headers = HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
        found.append(Distribution(canonical_name(headers["Name"]), headers["Version"], dist_info))
    return found


def remove_distribution(target: Path, dist: Distribution) -> None:
    """Delete every file the distribution's RECORD lists (inside ``target``), then its dist-info folder."""
    root = target.resolve()
    for line in (dist.dist_info / "RECORD").read_text(encoding="utf-8").splitlines():
        path = (root / line.rsplit(",", 2)[0]).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()
    shutil.rmtree(dist.dist_info)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def prune(target: Path) -> None:
    """Drop what never runs on Lambda: console scripts, caches, RECORD files and packages' test suites."""
    shutil.rmtree(target / "bin", ignore_errors=True)
    for folder in sorted(target.rglob("*"), reverse=True):
        if folder.is_dir() and folder.name in DROPPED_DIR_NAMES:
            shutil.rmtree(folder)
    for path in target.rglob("*"):
        if path.is_file() and (path.suffix in (".pyc", ".pyo") or path.name == "RECORD"):
            path.unlink()


def stale_lock_message(problems: Sequence[str]) -> str:
    """What to tell someone whose lock does not match pyproject.toml."""
    return "the lock is stale:\n  " + "\n  ".join(problems) + "\nrun `make lock` and commit requirements/"


def copy_project(target: Path, root: Path = ROOT) -> None:
    """Copy the ``handler`` package (its modules) and the checked, compiled catalog into ``target``."""
    # Imported here, so that checking and stamping the locks works before the project is installed.
    from handler.schema.loader import COMPILED, SchemaProblem, compile_catalog, load_catalog

    for path in sorted((root / "handler").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if "__pycache__" not in path.parts and relative not in LOCAL_ONLY:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
    # The catalog is checked here, once, and shipped compiled: the cold start does not check it again.
    try:
        compiled = compile_catalog(load_catalog(root / "schema"))
    except SchemaProblem as exc:
        raise PackagingError("the schema has problems:\n  " + "\n  ".join(exc.problems)) from exc
    (target / "schema").mkdir(parents=True, exist_ok=True)
    text = json.dumps(compiled, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    (target / "schema" / COMPILED).write_text(text, encoding="utf-8")


def interpreter_version(python: str) -> tuple[int, int]:
    """The major.minor of a CPython interpreter, asked of the interpreter itself."""
    probe = "import sys; print(sys.implementation.name, *sys.version_info[:2])"
    try:
        result = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PackagingError(f"--python {python} cannot be run: {exc}") from exc
    implementation, major, minor = result.stdout.split()
    if implementation != "cpython":
        raise PackagingError(f"--python {python} is {implementation}; Lambda runs CPython")
    return int(major), int(minor)


def compile_bytecode(target: Path, python: str, mode: str) -> None:
    """Write hash-based ``.pyc`` files for every module in ``target`` with ``python``, as Lambda will see them."""
    command = [python, "-P", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", mode]
    command += ["-s", str(target), "-p", LAMBDA_TASK_ROOT, str(target)]
    # A fixed hash seed keeps the order of set constants, and so the bytes of each .pyc, the same.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    environment.pop("PYTHONPYCACHEPREFIX", None)
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode != 0:
        raise PackagingError(f"compileall failed:\n{result.stdout}{result.stderr}")


def write_zip(source: Path, out: Path) -> None:
    """Zip ``source`` into ``out`` with sorted entries, fixed times and modes, so equal trees give equal bytes."""
    entries = {path.relative_to(source).as_posix() + ("/" if path.is_dir() else ""): path for path in source.rglob("*")}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            path = entries[name]
            if path.is_dir():
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.create_system = 3  # Unix, so that the mode bits below are honoured
                info.external_attr = (0o040000 | DIR_MODE) << 16 | 0x10  # 0x10: the MS-DOS directory flag
                archive.writestr(info, b"")
            else:
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.create_system = 3
                info.external_attr = (0o100000 | FILE_MODE) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    partial.replace(out)


def summarize(out: Path) -> Summary:
    """Count the zip's files and size each top-level folder (all ``*.dist-info`` together)."""
    groups: dict[str, list[int]] = {}
    files = pyc_files = uncompressed = 0
    with zipfile.ZipFile(out) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            top = info.filename.split("/", 1)[0]
            top = "*.dist-info" if top.endswith(".dist-info") else top
            group = groups.setdefault(top, [0, 0, 0])
            group[0] += 1
            group[1] += info.compress_size
            group[2] += info.file_size
            files += 1
            pyc_files += info.filename.endswith(".pyc")
            uncompressed += info.file_size
    rows = [(name, count, compressed, size) for name, (count, compressed, size) in groups.items()]
    rows.sort(key=lambda row: (-row[2], row[0]))
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return Summary(out, out.stat().st_size, uncompressed, files, pyc_files, digest, rows)


def megabytes(size: int) -> str:
    """A byte count in MB (10^6) with two decimals."""
    return f"{size / 1_000_000:.2f} MB"


def print_summary(summary: Summary, distributions: Iterable[Distribution]) -> None:
    """Print the zip's size, file counts and its top-level folders, largest first."""
    print(f"wrote {summary.path}")
    print(f"  size:      {summary.size:,} bytes ({megabytes(summary.size)}; Lambda's limit: 50 MB zipped)")
    print(f"  unzipped:  {summary.uncompressed:,} bytes ({megabytes(summary.uncompressed)}; limit: 250 MB)")
    print(f"  files:     {summary.files} ({summary.pyc_files} .pyc)")
    print(f"  sha256:    {summary.sha256}")
    print("  packages:  " + ", ".join(f"{d.name}=={d.version}" for d in distributions))
    print(f"  {'top level':<28} {'files':>6} {'zipped':>12} {'unzipped':>12}")
    for name, count, compressed, size in summary.groups:
        print(f"  {name:<28} {count:>6} {compressed:>12,} {size:>12,}")


def build(
    out: Path,
    runtime: Runtime,
    arch: str,
    python: str,
    invalidation_mode: str = INVALIDATION_MODES[0],
    pin: bool = True,
    root: Path = ROOT,
    lock: Path = LOCK,
) -> Summary:
    """Build the deployment zip at ``out`` and return its summary; prints what it decided on the way."""
    project = project_table(root / "pyproject.toml")
    if pin and (problems := lock_problems(lock, project)):
        raise PackagingError(stale_lock_message(problems))
    with tempfile.TemporaryDirectory(prefix="lambda-package-") as scratch:
        staging = Path(scratch) / "package"
        staging.mkdir()
        if pin:  # exactly what the lock names, each file checked against its hashes
            install_dependencies(staging, runtime, arch, ["--require-hashes", "--no-deps", "-r", str(lock)], None)
        else:
            print("note: --resolve-latest: the newest matching releases, not the lock's; this zip is not reproducible")
            install_dependencies(staging, runtime, arch, project["dependencies"], None)
        distributions = []
        for dist in installed_distributions(staging):
            if dist.name in PROVIDED_BY_RUNTIME:
                print(f"left out {dist.name} {dist.version}: the Lambda runtime provides it")
                remove_distribution(staging, dist)
            else:
                distributions.append(dist)
        prune(staging)
        copy_project(staging, root)
        interpreter = interpreter_version(python)
        if interpreter == runtime.version:
            compile_bytecode(staging, python, invalidation_mode)
            print(f"bytecode: {invalidation_mode} .pyc files written by Python {runtime.dotted} ({python})")
        else:
            found = f"{interpreter[0]}.{interpreter[1]}"
            print(
                f"note: no bytecode in the zip: --python is Python {found} ({python}) but {runtime.name} runs "
                f"Python {runtime.dotted}, and a .pyc only works for the version that wrote it. Lambda cannot "
                f"write to {LAMBDA_TASK_ROOT}, so every cold start will compile the modules it imports. "
                f"Pass --python with a Python {runtime.dotted} interpreter to ship bytecode."
            )
        write_zip(staging, out)
    summary = summarize(out)
    print_summary(summary, distributions)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, build the zip and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), default="python3.12")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="arm64")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the zip to write (default: dist/lambda.zip)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter that writes the bytecode; it must match the runtime's version (default: this one)",
    )
    parser.add_argument("--invalidation-mode", choices=INVALIDATION_MODES, default=INVALIDATION_MODES[0])
    parser.add_argument(
        "--resolve-latest",
        action="store_true",
        help="ignore the lock and take the newest matching releases (not reproducible)",
    )
    parser.add_argument("--lock", type=Path, default=LOCK, help="the lock to install from (default: %(default)s)")
    parser.add_argument("--check-lock", action="store_true", help="only check that the lock matches pyproject.toml")
    parser.add_argument(
        "--stamp-lock", type=Path, nargs="+", metavar="LOCK", help="record pyproject.toml's dependencies in these locks"
    )
    args = parser.parse_args(argv)
    project = project_table(ROOT / "pyproject.toml")
    if args.stamp_lock:
        for lock in args.stamp_lock:
            stamp_lock(lock, project)
        return 0
    if args.check_lock:
        problems = lock_problems(args.lock, project)
        if problems:
            print(f"error: {stale_lock_message(problems)}", file=sys.stderr)
        return 1 if problems else 0
    try:
        build(
            args.out,
            RUNTIMES[args.runtime],
            args.arch,
            args.python,
            args.invalidation_mode,
            not args.resolve_latest,
            lock=args.lock,
        )
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
