"""What one authorized contact may make the service send in a day: requests, and copies to other addresses; and
that no page or answer of the local server may be shown in another page's frame."""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.serve import NoFraming, local_app
from handler.settings import Settings
from handler.signin import rate_day
from handler.storage.local import LocalStore
from handler.usecases import mailing
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import Clock
from tests.helpers.shipped import form, valid_data

CC = next(f.name for f in form().fields if f.lists_addresses)  # the form's CC field, as schema/ has it
LIMITS = Settings()


def send(client: TestClient, language: str = "en", **data: Any) -> Any:
    """Submit the shipped form's valid request with ``data`` over it."""
    return client.post(f"/v1/requests?lang={language}", json={"form": form().id, "data": valid_data(**data)})


def copied_to(client: TestClient, store: LocalStore) -> set[str]:
    """Every address that got a copy of a receipt (in lower case), once the queued e-mail is sent."""
    mailing.send_queued_mail(client.app.state.services.mailing)  # type: ignore[attr-defined]
    found = set()
    for path in (store.folder / "outbox").glob("*.eml"):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        found |= {address.lower() for _, address in getaddresses(message.get_all("Cc", []))}
    return found


def assert_refused(answer: Any, code: str, catalog: Catalog, language: str, clock: Clock) -> None:
    """A 429 of ``code``, worded as schema/ words it, that says to wait until the next day (UTC)."""
    assert answer.status_code == 429, answer.text
    assert (answer.json()["code"], answer.json()["detail"]) == (code, catalog.common[language]["api"][code])
    assert int(answer.headers["retry-after"]) == int((rate_day(clock())[1] - clock()).total_seconds())


def test_fifty_rapid_submissions_stop_at_the_daily_limit(
    client: TestClient, store: LocalStore, clock: Clock, catalog: Catalog
) -> None:
    answers = [send(client) for _ in range(50)]
    assert [a.status_code for a in answers] == [201] * LIMITS.submissions_per_day + [429] * (
        50 - LIMITS.submissions_per_day
    )
    assert_refused(answers[-1], "too_many_submissions", catalog, "en", clock)
    assert_refused(send(client, "nb"), "too_many_submissions", catalog, "nb", clock)
    assert len(client.get("/v1/requests?limit=100").json()["items"]) == LIMITS.submissions_per_day
    clock.now = rate_day(clock())[1]  # the next day
    client.headers["Authorization"] = f"Bearer {sign_in(client, store.folder / 'outbox', AUTHORIZED)}"
    assert send(client).status_code == 201


def test_copies_reach_no_more_different_addresses_a_day_than_the_limit(
    client: TestClient, store: LocalStore, clock: Clock, catalog: Catalog
) -> None:
    per_request = form().schema["properties"][CC]["maxItems"]
    outside = [f"ekstern{n}@example.com" for n in range(LIMITS.cc_addresses_per_day + per_request)]
    batches = [outside[n : n + per_request] for n in range(0, len(outside), per_request)]
    for batch in batches[:-1]:
        assert send(client, "en", **{CC: batch}).status_code == 201
    assert_refused(send(client, "en", **{CC: batches[-1]}), "too_many_copies", catalog, "en", clock)
    assert_refused(send(client, "nb", **{CC: batches[-1][:1]}), "too_many_copies", catalog, "nb", clock)
    # The addresses copied today, and the contact's own, may be copied again.
    assert send(client, "en", **{CC: [*batches[0][1:], AUTHORIZED.upper()]}).status_code == 201
    assert copied_to(client, store) == set(outside[: LIMITS.cc_addresses_per_day])
    clock.now = rate_day(clock())[1]  # the next day
    client.headers["Authorization"] = f"Bearer {sign_in(client, store.folder / 'outbox', AUTHORIZED)}"
    assert send(client, "en", **{CC: batches[-1]}).status_code == 201


def test_the_limits_are_settings(catalog: Catalog, store: LocalStore, clock: Clock) -> None:
    register(store.contacts, AUTHORIZED, "authorized-for-change")
    settings = Settings.from_env(
        {
            "SDF_DATA_DIR": str(store.folder),
            "SDF_SESSION_SECRET": SECRET,
            "SDF_CODE_ANSWER_SECONDS": "0",
            "SDF_SUBMISSIONS_PER_DAY": "2",
            "SDF_CC_ADDRESSES_PER_DAY": "0",
        }
    )
    with TestClient(create_app(settings, catalog=catalog, store=store, clock=clock)) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, store.folder / 'outbox', AUTHORIZED)}"
        assert_refused(send(client, "en", **{CC: ["ekstern@example.com"]}), "too_many_copies", catalog, "en", clock)
        assert [send(client).status_code for _ in range(3)] == [201, 201, 429]


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[TestClient]:
    """The local server's app (``python -m handler.serve``) on a site of one page."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>Skjema</title>", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", session_secret=SECRET, code_answer_seconds=0)
    with TestClient(local_app(settings, site), raise_server_exceptions=False) as client:
        yield client


def test_the_local_server_lets_nobody_frame_its_pages_or_answers(local_server: TestClient) -> None:
    answers = {
        "page": local_server.get("/"),
        "missing page": local_server.get("/nowhere.html"),
        "API": local_server.get("/v1/health"),
        "API error": local_server.get("/v1/requests"),
        "code": local_server.post("/v1/session/code", json={"email": "kari@example.no"}),
    }
    assert [a.status_code for a in answers.values()] == [200, 404, 200, 401, 202]
    for name, answer in answers.items():
        assert answer.headers["x-frame-options"] == "DENY", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name


def test_an_answer_s_own_security_policy_is_kept() -> None:
    own = PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'self'"})
    answer = TestClient(NoFraming(own)).get("/")
    assert answer.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
    assert answer.headers["x-frame-options"] == "DENY"
