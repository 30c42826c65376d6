"""Jira Service Management (Cloud) through its REST API (``/rest/servicedeskapi``): a customer request per request,
raised on behalf of the requester's customer account when there is one, its files as temporary attachments, its
reference as the label ``sdf-<reference>``, by which a retry finds it (JQL)."""

from __future__ import annotations

from typing import Any

import httpx

from handler.forwarding import Ticket
from handler.ticket_mapping import TicketMapping
from handler.tickets import TicketComment, TicketDraft, TicketSystem, TicketSystemError
from handler.tickets.http import TIMEOUT, call

_EXPERIMENTAL = {"X-ExperimentalApi": "opt-in"}  # the customer list and temporary files are experimental methods
_UPLOAD = {**_EXPERIMENTAL, "X-Atlassian-Token": "no-check"}  # a multipart POST passes Jira's XSRF check with it

Files = tuple[tuple[str, str, bytes], ...]


def label_of(reference: str) -> str:
    """The label a request's ticket carries, by which a retry finds it (lower case: labels have no spaces)."""
    return f"sdf-{reference.lower()}"


def field_id(number: int | str) -> str:
    """A custom field's id as JSM names it: ``customfield_10010`` (a bare number in the mapping means that)."""
    return f"customfield_{number}" if isinstance(number, int) else number


class Jsm(TicketSystem):
    """A JSM service desk (project) ``service_desk_id`` on the site ``url`` (``https://<site>.atlassian.net``),
    signed in as an agent with an API token."""

    name = "jsm"

    def __init__(
        self, url: str, email: str, token: str, service_desk_id: str, client: httpx.Client | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.email = email
        self.service_desk_id = str(service_desk_id)
        self._desk = f"/rest/servicedeskapi/servicedesk/{self.service_desk_id}"
        self._client = client or httpx.Client(timeout=TIMEOUT)
        self._auth = httpx.BasicAuth(email, token)

    def _call(self, method: str, path: str, **options: Any) -> Any:
        return call(self._client, "JSM", method, f"{self.url}{path}", self._auth, **options)

    def _ticket(self, key: str) -> Ticket:
        """The ticket, linked as the desk's agents open it (the same link however it was found)."""
        return Ticket(self.name, key, f"{self.url}/browse/{key}")

    def create(self, draft: TicketDraft, retried: bool) -> Ticket:
        if not draft.request_type:
            raise TicketSystemError(
                f"the mapping in schema/site.json (/tickets/jsm/requestTypes) names no request type for "
                f"{draft.reference}: JSM makes no request without one",
                retryable=False,
            )
        if retried:  # an earlier try may have created it, its answer lost: JSM takes no idempotency key
            found = self._labelled(label_of(draft.reference))
            if found:
                return self._ticket(found)
        account = self._customer(draft.requester_email)
        description = draft.body if account else f"{_requester_line(draft)}\n\n{draft.body}"
        values: dict[str, Any] = {
            "summary": draft.subject,
            "description": description,
            "labels": [label_of(draft.reference), *draft.tags],
        }
        if draft.files:
            values["attachment"] = self._temporary(draft.files)
        values.update({field_id(number): value for number, value in draft.custom_fields})
        request: dict[str, Any] = {
            "serviceDeskId": self.service_desk_id,
            "requestTypeId": draft.request_type,
            "requestFieldValues": values,
        }
        if account:
            request["raiseOnBehalfOf"] = account
        created = self._call("POST", "/rest/servicedeskapi/request", json=request)
        return self._ticket(str(created["issueKey"]))

    def _labelled(self, label: str) -> str | None:
        """The key of an issue that carries ``label``, if there is one."""
        found = self._call("GET", "/rest/api/3/search/jql", params={"jql": f'labels = "{label}"', "fields": "key"})
        issues = found.get("issues") or []
        return str(issues[0]["key"]) if issues else None

    def _customer(self, email: str) -> str | None:
        """The account id of the service desk's customer with this address, if there is one."""
        if not email:
            return None
        found = self._call("GET", f"{self._desk}/customer", params={"query": email}, headers=_EXPERIMENTAL)
        return next(
            (
                str(customer["accountId"])
                for customer in found.get("values", [])
                if str(customer.get("emailAddress", "")).casefold() == email.casefold()
            ),
            None,
        )

    def _temporary(self, files: Files) -> list[str]:
        """Each file uploaded to the service desk, by the temporary id a request or attachment takes it with."""
        return [
            str(
                self._call(
                    "POST", f"{self._desk}/attachTemporaryFile", files={"file": (name, content, kind)}, headers=_UPLOAD
                )["temporaryAttachments"][0]["temporaryAttachmentId"]
            )
            for name, kind, content in files
        ]

    def comment(self, ticket: Ticket, comment: TicketComment, retried: bool) -> None:
        """A public comment by the API user that names the requester (JSM lets an agent comment only as itself),
        after the comment's files are attached to the request."""
        path = f"/rest/servicedeskapi/request/{ticket.id}"
        body = f"{_author(comment.author_name, comment.author_email)} wrote:\n\n{comment.body}"
        if retried:  # an earlier try may have added it, its answer lost: JSM keys no comment by our id
            earlier = self._call("GET", f"{path}/comment", params={"public": "true"}).get("values", [])
            if any(str(c.get("body", "")).strip() == body.strip() for c in earlier):
                return
        if comment.files:
            attached = {"temporaryAttachmentIds": self._temporary(comment.files), "public": True}
            self._call("POST", f"{path}/attachment", json=attached)
        self._call("POST", f"{path}/comment", json={"body": body, "public": True})

    def check(self, mapping: TicketMapping | None) -> list[str]:
        try:
            self._call("GET", self._desk)
            if mapping is None:
                return []
            kinds = {str(kind["id"]) for kind in self._call("GET", f"{self._desk}/requesttype").get("values", [])}
            named = set(mapping.request_types.values())
            problems = [
                f"JSM service desk {self.service_desk_id} has no request type {kind}" for kind in sorted(named - kinds)
            ]
            if not named:
                problems.append("schema/site.json /tickets/jsm names no requestTypes: JSM makes no request without one")
            return problems + self._missing_fields(mapping, sorted(named & kinds))
        except TicketSystemError as exc:
            return [str(exc)]

    def _missing_fields(self, mapping: TicketMapping, kinds: list[str]) -> list[str]:
        """The custom fields the mapping names that none of the request types ``kinds`` has."""
        named = {field_id(number) for fields in mapping.custom_fields.values() for number, _ in fields}
        if not named or not kinds:
            return []
        known = {
            str(field["fieldId"])
            for kind in kinds
            for field in self._call("GET", f"{self._desk}/requesttype/{kind}/field").get("requestTypeFields", [])
        }
        desk, where = self.service_desk_id, ", ".join(kinds)
        return [f"JSM service desk {desk}: no request type of {where} has the field {n}" for n in sorted(named - known)]


def _author(name: str, email: str) -> str:
    return f"{name} ({email})" if name else email


def _requester_line(draft: TicketDraft) -> str:
    """Who asked, for a request the API user raises itself (the requester is no customer of the desk)."""
    name = draft.requester_name
    return f"Requester: {name} <{draft.requester_email}>" if name else f"Requester: {draft.requester_email}"
