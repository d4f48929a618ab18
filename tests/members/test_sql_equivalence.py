"""On PostgreSQL, each statement of members/sql.py writes exactly the rows of its ORM reference."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members import sql
from members.models import Member, Purchase, PurchaseItem
from members.services import purchases
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ITEMS = [
    {"sku": "SHOE-1", "name": "Runner", "category": "shoes", "quantity": 2, "unit_price": "120.50"},
    {"sku": "SOCK-9", "category": "socks", "unit_price": "19.00"},
]


def written(member, external_id):
    purchase = Purchase.objects.get(external_id=external_id)
    own = ("_state", "id", "external_id", "member_id", "created_at")  # what differs between two sales by design
    row = {name: value for name, value in vars(purchase).items() if name not in own}
    items = list(
        PurchaseItem.objects.filter(purchase=purchase)
        .order_by("pk")
        .values("sku", "name", "category", "quantity", "unit_price", "amount")
    )
    member = Member.objects.get(pk=member.pk)
    stats = (member.purchase_count, member.total_spend, member.first_purchase_at, member.last_purchase_at)
    return row, items, stats


@pytest.mark.parametrize("items", [ITEMS, []], ids=["with items", "without items"])
@pytest.mark.parametrize("history", [False, True], ids=["first purchase", "earlier purchases"])
def test_the_purchase_statement_writes_the_rows_of_the_orm(monkeypatch, items, history):
    # given two members alike and the same sale for each, one written by the ORM and one by the statement
    store, now = StoreFactory(), timezone.now()
    reference, fast = MemberFactory(), MemberFactory()
    if history:
        for member in (reference, fast):
            Member.objects.filter(pk=member.pk).update(
                purchase_count=3, total_spend=Decimal("500.00"), first_purchase_at=now - timedelta(days=90),
                last_purchase_at=now + timedelta(days=1),
            )  # fmt: skip
    sale = {
        "store_id": store.pk, "channel": "pos", "purchased_at": now, "gross_amount": Decimal("300.00"),
        "discount_amount": Decimal("20.00"), "points_value_amount": Decimal("5.00"), "payment_method": "card",
        "items": items,
    }  # fmt: skip

    # when
    monkeypatch.setattr(purchases.sql, "purchase_insert", purchases._write)
    purchases.purchase_record(member_id=reference.pk, external_id="R-1", **sale)
    monkeypatch.setattr(purchases.sql, "purchase_insert", sql.purchase_insert)
    purchases.purchase_record(member_id=fast.pk, external_id="F-1", **sale)

    # then
    assert written(fast, "F-1") == written(reference, "R-1")
