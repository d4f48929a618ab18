"""Hostile and careless input under /api/: every answer is the error shape with the right status, never a 500 page.

Requests go through Django's test client with `raise_request_exception=False`, as a real server answers (DEBUG off,
as pytest-django runs it): an exception that escapes is the 500 the client would see.
"""

import base64
import json
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory

from infra.api_errors import forbidden
from infra.api_parsers import MAX_JSON_DEPTH
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/api/v1/auth/wechat-login"


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def error_of(response) -> tuple[int, str]:
    """(status, code) of an answer that must be JSON in the error shape."""
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


# -- D4: nesting depth -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [nested_list(1000), nested_object(1000), nested_list(100_000)])
def test_deeply_nested_json_is_a_malformed_request_even_unauthenticated(client, body):
    response = client.post(LOGIN_URL, body, content_type="application/json")

    assert error_of(response) == (400, "malformed_request")


def test_json_one_level_deeper_than_the_limit_is_refused_by_the_parser(client):
    response = client.post(LOGIN_URL, nested_list(MAX_JSON_DEPTH + 1), content_type="application/json")

    assert error_of(response) == (400, "malformed_request")
    assert str(MAX_JSON_DEPTH) in response.json()["error"]["message"]


def test_json_at_the_depth_limit_is_parsed_and_judged_by_the_view(client):
    # then the body reaches the serializer, which refuses a list where it wants an object
    response = client.post(LOGIN_URL, nested_list(MAX_JSON_DEPTH), content_type="application/json")

    assert error_of(response) == (400, "invalid_input")


def test_a_wide_but_shallow_body_is_parsed_whatever_its_number_of_brackets(client):
    body = json.dumps({"code": [[{"a": [1]}] for _ in range(200)]})

    response = client.post(LOGIN_URL, body, content_type="application/json")

    assert error_of(response) == (400, "invalid_input")


def test_brackets_inside_a_string_are_not_nesting(client, member_client):
    member = MemberFactory()
    text = "[" * 80 + "{" * 80

    response = member_client(member).patch("/api/v1/me", {"name": text[:100]}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == text[:100]


# -- D11: every answer under /api/ is JSON --------------------------------------------------------------------------
def test_a_body_over_the_upload_limit_is_request_too_large(client, settings):
    body = json.dumps({"code": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})

    response = client.post(LOGIN_URL, body, content_type="application/json")

    assert error_of(response) == (413, "request_too_large")


def test_a_non_integer_id_in_the_path_is_not_found(client):
    response = client.get("/api/v1/mall/rewards/abc")

    assert error_of(response) == (404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/me/", "/api/v2/me", "/api/"])
def test_an_unknown_api_path_is_not_found(client, path):
    response = client.get(path)

    assert error_of(response) == (404, "not_found")


def test_a_bad_host_header_under_the_api_is_a_bad_request_in_the_error_shape(client):
    # given a Host outside ALLOWED_HOSTS: Django refuses it before any view runs
    response = client.get("/api/v1/stores", HTTP_HOST="evil.example")

    assert error_of(response) == (400, "bad_request")


@pytest.mark.parametrize("debug", [False, True], ids=["debug off", "debug on (no traceback page)"])
def test_an_unhandled_exception_under_the_api_is_a_server_error_in_the_error_shape(
    client, settings, monkeypatch, debug
):
    settings.DEBUG = debug

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("members.api.stores.store_finder_list", broken)

    response = client.get("/api/v1/stores", {"lat": "22.3", "lng": "114.2"})

    assert error_of(response) == (500, "server_error")
    assert "a bug" not in response.content.decode()


def test_permission_denied_outside_a_view_under_the_api_is_in_the_error_shape():
    request = RequestFactory().get("/api/v1/me")

    response = forbidden(request, exception=None)

    assert error_of(response) == (403, "permission_denied")


@pytest.mark.parametrize("path", ["/nope", "/console-nope/"])
def test_pages_outside_the_api_keep_djangos_html_errors(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_server_error_page_outside_the_api_stays_html(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("django.contrib.admin.sites.AdminSite.each_context", broken)

    response = client.get("/console/login/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


# -- D11 with DEBUG on (the demo): Django's HTML technical pages never reach an API client -----------------------------
@pytest.mark.parametrize(
    ("path", "host", "expected"),
    [
        ("/api/v1/nope", "testserver", (404, "not_found")),
        ("/api/v1/mall/rewards/abc", "testserver", (404, "not_found")),
        ("/api/v1/stores", "evil.example", (400, "bad_request")),
    ],
)
def test_with_debug_on_an_unknown_path_or_a_refused_host_under_the_api_is_in_the_error_shape(
    client, settings, path, host, expected
):
    settings.DEBUG = True

    response = client.get(path, HTTP_HOST=host)

    assert error_of(response) == expected


def test_with_debug_on_pages_outside_the_api_keep_djangos_technical_pages(client, settings):
    settings.DEBUG = True

    response = client.get("/nope")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# -- issue 13, point 5: Django's ValidationError ---------------------------------------------------------------------
def test_a_model_validation_error_from_a_service_is_invalid_input_with_its_fields(member_client):
    # given an e-mail DRF's EmailField accepts but the model's 254 characters do not hold
    member = MemberFactory()
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".hk"

    response = member_client(member).patch("/api/v1/me", {"email": email}, format="json")

    assert error_of(response) == (400, "invalid_input")
    assert list(response.json()["error"]["fields"]) == ["email"]


def test_a_validation_error_without_fields_is_invalid_input_with_non_field_errors(member_client, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError("Not like this.")

    monkeypatch.setattr("members.api.me.member_update_profile", refuse)

    response = member_client(MemberFactory()).patch("/api/v1/me", {"name": "Ann"}, format="json")

    assert error_of(response) == (400, "invalid_input")
    assert response.json()["error"]["fields"] == {"non_field_errors": ["Not like this."]}


def test_a_validation_error_on_the_whole_model_is_named_non_field_errors(member_client, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError({"__all__": ["Both at once."], "name": ["Too short."]})

    monkeypatch.setattr("members.api.me.member_update_profile", refuse)

    response = member_client(MemberFactory()).patch("/api/v1/me", {"name": "Ann"}, format="json")

    assert response.json()["error"]["fields"] == {"non_field_errors": ["Both at once."], "name": ["Too short."]}


# -- probes the schema-driven conformance run does not generate --------------------------------------------------
MEMBER_LISTS = [
    "/api/v1/me/inbox",
    "/api/v1/me/coupons",
    "/api/v1/me/mall/orders",
    "/api/v1/me/points/entries",
    "/api/v1/me/stored-value/entries",
    "/api/v1/me/draws/spins",
    "/api/v1/me/auctions/bids",
    "/api/v1/me/purchases",
]


def forged_cursor(position: str) -> str:
    """A cursor as DRF encodes one, holding a position the list's ordering cannot compare."""
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


@pytest.mark.parametrize("path", MEMBER_LISTS)
@pytest.mark.parametrize("position", ["abc", "1e400", "2026-13-45"])
def test_a_forged_cursor_is_not_found(member_client, path, position):
    response = member_client(MemberFactory()).get(path, {"cursor": forged_cursor(position)})

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "identifier",
    [
        {"member_number": "²" * 10},  # str.isdigit() says yes, int() says no
        {"member_number": "١٢٣٤٥٦٧٨٩٠"},  # Arabic-Indic digits, which int() reads
        {"card_code": "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨"},
    ],
)
def test_digits_of_other_scripts_in_an_identifier_are_answered_as_an_unknown_one(pos_client_for, identifier):
    till = pos_client_for(StoreFactory())
    ((field, value),) = identifier.items()

    response = till.get("/api/v1/pos/members/lookup", identifier)
    plain = till.get("/api/v1/pos/members/lookup", {field: "1" * len(value)})

    assert response.status_code < 500
    assert (response.status_code, response.json()["error"]["code"]) == (
        plain.status_code, plain.json()["error"]["code"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "url", ["/console/?period=²", "/console/?period=" + "7" * 5000, "/console/?store=²", "/console/audit-log/?staff=²"]
)
def test_the_console_reads_numbers_in_its_addresses_as_ascii_digits_only(admin_client, url):
    assert admin_client.get(url).status_code in (200, 403)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/v1/me", {"home_store": "\x00"}),  # a store looked up by its code
        ("post", "/api/v1/coupons/validate", {"amount": "10", "channel": "pos", "store": "\x00"}),
        ("post", "/api/v1/me/inbox/read", {"ids": [1], "note\x00": "a key"}),
    ],
)
def test_a_nul_character_in_a_json_body_is_a_malformed_request(member_client, method, path, body):
    # PostgreSQL refuses NUL in text: a field DRF does not check for it would have reached the database with it
    response = getattr(member_client(MemberFactory()), method)(path, body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "malformed_request")


def test_a_nul_character_in_an_address_is_not_found(pos_client_for):
    till = pos_client_for(StoreFactory())

    response = till.post("/api/v1/pos/purchases/S%00-1/refunds", {"refund_id": "r", "amount": "1.00"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_an_id_beyond_any_row_is_an_invalid_input_not_an_overflow(member_client):
    response = member_client(MemberFactory()).post("/api/v1/me/inbox/read", {"ids": [10**20]}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")
    assert list(response.json()["error"]["fields"]) == ["ids.0"]


def test_an_answer_is_json_even_to_a_browser(member_client):
    response = member_client(MemberFactory()).get("/api/v1/me", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
