"""No user text can add a header to an e-mail or stop it from being built, on any supported Python."""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.contacts import make_contact
from handler.mail import Mail, OutboxMailer, Recipient, one_line, render
from handler.schema.catalog import Catalog
from handler.schema.wording import short
from handler.services import build_services
from handler.settings import Settings
from handler.storage.local import LocalStore
from handler.usecases import mailing
from tests.helpers.accounts import AUTHORIZED, CONTACT_TYPES, SECRET, register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.paths import ROOT
from tests.helpers.receipts import DATA as RECEIPT_DATA

DESK = "desk@vendor.example"
SENDER = "Kundeservice <no-reply@vendor.example>"
INJECTED = "hi\r\nBcc: evil@example.com\r\nReply-To: evil@example.com"
ENCODED_WORDS = {
    "q": "=?utf-8?q?hi=0D=0ABcc:_evil@example.com=0D=0AReply-To:_evil@example.com?=",
    "Q upper case": "=?UTF-8?Q?hi=0D=0ABcc:_evil@example.com=0D=0AReply-To:_evil@example.com?=",
    "b": "=?utf-8?b?" + base64.b64encode(INJECTED.encode()).decode() + "?=",
    "b inside a word": "x=?utf-8?b?" + base64.b64encode(INJECTED.encode()).decode() + "?=y",
    "two words": "=?utf-8?q?hi=0D=0A?= =?utf-8?q?Bcc:_evil@example.com?=",
}
# Display names too long for one line: on Python 3.11 to 3.13 the email package's folder drops their quotes.
LONG_NAMES = {
    "ASCII with an address": "Kari " + "x" * 90 + " evil@attacker.example",
    "quotes and backslash": 'Kari "K" ' + "x" * 90 + " \\ <evil@attacker.example>",
    "comma": "Nordmann, " + "x" * 90 + ", evil@attacker.example",
    "not ASCII": "Åse " + "ø" * 100 + " evil@attacker.example",
}
# A CC address the form's e-mail format accepts, whose local part is an encoded word.
ENCODED_ADDRESS = "=?utf-8?q?a=0D=0ABcc=3A=20evil=40example.com=0D=0AX=3A?=@example.com"
SEPARATORS = {
    "NEL U+0085": "\x85",
    "LINE SEPARATOR U+2028": "\u2028",
    "PARAGRAPH SEPARATOR U+2029": "\u2029",
    "VT U+000B": "\x0b",
    "FF U+000C": "\x0c",
    "FS U+001C": "\x1c",
    "GS U+001D": "\x1d",
    "RS U+001E": "\x1e",
    "CR LF": "\r\n",
    "NUL": "\x00",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "CSI U+009B": "\x9b",
    "lone surrogate": "\ud800",
}
DATA = {**RECEIPT_DATA, "cc": ["leder@example.no"]}


def parse(raw: bytes) -> EmailMessage:
    """A rendered message read back the way a receiving program would."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def header(message: EmailMessage, name: str) -> str:
    """A header's decoded value; when folding starts right after the colon the parser keeps the fold's space."""
    return str(message[name]).lstrip(" ")


def header_names(raw: bytes) -> list[str]:
    """The names of the top-level header lines in the raw message, continuation lines left out."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\n") if line[:1] not in (b" ", b"\t")]


def assert_no_injected_header(raw: bytes, reply_to: str | None) -> EmailMessage:
    """One Reply-To at most, going to ``reply_to``; no Bcc; no header line that render() did not write."""
    names = header_names(raw)
    assert "bcc" not in names
    assert set(names) <= {
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "content-language",
        "x-servicedesk-reference",
        "x-servicedesk-category",
        "in-reply-to",
        "references",
    }
    message = parse(raw)
    assert message.get_all("Bcc") is None
    reply_tos = message.get_all("Reply-To") or []
    assert [[a.addr_spec for a in h.addresses] for h in reply_tos] == ([[reply_to]] if reply_to else [])
    return message


def ticket_mail(text: str, cc: tuple[str, ...] = ()) -> Mail:
    """A desk notification whose subject, names and custom header carry ``text``, like desk_mail builds."""
    return Mail(
        to=(Recipient(DESK, text),),
        cc=tuple(Recipient(a, text) for a in cc),
        subject=f"[SR-1234-ABCD] Order a data extract: {text}",
        paragraphs=(f"Requester: {text}", text),
        language="en",
        reply_to=Recipient(AUTHORIZED, text),
        headers={"X-Servicedesk-Reference": "SR-1234-ABCD", "X-Servicedesk-Category": text},
    )


@pytest.mark.parametrize("text", ENCODED_WORDS.values(), ids=ENCODED_WORDS.keys())
def test_an_encoded_word_in_user_text_adds_no_header(text: str) -> None:
    mail = ticket_mail(text)
    message = assert_no_injected_header(bytes(render(mail, SENDER)), AUTHORIZED)
    shown = one_line(text)
    assert "=?" not in shown and "\r" not in shown and "\n" not in shown
    assert header(message, "Subject") == f"[SR-1234-ABCD] Order a data extract: {shown}"
    assert header(message, "X-Servicedesk-Category") == shown
    assert message["Reply-To"].addresses[0].display_name == shown
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [(shown, DESK)]


def test_an_encoded_word_as_a_cc_address_adds_no_header(caplog: pytest.LogCaptureFixture) -> None:
    mail = ticket_mail("Kari", cc=("leder@example.no", ENCODED_ADDRESS))
    message = assert_no_injected_header(bytes(render(mail, SENDER)), AUTHORIZED)
    assert [a.addr_spec for a in message["Cc"].addresses] == ["leder@example.no"]
    assert mail.recipients() == [DESK, "leder@example.no"]  # the envelope matches the headers
    assert ENCODED_ADDRESS in caplog.text


@pytest.mark.parametrize("name", LONG_NAMES.values(), ids=LONG_NAMES.keys())
def test_a_long_display_name_never_becomes_part_of_the_address(name: str) -> None:
    message = assert_no_injected_header(bytes(render(ticket_mail(name), SENDER)), AUTHORIZED)
    assert [a.addr_spec for a in message["To"].addresses] == [DESK]
    for header_name in ("To", "Reply-To"):
        assert not message[header_name].defects
        (address,) = message[header_name].addresses
        assert "".join(address.display_name.split()) == "".join(one_line(name).split())  # chunks may add spaces


def test_a_cc_address_starting_with_a_dot_does_not_stop_the_message(caplog: pytest.LogCaptureFixture) -> None:
    mail = ticket_mail("Kari", cc=("leder@example.no", ".kollega@example.no"))
    message = assert_no_injected_header(bytes(render(mail, SENDER)), AUTHORIZED)
    assert [a.addr_spec for a in message["Cc"].addresses] == ["leder@example.no"]
    assert ".kollega@example.no" in caplog.text


@pytest.mark.parametrize("separator", SEPARATORS.values(), ids=SEPARATORS.keys())
def test_any_line_break_or_control_character_in_a_header_field_still_renders(separator: str) -> None:
    text = f"Rapport{separator}Bcc: evil@example.com"
    mail = ticket_mail(text)
    message = assert_no_injected_header(bytes(render(mail, SENDER)), AUTHORIZED)
    assert header(message, "Subject") == "[SR-1234-ABCD] Order a data extract: " + one_line(text)
    assert one_line(text) in ("Rapport Bcc: evil@example.com", "Rapport\ufffdBcc: evil@example.com")
    assert header(message, "X-Servicedesk-Category") == one_line(text)


def test_bodies_carry_no_control_characters_and_encode_what_is_not_ascii() -> None:
    description = "Linje 1\r\nLinje\x002\x1b[31m\x85Linje 3\u2028æøå\tslutt\x0cside\x9b\ud800"
    raw = bytes(render(Mail((Recipient(DESK),), "s", (description,), "nb"), SENDER))
    assert all(byte in (9, 10, 13) or 32 <= byte <= 126 for byte in raw), "the message is not 7-bit printable"
    message = parse(raw)
    for subtype in ("plain", "html"):
        part = message.get_body(preferencelist=(subtype,))
        assert part is not None
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        text = part.get_content()
        assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)
        assert "\u2028" not in text and "\ud800" not in text
    plain = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert plain == "Linje 1\nLinje\ufffd2\ufffd[31m\nLinje 3\næøå\tslutt\nside\ufffd\ufffd\n"


def test_an_ascii_body_stays_7bit() -> None:
    raw = bytes(render(Mail((Recipient(DESK),), "s", ("Plain text.",), "en"), SENDER))
    part = parse(raw).get_body(preferencelist=("plain",))
    assert part is not None and part["Content-Transfer-Encoding"] == "7bit"


@pytest.fixture
def outbox(store: LocalStore) -> Path:
    return store.folder / "outbox"


@pytest.fixture
def desk_app(catalog_with_incident: Catalog, store: LocalStore, clock: Clock, outbox: Path) -> FastAPI:
    settings = Settings(
        data_dir=store.folder, session_secret=SECRET, desk_inbox=DESK, desk_language="en", code_answer_seconds=0
    )
    mailer = OutboxMailer(SENDER, outbox)
    services = build_services(settings, catalog=catalog_with_incident, store=store, mailer=mailer, clock=clock)
    return create_app(settings, services=services)


def submit(app: FastAPI, store: LocalStore, outbox: Path, name: str, data: dict[str, Any]) -> list[bytes]:
    """Sign in as a contact called ``name``, send a request, run the mail sender; the request's messages."""
    contact = make_contact(AUTHORIZED, name, "+47 912 34 567", "Kunde AS", ["authorized-for-change"], CONTACT_TYPES)
    store.contacts.put_contact(contact)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = "Bearer " + sign_in(client, outbox, AUTHORIZED)
        answer = client.post("/v1/requests", json={"form": "service-request", "data": data})
    assert answer.status_code == 201, answer.text
    # the receipt and the desk's notification, none dropped
    assert mailing.send_queued_mail(app.state.services.mailing) == (2, 0)
    reference = answer.json()["reference"]
    mine = [raw for raw in (p.read_bytes() for p in outbox.glob("*.eml")) if reference.encode() in raw]
    assert len(mine) == 2
    return mine


@pytest.mark.parametrize("text", ENCODED_WORDS.values(), ids=ENCODED_WORDS.keys())
def test_the_receipt_and_notification_of_a_hostile_request_carry_no_injected_header(
    desk_app: FastAPI, store: LocalStore, outbox: Path, text: str
) -> None:
    data = {**DATA, "subject": text, "account": text, "cc": ["leder@example.no"]}
    for raw in submit(desk_app, store, outbox, text, data):
        message = parse(raw)
        to_desk = str(message["To"]) == DESK
        assert_no_injected_header(raw, AUTHORIZED if to_desk else None)
        assert message["Subject"].endswith(": " + one_line(text))
        if not to_desk:
            assert [a.addr_spec for a in message["Cc"].addresses] == ["leder@example.no"]
            assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [(one_line(text), AUTHORIZED)]


def post_signed_in(app: FastAPI, store: LocalStore, outbox: Path, data: dict[str, Any]) -> Any:
    """The API's answer to ``data`` sent by the authorized contact, signed in with an e-mailed code."""
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = "Bearer " + sign_in(client, outbox, AUTHORIZED)
        return client.post("/v1/requests", json={"form": "service-request", "data": data})


@pytest.mark.parametrize(
    "address", [ENCODED_ADDRESS, ".a@example.no", "a..b@example.no", "a.@example.no", "=?utf-8?b?YQ==?=@example.no"]
)
def test_a_cc_address_the_mailer_could_not_deliver_to_is_refused_by_name_before_anything_is_stored(
    desk_app: FastAPI, store: LocalStore, outbox: Path, address: str
) -> None:
    answer = post_signed_in(desk_app, store, outbox, {**DATA, "cc": ["leder@example.no", address.lower()]})
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert (error["field"], error["pointer"], error["keyword"]) == ("cc", "/data/cc/1", "format")
    assert short(address.lower()) in error["detail"]  # the error names the address at fault
    assert mailing.send_queued_mail(desk_app.state.services.mailing) == (0, 0)


@pytest.mark.parametrize("separator", ["\x85", "\u2028", "\u2029"], ids=["NEL", "LS", "PS"])
def test_a_subject_with_a_unicode_line_break_is_refused_before_anything_is_stored_or_mailed(
    desk_app: FastAPI, store: LocalStore, outbox: Path, separator: str
) -> None:
    answer = post_signed_in(desk_app, store, outbox, {**DATA, "subject": f"Rapport{separator}Bcc: evil@example.com"})
    assert answer.status_code == 422
    assert [(d["field"], d["keyword"]) for d in answer.json()["errors"]] == [("subject", "pattern")]
    assert mailing.send_queued_mail(desk_app.state.services.mailing) == (0, 0)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"], ids=["LS", "PS"])
def test_a_description_with_a_unicode_line_break_still_gets_its_receipt(
    desk_app: FastAPI, store: LocalStore, outbox: Path, separator: str
) -> None:
    data = {**DATA, "description": f"Første linje{separator}Bcc: evil@example.com"}
    for raw in submit(desk_app, store, outbox, "Kari Nordmann", data):
        assert b"\x00" not in raw
        message = assert_no_injected_header(raw, AUTHORIZED if DESK in str(parse(raw)["To"]) else None)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and "Første linje\nBcc: evil@example.com" in body.get_content()


# Run by each interpreter with -S, so only the standard library and PYTHONPATH are importable.
SCRIPT = r"""
import base64, json, logging, sys
from email import policy
from email.parser import BytesParser
from handler.mail import Mail, Recipient, one_line, render

tops = {m.split(".")[0] for m in sys.modules}
outside = sorted(tops - set(sys.stdlib_module_names) - {"handler", "__main__"})
assert not outside, outside
logging.disable(logging.WARNING)  # the addresses left out are expected here
injected = "hi\r\nBcc: evil@example.com\r\nReply-To: evil@example.com"
texts = [
    "=?utf-8?q?hi=0D=0ABcc:_evil@example.com=0D=0AReply-To:_evil@example.com?=",
    "=?utf-8?b?" + base64.b64encode(injected.encode()).decode() + "?=",
    "x=?utf-8?b?" + base64.b64encode(injected.encode()).decode() + "?=y",
    "=?utf-8?q?hi=0D=0A?= =?utf-8?q?Bcc:_evil@example.com?=",
    "Rapport\x85Bcc: evil@example.com", "Rapport\u2028Bcc: evil@example.com", "Rapport\x0bBcc: x@example.com",
    "Rapport\x1cBcc: x@example.com", "Rapport\r\nBcc: evil@example.com", "Rapport\x00\ud800 æøå",
    "Kari " + "x" * 90 + " evil@attacker.example", "Nordmann, " + "x" * 90 + ", evil@attacker.example",
    'Kari "K" ' + "x" * 90 + " \\ <evil@attacker.example>", "Åse " + "ø" * 100 + " evil@attacker.example",
]
cc = "=?utf-8?q?a=0D=0ABcc=3A=20evil=40example.com=0D=0AX=3A?=@example.com"
checked = 0
for text in texts:
    mail = Mail(
        to=(Recipient("desk@vendor.example", text),),
        cc=(Recipient("leder@example.no", text), Recipient(cc), Recipient(".kollega@example.no")),
        subject="[SR-1234-ABCD] " + text,
        paragraphs=(text, "NUL\x00"),
        language="en",
        reply_to=Recipient("kari@example.no", text),
        headers={"X-Servicedesk-Category": text},
    )
    raw = bytes(render(mail, "Desk <no-reply@vendor.example>"))
    head = raw.split(b"\n\n", 1)[0].split(b"\n")
    names = [line.split(b":", 1)[0].lower() for line in head if line[:1] not in (b" ", b"\t")]
    assert b"bcc" not in names and names.count(b"reply-to") == 1, (text, raw)
    assert b"\x00" not in raw and all(b in (9, 10, 13) or 32 <= b <= 126 for b in raw), (text, raw)
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert message.get_all("Bcc") is None, (text, raw)
    (reply_to,) = message.get_all("Reply-To")
    assert [a.addr_spec for a in reply_to.addresses] == ["kari@example.no"], (text, raw)
    assert [a.addr_spec for a in message["Cc"].addresses] == ["leder@example.no"], (text, raw)
    assert message["Subject"].lstrip(" ") == "[SR-1234-ABCD] " + one_line(text), (text, raw)
    assert message["X-Servicedesk-Category"].lstrip(" ") == one_line(text), (text, raw)
    assert [a.addr_spec for a in message["To"].addresses] == ["desk@vendor.example"], (text, raw)
    assert not reply_to.defects and not message["To"].defects, (text, raw)
    assert "".join(reply_to.addresses[0].display_name.split()) == "".join(one_line(text).split()), (text, raw)
    checked += 1
print(json.dumps({"version": sys.version.split()[0], "executable": sys.executable, "checked": checked}))
"""


def interpreter(version: str) -> str | None:
    """An interpreter for ``python{version}`` on this machine, pyenv's builds first (its shims may refuse)."""
    candidates = sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"), reverse=True)
    found = shutil.which(f"python{version}")
    for candidate in [*candidates, *([found] if found else [])]:
        probe = subprocess.run([candidate, "-S", "-c", "pass"], capture_output=True, timeout=60, check=False)
        if probe.returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_no_header_injection_on_each_installed_python(version: str, capsys: pytest.CaptureFixture[str]) -> None:
    executable = interpreter(version)
    if executable is None:
        pytest.skip(f"python{version} is not installed on this machine")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [executable, "-S", "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False
    )
    assert run.returncode == 0, f"python{version} ({executable}):\n{run.stdout}\n{run.stderr}"
    report = json.loads(run.stdout)
    assert report["version"].startswith(f"{version}.") and report["checked"] == 14
    with capsys.disabled():
        ran = f"Python {report['version']} ({report['executable']})"
        print(f"\nmail safety checked on {ran}; pytest itself runs on Python {sys.version.split()[0]}")
