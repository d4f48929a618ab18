from decimal import Decimal

import pytest

from members.models import Purchase, PurchaseItem
from points.cart import Cart, CartLine, CheckoutContext
from points.services.checkout import purchase_checkout

pytestmark = pytest.mark.django_db


def test_items_and_purchase_columns(store, member, base_rule, now):
    till = CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now)
    items = (
        CartLine(sku="A'1", name='Ünïcode "x"', category="shoes", unit_price=Decimal("10.50"), quantity=3),
        CartLine(sku="B", unit_price=Decimal("0.99")),
    )
    r = purchase_checkout(
        cart=Cart(external_id="I-1", gross_amount=Decimal("32.49"), payment_method="card", items=items), context=till
    )
    p = Purchase.objects.get(pk=r.purchase.pk)
    assert (p.gross_amount, p.paid_amount, p.status, p.member_id, p.external_id) == (
        Decimal("32.49"),
        Decimal("32.49"),
        "completed",
        member.pk,
        "I-1",
    )
    assert p.created_at is not None
    assert r.purchase.created_at == p.created_at
    got = list(
        PurchaseItem.objects.filter(purchase=p)
        .order_by("pk")
        .values_list("sku", "name", "category", "quantity", "unit_price", "amount")
    )
    assert got == [
        ("A'1", 'Ünïcode "x"', "shoes", 3, Decimal("10.50"), Decimal("31.50")),
        ("B", "", "", 1, Decimal("0.99"), Decimal("0.99")),
    ]
    r2 = purchase_checkout(cart=Cart(external_id="I-2", gross_amount=Decimal("5"), payment_method="card"), context=till)
    assert not PurchaseItem.objects.filter(purchase_id=r2.purchase.pk).exists()
