"""Benchmark of build.py: the shipped site, and generated forms of 25, 50 and 100 services side by side.

    python bench/bench_build.py [--runs 7]

Each generated form copies the shipped one and adds services with a number, a several-of-several
choice and a date range each (three fields and a rule per service), in every language. The time is
the whole of ``build.build`` (loading and checking the catalog, rendering, writing) in this process,
the median of ``--runs`` runs after one uncounted warm-up. "Per service" ratios near 1 mean the
build grows linearly with the size of the form.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import build  # noqa: E402
from handler.schema.loader import SCHEMA_DIR, load_catalog  # noqa: E402


def generated_schema(target: Path, services: int) -> Path:
    """A copy of schema/ whose service request has ``services`` extra services."""
    root = target / f"schema-{services}"
    shutil.copytree(SCHEMA_DIR, root)
    form_file = root / "forms" / "service-request.schema.json"
    schema = json.loads(form_file.read_text(encoding="utf-8"))
    languages = load_catalog().languages
    texts = {lang: json.loads((root / "forms" / f"service-request.{lang}.json").read_text()) for lang in languages}
    for index in range(services):
        name = f"extra-{index}"
        fields: dict[str, Any] = {
            f"count_{index}": {"type": "integer", "minimum": 1, "maximum": 500},
            f"topics_{index}": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
            f"from_{index}": {"$ref": "#/$defs/date"},
            f"to_{index}": {"$ref": "#/$defs/date"},
        }
        schema["properties"]["service"]["enum"].append(name)
        schema["allOf"].append(
            {
                "if": {"properties": {"service": {"const": name}}, "required": ["service"]},
                "then": {"required": list(fields), "properties": fields},
            }
        )
        schema["x-rules"].append({"rule": "not-before", "field": f"to_{index}", "other": f"from_{index}"})
        for lang in languages:
            own = texts[lang]["fields"]
            own["service"]["options"][name] = f"Service {index}"
            own["description"]["categoryHints"][name] = f"Hint {index}"
            for field in fields:
                own[field] = {"label": field.replace("_", " ")}
            own[f"topics_{index}"]["options"] = {"a": "A", "b": "B", "c": "C"}
    form_file.write_text(json.dumps(schema), encoding="utf-8")
    for lang in languages:
        (root / "forms" / f"service-request.{lang}.json").write_text(json.dumps(texts[lang]), encoding="utf-8")
    return root


def timed_build(schema: Path, out: Path, runs: int) -> float:
    """The median seconds of ``runs`` builds, after one uncounted build."""
    build.build(out, schema_dir=schema)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        build.build(out, schema_dir=schema)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = [("shipped schema (7 services)", 7, timed_build(SCHEMA_DIR, work / "site", args.runs))]
        for services in (25, 50, 100):
            seconds = timed_build(generated_schema(work, services), work / "site", args.runs)
            rows.append((f"{services} extra services", 7 + services, seconds))
    base = rows[1][2] / rows[1][1]
    print(f"{'what':<30} {'services':>8} {'seconds':>8} {'per service vs 25 extra':>24}")
    for what, services, seconds in rows:
        print(f"{what:<30} {services:>8} {seconds:>8.3f} {seconds / services / base:>24.2f}")
    growth = rows[3][2] / rows[2][2]
    print(f"100 extra vs 50 extra: {growth:.2f}x the time for {rows[3][1] / rows[2][1]:.2f}x the services")
    return 0


if __name__ == "__main__":
    sys.exit(main())
