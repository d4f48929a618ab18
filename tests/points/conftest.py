from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from members.services.ledger import points_credit
from members.services.tokens import member_token_issue, store_api_key_create
from points.models import EarningRule, PointsPolicy
from tests.factories import MemberFactory, StoreFactory


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def policy(db):
    return PointsPolicy.load()


@pytest.fixture
def store(db):
    return StoreFactory(code="central")


@pytest.fixture
def member(db):
    return MemberFactory()


@pytest.fixture
def base_rule(db):
    """HK$100 = 10 points, everywhere."""
    return EarningRule.objects.create(
        name="HK$100 = 10 points",
        kind=EarningRule.Kind.BASE_RATE,
        priority=10,
        amount_per_unit=Decimal(100),
        points_per_unit=10,
    )


@pytest.fixture
def give_points(now):
    def give(member, points, key="seed"):
        return points_credit(member_id=member.pk, points=points, idempotency_key=f"{key}:{member.pk}", now=now)

    return give


@pytest.fixture
def pos_client_for():
    """Return an API client with a fresh POS key of the given store."""

    def make(store):
        _key, raw = store_api_key_create(store_id=store.pk, name="till")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        return client

    return make


@pytest.fixture
def member_client(now):
    def make(member):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_token_issue(member_id=member.pk, now=now)}")
        return client

    return make


@pytest.fixture
def api_client():
    return APIClient()
