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


# -- the schema tells the truth (issue 12): what the API answers is what the schema declares -----------------------
def _schema(api_client):
    return api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def _component(schema, ref):
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


PAGINATED_LISTS = [
    "/api/v1/me/auctions/bids",
    "/api/v1/me/coupons",
    "/api/v1/me/draws/spins",
    "/api/v1/me/mall/orders",
    "/api/v1/me/points/entries",
    "/api/v1/me/purchases",
    "/api/v1/me/stored-value/entries",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGINATED_LISTS)
def test_a_cursor_paginated_list_is_documented_as_the_page_it_answers(path, api_client, member_client):
    from tests.factories import MemberFactory

    # Given the schema and a member
    schema = _schema(api_client)
    client = member_client(MemberFactory())

    # When the member reads the list
    response = client.get(path)

    # Then the answer is a page, and the schema says so, with the cursor parameters
    assert response.status_code == 200
    assert set(response.json()) == {"next", "previous", "results"}
    operation = schema["paths"][path]["get"]
    page = _component(schema, operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    assert {"next", "previous", "results"} <= set(page["properties"])
    assert page["properties"]["results"]["type"] == "array"
    assert {"cursor", "page_size"} <= {parameter["name"] for parameter in operation["parameters"]}


@pytest.mark.django_db
def test_every_operation_documents_the_error_answers_the_shared_plumbing_gives(api_client):
    # Given the schema
    schema = _schema(api_client)

    # Then every operation declares 400 and 404; authenticated ones 401 and 403; those with a body 413 and 415;
    # all with the error shape
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"400", "404"}
            if {"memberToken": []} in operation.get("security", []) or {"posApiKey": []} in operation.get(
                "security", []
            ):
                expected |= {"401", "403"}
            if method in ("post", "put", "patch"):
                expected |= {"413", "415"}
            assert expected <= set(responses), (method, path, sorted(responses))
            for status_code in expected:
                body = responses[status_code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, status_code)
                assert responses[status_code]["description"], (method, path, status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/me/stored-value/top-ups", "post"),
        ("/api/v1/me/plans/purchases", "post"),
        ("/api/v1/mall/rewards/{reward_id}/redeem", "post"),
        ("/api/v1/me/purchases", "post"),
    ],
)
def test_operations_confirming_a_wechat_payment_document_its_refusal_and_its_outage(path, method, api_client):
    schema = _schema(api_client)

    responses = schema["paths"][path][method]["responses"]

    # payment_not_confirmed / payment_amount_mismatch (422), payment_provider_unavailable (503)
    assert {"422", "503"} <= set(responses)


@pytest.mark.django_db
def test_a_member_without_email_gets_an_empty_email_that_the_schema_allows(api_client, member_client):
    import jsonschema

    from tests.factories import MemberFactory

    # Given a member who never gave an e-mail address
    schema = _schema(api_client)
    client = member_client(MemberFactory(email=""))

    # When they read themselves
    response = client.get("/api/v1/me")

    # Then the answer's "" is valid against the schema's email property
    assert response.json()["email"] == ""
    email_schema = _component(schema, "#/components/schemas/Member")["properties"]["email"]
    jsonschema.validate("", email_schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.django_db
def test_an_error_inside_a_list_item_is_named_by_its_path_as_the_schema_declares(api_client, pos_client):
    # Given a cart whose second item has an invalid price
    cart = {
        "gross_amount": "100.00",
        "member_number": "0000000000",
        "items": [
            {"sku": "A1", "unit_price": "50.00"},
            {"sku": "B2", "unit_price": "fifty"},
        ],
    }

    # When the till previews it
    response = pos_client.post("/api/v1/pos/purchases/preview", cart, format="json")

    # Then the error names the field by its path, and every value is a list of messages, as the schema says
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields == {"items.1.unit_price": ["A valid number is required."]}
    fields_schema = _component(_schema(api_client), "#/components/schemas/ErrorBody")["properties"]["fields"]
    assert fields_schema["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_error_fields_flattens_nested_and_indexed_errors_into_paths():
    from infra.api_errors import error_fields

    detail = {
        "items": [{}, {"sku": ["Required."], "tags": {0: ["Too long."]}}],
        "ids": {2: ["A valid integer is required."]},
        "name": ["Too long.", "Not allowed."],
        "non_field_errors": ["Give exactly one."],
    }

    assert error_fields(detail) == {
        "items.1.sku": ["Required."],
        "items.1.tags.0": ["Too long."],
        "ids.2": ["A valid integer is required."],
        "name": ["Too long.", "Not allowed."],
        "non_field_errors": ["Give exactly one."],
    }
