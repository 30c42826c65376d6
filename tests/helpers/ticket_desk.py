"""What the forwarding tests share, whichever ticket system they forward into: a signed-in requester's client on
either store, the uploads and submissions they make, the worker, and a worker that ends mid-call."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.services import Services, build_services
from handler.settings import Settings
from handler.storage.aws import S3Blobs
from handler.storage.local import LocalStore
from handler.tickets import TicketSystem
from handler.usecases import forwarding
from handler.usecases.attaching import attachments_field
from tests.helpers.accounts import AUTHORIZED, register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.servers import fresh_aws_store
from tests.helpers.shipped import form, valid_data

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


class Killed(BaseException):
    """The worker's process ends (a kill, the function's timeout): nothing of it runs after."""


class Killing(httpx.HTTPTransport):
    """Ends the worker once, right after the call ``kill_after`` names was answered: the ticket system did it,
    the worker never heard."""

    kill_after = ""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if f"{request.method} {request.url.path}" == self.kill_after:
            self.kill_after = ""
            answer.read()
            raise Killed
        return answer


def quick_client() -> httpx.Client:
    """A ticket system's HTTP client that gives up after a second (a late answer is a lost one within a test),
    and that a test can end mid-call."""
    return httpx.Client(timeout=1.0, transport=Killing())


@dataclass
class Desk:
    """A signed-in requester's client, the services behind it and their clock."""

    client: TestClient
    services: Services
    clock: Clock

    def upload(self) -> str:
        field = attachments_field(form())
        if field is None or "image/png" not in field.schema["x-upload"]["types"]:
            pytest.skip("schema/'s form takes no PNG files in the field a request's files go to")
        slot = {"form": form().id, "field": field.name, "name": "skjerm.png", "type": "image/png", "size": len(PNG)}
        target = self.client.post("/v1/uploads", json=slot)
        assert target.status_code == 201, target.text
        url, fields = target.json()["url"], target.json()["fields"]
        files = {"file": ("f", PNG, "image/png")}
        local = self.services.receiver is not None  # the embedded store takes the file itself; else the bucket
        sent = self.client.post(url, data=fields, files=files) if local else httpx.post(url, data=fields, files=files)
        assert sent.status_code in (200, 204), sent.text
        return str(target.json()["id"])

    def submit(self, *uploads: str) -> dict[str, Any]:
        field = attachments_field(form())
        data = valid_data(**({field.name: list(uploads)} if field and uploads else {}))
        sent = self.client.post("/v1/requests", json={"form": form().id, "data": data})
        assert sent.status_code == 201, sent.text
        return sent.json()  # type: ignore[no-any-return]

    def answer(self, request_id: str, body: str, key: str) -> None:
        sent = self.client.post(
            f"/v1/requests/{request_id}/messages", json={"body": body}, headers={"Idempotency-Key": key}
        )
        assert sent.status_code == 201, sent.text

    def forward(self) -> tuple[int, int]:
        return forwarding.forward_due(self.services.forwarding)

    def kill_after(self, call: str) -> None:
        """End the worker right after ``call`` (such as ``POST /api/v2/tickets.json``) is answered."""
        client = getattr(self.services.forwarding.system, "_client", None)
        assert client is not None and isinstance(client._transport, Killing)
        client._transport.kill_after = call

    def shown(self, request_id: str) -> dict[str, Any]:
        return self.client.get(f"/v1/requests/{request_id}").json()  # type: ignore[no-any-return]


def open_desk(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Settings, system: TicketSystem
) -> Iterator[Desk]:
    """A desk on the store ``request.param`` names (``local``, or ``aws`` on SeaweedFS and DynamoDB Local),
    forwarding into ``system``."""
    # The real time: S3's presigned upload policy (SeaweedFS) is checked against the real clock.
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    if request.param == "local":
        yield from _signed_in(build_services(settings, store=LocalStore(settings.data_dir), clock=clock), system)
        return
    seaweedfs, dynamodb = request.getfixturevalue("seaweedfs"), request.getfixturevalue("dynamodb_local")
    with fresh_aws_store(seaweedfs, dynamodb) as store:
        services = build_services(settings, store=store, blobs=S3Blobs(store.s3, store.bucket), clock=clock)
        yield from _signed_in(services, system)


def _signed_in(services: Services, system: TicketSystem) -> Iterator[Desk]:
    services.forwarding = replace(services.forwarding, system=system)
    register(services.store.contacts, AUTHORIZED, "authorized-for-change")
    settings = services.settings
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, Path(settings.data_dir) / 'outbox', AUTHORIZED)}"
        assert isinstance(services.clock, Clock)
        yield Desk(client, services, services.clock)
