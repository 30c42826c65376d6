"""Benchmark of forwarding into Zendesk: what forwarding adds to accepting a request, and how fast the worker
drains the queue, against the fake Zendesk of tests/helpers/fake_zendesk.py on 127.0.0.1.

    python bench/forwarding.py [--requests 200] [--batch 20] [--delay-ms 20] [--warmup 10]

Two desks on the embedded store (SQLite, each in its own folder of one temporary directory) run in this
process through FastAPI's TestClient, signed in as a registered contact: one with forwarding off, one with
``SDF_FORWARD=zendesk``. Measured in one run, side by side:

- Accepting: ``--requests`` valid submissions to each desk, alternately (the order swapped every round, so
  that drift on the machine falls on both alike), after ``--warmup`` uncounted ones each: p50, p99 and mean,
  and the ratio on / off. Accepting only queues the job (no call to Zendesk), in the request's own commit.
- Draining: ``forward_due(limit=--batch)`` called until nothing is due, with the real clock, once against
  the fake as it answers, and once more (on as many new requests) with every HTTP call held back
  ``--delay-ms`` before it is sent, as a real network would (a wrapping httpx transport; the fake is not
  changed): jobs per second, the calls of ``forward_due`` and HTTP requests it took, the jobs that failed or
  are left in the queue, and each fake's tickets, which must be one per request.

Ratios are printed, never asserted; the run fails (exit 1) only when a fake does not hold exactly one ticket
per forwarded request.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the handler and tests packages, when run as `python bench/forwarding.py`

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from handler.app import create_app  # noqa: E402
from handler.services import Services, build_services  # noqa: E402
from handler.settings import Settings  # noqa: E402
from handler.tickets.http import TIMEOUT  # noqa: E402
from handler.tickets.zendesk import Zendesk  # noqa: E402
from handler.usecases import forwarding  # noqa: E402
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in  # noqa: E402
from tests.helpers.fake_zendesk import EMAIL, TOKEN, FakeZendesk, fake_zendesk  # noqa: E402
from tests.helpers.shipped import form, valid_data  # noqa: E402

KINDS = ("off", "on")


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` of 1) of the samples."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


# The desks ------------------------------------------------------------------------------------------------


@dataclass
class Desk:
    """One desk: its app behind a signed-in test client, and its services."""

    client: TestClient
    services: Services
    form_id: str

    def submit(self) -> float:
        """Seconds to accept one valid request (201), measured around the client's call."""
        body = {"form": self.form_id, "data": valid_data()}
        started = time.perf_counter()
        sent = self.client.post("/v1/requests", json=body)
        elapsed = time.perf_counter() - started
        if sent.status_code != 201:
            raise RuntimeError(f"a submission was answered {sent.status_code}: {sent.text[:500]}")
        return elapsed


@contextmanager
def open_desk(data_dir: Path, zendesk_url: str | None) -> Iterator[Desk]:
    """A desk on the embedded store in ``data_dir``, forwarding to ``zendesk_url`` if given, signed in."""
    # One contact sends every request of the run: no daily limit of theirs may refuse one.
    settings = Settings(data_dir=data_dir, session_secret=SECRET, code_answer_seconds=0, submissions_per_day=1_000_000)
    if zendesk_url:
        settings = replace(
            settings, forward="zendesk", zendesk_url=zendesk_url, zendesk_email=EMAIL, zendesk_token=TOKEN
        )
    services = build_services(settings)  # the real clock
    register(services.store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings, services=services)) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, data_dir / 'outbox', AUTHORIZED)}"
        yield Desk(client, services, form().id)


# Draining -------------------------------------------------------------------------------------------------


class HeldBack(httpx.BaseTransport):
    """httpx's own transport, each request held back ``seconds`` before it is sent, and counted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent = 0
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        if self.seconds:
            time.sleep(self.seconds)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@dataclass
class Drained:
    """One drain of the queue."""

    done: int
    failed: int
    batches: int  # calls of forward_due that forwarded or tried something
    seconds: float
    calls: int  # HTTP requests sent to the fake
    left: int  # jobs still queued (tried again later), given up included
    tickets: int  # in the fake
    references: int  # distinct external_ids among them

    @property
    def per_second(self) -> float:
        """Tickets made per second."""
        return self.done / self.seconds if self.seconds else 0.0


def drain(services: Services, fake: FakeZendesk, batch: int, delay: float) -> Drained:
    """``forward_due`` in batches until nothing is due, into ``fake``, each HTTP call held back ``delay`` s."""
    transport = HeldBack(delay)
    with httpx.Client(timeout=TIMEOUT, transport=transport) as client:
        use = replace(services.forwarding, system=Zendesk(fake.url, EMAIL, TOKEN, client=client))
        done = failed = batches = 0
        started = time.perf_counter()
        while True:
            made, missed = forwarding.forward_due(use, batch)
            if made + missed == 0:
                break
            done, failed, batches = done + made, failed + missed, batches + 1
        seconds = time.perf_counter() - started
    queue = use.forwards
    later = queue.due_forwards(use.clock() + timedelta(days=1), 1_000_000)
    left = len(later) + len(queue.given_up_forwards())
    tickets = list(fake.tickets.values())
    references = len({ticket["external_id"] for ticket in tickets})
    return Drained(done, failed, batches, seconds, transport.sent, left, len(tickets), references)


def queued(services: Services) -> int:
    """The jobs due now."""
    use = services.forwarding
    return len(use.forwards.due_forwards(use.clock(), 1_000_000))


# The run --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures; 1 if a fake holds other than one ticket per request."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="timed submissions per desk, and jobs per drain")
    parser.add_argument("--batch", type=int, default=20, help="jobs per forward_due call (its default is 20)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the held-back drain's delay per HTTP call")
    parser.add_argument("--warmup", type=int, default=10, help="uncounted submissions per desk first")
    args = parser.parse_args(argv)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    n = args.requests

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-forwarding-")))
        warm_fake, plain_fake, held_fake = (stack.enter_context(fake_zendesk()) for _ in range(3))
        desks = {
            "off": stack.enter_context(open_desk(scratch / "off", None)),
            "on": stack.enter_context(open_desk(scratch / "on", warm_fake.url)),
        }
        on = desks["on"].services

        # Accepting, side by side. The warm-up's jobs are drained into a fake of their own, which also warms
        # the forwarding path (the catalog's texts, httpx, the connection) before it is timed.
        for _ in range(args.warmup):
            for kind in KINDS:
                desks[kind].submit()
        drain(on, warm_fake, args.batch, 0.0)
        latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for round_ in range(n):
            for kind in KINDS if round_ % 2 == 0 else tuple(reversed(KINDS)):
                latencies[kind].append(desks[kind].submit())
        jobs_off, jobs_on = queued(desks["off"].services), queued(on)

        # Draining: the timed submissions' jobs as the fake answers; then as many new ones, held back.
        plain = drain(on, plain_fake, args.batch, 0.0)
        for _ in range(n):
            desks["on"].submit()
        held = drain(on, held_fake, args.batch, args.delay_ms / 1000)

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("store: embedded (SQLite) in a temporary directory; Zendesk: tests/helpers/fake_zendesk.py on 127.0.0.1")

    print(f"\naccepting a request: {n} valid submissions per desk, alternately, after {args.warmup} uncounted each")
    print(f"  {'forwarding':<10} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'jobs queued':>12}")
    figures = {}
    for kind, jobs in (("off", jobs_off), ("on", jobs_on)):
        samples = latencies[kind]
        p50, p99, mean = (
            1000 * x for x in (percentile(samples, 0.5), percentile(samples, 0.99), statistics.mean(samples))
        )
        figures[kind] = (p50, p99, mean)
        print(f"  {kind:<10} {p50:8.2f} {p99:8.2f} {mean:8.2f} {jobs:12d}")
    (off_p50, off_p99, off_mean), (on_p50, on_p99, on_mean) = figures["off"], figures["on"]
    print(
        f"  on / off: p50 {on_p50 / off_p50:.2f}x ({on_p50 - off_p50:+.2f} ms), p99 {on_p99 / off_p99:.2f}x"
        f" ({on_p99 - off_p99:+.2f} ms), mean {on_mean / off_mean:.2f}x ({on_mean - off_mean:+.2f} ms)"
    )

    print(f"\ndraining the queue: forward_due(limit={args.batch}) until nothing is due, one worker, the real clock")
    print(f"  {'HTTP calls':<22} {'jobs/s':>8} {'ms/job':>8} {'forward_due':>12} {'HTTP':>6} {'failed':>7} {'left':>5}")
    failures = []
    for label, figures_of, fake_name in (
        ("as the fake answers", plain, "plain"),
        (f"held back {args.delay_ms:g} ms each", held, "held back"),
    ):
        ms_per_job = 1000 * figures_of.seconds / figures_of.done if figures_of.done else float("nan")
        print(
            f"  {label:<22} {figures_of.per_second:8.1f} {ms_per_job:8.2f} {figures_of.batches:12d}"
            f" {figures_of.calls:6d} {figures_of.failed:7d} {figures_of.left:5d}"
        )
        if not (figures_of.tickets == figures_of.references == figures_of.done == n):
            failures.append(
                f"the {fake_name} fake holds {figures_of.tickets} tickets ({figures_of.references} requests),"
                f" {figures_of.done} forwarded; expected {n}"
            )
    calls_per_job = held.calls / held.done if held.done else float("nan")
    bound = 1000 / (calls_per_job * args.delay_ms) if args.delay_ms and held.done else float("nan")
    print(
        f"  held back / as answered: {held.per_second / plain.per_second:.2f}x the jobs per second"
        if plain.per_second
        else "  held back / as answered: no job was forwarded"
    )
    if held.done and args.delay_ms:
        print(
            f"  one worker, {calls_per_job:.1f} call(s) per job: at most {bound:.1f} jobs/s with the delay alone;"
            f" reached {held.per_second / bound:.0%} of it"
        )
    print(f"  tickets in the fakes: {plain.tickets} and {held.tickets} (expected {n} each, one per request)")
    for failure in failures:
        print(f"FAILED: {failure}")
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
