"""Structured logs and metrics: one JSON object per line on AWS, carrying the event's correlation ids and
CloudWatch metrics in the Embedded Metric Format; readable prose locally; never an e-mail address.

A log call keeps a short message for people and puts what a machine needs in ``extra``::

    log.warning("queued e-mail failed (attempt %d)", attempts, extra={"mailId": mail_id, "attempts": attempts})

On AWS (``configure_json_logs``) that becomes ``{"time": ..., "level": "WARNING", "logger": ..., "message":
..., "requestId": ..., "mailId": ..., "attempts": 3}``: the ids of the event being handled come from a
context variable that ``event_context`` sets per event and ``annotate`` adds to (the reference, form,
category and outcome as they become known). Anything in a line that looks like an e-mail address is
replaced by ``<address>``, in the message, the extra fields and the stack trace alike.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any

NAMESPACE = "ServicedeskForms"  # the CloudWatch namespace of the metrics the handler emits
DIMENSION = "FunctionName"  # their one dimension: the function's name, so that stacks in one account stay apart
REDACTED = "<address>"
CORRELATION = ("requestId", "awsRequestId", "reference", "form", "category", "outcome")  # in this order

# Anything with an @ (or its percent-encoding) after a run of characters that can end an address's
# local part (or a quoted local part) and before a run that can be its domain: deliberately wider than
# the address syntax, so that a half-quoted, encoded or mangled address goes too.
_ADDRESS = re.compile(r"(?:\"[^\"\n]*\"|[^\s@<>()\[\]{},;:\"`\\]*)(?:@|%40)[^\s@<>()\[\]{},;:\"'`\\]+", re.IGNORECASE)
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "aws_request_id",  # the Lambda runtime's filter adds these two to every record
    "tenant_id",
    "_frame_type",
}
# The frame types the Lambda runtime's log handler passes on for a JSON line of each level, as its own
# JSON formatter marks them (awslambdaric); a handler that is not the runtime's ignores the attribute.
_JSON_FRAMES = {
    logging.NOTSET: 0xA55A0002,
    logging.DEBUG: 0xA55A000A,
    logging.INFO: 0xA55A000E,
    logging.WARNING: 0xA55A0012,
    logging.ERROR: 0xA55A0016,
    logging.CRITICAL: 0xA55A001A,
}

_context: ContextVar[dict[str, Any] | None] = ContextVar("servicedesk_forms_log_context", default=None)


def redact(text: str) -> str:
    """``text`` with everything that looks like an e-mail address replaced by ``<address>``."""
    return _ADDRESS.sub(REDACTED, text) if ("@" in text or "%" in text) else text


def scrub(value: Any) -> Any:
    """A copy of a JSON-like value with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(key)): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


@contextmanager
def event_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Correlation fields for every line logged while one event is handled (``None`` values left out)."""
    # One dictionary per event, shared by the copies of the context that thread pools and tasks run
    # in, so that ``annotate`` in a worker thread reaches the event's later lines too.
    fields_now = {key: value for key, value in fields.items() if value is not None}
    token = _context.set(fields_now)
    try:
        yield fields_now
    finally:
        _context.reset(token)


def annotate(**fields: Any) -> None:
    """Add correlation fields (``reference``, ``form``, ``category``, ``outcome``) to the current event's lines."""
    current = _context.get()
    if current is not None:
        current.update((key, value) for key, value in fields.items() if value is not None)


def correlation() -> dict[str, Any]:
    """The current event's correlation fields (empty outside an event)."""
    return dict(_context.get() or {})


def metrics(values: Mapping[str, tuple[float, str]], timestamp: float | None = None) -> dict[str, Any]:
    """``extra`` that makes a JSON line a CloudWatch metric record (EMF): ``{"MailGivenUp": (1, "Count")}``."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    directive = {
        "Namespace": NAMESPACE,
        "Dimensions": [[DIMENSION]],
        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
    }
    emf = {"Timestamp": int((time.time() if timestamp is None else timestamp) * 1000), "CloudWatchMetrics": [directive]}
    return {"_aws": emf, DIMENSION: function, **{name: value for name, (value, _) in values.items()}}


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, correlation, ``extra``, exception; redacted."""

    def __init__(self, newline: bool = False) -> None:
        super().__init__()
        self.newline = newline  # the Lambda runtime's handler writes the formatted text as it is

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        level = min(50, max(0, record.levelno)) // 10 * 10
        record._frame_type = _JSON_FRAMES.get(level, _JSON_FRAMES[logging.NOTSET]).to_bytes(4, "big")
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = _context.get() or {}
        line.update((key, scrub(fields[key])) for key in CORRELATION if key in fields)
        line.update((key, scrub(value)) for key, value in fields.items() if key not in line)
        runtime_id = getattr(record, "aws_request_id", None)
        if "awsRequestId" not in line and runtime_id:
            line["awsRequestId"] = runtime_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in ("time", "level", "logger", "message"):
                line[key] = value if key == "_aws" else scrub(value)
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, trace = record.exc_info
            line["errorType"] = kind.__name__
            line["errorMessage"] = redact(str(error))
            line["stackTrace"] = [redact(frame) for frame in traceback.format_tb(trace)]
        elif record.stack_info:
            line["stackTrace"] = [redact(record.stack_info)]
        text = json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))
        return text + "\n" if self.newline else text


def configure_json_logs(stream: IO[str] | None = None) -> None:
    """Log JSON lines through the Lambda runtime's handlers, or to ``stream`` (standard error) without them."""
    # INFO and above, unless the runtime set the level that LoggingConfig's ApplicationLogLevel asks for.
    root = logging.getLogger()
    handlers = [handler for handler in root.handlers if not isinstance(handler, logging.NullHandler)]
    if not handlers:
        handlers = [logging.StreamHandler(stream or sys.stderr)]
        root.addHandler(handlers[0])
    for handler in handlers:
        # The runtime's own handlers write the formatted text as it is; a stream handler adds the newline.
        handler.setFormatter(JsonFormatter(newline=not isinstance(handler, logging.StreamHandler)))
    if not os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
        root.setLevel(logging.INFO)
    # Mangum logs a line per request; the handler's own "answered" line says the same and more.
    logging.getLogger("mangum").setLevel(logging.WARNING)
