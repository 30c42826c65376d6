"""What the tests need of the shipped form, derived from schema/ as it is, so that an operator's edit of schema/
alone (a service removed, renamed or reordered, a language or a service added) leaves the tests of the machinery
running on whatever the form now holds.

The documents come from the valid cases in tests/data/service-request/*.json whose service is still in schema/
and which the form as it is now accepts; tests that are about the shipped content itself (a label from the
help-centre article, a service's own fields) skip, saying why, when that content is gone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handler.schema.loader import load_catalog
from handler.schema.model import Form
from tests.helpers.clock import NOW
from tests.helpers.paths import TESTS

FORM = "service-request"
FIXTURES = TESTS / "data" / FORM


@functools.cache
def form() -> Form:
    """The shipped form as schema/ holds it now."""
    return load_catalog().forms[FORM]


def services() -> tuple[str, ...]:
    """The services (the values of the form's discriminator) in schema/, in the order the page lists them."""
    return tuple(str(s) for s in form().categories)


def fixture_service(path: Path) -> str:
    """The service a fixture file of tests/data/service-request/ is about: the file is named after it."""
    return path.stem


def fixture_paths() -> list[Path]:
    """The fixture files of tests/data/service-request/, in name order."""
    return sorted(FIXTURES.glob("*.json"))


def skip_reason(path: Path) -> str | None:
    """Why the cases of the fixture file ``path`` cannot run on schema/ as it is, or None if they can."""
    service = fixture_service(path)
    if service in services():
        return None
    return f"the service {service!r} of {path.name} is not in schema/ (any more)"


def accepted(data: dict[str, Any], *moments: datetime) -> bool:
    """Whether the form accepts ``data`` at each of ``moments`` (by default the tests' moment and the real one,
    as some tests reach code on the real clock: a time window in the future at the first may be past at the
    second)."""
    return all(not form().validate(data, "nb", now) for now in (moments or (NOW, datetime.now(UTC))))


@functools.cache
def _valid_documents() -> tuple[tuple[str, str], ...]:
    """The valid cases the form accepts as it is, as (service, JSON text), the simplest first: fewest fields,
    then shortest, then by service and description, so the choice does not depend on the order of the
    services or of the files."""
    found = []
    for path in fixture_paths():
        if skip_reason(path):
            continue
        for case in json.loads(path.read_text(encoding="utf-8"))["valid"]:
            data = case["data"]
            if data.get(form().discriminator) == fixture_service(path) and accepted(data):
                text = json.dumps(data, ensure_ascii=False)
                found.append((len(data), len(text), fixture_service(path), case["description"], text))
    found.sort()
    return tuple((service, text) for _, _, service, _, text in found)


def valid_services() -> list[str]:
    """The services of schema/ that have a valid document, each once, the simplest document's first."""
    return list(dict.fromkeys(service for service, _ in _valid_documents()))


def valid_data_of(service: str, **overrides: Any) -> dict[str, Any]:
    """The simplest valid document of ``service`` with ``overrides`` (a value of None removes the field)."""
    for found, text in _valid_documents():
        if found == service:
            data: dict[str, Any] = json.loads(text) | overrides
            return {k: v for k, v in data.items() if v is not None}
    raise LookupError(f"no valid case of the service {service!r} in {FIXTURES} that the form accepts")


def valid_data(**overrides: Any) -> dict[str, Any]:
    """A valid document of the shipped form, the same on every call (chosen as ``_valid_documents`` says),
    with ``overrides`` (a value of None removes the field)."""
    if not _valid_documents():
        raise LookupError(f"no valid case in {FIXTURES} is of a service in schema/ and accepted by the form")
    return valid_data_of(a_service(), **overrides)


def a_service() -> str:
    """The service of ``valid_data()``."""
    return valid_services()[0]


def another_service() -> str:
    """A service other than ``a_service()`` that has a valid document too."""
    others = valid_services()[1:]
    if not others:
        pytest.skip("schema/ has only one service with a valid case in tests/data/service-request/")
    return others[0]


def service_fields(service: str) -> dict[str, Any]:
    """The fields of ``valid_data_of(service)`` that belong to the service's own branch, in document order."""
    data = valid_data_of(service)
    return {k: v for k, v in data.items() if k == form().discriminator or not _always(k)}


def _always(name: str) -> bool:
    found = form().field(name)
    return found is not None and found.always_shown


def service_having(test: Callable[[str], bool], what: str) -> str:
    """The first service, in the order of ``valid_services()``, for which ``test`` holds; skips, saying
    ``what`` was looked for, when there is none (with the clock a year ahead, a fixture's dated window is past)."""
    for service in valid_services():
        if test(service):
            return service
    pytest.skip(f"no service of schema/ with a case valid at the tests' moment and the real one has {what}")


def service_with_rule(rule: str) -> str:
    """A service whose branch has a field that the rule ``rule`` (of ``x-rules``) checks."""

    def has_rule(service: str) -> bool:
        names = set(valid_data_of(service))
        return any(r.rule == rule and {r.field, r.other or r.field} <= names for r in form().rules)

    return service_having(has_rule, f"a field with the rule {rule!r}")


def valid_case_with_rule_at(rule: str, moment: datetime) -> dict[str, Any]:
    """The simplest valid case of tests/data/ accepted at ``moment`` alone (for tests that validate at the tests'
    moment only, so a dated window that is past on the real clock still counts) whose fields a ``rule`` checks."""
    found = []
    for path in fixture_paths():
        if skip_reason(path):
            continue
        for case in json.loads(path.read_text(encoding="utf-8"))["valid"]:
            data = case["data"]
            names = set(data)
            checked = any(r.rule == rule and {r.field, r.other or r.field} <= names for r in form().rules)
            if checked and accepted(data, moment):
                found.append((len(data), json.dumps(data, ensure_ascii=False, sort_keys=True), data))
    if not found:
        pytest.skip(f"no valid case in {FIXTURES} of a service of schema/ has a field with the rule {rule!r}")
    return dict(min(found, key=lambda entry: entry[:2])[2])


def requires_service(service: str, *more: str) -> pytest.MarkDecorator:
    """Skip a test of the shipped content about ``service`` (and ``more``) when schema/ no longer has it."""
    gone = [s for s in (service, *more) if s not in services()]
    return pytest.mark.skipif(bool(gone), reason=f"shipped content: the service(s) {gone} are not in schema/ any more")


def requires(condition: bool, content: str) -> pytest.MarkDecorator:
    """Skip a test of the shipped content unless ``condition`` holds: ``content`` says what it needs."""
    return pytest.mark.skipif(not condition, reason=f"shipped content: {content} is not in schema/ any more")


def _gone(service: Any) -> bool:
    """Whether ``service`` is a service the tests have cases of (tests/data/service-request/) that schema/ no
    longer has."""
    return isinstance(service, str) and (FIXTURES / f"{service}.json").exists() and service not in services()


def stand_in(data: Any) -> Any:
    """``data``, a document written for the shipped form, made to fit schema/ as it is: as it is while its
    service is in schema/; otherwise with that service and its own fields replaced by those of ``valid_data()``
    (the fields every service has, such as the subject, stay). A value that is not text, put there to be
    refused, stays, on the new service's field in the same place."""
    if not isinstance(data, dict) or not _gone(data.get(form().discriminator)):
        return data
    path = FIXTURES / f"{data[form().discriminator]}.json"
    # The gone service's own fields: those its valid cases have that not every service has.
    owned = {k for case in json.loads(path.read_text(encoding="utf-8"))["valid"] for k in case["data"]}
    new = [(k, v) for k, v in service_fields(a_service()).items() if k != form().discriminator]
    result: dict[str, Any] = {}
    own = 0
    for key, value in data.items():
        if key == form().discriminator:
            result[key] = a_service()
        elif _always(key) or key not in owned:
            result[key] = value
        else:
            name, usual = new[own] if own < len(new) else (key, None)
            own += 1
            if not isinstance(value, str):
                result[name] = value
            elif usual is not None:
                result[name] = usual
    result |= {k: v for k, v in new[own:]}
    return result


def stand_in_text(text: str) -> str:
    """A request body, well-formed or not, with each ``"data": {…}`` document in it made to fit schema/ as
    ``stand_in`` does; unchanged while the documents fit."""
    decoder = json.JSONDecoder()
    marker = '"data": '
    start = text.find(marker)
    while start != -1:
        at = start + len(marker)
        try:
            data, end = decoder.raw_decode(text, at)
        except ValueError:
            start = text.find(marker, at)
            continue
        fitted = stand_in(data)
        if fitted is not data:
            replacement = json.dumps(fitted)  # escaped, as a lone surrogate must stay
            text = text[:at] + replacement + text[end:]
            end = at + len(replacement)
        start = text.find(marker, end)
    return text
