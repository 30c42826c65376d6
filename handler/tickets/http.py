"""One call to a ticket system's REST API, with what its answer means for the worker: done (the JSON, or {} for
an empty answer), worth trying again later (no answer, busy, failing), or refused."""

from __future__ import annotations

from typing import Any

import httpx

from handler.tickets import TicketSystemError

# Every call gives up within this many seconds, so that a slow system cannot hold the worker past its own limit.
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
_BUSY = {429, 503}


def call(client: httpx.Client, system: str, method: str, url: str, auth: httpx.Auth, **options: Any) -> Any:
    """The answer's JSON; ``TicketSystemError`` (retryable, with ``Retry-After``) when it is not done."""
    try:
        answer = client.request(method, url, auth=auth, **options)
    except httpx.HTTPError as exc:  # no answer: it may or may not have been done, so try again (idempotently)
        raise TicketSystemError(f"{system} did not answer: {type(exc).__name__}", retryable=True) from exc
    if answer.status_code in _BUSY or answer.status_code >= 500:
        wait = answer.headers.get("Retry-After", "")
        after = float(wait) if wait.replace(".", "", 1).isdigit() else None
        raise TicketSystemError(f"{system} answered {answer.status_code}", retryable=True, retry_after=after)
    if answer.status_code >= 400:
        detail = answer.text[:300].replace("\n", " ")
        raise TicketSystemError(f"{system} refused it ({answer.status_code}): {detail}", retryable=False)
    if answer.status_code == 204 or not answer.content:
        return {}
    try:
        return answer.json()
    except ValueError as exc:
        raise TicketSystemError(f"{system} answered something that is not JSON", retryable=True) from exc
