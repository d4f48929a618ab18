"""Real concurrent purchases on PostgreSQL: one payment id buys exactly one subscription."""

from decimal import Decimal

import pytest
from django.utils import timezone

from members.errors import PaymentAlreadyUsed
from members.models import MemberPlanSubscription, TierHistory
from members.services.plans import PlanPurchaseResult, plan_purchase
from tests.factories import MemberFactory, MembershipPlanFactory, TierFactory
from tests.members.test_ledger_concurrency import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def plan():
    silver = TierFactory(code="V1", rank=1)
    gold = TierFactory(code="V2", rank=2, min_score_to_reach=1000, min_score_to_keep=800)
    return silver, MembershipPlanFactory(tier=gold, price=Decimal("388.00"))


def test_ten_threads_replaying_one_payment_for_one_member_create_one_subscription(plan):
    # given a Silver member
    silver, gold_plan = plan
    member = MemberFactory(tier=silver)
    now = timezone.now()

    # when 10 threads record the same payment at once
    results = run_in_threads(
        [
            lambda: plan_purchase(member_id=member.pk, plan_id=gold_plan.pk, provider="payme", transaction_id="pm-1",
                                  now=now)
            for _ in range(10)
        ],
        workers=10,
    )  # fmt: skip

    # then one subscription, one tier move; nine threads got the first subscription back
    assert [type(r) for r in results] == [PlanPurchaseResult] * 10
    assert sorted(r.is_replay for r in results) == [False] + [True] * 9
    assert {r.subscription.pk for r in results} == {MemberPlanSubscription.objects.get().pk}
    assert TierHistory.objects.filter(member=member, reason="grant").count() == 1


def test_ten_members_racing_for_one_payment_id_get_one_subscription(plan):
    silver, gold_plan = plan
    members = [MemberFactory(tier=silver) for _ in range(10)]
    now = timezone.now()

    results = run_in_threads(
        [
            lambda m=m: plan_purchase(member_id=m.pk, plan_id=gold_plan.pk, provider="payme", transaction_id="pm-1",
                                      now=now)
            for m in members
        ],
        workers=10,
    )  # fmt: skip

    unexpected = [r for r in results if not isinstance(r, PlanPurchaseResult | PaymentAlreadyUsed)]
    assert unexpected == []
    assert sum(isinstance(r, PlanPurchaseResult) for r in results) == 1
    assert sum(isinstance(r, PaymentAlreadyUsed) for r in results) == 9
    assert MemberPlanSubscription.objects.count() == 1
    assert TierHistory.objects.count() == 1
