"""The public store finder."""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from members.models import StoreHoursException, StoreOpeningHours, StorePhoto
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


# -- opening hours, open now, photos -------------------------------------------------------------------------------
HONG_KONG = ZoneInfo("Asia/Hong_Kong")
WEEKDAY_HOURS = [{"weekday": day, "opens_at": time(10, 0), "closes_at": time(22, 0)} for day in range(7)]


@pytest.fixture
def shop(settings):
    """Open Mon-Sun 10:00-22:00, closed on Christmas Day 2026 (a Friday)."""
    settings.TIME_ZONE = "Asia/Hong_Kong"
    store = make_store("central", CENTRAL)
    StoreOpeningHours.objects.bulk_create(StoreOpeningHours(store=store, **row) for row in WEEKDAY_HOURS)
    StoreHoursException.objects.create(store=store, date=date(2026, 12, 25), is_closed=True, note="Christmas Day")
    return store


@pytest.fixture
def clock(monkeypatch):
    def set_to(moment):
        monkeypatch.setattr("members.api.stores.timezone.now", lambda: moment)

    return set_to


def test_a_store_lists_its_hours_for_the_week_ahead_and_is_open_now_within_them(api_client, shop, clock):
    # given Tuesday 22 December 2026, 21:30 in Hong Kong (13:30 UTC)
    clock(datetime(2026, 12, 22, 13, 30, tzinfo=UTC))

    (store,) = api_client.get(STORES_URL).json()

    assert store["is_open_now"] is True
    assert store["hours_today"] == {
        "date": "2026-12-22", "weekday": 1, "is_closed": False,
        "intervals": [{"opens_at": "10:00", "closes_at": "22:00"}], "note": "",
    }  # fmt: skip
    week = store["opening_hours"]
    assert [day["date"] for day in week] == [f"2026-12-{day}" for day in range(22, 29)]
    assert week[3] == {"date": "2026-12-25", "weekday": 4, "is_closed": True, "intervals": [], "note": "Christmas Day"}


def test_a_store_is_closed_now_after_its_hours_in_the_program_time_zone(api_client, shop, clock):
    # 22:30 in Hong Kong is 14:30 UTC: a UTC reading would say open
    clock(datetime(2026, 12, 22, 14, 30, tzinfo=UTC))

    (store,) = api_client.get(STORES_URL).json()

    assert store["is_open_now"] is False


def test_a_store_is_closed_on_a_holiday_within_its_usual_hours(api_client, shop, clock):
    clock(datetime(2026, 12, 25, 12, 0, tzinfo=HONG_KONG))

    (store,) = api_client.get(STORES_URL).json()

    assert store["is_open_now"] is False
    assert (store["hours_today"]["is_closed"], store["hours_today"]["note"]) == (True, "Christmas Day")


def test_a_store_without_hours_says_it_does_not_know(api_client):
    make_store("new", CENTRAL)

    (store,) = api_client.get(STORES_URL).json()

    assert (store["opening_hours"], store["hours_today"], store["is_open_now"]) == ([], None, None)


def test_a_store_shows_its_photos_in_order_with_their_urls(api_client, shop):
    StorePhoto.objects.create(store=shop, image="stores/inside.jpg", position=2, caption="Inside")
    StorePhoto.objects.create(store=shop, image="stores/front.jpg", position=1, caption="Shop front")

    (store,) = api_client.get(STORES_URL).json()

    assert store["photos"] == [
        {"url": "http://testserver/media/stores/front.jpg", "caption": "Shop front"},
        {"url": "http://testserver/media/stores/inside.jpg", "caption": "Inside"},
    ]


def test_the_store_list_reads_hours_exceptions_and_photos_once_for_all_stores(
    api_client, shop, django_assert_num_queries
):
    for index in range(5):
        store = make_store(f"more-{index}", CENTRAL)
        StoreOpeningHours.objects.create(store=store, weekday=0, opens_at=time(9, 0), closes_at=time(17, 0))
        StorePhoto.objects.create(store=store, image=f"stores/{index}.jpg")

    with django_assert_num_queries(4):  # stores, weekly hours, exceptions, photos
        response = api_client.get(STORES_URL)

    assert len(response.json()) == 6
