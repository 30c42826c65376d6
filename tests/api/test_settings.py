"""The handler's settings: each variable is checked once, and a bad value names the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from handler.settings import ConfigurationError, Settings
from tests.helpers.accounts import SECRET


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SDF_CODE_ANSWER_SECONDS", "soon"),
        ("SDF_CODE_ANSWER_SECONDS", "-1"),
        ("SDF_CODE_ANSWER_SECONDS", "nan"),
        ("SDF_CODE_ANSWER_SECONDS", "inf"),
        ("SDF_CODE_ANSWER_SECONDS", "3600"),
        ("SDF_MAX_BODY_BYTES", "1.5"),
        ("SDF_MAX_BODY_BYTES", "lots"),
        ("SDF_MAX_BODY_BYTES", "10"),
        ("SDF_STORAGE", "s3"),
        ("SDF_API_BASE_PATH", "v1"),
        ("SDF_SUBMISSIONS_PER_DAY", "0"),
        ("SDF_SUBMISSIONS_PER_DAY", "many"),
        ("SDF_CC_ADDRESSES_PER_DAY", "-1"),
        ("SDF_CC_ADDRESSES_PER_DAY", "2.5"),
        ("SDF_SESSION_SECRET", "too-short"),
        ("SDF_SESSION_SECRET", "a" * 64),
        ("SDF_SESSION_SECRET", "abcdefghijklmnopqrstuvwxyz0123456789"),
        ("SDF_SESSION_SECRET", "S3cret!" * 6),
        ("SDF_SESSION_SECRET", "test-secret-" + "x" * 32),
    ],
)
def test_a_value_the_handler_cannot_use_is_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({variable: value})


def test_numbers_are_read_as_written() -> None:
    settings = Settings.from_env({"SDF_CODE_ANSWER_SECONDS": "0.25", "SDF_MAX_BODY_BYTES": "2048"})
    assert (settings.code_answer_seconds, settings.max_body_bytes) == (0.25, 2048)
    assert Settings.from_env({}).code_answer_seconds == Settings.code_answer_seconds
    limits = Settings.from_env({"SDF_SUBMISSIONS_PER_DAY": "5", "SDF_CC_ADDRESSES_PER_DAY": "0"})
    assert (limits.submissions_per_day, limits.cc_addresses_per_day) == (5, 0)
    default = Settings.from_env({})
    assert (default.submissions_per_day, default.cc_addresses_per_day) == (40, 20)


@pytest.mark.parametrize(
    "secret",
    # as the tests', openssl rand -hex 16 and a passphrase of one's own give them
    [SECRET, "9f86d081884c7d659a2feaa0c55ad015", "Kundeservice sin nøkkel, 2026: ikke del den!"],
)
def test_a_secret_that_looks_random_is_taken(secret: str) -> None:
    assert Settings.from_env({"SDF_SESSION_SECRET": secret}).session_secret == secret


def test_the_local_server_says_which_setting_is_wrong_without_a_traceback() -> None:
    started = subprocess.run(
        [sys.executable, "-m", "handler.serve", "--port", "9"],
        env={"SDF_CODE_ANSWER_SECONDS": "soon", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 2
    assert "SDF_CODE_ANSWER_SECONDS must be a number of seconds" in started.stderr
    assert "Traceback" not in started.stderr


def test_replies_by_e_mail_are_on_with_the_embedded_store_and_off_on_aws_unless_a_domain_is_named() -> None:
    assert Settings.from_env({}).reply_domain == "reply.localhost"  # the CLI and the local server agree
    aws = {"SDF_STORAGE": "aws", "SDF_BUCKET": "b", "SDF_TABLE": "t", "SDF_SESSION_SECRET": SECRET}
    assert Settings.from_env(aws).reply_domain == ""
    assert Settings.from_env({**aws, "SDF_REPLY_DOMAIN": "reply.example.com"}).reply_domain == "reply.example.com"
    with pytest.raises(ConfigurationError, match="SDF_REPLY_DOMAIN"):
        Settings.from_env({"SDF_REPLY_DOMAIN": "not a domain"})
