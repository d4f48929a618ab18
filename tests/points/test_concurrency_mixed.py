"""PostgreSQL: earn, spend, refund and expiry racing on one member keep the ledger exact; replays change nothing."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from members.models import PointsAllocation, PointsEntry, PointsLot, Purchase
from members.services.ledger import points_credit, points_expire_due_lots, points_ledger_drift
from points.models import EarningRule, PointsPolicy, PurchaseCheckout, PurchaseRefund
from points.services.checkout import purchase_refund
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory, StoreFactory, checkout_sale

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup():
    policy = PointsPolicy.load()
    policy.refund_policy = PointsPolicy.RefundPolicy.RECORD_DEBT
    policy.save()
    EarningRule.objects.create(
        name="HK$100 = 10 points", kind="base_rate", priority=10, amount_per_unit=Decimal(100), points_per_unit=10
    )
    return StoreFactory(code="central"), MemberFactory(), timezone.now()


def checkout(store, member, now, external_id, points=0, gross="100.00"):
    return lambda: checkout_sale(
        store=store, member=member, now=now, external_id=external_id, gross_amount=Decimal(gross),
        points_to_spend=points,
    )  # fmt: skip


def refund(store, external_id, refund_id, amount, now):
    return lambda: purchase_refund(
        store_id=store.pk, channel="pos", purchase_external_id=external_id, refund_external_id=refund_id,
        amount=Decimal(amount), now=now,
    )  # fmt: skip


def test_concurrent_earn_spend_refund_and_expiry_keep_the_ledger_exact(setup):
    store, member, now = setup
    for index in range(6):  # 6 x 100 points, half of them already expired
        points_credit(
            member_id=member.pk, points=100, idempotency_key=f"seed:{index}", now=now - timedelta(days=10),
            expires_at=now - timedelta(days=1) if index % 2 else now + timedelta(days=30),
        )  # fmt: skip
    for index in range(4):  # purchases to refund, each earned 100 points
        checkout(store, member, now, f"old-{index}", gross="1000.00")()
    calls = (
        [checkout(store, member, now, f"earn-{i}") for i in range(8)]
        + [checkout(store, member, now, f"spend-{i}", points=50) for i in range(8)]
        + [refund(store, f"old-{i}", "r1", "1000.00", now) for i in range(4)]
        + [lambda: points_expire_due_lots(now=now, member_ids=[member.pk]) for _ in range(4)]
    )

    results = run_in_threads(calls, workers=24)

    errors = [result for result in results if isinstance(result, Exception)]
    assert all(getattr(error, "code", "") == "insufficient_points" for error in errors), errors
    member.refresh_from_db()
    assert points_ledger_drift(member_ids=[member.pk]) == []
    assert member.points_balance >= 0
    expired = sorted(results[-4:])
    assert expired[:3] == [0, 0, 0]  # one run expires what the spends left of the 3 expired lots; the rest find none
    assert expired[3] <= 3
    expirations = Counter(PointsEntry.objects.filter(kind="expiration").values_list("idempotency_key", flat=True))
    assert set(expirations.values()) <= {1}
    for lot in PointsLot.objects.filter(member=member):
        drawn = PointsAllocation.objects.filter(lot=lot).aggregate(total=Sum("points"))["total"] or 0
        assert drawn + lot.remaining <= lot.points, lot  # a lot is never consumed beyond what it held
    assert PurchaseRefund.objects.count() == 4


def test_every_purchase_and_refund_replayed_three_times_changes_nothing_after_the_first(setup):
    store, member, now = setup
    points_credit(member_id=member.pk, points=500, idempotency_key="seed", now=now)
    purchases = [checkout(store, member, now, f"sale-{i}", points=100 if i % 2 else 0) for i in range(5)]

    first_round = run_in_threads([call for call in purchases for _ in range(3)], workers=15)
    refunds = [refund(store, f"sale-{i}", "r1", "40.00", now) for i in range(5)]
    second_round = run_in_threads([call for call in refunds for _ in range(3)], workers=15)

    assert not [result for result in first_round + second_round if isinstance(result, Exception)]
    assert sum(not result.is_replay for result in first_round) == 5
    assert sum(not result.is_replay for result in second_round) == 5
    assert (Purchase.objects.count(), PurchaseCheckout.objects.count(), PurchaseRefund.objects.count()) == (5, 5, 5)
    member.refresh_from_db()
    # 500 - 2 x 100 spent + 3 x 10 earned + 2 x 9 (HK$99 after HK$1 of points); refunds of 40%: 40 spent points
    # returned x 2, 4 earned points taken back x 5 (40% of 10, and of 9 rounded half up)
    assert (member.points_balance, member.points_debt) == (500 - 200 + 30 + 18 + 80 - 20, 0)
    assert points_ledger_drift(member_ids=[member.pk]) == []
