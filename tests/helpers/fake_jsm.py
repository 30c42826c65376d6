"""A stateful fake of the parts of Jira Service Management Cloud's REST API that forwarding calls, written from its
public documentation and served on 127.0.0.1 by the tests: customer requests (with their request type, fields,
labels, attachments, the customer they were raised on behalf of, and their comments), temporary attachments, the
service desk's customers, request types and their fields, and a JQL search that understands ``labels = "X"``; and
faults on demand (an answer such as 503 or 429 with ``Retry-After``, or an answer that comes too late)."""

from __future__ import annotations

import asyncio
import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.helpers.servers import serving

EMAIL, TOKEN, SERVICE_DESK_ID = "agent@vendor.example", "fake-jsm-token", "1"
_OWN = {"summary", "description", "labels", "attachment"}  # the request fields kept apart from ``fields``


def _request_types() -> dict[str, str]:
    return {"10": "Service request", "11": "Report a bug"}


def _fields() -> dict[str, tuple[str, ...]]:
    return {
        "10": ("summary", "description", "attachment", "labels", "customfield_10010"),
        "11": ("summary", "description", "customfield_10020"),
    }


def _customers() -> list[tuple[str, str, str]]:
    return [("qm:5b10-kari", "kari.nordmann@customer.example", "Kari Nordmann")]


@dataclass
class FakeJsm:
    """The fake's state, which the tests look at and steer."""

    url: str = ""
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # by key: SD-1, SD-2, ...
    temporary: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # temporary id: name, type, content
    customers: list[tuple[str, str, str]] = field(default_factory=_customers)  # accountId, email, display name
    request_types: dict[str, str] = field(default_factory=_request_types)  # id: name
    fields: dict[str, tuple[str, ...]] = field(default_factory=_fields)  # request type id: its field ids
    faults: list[tuple[int, str | None]] = field(default_factory=list)  # the next answers: status, Retry-After
    delays: list[float] = field(default_factory=list)  # the next answers come this many seconds late
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request_of(self, reference: str) -> list[dict[str, Any]]:
        """The requests that carry the label of ``reference`` (``sdf-<reference>``, lower case)."""
        return [r for r in self.requests.values() if f"sdf-{reference.lower()}" in r["labels"]]


def _refused(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"errorMessage": message, "i18nErrorMessage": {"i18nKey": "fake", "parameters": []}}, status)


def _unknown_request(key: str) -> JSONResponse:
    return _refused(f"The request {key} does not exist or you do not have permission to see it.", 404)


def _experimental(request: Request) -> JSONResponse | None:
    if request.headers.get("x-experimentalapi") != "opt-in":
        return _refused("This is an experimental API: send the header X-ExperimentalApi: opt-in")
    return None


def app_for(fake: FakeJsm) -> FastAPI:
    app = FastAPI()
    expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    desk = f"/rest/servicedeskapi/servicedesk/{SERVICE_DESK_ID}"

    @app.middleware("http")
    async def steer(request: Request, call_next: Any) -> Any:
        fake.calls.append(f"{request.method} {request.url.path}")
        if request.headers.get("authorization") != expected:
            return JSONResponse({"errorMessages": ["Client must be authenticated to access this resource."]}, 401)
        with fake.lock:
            fault = fake.faults.pop(0) if fake.faults else None
            delay = fake.delays.pop(0) if fake.delays else 0.0
        if fault:
            status, after = fault
            return JSONResponse({"errorMessage": "busy"}, status, headers={"Retry-After": after} if after else {})
        answer = await call_next(request)
        if delay:
            await asyncio.sleep(delay)  # done, but the answer comes after the client gave up (others go on)
        return answer

    @app.get("/rest/api/3/search/jql")
    async def search(jql: str, fields: str = "") -> Response:
        wanted = re.fullmatch(r'\s*labels\s*=\s*"([^"]+)"\s*', jql)
        if not wanted:
            return JSONResponse({"errorMessages": [f'the fake understands only labels = "X", not {jql!r}']}, 400)
        found = [r for r in fake.requests.values() if wanted.group(1) in r["labels"]]
        return JSONResponse({"issues": [{"id": r["issueId"], "key": r["key"]} for r in found], "isLast": True})

    @app.get(desk)
    async def service_desk() -> Response:
        return JSONResponse({"id": SERVICE_DESK_ID, "projectId": "10000", "projectName": "Support", "projectKey": "SD"})

    @app.get(f"{desk}/customer")
    async def customers(request: Request, query: str = "") -> Response:
        refused = _experimental(request)
        if refused:
            return refused
        found = [c for c in fake.customers if query.casefold() in f"{c[1]} {c[2]}".casefold()]
        values = [{"accountId": a, "emailAddress": e, "displayName": n, "active": True} for a, e, n in found]
        return JSONResponse({"size": len(values), "start": 0, "isLastPage": True, "values": values})

    @app.post(f"{desk}/attachTemporaryFile")
    async def attach_temporary(request: Request) -> Response:
        if request.headers.get("x-atlassian-token") != "no-check":
            return JSONResponse({"message": "XSRF check failed"}, 403)
        refused = _experimental(request)
        if refused:
            return refused
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            return _refused("no file in the multipart field file")
        with fake.lock:
            number = f"temp-{len(fake.temporary) + 1}"
            fake.temporary[number] = (upload.filename or "", upload.content_type or "", await upload.read())
        return JSONResponse(
            {"temporaryAttachments": [{"temporaryAttachmentId": number, "fileName": upload.filename}]}, 201
        )

    @app.post("/rest/servicedeskapi/request")
    async def create(request: Request) -> Response:
        body = await request.json()
        with fake.lock:
            refused = _invalid(fake, body)
            if refused:
                return refused
            made = _stored(fake, body)
        return JSONResponse(_shown(fake, made), 201)

    @app.get("/rest/servicedeskapi/request/{key}/comment")
    async def comments(key: str, public: bool = True) -> Response:
        if key not in fake.requests:
            return _unknown_request(key)
        values = [c for c in fake.requests[key]["comments"] if c["public"] or not public]
        return JSONResponse({"size": len(values), "start": 0, "isLastPage": True, "values": values})

    @app.post("/rest/servicedeskapi/request/{key}/comment")
    async def comment(key: str, request: Request) -> Response:
        body = await request.json()
        with fake.lock:
            if key not in fake.requests:
                return _unknown_request(key)
            made = fake.requests[key]
            added = {"id": str(len(made["comments"]) + 1), "body": body["body"], "public": body.get("public", True)}
            made["comments"].append(added)
        return JSONResponse(added, 201)

    @app.post("/rest/servicedeskapi/request/{key}/attachment")
    async def attach(key: str, request: Request) -> Response:
        body = await request.json()
        with fake.lock:
            if key not in fake.requests:
                return _unknown_request(key)
            ids = body.get("temporaryAttachmentIds", [])
            if not ids or any(i not in fake.temporary for i in ids):
                return _refused(f"unknown temporary attachments: {ids}")
            names = [fake.temporary[i][0] for i in ids]
            fake.requests[key]["attachments"] += names
        return JSONResponse({"attachments": {"values": [{"filename": n} for n in names]}}, 201)

    @app.get(f"{desk}/requesttype")
    async def request_types() -> Response:
        values = [{"id": i, "name": n, "serviceDeskId": SERVICE_DESK_ID} for i, n in fake.request_types.items()]
        return JSONResponse({"size": len(values), "start": 0, "isLastPage": True, "values": values})

    @app.get(f"{desk}/requesttype/{{kind}}/field")
    async def request_type_fields(kind: str) -> Response:
        if kind not in fake.request_types:
            return _refused(f"The request type {kind} does not exist.", 404)
        values = [{"fieldId": f, "name": f, "required": f == "summary"} for f in fake.fields.get(kind, ())]
        return JSONResponse({"requestTypeFields": values, "canRaiseOnBehalfOf": True})

    return app


def _invalid(fake: FakeJsm, body: dict[str, Any]) -> JSONResponse | None:
    """Why JSM would refuse to create this request, if it would."""
    values = body.get("requestFieldValues", {})
    if str(body.get("serviceDeskId")) != SERVICE_DESK_ID:
        return _refused(f"The service desk {body.get('serviceDeskId')} does not exist.", 404)
    if body.get("requestTypeId") not in fake.request_types:
        return _refused(f"The request type {body.get('requestTypeId')} does not exist.")
    if not values.get("summary"):
        return _refused("Summary: You must specify a summary of the issue.")
    if any(i not in fake.temporary for i in values.get("attachment", [])):
        return _refused(f"unknown temporary attachments: {values['attachment']}")
    behalf = body.get("raiseOnBehalfOf")
    if behalf is not None and behalf not in {c[0] for c in fake.customers}:
        return _refused(f"The user {behalf} does not exist or is no customer of the service desk.")
    return None


def _stored(fake: FakeJsm, body: dict[str, Any]) -> dict[str, Any]:
    """The request, kept by its new key."""
    values = body["requestFieldValues"]
    number = len(fake.requests) + 1
    made = {
        "key": f"SD-{number}",
        "issueId": str(10000 + number),
        "requestTypeId": body["requestTypeId"],
        "summary": values["summary"],
        "description": values.get("description", ""),
        "labels": list(values.get("labels", [])),
        "attachments": [fake.temporary[i][0] for i in values.get("attachment", [])],
        "fields": {k: v for k, v in values.items() if k not in _OWN},
        "raiseOnBehalfOf": body.get("raiseOnBehalfOf"),
        "comments": [],
        "status": "Waiting for support",
    }
    fake.requests[made["key"]] = made
    return made


def _shown(fake: FakeJsm, made: dict[str, Any]) -> dict[str, Any]:
    """The request as JSM answers its creation."""
    key = made["key"]
    return {
        "issueId": made["issueId"],
        "issueKey": key,
        "requestTypeId": made["requestTypeId"],
        "serviceDeskId": SERVICE_DESK_ID,
        "currentStatus": {"status": made["status"]},
        "_links": {
            "web": f"{fake.url}/servicedesk/customer/portal/{SERVICE_DESK_ID}/{key}",
            "self": f"{fake.url}/rest/servicedeskapi/request/{made['issueId']}",
        },
    }


@contextmanager
def fake_jsm() -> Iterator[FakeJsm]:
    """The fake on a free port of 127.0.0.1, until the block ends."""
    fake = FakeJsm()
    # The app reads the fake's address only when it answers: it is known once the server is up.
    with serving(app_for(fake)) as url:
        fake.url = url
        yield fake
