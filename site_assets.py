"""The site's scripts and stylesheet as browsers get them: one minified bundle per page and one minified
stylesheet, named by their content's hash, each with a ``.gz`` and a ``.br`` beside it; and what a page costs."""

from __future__ import annotations

import functools
import gzip
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import brotli

ROOT = Path(__file__).resolve().parent
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
STYLESHEET = "style.css"
COMPRESSED = (".html", ".js", ".css", ".svg", ".json")


def used_texts(texts_js: Path) -> dict[str, list[str]]:
    """The texts each page's code asks for, by page, as ``texts.js`` lists them (``USED``), read with Node."""
    return _used_texts(texts_js, texts_js.stat().st_mtime_ns)  # read again once the file changes (build --watch)


@functools.cache
def _used_texts(texts_js: Path, _changed: int) -> dict[str, list[str]]:
    node = shutil.which("node")
    if node is None:
        raise AssetError("Node.js is needed to build the site: install Node.js 20 or newer")
    script = f"import {{ USED }} from {json.dumps(texts_js.resolve().as_uri())}; console.log(JSON.stringify(USED));"
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssetError(f"reading USED from {texts_js.name} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def only(source: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The part of ``source`` at the dotted ``paths`` ("signIn.codeSent"), shaped as in ``source``."""
    kept: dict[str, Any] = {}
    for path in paths:
        *parents, last = path.split(".")
        node, into = source, kept
        for part in parents:
            node = node.get(part, {})
            into = into.setdefault(part, {})
        if last in node:
            into[last] = node[last]
    return kept


def lacking(source: Mapping[str, Any], paths: list[str]) -> list[str]:
    """The dotted ``paths`` that ``source`` has no text or section at."""
    found = []
    for path in paths:
        node: Any = source
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            found.append(path)
    return found


class AssetError(Exception):
    """The assets cannot be bundled; the message says why."""


@dataclass(frozen=True)
class Assets:
    """Where the bundles went, relative to the site's root: per page script (``form.js``) its bundle."""

    scripts: dict[str, str]
    stylesheet: str


def bundle(static: Path, site: Path, scripts: list[str]) -> Assets:
    """Bundle each page script of ``static`` with what it imports, and the stylesheet, into ``site/static``."""
    if not ESBUILD.exists():
        raise AssetError(f"{ESBUILD.relative_to(ROOT)} is missing: run 'npm ci' (make run and make test do)")
    with tempfile.TemporaryDirectory() as scratch:
        meta = Path(scratch) / "meta.json"
        command = [
            str(ESBUILD),
            *(str(static / name) for name in [*scripts, STYLESHEET]),
            "--bundle",
            "--minify",
            "--format=esm",
            "--charset=utf8",
            "--legal-comments=none",
            "--entry-names=[name].[hash]",
            f"--outdir={site / 'static'}",
            f"--metafile={meta}",
            "--log-level=error",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssetError(f"esbuild failed:\n{done.stderr.strip()}")
        outputs = json.loads(meta.read_text(encoding="utf-8"))["outputs"]
    by_entry = {Path(o["entryPoint"]).name: Path(path).resolve() for path, o in outputs.items() if "entryPoint" in o}
    found = {name: by_entry[name].relative_to(site.resolve()).as_posix() for name in [*scripts, STYLESHEET]}
    return Assets(scripts={name: found[name] for name in scripts}, stylesheet=found[STYLESHEET])


def compress_all(site: Path) -> None:
    """Write ``name.gz`` and ``name.br`` beside every page and asset, for servers that send them as they are."""
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix in COMPRESSED:
            raw = path.read_bytes()
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
            path.with_name(path.name + ".br").write_bytes(brotli.compress(raw, quality=11))


@dataclass(frozen=True)
class Weight:
    """What loading a page costs a first-time visitor: its requests and their bytes, gzip-compressed."""

    requests: int
    gzip_bytes: int


class _Loads(HTMLParser):
    """The addresses a page makes the browser fetch: scripts, stylesheets, icons, preloads and images."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        address = values.get("src") if tag in ("script", "img") else values.get("href") if tag == "link" else None
        if tag == "link" and not {"stylesheet", "icon", "modulepreload", "preload"} & set(
            (values.get("rel") or "").split()
        ):
            return
        if address and not address.startswith("data:"):
            self.found.append(address)


def weight(site: Path, page: str) -> Weight:
    """The requests and gzip bytes of the page at ``page`` (``nb/service-request/index.html``) in ``site``."""
    html = site / page
    parser = _Loads()
    parser.feed(html.read_text(encoding="utf-8"))
    files = [html, *((html.parent / address).resolve() for address in parser.found)]
    return Weight(requests=len(files), gzip_bytes=sum(len(gzip.compress(f.read_bytes(), 9, mtime=0)) for f in files))


def weights(site: Path) -> dict[str, Weight]:
    """Every page's weight, by its path in the site."""
    return {p.relative_to(site).as_posix(): weight(site, p.relative_to(site).as_posix()) for p in pages_of(site)}


def pages_of(site: Path) -> list[Path]:
    """The site's pages."""
    return sorted(site.rglob("*.html"))
