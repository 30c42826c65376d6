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


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one event from API Gateway (HTTP API v2 or REST API v1) or a Lambda Function URL; an
    EventBridge schedule event retries the e-mail that could not be sent."""
    services, adapter = _container()
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        sent, waiting = services.retry_mail()
        log.info("retried unsent e-mail: %d sent, %d still waiting", sent, waiting)
        return {"sent": sent, "waiting": waiting}
    return adapter(event, context)
