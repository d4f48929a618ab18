"""No input gives a 500: requests a probe would send, which the schema-driven conformance run does not generate,
each answered with the JSON error its operation documents."""

import base64
from urllib.parse import urlencode

import pytest

from tests.factories import MemberFactory

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
