"""The built site, parsed as HTML: fields, labels, ids and ARIA links; and the build's own failures."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import brotli
import pytest
from bs4 import BeautifulSoup, Tag
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

import build
import site_assets
from handler import serve
from handler.schema.catalog import Catalog
from handler.schema.loader import load_catalog
from handler.schema.values import option_key
from handler.texts import fill
from site_build.fields import page_fields
from tests.helpers.clock import NOW
from tests.helpers.paths import ROOT
from tests.helpers.schema_copies import copy_schema, edit
from tests.helpers.shipped import a_service, requires_service, valid_data

LANGUAGES = load_catalog().languages  # every language of schema/, so a new one is tested too


def page(site: Path, language: str, form: str = "service-request") -> BeautifulSoup:
    return BeautifulSoup((site / language / form / "index.html").read_text(encoding="utf-8"), "html.parser")


def model_of(soup: BeautifulSoup) -> dict[str, Any]:
    script = soup.find("script", id="page-model")
    assert isinstance(script, Tag)
    return json.loads(script.string or "")  # type: ignore[no-any-return]


def group(soup: BeautifulSoup, name: str) -> Tag:
    found = soup.find(attrs={"data-field": name})  # type: ignore[call-overload]
    assert isinstance(found, Tag), f"no form group for {name}"
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_field_is_on_the_page_with_its_label(built_site: Path, catalog: Catalog, language: str) -> None:
    soup = page(built_site, language)
    assert soup.html is not None and soup.html["lang"] == language
    form = catalog.forms["service-request"]
    rendered = [g["data-field"] for g in soup.select("form [data-field]")]
    assert rendered == [f.name for f in form.fields]
    for field in form.fields:
        element = group(soup, field.name)
        label = form.texts[language]["fields"][field.name]["label"]
        if field.value_kind in ("choice", "choices", "boolean"):  # drawn as radios or checkboxes
            legend = element.find("legend")
            assert legend is not None and legend.get_text().startswith(label)
            inputs = element.find_all("input", type=("checkbox" if field.value_kind == "choices" else "radio"))
            assert inputs[0]["id"] == field.name
            # Each choice's value as the page writes it: a text as it is, a number or true/false as JSON writes it.
            assert [i["value"] for i in inputs] == [option_key(o) for o in field.options]
            for radio in inputs:
                assert element.find("label", attrs={"for": radio["id"]}) is not None
        else:
            control = soup.find(id=field.name)
            assert isinstance(control, Tag) and control["name"] == field.name
            tag = element.find("label", attrs={"for": field.name})
            assert tag is not None and tag.get_text().startswith(label)
        assert element.find(id=f"{field.name}-error") is not None


@pytest.mark.parametrize("language", LANGUAGES)
def test_aria_links_point_at_elements_that_exist(built_site: Path, language: str) -> None:
    soup = page(built_site, language)
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert len(ids) == len(set(ids)), "ids must be unique"
    described = soup.find_all(attrs={"aria-describedby": True})  # type: ignore[call-overload]
    assert described
    for tag in described:
        for target in str(tag["aria-describedby"]).split():
            assert target in ids, f"{tag.get('id')} points at missing {target}"
    for label in soup.find_all("label"):
        assert label["for"] in ids


def test_hints_and_optional_marks_come_from_the_texts(built_site: Path) -> None:
    soup = page(built_site, "nb")
    assert soup.find(id="cc-hint") is not None
    cc_label = soup.find("label", attrs={"for": "cc"})
    assert cc_label is not None and cc_label.get_text() == "Kopi til epost-adresse (valgfritt)"
    subject = soup.find(id="subject")
    assert isinstance(subject, Tag)
    assert subject.has_attr("required")
    # A length limit is a character count, never maxlength, which would cut off what is pasted.
    assert not subject.has_attr("maxlength") and "subject-count" in str(subject["aria-describedby"])
    count = soup.find(id="subject-count")
    assert isinstance(count, Tag) and count["data-limit"] == "150" and "150" in count.get_text()
    cc = soup.find(id="cc")
    assert isinstance(cc, Tag) and cc["type"] == "email" and cc.has_attr("multiple")


def test_fields_of_a_branch_start_hidden_and_disabled(built_site: Path, catalog: Catalog) -> None:
    soup = page(built_site, "en")
    shown = {f["name"]: f["shownWhen"] for f in model_of(soup)["fields"]}
    fields = catalog.forms["service-request"].fields
    assert any(not f.always_shown for f in fields)
    for field in fields:
        element = group(soup, field.name)
        if field.always_shown:
            assert not element.has_attr("hidden")
            continue
        assert element.has_attr("hidden")
        assert all(c.has_attr("disabled") for c in element.find_all(["input", "select", "textarea"]))
        assert shown[field.name] and shown[field.name] != [[]]  # the page model says when the script shows it


@requires_service("extended-support", "data-extract")
def test_the_page_carries_the_schema_s_rules_and_messages(built_site: Path, catalog: Catalog) -> None:
    soup = page(built_site, "en")
    model = model_of(soup)
    assert model["apiBase"] == ""
    fields = {f["name"]: f for f in model["fields"]}
    assert fields["subject"]["schema"]["maxLength"] == 150
    assert fields["subject"]["messages"]["required"] == "Enter a subject"
    assert fields["support_end"]["messages"]["x-after"] == "The end must be after the start"
    assert "Monday–Friday, 08:00–16:00" in fields["support_end"]["messages"]["x-outside-office-hours"]
    hint = soup.find(id="support_start-hint")
    assert hint is not None and "Monday–Friday, 08:00–16:00" in hint.get_text()
    assert fields["description"]["categoryHints"]["data-extract"].startswith("Say which format")
    assert fields["description"]["hint"] == group(soup, "description").select_one(".hint").get_text()  # type: ignore[union-attr]
    assert {r["rule"] for r in model["rules"]} == {"after", "not-before", "not-past", "outside-office-hours"}
    (hours,) = [r["officeHours"] for r in model["rules"] if "officeHours" in r]
    closed = [f"{year}-{day}" for year, days in hours["closed"].items() for day in days]  # by year, each year once
    (rule,) = [r for r in catalog.forms["service-request"].rules if r.office_hours]
    assert rule.office_hours is not None and closed == sorted(rule.office_hours.closed)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_words_each_message_as_the_server_does_and_each_shared_text_once(
    catalog: Catalog, language: str
) -> None:
    for form in catalog.forms.values():
        model = build.form_model(form, language)
        for field in model["fields"]:
            for keyword, own in field["messages"].items():
                assert own == form.static_message(language, field["name"], keyword)
                assert own != fill(model["messages"].get(keyword, ""), {"label": field["label"]})
            asked = form.field(field["name"]).keywords() - build.SERVER_ONLY  # type: ignore[union-attr]
            for keyword in asked - set(field["messages"]):  # worded by the page from the language's text
                page_says = fill(model["messages"][keyword], {"label": field["label"]})
                assert page_says == form.static_message(language, field["name"], keyword), (field["name"], keyword)
        assert "x-text" in model["messages"]
        assert not any("x-text" in f["messages"] or None in f.values() for f in model["fields"])
        assert not any(None in r.values() for r in model["rules"])


def test_language_switcher_and_landing_page_link_both_languages(built_site: Path) -> None:
    soup = page(built_site, "nb")
    switch = soup.select_one("nav.language-switcher a[hreflang=en]")
    assert switch is not None
    assert (built_site / "nb" / "service-request" / str(switch["href"]) / "index.html").resolve().exists()
    landing = BeautifulSoup((built_site / "index.html").read_text(encoding="utf-8"), "html.parser")
    links = {str(a["href"]) for a in landing.find_all("a") if not str(a["href"]).startswith("#")}
    assert {"nb/service-request/", "en/service-request/", "nb/incident/", "en/incident/", "nb/my-requests/"} <= links
    for href in links:
        assert (built_site / href / "index.html").exists()
    assert {s["lang"] for s in landing.find_all("section")} == set(LANGUAGES)


def test_the_second_form_is_built_by_the_same_code(built_site: Path) -> None:
    soup = page(built_site, "en", "incident")
    legend = group(soup, "severity").find("legend")
    assert legend is not None and legend.get_text() == "How serious is it?"
    assert group(soup, "users_affected").has_attr("hidden")


@pytest.mark.parametrize("language", LANGUAGES)
def test_number_fields_are_text_boxes_that_read_the_language_s_marks(
    built_site: Path, catalog_with_test_forms: Catalog, language: str
) -> None:
    # <input type=number> drops a comma it cannot read (1500,50 became 150050): the page reads the text.
    soup = page(built_site, language, "every-keyword")
    form = catalog_with_test_forms.forms["every-keyword"]
    numbers = [f for f in form.fields if f.value_kind == "number"]
    assert {f.schema["type"] for f in numbers} == {"integer", "number"}
    for field in numbers:
        control = soup.find(id=field.name)
        assert isinstance(control, Tag) and control["type"] == "text"
        assert control["inputmode"] == ("numeric" if field.schema["type"] == "integer" else "decimal")
        assert not any(control.has_attr(a) for a in ("min", "max", "step")), "the page's checker applies the limits"
    model = model_of(soup)
    common = catalog_with_test_forms.common[language]
    assert (model["texts"]["decimalMark"], model["texts"]["groupMark"]) == (common["decimalMark"], common["groupMark"])
    limits = {f["name"]: f["schema"] for f in model["fields"]}
    assert all(limits[f.name] == f.constraints() for f in numbers)


def test_api_url_sets_where_the_form_submits(tmp_path: Path) -> None:
    build.build(tmp_path / "site", api_url="https://api.example.com/prod/")
    soup = page(tmp_path / "site", "nb")
    assert model_of(soup)["apiBase"] == "https://api.example.com/prod"
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp is not None and "connect-src 'self' https://api.example.com;" in str(csp["content"])
    with pytest.raises(build.BuildError, match="--api-url"):
        build.build(tmp_path / "other", api_url="ftp://api.example.com")


def test_a_broken_schema_fails_the_build_saying_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_schema(tmp_path)
    edit(root / "forms" / "service-request.nb.json", lambda d: d["fields"]["subject"].pop("label"))
    code = build.main(["--schema", str(root), "--out", str(tmp_path / "site")])
    assert code == 1
    assert "service-request.nb.json: /fields/subject/label: missing text" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_an_undefined_template_variable_fails_the_build(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(build.TEMPLATES, templates)
    hint = templates / "components" / "hint.html"
    hint.write_text(hint.read_text().replace("{{ params.text }}", "{{ params.txt }}"))
    with pytest.raises(build.BuildError, match=r"components/hint.html:\d+: .*txt"):
        build.build(tmp_path / "site", templates=templates)


def test_a_failed_build_keeps_the_previous_site(tmp_path: Path) -> None:
    out = tmp_path / "site"
    build.build(out)
    root = copy_schema(tmp_path)
    (root / "site.json").write_text("not json")
    with pytest.raises(build.BuildError):
        build.build(out, schema_dir=root)
    assert (out / "nb" / "service-request" / "index.html").exists()


def test_a_new_field_changes_page_and_validation_after_one_rebuild(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)

    def add_field(schema: dict[str, Any]) -> None:
        branch = next(b for b in schema["allOf"] if b["if"]["properties"]["service"]["const"] == a_service())
        branch["then"]["properties"]["start_date"] = {"$ref": "#/$defs/date"}
        branch["then"]["required"].append("start_date")

    edit(root / "forms" / "service-request.schema.json", add_field)
    for language, label in ((lang, {"en": "Preferred start"}.get(lang, "Ønsket oppstart")) for lang in LANGUAGES):
        edit(
            root / "forms" / f"service-request.{language}.json",
            lambda d, t=label: d["fields"].update(start_date={"label": t}),
        )
    build.build(tmp_path / "site", schema_dir=root)
    soup = page(tmp_path / "site", "en")
    assert group(soup, "start_date").has_attr("hidden")
    shown = {f["name"]: f["shownWhen"] for f in model_of(soup)["fields"]}
    assert shown["start_date"] == [[["service", a_service()]]]
    form = load_catalog(root).forms["service-request"]
    data = valid_data(subject="S", description="D")
    errors = form.validate(data, "en", NOW)
    assert [(e.field, e.keyword, e.message) for e in errors] == [("start_date", "required", "Enter “Preferred start”")]
    assert form.validate({**data, "start_date": "2027-01-04"}, "en", NOW) == []


def test_watch_rebuilds_when_the_schema_changes(tmp_path: Path) -> None:
    root = copy_schema(tmp_path)
    out = tmp_path / "site"
    watcher = subprocess.Popen(
        [sys.executable, "build.py", "--watch", "--schema", str(root), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        target = out / "en" / "service-request" / "index.html"
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # let the watcher settle before changing the schema
        edit(root / "forms" / "service-request.en.json", lambda d: d.update(title="Service request, edited"))
        while time.monotonic() < deadline:
            if target.exists() and "Service request, edited" in target.read_text(encoding="utf-8"):
                break
            time.sleep(0.2)
        assert "Service request, edited" in target.read_text(encoding="utf-8")
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_header_s_sign_in_link_comes_back_to_the_page(built_site: Path, catalog: Catalog, language: str) -> None:
    for page_name in [*catalog.forms, "my-requests"]:
        soup = BeautifulSoup((built_site / language / page_name / "index.html").read_text("utf-8"), "html.parser")
        link = soup.select_one("#site-account [data-signed-out] a")
        assert link is not None and str(link["href"]).endswith(f"sign-in/?next={page_name}")


# What a first visit to a form page may cost (docs/performance.md, "The pages"): the page, its script and its
# stylesheet, gzip-compressed. A field costs about 100 bytes of it (its markup and its part of the page's data),
# the rest is the same for any form; the limit holds what is reached (18.0 KB for the 20 fields shipped, against
# an aim of 15 KB), so that it can only shrink, and grows with the fields an operator adds to schema/.
FORM_PAGE_REQUESTS = 3
FORM_PAGE_BASE_BYTES = int(15.5 * 1024)
FORM_PAGE_FIELD_BYTES = 160


@pytest.fixture(scope="module")
def shipped_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of schema/ alone, as it is published."""
    out = tmp_path_factory.mktemp("shipped") / "site"
    build.build(out)
    return out


def test_each_form_page_loads_in_few_requests_and_few_bytes(shipped_site: Path) -> None:
    catalog = load_catalog()
    limits = {
        f"{language}/{form_id}/index.html": FORM_PAGE_BASE_BYTES + FORM_PAGE_FIELD_BYTES * len(page_fields(form))
        for language in catalog.languages
        for form_id, form in catalog.forms.items()
    }
    costs = {page: site_assets.weight(shipped_site, page) for page in limits}
    too_heavy = {
        page: (cost, f"limit {limits[page]} bytes")
        for page, cost in costs.items()
        if cost.requests > FORM_PAGE_REQUESTS or cost.gzip_bytes > limits[page]
    }
    assert limits and not too_heavy, f"over {FORM_PAGE_REQUESTS} requests or the bytes its fields allow"


def test_every_page_loads_one_hashed_script_and_stylesheet_with_their_compressed_copies(shipped_site: Path) -> None:
    for html in site_assets.pages_of(shipped_site):
        soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
        scripts = [str(s["src"]) for s in soup.find_all("script", src=True)]
        styles = [str(s["href"]) for s in soup.find_all("link", rel="stylesheet")]
        assert len(scripts) == 1 and len(styles) == 1, html
        assert not soup.find_all("link", rel="modulepreload")
        assert str(soup.find("link", rel="icon")["href"]).startswith("data:image/svg+xml,")  # type: ignore[index]
        for address in [*scripts, *styles]:
            asset = (html.parent / address).resolve()
            assert serve.HASHED.search(asset.relative_to(shipped_site.resolve()).as_posix()), address
            raw = asset.read_bytes()
            assert b"\n//" not in raw and b"/*" not in raw, f"{address} is not minified"
            assert gzip.decompress(asset.with_name(asset.name + ".gz").read_bytes()) == raw
            assert brotli.decompress(asset.with_name(asset.name + ".br").read_bytes()) == raw
    assert not (shipped_site / "static" / "form.js").exists(), "the sources stay in site/static"


def test_the_page_holds_only_the_texts_its_code_asks_for(shipped_site: Path) -> None:
    catalog = load_catalog()
    used = site_assets.used_texts(build.STATIC / "texts.js")
    for language in catalog.languages:
        for form in catalog.forms:
            texts = model_of(page(shipped_site, language, form))["texts"]
            asked = [*used["common"], *used["form"]]
            assert site_assets.only(texts, asked) == texts
            assert all(key in json.dumps(texts) for key in ("decimalMark", "groupMark"))


def test_the_local_server_caches_hashed_assets_and_sends_them_compressed(shipped_site: Path) -> None:
    app = Starlette(routes=[Mount("/", serve.SiteFiles(directory=shipped_site, html=True))])
    catalog = load_catalog()
    form_page = f"/{catalog.default_language}/{next(iter(catalog.forms))}/"
    with TestClient(app) as client:
        html = client.get(form_page, headers={"Accept-Encoding": "br, gzip"})
        assert html.headers["cache-control"] == "no-cache"
        assert html.headers["content-encoding"] == "br" and html.headers["vary"] == "Accept-Encoding"
        assert html.headers["content-type"].startswith("text/html")
        script = str(BeautifulSoup(html.text, "html.parser").find("script", src=True)["src"])  # type: ignore[index]
        address = urljoin(form_page, script)
        for accepted, coding in (("gzip", "gzip"), ("gzip, br;q=0", "gzip"), ("identity", None)):
            asset = client.get(address, headers={"Accept-Encoding": accepted})
            assert asset.status_code == 200
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert asset.headers.get("content-encoding") == coding and asset.headers["vary"] == "Accept-Encoding"
            assert asset.headers["content-type"].startswith("text/javascript")
            again = client.get(address, headers={"Accept-Encoding": accepted, "If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304
        decoded = client.get(address, headers={"Accept-Encoding": "br"})
        assert decoded.headers["content-encoding"] == "br"
        assert decoded.content == (shipped_site / address.lstrip("/")).read_bytes()
