"""AWS Lambda entry point (``handler.lambda_entry.handler``) for API Gateway and Function URLs."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from handler.app import create_app
from handler.settings import Settings


def adapter_for(app: FastAPI, settings: Settings) -> Mangum:
    """Mangum around ``app``, stripping the stage or base path the settings name."""
    return Mangum(app, lifespan="off", api_gateway_base_path=settings.api_base_path)


@cache
def _container_adapter() -> Mangum:
    # Built on the first event of a container and reused by every later one, with its clients.
    settings = Settings.from_env()
    return adapter_for(create_app(settings), settings)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one event from API Gateway (HTTP API v2 or REST API v1) or a Lambda Function URL."""
    return _container_adapter()(event, context)
