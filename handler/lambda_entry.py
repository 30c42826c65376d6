"""AWS Lambda entry point (``handler.lambda_entry.handler``): API Gateway, Function URLs and the schedule."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from handler.app import create_app
from handler.services import Services
from handler.settings import Settings

log = logging.getLogger("servicedesk_forms")


def adapter_for(app: FastAPI, settings: Settings) -> Mangum:
    """Mangum around ``app``, stripping the stage or base path the settings name."""
    return Mangum(app, lifespan="off", api_gateway_base_path=settings.api_base_path)


@cache
def _container() -> tuple[Services, Mangum]:
    # Built on the first event of a container and reused by every later one, with its clients.
    settings = Settings.from_env()
    app = create_app(settings)
    return app.state.services, adapter_for(app, settings)


def is_mail_event(event: dict[str, Any]) -> bool:
    """Whether the event asks for queued e-mail to be sent: new items in the table's stream (the
    template filters the stream to queued e-mail) or the retry schedule."""
    records = event.get("Records") or [{}]
    from_stream = all(record.get("eventSource") == "aws:dynamodb" for record in records) and "Records" in event
    return from_stream or (event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one event from API Gateway (HTTP API v2 or REST API v1) or a Lambda Function URL, or send
    the queued e-mail when the table's stream or the schedule says so."""
    services, adapter = _container()
    if is_mail_event(event):
        sent, failed = services.send_queued_mail()
        log.info("queued e-mail: %d sent, %d failed and wait for the next try", sent, failed)
        return {"sent": sent, "failed": failed}
    return adapter(event, context)
