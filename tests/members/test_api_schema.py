"""The OpenAPI schema is valid and the interactive docs render."""

import pytest
import yaml
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_endpoint_serves_the_openapi_document(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/auth/wechat-login", "/api/v1/me", "/api/v1/pos/members/lookup", "/api/v1/stores"} <= set(
        schema["paths"]
    )
    assert set(schema["components"]["securitySchemes"]) == {"memberToken", "posApiKey"}
    assert schema["paths"]["/api/v1/pos/members/lookup"]["get"]["security"] == [{"posApiKey": []}]
    assert schema["paths"]["/api/v1/me"]["get"]["security"] == [{"memberToken": []}]


def test_schema_validates_without_warnings(tmp_path):
    # `spectacular --validate` checks against the OpenAPI 3 JSON schema; --fail-on-warn makes warnings fatal.
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert yaml.safe_load(target.read_text())["info"]["title"]


@pytest.mark.django_db
def test_docs_page_renders(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
