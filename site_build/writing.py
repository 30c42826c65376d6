"""Renders every page with Jinja and writes the site, its scripts bundled and every file compressed beside it."""

from __future__ import annotations

import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined, TemplateError
from markupsafe import Markup

from handler.dialect import WIDGETS_DIR
from handler.schema.loader import SCHEMA_DIR, SchemaProblem, load_catalog
from site_assets import AssetError, bundle, compress_all
from site_build import OUT, STATIC, TEMPLATES, BuildError
from site_build.pages import pages


def svg_data_uri(svg: str) -> Markup:
    """An SVG image as a ``data:`` address, ready for an HTML attribute: its attribute values in single quotes, and
    percent-encoded only what a URL may not hold (so nothing an attribute would need escaped remains)."""
    text = " ".join(svg.replace('"', "'").split())
    return Markup("data:image/svg+xml," + quote(text, safe="!$'()*+,-./:;=?@_~"))


def environment(templates: Path = TEMPLATES) -> Environment:
    """Jinja with autoescaping and strict undefined variables, so a missing text fails the build. The pages and their
    components are in ``templates``; each widget's macro is ``widgets/<name>/macro.html``."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(templates), PrefixLoader({"widgets": FileSystemLoader(WIDGETS_DIR)})]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Page models as compact as JSON allows, their texts as written (so they repeat what the markup says).
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}
    return env


def build(
    out: Path = OUT,
    api_url: str = "",
    schema_dir: Path = SCHEMA_DIR,
    extra_forms: tuple[Path, ...] = (),
    templates: Path = TEMPLATES,
    upload_origin: str = "",
    desk_email: str = "",
    site_url: str = "",
) -> list[Path]:
    """Build the whole site into ``out`` (replaced as a whole) and return the files written."""
    try:
        catalog = load_catalog(schema_dir, extra_forms)
    except SchemaProblem as exc:
        raise BuildError("the schema has problems:\n  " + "\n  ".join(exc.problems)) from exc
    env = environment(templates)
    staging = Path(tempfile.mkdtemp(prefix=".site-", dir=out.parent if out.parent.exists() else None))
    try:
        written = pages(catalog, api_url, upload_origin, desk_email, site_url)
        scripts = sorted({context["script"] for _, context in written.values() if "script" in context})
        try:
            env.globals["assets"] = bundle(STATIC, staging, scripts)
        except AssetError as exc:
            raise BuildError(str(exc)) from exc
        env.globals["icon"] = svg_data_uri((STATIC / "favicon.svg").read_text(encoding="utf-8"))
        for relative, (template, context) in written.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_render(env, templates, template, context), encoding="utf-8")
        compress_all(staging)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(p for p in out.rglob("*") if p.is_file())


def _render(env: Environment, templates: Path, template: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(template).render(context)
    except TemplateError as exc:
        # Where in the templates (as "components/hint.html") or in a widget's macro ("widgets/text/macro.html").
        folders = {templates: Path(), WIDGETS_DIR: Path("widgets")}
        frames = [
            (named / Path(f.filename).relative_to(folder), f.lineno)
            for f in traceback.extract_tb(exc.__traceback__)
            for folder, named in folders.items()
            if Path(f.filename).is_relative_to(folder)
        ]
        where = f"{frames[-1][0]}:{frames[-1][1]}" if frames else template
        raise BuildError(f"{where}: {exc.message or exc}") from exc
