"""The language of an answer: the ``lang`` parameter if supported, else the best of ``Accept-Language``."""

from __future__ import annotations

from fastapi import Request

from handler.schema.catalog import Catalog


def supported(catalog: Catalog, requested: str | None) -> str | None:
    """The supported language for a tag like ``nb-NO`` or ``en``, or None."""
    if not requested:
        return None
    tag = requested.strip().lower().replace("_", "-")
    for candidate in (tag, tag.split("-")[0]):
        candidate = catalog.language_aliases.get(candidate, candidate)
        if candidate in catalog.languages:
            return candidate
    return None


def negotiate(catalog: Catalog, accept_language: str | None) -> str:
    """The best supported language for an ``Accept-Language`` header, else the default."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0 and (language := supported(catalog, tag)):
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else catalog.default_language


def language_of(request: Request) -> str:
    """The language to answer in: the ``lang`` parameter if supported, else ``Accept-Language``."""
    catalog: Catalog = request.app.state.services.catalog
    return supported(catalog, request.query_params.get("lang")) or negotiate(
        catalog, request.headers.get("accept-language")
    )
