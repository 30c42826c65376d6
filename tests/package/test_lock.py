"""The locks in requirements/: made from pyproject.toml as it is, every file hashed, one set of versions,
installed by make and by the Lambda packaging, and a stale lock refused."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.paths import ROOT

LOCKS = {name: ROOT / "requirements" / f"{name}.txt" for name in ("test", "run", "lambda")}
SCRIPT = ROOT / "scripts" / "package_lambda.py"


@pytest.fixture(scope="module")
def packager() -> ModuleType:
    """scripts/package_lambda.py as a module."""
    spec = importlib.util.spec_from_file_location("package_lambda", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def entries(lock: Path) -> dict[str, list[str]]:
    """Each requirement line of a lock (``name==version ; marker``) with the hashes that follow it."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in lock.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0].isspace():
            found[current] += re.findall(r"--hash=sha256:([0-9a-f]{64})", stripped)
        else:
            current = stripped.rstrip(" \\")
            found[current] = []
    return found


def pins(lock: Path) -> dict[str, str]:
    """``name: version`` of every unconditional pin in a lock."""
    return {
        re.sub(r"[-_.]+", "-", requirement.split("==")[0]).lower(): requirement.split("==")[1]
        for requirement in entries(lock)
        if ";" not in requirement
    }


@pytest.mark.parametrize("name", LOCKS)
def test_each_lock_was_made_from_pyproject_as_it_is(packager: ModuleType, name: str) -> None:
    project = packager.project_table(ROOT / "pyproject.toml")
    assert packager.lock_problems(LOCKS[name], project) == [], "run `make lock` and commit requirements/"


@pytest.mark.parametrize("name", LOCKS)
def test_every_requirement_is_one_version_with_its_files_hashes(name: str) -> None:
    found = entries(LOCKS[name])
    assert found
    for requirement, hashes in found.items():
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;]+( ; .+)?", requirement), requirement
        assert hashes, f"{requirement} has no hash"


def test_the_zip_and_make_run_get_the_versions_the_tests_run_with() -> None:
    tested = pins(LOCKS["test"])
    for name in ("run", "lambda"):
        locked = pins(LOCKS[name])
        assert {package: tested.get(package) for package in locked} == locked, name


def test_the_lambda_lock_has_no_environment_markers() -> None:
    # pip evaluates markers for the machine that packages, not for the --platform/--python-version it
    # installs for; without markers, what the zip gets cannot depend on where it was built.
    assert [requirement for requirement in entries(LOCKS["lambda"]) if ";" in requirement] == []


def test_the_lambda_lock_holds_the_runtime_dependencies_and_not_the_sdk() -> None:
    with (ROOT / "pyproject.toml").open("rb") as stream:
        declared = tomllib.load(stream)["project"]["dependencies"]
    locked = pins(LOCKS["lambda"])
    for requirement in declared:
        assert re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower() in locked
    assert not {"boto3", "botocore", "uvicorn", "pytest"} & set(locked)


def test_make_installs_from_the_locks_with_their_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for lock in ("requirements/run.txt", "requirements/test.txt"):
        assert f"pip install --quiet --require-hashes -r {lock}" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
    assert 'pip install --quiet -e "' not in makefile  # nothing resolved afresh


# A stale lock is refused -----------------------------------------------------------------------------------


def test_packaging_refuses_a_lock_made_from_other_dependencies(tmp_path: Path) -> None:
    lock = tmp_path / "lambda.txt"
    text = LOCKS["lambda"].read_text(encoding="utf-8")
    lock.write_text(re.sub(r"(sha256 )[0-9a-f]{64}", r"\g<1>" + "0" * 64, text), encoding="utf-8")
    out = tmp_path / "lambda.zip"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--lock", str(lock), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "the lock is stale" in result.stderr and "make lock" in result.stderr
    assert "have changed since" in result.stderr
    assert not out.exists()


def test_packaging_refuses_a_lock_after_pyproject_gains_a_dependency(packager: ModuleType, tmp_path: Path) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    changed = pyproject.replace('  "filetype>=1.2",\n', '  "filetype>=1.2",\n  "cowsay>=6.0",\n')
    assert changed != pyproject
    (tmp_path / "pyproject.toml").write_text(changed, encoding="utf-8")
    with pytest.raises(packager.PackagingError) as refused:
        packager.build(tmp_path / "lambda.zip", packager.RUNTIMES["python3.12"], "arm64", sys.executable, root=tmp_path)
    message = str(refused.value)
    assert "have changed since" in message and "does not pin cowsay" in message and "make lock" in message
    assert not (tmp_path / "lambda.zip").exists()


def test_a_lock_that_does_not_say_what_it_was_made_from_is_refused(packager: ModuleType, tmp_path: Path) -> None:
    lock = tmp_path / "lambda.txt"
    lines = LOCKS["lambda"].read_text(encoding="utf-8").splitlines()
    lock.write_text("\n".join(line for line in lines if not line.startswith(packager.LOCK_STAMP)), encoding="utf-8")
    project = packager.project_table(ROOT / "pyproject.toml")
    assert packager.lock_problems(lock, project) == [
        f"{lock} does not say which pyproject.toml dependencies it was made from"
    ]
    assert packager.lock_problems(tmp_path / "missing.txt", project) == [f"{tmp_path / 'missing.txt'} does not exist"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check-lock", "--lock", str(lock)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "make lock" in result.stderr


def test_stamping_a_lock_records_the_dependencies_once(packager: ModuleType, tmp_path: Path) -> None:
    lock = tmp_path / "lambda.txt"
    lock.write_text(LOCKS["lambda"].read_text(encoding="utf-8"), encoding="utf-8")
    project = packager.project_table(ROOT / "pyproject.toml")
    packager.stamp_lock(lock, project)
    packager.stamp_lock(lock, project)
    text = lock.read_text(encoding="utf-8")
    assert text == LOCKS["lambda"].read_text(encoding="utf-8")
    assert text.count(packager.LOCK_STAMP) == 1
    assert packager.lock_problems(lock, project) == []
