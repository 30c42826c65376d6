"""AWS Lambda entry point (``handler.lambda_entry.handler``) for API Gateway and Function URLs."""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from handler.app import create_app
from handler.settings import Settings

_adapter: Mangum | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one Lambda event; the app and its clients are built on the first event of a container."""
    global _adapter
    if _adapter is None:
        settings = Settings.from_env()
        _adapter = Mangum(create_app(settings), lifespan="off", api_gateway_base_path=settings.api_base_path)
    return _adapter(event, context)
