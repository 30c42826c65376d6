"""The Jira Service Management client against a stateful fake of JSM's REST API on 127.0.0.1: one request per
request whatever answer is lost (found again by its label), on behalf of the requester's customer account when
there is one, its comments there once, the errors it maps to retryable or not, and what ``check`` finds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from handler.forwarding import Ticket
from handler.ticket_mapping import TicketMapping
from handler.tickets import TicketComment, TicketDraft, TicketSystemError
from handler.tickets.jsm import Jsm
from tests.helpers.fake_jsm import EMAIL, SERVICE_DESK_ID, TOKEN, FakeJsm, fake_jsm

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
KARI = ("Kari Nordmann", "Kari.Nordmann@Customer.example")  # a customer of the desk, the address in another case
DRAFT = TicketDraft(
    reference="SR-7KQ2-M9XD",
    subject="SR-7KQ2-M9XD: Ny bruker",
    body="Emne: Ny bruker\nBeskrivelse: Kari trenger tilgang",
    requester_name=KARI[0],
    requester_email=KARI[1],
    tags=("servicedesk-forms",),
    custom_fields=(("customfield_10010", "premium"),),
    files=(("skjerm.png", "image/png", PNG),),
    request_type="10",
)
LABEL = "sdf-sr-7kq2-m9xd"
GIVE_UP = 0.5  # the test client's timeout, in seconds; a delay longer than this loses the answer


@pytest.fixture
def fake() -> Iterator[FakeJsm]:
    with fake_jsm() as fake:
        yield fake


def jsm(fake: FakeJsm, token: str = TOKEN) -> Jsm:
    return Jsm(fake.url, EMAIL, token, SERVICE_DESK_ID, client=httpx.Client(timeout=GIVE_UP))


def test_a_request_is_raised_on_behalf_of_the_customer_with_its_fields_label_and_files(fake: FakeJsm) -> None:
    ticket = jsm(fake).create(DRAFT, retried=False)
    assert ticket == Ticket("jsm", "SD-1", f"{fake.url}/browse/SD-1")
    (made,) = fake.requests.values()
    assert made["requestTypeId"] == "10" and made["summary"] == DRAFT.subject
    assert made["description"] == DRAFT.body  # the customer is the reporter: no line names the requester
    assert made["raiseOnBehalfOf"] == "qm:5b10-kari"
    assert made["labels"] == [LABEL, "servicedesk-forms"]
    assert made["fields"] == {"customfield_10010": "premium"}
    assert made["attachments"] == ["skjerm.png"]
    assert list(fake.temporary.values()) == [("skjerm.png", "image/png", PNG)]
    assert fake.calls == [
        f"GET /rest/servicedeskapi/servicedesk/{SERVICE_DESK_ID}/customer",
        f"POST /rest/servicedeskapi/servicedesk/{SERVICE_DESK_ID}/attachTemporaryFile",
        "POST /rest/servicedeskapi/request",
    ]


def test_a_requester_who_is_no_customer_is_named_in_the_description(fake: FakeJsm) -> None:
    # The customer search matches part of an address; only the same address (in any case) is the requester.
    fake.customers.append(("qm:ola-other", "ola.nordmann@customer.example.org", "Ola Nordmann"))
    draft = replace(DRAFT, requester_name="Ola Nordmann", requester_email="ola.nordmann@customer.example", files=())
    assert jsm(fake).create(draft, retried=False).id == "SD-1"
    made = fake.requests["SD-1"]
    assert made["raiseOnBehalfOf"] is None
    assert made["description"] == f"Requester: Ola Nordmann <ola.nordmann@customer.example>\n\n{DRAFT.body}"
    assert made["attachments"] == [] and not fake.temporary
    assert not any("attachTemporaryFile" in call for call in fake.calls)


def test_a_retry_after_a_lost_answer_finds_the_request_by_its_label(fake: FakeJsm) -> None:
    client = jsm(fake)
    fake.delays += [0, 0, GIVE_UP + 0.5]  # customer, file, request: that answer comes after the client gave up
    with pytest.raises(TicketSystemError) as lost:
        client.create(DRAFT, retried=False)
    assert lost.value.retryable and "did not answer" in str(lost.value)
    assert [r["key"] for r in fake.request_of(DRAFT.reference)] == ["SD-1"]  # it was made all the same

    ticket = client.create(DRAFT, retried=True)
    assert ticket == Ticket("jsm", "SD-1", f"{fake.url}/browse/SD-1")
    assert list(fake.requests) == ["SD-1"]
    assert fake.calls.count("POST /rest/servicedeskapi/request") == 1
    assert fake.calls[-1] == "GET /rest/api/3/search/jql"


def test_a_retry_creates_the_request_when_the_earlier_try_made_none(fake: FakeJsm) -> None:
    client = jsm(fake)
    fake.faults.append((503, None))
    with pytest.raises(TicketSystemError) as busy:
        client.create(DRAFT, retried=False)
    assert busy.value.retryable and busy.value.retry_after is None and not fake.requests
    assert client.create(DRAFT, retried=True).id == "SD-1"
    assert client.create(replace(DRAFT, reference="SR-OTHER-0001"), retried=True).id == "SD-2"  # another label
    assert [r["key"] for r in fake.request_of(DRAFT.reference)] == ["SD-1"]


def test_throttling_is_retryable_after_the_time_jsm_names(fake: FakeJsm) -> None:
    fake.faults.append((429, "30"))
    with pytest.raises(TicketSystemError) as throttled:
        jsm(fake).create(DRAFT, retried=False)
    assert throttled.value.retryable and throttled.value.retry_after == 30.0
    assert "429" in str(throttled.value) and not fake.requests


def test_a_wrong_token_or_a_refusal_is_not_retryable(fake: FakeJsm) -> None:
    with pytest.raises(TicketSystemError) as refused:
        jsm(fake, token="wrong").create(DRAFT, retried=False)
    assert not refused.value.retryable and "401" in str(refused.value) and not fake.requests
    with pytest.raises(TicketSystemError) as unknown:
        jsm(fake).create(replace(DRAFT, request_type="99"), retried=False)
    assert not unknown.value.retryable and "request type 99 does not exist" in str(unknown.value)


def test_a_draft_without_a_request_type_is_refused_before_asking_jsm(fake: FakeJsm) -> None:
    with pytest.raises(TicketSystemError) as refused:
        jsm(fake).create(replace(DRAFT, request_type=""), retried=True)
    assert not refused.value.retryable and "schema/site.json" in str(refused.value)
    assert "request type" in str(refused.value) and fake.calls == []


def test_a_comment_is_added_once_with_its_files_even_when_its_answer_is_lost(fake: FakeJsm) -> None:
    client = jsm(fake)
    ticket = client.create(replace(DRAFT, files=()), retried=False)
    comment = TicketComment(*KARI, body="Her er loggen.\n", files=(("logg.txt", "text/plain", b"feil 42"),))
    fake.delays += [0, 0, GIVE_UP + 0.5]  # file, attachment, comment: that answer comes too late
    with pytest.raises(TicketSystemError) as lost:
        client.comment(ticket, comment, retried=False)
    assert lost.value.retryable
    client.comment(ticket, comment, retried=True)

    made = fake.requests[ticket.id]
    assert made["comments"] == [
        {"id": "1", "body": f"{KARI[0]} ({KARI[1]}) wrote:\n\nHer er loggen.\n", "public": True}
    ]
    assert made["attachments"] == ["logg.txt"]
    assert fake.calls.count(f"POST /rest/servicedeskapi/request/{ticket.id}/comment") == 1
    assert fake.calls[-1] == f"GET /rest/servicedeskapi/request/{ticket.id}/comment"


def test_a_retried_comment_is_added_when_the_earlier_try_added_none(fake: FakeJsm) -> None:
    client = jsm(fake)
    ticket = client.create(DRAFT, retried=False)
    comment = TicketComment("", "ola@elsewhere.example", "Takk!")
    client.comment(ticket, TicketComment(*KARI, body="Takk!"), retried=False)  # the same words, by someone else
    fake.faults.append((503, "5"))
    with pytest.raises(TicketSystemError) as busy:
        client.comment(ticket, comment, retried=False)
    assert busy.value.retryable and busy.value.retry_after == 5.0
    client.comment(ticket, comment, retried=True)
    bodies = [c["body"] for c in fake.requests[ticket.id]["comments"]]
    assert bodies == [f"{KARI[0]} ({KARI[1]}) wrote:\n\nTakk!", "ola@elsewhere.example wrote:\n\nTakk!"]
    assert fake.requests[ticket.id]["attachments"] == ["skjerm.png"]  # the comments had no files


def test_check_finds_missing_request_types_and_fields_and_nothing_in_a_good_mapping(fake: FakeJsm) -> None:
    good = TicketMapping(
        custom_fields={"*": (("customfield_10010", "x"),), "premium": ((10010, "y"),)},
        request_types={"*": "10"},
    )
    assert jsm(fake).check(good) == []
    assert jsm(fake).check(None) == []
    bad = TicketMapping(
        custom_fields={"*": (("customfield_10010", "x"),), "premium": (("customfield_10020", "y"),)},
        request_types={"*": "10", "premium": "99"},
    )
    assert jsm(fake).check(bad) == [
        "JSM service desk 1 has no request type 99",
        "JSM service desk 1: no request type of 10 has the field customfield_10020",
    ]
    (problem,) = jsm(fake).check(TicketMapping(tags={"*": ("servicedesk-forms",)}))
    assert "names no requestTypes" in problem  # every request would be refused
    fake.request_types.pop("10")
    assert jsm(fake).check(good) == ["JSM service desk 1 has no request type 10"]


def test_check_reports_what_jsm_answers_when_it_cannot_look(fake: FakeJsm) -> None:
    (problem,) = jsm(fake, token="wrong").check(TicketMapping(request_types={"*": "10"}))
    assert "401" in problem
    fake.faults.append((503, None))
    assert jsm(fake).check(None) == ["JSM answered 503"]
    wrong_desk = Jsm(fake.url, EMAIL, TOKEN, "7", client=httpx.Client(timeout=GIVE_UP))
    (problem,) = wrong_desk.check(None)
    assert "404" in problem
