"""AWS Lambda entry point (``handler.lambda_entry.handler``): API Gateway, Function URLs and the schedule."""

from __future__ import annotations

import json
import logging
import os
import re
from functools import cache
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from handler.app import create_app
from handler.forms import Catalog
from handler.services import Services
from handler.settings import Settings

log = logging.getLogger("servicedesk_forms")

# What may be logged of an event's names: identifiers such as "requestContext" or "aws:s3", never values.
_LOGGABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]{0,63}$")
_NAMES_LOGGED = 30


def adapter_for(app: FastAPI, settings: Settings) -> Mangum:
    """Mangum around ``app``, stripping the stage or base path the settings name."""
    return Mangum(app, lifespan="off", api_gateway_base_path=settings.api_base_path)


@cache
def _container() -> tuple[Services, Mangum]:
    # Built once per container, with its clients and the session secret, and reused by every event: on
    # Lambda while the module is imported (INIT, before the first event), elsewhere on the first event.
    settings = Settings.from_env()
    app = create_app(settings)
    return app.state.services, adapter_for(app, settings)


def is_mail_event(event: dict[str, Any]) -> bool:
    """Whether the event asks for queued e-mail to be sent: new items in the table's stream (the
    template filters the stream to queued e-mail) or the retry schedule."""
    if "Records" in event:
        records = event["Records"]
        return (
            isinstance(records, list)
            and bool(records)
            and all(isinstance(record, dict) and record.get("eventSource") == "aws:dynamodb" for record in records)
        )
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def is_http_event(event: dict[str, Any]) -> bool:
    """Whether the event claims to come from API Gateway (REST or HTTP API) or a Function URL."""
    return any(key in event for key in ("requestContext", "httpMethod", "rawPath", "routeKey"))


def event_shape(event: Any) -> dict[str, Any]:
    """What the log may say about an event: its top-level names and its records' sources, no values."""
    if not isinstance(event, dict):
        return {"eventType": type(event).__name__}
    records = event.get("Records")
    sources = {
        record.get("eventSource") or record.get("EventSource")  # SNS spells it with a capital
        for record in (records if isinstance(records, list) else [])
        if isinstance(record, dict)
    }
    return {
        "eventKeys": sorted(str(key) for key in event if _LOGGABLE_NAME.match(str(key)))[:_NAMES_LOGGED],
        "eventSources": sorted(s for s in sources if isinstance(s, str) and _LOGGABLE_NAME.match(s))[:_NAMES_LOGGED],
    }


def bad_request(catalog: Catalog) -> dict[str, Any]:
    """A 400 in the API's error shape, as API Gateway and Function URLs take a response."""
    language = catalog.negotiate(None)
    message = str(catalog.common[language]["api"]["bad_request"])
    return {
        "statusCode": 400,
        "headers": {"content-type": "application/json", "content-language": language, "cache-control": "no-store"},
        "body": json.dumps({"error": {"code": "bad_request", "message": message, "details": []}}, ensure_ascii=False),
        "isBase64Encoded": False,
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Serve one event from API Gateway (HTTP API v2 or REST API v1) or a Lambda Function URL, or send
    the queued e-mail when the table's stream or the schedule says so; any other event is logged and
    answered, never raised."""
    services, adapter = _container()
    if isinstance(event, dict) and is_mail_event(event):
        sent, failed = services.send_queued_mail()
        log.info("queued e-mail: %d sent, %d failed and wait for the next try", sent, failed)
        return {"sent": sent, "failed": failed}
    if not isinstance(event, dict) or not is_http_event(event):
        log.warning("ignored an event that is neither an HTTP request nor queued e-mail", extra=event_shape(event))
        return {"ignored": True, "reason": "unsupported event"}
    try:
        return adapter(event, context)
    except Exception as exc:  # the app answers its own errors (Mangum turns a crash into a 500): this is the event
        log.warning(
            "refused an HTTP event that could not be read",
            extra={**event_shape(event), "failure": type(exc).__name__},
        )
        return bad_request(services.catalog)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    try:
        _container()
    except Exception:
        log.exception("could not build the handler at start-up; the first event tries again")
