"""POS member look-up with a per-store API key."""

import time

import pytest
from rest_framework.test import APIClient

from members.formats import card_code_for
from members.models import StoreApiKey
from members.services.tokens import member_token_issue, store_api_key_create
from tests.factories import MemberFactory, StoreFactory, TierFactory

LOOKUP_URL = "/api/v1/pos/members/lookup"

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    tier = TierFactory(code="V2", name="Gold", rank=2)
    return MemberFactory(name="Alice", phone="+85291234567", tier=tier, points_balance=120)


def test_lookup_by_card_code_returns_the_member_summary(pos_client, alice):
    code = card_code_for(alice.member_number, timestamp=time.time())

    response = pos_client.get(LOOKUP_URL, {"card_code": code})

    assert response.status_code == 200
    assert response.json() == {
        "member_number": alice.member_number,
        "name": "Alice",
        "phone_masked": "+852****4567",
        "tier": {"code": "V2", "name": "Gold"},
        "points_balance": 120,
        "points_available": 120,
        "status": "active",
    }


def test_the_code_shown_on_the_member_card_is_found_at_the_till(pos_client, alice, member_client):
    card_code = member_client(alice).get("/api/v1/me/card").json()["card_code"]

    response = pos_client.get(LOOKUP_URL, {"card_code": card_code})

    assert response.json()["member_number"] == alice.member_number


@pytest.mark.parametrize("phone", ["+85291234567", "9123 4567", "+852 9123-4567"])
def test_lookup_by_phone_accepts_common_notations(pos_client, alice, phone):
    response = pos_client.get(LOOKUP_URL, {"phone": phone})

    assert response.status_code == 200
    assert response.json()["member_number"] == alice.member_number


def test_lookup_by_member_number(pos_client, alice):
    response = pos_client.get(LOOKUP_URL, {"member_number": alice.member_number})

    assert response.json()["member_number"] == alice.member_number


def test_a_key_of_any_store_finds_a_member_of_another_store(alice):
    # given members are brand-wide: Alice's home store is not the till's store
    home = StoreFactory(code="home")
    alice.home_store = home
    alice.save()
    till_store = StoreFactory(code="far-away")
    _key, raw = store_api_key_create(store_id=till_store.pk)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    response = client.get(LOOKUP_URL, {"phone": "+85291234567"})

    assert response.status_code == 200
    assert response.json()["member_number"] == alice.member_number


def test_an_expired_card_code_is_invalid_card_code(pos_client, alice):
    # given a code from three minutes ago (one step of skew is accepted, not three)
    code = card_code_for(alice.member_number, timestamp=time.time() - 180)

    response = pos_client.get(LOOKUP_URL, {"card_code": code})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_card_code"
    assert list(error["fields"]) == ["card_code"]


@pytest.mark.parametrize("code", ["123", "abcdefghijklmnopqr", "123456789012345678"])
def test_a_malformed_card_code_is_invalid_card_code(pos_client, alice, code):
    response = pos_client.get(LOOKUP_URL, {"card_code": code})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_card_code"


def test_a_valid_card_code_of_a_deleted_member_is_not_found(pos_client):
    member = MemberFactory()
    code = card_code_for(member.member_number, timestamp=time.time())
    member.delete()

    response = pos_client.get(LOOKUP_URL, {"card_code": code})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "params", [{"phone": "+85298765432"}, {"member_number": "1234567897"}], ids=["phone", "member number"]
)
def test_an_unknown_member_is_not_found(pos_client, alice, params):
    response = pos_client.get(LOOKUP_URL, params)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_invalid_phone_is_invalid_phone(pos_client):
    response = pos_client.get(LOOKUP_URL, {"phone": "12"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_phone"
    assert list(response.json()["error"]["fields"]) == ["phone"]


def test_a_member_number_with_a_wrong_check_digit_is_invalid_input(pos_client):
    response = pos_client.get(LOOKUP_URL, {"member_number": "1234567890"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["member_number"]


@pytest.mark.parametrize("params", [{}, {"phone": "+85291234567", "member_number": "1234567897"}], ids=["none", "two"])
def test_lookup_needs_exactly_one_criterion(pos_client, params):
    response = pos_client.get(LOOKUP_URL, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_lookup_without_a_key_is_401_not_authenticated(api_client):
    response = api_client.get(LOOKUP_URL, {"phone": "+85291234567"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Api-Key")


@pytest.mark.parametrize("scheme", ["Api-Key", "Bearer"])
def test_a_member_token_is_refused_as_a_pos_key(api_client, alice, now, scheme):
    api_client.credentials(HTTP_AUTHORIZATION=f"{scheme} {member_token_issue(member_id=alice.pk, now=now)}")

    response = api_client.get(LOOKUP_URL, {"phone": "+85291234567"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_revoked_key_is_refused(pos_client, pos_key, now, alice):
    StoreApiKey.objects.update(revoked_at=now)

    response = pos_client.get(LOOKUP_URL, {"phone": "+85291234567"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_key_of_an_inactive_store_is_refused(pos_client, pos_key, alice):
    store, _raw = pos_key
    store.is_active = False
    store.save()

    response = pos_client.get(LOOKUP_URL, {"phone": "+85291234567"})

    assert response.status_code == 401


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(api_client, pos_key, alice):
    prefix = pos_key[1].split(".")[0]
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.{'x' * 32}")

    response = api_client.get(LOOKUP_URL, {"phone": "+85291234567"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_lookups_are_throttled_per_key(pos_client, pos_key, alice, settings):
    # given
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"pos_lookup": "2/min"}}
    other_store = StoreFactory(code="other")
    _key, other_raw = store_api_key_create(store_id=other_store.pk)
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_raw}")
    for _ in range(2):
        assert pos_client.get(LOOKUP_URL, {"phone": "+85291234567"}).status_code == 200

    # when
    throttled = pos_client.get(LOOKUP_URL, {"phone": "+85291234567"})
    other = other_client.get(LOOKUP_URL, {"phone": "+85291234567"})

    # then
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert other.status_code == 200
