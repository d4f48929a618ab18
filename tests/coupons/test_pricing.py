"""What each kind of coupon takes off: pure functions, rounded half up to cents, never above the cart."""

from decimal import Decimal

import pytest

from coupons.models import CouponTemplate
from coupons.pricing import discount_for

D = Decimal


def template(kind, **terms):
    return CouponTemplate(kind=kind, **{"min_spend": D("0"), **terms})


@pytest.mark.parametrize(
    ("terms", "cart", "expected"),
    [
        ({"kind": "amount_off", "amount": D("20")}, D("100"), D("20.00")),
        ({"kind": "amount_off", "amount": D("20")}, D("15.50"), D("15.50")),
        ({"kind": "spend_x_save_y", "amount": D("50"), "min_spend": D("300")}, D("300"), D("50.00")),
        ({"kind": "spend_x_save_y", "amount": D("50"), "min_spend": D("300")}, D("299.99"), D("0.00")),
        ({"kind": "percent_off", "percent": D("15")}, D("99.90"), D("14.99")),  # 14.985 rounds half up
        ({"kind": "percent_off", "percent": D("12.5")}, D("10.02"), D("1.25")),  # 1.2525
        ({"kind": "percent_off", "percent": D("10"), "max_discount": D("30")}, D("500"), D("30.00")),
        ({"kind": "percent_off", "percent": D("10"), "max_discount": D("30")}, D("200"), D("20.00")),
        ({"kind": "percent_off", "percent": D("100")}, D("88.88"), D("88.88")),
        ({"kind": "gift_item", "gift_description": "Tote bag"}, D("100"), D("0.00")),
        ({"kind": "free_shipping"}, D("100"), D("0.00")),
    ],
)
def test_discount_per_kind(terms, cart, expected):
    assert discount_for(template(**terms), cart).amount == expected


@pytest.mark.parametrize(
    ("terms", "label"),
    [
        ({"kind": "amount_off", "amount": D("20")}, "20.00 off"),
        ({"kind": "spend_x_save_y", "amount": D("50"), "min_spend": D("300")}, "50.00 off when you spend 300.00"),
        ({"kind": "percent_off", "percent": D("15")}, "15% off"),
        ({"kind": "percent_off", "percent": D("12.50"), "max_discount": D("30")}, "12.5% off, up to 30.00"),
        ({"kind": "gift_item", "gift_description": "Tote bag"}, "Free gift: Tote bag"),
        ({"kind": "free_shipping"}, "Free shipping"),
    ],
)
def test_each_kind_has_a_label(terms, label):
    assert discount_for(template(**terms), D("100")).label == label


def test_a_negative_cart_gives_no_discount():
    assert discount_for(template(kind="amount_off", amount=D("20")), D("-5")).amount == D("0.00")
