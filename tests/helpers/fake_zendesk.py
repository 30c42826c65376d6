"""A stateful fake of the parts of Zendesk's REST API that forwarding calls, written from its public
documentation and served on 127.0.0.1 by the tests: tickets (with ``external_id``, tags, custom fields, the
requester and the comments with their uploads), uploads, ``Idempotency-Key``, the agent behind the token, the
ticket fields; and faults
on demand (an answer such as 503 or 429 with ``Retry-After``, or an answer that comes too late)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.helpers.servers import serving

EMAIL, TOKEN = "agent@vendor.example", "fake-zendesk-token"


@dataclass
class FakeZendesk:
    """The fake's state, which the tests look at and steer."""

    url: str = ""
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    faults: list[tuple[int, str | None]] = field(default_factory=list)  # the next answers: status, Retry-After
    delays: list[float] = field(default_factory=list)  # the next answers come this many seconds late
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    fields: tuple[int, ...] = (360001234567,)  # the account's custom ticket fields

    def ticket_of(self, reference: str) -> list[dict[str, Any]]:
        return [t for t in self.tickets.values() if t["external_id"] == reference]


def app_for(fake: FakeZendesk) -> FastAPI:
    app = FastAPI()
    expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()

    @app.middleware("http")
    async def steer(request: Request, call_next: Any) -> Any:
        fake.calls.append(f"{request.method} {request.url.path}")
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        with fake.lock:
            fault = fake.faults.pop(0) if fake.faults else None
            delay = fake.delays.pop(0) if fake.delays else 0.0
        if fault:
            status, after = fault
            return JSONResponse({"error": "busy"}, status_code=status, headers={"Retry-After": after} if after else {})
        answer = await call_next(request)
        if delay:
            time.sleep(delay)  # done, but the answer comes after the client gave up
        return answer

    @app.post("/api/v2/uploads.json")
    async def upload(request: Request, filename: str) -> Response:
        token = f"upload-{len(fake.uploads) + 1}"
        fake.uploads[token] = (filename, request.headers.get("content-type", ""), await request.body())
        return JSONResponse({"upload": {"token": token}}, status_code=201)

    @app.post("/api/v2/tickets.json")
    async def create(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        body = (await request.json())["ticket"]
        with fake.lock:
            if key and key in fake.keys:
                return JSONResponse({"ticket": fake.tickets[fake.keys[key]]}, status_code=201)
            number = len(fake.tickets) + 1
            tokens = body["comment"].get("uploads", [])
            if any(token not in fake.uploads for token in tokens):
                return JSONResponse({"error": "RecordInvalid", "description": "unknown upload"}, status_code=422)
            fake.tickets[number] = {
                "id": number,
                "subject": body["subject"],
                "description": body["comment"]["body"],
                "attachments": [fake.uploads[token][0] for token in tokens],
                "requester": body["requester"],
                "requester_id": 1000 + number,
                "comments": [
                    {"id": number * 100, "body": body["comment"]["body"], "public": True, "author_id": 1000 + number}
                ],
                "external_id": body.get("external_id"),
                "tags": body.get("tags", []),
                "custom_fields": body.get("custom_fields", []),
                "status": "new",
            }
            if key:
                fake.keys[key] = number
        return JSONResponse({"ticket": fake.tickets[number]}, status_code=201)

    @app.get("/api/v2/tickets.json")
    async def by_external_id(external_id: str) -> Response:
        return JSONResponse({"tickets": fake.ticket_of(external_id)})

    @app.get("/api/v2/tickets/{number}.json")
    async def ticket(number: int) -> Response:
        if number not in fake.tickets:
            return JSONResponse({"error": "RecordNotFound"}, status_code=404)
        return JSONResponse({"ticket": fake.tickets[number]})

    @app.get("/api/v2/tickets/{number}/comments.json")
    async def comments(number: int) -> Response:
        if number not in fake.tickets:
            return JSONResponse({"error": "RecordNotFound"}, status_code=404)
        return JSONResponse({"comments": fake.tickets[number]["comments"]})

    @app.put("/api/v2/tickets/{number}.json")
    async def update(number: int, request: Request) -> Response:
        body = (await request.json())["ticket"]
        with fake.lock:
            if number not in fake.tickets:
                return JSONResponse({"error": "RecordNotFound"}, status_code=404)
            ticket = fake.tickets[number]
            if "comment" in body:
                tokens = body["comment"].get("uploads", [])
                if any(token not in fake.uploads for token in tokens):
                    return JSONResponse({"error": "RecordInvalid", "description": "unknown upload"}, status_code=422)
                added = {
                    "id": number * 100 + len(ticket["comments"]),
                    "body": body["comment"]["body"],
                    "public": body["comment"].get("public", True),
                    "author_id": body["comment"].get("author_id", 1),
                    "attachments": [
                        {
                            "id": index,
                            "file_name": fake.uploads[token][0],
                            "content_url": f"{fake.url}/attachments/{index}",
                            "content_type": fake.uploads[token][1],
                            "size": len(fake.uploads[token][2]),
                        }
                        for index, token in enumerate(tokens, start=1)
                    ],
                }
                ticket["comments"].append(added)
            ticket["status"] = body.get("status", ticket["status"])
        return JSONResponse({"ticket": ticket})

    @app.get("/api/v2/ticket_fields.json")
    async def ticket_fields() -> Response:
        return JSONResponse({"ticket_fields": [{"id": number, "type": "text"} for number in fake.fields]})

    @app.get("/api/v2/users/me.json")
    async def me() -> Response:
        return JSONResponse({"user": {"email": EMAIL, "role": "admin"}})

    return app


@contextmanager
def fake_zendesk() -> Iterator[FakeZendesk]:
    """The fake on a free port of 127.0.0.1, until the block ends."""
    fake = FakeZendesk()
    # The app reads the fake's address only when it answers: it is known once the server is up.
    with serving(app_for(fake)) as url:
        fake.url = url
        yield fake
