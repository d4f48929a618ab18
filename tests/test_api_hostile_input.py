"""No input gives a 500: requests a probe would send, which the schema-driven conformance run does not generate,
each answered with the JSON error its operation documents."""

import base64
from urllib.parse import urlencode

import pytest

from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

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
