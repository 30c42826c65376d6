"""AWS Lambda entry point (``handler.lambda_entry.handler``): API Gateway, Function URLs and the schedule."""

from __future__ import annotations

import gc

# No cyclic garbage collection while the modules and the container are built: nothing they make is garbage,
# and the collector would walk the growing heap again and again (about a tenth of a cold start). It comes back
# at the end of this module; on Lambda what INIT built is frozen first (see the end of this file).
gc.disable()

import json
import logging
import os
import re
import time
from functools import cache
from typing import Any

from fastapi import FastAPI
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from handler import observe, replies
from handler.api.deps import inline_calls
from handler.api.problems import MEDIA_TYPE, Problem, problem_body
from handler.app import create_app
from handler.codes import Code
from handler.schema.catalog import Catalog
from handler.services import Services
from handler.settings import Settings
from handler.storage.base import SWEEP_BATCH
from handler.usecases import conversing, forwarding, mailing

INBOUND_PREFIX = "inbound/"  # where SES stores replies by e-mail (template.yaml: InboundMailRule)
log = logging.getLogger("servicedesk_forms")

# What may be logged of an event's names: identifiers such as "requestContext" or "aws:s3", never values.
_LOGGABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]{0,63}$")
_NAMES_LOGGED = 30
# API Gateway's and Lambda's request ids: letters, digits and a few marks (base64 or a UUID).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9=+/_.:-]{1,128}$")


def adapter_for(app: FastAPI, settings: Settings) -> Mangum:
    """Mangum around ``app``, stripping the stage or base path the settings name."""
    # Problem details are text: Mangum would otherwise send them base64-encoded.
    text = [*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"]
    return Mangum(app, lifespan="off", api_gateway_base_path=settings.api_base_path, text_mime_types=text)


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


def inbound_mail_key(event: dict[str, Any]) -> str | None:
    """The bucket key of a reply SES stored under ``inbound/``, when the event is the bucket's "Object Created"."""
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        return None
    detail = event.get("detail")
    found = detail.get("object", {}).get("key") if isinstance(detail, dict) else None
    return found if isinstance(found, str) and found.startswith(INBOUND_PREFIX) and ".." not in found else None


def take_inbound_mail(services: Services, key: str) -> dict[str, Any]:
    """Read the reply SES stored at ``key`` (no further than the limit) and take it into its conversation."""
    raw = services.blobs.head(key, conversing.MAX_MAIL_BYTES + 1)
    received = conversing.receive(services.conversing, raw, replies.ses_verdicts(raw))
    return {"inbound": str(received.outcome), "reason": received.reason}


def is_http_event(event: dict[str, Any]) -> bool:
    """Whether the event claims to come from API Gateway (REST or HTTP API) or a Function URL."""
    return any(key in event for key in ("requestContext", "httpMethod", "rawPath", "routeKey"))


def event_method(event: dict[str, Any]) -> str:
    """The HTTP method of an API Gateway or Function URL event (REST API v1 or the v2 format)."""
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, dict) else None
    method = http.get("method") if isinstance(http, dict) else event.get("httpMethod")
    return method[:16] if isinstance(method, str) else "?"


def event_path(event: dict[str, Any]) -> str:
    """The path of an API Gateway or Function URL event, without its query string."""
    path = event.get("rawPath", event.get("path"))
    return path[:200] if isinstance(path, str) else "?"


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


def request_ids(event: Any, context: Any) -> dict[str, str]:
    """The ids that tie an event's lines together: API Gateway's ``requestContext.requestId``, Lambda's."""
    found = {}
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    api_id = request_context.get("requestId") if isinstance(request_context, dict) else None
    if isinstance(api_id, str) and _REQUEST_ID.match(api_id):
        found["requestId"] = api_id
    lambda_id = getattr(context, "aws_request_id", None)
    if isinstance(lambda_id, str) and _REQUEST_ID.match(lambda_id):
        found["awsRequestId"] = lambda_id
        found.setdefault("requestId", lambda_id)
    return found


def outcome_of(status: int) -> str:
    """The outcome a log line gives an HTTP answer that the app did not name: ok, refused or failed."""
    return "ok" if status < 400 else "refused" if status < 500 else "failed"


def sweep(services: Services) -> None:
    """On the schedule: sweep away a batch of what requests never stored left behind; logged, never raised."""
    try:
        found, removed = services.store.sweep(services.blobs, services.clock(), limit=SWEEP_BATCH)
    except Exception:
        log.exception("the sweep of requests that were never stored failed; the next schedule tries again")
        return
    if found:
        log.info("swept %d of %d requests that were never stored", removed, len(found), extra={"swept": removed})
    try:
        mailing.give_up_interrupted(services.mailing)
    except Exception:
        log.exception("looking for e-mail whose sending was interrupted failed; the next schedule tries again")


def bad_request(catalog: Catalog) -> dict[str, Any]:
    """A 400 as problem details, as API Gateway and Function URLs take a response."""
    language = catalog.default_language  # an event that cannot be read has no Accept-Language to go by
    return {
        "statusCode": 400,
        "headers": {"content-type": MEDIA_TYPE, "content-language": language, "cache-control": "no-store"},
        "body": json.dumps(problem_body(catalog, language, Problem(Code.BAD_REQUEST)), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Serve one event from API Gateway (HTTP API v2 or REST API v1) or a Lambda Function URL, or send
    the queued e-mail when the table's stream or the schedule says so; any other event is logged and
    answered, never raised. Every line logged meanwhile carries the event's request ids."""
    with observe.event_context(**request_ids(event, context)):
        return _handle(event, context)


def _handle(event: Any, context: Any) -> dict[str, Any]:
    services, adapter = _container()
    if isinstance(event, dict) and (key := inbound_mail_key(event)):
        return take_inbound_mail(services, key)
    if isinstance(event, dict) and is_mail_event(event):
        sent, failed = mailing.send_queued_mail(services.mailing)
        done: dict[str, Any] = {"sent": sent, "failed": failed}
        if services.forwarding.system is not None:
            forwarded, not_forwarded = forwarding.forward_due(services.forwarding)
            done |= {"forwarded": forwarded, "notForwarded": not_forwarded}
        if event.get("source") == "aws.events":
            sweep(services)
        return done
    if not isinstance(event, dict) or not is_http_event(event):
        log.warning(
            "ignored an event that is neither an HTTP request nor queued e-mail",
            extra={**event_shape(event), "outcome": "ignored"},
        )
        return {"ignored": True, "reason": "unsupported event"}
    started = time.perf_counter()
    try:
        with inline_calls():  # one event at a time: a thread-pool hop would buy nothing
            answer = adapter(event, context)
    except Exception as exc:  # the app answers its own errors (Mangum turns a crash into a 500): this is the event
        log.warning(
            "refused an HTTP event that could not be read",
            extra={**event_shape(event), "failure": type(exc).__name__, "status": 400, "outcome": "refused"},
        )
        return bad_request(services.catalog)
    status = int(answer.get("statusCode", 500))
    observe.annotate(outcome=observe.correlation().get("outcome") or outcome_of(status))
    log.info(
        "answered %s %s with %d",
        event_method(event),
        event_path(event),
        status,
        extra={"status": status, "durationMs": round((time.perf_counter() - started) * 1000, 1)},
    )
    return answer


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    observe.configure_json_logs()
    try:
        _container()
    except Exception:
        log.exception("could not build the handler at start-up; the first event tries again")
    gc.freeze()  # the modules and the container live as long as the process: no collection need look at them again
gc.enable()
