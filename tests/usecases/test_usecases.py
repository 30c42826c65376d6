"""The use cases without HTTP: what they refuse and why, and the one mapping of refusals onto answers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from handler.api.problems import HANDLED, STATUS, problem_body, problem_of
from handler.codes import Code
from handler.refusals import Refused
from handler.schema.catalog import Catalog
from handler.services import build_services
from handler.settings import Settings
from handler.storage.base import IdempotencyConflict
from handler.storage.local import LocalStore
from handler.texts import API_CODES
from handler.usecases import following, signing_in
from handler.usecases.submitting import NewRequest, submit
from tests.helpers.accounts import AUTHORIZED, SECRET, register
from tests.helpers.clock import NOW, Clock
from tests.helpers.shipped import valid_data

PLAIN = [Path("handler/refusals.py"), *Path("handler/usecases").glob("*.py")]
VALID = valid_data(subject="S", description="D")


@pytest.mark.parametrize("path", PLAIN, ids=str)
def test_the_use_cases_know_nothing_of_http(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    web = {n for n in imported if n.split(".")[0] in ("fastapi", "starlette", "mangum") or n.startswith("handler.ap")}
    assert not web


# Every use case takes only the ports it uses (a frozen dataclass the container builds, or plain parameters),
# never the whole container (docs/architecture.md).
BY_PORTS = sorted(p.stem for p in Path("handler/usecases").glob("*.py") if p.stem != "__init__")


# Only the entry points (with the command line's commands) and the routes reach for the container; below them,
# nothing imports it.
ENTRY = {"app", "cli", "lambda_entry", "serve", "services"}
BELOW = sorted(
    str(p)
    for p in Path("handler").rglob("*.py")
    if not {"api", "commands"} & set(p.parts) and not (p.parent == Path("handler") and p.stem in ENTRY)
)


@pytest.mark.parametrize("path", BELOW)
def test_nothing_below_the_routes_imports_the_container(path: str) -> None:
    tree = ast.parse(Path(path).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "handler.services" not in imported


# The schema's modules import one another downwards only, and nothing of HTTP, the use cases or the container
# (docs/architecture.md); a name needed only for a type (under TYPE_CHECKING) does not count.
SCHEMA_MODULES = ["values", "wording", "model", "catalog", "lint", "fields", "loader"]


@pytest.mark.parametrize("name", SCHEMA_MODULES)
def test_the_schema_modules_import_only_those_above_them(name: str) -> None:
    tree = ast.parse(Path(f"handler/schema/{name}.py").read_text())
    imported = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    for node in (n for n in tree.body if isinstance(n, ast.ImportFrom)):
        imported |= {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
    layers = ("fastapi", "starlette", "mangum", "handler.api", "handler.usecases", "handler.services")
    assert not {n for n in imported if n.startswith(layers)}
    below = {f"handler.schema.{m}" for m in SCHEMA_MODULES[SCHEMA_MODULES.index(name) :]}
    assert not imported & below


@pytest.mark.parametrize("name", BY_PORTS)
def test_a_use_case_that_takes_its_ports_never_reaches_for_the_container(name: str) -> None:
    tree = ast.parse(Path(f"handler/usecases/{name}.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "handler.services" not in imported
    taking = {
        a.annotation.id
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for a in node.args.args
        if isinstance(a.annotation, ast.Name)
    }
    assert "Services" not in taking


# One reason to change per module: no module of the handler or of the site's build (build.py, site_build/,
# site_assets.py) is longer than MAX_MODULE_LINES lines, and no function longer than MAX_FUNCTION_LINES
# (docs/architecture.md). A function that is mostly a data literal may be longer: it is named in DATA_LITERALS
# (``path:function``) with what its literal holds. Nothing else belongs there.
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
DATA_LITERALS: dict[str, str] = {}
SITE_BUILD_MODULES = ["build.py", "site_assets.py", *(str(p) for p in Path("site_build").rglob("*.py"))]
MODULES = sorted([*(str(p) for p in Path("handler").rglob("*.py")), *SITE_BUILD_MODULES])


@pytest.mark.parametrize("path", MODULES)
def test_no_module_or_function_of_the_handler_or_the_site_build_is_too_long(path: str) -> None:
    text = Path(path).read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, "split the module by responsibility"
    spans = {
        f"{path}:{node.name}": (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    too_long = {name: lines for name, lines in spans.items() if lines > MAX_FUNCTION_LINES}
    assert too_long.keys() <= DATA_LITERALS.keys(), "split the function, or move its literal to module-level data"


def test_every_data_literal_allowed_to_be_long_still_is() -> None:
    for name in DATA_LITERALS:
        path, function = name.split(":")
        tree = ast.parse(Path(path).read_text())
        spans = [
            (node.end_lineno or node.lineno) - node.lineno + 1
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        ]
        assert spans and max(spans) > MAX_FUNCTION_LINES, f"{name} is short now: take it off DATA_LITERALS"


def test_every_problem_code_has_a_status_and_a_message_in_every_language(catalog: Catalog) -> None:
    assert set(STATUS) <= set(API_CODES) and set(STATUS) == {code.value for code in Code}
    for language in catalog.languages:
        for code in Code:
            body = problem_body(
                catalog, language, problem_of(Refused(code, params={"types": "X", "reference": "SR-TEST-0001"}))
            )
            assert body["status"] == code.status == STATUS[code] and body["detail"] and "{" not in body["detail"]
            assert body["code"] == code.value


def test_each_exception_a_route_raises_on_purpose_is_a_4xx_or_a_503() -> None:
    for kind in HANDLED:
        if kind is Refused:
            exception: Exception = kind(Code.VALIDATION_FAILED)
        elif kind is IdempotencyConflict:
            exception = kind("key", "SR-TEST-0001")
        else:
            exception = kind()
        assert 400 <= problem_of(exception).status < 500 or problem_of(exception).status == 503
    assert problem_of(RuntimeError("anything else")).status == 500


def test_submitting_checks_who_sends_before_anything_is_stored(tmp_path: Path, catalog: Catalog) -> None:
    store = LocalStore(tmp_path)
    services = build_services(Settings(data_dir=tmp_path, session_secret=SECRET), catalog, store, clock=Clock(NOW))
    register(store.contacts, "viewer@example.no", "technical-contact")
    allowed = catalog.common["en"]["contactTypes"]["authorized-for-change"]
    with pytest.raises(Refused) as refused:
        submit(services.submitting, NewRequest({"form": "service-request", "data": VALID}, "viewer@example.no", "en"))
    assert refused.value.code == "not_authorized" and refused.value.params["types"] == allowed
    assert following.my_requests(services.following, "viewer@example.no", 10, None) == ([], None)

    register(store.contacts, AUTHORIZED, "authorized-for-change")
    receipt, created = submit(
        services.submitting, NewRequest({"form": "service-request", "data": VALID}, AUTHORIZED, "en")
    )
    assert created and following.my_request(services.following, AUTHORIZED, receipt.request_id)["data"] == VALID
    with pytest.raises(Refused) as missing:  # someone else's request is not there for them
        following.my_request(services.following, "viewer@example.no", receipt.request_id)
    assert missing.value.code == "not_found"


def test_sign_in_input_is_checked_before_any_code_is_looked_at(catalog: Catalog) -> None:
    with pytest.raises(Refused) as refused:
        signing_in.checked_code("12345", catalog, "nb")
    assert refused.value.code == "validation_failed" and refused.value.errors[0].path == "/code"
    assert signing_in.checked_code(" 123456 ", catalog, "nb") == "123456"
    assert signing_in.checked_email(" kari@example.no ", catalog, "nb") == "kari@example.no"
