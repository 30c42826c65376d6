"""Zendesk through its REST API (``/api/v2``): a ticket per request, its files as uploads, its reference as the
ticket's ``external_id``."""

from __future__ import annotations

from typing import Any

import httpx

from handler.forwarding import Ticket
from handler.ticket_mapping import TicketMapping
from handler.tickets import TicketComment, TicketDraft, TicketSystem, TicketSystemError
from handler.tickets.http import TIMEOUT, call


class Zendesk(TicketSystem):
    """A Zendesk account, ``url`` its address (``https://<subdomain>.zendesk.com``), signed in as an agent with an
    API token."""

    name = "zendesk"

    def __init__(self, url: str, email: str, token: str, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.email = email
        self._client = client or httpx.Client(timeout=TIMEOUT)
        self._auth = httpx.BasicAuth(f"{email}/token", token)

    def _call(self, method: str, path: str, **options: Any) -> Any:
        return call(self._client, "Zendesk", method, f"{self.url}{path}", self._auth, **options)

    def _ticket(self, found: Any) -> Ticket:
        return Ticket(self.name, str(found["id"]), f"{self.url}/agent/tickets/{found['id']}")

    def create(self, draft: TicketDraft, retried: bool) -> Ticket:
        if retried:  # an earlier try may have created it, its answer lost (the idempotency key lasts two hours)
            found = self._call("GET", "/api/v2/tickets.json", params={"external_id": draft.reference})
            if found.get("tickets"):
                return self._ticket(found["tickets"][0])
        ticket = {
            "subject": draft.subject,
            "comment": {"body": draft.body, "uploads": self._uploads(draft.files)},
            "requester": {"name": draft.requester_name or draft.requester_email, "email": draft.requester_email},
            "external_id": draft.reference,
            "tags": list(draft.tags),
            "custom_fields": [{"id": number, "value": value} for number, value in draft.custom_fields],
        }
        created = self._call(
            "POST", "/api/v2/tickets.json", json={"ticket": ticket}, headers={"Idempotency-Key": draft.reference}
        )
        return self._ticket(created["ticket"])

    def comment(self, ticket: Ticket, comment: TicketComment, retried: bool) -> None:
        """A public comment by the ticket's requester (an end user in Zendesk), with its files."""
        path = f"/api/v2/tickets/{ticket.id}"
        if retried:  # an earlier try may have added it, its answer lost: Zendesk keys no comment by our id
            earlier = self._call("GET", f"{path}/comments.json").get("comments", [])
            if any(str(c.get("body", "")).strip() == comment.body.strip() for c in earlier):
                return
        requester = self._call("GET", f"{path}.json")["ticket"]["requester_id"]
        body = {"body": comment.body, "public": True, "author_id": requester, "uploads": self._uploads(comment.files)}
        self._call("PUT", f"{path}.json", json={"ticket": {"comment": body}})

    def _uploads(self, files: tuple[tuple[str, str, bytes], ...]) -> list[str]:
        """Each file uploaded, by the token a ticket's comment takes it with."""
        return [
            self._call(
                "POST",
                "/api/v2/uploads.json",
                params={"filename": name},
                content=content,
                headers={"Content-Type": kind},
            )["upload"]["token"]
            for name, kind, content in files
        ]

    def check(self, mapping: TicketMapping | None) -> list[str]:
        try:
            me = self._call("GET", "/api/v2/users/me.json")
            role = me.get("user", {}).get("role")
            if role not in ("agent", "admin"):
                return [f"the API user is a {role or 'nobody'}, not an agent"]
            named = {number for fields in (mapping.custom_fields if mapping else {}).values() for number, _ in fields}
            if not named:
                return []
            known = {field["id"] for field in self._call("GET", "/api/v2/ticket_fields.json").get("ticket_fields", [])}
        except TicketSystemError as exc:
            return [str(exc)]
        return [f"Zendesk has no ticket field {number}" for number in sorted(named - known, key=str)]
