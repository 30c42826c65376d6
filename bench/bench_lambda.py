"""Benchmark of the Lambda handler on the embedded store, side by side with the least a handler can do.

    python bench/bench_lambda.py [--runs 15] [--rounds 3] [--calls 300] [--warmup 50] [--skip-package]

Two handlers take the same valid submission (the HTTP API v2 event of tests/events), each in fresh
interpreters started in turn (ours, the peer, ours, ...), from the deployment zip built for this machine
and unpacked, run with ``-S -B`` so that only what the zip holds is imported and nothing is written, as
on Lambda's read-only ``/var/task``:

- ours: ``handler.lambda_entry.handler`` on the embedded store, signed in as a registered contact, each
  submission with its own Idempotency-Key (so each is stored);
- the peer: bench/minimal_embedded.py, FastAPI + Mangum + jsonschema, the same schema checked, one JSON
  document written with one fsync, a 201.

Measured, medians of the fresh interpreters (start-up excluded, the time taken inside each process):

- import: the entry module without Lambda's environment (no container), against the peer's frameworks;
- INIT: the module imported as Lambda imports it (``AWS_LAMBDA_FUNCTION_NAME`` set: the container is built
  while importing), against importing the peer (which builds its app and validator);
- first event: INIT and one valid submission answered;
- warm: ``--calls`` submissions in each of ``--rounds`` fresh processes per handler, after ``--warmup``
  uncounted ones: p50 and p99 over all rounds;
- the zip's size (``make package`` builds dist/lambda.zip).

Ratios are printed, never asserted; the aims are in AIMS.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
EVENT = ROOT / "tests" / "events" / "http-api-v2.json"
ZIP = ROOT / "dist" / "lambda.zip"
PACKAGER = ROOT / "scripts" / "package_lambda.py"
ENTRY, PEER, PEER_FRAMEWORKS = "handler.lambda_entry", "minimal_embedded", "fastapi, mangum, jsonschema"
EMAIL = "bench.requester@example.no"
AIMS = {"import": 1.10, "INIT": 1.15, "first event": 1.15, "warm p50": 1.5}
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
# Each child: its sys.path first, then the clock; prints a JSON list of seconds as its last line.
IMPORT = """import sys, time, json
sys.path[:0] = {path!r}
started = time.perf_counter()
import {modules}
print(json.dumps([time.perf_counter() - started]))"""
EVENTS = """import sys, time, json
sys.path[:0] = {path!r}
events = json.loads(sys.stdin.read())
started = time.perf_counter()
from {module} import handler
samples = []
for number, event in enumerate(events):
    result = handler(event, None)
    samples.append(time.perf_counter() - started)
    assert result["statusCode"] == 201, result
    started = time.perf_counter()
print(json.dumps(samples))"""
sys.path.insert(0, str(ROOT))  # the handler package, when run as `python bench/bench_lambda.py`


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` of 1) of the samples, in milliseconds."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1] * 1000


def child(code: str, path: Sequence[str], env: dict[str, str], stdin: str = "") -> list[float]:
    """The seconds a fresh interpreter prints, running ``code`` with only ``path`` and the standard library."""
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code.replace("{path!r}", repr(list(path)))],
        input=stdin,
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"a benchmark process failed:\n{result.stderr[-3000:]}")
    return [float(s) for s in json.loads(result.stdout.strip().splitlines()[-1])]


def unpacked_zip(scratch: Path) -> list[str] | None:
    """The deployment zip for this machine, unpacked, with the peer beside it; None if it cannot be built here."""
    arch = ARCHES.get(platform.machine().lower())
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    out = scratch / "native.zip"
    command = [sys.executable, str(PACKAGER), "--runtime", runtime, "--arch", arch or "x86_64", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if arch is None or result.returncode != 0:
        print(f"note: no zip for {platform.machine()} here, measuring from .venv instead\n{result.stderr[-2000:]}")
        return None
    with zipfile.ZipFile(out) as archive:
        archive.extractall(scratch / "task")
    shutil.copy(BENCH / f"{PEER}.py", scratch / f"{PEER}.py")
    return [str(scratch / "task"), str(scratch)]


def event_with(template: dict[str, Any], path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The HTTP API v2 event for a POST of ``body`` to ``path`` with extra headers."""
    event = copy.deepcopy(template)
    text = json.dumps(body)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["body"] = text
    event["headers"] = {**event["headers"], "content-length": str(len(text.encode())), **headers}
    event["headers"].pop("idempotency-key", None)
    return event


def lambda_call(event: dict[str, Any]) -> tuple[int, Any]:
    """Status and JSON body of one event through the Lambda entry (in this process, from .venv)."""
    from handler.lambda_entry import handler

    result = handler(event, None)
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def sign_in(template: dict[str, Any], data_dir: Path) -> str:
    """A session token for the bench's contact, through the API as the page gets one (code from the outbox)."""
    from handler.contacts import Contact
    from handler.schema.loader import load_catalog
    from handler.storage.local import LocalStore

    allowed = load_catalog().forms["service-request"].allowed_contact_types
    LocalStore(data_dir).contacts.put_contact(
        Contact(EMAIL, "Bench Requester", "+47 900 00 000", "Bench AS", allowed[:1])
    )
    status, body = lambda_call(event_with(template, "/v1/session/code", {"email": EMAIL}, {}))
    assert status == 202, body
    mails = sorted((data_dir / "outbox").glob("*.eml"))
    message = BytesParser(policy=policy.default).parsebytes(mails[-1].read_bytes())
    text = message.get_body(preferencelist=("plain",))
    found = re.search(r"\b(\d{6})\b", text.get_content() if text else "")
    assert found, "no code in the sign-in e-mail"
    status, body = lambda_call(event_with(template, "/v1/session", {"email": EMAIL, "code": found.group(1)}, {}))
    assert status == 200, body
    return str(body["token"])


def submissions(template: dict[str, Any], token: str, count: int) -> str:
    """``count`` copies of the fixture's valid submission, signed in, each with its own Idempotency-Key."""
    prefix, events = secrets.token_hex(6), []
    for number in range(count):
        event = copy.deepcopy(template)
        key = f"bench-{prefix}-{number:06d}"
        event["headers"] = {**event["headers"], "authorization": f"Bearer {token}", "idempotency-key": key}
        events.append(event)
    return json.dumps(events)


def zip_summary(path: Path = ZIP) -> str:
    """The deployment zip's size and counts, or how to build it."""
    if not path.exists():
        return f"{path.relative_to(ROOT)} not built yet: run `make package` (python scripts/package_lambda.py)"
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    pyc = sum(n.endswith(".pyc") for n in names)
    size = path.stat().st_size
    return f"{path.relative_to(ROOT)}: {size:,} bytes ({size / 1_000_000:.2f} MB), {len(names)} files, {pyc} .pyc"


def measure(args: argparse.Namespace, path: list[str], template: dict[str, Any], token: str) -> dict[str, Any]:
    """Every figure of both handlers, in fresh interpreters taking turns."""
    plain = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    lambda_env = {**plain, "AWS_LAMBDA_FUNCTION_NAME": "bench"}
    found: dict[str, dict[str, list[float]]] = {}
    pairs = {
        "import": ((IMPORT.replace("{modules}", ENTRY), plain), (IMPORT.replace("{modules}", PEER_FRAMEWORKS), plain)),
        "INIT": ((IMPORT.replace("{modules}", ENTRY), lambda_env), (IMPORT.replace("{modules}", PEER), lambda_env)),
    }
    for figure, ((ours, ours_env), (peer, peer_env)) in pairs.items():
        found[figure] = {"ours": [], "peer": []}
        for run in range(args.runs + 1):  # the first round warms the page cache: not counted
            for who, code, env in (("ours", ours, ours_env), ("peer", peer, peer_env)):
                sample = child(code, path, env)[0]
                if run:
                    found[figure][who].append(sample)
    found["first event"] = {"ours": [], "peer": []}
    found["warm"] = {"ours": [], "peer": []}
    for module in (ENTRY, PEER):
        child(EVENTS.replace("{module}", module), path, lambda_env, submissions(template, token, 1))  # page cache
    for run in range(max(args.runs, args.rounds)):
        for module, who in ((ENTRY, "ours"), (PEER, "peer")):
            code = EVENTS.replace("{module}", module)
            if run < args.runs:
                found["first event"][who].append(child(code, path, lambda_env, submissions(template, token, 1))[0])
            if run < args.rounds:
                samples = child(code, path, lambda_env, submissions(template, token, args.warmup + args.calls))
                found["warm"][who].extend(samples[args.warmup :])
    return found


def report(found: dict[str, Any]) -> None:
    """The table: each figure for both handlers and their ratio, against its aim."""
    print(f"\n{'figure':<14} {'ours':>10} {'peer':>10} {'ratio':>7}   aim")
    rows = [
        (figure, statistics.median(found[figure]["ours"]) * 1000, statistics.median(found[figure]["peer"]) * 1000)
        for figure in ("import", "INIT", "first event")
    ]
    ours_warm, peer_warm = found["warm"]["ours"], found["warm"]["peer"]
    rows += [
        ("warm p50", percentile(ours_warm, 0.50), percentile(peer_warm, 0.50)),
        ("warm p99", percentile(ours_warm, 0.99), percentile(peer_warm, 0.99)),
    ]
    for figure, ours, peer in rows:
        aim = AIMS.get(figure)
        verdict = "" if aim is None else f"<= {aim:.2f}: {'met' if ours / peer <= aim else 'missed'}"
        print(f"{figure:<14} {ours:8.2f} ms {peer:7.2f} ms {ours / peer:6.2f}x   {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", type=int, default=15, help="fresh interpreters per handler for import, INIT and first event"
    )
    parser.add_argument("--rounds", type=int, default=3, help="fresh warm processes per handler (default 3)")
    parser.add_argument("--calls", type=int, default=300, help="warm submissions measured per process (default 300)")
    parser.add_argument("--warmup", type=int, default=50, help="warm submissions not counted per process (default 50)")
    parser.add_argument("--skip-package", action="store_true", help="run from .venv instead of the unpacked zip")
    parser.add_argument("--data-dir", type=Path, help="where both handlers write (default: a new temporary folder)")
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    template = json.loads(EVENT.read_text(encoding="utf-8"))
    with (
        tempfile.TemporaryDirectory(prefix="bench-lambda-") as scratch_name,
        tempfile.TemporaryDirectory(prefix="bench-data-", dir=args.data_dir) as data_name,
    ):
        scratch, data_dir = Path(scratch_name), Path(data_name)
        packaged = None if args.skip_package else unpacked_zip(scratch)
        path = packaged or [str(ROOT), str(BENCH), *sys.path[1:]]
        os.environ.update(
            {
                "SDF_STORAGE": "local",
                "SDF_DATA_DIR": str(data_dir),
                "SDF_SESSION_SECRET": secrets.token_urlsafe(48),
                "SDF_SUBMISSIONS_PER_DAY": "1000000",  # one contact sends every request of the run
                "BENCH_SCHEMA_DIR": str(ROOT / "schema"),
            }
        )
        os.environ.pop("SDF_API_BASE_PATH", None)
        token = sign_in(template, data_dir)
        found = measure(args, path, template, token)
    where = "the unpacked zip (-S -B)" if packaged else ".venv"
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; code from {where}")
    print(
        f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; a busy machine's figures vary"
    )
    print(f"embedded store in {args.data_dir or tempfile.gettempdir()}; {args.runs} fresh processes per cold figure,")
    print(f"warm: {args.rounds} processes x {args.calls} submissions per handler after {args.warmup} uncounted each")
    report(found)
    print(f"\nzip: {zip_summary()}")
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
