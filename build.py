"""Builds the static form site from schema/ into dist/site: one page per form and language."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from handler.dialect import WIDGETS_DIR, metaschema, widgets
from handler.schema.loader import SCHEMA_DIR
from site_assets import weights
from site_build import OUT, STATIC, TEMPLATES, BuildError
from site_build.fields import control_attributes, field_params, format_hint, page_fields, sign_in_fields
from site_build.models import (
    PAGE_TEXTS,
    SERVER_ONLY,
    conditions,
    conversation_model,
    field_model,
    form_model,
    page_model,
    reply_files,
    rule_model,
    summary_model,
)
from site_build.pages import LANDING, api_base, content_security_policy, pages
from site_build.writing import build, environment, svg_data_uri

__all__ = [
    "LANDING",
    "OUT",
    "PAGE_TEXTS",
    "SERVER_ONLY",
    "STATIC",
    "TEMPLATES",
    "BuildError",
    "api_base",
    "build",
    "conditions",
    "content_security_policy",
    "control_attributes",
    "conversation_model",
    "environment",
    "field_model",
    "field_params",
    "form_model",
    "format_hint",
    "main",
    "page_fields",
    "page_model",
    "pages",
    "reply_files",
    "rule_model",
    "sign_in_fields",
    "summary_model",
    "svg_data_uri",
]


def main(argv: list[str] | None = None) -> int:
    """Command line: build once, or keep rebuilding with --watch."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", default="", help="base address of the API (default: the site's own origin)")
    parser.add_argument(
        "--upload-origin", default="", help="origin of the bucket files are uploaded to (the stack's UploadOrigin)"
    )
    parser.add_argument(
        "--desk-email",
        default=os.environ.get("SDF_DESK_INBOX", ""),
        help="the service desk's address, offered where a page needs JavaScript (default: SDF_DESK_INBOX)",
    )
    parser.add_argument(
        "--site-url",
        default=os.environ.get("SDF_SITE_URL", ""),
        help="the site's public address, for absolute language links (default: SDF_SITE_URL)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: dist/site)")
    parser.add_argument("--schema", type=Path, default=SCHEMA_DIR, help="schema folder (default: schema/)")
    parser.add_argument("--watch", action="store_true", help="rebuild whenever the schema, templates or assets change")
    args = parser.parse_args(argv)

    def once() -> bool:
        try:
            written = build(
                args.out,
                args.api_url,
                args.schema,
                upload_origin=args.upload_origin,
                desk_email=args.desk_email,
                site_url=args.site_url,
            )
        except BuildError as exc:
            print(f"build.py: error: {exc}", file=sys.stderr)
            return False
        print(f"built {len(written)} files into {args.out}")
        for page, cost in weights(args.out).items():
            print(f"  {page}: {cost.gzip_bytes / 1024:.1f} KB gzip in {cost.requests} requests")
        return True

    ok = once()
    if not args.watch:
        return 0 if ok else 1
    from watchfiles import watch

    print("watching schema/ and site/ for changes (Ctrl+C to stop)")
    try:
        for _ in watch(args.schema, TEMPLATES, STATIC, WIDGETS_DIR):
            widgets.cache_clear()  # a widget.json may have changed
            metaschema.cache_clear()
            once()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
