"""The Lambda deployment zip from scripts/package_lambda.py: contents, reproducibility, bytecode, and that it runs."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handler.schema.loader import COMPILED, compile_catalog, load_catalog
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.packaging  # each test builds a zip or a wheel

SCRIPT = ROOT / "scripts" / "package_lambda.py"
EVENT = ROOT / "tests" / "events" / "http-api-v2.json"
HERE = f"python{sys.version_info.major}.{sys.version_info.minor}"  # a runtime this interpreter can compile for
OTHER = "python3.12" if HERE != "python3.12" else "python3.11"  # one it cannot
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # ELF e_machine: EM_AARCH64, EM_X86_64
NATIVE_ARCH = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}.get(
    platform.machine().lower()
)
AWS_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3")

# Run by the interpreter the bytecode was written for: checks each .pyc in the zip as the import system
# would (PEP 552 header: magic, flags, source hash) and where its code says it came from.
CHECK_BYTECODE = r"""
import importlib.util, json, marshal, sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
names = set(archive.namelist())
report = {"tag": sys.implementation.cache_tag, "pyc": 0, "sources": 0, "missing": [], "problems": []}
for name in sorted(names):
    if name.endswith(".py"):
        report["sources"] += 1
        folder, _, module = name.rpartition("/")
        cache = (folder + "/" if folder else "") + "__pycache__/"
        pyc = cache + module[:-3] + "." + sys.implementation.cache_tag + ".pyc"
        if pyc not in names:
            report["missing"].append(name)
    if not name.endswith(".pyc"):
        continue
    report["pyc"] += 1
    data = archive.read(name)
    folder, _, file = name.rpartition("__pycache__/")
    source_name = folder + file.split(".")[0] + ".py"
    flags = int.from_bytes(data[4:8], "little")
    if data[:4] != importlib.util.MAGIC_NUMBER:
        report["problems"].append(f"{name}: magic {data[:4].hex()} is not this interpreter's")
    elif flags & 1 == 0:
        report["problems"].append(f"{name}: timestamp-based, flags {flags}")
    elif source_name not in names:
        report["problems"].append(f"{name}: no source {source_name}")
    elif data[8:16] != importlib.util.source_hash(archive.read(source_name)):
        report["problems"].append(f"{name}: hash does not match {source_name}")
    elif marshal.loads(data[16:]).co_filename != "/var/task/" + source_name:
        report["problems"].append(f"{name}: compiled as {marshal.loads(data[16:]).co_filename}")
print(json.dumps(report))
"""

# Run with -S (no site-packages) from the unpacked zip: imports the entry point and serves two events, a
# health check and a submission without a session (which the whole app, schema included, must refuse).
SERVE_EVENTS = r"""
import copy, json, sys
root, event_file = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
from handler.lambda_entry import handler
submission = json.load(open(event_file, encoding="utf-8"))
health = copy.deepcopy(submission)
health["rawPath"] = health["requestContext"]["http"]["path"] = "/v1/health"
health["requestContext"]["http"]["method"] = "GET"
health["body"] = ""
del health["headers"]["content-length"], health["headers"]["content-type"]
answers = [handler(event, None) for event in (health, submission)]
outside = sorted(
    name for name, module in sys.modules.items()
    if name.split(".")[0] in ("fastapi", "pydantic_core", "handler", "jsonschema", "mangum", "starlette")
    and not (getattr(module, "__file__", None) or root).startswith(root)
)
print(json.dumps({"answers": [[a["statusCode"], json.loads(a["body"])] for a in answers], "outside": outside}))
"""


@dataclass(frozen=True)
class Build:
    """One run of the packaging script: the zip it wrote and what it printed."""

    zip: Path
    stdout: str

    def names(self) -> list[str]:
        """The zip's entry names, in the zip's order."""
        with zipfile.ZipFile(self.zip) as archive:
            return archive.namelist()

    def sha256(self) -> str:
        """The zip's digest."""
        return hashlib.sha256(self.zip.read_bytes()).hexdigest()


def package(out: Path, *args: str) -> Build:
    """Run the packaging script as a person would; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(f"package_lambda.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return Build(out, result.stdout)


def check_bytecode(zip_path: Path, python: str) -> dict[str, Any]:
    """The bytecode report of ``CHECK_BYTECODE``, run by ``python``."""
    result = subprocess.run([python, "-c", CHECK_BYTECODE, str(zip_path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def python_of(version: str) -> str | None:
    """An interpreter of ``version`` (``3.12``) on this machine, if there is one that runs."""
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), shutil.which(f"python{version}") or ""]
    candidates += [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True)
        if probe.returncode == 0 and probe.stdout.decode().split() == version.split("."):
            return candidate
    return None


@pytest.fixture(scope="module")
def here_arm64(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return package(tmp_path_factory.mktemp("first") / "lambda.zip", "--runtime", HERE, "--arch", "arm64")


@pytest.fixture(scope="module")
def here_arm64_again(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return package(tmp_path_factory.mktemp("second") / "lambda.zip", "--runtime", HERE, "--arch", "arm64")


@pytest.fixture(scope="module")
def other_arm64(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return package(tmp_path_factory.mktemp("other") / "lambda.zip", "--runtime", OTHER, "--arch", "arm64")


def test_same_inputs_give_the_same_bytes(here_arm64: Build, here_arm64_again: Build) -> None:
    assert here_arm64.sha256() == here_arm64_again.sha256()


def test_zip_holds_the_entry_point_the_schema_and_the_dependencies(here_arm64: Build) -> None:
    names = set(here_arm64.names())
    assert {"handler/lambda_entry.py", "handler/app.py", "schema/catalog.json"} <= names
    # The catalog is checked when the package is built and shipped compiled, not as its sources.
    assert "schema/forms/service-request.schema.json" not in names
    for package_dir in ("fastapi/", "mangum/", "jsonschema/", "starlette/", "pydantic/", "pydantic_core/"):
        assert package_dir in names, package_dir
    assert "handler/serve.py" not in names  # the local server imports uvicorn, which Lambda does not get


def test_compiled_extensions_are_built_for_the_target(here_arm64: Build, other_arm64: Build) -> None:
    for build, runtime in ((here_arm64, HERE), (other_arm64, OTHER)):
        tag = runtime.removeprefix("python").replace(".", "")
        extensions = [n for n in build.names() if n.endswith(".so")]
        assert any(n.startswith("pydantic_core/") and "aarch64" in n for n in extensions), extensions
        with zipfile.ZipFile(build.zip) as archive:
            for name in extensions:
                header = archive.read(name)[:20]
                assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == ELF_MACHINES["arm64"]
                assert f"cpython-{tag}-" in name or ".abi3." in name, name


def test_the_runtime_provides_the_aws_sdk(here_arm64: Build) -> None:
    tops = {name.split("/")[0].split("-")[0].lower() for name in here_arm64.names()}
    assert not tops & set(AWS_SDK)


def test_nothing_of_the_build_machine_is_shipped(here_arm64: Build) -> None:
    names = here_arm64.names()
    assert not [n for n in names if n.startswith("bin/") or n.endswith("/RECORD") or "/tests/" in n]
    assert not [n for n in names if n.endswith(".pyc") and ".cpython-" not in n]


def test_entries_are_sorted_with_fixed_times_and_modes(here_arm64: Build) -> None:
    with zipfile.ZipFile(here_arm64.zip) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.create_system for i in infos} == {3}
    assert {(i.external_attr >> 16) for i in infos if i.is_dir()} == {0o040755}
    assert {(i.external_attr >> 16) for i in infos if not i.is_dir()} == {0o100644}
    assert {i.compress_type for i in infos if not i.is_dir()} == {zipfile.ZIP_DEFLATED}


def test_bytecode_is_hash_based_for_this_interpreter_and_matches_each_source(here_arm64: Build) -> None:
    report = check_bytecode(here_arm64.zip, sys.executable)
    assert report["problems"] == []
    assert report["missing"] == []
    assert report["pyc"] == report["sources"] and report["sources"] > 100


def test_a_runtime_of_another_version_gets_sources_only_and_a_note(other_arm64: Build) -> None:
    assert not [n for n in other_arm64.names() if n.endswith(".pyc") or "__pycache__" in n]
    assert "no bytecode" in other_arm64.stdout and OTHER in other_arm64.stdout


def test_the_summary_reports_the_real_size_and_contents(here_arm64: Build) -> None:
    size = here_arm64.zip.stat().st_size
    files = sum(1 for n in here_arm64.names() if not n.endswith("/"))
    assert f"{size:,} bytes" in here_arm64.stdout
    assert f"{size / 1_000_000:.2f} MB" in here_arm64.stdout
    assert f"files:     {files} " in here_arm64.stdout
    rows = {
        line.split()[0] for line in here_arm64.stdout.splitlines() if line.startswith("  ") and len(line.split()) == 4
    }
    assert {"handler", "schema", "fastapi", "pydantic_core", "*.dist-info"} <= rows
    assert here_arm64.sha256() in here_arm64.stdout


@pytest.mark.skipif(NATIVE_ARCH is None, reason=f"no Lambda architecture matches this machine ({platform.machine()})")
def test_the_unpacked_zip_serves_events_on_its_own_from_its_bytecode(tmp_path: Path) -> None:
    build = package(tmp_path / "native.zip", "--runtime", HERE, "--arch", str(NATIVE_ARCH))
    task_root = tmp_path / "task"
    with zipfile.ZipFile(build.zip) as archive:
        archive.extractall(task_root)
    environment = {"PATH": os.environ.get("PATH", ""), "SDF_DATA_DIR": str(tmp_path / "data"), "LANG": "C.UTF-8"}
    # -S: no site-packages, so everything must come from the zip; -B: nothing written next to it.
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-v", "-c", SERVE_EVENTS, str(task_root), str(EVENT)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    outcome = json.loads(result.stdout.splitlines()[-1])
    (health_status, health), (submit_status, refused) = outcome["answers"]
    assert (health_status, health) == (200, {"status": "ok"})
    assert (submit_status, refused["code"]) == (401, "sign_in_required")
    assert outcome["outside"] == []
    # -v logs "code object from '<pyc>'" for a module read from bytecode, "code object from <py>" for one compiled.
    logged = [line.removeprefix("# code object from ") for line in result.stderr.splitlines()]
    root = str(task_root)
    from_bytecode = [path for path in logged if path.startswith(f"'{root}") and path.endswith(".pyc'")]
    compiled = [path for path in logged if path.startswith(root) and path.endswith(".py")]
    assert compiled == []
    assert len(from_bytecode) >= 100


@pytest.mark.skipif(python_of("3.12") is None, reason="no Python 3.12 interpreter on this machine (LAMBDA_PYTHON)")
def test_a_matching_interpreter_writes_bytecode_for_python312(tmp_path: Path) -> None:
    python312 = str(python_of("3.12"))
    build = package(tmp_path / "lambda.zip", "--runtime", "python3.12", "--python", python312)
    report = check_bytecode(build.zip, python312)
    assert report["tag"] == "cpython-312"
    assert report["problems"] == [] and report["missing"] == []
    assert report["pyc"] == report["sources"] and report["sources"] > 100


# Run from the folder the wheel was installed into: the handler found there (not the work tree's) takes a
# code request against the compiled catalog and data folder it is told about, as on Lambda.
SERVE_FROM_WHEEL = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
import handler.app
from fastapi.testclient import TestClient
from handler.settings import Settings
assert handler.app.__file__.startswith(sys.argv[1]), handler.app.__file__
client = TestClient(handler.app.create_app(Settings.from_env()))
answer = client.post("/v1/session/code", json={"email": "kari@example.no"}, headers={"Accept-Language": "en"})
print(answer.status_code)
"""


def test_the_wheel_installs_and_serves(tmp_path: Path) -> None:
    wheels, target, source = tmp_path / "wheels", tmp_path / "site-packages", tmp_path / "source"
    # Built from a copy, so the build's own folders stay out of the work tree.
    shutil.copytree(ROOT / "handler", source / "handler", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("servicedesk_forms-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
    )
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / COMPILED).write_text(json.dumps(compile_catalog(load_catalog())), encoding="utf-8")
    environment = {
        **os.environ,
        "SDF_SCHEMA_DIR": str(catalog),
        "SDF_DATA_DIR": str(tmp_path / "data"),
        "SDF_CODE_ANSWER_SECONDS": "0",
    }
    served = subprocess.run(
        [sys.executable, "-c", SERVE_FROM_WHEEL, str(target)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == "202"
