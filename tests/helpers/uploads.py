"""Attachments through the API on the embedded store: real file heads, and an upload slot asked, filled and
submitted."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.shipped import valid_data

# A real 1x1 PNG and the start of a real MP4 (ftyp box), as a browser would send them.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 64


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


VALID = valid_data(subject="Skjermbilde", description="D")


def slot(client: TestClient, name: str, content_type: str, size: int, **headers: str) -> Any:
    body = {"form": "service-request", "field": "attachments", "name": name, "type": content_type, "size": size}
    return client.post("/v1/uploads", json=body, headers=headers)


def send(client: TestClient, target: dict[str, Any], content: bytes, **changes: str) -> Any:
    fields = {**target["fields"], **changes}
    return client.post(target["url"], data=fields, files={"file": ("blob", content, fields["Content-Type"])})


def upload(client: TestClient, name: str, content_type: str, content: bytes) -> str:
    target = slot(client, name, content_type, len(content))
    assert target.status_code == 201, target.text
    assert send(client, target.json(), content).status_code == 204
    return str(target.json()["id"])


def submit(client: TestClient, *ids: str, **headers: str) -> Any:
    return client.post(
        "/v1/requests", json={"form": "service-request", "data": {**VALID, "attachments": list(ids)}}, headers=headers
    )
