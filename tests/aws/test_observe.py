"""Structured logs on AWS: one JSON object per line with the event's ids, metrics in the Embedded
Metric Format, and never an e-mail address; readable prose elsewhere."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from handler import lambda_entry, observe
from handler.mail import Mail, Mailer, QueuedMail, Recipient
from handler.services import build_services
from handler.settings import Settings
from handler.usecases import mailing
from handler.usecases.mailing import MAIL_ATTEMPTS
from tests.helpers.accounts import AUTHORIZED
from tests.helpers.lambda_events import SECRET, event, event_data, signed_in, with_body
from tests.helpers.paths import ROOT
from tests.helpers.shipped import a_service

SHAPE = {"time", "level", "logger", "message"}
NOT_VERIFIED = "Email address is not verified. The following identities failed the check: kari.nordmann@example.no"


@dataclass
class Context:
    """What Lambda passes as the handler's context, as far as the handler reads it."""

    aws_request_id: str = "8f507cfc-1a2b-4697-b07a-ac58fc914c95"


class Lines:
    """What the JSON formatter wrote, line by line."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        """Everything written."""
        return self.stream.getvalue()

    def all(self) -> list[dict[str, Any]]:
        """Every line, parsed; each must be one JSON object."""
        parsed = [json.loads(line) for line in self.text.splitlines()]
        assert all(isinstance(line, dict) for line in parsed)
        return parsed

    def ours(self) -> list[dict[str, Any]]:
        """The handler's own lines."""
        return [line for line in self.all() if line["logger"].startswith("servicedesk_forms")]

    def answered(self) -> dict[str, Any]:
        """The one line that tells how an HTTP event was answered."""
        (line,) = [line for line in self.ours() if line["message"].startswith("answered ")]
        return line


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """JSON lines as on AWS, written to memory for the test; the root logger is put back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    lines = Lines()
    handler = logging.StreamHandler(lines.stream)
    handler.setFormatter(observe.JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def assert_no_address(text: str) -> None:
    """Nothing that looks like an e-mail address, nor the test contact's name."""
    assert "@" not in text and "%40" not in text.lower(), text
    assert "kari" not in text.lower(), text


# The lines of one HTTP event ------------------------------------------------------------------------------


def test_a_stored_request_is_logged_with_its_ids_reference_form_category_and_outcome(
    data_dir: Path,
    json_lines: Lines,
) -> None:
    document = signed_in(event("http-api-v2.json"))
    answer = lambda_entry.handler(document, Context())
    assert answer["statusCode"] == 201
    line = json_lines.answered()
    assert set(line) >= SHAPE | {"requestId", "awsRequestId", "reference", "form", "category", "outcome", "status"}
    assert line["level"] == "INFO" and line["logger"] == "servicedesk_forms"
    assert line["time"].endswith("Z") and line["time"][10] == "T"
    assert line["requestId"] == document["requestContext"]["requestId"]  # as in the API's access log
    assert line["awsRequestId"] == Context.aws_request_id
    assert line["reference"] == json.loads(answer["body"])["reference"]
    assert (line["form"], line["category"], line["outcome"], line["status"]) == (
        "service-request",
        event_data("http-api-v2.json")["service"],
        "created",
        201,
    )
    assert_no_address(json_lines.text)


def test_a_replay_and_a_refusal_say_so(data_dir: Path, json_lines: Lines) -> None:
    document = signed_in(event("http-api-v2.json"))
    first = json.loads(lambda_entry.handler(document, Context())["body"])
    lambda_entry.handler(document, Context("replay-0001"))
    refused = with_body(document, json.dumps({"form": "service-request", "data": {"service": a_service()}}).encode())
    refused["headers"]["idempotency-key"] = "refused-0000001"
    assert lambda_entry.handler(refused, Context("refusal-0001"))["statusCode"] == 422
    replay, refusal = [line for line in json_lines.ours() if line["message"].startswith("answered ")][1:]
    assert (replay["reference"], replay["outcome"], replay["awsRequestId"]) == (
        first["reference"],
        "replayed",
        "replay-0001",
    )
    assert (refusal["outcome"], refusal["status"], refusal["form"]) == ("refused", 422, "service-request")
    assert "reference" not in refusal and "category" not in refusal  # its data never passed
    assert_no_address(json_lines.text)


def test_no_field_of_one_event_reaches_the_next(data_dir: Path, json_lines: Lines) -> None:
    lambda_entry.handler(signed_in(event("http-api-v2.json")), Context())
    assert observe.correlation() == {}
    health = event("http-api-v2.json")
    health["rawPath"] = health["requestContext"]["http"]["path"] = "/v1/health"
    health["requestContext"]["http"]["method"] = "GET"
    health["requestContext"]["requestId"] = "HealthCheck0001="
    lambda_entry.handler(health, Context("health-0001"))
    last = json_lines.ours()[-1]
    assert (last["message"], last["requestId"], last["outcome"]) == (
        "answered GET /v1/health with 200",
        "HealthCheck0001=",
        "ok",
    )
    assert not {"reference", "form", "category"} & set(last)


def test_an_event_that_is_not_http_is_logged_with_lambdas_request_id(data_dir: Path, json_lines: Lines) -> None:
    assert lambda_entry.handler({"Records": [{"eventSource": "aws:s3"}]}, Context())["ignored"] is True
    (line,) = json_lines.ours()
    assert (line["level"], line["requestId"], line["awsRequestId"]) == (
        "WARNING",
        Context.aws_request_id,
        Context.aws_request_id,
    )
    assert (line["eventSources"], line["outcome"]) == (["aws:s3"], "ignored")


# Addresses never reach a line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "kari.nordmann@example.no",
        "KARI@EXAMPLE.NO",
        "kari%40example.no",
        "<kari+forms@sub.example.no>",
        "'kari'@x",
        '"kari nordmann"@example.no',
    ],
)
def test_anything_that_looks_like_an_address_is_redacted_wherever_it_is(json_lines: Lines, address: str) -> None:
    log = logging.getLogger("servicedesk_forms.test")
    try:
        raise RuntimeError(f"could not send to {address}")
    except RuntimeError:
        log.exception(
            "e-mail to %s failed",
            address,
            extra={"recipient": address, "nested": {"to": [address], address: 1}, "count": 2},
        )
    (line,) = json_lines.all()
    assert_no_address(json.dumps(line))
    assert observe.REDACTED in line["message"] and observe.REDACTED in line["errorMessage"]
    assert line["recipient"] == observe.REDACTED or observe.REDACTED in line["recipient"]
    assert (line["count"], line["errorType"]) == (2, "RuntimeError")
    assert line["stackTrace"]


def test_redaction_leaves_other_text_alone() -> None:
    text = "SR-7KQ2-M9XD requests/0b8e.json 100% done at 12:30 (attempt 3)"
    assert observe.redact(text) == text


# Metrics in the Embedded Metric Format -------------------------------------------------------------------


class RefusingSes(Mailer):
    """A mail service that refuses every message the way SES refuses an unverified address."""

    def deliver(self, message: bytes, recipients: list[str]) -> str:
        """Refuse, naming the address."""
        raise RuntimeError(NOT_VERIFIED)


def metric_lines(lines: Lines) -> dict[str, dict[str, Any]]:
    """The lines that carry metrics, by metric name, each checked against the EMF specification."""
    found = {}
    for line in lines.ours():
        if "_aws" not in line:
            continue
        assert isinstance(line["_aws"]["Timestamp"], int)
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == observe.NAMESPACE
        assert directive["Dimensions"] == [[observe.DIMENSION]]
        assert isinstance(line[observe.DIMENSION], str)
        for metric in directive["Metrics"]:
            assert isinstance(line[metric["Name"]], int | float), metric  # the value sits beside the directive
            found[metric["Name"]] = {"unit": metric["Unit"], "value": line[metric["Name"]], "line": line}
    return found


def test_mail_given_up_after_the_last_try_and_the_queues_age_are_metrics(
    tmp_path: Path, json_lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stack-handler")
    services = build_services(Settings(data_dir=tmp_path, session_secret=SECRET), mailer=RefusingSes("desk@x"))
    mail = Mail((Recipient(AUTHORIZED, "Kari Nordmann"),), "Kvittering", ("Hei Kari",), "nb")
    queued_at = services.clock() - timedelta(minutes=20)
    services.store.mail.queue_mails(
        [QueuedMail("last-try", (AUTHORIZED,), mail.to_json(), MAIL_ATTEMPTS - 1, "", queued_at)]
    )
    assert mailing.send_queued_mail(services.mailing) == (0, 1)
    metrics = metric_lines(json_lines)
    given_up = metrics["MailGivenUp"]
    assert (given_up["unit"], given_up["value"], given_up["line"]["level"]) == ("Count", 1, "ERROR")
    assert (given_up["line"]["mailId"], given_up["line"]["attempts"]) == ("last-try", MAIL_ATTEMPTS)
    assert given_up["line"][observe.DIMENSION] == "stack-handler"
    assert metrics["MailQueueAge"]["unit"] == "Seconds" and 1190 <= metrics["MailQueueAge"]["value"] <= 1300
    assert (metrics["MailFailed"]["value"], metrics["MailSent"]["value"]) == (1, 0)
    assert_no_address(json_lines.text)  # neither the recipient nor the address in the mail service's answer


def test_an_empty_queue_emits_nothing(tmp_path: Path, json_lines: Lines) -> None:
    services = build_services(Settings(data_dir=tmp_path, session_secret=SECRET), mailer=RefusingSes("desk@x"))
    assert mailing.send_queued_mail(services.mailing) == (0, 0)
    assert json_lines.ours() == []


# JSON on Lambda, prose elsewhere ----------------------------------------------------------------------------


class RuntimeHandler(logging.Handler):
    """Stands in for the Lambda runtime's handler: takes the formatted text as it is, with a frame type."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[str, bytes | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the text and the frame type the formatter chose."""
        self.written.append((self.format(record), getattr(record, "_frame_type", None)))


def test_on_lambda_the_runtimes_handler_gets_json_lines_marked_as_json() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    runtime = RuntimeHandler()
    root.handlers[:] = [runtime]
    try:
        observe.configure_json_logs()
        logging.getLogger("servicedesk_forms.test").warning("a warning")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    ((text, frame),) = runtime.written
    assert text.endswith("\n") and json.loads(text)["message"] == "a warning"
    assert frame == bytes.fromhex("a55a0012")  # the runtime's frame type for a JSON line at WARNING


LOG_A_WARNING = r"""
import logging
import handler.lambda_entry
logging.getLogger("servicedesk_forms").warning("a warning about %s", "kari@example.no")
"""


@pytest.mark.parametrize("on_lambda", [True, False], ids=["lambda", "local"])
def test_json_on_lambda_and_prose_elsewhere(tmp_path: Path, on_lambda: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDF_", "AWS_LAMBDA_"))}
    env.update(SDF_DATA_DIR=str(tmp_path), SDF_SESSION_SECRET=SECRET)
    if on_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "stack-handler"
    result = subprocess.run(
        [sys.executable, "-c", LOG_A_WARNING], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    if on_lambda:
        assert json.loads(line)["message"] == "a warning about <address>"
    else:
        assert line == "a warning about kari@example.no"


# The alarms in template.yaml --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode.decode import decode_str  # type: ignore[import-untyped]

    document, errors = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not errors, errors
    return document  # type: ignore[no-any-return]


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's CloudWatch alarms' properties, by logical id."""
    resources = template["Resources"].items()
    return {name: r["Properties"] for name, r in resources if r["Type"] == "AWS::CloudWatch::Alarm"}


def watched(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, metric name): dimensions of each alarm on a single metric."""
    return {
        (alarm["Namespace"], alarm["MetricName"]): {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        for alarm in alarms(template).values()
        if "MetricName" in alarm
    }


def test_every_alarm_notifies_the_topic_whose_e_mail_subscriber_is_a_parameter(template: dict[str, Any]) -> None:
    topic = {"Ref": "AlarmTopic"}
    assert template["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    found = alarms(template)
    assert len(found) >= 6
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmDescription"], name
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"  # no subscription without an address
    assert subscription["Properties"] == {"TopicArn": topic, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == topic


def test_alarms_watch_5xx_the_functions_errors_and_throttles_and_the_tables_throttles(
    template: dict[str, Any],
) -> None:
    metrics = watched(template)
    function = {"FunctionName": {"Ref": "RequestsFunction"}}
    assert metrics[("AWS/ApiGateway", "5xx")] == {"ApiId": {"Ref": "HttpApi"}}
    assert metrics[("AWS/Lambda", "Errors")] == function
    assert metrics[("AWS/Lambda", "Throttles")] == function
    (query,) = template["Resources"]["TableThrottlesAlarm"]["Properties"]["Metrics"]
    expression = query["Expression"]["Fn::Sub"]
    assert "SUM(ThrottledRequests)" in expression and '"AWS/DynamoDB"' in expression
    assert "TableName = '${RequestsTable}'" in expression and query["ReturnData"] is True


def test_the_alarms_on_the_handler_s_own_metrics_watch_metrics_it_emits(template: dict[str, Any]) -> None:
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "handler").rglob("*.py"))
    ours = {
        name: dimensions
        for (namespace, name), dimensions in watched(template).items()
        if namespace == observe.NAMESPACE
    }
    assert set(ours) == {"MailGivenUp", "MailQueueAge", "InboundMailRefused", "ForwardGivenUp"}
    for name, dimensions in ours.items():
        assert f'"{name}": (' in source, f"nothing in handler/ emits {name}"
        assert dimensions == {observe.DIMENSION: {"Ref": "RequestsFunction"}}  # the name Lambda gives the code
