"""The shipped form as schema/ holds it: it loads, its services and common fields as the help-centre article words and
orders them, who may submit, and what the API says of a service's own fields."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from handler.schema.catalog import Catalog
from tests.helpers.shipped import requires_service


def test_the_shipped_schema_loads_without_problems(catalog: Catalog) -> None:
    assert {"nb", "en"} <= set(catalog.languages)
    assert "service-request" in catalog.forms


SEED_SERVICES = {
    "Aktiver eller deaktiver standardfunksjoner",
    "Bestille premiumfunksjonalitet",
    "Registrer ny bruker på Service Desk",
    "Bestill oppsett av integrasjoner",
    "Bestill datauttrekk",
    "Bestill utvidet support utenfor kontortid",
    "Bestill deltagelse i beta-prosjekter",
}


@requires_service(
    "feature-toggle",
    "premium-feature",
    "service-desk-user",
    "integration-setup",
    "data-extract",
    "extended-support",
    "beta-project",
)
def test_the_service_request_has_the_seven_categories_with_their_labels(catalog: Catalog) -> None:
    form = catalog.forms["service-request"]
    labels = {form.option_label("nb", "service", c) for c in form.categories}
    assert labels >= SEED_SERVICES  # the seven services, worded as the help article words them
    assert form.option_label("en", "service", "beta-project") == "Join beta projects"


def test_the_common_fields_come_in_the_article_s_order(catalog: Catalog) -> None:
    names = [f.name for f in catalog.forms["service-request"].fields]
    common = [n for n in names if n in ("cc", "service", "subject", "description", "attachments")]
    assert common == ["cc", "service", "subject", "description", "attachments"]


def test_every_category_has_its_own_fields_and_description_hint(catalog: Catalog) -> None:
    form = catalog.forms["service-request"]
    for category in form.categories:
        own = [f for f in form.fields if not f.always_shown and f.is_shown({"service": category})]
        assert own, f"{category} shows no fields of its own"
        for language in catalog.languages:
            assert form.texts[language]["fields"]["description"]["categoryHints"][category]


def test_only_authorized_contacts_may_submit_service_requests(catalog: Catalog) -> None:
    form = catalog.forms["service-request"]
    assert form.allowed_contact_types == ("authorized-for-change",)
    assert catalog.common["nb"]["contactTypes"]["authorized-for-change"] == "Autorisert for endring"
    assert catalog.common["en"]["contactTypes"]["authorized-for-change"] == "Authorized for change"


def post(client: TestClient, data: Any, **headers: str) -> Any:
    return client.post("/v1/requests", json={"form": "service-request", "data": data}, headers=headers)


@requires_service("feature-toggle")
def test_errors_in_a_branch_point_at_the_field_not_the_root(client: TestClient) -> None:
    response = post(
        client, {"service": "feature-toggle", "subject": "S", "description": "D"}, **{"Accept-Language": "en"}
    )
    details = response.json()["errors"]
    assert [d["field"] for d in details] == ["feature_action", "feature_name", "account"]
    assert details[1] == {
        "field": "feature_name",
        "pointer": "/data/feature_name",
        "keyword": "required",
        "detail": "Enter the name of the feature",
    }
