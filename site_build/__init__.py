"""The parts of ``build.py``: the fields' params (``fields``), the pages' script models (``models``), every page with
its template and context (``pages``), and the rendering and writing of the site (``writing``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "site" / "templates"
STATIC = ROOT / "site" / "static"
OUT = ROOT / "dist" / "site"


class BuildError(Exception):
    """The site cannot be built; the message says what and where."""
