"""The public store finder."""

from decimal import Decimal

import pytest

from members.selectors import haversine_km
from tests.factories import StoreFactory

STORES_URL = "/api/v1/stores"

pytestmark = pytest.mark.django_db

# Central (Hong Kong Island), Mong Kok (Kowloon), Sha Tin (New Territories), Macau
CENTRAL = (22.2815, 114.1581)
MONG_KOK = (22.3193, 114.1694)
SHA_TIN = (22.3817, 114.1877)
MACAU = (22.1987, 113.5439)


def make_store(code, position, **fields):
    return StoreFactory(code=code, latitude=Decimal(str(position[0])), longitude=Decimal(str(position[1])), **fields)


@pytest.fixture
def stores():
    make_store("sha-tin", SHA_TIN)
    make_store("central", CENTRAL)
    make_store("macau", MACAU)
    make_store("mong-kok", MONG_KOK)


def test_stores_come_nearest_first_with_their_distance(api_client, stores):
    response = api_client.get(STORES_URL, {"lat": MONG_KOK[0], "lng": MONG_KOK[1]})

    assert response.status_code == 200
    body = response.json()
    assert [store["code"] for store in body] == ["mong-kok", "central", "sha-tin", "macau"]
    assert body[0]["distance_km"] == 0.0
    assert body[1]["distance_km"] == pytest.approx(round(haversine_km(*MONG_KOK, *CENTRAL), 3))
    assert body[1]["distance_km"] == pytest.approx(4.38, abs=0.05)


def test_a_radius_keeps_only_the_stores_within_it(api_client, stores):
    response = api_client.get(STORES_URL, {"lat": CENTRAL[0], "lng": CENTRAL[1], "radius_km": 12})

    assert [store["code"] for store in response.json()] == ["central", "mong-kok", "sha-tin"]


def test_a_store_just_inside_the_radius_is_kept_and_one_just_outside_is_not(api_client):
    # given two stores due north of Central, at 0.99 km and 1.01 km
    degrees_per_km = 1 / 111.195
    make_store("inside", (CENTRAL[0] + 0.99 * degrees_per_km, CENTRAL[1]))
    make_store("outside", (CENTRAL[0] + 1.01 * degrees_per_km, CENTRAL[1]))

    response = api_client.get(STORES_URL, {"lat": CENTRAL[0], "lng": CENTRAL[1], "radius_km": 1})

    assert [store["code"] for store in response.json()] == ["inside"]


def test_inactive_stores_are_not_listed(api_client, stores):
    make_store("closed", CENTRAL, is_active=False)

    response = api_client.get(STORES_URL, {"lat": CENTRAL[0], "lng": CENTRAL[1]})

    assert "closed" not in [store["code"] for store in response.json()]


def test_stores_without_coordinates_come_last_without_a_distance(api_client, stores):
    StoreFactory(code="aaa-online", latitude=None, longitude=None)

    body = api_client.get(STORES_URL, {"lat": CENTRAL[0], "lng": CENTRAL[1]}).json()

    assert body[-1]["code"] == "aaa-online"
    assert body[-1]["distance_km"] is None


def test_without_a_position_stores_are_listed_by_code_without_distance(api_client, stores):
    body = api_client.get(STORES_URL).json()

    assert [store["code"] for store in body] == ["central", "macau", "mong-kok", "sha-tin"]
    assert {store["distance_km"] for store in body} == {None}


def test_limit_caps_the_list(api_client, stores):
    body = api_client.get(STORES_URL, {"lat": CENTRAL[0], "lng": CENTRAL[1], "limit": 2}).json()

    assert [store["code"] for store in body] == ["central", "mong-kok"]


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"lat": "abc", "lng": "114.1"}, ["lat"]),
        ({"lat": "91", "lng": "114.1"}, ["lat"]),
        ({"lat": "22.3", "lng": "-181"}, ["lng"]),
        ({"lat": "nan", "lng": "114.1"}, ["lat"]),
        ({"lat": "22.3"}, ["lng"]),
        ({"lng": "114.1"}, ["lat"]),
        ({"radius_km": "5"}, ["radius_km"]),
        ({"lat": "22.3", "lng": "114.1", "radius_km": "-1"}, ["radius_km"]),
        ({"lat": "22.3", "lng": "114.1", "colour": "red"}, ["colour"]),
    ],
)
def test_bad_coordinates_are_invalid_input_naming_the_field(api_client, params, fields):
    response = api_client.get(STORES_URL, params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert sorted(error["fields"]) == fields


def test_the_store_list_needs_no_credentials_and_ignores_them(api_client, stores):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer mbr_whatever")

    response = api_client.get(STORES_URL)

    assert response.status_code == 200
