"""The yardstick of bench/bench_aws.py: the least a Lambda handler can do for a submission on AWS.

FastAPI behind Mangum, the form's JSON Schema checked with jsonschema, then the body stored with one
S3 PutObject and one DynamoDB PutItem: no sign-in, no idempotency, no reference number, no e-mail.
Like the real entry it builds its clients and its validator while it is imported (Lambda's INIT).
Settings come from the same environment variables (``SDF_BUCKET``, ``SDF_TABLE``,
``SDF_S3_ENDPOINT_URL``, ``SDF_DYNAMODB_ENDPOINT_URL``, ``AWS_REGION``) and the same client settings.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from mangum import Mangum
from referencing import Registry, Resource

SCHEMA_DIR = Path(os.environ.get("BENCH_SCHEMA_DIR", Path(__file__).resolve().parent.parent / "schema"))
BUCKET = os.environ.get("SDF_BUCKET", "")
TABLE = os.environ.get("SDF_TABLE", "")


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _validator() -> Draft202012Validator:
    contact_types = _schema("contact-types.schema.json")
    registry: Registry[Any] = Registry().with_resource(contact_types["$id"], Resource.from_contents(contact_types))
    return Draft202012Validator(_schema("forms/service-request.schema.json"), registry=registry)


def _clients() -> tuple[Any, Any]:
    config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2})
    session = boto3.session.Session()
    region = os.environ.get("AWS_REGION") or None
    s3 = session.client(
        "s3",
        region_name=region,
        endpoint_url=os.environ.get("SDF_S3_ENDPOINT_URL") or None,
        config=config.merge(Config(signature_version="s3v4", s3={"addressing_style": "path"})),
    )
    dynamodb = session.client(
        "dynamodb", region_name=region, endpoint_url=os.environ.get("SDF_DYNAMODB_ENDPOINT_URL") or None, config=config
    )
    return s3, dynamodb


validator = _validator()
s3, dynamodb = _clients()
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/v1/requests", status_code=201)
async def submit(request: Request) -> JSONResponse:
    """Check the body's data against the form's schema, store it, answer with its id."""
    body = await request.body()
    envelope = json.loads(body)
    errors = [error.message for error in validator.iter_errors(envelope.get("data"))]
    if errors:
        return JSONResponse({"error": {"code": "validation_failed", "details": errors}}, status_code=422)
    request_id = str(uuid.uuid4())
    s3.put_object(Bucket=BUCKET, Key=f"minimal/{request_id}.json", Body=body, ContentType="application/json")
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"MINIMAL#{request_id}"}, "sk": {"S": "REQUEST"}, "body": {"S": body.decode()}},
    )
    return JSONResponse({"id": request_id}, status_code=201)


handler = Mangum(app, lifespan="off")
