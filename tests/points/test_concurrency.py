"""Real concurrent checkouts and refunds on PostgreSQL: row locks keep the ledger exact."""

from decimal import Decimal

import pytest
from django.utils import timezone

from members.errors import InsufficientPoints
from members.models import PointsEntry, Purchase
from members.services.ledger import points_credit, points_ledger_drift
from points.models import EarningRule, PointsPolicy, PurchaseCheckout, PurchaseRefund
from points.services.checkout import purchase_refund
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory, StoreFactory, checkout_sale

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup():
    PointsPolicy.load()
    EarningRule.objects.create(
        name="HK$100 = 10 points", kind="base_rate", priority=10, amount_per_unit=Decimal(100), points_per_unit=10
    )
    return StoreFactory(code="central"), MemberFactory(), timezone.now()


def checkout(store, member, now, external_id, points):
    return lambda: checkout_sale(
        store=store, member=member, now=now, external_id=external_id, gross_amount=Decimal("100.00"),
        points_to_spend=points,
    )  # fmt: skip


def test_twenty_concurrent_checkouts_spending_points_never_overdraw(setup):
    store, member, now = setup
    points_credit(member_id=member.pk, points=3000, idempotency_key="seed", now=now)

    # Each sale of HK$100 spends 500 points (HK$5) and earns 9 points on the HK$95 left.
    results = run_in_threads([checkout(store, member, now, f"S-{i}", 500) for i in range(20)], workers=20)

    succeeded = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(succeeded) + len(refused) == 20
    member.refresh_from_db()
    assert member.points_balance == 3000 - 500 * len(succeeded) + 9 * len(succeeded)
    assert len(succeeded) == 6  # 3000 + 9k >= 500(k+1) holds up to k = 5 spends before the 6th: 6 fit
    assert Purchase.objects.count() == PurchaseCheckout.objects.count() == len(succeeded)
    assert PointsEntry.objects.filter(kind="redemption").count() == len(succeeded)
    assert points_ledger_drift() == []


def test_the_same_external_id_from_ten_threads_records_one_purchase(setup):
    store, member, now = setup
    points_credit(member_id=member.pk, points=1000, idempotency_key="seed", now=now)

    results = run_in_threads([checkout(store, member, now, "S-1", 500)] * 10, workers=10)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(r.is_replay for r in results) == [False] + [True] * 9
    assert {r.purchase.pk for r in results} == {Purchase.objects.get().pk}
    member.refresh_from_db()
    assert member.points_balance == 1000 - 500 + 9
    assert points_ledger_drift() == []


def test_the_same_anonymous_sale_from_ten_threads_records_one_purchase(setup):
    store, _member, now = setup
    call = lambda: checkout_sale(  # noqa: E731
        store=store, now=now, external_id="A-1", gross_amount=Decimal(50), payment_method="cash"
    )

    results = run_in_threads([call] * 10, workers=10)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert Purchase.objects.count() == 1


def test_concurrent_partial_refunds_never_exceed_the_purchase(setup):
    store, member, now = setup
    points_credit(member_id=member.pk, points=1000, idempotency_key="seed", now=now)
    checkout(store, member, now, "S-1", 1000)()
    refund = lambda i: lambda: purchase_refund(  # noqa: E731
        store_id=store.pk, channel="pos", purchase_external_id="S-1", refund_external_id=f"R-{i}",
        amount=Decimal("30.00"), now=now,
    )  # fmt: skip

    results = run_in_threads([refund(i) for i in range(10)], workers=10)

    assert len([r for r in results if not isinstance(r, Exception)]) == 3
    assert sum(PurchaseRefund.objects.values_list("amount", flat=True)) == Decimal("90.00")
    assert points_ledger_drift() == []
