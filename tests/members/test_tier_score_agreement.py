"""The member's tier page (one member's indicators) and the review (a chunk's, in the ORM or in SQL) agree.

The score is computed per member for the tier-status page, which shows each indicator, and per chunk by the review,
for thousands of members at once (the ORM reference everywhere, one statement on PostgreSQL). Members with varied
histories, at the edges of the window and of the local day, must get the same score from each.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from members import sql
from members.models import PointsEntry, Purchase, TierPolicy
from members.selectors.tiers import member_indicators, tier_review_decisions, tier_score
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 23:30 in Hong Kong: half an hour before the local day ends


@pytest.fixture
def policy():
    policy = TierPolicy.load()
    policy.weight_spend, policy.weight_purchases, policy.weight_points = Decimal(1), Decimal(10), Decimal("0.5")
    policy.weight_active_days, policy.weight_stores = Decimal(20), Decimal(100)
    policy.save()
    return policy


@pytest.fixture
def tiers():
    return [
        TierFactory(code="V1", rank=1),
        TierFactory(code="V2", rank=2, min_score_to_reach=3000, min_score_to_keep=2000),
        TierFactory(code="V3", rank=3, min_score_to_reach=9000, min_score_to_keep=7000),
    ]


def _history(member, rng: random.Random, stores, window: timedelta) -> None:
    """Purchases and accruals inside, outside and on the edges of the window, across local midnights."""
    moments = [
        NOW - window + timedelta(seconds=1),  # just inside the window
        NOW - window,  # on its start: outside (the window is (start, now])
        NOW - window - timedelta(days=1),
        NOW,  # on its end: inside
        NOW - timedelta(minutes=31),  # 22:59 local, the same local day as NOW
        NOW - timedelta(hours=16),  # the previous local day, though the same UTC day
        *(NOW - timedelta(hours=rng.randint(1, 24 * 400)) for _ in range(rng.randint(0, 6))),
    ]
    for moment in rng.sample(moments, k=rng.randint(1, len(moments))):
        gross = Decimal(rng.randint(1, 400_00)) / 100
        stored = min(gross, Decimal(rng.choice([0, 0, 50])))
        PurchaseFactory(
            member=member,
            store=rng.choice(stores),
            purchased_at=moment,
            gross_amount=gross,
            stored_value_amount=stored,
            paid_amount=gross - stored,
            status=rng.choice([Purchase.Status.COMPLETED] * 3 + [Purchase.Status.REFUNDED,
                                                                 Purchase.Status.PARTIALLY_REFUNDED]),
        )  # fmt: skip
        if rng.random() < 0.6:
            PointsEntry.objects.create(
                member=member, kind=rng.choice([PointsEntry.Kind.ACCRUAL] * 3 + [PointsEntry.Kind.ADDITION]),
                delta=rng.randint(1, 500), balance_after=0, idempotency_key=f"t:{member.pk}:{moment.isoformat()}",
                created_at=moment,
            )  # fmt: skip


def _sql_scores(*, policy, tiers, member_ids) -> dict[int, Decimal]:
    if connection.vendor != "postgresql":
        pytest.skip("the review's statement runs on PostgreSQL only")
    cte, params = sql.tier_review_statement(
        policy=policy, tiers=tiers, now=NOW, first_id=min(member_ids), last_id=max(member_ids), member_ids=member_ids
    )
    with connection.cursor() as cursor:
        cursor.execute(f"{cte} SELECT member_id, score FROM decisions", params)
        return dict(cursor.fetchall())


def _orm_scores(*, policy, tiers, member_ids) -> dict[int, Decimal]:
    decisions = tier_review_decisions(
        policy=policy, tiers=tiers, now=NOW, first_id=min(member_ids), last_id=max(member_ids), member_ids=member_ids
    )
    return {decision.member_id: decision.score for decision in decisions}


@pytest.mark.parametrize("review_scores", [_orm_scores, _sql_scores], ids=["orm", "sql"])
def test_the_page_and_the_review_give_every_member_the_same_score(policy, tiers, review_scores):
    rng = random.Random(20261126)
    stores = [StoreFactory(code=f"s{index}") for index in range(4)]
    members = [MemberFactory(tier=rng.choice(tiers)) for _ in range(25)]
    for member in members:
        _history(member, rng, stores, timedelta(days=policy.window_days))

    in_review = review_scores(policy=policy, tiers=tiers, member_ids=[member.pk for member in members])
    on_the_page = {
        member.pk: tier_score(indicators=member_indicators(member_id=member.pk, policy=policy, now=NOW), policy=policy)
        for member in members
    }

    assert in_review == on_the_page
    assert len(set(on_the_page.values())) > 10  # the histories really differ
