"""Reading request bodies safely: content type, size, encoding and strict JSON."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from handler.codes import Code
from handler.dialect import pointer
from handler.refusals import Refused
from handler.schema.model import FieldError


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refusing wrong content types, oversize and malformed bodies with a 4xx."""
    return parse_json(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The raw JSON body (for a signature over it), refusing wrong content types and oversize bodies."""
    mime, _, params = request.headers.get("content-type", "").partition(";")
    charset = params.strip().lower().removeprefix("charset=").strip('"') if "charset=" in params.lower() else "utf-8"
    if mime.strip().lower() != "application/json" or charset not in ("utf-8", "utf8"):
        raise Refused(Code.UNSUPPORTED_MEDIA_TYPE)
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise Refused(Code.BAD_REQUEST)
    if declared is not None and int(declared) > limit:
        raise Refused(Code.PAYLOAD_TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(Code.PAYLOAD_TOO_LARGE)
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN, no lone surrogates."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(Code.INVALID_ENCODING) from exc
    try:
        parsed = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise Refused(Code.INVALID_JSON) from exc
    broken = _broken_text(parsed, [])
    if broken is not None:
        named = broken[1] if len(broken) > 1 and broken[0] == "data" else None
        field = named if isinstance(named, str) and _encodable(named) else None
        path = pointer(broken).encode("utf-8", "backslashreplace").decode()
        raise Refused(Code.INVALID_TEXT, [FieldError(field, path, "x-text", "")])
    return parsed


def json_body(properties: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a JSON object with exactly ``properties``, for a route's ``openapi_extra``."""
    schema = {"type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _broken_text(value: Any, path: list[str | int]) -> list[str | int] | None:
    """The path to the first key or text holding a lone surrogate (which cannot be stored or mailed)."""
    if isinstance(value, str):
        return None if _encodable(value) else path
    if isinstance(value, list):
        items: Any = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return None
    for key, inner in items:
        if isinstance(key, str) and not _encodable(key):
            return [*path, key]
        found = _broken_text(inner, [*path, key])
        if found is not None:
            return found
    return None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in object")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
