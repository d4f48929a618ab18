from decimal import Decimal

import pytest

from members.services.ledger import points_credit
from points.models import EarningRule, PointsPolicy
from tests.factories import MemberFactory, StoreFactory


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
