"""Coupons at checkout: validated and redeemed through coupons' services in the checkout's transaction."""

from decimal import Decimal

import pytest

from coupons.errors import CouponAlreadyRedeemed, DoesNotStackWithPoints, MinSpendNotMet
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from members.models import Member, PointsEntry, Purchase
from points.cart import Cart, CheckoutContext
from points.models import PurchaseCheckout
from points.services.checkout import purchase_checkout, purchase_preview
from tests.coupons.factories import CouponTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def coupon(member, now):
    template = CouponTemplateFactory(amount=Decimal("20.00"), min_spend=Decimal("100.00"))
    return coupon_template_issue_to_member(template_id=template.pk, member_id=member.pk, source="manual", now=now)


def checkout(store, member, now, **cart):
    """Check out sale-1 of HK$200.00 paid by card; keywords change the cart."""
    return purchase_checkout(
        cart=Cart(**{"external_id": "sale-1", "gross_amount": Decimal("200.00"), "payment_method": "card", **cart}),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now),
    )


def test_the_coupon_discount_becomes_the_purchase_discount(store, member, coupon, base_rule, now):
    result = checkout(store, member, now, coupon_code=coupon.code)

    purchase = Purchase.objects.get(pk=result.purchase.pk)
    assert (purchase.discount_amount, purchase.paid_amount) == (Decimal("20.00"), Decimal("180.00"))
    assert result.checkout.coupon_discount_amount == Decimal("20.00")
    assert result.checkout.points_earned == 18  # HK$180 at 10 points per HK$100
    coupon.refresh_from_db()
    assert (coupon.status, coupon.redeemed_purchase_id, coupon.redeemed_reference) == (
        "redeemed",
        purchase.pk,
        "sale-1",
    )
    assert result.coupon_code == coupon.code


def test_a_coupon_that_does_not_stack_with_points_refuses_a_cart_spending_points(store, member, now, give_points):
    give_points(member, 1000)
    template = CouponTemplateFactory(stacks_with_points=False)
    coupon = coupon_template_issue_to_member(template_id=template.pk, member_id=member.pk, source="manual", now=now)

    with pytest.raises(DoesNotStackWithPoints):
        checkout(store, member, now, coupon_code=coupon.code, points_to_spend=500)

    assert Purchase.objects.count() == 0
    assert Coupon.objects.get(pk=coupon.pk).status == "available"
    assert Member.objects.get(pk=member.pk).points_balance == 1000


def test_a_coupon_that_stacks_with_points_is_used_with_them(store, member, coupon, now, give_points):
    give_points(member, 1000)

    result = checkout(store, member, now, coupon_code=coupon.code, points_to_spend=500)

    purchase = result.purchase
    assert (purchase.discount_amount, purchase.points_value_amount, purchase.paid_amount) == (
        Decimal("20.00"),
        Decimal("5.00"),
        Decimal("175.00"),
    )


def test_a_coupon_error_writes_nothing(store, member, coupon, base_rule, now):
    with pytest.raises(MinSpendNotMet) as raised:
        checkout(store, member, now, coupon_code=coupon.code, gross_amount=Decimal("50.00"))

    assert raised.value.code == "min_spend_not_met"
    assert (Purchase.objects.count(), PointsEntry.objects.count(), PurchaseCheckout.objects.count()) == (0, 0, 0)
    assert Coupon.objects.get(pk=coupon.pk).status == "available"


def test_a_used_coupon_is_refused_on_another_sale(store, member, coupon, now):
    checkout(store, member, now, coupon_code=coupon.code)

    with pytest.raises(CouponAlreadyRedeemed):
        checkout(store, member, now, coupon_code=coupon.code, external_id="sale-2")

    assert Purchase.objects.count() == 1


def test_a_replayed_checkout_with_a_coupon_returns_the_first_answer(store, member, coupon, base_rule, now):
    first = checkout(store, member, now, coupon_code=coupon.code)

    again = checkout(store, member, now, coupon_code=coupon.code)

    assert again.is_replay
    assert again.checkout.pk == first.checkout.pk
    assert (Purchase.objects.count(), PointsEntry.objects.filter(member=member).count()) == (1, 1)


def test_the_preview_shows_the_coupon_discount_without_redeeming(store, member, coupon, base_rule, now):
    pricing = purchase_preview(
        cart=Cart(gross_amount=Decimal("200.00"), coupon_code=coupon.code),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now),
    )

    assert (pricing.coupon_discount_amount, pricing.earning.total) == (Decimal("20.00"), 18)
    assert pricing.coupon_label
    assert Coupon.objects.get(pk=coupon.pk).status == "available"


def test_the_pos_api_redeems_a_coupon_and_refuses_a_bad_one(store, member, coupon, base_rule, pos_client_for):
    client = pos_client_for(store)
    body = {"external_id": "t-1", "payment_method": "card", "gross_amount": "200.00",
            "member_number": member.member_number, "coupon_code": coupon.code}  # fmt: skip

    ok = client.post("/api/v1/pos/purchases", body, format="json")
    refused = client.post("/api/v1/pos/purchases", {**body, "external_id": "t-2"}, format="json")

    assert ok.status_code == 201
    assert (ok.json()["discount_amount"], ok.json()["coupon_discount_amount"]) == ("20.00", "20.00")
    assert ok.json()["coupon_code"] == coupon.code
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "coupon_already_redeemed"
    assert Purchase.objects.count() == 1


def test_the_pos_preview_shows_the_coupon_discount(store, member, coupon, base_rule, pos_client_for):
    response = pos_client_for(store).post(
        "/api/v1/pos/purchases/preview",
        {"gross_amount": "200.00", "member_number": member.member_number, "coupon_code": coupon.code},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["coupon_discount_amount"], response.json()["points_earned"]) == ("20.00", 18)
