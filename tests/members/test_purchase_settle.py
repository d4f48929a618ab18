"""points_purchase_settle writes the same ledger as points_debit then points_credit (PostgreSQL statement and ORM)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from members.models import Member, PointsAllocation, PointsEntry, PointsLot
from members.services.ledger import (
    PurchaseEarn,
    PurchaseSpend,
    points_credit,
    points_debit,
    points_ledger_drift,
    points_purchase_settle,
)
from members.services.locks import lock_member
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory

pytestmark = pytest.mark.django_db


def seed(member, now, *, lots, debt):
    for index, (points, days) in enumerate(lots):
        points_credit(member_id=member.pk, points=points, idempotency_key=f"seed:{member.pk}:{index}", now=now,
                      expires_at=now + timedelta(days=days) if days is not None else None)  # fmt: skip
    if debt:
        balance = Member.objects.get(pk=member.pk).points_balance
        points_debit(member_id=member.pk, points=balance + debt, idempotency_key=f"debt:{member.pk}", now=now,
                     allow_debt=True, kind="refund")  # fmt: skip


def ledger(member):
    m = Member.objects.get(pk=member.pk)
    entries = list(
        PointsEntry.objects.filter(member=member).order_by("pk").values_list("kind", "delta", "balance_after",
                                                                              "debt_after", "source", "breakdown")
    )  # fmt: skip
    lots = list(PointsLot.objects.filter(member=member).order_by("pk").values_list(
        "points", "remaining", "is_active", "activates_at", "expires_at"))  # fmt: skip
    allocations = list(PointsAllocation.objects.filter(entry__member=member).order_by("pk").values_list(
        "entry__kind", "lot__points", "points"))  # fmt: skip
    stats = (m.points_balance, m.points_debt, m.points_pending, m.purchase_count, m.total_spend,
             m.first_purchase_at, m.last_purchase_at)  # fmt: skip
    return stats, entries, lots, allocations


CASES = {
    "spend from one lot, earn": ([(500, 30)], 0, 100, 40, 0),
    "spend across three lots by expiry": ([(50, 90), (30, 10), (40, None), (70, 20)], 0, 110, 12, 0),
    "spend everything": ([(50, 90), (30, 10)], 0, 80, 5, 0),
    "earn repays part of a debt": ([], 30, 0, 20, 0),
    "earn repays all of a debt and keeps the rest": ([], 30, 0, 50, 0),
    "pending earn with a debt": ([], 30, 0, 50, 3),
    "spend and pending earn": ([(100, 5)], 0, 60, 25, 2),
    "nothing spent nor earned": ([(100, 5)], 0, 0, 0, 0),
    "earn only": ([], 0, 0, 77, 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_settle_equals_debit_then_credit(case, now):
    lots, debt, spend, earn, pending_days = CASES[case]
    store = StoreFactory()
    old, new = MemberFactory(), MemberFactory()
    for member in (old, new):
        seed(member, now, lots=lots, debt=debt)
    activates_at = now + timedelta(days=pending_days) if pending_days else None
    expires_at = now + timedelta(days=365)
    purchased_at = now - timedelta(hours=1)
    for member in (old, new):
        PurchaseFactory(member=member, store=store, external_id=f"p-{member.pk}", purchased_at=purchased_at,
                        gross_amount=Decimal("100.00"), paid_amount=Decimal("100.00"))  # fmt: skip
    # the reference: debit, then credit
    purchase = old.purchases.get()
    if spend:
        points_debit(member_id=old.pk, points=spend, idempotency_key=f"purchase:{purchase.pk}:spend", now=now,
                     purchase_id=purchase.pk, source="checkout", breakdown={"v": "1"})  # fmt: skip
    if earn:
        points_credit(member_id=old.pk, points=earn, idempotency_key=f"purchase:{purchase.pk}:earn", now=now,
                      activates_at=activates_at, expires_at=expires_at, purchase_id=purchase.pk, source="purchase",
                      breakdown={"total": earn})  # fmt: skip
    # the checkout's one statement (PostgreSQL) or few (elsewhere)
    purchase = new.purchases.get()
    written = points_purchase_settle(
        member=lock_member(member_id=new.pk), purchase=purchase, now=now,
        spend=PurchaseSpend(points=spend, key=f"purchase:{purchase.pk}:spend", breakdown={"v": "1"}),
        earn=PurchaseEarn(points=earn, key=f"purchase:{purchase.pk}:earn", activates_at=activates_at,
                          expires_at=expires_at, breakdown={"total": earn}),
    )  # fmt: skip

    assert ledger(new) == ledger(old)
    assert points_ledger_drift(member_ids=[old.pk, new.pk]) == []
    if earn:
        assert PointsLot.objects.get(pk=written.earn_lot.pk).entry_id == written.earn_entry.pk
        assert PointsEntry.objects.get(pk=written.earn_entry.pk).idempotency_key.endswith(":earn")
    if spend:
        assert PointsEntry.objects.get(pk=written.spend_entry.pk).delta == -spend
    member = Member.objects.get(pk=new.pk)
    assert (written.points_balance, written.points_debt) == (member.points_balance, member.points_debt)


def test_settle_refuses_more_than_the_balance_and_writes_nothing(now):
    from members.errors import InsufficientPoints

    member = MemberFactory()
    seed(member, now, lots=[(50, 10)], debt=0)
    purchase = PurchaseFactory(member=member, store=StoreFactory(), external_id="x")
    with pytest.raises(InsufficientPoints):
        points_purchase_settle(member=lock_member(member_id=member.pk), purchase=purchase, now=now,
                               spend=PurchaseSpend(points=51, key="k"))  # fmt: skip

    assert PointsEntry.objects.filter(member=member).count() == 1
