"""The purchase's instant tier review runs after everything the purchase writes, so every indicator of the tier
score (spend, purchases, points earned, active days, stores) moves a member up at the till at once."""

from decimal import Decimal

import pytest

from members.models import Member, TierHistory, TierPolicy
from points.cart import Cart, CheckoutContext
from points.services.checkout import purchase_checkout
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db

ALL_WEIGHTS_OFF = {f"weight_{name}": Decimal(0) for name in TierPolicy.INDICATORS}


@pytest.fixture
def silver_and_gold():
    return TierFactory(code="V1", name="Silver", rank=1), TierFactory(
        code="V2", name="Gold", rank=2, min_score_to_reach=Decimal(50), min_score_to_keep=Decimal(40)
    )


def weigh_only(indicator: str, weight: Decimal) -> None:
    TierPolicy.load()
    TierPolicy.objects.filter(pk=1).update(**{**ALL_WEIGHTS_OFF, f"weight_{indicator}": weight})


@pytest.mark.parametrize(
    ("indicator", "weight"),
    [
        ("spend", Decimal("0.1")),  # HK$1,000 x 0.1 = 100
        ("purchases", Decimal(100)),  # 1 purchase
        ("points", Decimal(1)),  # 100 points earned by this very purchase
        ("active_days", Decimal(100)),  # 1 day
        ("stores", Decimal(100)),  # 1 store
    ],
)
def test_a_purchase_moves_the_member_up_at_once_whatever_the_indicator(
    silver_and_gold, indicator, weight, store, base_rule, now
):
    # given a Silver member with no history, Gold at a score of 50, and a policy weighing one indicator
    silver, gold = silver_and_gold
    member = MemberFactory(tier=silver)
    weigh_only(indicator, weight)

    # when a HK$1,000 purchase (earning 100 points) is checked out
    result = purchase_checkout(
        cart=Cart(external_id="T-1", gross_amount=Decimal("1000.00"), payment_method="card"),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now),
    )

    # then the member is Gold at once, with the purchase's history entry
    assert result.checkout.points_earned == 100
    assert Member.objects.get(pk=member.pk).tier == gold
    history = TierHistory.objects.get(member=member)
    assert (history.old_tier, history.new_tier, history.reason, history.score) == (
        silver,
        gold,
        "purchase_upgrade",
        Decimal("100.00"),
    )


def test_points_earned_by_the_purchase_count_through_the_till_api(
    silver_and_gold, store, base_rule, now, pos_client_for
):
    # given a points-weighted policy (Gold needs 50 points; the purchase earns 100)
    silver, gold = silver_and_gold
    member = MemberFactory(tier=silver)
    weigh_only("points", Decimal(1))

    # when the till posts the purchase
    response = pos_client_for(store).post(
        "/api/v1/pos/purchases",
        {
            "external_id": "T-2",
            "gross_amount": "1000.00",
            "payment_method": "card",
            "member_number": member.member_number,
        },
        format="json",
    )

    # then the answer and the member agree: Gold, not at the next scheduled review
    assert response.status_code == 201, response.content
    assert Member.objects.get(pk=member.pk).tier == gold
