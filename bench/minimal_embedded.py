"""The yardstick of bench/bench_lambda.py: the least a Lambda handler can do for a submission on one disk.

FastAPI behind Mangum, the form's JSON Schema checked with jsonschema, then the body written as one JSON
document, synced (one ``fsync``) before the 201: no sign-in, no idempotency, no reference number, no
e-mail. Like the real entry it builds its validator and app while it is imported (Lambda's INIT).
Documents go under ``SDF_DATA_DIR``; the schema is read from ``BENCH_SCHEMA_DIR`` (default ``schema/``).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from mangum import Mangum
from referencing import Registry, Resource

SCHEMA_DIR = Path(os.environ.get("BENCH_SCHEMA_DIR", Path(__file__).resolve().parent.parent / "schema"))
DOCUMENTS = Path(os.environ.get("SDF_DATA_DIR", ".")) / "minimal"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _validator() -> Draft202012Validator:
    contact_types = _schema("contact-types.schema.json")
    registry: Registry[Any] = Registry().with_resource(contact_types["$id"], Resource.from_contents(contact_types))
    return Draft202012Validator(_schema("forms/service-request.schema.json"), registry=registry)


validator = _validator()
DOCUMENTS.mkdir(parents=True, exist_ok=True)
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/v1/requests", status_code=201)
async def submit(request: Request) -> JSONResponse:
    """Check the body's data against the form's schema, write it durably, answer with its id."""
    body = await request.body()
    envelope = json.loads(body)
    errors = [error.message for error in validator.iter_errors(envelope.get("data"))]
    if errors:
        return JSONResponse({"error": {"code": "validation_failed", "details": errors}}, status_code=422)
    request_id = str(uuid.uuid4())
    descriptor = os.open(DOCUMENTS / f"{request_id}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, body)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return JSONResponse({"id": request_id}, status_code=201)


handler = Mangum(app, lifespan="off")
