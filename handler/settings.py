"""The handler's settings: read once from the environment, checked when created."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from handler.schema.loader import SCHEMA_DIR
from handler.signin import weak_secret

STORAGE_KINDS = ("local", "aws")
LOCAL_REPLY_DOMAIN = "reply.localhost"  # the embedded default's reply domain, unless SDF_REPLY_DOMAIN says otherwise


class ConfigurationError(Exception):
    """A setting has a value the handler cannot work with."""


@dataclass(frozen=True)
class Settings:
    """Everything the handler can be told; defaults run the embedded storage under ``./data``."""

    storage: str = "local"
    data_dir: Path = Path("data")
    schema_dir: Path = SCHEMA_DIR
    max_body_bytes: int = 256 * 1024
    api_base_path: str = "/"
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    bucket: str = ""
    table: str = ""
    region: str = ""
    s3_endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None
    ses_endpoint_url: str | None = None
    session_secret: str = field(default="", repr=False)
    session_secret_arn: str = ""
    mail_from: str = "Kundeservice <no-reply@localhost>"
    site_url: str = ""
    desk_inbox: str = ""
    desk_language: str = ""
    # Replies by e-mail: each request's mail carries a signed Reply-To at this domain (its MX the mail service's
    # inbound), and the agents, by address or @domain, whose answers from their own mail client are taken.
    reply_domain: str = ""
    agents: tuple[str, ...] = field(default_factory=tuple)
    # The desk's ticket system each request is forwarded into ("" none: the desk's inbox has the e-mail only).
    forward: str = ""
    zendesk_url: str = ""
    zendesk_email: str = ""
    zendesk_token: str = field(default="", repr=False)
    zendesk_webhook_secret: str = field(default="", repr=False)
    jsm_url: str = ""
    jsm_email: str = ""
    jsm_token: str = field(default="", repr=False)
    jsm_service_desk_id: str = ""
    jsm_webhook_secret: str = field(default="", repr=False)
    # On AWS: a secret {"token", "webhookSecret"} in place of the chosen system's token and webhook secret.
    forward_secret_arn: str = ""
    # The organizations' OpenID providers people may sign in with: a JSON file, or on AWS a secret's ARN.
    sso_providers: str = ""
    # Every answer to "send me a code" and to "here is my code" takes at least this long, so its timing
    # cannot tell a registered address (a code is queued, or checked) from an unknown one.
    code_answer_seconds: float = 0.6
    # The addresses or networks of the proxies whose X-Forwarded-For the local server believes; none by default,
    # so a client cannot choose the address its sign-in limits are counted against.
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)
    # What one contact may send in a day (UTC): requests, and different addresses copied on them (other than their
    # own), so that nobody can make the service mail many outsiders text of their choosing (docs/api.md, "Limits").
    submissions_per_day: int = 40
    cc_addresses_per_day: int = 20

    def __post_init__(self) -> None:
        if self.storage not in STORAGE_KINDS:
            raise ConfigurationError(f"SDF_STORAGE is {self.storage!r}; choose one of: {', '.join(STORAGE_KINDS)}")
        if not 1024 <= self.max_body_bytes <= 6 * 1024 * 1024:
            raise ConfigurationError("SDF_MAX_BODY_BYTES must be between 1024 and 6291456 (Lambda's payload limit)")
        if not 0 <= self.code_answer_seconds <= 10:
            raise ConfigurationError("SDF_CODE_ANSWER_SECONDS must be a number of seconds from 0 to 10, such as 0.6")
        if self.storage == "aws" and not (self.bucket and self.table):
            raise ConfigurationError("SDF_STORAGE=aws needs SDF_BUCKET and SDF_TABLE")
        if self.storage == "aws" and not (self.session_secret or self.session_secret_arn):
            raise ConfigurationError("SDF_STORAGE=aws needs SDF_SESSION_SECRET_ARN (or SDF_SESSION_SECRET)")
        if self.session_secret and (problem := weak_secret(self.session_secret.encode())):
            raise ConfigurationError(f"SDF_SESSION_SECRET {problem}")
        for name, limit, least in (
            ("SDF_SUBMISSIONS_PER_DAY", self.submissions_per_day, 1),
            ("SDF_CC_ADDRESSES_PER_DAY", self.cc_addresses_per_day, 0),
        ):
            if not least <= limit <= 1_000_000:
                raise ConfigurationError(f"{name} must be a whole number from {least} to 1000000, got {limit}")
        if not self.api_base_path.startswith("/"):
            raise ConfigurationError(f"SDF_API_BASE_PATH must start with '/', got {self.api_base_path!r}")
        if self.reply_domain and not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", self.reply_domain):
            raise ConfigurationError(
                f"SDF_REPLY_DOMAIN must be a domain name such as reply.example.com, got {self.reply_domain!r}"
            )
        if self.forward not in ("", "zendesk", "jsm"):
            raise ConfigurationError(f"SDF_FORWARD is {self.forward!r}; choose zendesk or jsm, or leave it empty")
        if self.forward == "zendesk" and not (
            self.zendesk_url and self.zendesk_email and (self.zendesk_token or self.forward_secret_arn)
        ):
            raise ConfigurationError(
                "SDF_FORWARD=zendesk needs SDF_ZENDESK_URL, SDF_ZENDESK_EMAIL and SDF_ZENDESK_TOKEN "
                "(or SDF_FORWARD_SECRET_ARN)"
            )
        if self.forward == "jsm" and not (
            self.jsm_url and self.jsm_email and self.jsm_service_desk_id and (self.jsm_token or self.forward_secret_arn)
        ):
            raise ConfigurationError(
                "SDF_FORWARD=jsm needs SDF_JSM_URL, SDF_JSM_EMAIL, SDF_JSM_SERVICE_DESK_ID and SDF_JSM_TOKEN "
                "(or SDF_FORWARD_SECRET_ARN)"
            )
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigurationError(
                    f"SDF_TRUSTED_PROXIES: {proxy!r} is not an IP address or network (such as 10.0.0.0/8)"
                ) from exc

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from ``SDF_*`` environment variables."""
        origins = tuple(o.strip() for o in env.get("SDF_ALLOWED_ORIGINS", "").split(",") if o.strip())
        proxies = tuple(p.strip() for p in env.get("SDF_TRUSTED_PROXIES", "").split(",") if p.strip())
        agents = tuple(a.strip().lower() for a in env.get("SDF_AGENTS", "").split(",") if a.strip())
        storage = env.get("SDF_STORAGE", cls.storage)
        # On this machine replies by e-mail are files in data/inbox/: their domain needs no DNS, so it is on.
        replies = env.get("SDF_REPLY_DOMAIN", LOCAL_REPLY_DOMAIN if storage == "local" else "")
        whole = "a whole number"
        return cls(
            storage=storage,
            data_dir=Path(env.get("SDF_DATA_DIR", str(cls.data_dir))),
            schema_dir=Path(env.get("SDF_SCHEMA_DIR", str(SCHEMA_DIR))),
            max_body_bytes=int(_number(env, "SDF_MAX_BODY_BYTES", cls.max_body_bytes, "a whole number of bytes")),
            api_base_path=env.get("SDF_API_BASE_PATH", cls.api_base_path),
            allowed_origins=origins,
            bucket=env.get("SDF_BUCKET", ""),
            table=env.get("SDF_TABLE", ""),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
            s3_endpoint_url=env.get("SDF_S3_ENDPOINT_URL") or None,
            dynamodb_endpoint_url=env.get("SDF_DYNAMODB_ENDPOINT_URL") or None,
            ses_endpoint_url=env.get("SDF_SES_ENDPOINT_URL") or None,
            session_secret=env.get("SDF_SESSION_SECRET", ""),
            session_secret_arn=env.get("SDF_SESSION_SECRET_ARN", ""),
            mail_from=env.get("SDF_MAIL_FROM", cls.mail_from),
            site_url=env.get("SDF_SITE_URL", "").rstrip("/"),
            desk_inbox=env.get("SDF_DESK_INBOX", ""),
            desk_language=env.get("SDF_DESK_LANGUAGE", ""),
            reply_domain=replies,
            agents=agents,
            forward=env.get("SDF_FORWARD", ""),
            zendesk_url=env.get("SDF_ZENDESK_URL", "").rstrip("/"),
            zendesk_email=env.get("SDF_ZENDESK_EMAIL", ""),
            zendesk_token=env.get("SDF_ZENDESK_TOKEN", ""),
            zendesk_webhook_secret=env.get("SDF_ZENDESK_WEBHOOK_SECRET", ""),
            jsm_url=env.get("SDF_JSM_URL", "").rstrip("/"),
            jsm_email=env.get("SDF_JSM_EMAIL", ""),
            jsm_token=env.get("SDF_JSM_TOKEN", ""),
            jsm_service_desk_id=env.get("SDF_JSM_SERVICE_DESK_ID", ""),
            jsm_webhook_secret=env.get("SDF_JSM_WEBHOOK_SECRET", ""),
            forward_secret_arn=env.get("SDF_FORWARD_SECRET_ARN", ""),
            sso_providers=env.get("SDF_SSO_PROVIDERS", ""),
            code_answer_seconds=_number(env, "SDF_CODE_ANSWER_SECONDS", cls.code_answer_seconds, "a number of seconds"),
            trusted_proxies=proxies,
            submissions_per_day=int(_number(env, "SDF_SUBMISSIONS_PER_DAY", cls.submissions_per_day, whole)),
            cc_addresses_per_day=int(_number(env, "SDF_CC_ADDRESSES_PER_DAY", cls.cc_addresses_per_day, whole)),
        )


def _number(env: Mapping[str, str], name: str, default: float, what: str) -> float:
    """The variable ``name`` as a finite number (a whole one where ``default`` is an int), else a
    ConfigurationError naming the variable."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text) if isinstance(default, int) else float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be {what}, got {text!r}")
    return value
