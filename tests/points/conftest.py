from decimal import Decimal

import pytest
from django.utils import timezone

from members.services.ledger import points_credit
from points.cart import Cart
from points.models import EarningRule, PointsPolicy
from points.services.checkout_orders import checkout_order_create
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


# -- checkout orders (the mini program's checkout: points/services/checkout_orders.py) ---------------------------
BUYER_OPENID = "o-buyer"


@pytest.fixture
def online_store(policy):
    """The mini program's store: the policy's `mini_program_store`, where checkout orders sell."""
    store = StoreFactory(code="mini-shop", name="Mini program shop")
    PointsPolicy.objects.filter(pk=policy.pk).update(mini_program_store=store)
    return store


@pytest.fixture
def buyer(db, give_points):
    """A mini-program member (WeChat openid BUYER_OPENID) with 500 points."""
    member = MemberFactory(wechat_openid=BUYER_OPENID)
    give_points(member, 500)
    return member


@pytest.fixture
def checkout_order(online_store, buyer):
    """Make the buyer's checkout order of HK$1,000 spending 500 points, held until it is paid."""

    def create(*, idempotency_key="k"):
        cart = Cart(gross_amount=Decimal("1000.00"), points_to_spend=500)
        return checkout_order_create(
            member_id=buyer.pk, idempotency_key=idempotency_key, cart=cart, now=timezone.now()
        ).order

    return create
