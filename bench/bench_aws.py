"""Benchmark of the AWS path: the Lambda entry on S3 and DynamoDB against the least a handler can do.

    python bench/bench_aws.py [--calls 200] [--concurrency 20] [--per-worker 15] [--cold-runs 7] [--skip-package]

SeaweedFS (S3) and DynamoDB Local are started on 127.0.0.1 the way the tests start them
(tests/helpers/servers.py). Two handlers take the same valid submission, the HTTP API v2 event of tests/events:

- ours: ``handler.lambda_entry.handler`` with ``SDF_STORAGE=aws``, signed in as a registered contact,
  each submission with its own Idempotency-Key, JSON logs on (written to /dev/null);
- minimal: bench/minimal_app.py, FastAPI + Mangum + jsonschema, one PutObject and one PutItem.

Measured in one run, side by side:

- Round trips per submission: HTTP requests to S3 and DynamoDB, counted with botocore's ``before-send``
  event on each handler's clients, by operation; and the critical path: the most of them that ran one after
  another (each began after the one before it ended), from each call's start and end.
- Warm latency and throughput at concurrency 1 (one process, the two handlers in alternating rounds) and
  at concurrency 20 (20 processes, each a warm "container", started together on a barrier): p50, p99,
  submissions per second.
- The cold first event: a fresh interpreter imports the entry (which builds its clients at import, as in
  Lambda's INIT) and serves one submission, against the same for the minimal handler; interleaved runs,
  medians. By default both run from the deployment zip built for this machine, unpacked, with ``-S -B``
  and the AWS SDK of .venv beside it, as Lambda has it (``--skip-package`` runs them from .venv).

Ratios are printed, never asserted: the aims are warm p50 within 1.3x and the cold first event within
1.15x of the minimal handler.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import logging
import multiprocessing
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import util
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
EVENT = ROOT / "tests" / "events" / "http-api-v2.json"
PACKAGER = ROOT / "scripts" / "package_lambda.py"
sys.path[:0] = [str(ROOT), str(BENCH)]  # the handler package and minimal_app, when run as a script

from tests.helpers.servers import (  # noqa: E402
    admin_dynamodb,
    admin_s3,
    aws_environment_for,
    dynamodb_client,
    run_dynamodb_local,
    run_seaweedfs,
    s3_client,
)

KINDS = ("ours", "minimal")
WARM_AIM = 1.3
COLD_AIM = 1.15
EMAIL = "bench.requester@example.no"
SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")  # what Lambda's runtime provides
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
FIRST_EVENT = """import json, sys, time
sys.path[:0] = {path!r}
t = time.perf_counter()
from {module} import handler
result = handler(json.loads(sys.stdin.read()), None)
elapsed = time.perf_counter() - t
assert result["statusCode"] == 201, result
print(elapsed)"""


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` of 1) of the samples."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


# The two handlers, in a worker process --------------------------------------------------------------------


@dataclass
class Worker:
    """What a worker process keeps between tasks: both handlers, the event, and the round-trip counter."""

    handlers: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]
    template: dict[str, Any]
    token: str
    barrier: Barrier | None
    sent: collections.Counter[str]
    calls: dict[str, list[float]]  # seconds per AWS call, by operation, of the current submission
    spans: list[tuple[float, float]]  # each AWS call's start and end, of the current submission
    sequence: int = 0


_worker: Worker | None = None


def submission(template: dict[str, Any], kind: str, token: str, key: str) -> dict[str, Any]:
    """The fixture's valid submission for one handler: ours signed in with its own Idempotency-Key."""
    event = copy.deepcopy(template)
    headers = {k: v for k, v in event["headers"].items() if k != "idempotency-key"}
    if kind == "ours":
        headers |= {"authorization": f"Bearer {token}", "idempotency-key": key}
    event["headers"] = headers
    event["requestContext"]["requestId"] = key[:40]
    return event


def start_worker(environment: dict[str, str], token: str, barrier: Barrier | None) -> None:
    """Build both handlers in this process, as a warm Lambda container has them, and count their calls."""
    global _worker
    os.environ.update(environment)
    from handler import lambda_entry, observe
    from handler.storage.aws import AwsStore

    logging.getLogger().handlers.clear()  # the lines are formatted as on AWS, and thrown away
    observe.configure_json_logs(open(os.devnull, "w"))  # noqa: SIM115  (kept open for the process's life)
    services, _ = lambda_entry._container()
    import minimal_app

    sent: collections.Counter[str] = collections.Counter()
    calls: dict[str, list[float]] = collections.defaultdict(list)
    spans: list[tuple[float, float]] = []
    began: dict[tuple[int, str], float] = {}  # by thread: a handler may make calls side by side
    lock = threading.Lock()

    def count(event_name: str, **_: Any) -> None:
        with lock:
            sent[event_name.removeprefix("before-send.")] += 1

    def call_begins(event_name: str, **_: Any) -> None:
        began[(threading.get_ident(), event_name.removeprefix("before-call."))] = time.perf_counter()

    def call_ends(event_name: str, **_: Any) -> None:
        operation = event_name.removeprefix("after-call.")
        ended = time.perf_counter()
        start = began.pop((threading.get_ident(), operation))
        with lock:
            calls[operation].append(ended - start)
            spans.append((start, ended))

    aws = services.store
    assert isinstance(aws, AwsStore)
    for client in (aws.s3, aws.dynamodb, minimal_app.s3, minimal_app.dynamodb):
        client.meta.events.register("before-send", count)
        client.meta.events.register("before-call", call_begins)
        client.meta.events.register("after-call", call_ends)
    template = json.loads(EVENT.read_text(encoding="utf-8"))
    handlers = {"ours": lambda_entry.handler, "minimal": minimal_app.handler}
    _worker = Worker(handlers, template, token, barrier, sent, calls, spans)  # type: ignore[arg-type]
    for kind in KINDS:  # the first submission of each handler is not a warm one
        run_events(kind, 2)


Served = tuple[list[float], dict[str, int], dict[str, list[float]], list[float], list[int]]


def calls_in_series(spans: Sequence[tuple[float, float]]) -> int:
    """The longest run of calls each of which began after the one before it ended: the submission's critical path."""
    longest: list[int] = []
    ordered = sorted(spans, key=lambda span: span[1])
    for start, _ in ordered:
        before = [longest[n] for n, (_, other_end) in enumerate(ordered[: len(longest)]) if other_end <= start]
        longest.append(1 + max(before, default=0))
    return max(longest, default=0)


def run_events(kind: str, count: int) -> Served:
    """Serve ``count`` submissions: latencies, one's requests, seconds per AWS call, seconds in calls each, and the
    calls in series of each."""
    assert _worker is not None
    handler = _worker.handlers[kind]
    events = []
    for _ in range(count):
        _worker.sequence += 1
        key = f"bench-{os.getpid()}-{_worker.sequence:06d}-{uuid.uuid4().hex[:8]}"
        events.append(submission(_worker.template, kind, _worker.token, key))
    latencies, in_calls, series = [], [], []
    trips: dict[str, int] = {}
    by_operation: dict[str, list[float]] = collections.defaultdict(list)
    for event in events:
        _worker.sent.clear()
        _worker.calls.clear()
        _worker.spans.clear()
        started = time.perf_counter()
        answer = handler(event, None)
        latencies.append(time.perf_counter() - started)
        if answer["statusCode"] != 201:
            raise RuntimeError(f"{kind} answered {answer['statusCode']}: {answer.get('body')}")
        trips = dict(_worker.sent)
        series.append(calls_in_series(_worker.spans))
        in_calls.append(sum(sum(seconds) for seconds in _worker.calls.values()))
        for operation, seconds in _worker.calls.items():
            by_operation[operation] += seconds
    return latencies, trips, dict(by_operation), in_calls, series


def warm_task(kind: str, count: int) -> tuple[Served, float, float]:
    """``run_events`` after every worker reached the barrier; with the wall-clock start and end."""
    assert _worker is not None
    if _worker.barrier is not None:
        _worker.barrier.wait(timeout=120)
    started = time.monotonic()
    served = run_events(kind, count)
    return served, started, time.monotonic()


@dataclass
class Warm:
    """Warm figures of one handler at one concurrency."""

    latencies: list[float]
    seconds: float  # wall time in which they were served
    calls: dict[str, list[float]]  # seconds per AWS call, by operation
    in_calls: list[float]  # seconds per submission spent in AWS calls

    def add(self, served: Served, seconds: float) -> None:
        """Count one task's submissions in."""
        latencies, _, calls, in_calls, _ = served
        self.latencies += latencies
        self.in_calls += in_calls
        for operation, times in calls.items():
            self.calls.setdefault(operation, []).extend(times)
        self.seconds += seconds

    @property
    def p50(self) -> float:
        """Median latency, ms."""
        return percentile(self.latencies, 0.5) * 1000

    @property
    def p99(self) -> float:
        """99th percentile latency, ms."""
        return percentile(self.latencies, 0.99) * 1000

    @property
    def throughput(self) -> float:
        """Submissions per second."""
        return len(self.latencies) / self.seconds


# Setting up: servers, bucket, table, contact, session ------------------------------------------------------


@contextmanager
def aws_environment() -> Iterator[dict[str, str]]:
    """SeaweedFS and DynamoDB Local with a new bucket and table: the handler's settings for them."""
    from handler.storage.aws import table_definition

    with ExitStack() as stack:
        seaweedfs = stack.enter_context(run_seaweedfs())
        dynamodb_local = stack.enter_context(run_dynamodb_local())
        name = f"sdf-bench-{uuid.uuid4().hex[:12]}"
        admin_s3(seaweedfs.endpoint_url).create_bucket(Bucket=name)
        admin = admin_dynamodb(dynamodb_local.endpoint_url)
        admin.create_table(**table_definition(name))
        admin.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        yield {
            **aws_environment_for(name, name, seaweedfs, dynamodb_local),
            "SDF_SES_ENDPOINT_URL": "http://127.0.0.1:9",  # never called: submissions queue their e-mail
            "SDF_SESSION_SECRET": secrets.token_urlsafe(48),
            "SDF_SUBMISSIONS_PER_DAY": "1000000",  # one contact sends every request of the run
            "SDF_API_BASE_PATH": "/",
            "AWS_LAMBDA_FUNCTION_NAME": "bench-handler",
        }


def session_token(environment: dict[str, str]) -> str:
    """Register the bench's contact in the table and sign a session for it, as the handler would."""
    import jwt

    from handler.contacts import make_contact
    from handler.schema.loader import load_catalog
    from handler.signin import AUDIENCE, ISSUER
    from handler.storage.aws import AwsStore

    s3 = s3_client(environment["SDF_S3_ENDPOINT_URL"])
    dynamodb = dynamodb_client(environment["SDF_DYNAMODB_ENDPOINT_URL"])
    store = AwsStore(s3, dynamodb, environment["SDF_BUCKET"], environment["SDF_TABLE"])
    catalog = load_catalog()
    allowed = catalog.forms["service-request"].allowed_contact_types
    store.contacts.put_contact(
        make_contact(EMAIL, "Bench Requester", "", "Bench AS", allowed[:1], catalog.contact_types)
    )
    contact = store.contacts.get_contact(EMAIL)
    assert contact is not None and contact.security_stamp
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": contact.email, "typ": "session"}
    claims |= {"stamp": contact.security_stamp, "iat": now, "auth_time": now, "exp": now + 3600}
    return jwt.encode(claims, environment["SDF_SESSION_SECRET"], algorithm="HS256")


# The cold first event ------------------------------------------------------------------------------------


def runtime_like(scratch: Path) -> tuple[list[str], list[str], str] | None:
    """sys.path entries and flags to run from the unpacked zip with .venv's AWS SDK beside it, as on Lambda."""
    arch = ARCHES.get(platform.machine().lower())
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if arch is None:
        return None
    out = scratch / "native.zip"
    command = [sys.executable, str(PACKAGER), "--runtime", runtime, "--arch", arch, "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        print(f"note: could not build the zip for this machine ({result.stderr.strip()[-300:]})")
        return None
    task, sdk = scratch / "task", scratch / "sdk"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(task)
    sdk.mkdir()
    for name in SDK:
        spec = util.find_spec(name)
        if spec is None or spec.origin is None:
            return None
        source = Path(spec.origin)
        source = source.parent if source.name == "__init__.py" else source
        (sdk / source.name).symlink_to(source)
    # minimal_app reads the form's schema from the repository; the entry reads the zip's compiled catalog.
    return [str(task), str(sdk), str(BENCH)], ["-S", "-B"], f"the zip for {runtime}/{arch}, unpacked, -S -B"


def first_event(
    module: str, path: Sequence[str], flags: Sequence[str], event: dict[str, Any], env: dict[str, str]
) -> float:
    """Seconds from a fresh interpreter's first import of ``module`` to its answer to ``event``."""
    code = FIRST_EVENT.format(path=list(path), module=module)
    result = subprocess.run(
        [sys.executable, *flags, "-c", code],
        input=json.dumps(event),
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the first event of {module} failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def cold_first_events(
    environment: dict[str, str], token: str, runs: int, skip_package: bool, scratch: Path
) -> tuple[dict[str, list[float]], str]:
    """First-event seconds of both handlers in fresh interpreters, runs interleaved; and where they ran from."""
    setup = None if skip_package else runtime_like(scratch)
    path, flags, where = setup or ([str(ROOT), str(BENCH)], [], ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDF_", "AWS_"))} | environment
    template = json.loads(EVENT.read_text(encoding="utf-8"))
    modules = {"ours": "handler.lambda_entry", "minimal": "minimal_app"}
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for run in range(runs + 1):
        for kind in KINDS:
            event = submission(template, kind, token, f"bench-cold-{run:03d}-{uuid.uuid4().hex[:8]}")
            elapsed = first_event(modules[kind], path, flags, event, env)
            if run:  # the first round warms the page cache: not counted
                samples[kind].append(elapsed)
    return samples, where


# The run -------------------------------------------------------------------------------------------------


def describe(trips: dict[str, int]) -> str:
    """``3 (dynamodb.GetItem 2, s3.PutObject 1)``."""
    detail = ", ".join(f"{name} {count}" for name, count in sorted(trips.items()))
    return f"{sum(trips.values())} ({detail})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="warm submissions per handler at concurrency 1")
    parser.add_argument("--concurrency", type=int, default=20, help="worker processes for the concurrent run")
    parser.add_argument("--per-worker", type=int, default=15, help="submissions per worker and handler, concurrent")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh interpreters per handler for the first event")
    parser.add_argument("--skip-package", action="store_true", help="cold first events from .venv, not the zip")
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    import boto3  # noqa: F401  (loaded before the workers fork, so they share it)
    import fastapi  # noqa: F401
    import jsonschema  # noqa: F401

    import handler.lambda_entry  # noqa: F401

    with aws_environment() as environment, tempfile.TemporaryDirectory(prefix="bench-aws-") as scratch:
        token = session_token(environment)
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(args.concurrency)
        with (
            context.Pool(1, start_worker, (environment, token, None)) as single,
            context.Pool(args.concurrency, start_worker, (environment, token, barrier)) as pool,
        ):
            warm = {(kind, n): Warm([], 0.0, {}, []) for kind in KINDS for n in (1, args.concurrency)}
            trips: dict[str, dict[str, int]] = {}
            series: dict[str, collections.Counter[int]] = {kind: collections.Counter() for kind in KINDS}
            rounds = 4  # alternating, so that drift on the machine falls on both handlers alike
            for _ in range(rounds):
                for kind in KINDS:
                    served, begin, end = single.apply(warm_task, (kind, args.calls // rounds))
                    warm[(kind, 1)].add(served, end - begin)
                    trips[kind] = served[1]
                    series[kind].update(served[4])
            for order in (KINDS, tuple(reversed(KINDS))):
                for kind in order:
                    results = pool.starmap(warm_task, [(kind, args.per_worker)] * args.concurrency, chunksize=1)
                    seconds = max(end for _, _, end in results) - min(begin for _, begin, _ in results)
                    for served, _, _ in results:
                        warm[(kind, args.concurrency)].add(served, 0.0)
                    warm[(kind, args.concurrency)].seconds += seconds
        cold, where = cold_first_events(environment, token, args.cold_runs, args.skip_package, Path(scratch))

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("S3: SeaweedFS, DynamoDB: DynamoDB Local, both on 127.0.0.1 (tests/helpers/servers.py)")
    print("\nround trips per submission (HTTP requests, botocore's before-send event)")
    for kind in KINDS:
        print(f"  {kind:<8} {describe(trips[kind])}")
    print("critical path: calls in series per submission (warm, concurrency 1; submissions with each count)")
    for kind in KINDS:
        counts = ", ".join(f"{calls} in series: {n}" for calls, n in sorted(series[kind].items()))
        print(f"  {kind:<8} {counts}")
    for concurrency in (1, args.concurrency):
        ours, minimal = warm[("ours", concurrency)], warm[("minimal", concurrency)]
        count = len(ours.latencies)
        how = "one process, alternating rounds" if concurrency == 1 else f"{concurrency} processes started together"
        print(f"\nwarm, concurrency {concurrency} ({count} submissions per handler, {how})")
        print(f"  {'':<8} {'p50 ms':>8} {'p99 ms':>8} {'per s':>8}")
        for kind, figures in (("ours", ours), ("minimal", minimal)):
            in_calls = statistics.median(figures.in_calls) * 1000
            medians = {operation: statistics.median(times) * 1000 for operation, times in figures.calls.items()}
            calls = ", ".join(f"{operation} {ms:.1f}" for operation, ms in sorted(medians.items()))
            print(
                f"  {kind:<8} {figures.p50:8.2f} {figures.p99:8.2f} {figures.throughput:8.1f}"
                f"   in AWS calls {in_calls:.1f} ms (median per call: {calls})"
            )
        ratio = ours.p50 / minimal.p50
        verdict = "within" if ratio <= WARM_AIM else "above"
        print(
            f"  ours / minimal: p50 {ratio:.2f}x ({verdict} the aim of {WARM_AIM}x), p99 {ours.p99 / minimal.p99:.2f}x,"
            f" throughput {ours.throughput / minimal.throughput:.2f}x"
        )
    medians = {kind: statistics.median(cold[kind]) * 1000 for kind in KINDS}
    ratio = medians["ours"] / medians["minimal"]
    fastest = min(cold["ours"]) / min(cold["minimal"])
    print(f"\ncold first event: import + INIT + one submission in a fresh interpreter, from {where}")
    ours_ms, minimal_ms = medians["ours"], medians["minimal"]
    print(f"  median of {args.cold_runs}, interleaved: ours {ours_ms:.0f} ms, minimal {minimal_ms:.0f} ms")
    verdict = "within" if ratio <= COLD_AIM else "above"
    print(f"  ours / minimal: {ratio:.2f}x ({verdict} the aim of {COLD_AIM}x; fastest runs: {fastest:.2f}x)")
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
