"""Paging through "my requests" over HTTP with the ``next`` cursor, on the embedded and the AWS store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.schema.catalog import Catalog
from handler.settings import Settings
from handler.storage.aws import AwsStore
from handler.storage.base import Receipt, Store, Submission
from handler.storage.local import LocalStore
from tests.helpers.accounts import AUTHORIZED, SECRET, register, sign_in
from tests.helpers.clock import NOW, Clock
from tests.helpers.servers import Server, fresh_aws_store
from tests.helpers.shipped import valid_data

# A long address, so a cursor that carried the requester would show it in its length.
OTHER = "ola.nordmann.innkjop-og-drift.region-nord@avdeling.kunde-as.example.no"
DATA = valid_data(subject="S", description="D")
REQUESTS = 47
PAGE = 10
CURSOR_LIMIT = 200  # the API's max_length for ?cursor=


@dataclass
class Paging:
    """An API on one store, with two signed-in requesters."""

    client: TestClient
    store: Store
    clock: Clock
    mine: dict[str, str]
    theirs: dict[str, str]


@contextlib.contextmanager
def store_for(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Store]:
    """The embedded store under ``data_dir``, or an AWS store on a fresh bucket and table."""
    if request.param == "local":
        yield LocalStore(data_dir)
        return
    seaweedfs: Server = request.getfixturevalue("seaweedfs")
    dynamodb: Server = request.getfixturevalue("dynamodb_local")
    with fresh_aws_store(seaweedfs, dynamodb) as aws:
        yield aws


@pytest.fixture(params=["local", "aws"])
def paging(request: pytest.FixtureRequest, catalog: Catalog, tmp_path: Path) -> Iterator[Paging]:
    data_dir = tmp_path / "data"
    with store_for(request, data_dir) as store:
        register(store.contacts, AUTHORIZED, "authorized-for-change")
        register(store.contacts, OTHER, "authorized-for-change")
        clock = Clock(NOW)
        settings = Settings(data_dir=data_dir, session_secret=SECRET, code_answer_seconds=0)
        app = create_app(settings, catalog=catalog, store=store, clock=clock)
        with TestClient(app, raise_server_exceptions=False) as client:
            mine = {"Authorization": f"Bearer {sign_in(client, data_dir / 'outbox', AUTHORIZED)}"}
            theirs = {"Authorization": f"Bearer {sign_in(client, data_dir / 'outbox', OTHER)}"}
            yield Paging(client, store, clock, mine, theirs)


def submit_directly(store: Store, requester: str, count: int) -> list[Receipt]:
    """``count`` requests by ``requester``, three at a time sharing one moment (some to the microsecond)."""
    receipts = []
    for index in range(count):
        moment = NOW + timedelta(seconds=index // 3, microseconds=250_001 * (index // 3 % 4))
        submission = Submission("service-request", DATA["service"], "sha256:0", "nb", requester, DATA)
        receipts.append(store.requests.submit(submission, "SR", None, moment)[0])
    return receipts


def newest_first(receipts: list[Receipt]) -> list[str]:
    """The ids in the order a list shows them: newest first, the larger id first at the same moment."""
    return [r.request_id for r in sorted(receipts, key=lambda r: (r.received_at, r.request_id), reverse=True)]


def pages(client: TestClient, headers: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every page of the signed-in requester's list, following ``next`` until it is null."""
    cursor: str | None = None
    for _ in range(REQUESTS):
        query = f"?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
        answer = client.get(f"/v1/requests{query}", headers=headers)
        assert answer.status_code == 200, (len(cursor or ""), answer.text)
        page: dict[str, Any] = answer.json()
        yield page
        cursor = page["next"]
        if cursor is None:
            return
    raise AssertionError("the list never ended")


def test_my_requests_page_over_http_until_next_is_null(paging: Paging) -> None:
    receipts = submit_directly(paging.store, AUTHORIZED, REQUESTS - 1)
    submit_directly(paging.store, OTHER, 3)
    paging.clock.now = NOW + timedelta(hours=1)
    posted = paging.client.post("/v1/requests", json={"form": "service-request", "data": DATA}, headers=paging.mine)
    assert posted.status_code == 201, posted.text
    expected = [posted.json()["id"], *newest_first(receipts)]

    listed = list(pages(paging.client, paging.mine))

    ids = [item["id"] for page in listed for item in page["items"]]
    assert ids == expected
    assert len(set(ids)) == REQUESTS
    assert len(listed) >= REQUESTS // PAGE + 1
    cursors = [page["next"] for page in listed if page["next"]]
    assert cursors and all(len(cursor) <= CURSOR_LIMIT // 2 for cursor in cursors), [len(c) for c in cursors]


def refused(paging: Paging, cursor: str, headers: dict[str, str]) -> bool:
    """Whether the API answers ``400 bad_request`` to this cursor for this requester."""
    answer = paging.client.get(f"/v1/requests?limit={PAGE}&cursor={cursor}", headers=headers)
    return answer.status_code == 400 and answer.json()["code"] == "bad_request"


def test_a_cursor_works_only_for_its_requester_and_only_as_handed_out(paging: Paging) -> None:
    submit_directly(paging.store, AUTHORIZED, 3)
    submit_directly(paging.store, OTHER, 3)
    mine = paging.client.get("/v1/requests?limit=1", headers=paging.mine).json()["next"]
    theirs = paging.client.get("/v1/requests?limit=1", headers=paging.theirs).json()["next"]
    assert mine and theirs and mine != theirs
    assert len(mine) == len(theirs) <= CURSOR_LIMIT // 2  # whatever the address

    assert paging.client.get(f"/v1/requests?limit=1&cursor={mine}", headers=paging.mine).status_code == 200
    assert refused(paging, mine, paging.theirs)
    assert refused(paging, theirs, paging.mine)
    for position in (0, len(mine) // 2, len(mine) - 1):  # in the time, the id and the signature
        changed = "A" if mine[position] != "A" else "B"
        assert refused(paging, mine[:position] + changed + mine[position + 1 :], paging.mine), position
    assert refused(paging, mine[:-1], paging.mine)
    assert refused(paging, mine + "A", paging.mine)
    assert refused(paging, "not-a-cursor", paging.mine)


def another_instance(store: Store) -> Store:
    """A second store on the same folder or table, as another process or Lambda container has."""
    if isinstance(store, AwsStore):
        return AwsStore(store.s3, store.dynamodb, store.bucket, store.table)
    assert isinstance(store, LocalStore)
    return LocalStore(store.folder)


def test_a_cursor_handed_out_by_one_instance_works_in_another(paging: Paging) -> None:
    receipts = submit_directly(paging.store, AUTHORIZED, 5)
    cursor = paging.client.get("/v1/requests?limit=2", headers=paging.mine).json()["next"]
    page, _ = another_instance(paging.store).requests.list_for_requester(AUTHORIZED, 10, cursor)
    assert [s.receipt.request_id for s in page] == newest_first(receipts)[2:]
