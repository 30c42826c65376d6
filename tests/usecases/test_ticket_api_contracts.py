"""The ticket-system clients and their fakes held to the real APIs' contracts: a trimmed OpenAPI file of each API
(tests/ticket_apis/, only the operations the clients make, written from Zendesk's and Atlassian's public references)
and Stoplight's Prism between client and fake as a validating proxy (``prism proxy --errors``).

Prism refuses a request the file does not allow (422, and the fake never sees it; the violations in its problem
document) and turns an answer of the fake that the file does not allow into a 500 of its own (the violations in its
``sl-violations`` header). So a client that sends a misspelled field, and a fake that answers what the real system
never would, fail here, where the clients' own tests against the fakes alone pass; each test also asserts that no
exchange had a violation at all, warnings included.

Prism (@stoplight/prism-cli, from package.json) runs once per module for each file, a Node process of its own on a
free port of 127.0.0.1 in front of one fake; each test uses references of its own on that shared fake. Prism reads a
request body that is not JSON as UTF-8 text before passing it on, so the files here are text: a binary file's bytes
would reach the fake changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from handler.forwarding import Ticket
from handler.ticket_mapping import TicketMapping
from handler.tickets import TicketComment, TicketDraft, TicketSystemError
from handler.tickets.jsm import Jsm
from handler.tickets.zendesk import Zendesk
from tests.helpers import fake_jsm, fake_zendesk
from tests.helpers.fake_jsm import FakeJsm
from tests.helpers.fake_zendesk import FakeZendesk
from tests.helpers.paths import ROOT, TESTS
from tests.helpers.servers import free_port, missing_tool

APIS = TESTS / "ticket_apis"
PRISM = ROOT / "node_modules" / ".bin" / "prism"
START_TIMEOUT = 30.0

# Prism is a local server of its own: these tests stay out of the run without local servers (the one under faketime).
servers = pytest.mark.servers

LOG = ("logg.txt", "text/plain", "Feil kl. 09:14: skriveren svarer ikke på «ping»\n".encode())
KARI = ("Kari Nordmann", "kari.nordmann@customer.example")  # a customer of the fake JSM desk


@dataclass(frozen=True)
class Answer:
    """One answer a client got through Prism."""

    call: str  # method and path
    status: int
    violations: list[dict[str, Any]]  # what Prism found wrong with the request or the fake's answer
    by_prism: bool  # Prism's own answer (a refused request, or an answer it would not pass on), not the fake's
    text: str

    def problem(self) -> str | None:
        """What is wrong with this exchange by the contract, if anything."""
        if not self.violations and not self.by_prism:
            return None
        found = "; ".join(f"{'.'.join(v.get('location', []))}: {v.get('message')}" for v in self.violations)
        return f"{self.call} -> {self.status}: {found or self.text[:300]}"


@dataclass
class Proxy:
    """Prism on ``url``, in front of a fake; ``answers`` holds what the clients it made got, test by test."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    answers: list[Answer] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    def watch(self, answer: httpx.Response) -> None:
        """An httpx response hook: keep the answer with the violations Prism found (in its sl-violations header,
        or, for a request it refused, in the validation list of its problem document)."""
        answer.read()
        by_prism = answer.headers.get("content-type", "").startswith("application/problem+json")
        violations = json.loads(answer.headers.get("sl-violations", "[]"))
        if by_prism and not violations:
            with contextlib.suppress(ValueError, AttributeError):
                violations = list(answer.json().get("validation", []))
        call = f"{answer.request.method} {answer.request.url.path}"
        self.answers.append(Answer(call, answer.status_code, violations, by_prism, answer.text))

    def client(self) -> httpx.Client:
        """An HTTP client for a ticket-system client: its answers are watched, and it is closed by ``done``."""
        client = httpx.Client(timeout=5.0, event_hooks={"response": [self.watch]})
        self.clients.append(client)
        return client

    def calls(self) -> list[str]:
        return [answer.call for answer in self.answers]

    def problems(self) -> list[str]:
        """Every exchange so far that breaks the contract, each with Prism's reasons."""
        return [problem for answer in self.answers if (problem := answer.problem())]

    def done(self) -> None:
        """After a test: print what broke the contract, for a failed test's report (a client only says "answered
        500"), and close the test's HTTP clients."""
        for problem in self.problems():
            print(f"contract: {problem}")
        while self.clients:
            self.clients.pop().close()

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Prism exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/", timeout=0.5)  # any answer will do: Prism's own 404 for this path
                return
            time.sleep(0.05)
        raise RuntimeError(f"Prism did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """End Prism's process group: Node, and whatever it started."""
        if self.process.poll() is not None:  # reaped: its id may be another's by now
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@contextlib.contextmanager
def run_prism(spec: Path, upstream: str) -> Iterator[Proxy]:
    """Prism as a validating proxy from a free port of 127.0.0.1 to ``upstream``, on the contract ``spec``."""
    if not PRISM.exists():
        missing_tool("Prism (node_modules/.bin/prism, from @stoplight/prism-cli in package.json)")
        raise AssertionError("unreachable")
    port = free_port()
    command = [str(PRISM), "proxy", str(spec), upstream, "--errors", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="sdf-prism-") as folder:
        log = Path(folder) / "prism.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to end whatever it started
            )
        proxy = Proxy(f"http://127.0.0.1:{port}", process, log)
        try:
            proxy.wait_until_ready()
            yield proxy
        finally:
            proxy.stop()


# Zendesk ------------------------------------------------------------------------------------------------------


@dataclass
class ZendeskSite:
    fake: FakeZendesk
    proxy: Proxy
    client: Zendesk

    def ticket(self, ticket: Ticket) -> dict[str, Any]:
        return self.fake.tickets[int(ticket.id)]


@pytest.fixture(scope="module")
def zendesk_behind_prism() -> Iterator[tuple[FakeZendesk, Proxy]]:
    with fake_zendesk.fake_zendesk() as fake, run_prism(APIS / "zendesk.yaml", fake.url) as proxy:
        yield fake, proxy


@pytest.fixture
def zendesk(zendesk_behind_prism: tuple[FakeZendesk, Proxy]) -> Iterator[ZendeskSite]:
    """A Zendesk client whose calls go through Prism to the module's fake; the answers it got, from this test on."""
    fake, proxy = zendesk_behind_prism
    proxy.answers.clear()
    yield ZendeskSite(fake, proxy, Zendesk(proxy.url, fake_zendesk.EMAIL, fake_zendesk.TOKEN, client=proxy.client()))
    proxy.done()


ZENDESK_DRAFT = TicketDraft(
    reference="SR-ZD00-0000",
    subject="SR-ZD00-0000: Skriveren svarer ikke",
    body="Emne: Skriveren svarer ikke\nBeskrivelse: Siden i går",
    requester_name=KARI[0],
    requester_email=KARI[1],
    tags=("servicedesk-forms",),
    custom_fields=((360001234567, "premium"),),  # the fake account's custom field
    files=(LOG,),
)


@servers
def test_zendesk_a_ticket_with_a_file_and_the_retries_that_find_it_or_not(zendesk: ZendeskSite) -> None:
    draft = replace(ZENDESK_DRAFT, reference="SR-ZD01-0001")
    ticket = zendesk.client.create(draft, retried=False)
    assert zendesk.client.create(draft, retried=True) == ticket  # found by its external_id
    other = replace(ZENDESK_DRAFT, reference="SR-ZD01-0002", files=())
    assert zendesk.client.create(other, retried=True) != ticket  # none found: made

    made = zendesk.ticket(ticket)
    assert made["external_id"] == draft.reference and made["attachments"] == ["logg.txt"]
    assert made["custom_fields"] == [{"id": 360001234567, "value": "premium"}]
    assert LOG in zendesk.fake.uploads.values()  # the text file's bytes came through Prism unchanged
    assert zendesk.proxy.calls() == [
        "POST /api/v2/uploads.json",
        "POST /api/v2/tickets.json",
        "GET /api/v2/tickets.json",
        "GET /api/v2/tickets.json",
        "POST /api/v2/tickets.json",
    ]
    assert zendesk.proxy.problems() == []


@servers
def test_zendesk_comments_by_the_requester_retried_or_not(zendesk: ZendeskSite) -> None:
    ticket = zendesk.client.create(replace(ZENDESK_DRAFT, reference="SR-ZD02-0001", files=()), retried=False)
    zendesk.client.comment(ticket, TicketComment(*KARI, body="Januar til mars."), retried=True)  # none earlier
    zendesk.client.comment(ticket, TicketComment(*KARI, body="Loggen.", files=(LOG,)), retried=False)

    made = zendesk.ticket(ticket)
    assert [(c["body"], c["public"], c["author_id"]) for c in made["comments"][1:]] == [
        ("Januar til mars.", True, made["requester_id"]),
        ("Loggen.", True, made["requester_id"]),
    ]
    path = f"/api/v2/tickets/{ticket.id}"
    assert zendesk.proxy.calls() == [
        "POST /api/v2/tickets.json",
        f"GET {path}/comments.json",
        f"GET {path}.json",
        f"PUT {path}.json",
        f"GET {path}.json",
        "POST /api/v2/uploads.json",
        f"PUT {path}.json",
    ]
    assert zendesk.proxy.problems() == []


@servers
def test_zendesk_a_retried_comment_reads_earlier_comments_with_files(zendesk: ZendeskSite) -> None:
    ticket = zendesk.client.create(replace(ZENDESK_DRAFT, reference="SR-ZD03-0001", files=()), retried=False)
    comment = TicketComment(*KARI, body="Loggen.", files=(LOG,))
    zendesk.client.comment(ticket, comment, retried=False)
    zendesk.client.comment(ticket, comment, retried=True)  # its answer was lost: found, not added again
    assert [c["body"] for c in zendesk.ticket(ticket)["comments"]].count("Loggen.") == 1
    assert zendesk.proxy.problems() == []


@servers
def test_zendesk_check_through_the_contract(zendesk: ZendeskSite) -> None:
    assert zendesk.client.check(TicketMapping(custom_fields={"*": ((360001234567, "premium"),)})) == []
    assert zendesk.client.check(TicketMapping(custom_fields={"*": ((42, "x"),)})) == ["Zendesk has no ticket field 42"]
    assert zendesk.client.check(None) == []
    assert zendesk.proxy.calls() == [
        "GET /api/v2/users/me.json",
        "GET /api/v2/ticket_fields.json",
        "GET /api/v2/users/me.json",
        "GET /api/v2/ticket_fields.json",
        "GET /api/v2/users/me.json",
    ]
    assert zendesk.proxy.problems() == []


@servers
def test_zendesk_busy_and_refusing_answers_keep_to_the_contract(zendesk: ZendeskSite) -> None:
    zendesk.fake.faults += [(429, "300"), (503, None)]
    with pytest.raises(TicketSystemError) as throttled:
        zendesk.client.create(replace(ZENDESK_DRAFT, reference="SR-ZD05-0001", files=()), retried=False)
    assert throttled.value.retryable and throttled.value.retry_after == 300.0
    assert zendesk.client.check(None) == ["Zendesk answered 503"]
    wrong = Zendesk(zendesk.proxy.url, fake_zendesk.EMAIL, "wrong-token", client=zendesk.proxy.client())
    (refused,) = wrong.check(None)
    assert "refused it (401)" in refused
    assert [answer.status for answer in zendesk.proxy.answers] == [429, 503, 401]
    assert zendesk.proxy.problems() == []


@servers
def test_zendesk_prism_refuses_a_request_the_contract_does_not_allow(zendesk: ZendeskSite) -> None:
    before = len(zendesk.fake.calls)
    ticket = {
        "subject": "SR-ZD06-0001: Skriveren",
        "comment": {"body": "Siden i går"},
        "requester": {"name": KARI[0], "email": KARI[1]},
        "externalid": "SR-ZD06-0001",  # misspelled: Zendesk would ignore it, and a retry would never find the ticket
    }
    with zendesk.proxy.client() as client:
        client.post(
            f"{zendesk.proxy.url}/api/v2/tickets.json",
            json={"ticket": ticket},
            headers={"Idempotency-Key": "SR-ZD06-0001"},
            auth=(f"{fake_zendesk.EMAIL}/token", fake_zendesk.TOKEN),
        )
    (answer,) = zendesk.proxy.answers
    assert answer.status == 422 and answer.by_prism
    messages = " ".join(v["message"] for v in answer.violations)
    assert "found 'externalid'" in messages and "required property 'external_id'" in messages
    assert zendesk.fake.calls[before:] == []  # the fake never saw it


@servers
def test_zendesk_prism_refuses_an_answer_the_contract_does_not_allow(zendesk: ZendeskSite) -> None:
    ticket = zendesk.client.create(replace(ZENDESK_DRAFT, reference="SR-ZD07-0001", files=()), retried=False)
    zendesk.ticket(ticket)["requester_id"] = str(zendesk.ticket(ticket)["requester_id"])  # Zendesk's is an integer
    with pytest.raises(TicketSystemError) as refused:
        zendesk.client.comment(ticket, TicketComment(*KARI, body="Hei"), retried=False)
    assert str(refused.value) == "Zendesk answered 500"  # Prism's, not the fake's: the comment was never added
    (problem,) = zendesk.proxy.problems()
    assert f"GET /api/v2/tickets/{ticket.id}.json -> 500: response.body.ticket.requester_id" in problem
    assert [c["body"] for c in zendesk.ticket(ticket)["comments"]] == [ZENDESK_DRAFT.body]


# Jira Service Management ----------------------------------------------------------------------------------------


@dataclass
class JsmSite:
    fake: FakeJsm
    proxy: Proxy
    client: Jsm


@pytest.fixture(scope="module")
def jsm_behind_prism() -> Iterator[tuple[FakeJsm, Proxy]]:
    with fake_jsm.fake_jsm() as fake, run_prism(APIS / "jsm.yaml", fake.url) as proxy:
        yield fake, proxy


@pytest.fixture
def jsm(jsm_behind_prism: tuple[FakeJsm, Proxy]) -> Iterator[JsmSite]:
    """A JSM client whose calls go through Prism to the module's fake; the answers it got, from this test on."""
    fake, proxy = jsm_behind_prism
    proxy.answers.clear()
    client = Jsm(proxy.url, fake_jsm.EMAIL, fake_jsm.TOKEN, fake_jsm.SERVICE_DESK_ID, client=proxy.client())
    yield JsmSite(fake, proxy, client)
    proxy.done()


JSM_DRAFT = TicketDraft(
    reference="SR-JS00-0000",
    subject="SR-JS00-0000: Ny bruker",
    body="Emne: Ny bruker\nBeskrivelse: Kari trenger tilgang",
    requester_name=KARI[0],
    requester_email=KARI[1],
    tags=("servicedesk-forms",),
    custom_fields=(("customfield_10010", "premium"),),  # a field of the fake desk's request type 10
    request_type="10",
)
DESK = f"/rest/servicedeskapi/servicedesk/{fake_jsm.SERVICE_DESK_ID}"


@servers
def test_jsm_a_request_on_behalf_of_the_customer_and_the_retries_that_find_it_or_not(jsm: JsmSite) -> None:
    draft = replace(JSM_DRAFT, reference="SR-JS01-0001")
    ticket = jsm.client.create(draft, retried=False)
    assert jsm.client.create(draft, retried=True) == ticket  # found by its label
    stranger = replace(JSM_DRAFT, reference="SR-JS01-0002", requester_email="ola@elsewhere.example")
    assert jsm.client.create(stranger, retried=True) != ticket  # none found: made, by the API user itself

    made = jsm.fake.requests[ticket.id]
    assert made["raiseOnBehalfOf"] == "qm:5b10-kari" and made["labels"] == ["sdf-sr-js01-0001", "servicedesk-forms"]
    assert made["fields"] == {"customfield_10010": "premium"}
    assert jsm.proxy.calls() == [
        f"GET {DESK}/customer",
        "POST /rest/servicedeskapi/request",
        "GET /rest/api/3/search/jql",
        "GET /rest/api/3/search/jql",
        f"GET {DESK}/customer",
        "POST /rest/servicedeskapi/request",
    ]
    assert jsm.proxy.problems() == []


@servers
def test_jsm_comments_naming_the_requester_retried_or_not(jsm: JsmSite) -> None:
    ticket = jsm.client.create(replace(JSM_DRAFT, reference="SR-JS02-0001"), retried=False)
    jsm.client.comment(ticket, TicketComment(*KARI, body="Januar til mars."), retried=True)  # none earlier
    jsm.client.comment(ticket, TicketComment(*KARI, body="Og april."), retried=False)

    bodies = [c["body"] for c in jsm.fake.requests[ticket.id]["comments"]]
    assert bodies == [f"{KARI[0]} ({KARI[1]}) wrote:\n\nJanuar til mars.", f"{KARI[0]} ({KARI[1]}) wrote:\n\nOg april."]
    path = f"/rest/servicedeskapi/request/{ticket.id}/comment"
    assert jsm.proxy.calls()[2:] == [f"GET {path}", f"POST {path}", f"POST {path}"]
    assert jsm.proxy.problems() == []


@servers
def test_jsm_a_request_and_a_comment_with_files(jsm: JsmSite) -> None:
    ticket = jsm.client.create(replace(JSM_DRAFT, reference="SR-JS03-0001", files=(LOG,)), retried=False)
    jsm.client.comment(ticket, TicketComment(*KARI, body="Loggen.", files=(LOG,)), retried=False)
    assert jsm.fake.requests[ticket.id]["attachments"] == ["logg.txt", "logg.txt"]
    assert jsm.proxy.problems() == []


@servers
def test_jsm_check_through_the_contract(jsm: JsmSite) -> None:
    good = TicketMapping(custom_fields={"*": (("customfield_10010", "x"),)}, request_types={"*": "10"})
    assert jsm.client.check(good) == []
    bad = TicketMapping(custom_fields={"*": ((10099, "x"),)}, request_types={"*": "10", "premium": "99"})
    assert jsm.client.check(bad) == [
        "JSM service desk 1 has no request type 99",
        "JSM service desk 1: no request type of 10 has the field customfield_10099",
    ]
    looks = [f"GET {DESK}", f"GET {DESK}/requesttype", f"GET {DESK}/requesttype/10/field"]
    assert jsm.proxy.calls() == looks * 2
    assert jsm.proxy.problems() == []


@servers
def test_jsm_busy_and_refusing_answers_keep_to_the_contract(jsm: JsmSite) -> None:
    jsm.fake.faults += [(429, "120"), (503, None)]
    with pytest.raises(TicketSystemError) as throttled:
        jsm.client.create(replace(JSM_DRAFT, reference="SR-JS05-0001"), retried=False)
    assert throttled.value.retryable and throttled.value.retry_after == 120.0
    assert jsm.client.check(None) == ["JSM answered 503"]
    wrong = Jsm(jsm.proxy.url, fake_jsm.EMAIL, "wrong-token", fake_jsm.SERVICE_DESK_ID, client=jsm.proxy.client())
    (refused,) = wrong.check(None)
    assert "refused it (401)" in refused
    with pytest.raises(TicketSystemError) as unknown:
        jsm.client.comment(Ticket("jsm", "SD-999", ""), TicketComment(*KARI, body="Hei"), retried=True)
    assert "refused it (404)" in str(unknown.value)
    assert [answer.status for answer in jsm.proxy.answers] == [429, 503, 401, 404]
    assert jsm.proxy.problems() == []


@servers
def test_jsm_prism_refuses_requests_the_contract_does_not_allow(jsm: JsmSite) -> None:
    before = len(jsm.fake.calls)
    auth = (fake_jsm.EMAIL, fake_jsm.TOKEN)
    values = {"summary": "SR-JS06-0001: Ny bruker", "lables": ["sdf-sr-js06-0001"]}  # misspelled: never found again
    with jsm.proxy.client() as client:
        client.post(
            f"{jsm.proxy.url}/rest/servicedeskapi/request",
            json={"serviceDeskId": "1", "requestTypeId": "10", "requestFieldValues": values},
            auth=auth,
        )
        client.post(  # JSM takes the file only from a part named file, and only with both headers
            f"{jsm.proxy.url}{DESK}/attachTemporaryFile",
            files={"upload": (LOG[0], LOG[2], LOG[1])},
            headers={"X-ExperimentalApi": "opt-in"},
            auth=auth,
        )
    misspelled, unnamed = jsm.proxy.answers
    assert misspelled.status == 422 and misspelled.by_prism
    messages = " ".join(v["message"] for v in misspelled.violations)
    assert "found 'lables'" in messages and "required property 'labels'" in messages
    assert unnamed.status == 422 and unnamed.by_prism
    messages = " ".join(v["message"] for v in unnamed.violations)
    assert "x-atlassian-token" in messages and "required property 'file'" in messages
    assert jsm.fake.calls[before:] == []  # the fake never saw them


# The contracts themselves -----------------------------------------------------------------------------------------


def _untyped_nullables(node: Any, where: str = "") -> list[str]:
    if isinstance(node, dict):
        here = [where] if "nullable" in node and "type" not in node else []
        return here + [found for key, value in node.items() for found in _untyped_nullables(value, f"{where}/{key}")]
    if isinstance(node, list):
        return [found for i, value in enumerate(node) for found in _untyped_nullables(value, f"{where}/{i}")]
    return []


@pytest.mark.parametrize("name", ["zendesk.yaml", "jsm.yaml"])
def test_each_contract_is_valid_openapi_that_prism_checks_in_full(name: str) -> None:
    spec, _ = read_from_filename(str(APIS / name))
    validate(spec)
    # Prism 5.14 silently skips a whole body's validation when a schema in it has "nullable" and no "type".
    assert _untyped_nullables(spec) == []
