"""A copy of schema/ to edit, and the problems its loading names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from handler.schema.loader import SCHEMA_DIR, SchemaProblem, load_catalog


def copy_schema(tmp_path: Path) -> Path:
    target = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def problems_of(root: Path) -> list[str]:
    with pytest.raises(SchemaProblem) as raised:
        load_catalog(root)
    return raised.value.problems
