"""On PostgreSQL: a tier review running while purchases arrive never loses an instant upgrade."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Member, TierHistory
from members.services.tiers import tier_evaluation_chunks
from members.tasks import tier_evaluate_chunk_task
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TierFactory, checkout_sale
from tests.members.test_ledger_concurrency import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_reviews_running_while_purchases_arrive_never_lose_an_upgrade():
    # given 40 Silver members each HK$100 short of Gold
    now = timezone.now()
    silver = TierFactory(code="V1", name="Silver", rank=1)
    gold = TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800)
    TierFactory(code="V3", name="Diamond", rank=3, min_score_to_reach=5000, min_score_to_keep=4000)
    store = StoreFactory(code="central")
    members = [MemberFactory(tier=silver) for _ in range(40)]
    for member in members:
        PurchaseFactory(
            member=member, store=store, gross_amount=Decimal("900.00"), purchased_at=now - timedelta(days=5)
        )
    purchases = [
        lambda member=member: checkout_sale(
            store=store, member=member, now=now, external_id=f"live-{member.pk}", gross_amount=Decimal("100.00")
        )
        for member in members
    ]  # fmt: skip

    def review(at):  # the scheduled review's chunk tasks, in small chunks of 3 ids
        for first_id, last_id in tier_evaluation_chunks(chunk_size=3):
            tier_evaluate_chunk_task(first_id=first_id, last_id=last_id, now=at.isoformat())

    reviews = [lambda i=i: review(now + timedelta(seconds=i)) for i in range(6)]

    # when purchases and reviews (in small chunks, so many transactions interleave) run at once
    calls = purchases[:20] + reviews[:3] + purchases[20:] + reviews[3:]
    results = run_in_threads(calls, workers=16)

    # then every member reached Gold once, whoever moved them
    assert [r for r in results if isinstance(r, Exception)] == []
    assert set(Member.objects.filter(pk__in=[m.pk for m in members]).values_list("tier__code", flat=True)) == {"V2"}
    moves = list(TierHistory.objects.values_list("member_id", "old_tier_id", "new_tier_id"))
    assert sorted(moves) == sorted((m.pk, silver.pk, gold.pk) for m in members)
    assert Member.objects.filter(tier_below_keep_since__isnull=False).count() == 0
