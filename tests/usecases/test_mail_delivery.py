"""No e-mail lost without a trace: messages that SES refuses are tried again later, with a growing wait, and reach
their inbox once; a message whose answer was lost (it may have gone out) and one that failed every try are kept
in the given-up list, where `mail failed` shows them and `mail resend` sends them again.

The mail service is moto's SES on 127.0.0.1; faults are put on the wire by botocore's ``before-send`` hook: an
error answer in place of the real call (nothing was sent), or the real call whose answer is then lost."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError

from handler import cli
from handler.mail import Mail, Recipient, SesMailer
from handler.services import Services, build_services
from handler.settings import Settings
from handler.usecases import mailing
from handler.usecases.mailing import LOST_ANSWER, MAIL_ATTEMPTS
from tests.helpers.accounts import SECRET
from tests.helpers.clock import NOW, Clock
from tests.helpers.servers import MailServer, RawBody

SENDER = "no-reply@vendor.example"


def error_answer(status: int, code: str) -> Callable[[AWSRequest], AWSResponse]:
    """SES's error answer, given in place of the call: the message is not sent."""
    body = f"<ErrorResponse><Error><Code>{code}</Code><Message>fault</Message></Error></ErrorResponse>".encode()
    headers: Any = {"Content-Type": "text/xml", "x-amzn-RequestId": "injected"}
    return lambda request: AWSResponse(str(request.url), status, headers, RawBody(body))


class Faults:
    """While ``failure`` is set, every SendRawEmail call (botocore's own retries too) gets it instead."""

    def __init__(self, client: Any) -> None:
        self.failure: Callable[[AWSRequest], AWSResponse] | None = None
        client.meta.events.register("before-send.ses.SendRawEmail", self._before_send)

    def _before_send(self, request: AWSRequest, **_: Any) -> AWSResponse | None:
        return self.failure(request) if self.failure else None


class LosesAnswers(SesMailer):
    """SES that takes the message, then the answer never arrives (while ``lose`` is set)."""

    lose = 0

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        answer = super().deliver(message, recipients)
        if self.lose:
            self.lose -= 1
            raise ReadTimeoutError(endpoint_url="https://email.example")
        return answer


@pytest.fixture
def setup(ses: MailServer, tmp_path: Path) -> tuple[Services, Faults, LosesAnswers, Clock, MailServer]:
    ses.reset()
    client = ses.client()
    mailer = LosesAnswers(SENDER, client)
    clock = Clock(NOW)
    services = build_services(Settings(data_dir=tmp_path, session_secret=SECRET), mailer=mailer, clock=clock)
    return services, Faults(client), mailer, clock, ses


def queue(services: Services, subject: str) -> None:
    mailing.queue(services.mailing, [Mail((Recipient("kari@example.no"),), subject, ("Hei",), "nb")], "a test")


def delivered(ses: MailServer, subject: str) -> int:
    return sum(1 for message in ses.sent() if message["Subject"] == subject)


def run_cli(services: Services, *words: str) -> str:
    out = io.StringIO()
    assert cli.main(list(words), out=out, services=services) == 0
    return out.getvalue()


@pytest.mark.parametrize(
    ("fault", "code"), [(500, "InternalFailure"), (503, "ServiceUnavailable"), (400, "Throttling")]
)
def test_a_message_ses_refused_is_tried_again_after_a_growing_wait_and_arrives_once(
    setup: tuple[Services, Faults, LosesAnswers, Clock, MailServer], fault: int, code: str
) -> None:
    services, faults, _, clock, ses = setup
    queue(services, "Kvittering")
    queue(services, "Ny forespørsel til service desk")
    faults.failure = error_answer(fault, code)
    assert mailing.send_queued_mail(services.mailing) == (0, 2)
    assert mailing.send_queued_mail(services.mailing) == (0, 0)  # each waits a minute before its next try
    clock.advance(minutes=1)
    assert mailing.send_queued_mail(services.mailing) == (0, 2)
    clock.advance(minutes=1)
    assert mailing.send_queued_mail(services.mailing) == (0, 0)  # now two minutes
    faults.failure = None
    clock.advance(minutes=1)
    assert mailing.send_queued_mail(services.mailing) == (2, 0)
    assert (delivered(ses, "Kvittering"), delivered(ses, "Ny forespørsel til service desk")) == (1, 1)
    assert services.store.mail.queued_mails(10, clock()) == [] and services.store.mail.given_up_mails(10) == []


def test_a_message_whose_answer_was_lost_is_kept_not_sent_again_and_resent_by_the_operator(
    setup: tuple[Services, Faults, LosesAnswers, Clock, MailServer],
) -> None:
    services, _, mailer, clock, ses = setup
    queue(services, "Kvittering")
    mailer.lose = 1
    assert mailing.send_queued_mail(services.mailing) == (0, 1)
    clock.advance(hours=5)
    assert mailing.send_queued_mail(services.mailing) == (0, 0)
    assert delivered(ses, "Kvittering") == 1  # it did go out, once
    (given_up,) = services.store.mail.given_up_mails(10)
    assert given_up.last_error == LOST_ANSWER
    listed = run_cli(services, "mail", "failed")
    assert given_up.id in listed and "may have gone out" in listed
    # The operator checked and finds it never arrived (say): sending it again is one command.
    assert run_cli(services, "mail", "resend", given_up.id) == f"queued {given_up.id} again; sent 1, failed 0\n"
    assert delivered(ses, "Kvittering") == 2
    assert (
        services.store.mail.given_up_mails(10) == []
        and run_cli(services, "mail", "failed") == "no e-mail was given up\n"
    )


def test_a_message_that_failed_every_try_is_listed_and_resent(
    setup: tuple[Services, Faults, LosesAnswers, Clock, MailServer],
) -> None:
    services, faults, _, clock, ses = setup
    queue(services, "Kvittering")
    faults.failure = error_answer(503, "ServiceUnavailable")
    for _ in range(MAIL_ATTEMPTS):
        assert mailing.send_queued_mail(services.mailing) == (0, 1)
        clock.advance(hours=4)
    assert services.store.mail.queued_mails(10, clock()) == []
    (given_up,) = services.store.mail.given_up_mails(10)
    assert given_up.attempts == MAIL_ATTEMPTS and "ServiceUnavailable" in given_up.last_error
    assert delivered(ses, "Kvittering") == 0
    faults.failure = None
    run_cli(services, "mail", "resend", given_up.id)
    assert delivered(ses, "Kvittering") == 1


def test_resending_a_message_that_is_not_given_up_says_so(
    setup: tuple[Services, Faults, LosesAnswers, Clock, MailServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["mail", "resend", "no-such-id"], out=io.StringIO(), services=setup[0]) == 1
    assert "error: no given-up e-mail 'no-such-id'; 'mail failed' lists them" in capsys.readouterr().err


class Killed(BaseException):
    """The process dying: nothing after it runs."""


@pytest.mark.parametrize("killed_in", ["deliver", "forget_mail"])
def test_a_message_whose_sender_died_mid_send_is_given_up_with_a_trace_never_sent_twice(
    setup: tuple[Services, Faults, LosesAnswers, Clock, MailServer],
    monkeypatch: pytest.MonkeyPatch,
    killed_in: str,
) -> None:
    services, _, mailer, clock, ses = setup
    queue(services, "Kvittering")
    where = mailer if killed_in == "deliver" else services.store.mail
    monkeypatch.setattr(where, killed_in, lambda *args: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        mailing.send_queued_mail(services.mailing)
    monkeypatch.undo()
    clock.advance(minutes=30)
    assert mailing.send_queued_mail(services.mailing) == (0, 0)  # marked as going out: never offered again
    assert run_cli(services, "sweep").endswith("never stored\n")  # too recent to call interrupted
    clock.advance(minutes=31)
    assert "1 e-mails whose sending was interrupted given up" in run_cli(services, "sweep")
    (given_up,) = services.store.mail.given_up_mails(10)
    assert given_up.last_error == mailing.INTERRUPTED
    assert "may have gone out" in run_cli(services, "mail", "failed")
    assert services.store.mail.interrupted_mails(clock()) == [] and services.store.mail.queued_mails(10, clock()) == []
    assert delivered(ses, "Kvittering") == (0 if killed_in == "deliver" else 1)
