"""One rule of a deliverable address (handler/addresses.py): every address the form, the sign-in and the contact
register accept is one the mailer writes into its headers and SES takes, so a copy promised is a copy sent."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.addresses import EMAIL_PATTERN, deliverable
from handler.mail import Mail, OutboxMailer, Recipient, SesMailer, render
from handler.patterns import python_regex
from handler.schema.loader import load_catalog
from tests.helpers.clock import NOW
from tests.helpers.pagecheck import verdicts
from tests.helpers.servers import MailServer
from tests.helpers.shipped import form, valid_data

SENDER = "no-reply@vendor.example"
# Addresses a person may well type, at the edges of the rule.
TYPED = ["kari.nordmann@example.no", "a+b@example.no", "o'brien@example.co.uk", "x@a-b.example", "a=b@example.no"]
REFUSED = [".a@example.no", "a..b@example.no", "a.@example.no", "=?utf-8?b?YQ==?=@example.no", "a@-example.no"]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """Addresses generated from the rule itself, with the typed ones, each accepted by it (drawn when a test asks)."""
    found: list[str] = list(TYPED)

    @settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(python_regex(EMAIL_PATTERN), fullmatch=True))
    def collect(address: str) -> None:
        if deliverable(address) and len(address) <= 254:
            found.append(address.lower())

    collect()
    return list(dict.fromkeys(found))


def cc_errors(addresses: list[str]) -> list[Any]:
    cc = next(f.name for f in form().fields if f.lists_addresses)
    return form().validate(valid_data(**{cc: addresses}), "nb", NOW)


def test_the_corpus_is_large_and_the_form_takes_every_address_in_it(corpus: list[str]) -> None:
    assert len(corpus) >= 100
    for first in range(0, len(corpus), 5):  # the form takes at most five copies
        assert cc_errors(corpus[first : first + 5]) == [], corpus[first : first + 5]


@pytest.mark.parametrize("address", REFUSED)
def test_what_the_mailer_could_not_deliver_to_is_refused_by_the_form(address: str) -> None:
    assert not deliverable(address)
    assert [(e.path, e.keyword) for e in cc_errors([address])] == [("/cc/0", "format")]


def test_the_page_refuses_them_with_the_same_words_naming_the_address() -> None:
    cc = next(f.name for f in form().fields if f.lists_addresses)
    documents = [valid_data(**{cc: ["ok@example.no", address]}) for address in REFUSED]
    compared = verdicts(load_catalog(), form(), documents, NOW)
    for data, server, page in compared:
        assert page == server and data[cc][1] in server[cc]


def test_the_local_outbox_writes_every_accepted_address_into_the_copy(tmp_path: Path, corpus: list[str]) -> None:
    mailer = OutboxMailer(SENDER, tmp_path)
    for first in range(0, len(corpus), 25):
        batch = corpus[first : first + 25]
        mail = Mail((Recipient("kari@example.no"),), "Kvittering", ("Hei",), "nb", cc=tuple(map(Recipient, batch)))
        assert mail.recipients() == ["kari@example.no", *batch]
        message = BytesParser(policy=policy.default).parsebytes(bytes(render(mail, SENDER)))
        assert [a.addr_spec for a in message["Cc"].addresses] == batch
        mailer.send(mail)
    assert len(list(tmp_path.glob("*.eml"))) == -(-len(corpus) // 25)


def test_ses_takes_every_accepted_address(ses: MailServer, corpus: list[str]) -> None:
    ses.reset()
    mailer = SesMailer(SENDER, ses.client())
    for first in range(0, len(corpus), 5):  # as a receipt goes: the requester and at most five copies
        batch = corpus[first : first + 5]
        mailer.send(Mail((Recipient("kari@example.no"),), "Kopi", ("Hei",), "nb", cc=tuple(map(Recipient, batch))))
    copied = [a.addr_spec for message in ses.sent() for a in message["Cc"].addresses]
    assert copied == corpus, json.dumps(sorted(set(corpus) - set(copied))[:5])
