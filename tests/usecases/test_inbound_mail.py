"""Replies by e-mail: a corpus of real-world-shaped mails (replies from the main clients in nb and en, plain and
HTML-only, auto-replies, bounces, forged and unsigned addresses, wrong senders, oversize), each with the outcome it
must have; and the whole loop on both stores, from the request to the desk's answer, the requester's mailed reply
and their answer on the page."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler import cli, replies
from handler.app import create_app
from handler.conversation import Author, Channel
from handler.services import Services, build_services
from handler.settings import Settings
from handler.storage.aws import S3Blobs
from handler.storage.local import LocalStore
from handler.uploads import Limits
from handler.usecases import conversing, mailing
from handler.usecases.attaching import attachments_field
from handler.usecases.conversing import Outcome, receive
from handler.usecases.desk import change_status
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import NOW, Clock
from tests.helpers.examples import examples
from tests.helpers.servers import fresh_aws_store
from tests.helpers.shipped import form, valid_data

FILES_FIELD = attachments_field(form())
# The corpus's files are PNGs, two at most: what the shipped form's attachments field takes.
TAKES_PNG = (
    FILES_FIELD is not None
    and "image/png" in Limits.of(FILES_FIELD).types
    and FILES_FIELD.schema.get("maxItems", 2) >= 2
)
DOMAIN = "reply.example.no"
DESK = "desk@example.no"
AGENT = "per.agent@vendor.example"


@dataclass
class Desk:
    client: TestClient
    services: Services
    request: dict[str, Any]

    @property
    def address(self) -> str:
        return replies.reply_address(self.services.secret, self.request["reference"], DOMAIN)

    def messages(self) -> list[Any]:
        return self.services.conversing.conversation.messages(self.request["id"])


def settings_for(data_dir: Path, **more: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        session_secret=SECRET,
        code_answer_seconds=0,
        desk_inbox=DESK,
        site_url="https://desk.example.no",
        reply_domain=DOMAIN,
        agents=(AGENT, "@support.vendor.example"),
        **more,
    )


def open_desk(services: Services, settings: Settings) -> Iterator[Desk]:
    register(services.store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, Path(settings.data_dir) / 'outbox', AUTHORIZED)}"
        sent = client.post("/v1/requests", json={"form": "service-request", "data": valid_data()})
        assert sent.status_code == 201, sent.text
        yield Desk(client, services, sent.json())


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    settings = settings_for(tmp_path / "data")
    services = build_services(settings, store=LocalStore(tmp_path / "data"), clock=Clock(NOW))
    yield from open_desk(services, settings)


# The corpus ---------------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)  # what a PNG file starts with
QUOTED = "Hei!\nHvilken rapport gjelder det?\n\nVennlig hilsen\nKundeservice"
NEW = "Det gjelder innleveringsrapporten for høsten.\nTakk!"


def mail(
    to: str,
    body: str | None,
    *,
    sender: str = f"Kari Nordmann <{AUTHORIZED}>",
    subject: str = "Re: Nytt svar på forespørselen",
    html: str | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = "<reply-1@mail.example.no>",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    if sender:
        message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    if body is not None:
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    for name, kind, content in attachments:
        maintype, subtype = kind.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


@dataclass(frozen=True)
class Case:
    """One mail of the corpus: how it is made for a request's signed address, and what must become of it."""

    name: str
    make: Callable[[str], bytes]
    outcome: Outcome
    text: str | None = None  # the message appended, when one is
    author: Author = Author.REQUESTER
    files: tuple[str, ...] = ()  # the names of the files it keeps
    with_files: bool = False  # it carries PNG files, which the form's attachments field must take


def plain(template: str, **options: Any) -> Callable[[str], bytes]:
    """A plain-text reply: ``{new}`` the reply's text, ``{to}`` the address, ``{quote}`` the desk's mail quoted."""
    return lambda to: mail(to, template.format(new=NEW, to=to, quote=quoted(QUOTED), mail=QUOTED), **options)


def html_only(container: str) -> Callable[[str], bytes]:
    """An HTML-only reply: the new text, then the desk's mail in ``container``."""
    html = f"<div dir='ltr'>{NEW.replace(chr(10), '<br>')}</div><br>{container.format(mail=QUOTED)}"
    return lambda to: mail(to, None, html=html)


OUTLOOK_NB = "Fra: Kundeservice <{to}>\nSendt: mandag 7. desember 2026 11:27\nTil: Kari\nEmne: Nytt svar"
OUTLOOK_EN = "From: Customer service <{to}>\nSent: Monday, December 7, 2026 11:27 AM\nTo: Kari\nSubject: New reply"
CASES = [
    # Replies from the main clients, plain text, in Norwegian and English.
    Case(
        "gmail-nb",
        plain("{new}\n\nman. 7. des. 2026 kl. 11:27 skrev Kundeservice <{to}>:\n\n{quote}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "gmail-en",
        plain("{new}\n\nOn Mon, 7 Dec 2026 at 11:27, Customer service <{to}> wrote:\n\n{quote}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "outlook-nb",
        plain("{new}\n\n________________________________\n" + OUTLOOK_NB + "\n\n{mail}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case("outlook-en", plain("{new}\n\n" + OUTLOOK_EN + "\n\n{mail}\n"), Outcome.APPENDED, NEW),
    Case(
        "outlook-original",
        plain("{new}\n\n-----Original Message-----\n" + OUTLOOK_EN + "\n\n{mail}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "apple-nb",
        plain("{new}\n\n> 7. des. 2026 kl. 11:27 skrev Kundeservice <{to}>:\n>\n{quote}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "apple-en",
        plain("{new}\n\n> On 7 Dec 2026, at 11:27, Customer service <{to}> wrote:\n>\n{quote}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "thunderbird-nb", plain("{new}\n\nDen 07.12.2026 11:27, skrev Kundeservice:\n{quote}\n"), Outcome.APPENDED, NEW
    ),
    Case(
        "thunderbird-en",
        plain("{new}\n\nOn 07/12/2026 11:27, Customer service wrote:\n{quote}\n"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "above-our-marker", plain("{new}\n\n##- Skriv svaret over denne linjen -##\n\n{mail}\n"), Outcome.APPENDED, NEW
    ),
    Case(
        "plain-and-html",
        plain("{new}\n\n{quote}\n", html=f"<p>{NEW}</p><blockquote>{QUOTED}</blockquote>"),
        Outcome.APPENDED,
        NEW,
    ),
    # HTML-only replies: each client's way of wrapping the quoted mail is left out.
    Case(
        "gmail-html",
        html_only("<div class='gmail_quote'><div>skrev:</div><blockquote>{mail}</blockquote></div>"),
        Outcome.APPENDED,
        NEW,
    ),
    Case(
        "outlook-html",
        html_only("<div id='divRplyFwdMsg'><b>Fra:</b> Kundeservice</div><div>{mail}</div>"),
        Outcome.APPENDED,
        NEW,
    ),
    Case("apple-html", html_only("<blockquote type='cite'>{mail}</blockquote>"), Outcome.APPENDED, NEW),
    Case(
        "thunderbird-html",
        html_only("<div class='moz-cite-prefix'>skrev:</div><blockquote>{mail}</blockquote>"),
        Outcome.APPENDED,
        NEW,
    ),
    Case("html-script-style", html_only("<style>p{{}}</style><script>alert(1)</script>"), Outcome.APPENDED, NEW),
    Case(
        "encoded-nb",
        plain("Blåbærsyltetøy på ærlig vis.\n", subject="=?utf-8?q?Re=3A_S=C3=B8knad?="),
        Outcome.APPENDED,
        "Blåbærsyltetøy på ærlig vis.",
    ),
    Case("sender-in-capitals", plain("{new}", sender=AUTHORIZED.upper()), Outcome.APPENDED, NEW),
    Case(
        "markup-as-text",
        plain("<b>ikke fet</b> & <script>x</script>\n"),
        Outcome.APPENDED,
        "<b>ikke fet</b> & <script>x</script>",
    ),
    # Agents answering from their own mail client.
    Case(
        "agent-address",
        plain("Takk, vi ser på det.\n", sender=f"Per Agent <{AGENT}>"),
        Outcome.APPENDED,
        "Takk, vi ser på det.",
        Author.AGENT,
    ),
    Case(
        "agent-domain",
        plain("Fikset.\n", sender="ola@support.vendor.example"),
        Outcome.APPENDED,
        "Fikset.",
        Author.AGENT,
    ),
    # Machines: recorded as ignored, never answered.
    Case(
        "away-nb",
        plain("Jeg er på ferie.\n", subject="Fraværsmelding: Nytt svar", headers={"Auto-Submitted": "auto-replied"}),
        Outcome.IGNORED,
    ),
    Case("away-en-subject", plain("I am away.\n", subject="Automatic reply: New reply"), Outcome.IGNORED),
    Case("autosvar-subject", plain("Jeg er borte.\n", subject="Automatisk svar: Nytt svar"), Outcome.IGNORED),
    Case("precedence-bulk", plain("{new}", headers={"Precedence": "bulk"}), Outcome.IGNORED),
    Case("x-autoreply", plain("{new}", headers={"X-Autoreply": "yes"}), Outcome.IGNORED),
    Case(
        "mailer-daemon",
        plain("Delivery failed.\n", sender="MAILER-DAEMON@mail.example.no", subject="Undelivered Mail"),
        Outcome.IGNORED,
    ),
    Case("delivery-report", lambda to: dsn(to), Outcome.IGNORED),
    Case(
        "only-the-quote",
        plain("On Mon, 7 Dec 2026 at 11:27, Customer service <{to}> wrote:\n{quote}\n"),
        Outcome.IGNORED,
    ),
    # Failing a check: never appended.
    Case("unsigned", lambda to: mail(f"svar@{DOMAIN}", NEW), Outcome.REFUSED),
    Case("forged-signature", lambda to: mail(forged(to), NEW), Outcome.REFUSED),
    Case("another-reference", lambda to: mail(other_reference(to), NEW), Outcome.REFUSED),
    Case("another-domain", lambda to: mail(to.replace(DOMAIN, "reply.evil.example"), NEW), Outcome.REFUSED),
    Case("stranger", plain("{new}", sender="someone@elsewhere.example"), Outcome.REFUSED),
    Case("no-sender", plain("{new}", sender=""), Outcome.REFUSED),
    Case("too-long", plain("x" * 6000), Outcome.REFUSED),
    Case("not-a-mail", lambda to: b"\x00\xff\xfe garbage " * 50, Outcome.REFUSED),
    # Files: checked as the form's attachments field checks uploads.
    Case(
        "screenshot",
        plain("{new}", attachments=(("skjerm bilde.png", "image/png", PNG),)),
        Outcome.APPENDED,
        NEW,
        files=("skjerm bilde.png",),
        with_files=True,
    ),
    Case(
        "two-files",
        plain("{new}", attachments=(("a.png", "image/png", PNG), ("b", "image/png", PNG))),
        Outcome.APPENDED,
        NEW,
        files=("a.png", "b.png"),
        with_files=True,
    ),
    Case("logo-in-signature", lambda to: inline_logo(to), Outcome.APPENDED, NEW, with_files=True),
    Case(
        "program",
        plain("{new}", attachments=(("setup.exe", "application/x-msdownload", b"MZ" + b"\0" * 64),)),
        Outcome.REFUSED,
        with_files=True,
    ),
    Case(
        "text-called-png",
        plain("{new}", attachments=(("bilde.png", "image/png", b"not an image at all"),)),
        Outcome.REFUSED,
        with_files=True,
    ),
    Case("unreadable-file", lambda to: unreadable_file(to), Outcome.REFUSED),
    Case("empty-file", plain("{new}", attachments=(("tom.png", "image/png", b""),)), Outcome.REFUSED, with_files=True),
]


def unreadable_file(to: str) -> bytes:
    """A reply with a text file in a character set nobody knows: it cannot be read, so it is not taken."""
    raw = mail(to, NEW, attachments=(("logg.txt", "text/plain", b"linje 1"),))
    part = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment"
    assert part in raw
    return raw.replace(part, part.replace(b"text/plain", b'text/plain; charset="x-no-such-charset"'))


def inline_logo(to: str) -> bytes:
    """An HTML reply whose signature shows a logo from an image part of the mail itself."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = f"Kari Nordmann <{AUTHORIZED}>"
    message["To"] = to
    message["Subject"] = "Re: Nytt svar"
    message["Message-ID"] = "<logo-1@mail.example.no>"
    message.set_content(NEW)
    message.add_alternative(f"<p>{NEW}</p><img src='cid:logo@kunde'>", subtype="html")
    html = message.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo@kunde>")
    return bytes(message)


def forged(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:-4]}{'a' if local[-4] != 'a' else 'b'}{local[-3:]}@{domain}"


def other_reference(address: str) -> str:
    """The address with its signature but another request's reference."""
    local, _, domain = address.partition("@")
    signature = local.rpartition(".")[2]
    return f"svar+SR-ZZZZ-ZZZZ.{signature}@{domain}"


def dsn(to: str) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = "postmaster@mail.example.no"
    message["To"] = to
    message["Subject"] = "Delivery Status Notification (Failure)"
    message.set_content("Your message could not be delivered.")
    message.make_mixed()
    report = EmailMessage()
    report.set_content("Reporting-MTA: dns; mail.example.no\n", subtype="delivery-status")
    message.attach(report)
    message.set_type("multipart/report")
    message.set_param("report-type", "delivery-status")
    return bytes(message)


def test_the_corpus_is_large_and_covers_every_outcome() -> None:
    assert len(CASES) >= 30
    assert {case.outcome for case in CASES} == {Outcome.APPENDED, Outcome.IGNORED, Outcome.REFUSED}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_mail_of_the_corpus_has_its_outcome(desk: Desk, case: Case) -> None:
    if case.with_files and not TAKES_PNG:
        pytest.skip("schema/'s form takes no PNG files (or not two of them) in an attachments field")
    before = len(desk.messages())
    received = receive(desk.services.conversing, case.make(desk.address))
    assert received.outcome == case.outcome, received
    messages = desk.messages()
    if case.outcome != Outcome.APPENDED:
        assert len(messages) == before
        return
    assert len(messages) == before + 1
    assert (messages[-1].body, messages[-1].author, messages[-1].channel) == (case.text, case.author, Channel.EMAIL)
    assert tuple(a.name for a in messages[-1].attachments) == case.files
    for attachment in messages[-1].attachments:  # kept as checked, where the request's files are
        assert desk.services.blobs.head(attachment.key, 100) == PNG[:100]
    again = receive(desk.services.conversing, case.make(desk.address))  # the same Message-ID: taken once
    assert again.outcome == Outcome.REPEATED and len(desk.messages()) == before + 1


def test_a_mail_larger_than_the_limit_or_failing_the_mail_service_s_checks_is_refused(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversing, "MAX_MAIL_BYTES", 2000)
    assert receive(desk.services.conversing, mail(desk.address, "x" * 3000)).outcome == Outcome.REFUSED
    monkeypatch.undo()
    for verdict in ("spam", "virus", "spf", "dkim"):
        verdicts = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", verdict: "FAIL"}
        assert receive(desk.services.conversing, mail(desk.address, NEW), verdicts).outcome == Outcome.REFUSED
    passed = {"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "GRAY"}
    assert receive(desk.services.conversing, mail(desk.address, NEW), passed).outcome == Outcome.APPENDED


def test_an_address_signed_for_one_request_is_refused_for_every_other() -> None:
    address = replies.reply_address(b"k" * 32, "SR-AAAA-BBBB", DOMAIN)
    assert replies.reference_of(b"k" * 32, address, DOMAIN) == "SR-AAAA-BBBB"
    assert replies.reference_of(b"k" * 32, address.upper(), DOMAIN.upper()) == "SR-AAAA-BBBB"  # as clients may write it
    assert replies.reference_of(b"other-key" * 4, address, DOMAIN) is None
    assert replies.reference_of(b"k" * 32, address.replace("SR-AAAA-BBBB", "SR-AAAA-BBBC"), DOMAIN) is None
    assert replies.reference_of(b"k" * 32, address, "reply.evil.example") is None


# The whole loop, on both stores -----------------------------------------------------------------------------------


@pytest.fixture(params=["local", "aws"])
def any_desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    settings = settings_for(tmp_path / "data")
    if request.param == "local":
        services = build_services(settings, store=LocalStore(tmp_path / "data"), clock=Clock(NOW))
        yield from open_desk(services, settings)
        return
    seaweedfs, dynamodb = request.getfixturevalue("seaweedfs"), request.getfixturevalue("dynamodb_local")
    with fresh_aws_store(seaweedfs, dynamodb) as store:
        blobs = S3Blobs(store.s3, store.bucket)
        services = build_services(settings, store=store, blobs=blobs, clock=Clock(NOW))
        yield from open_desk(services, settings)


def outbox_mails(desk: Desk, to: str) -> list[EmailMessage]:
    mailing.send_queued_mail(desk.services.mailing)
    outbox = Path(desk.services.settings.data_dir) / "outbox"
    found = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        if to in str(message["To"]):
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def run_cli(desk: Desk, *words: str) -> str:
    out = io.StringIO()
    assert cli.main(list(words), out=out, services=desk.services) == 0
    return out.getvalue()


def test_the_whole_conversation_by_page_cli_and_e_mail(any_desk: Desk, tmp_path: Path) -> None:
    desk, services = any_desk, any_desk.services
    clock: Clock = services.clock  # type: ignore[assignment]
    reference = desk.request["reference"]
    moves = services.catalog.conversation.reply_moves
    waiting, moved_to = next(iter(moves.items())) if moves else (None, None)
    if waiting:  # the desk asks something and waits for the answer
        change_status(services.desk, reference, waiting, "Per Agent")
    clock.advance(minutes=1)
    run_cli(desk, "requests", "reply", reference, "--agent", "Per Agent", "--message", "Hvilken rapport gjelder det?")
    clock.advance(hours=2)

    # The requester gets the question by e-mail, answerable, and answers it from their mail client.
    texts = services.catalog.common["nb"]["email"]
    (question,) = [m for m in outbox_mails(desk, AUTHORIZED) if "Hvilken rapport gjelder det?" in text_of(m)]
    assert str(question["Reply-To"]) == desk.address
    assert question["References"] == question["In-Reply-To"] == f"<request-{desk.request['id']}@servicedesk-forms>"
    assert text_of(question).startswith(texts["replyAbove"])
    answer = mail(
        desk.address,
        f"{NEW}\n\nman. 7. des. 2026 kl. 11:27 skrev Kundeservice <{desk.address}>:\n\n{quoted(text_of(question))}\n",
        subject=f"Re: {question['Subject']}",
        headers={"In-Reply-To": str(question["Message-ID"]), "References": str(question["References"])},
        attachments=(("skjermbilde.png", "image/png", PNG),) if TAKES_PNG else (),
    )
    (tmp_path / "answer.eml").write_bytes(answer)
    taken = run_cli(desk, "mail", "receive", str(tmp_path / "answer.eml"))
    assert f"appended (requester) {reference}" in taken

    # Only the new text joins the thread; the status moves back to the desk; the desk is told.
    thread = desk.client.get(f"/v1/requests/{desk.request['id']}").json()
    messages = [e for e in thread["thread"] if e["kind"] == "message"]
    assert [(m["author"], m["body"], m["channel"]) for m in messages] == [
        ("agent", "Hvilken rapport gjelder det?", "cli"),
        ("requester", NEW, "email"),
    ]
    assert [a["name"] for a in messages[1]["attachments"]] == (["skjermbilde.png"] if TAKES_PNG else [])
    if moved_to:
        assert thread["status"] == moved_to
    notices = [m for m in outbox_mails(desk, DESK) if NEW in text_of(m)]
    assert len(notices) == 1 and str(notices[0]["Reply-To"]) == desk.address

    # The same mail again (a retry of the mail service) adds nothing; the requester also answers on the page.
    assert "repeated" in run_cli(desk, "mail", "receive", str(tmp_path / "answer.eml"))
    clock.advance(minutes=5)
    on_page = desk.client.post(f"/v1/requests/{desk.request['id']}/messages", json={"body": "Og en ting til."})
    assert on_page.status_code == 201, on_page.text
    shown = run_cli(desk, "requests", "show", reference)
    assert shown.count('"author": "requester"') == 2 and "Og en ting til." in shown
    assert [m.channel for m in desk.messages()] == [Channel.CLI, Channel.EMAIL, Channel.PAGE]


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=2000),
    junk=st.binary(max_size=300),
    header=st.sampled_from(["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "Message-ID"]),
    value=st.text(max_size=80),
)
def test_no_mangled_mail_breaks_the_handler_or_is_taken_twice(
    desk: Desk, cut: int, junk: bytes, header: str, value: str
) -> None:
    raw = mail(desk.address, NEW, attachments=(("a.png", "image/png", PNG),), message_id="<fuzz@mail.example.no>")
    mangled = raw[:cut] + junk + raw[cut:]
    mangled = mangled.replace(f"{header}:".encode(), f"{header}: {value}\r\nX-Old-{header}:".encode(), 1)
    before = len(desk.messages())
    outcomes = [receive(desk.services.conversing, mangled).outcome for _ in range(2)]
    assert len(desk.messages()) - before <= 1
    assert outcomes[1] != Outcome.APPENDED


def test_a_status_mail_says_what_to_do_next_and_asks_no_answer_once_the_request_is_closed(desk: Desk) -> None:
    services, reference = desk.services, desk.request["reference"]
    rules = services.catalog.conversation
    texts = services.catalog.common["nb"]["email"]
    for status in services.catalog.statuses[1:]:
        desk.services.clock.advance(minutes=1)  # type: ignore[attr-defined]
        change_status(services.desk, reference, status, "Per Agent")
        shown = services.catalog.common["nb"]["statuses"][status]
        sent = [m for m in outbox_mails(desk, AUTHORIZED) if shown in str(m["Subject"])][-1]
        closed = status in rules.closed and not rules.reopen_as
        next_step = texts.get("statusNext", {}).get(status)
        if next_step:
            assert next_step.replace("{reference}", reference) in text_of(sent)
        assert (texts["statusReply"] in text_of(sent)) is not closed
        assert (str(sent["Reply-To"]) == desk.address) is not closed
    if rules.closed and not rules.reopen_as and desk.services.catalog.statuses[-1] in rules.closed:
        answered = receive(services.conversing, make_reply(desk.address))
        assert answered.outcome == Outcome.REFUSED and "request_closed" in answered.reason
        assert [m for m in desk.messages() if m.author == Author.REQUESTER] == []


def make_reply(to: str) -> bytes:
    return mail(to, f"{NEW}\n", message_id="<after-closed@mail.example.no>")
