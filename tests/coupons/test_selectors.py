"""What a member may claim, and which of their coupons fit a cart (with the reason when not, and the best)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from coupons.models import CouponTemplate
from coupons.rules import Cart, CartItem
from coupons.selectors import coupon_templates_claimable, coupons_for_cart
from coupons.services import coupon_claim, coupon_redeem, coupon_reserve, coupons_void
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def store():
    return StoreFactory(code="central")


@pytest.fixture
def member():
    return MemberFactory()


def options_by_name(result):
    return {
        option.coupon.template.name: (option.is_applicable, option.discount_amount, option.reason)
        for option in result.options
    }


def test_every_reason_a_coupon_does_not_fit_is_reported(issue, member, store, now):
    # given one coupon per reason, and one that fits
    issue(CouponTemplateFactory(name="fits", amount=D("10")), member)
    issue(CouponTemplateFactory(name="expired", valid_days=1), member, at=now - timedelta(days=2))
    issue(
        CouponTemplateFactory(
            name="not yet", valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=3), valid_days=None
        ),
        member,
    )
    reserved = issue(CouponTemplateFactory(name="reserved"), member)
    coupon_reserve(
        member_id=member.pk,
        coupon_id=reserved.pk,
        cart=Cart(amount=D(100), channel="pos", store_id=store.pk, reference="other-till"),
        now=now,
    )
    issue(CouponTemplateFactory(name="online only", channels=["online"]), member)
    issue(CouponTemplateFactory(name="other store", stores=[StoreFactory(code="tst")]), member)
    issue(CouponTemplateFactory(name="no points", stacks_with_points=False), member)
    issue(CouponTemplateFactory(name="shoes", categories=["shoes"]), member)
    issue(CouponTemplateFactory(name="big spend", kind="spend_x_save_y", amount=D(50), min_spend=D(300)), member)
    cart = Cart(
        amount=D("120.00"),
        channel="pos",
        store_id=store.pk,
        items=(CartItem(sku="B1", category="bags", amount=D("120.00")),),
        uses_points=True,
    )

    result = coupons_for_cart(member_id=member.pk, cart=cart, now=now)

    assert options_by_name(result) == {
        "fits": (True, D("10.00"), None),
        "expired": (False, D("0.00"), "coupon_expired"),
        "not yet": (False, D("0.00"), "coupon_not_yet_valid"),
        "reserved": (False, D("0.00"), "coupon_reserved"),
        "online only": (False, D("0.00"), "wrong_channel"),
        "other store": (False, D("0.00"), "wrong_store"),
        "no points": (False, D("0.00"), "does_not_stack_with_points"),
        "shoes": (False, D("0.00"), "category_not_in_cart"),
        "big spend": (False, D("0.00"), "min_spend_not_met"),
    }
    assert result.best.coupon.template.name == "fits"


def test_used_and_void_coupons_are_not_offered_for_a_cart(issue, member, store, now):
    template = CouponTemplateFactory(per_member_limit=None)
    used, void = issue(template, member), issue(template, member)
    cart = Cart(amount=D(100), channel="pos", store_id=store.pk)
    coupon_redeem(member_id=member.pk, coupon_id=used.pk, cart=cart, now=now)
    coupons_void(coupon_ids=[void.pk], now=now)

    assert coupons_for_cart(member_id=member.pk, cart=cart, now=now).options == []


def test_the_best_coupon_saves_the_most_and_on_a_tie_ends_first(issue, member, store, now):
    issue(CouponTemplateFactory(name="20 late", amount=D(20), valid_days=30), member)
    issue(CouponTemplateFactory(name="20 soon", amount=D(20), valid_days=3), member)
    issue(CouponTemplateFactory(name="10%", kind="percent_off", amount=None, percent=D(10)), member)

    result = coupons_for_cart(member_id=member.pk, cart=Cart(amount=D(150), channel="pos", store_id=store.pk), now=now)

    assert result.best.coupon.template.name == "20 soon"


def test_without_an_applicable_coupon_there_is_no_best(issue, member, store, now):
    issue(CouponTemplateFactory(channels=["online"]), member)

    result = coupons_for_cart(member_id=member.pk, cart=Cart(amount=D(150), channel="pos", store_id=store.pk), now=now)

    assert result.best is None


def test_another_members_coupons_are_never_listed(issue, member, store, now):
    issue(CouponTemplateFactory(), MemberFactory())

    assert coupons_for_cart(member_id=member.pk, cart=Cart(amount=D(1), channel="pos"), now=now).options == []


def test_checking_a_cart_costs_a_fixed_number_of_queries(issue, member, store, now, django_assert_num_queries):
    for _ in range(5):
        issue(CouponTemplateFactory(stores=[store]), member)

    with django_assert_num_queries(2):
        result = coupons_for_cart(member_id=member.pk, cart=Cart(amount=D(1), channel="pos"), now=now)

    assert len(result.options) == 5


def test_claimable_lists_open_offers_for_the_member_under_their_limit(member, now):
    gold = TierFactory(code="gold", rank=5)
    open_offer = CouponTemplateFactory(name="open", quota=10)
    CouponTemplateFactory(name="held", per_member_limit=1)
    coupon_claim(member_id=member.pk, template_id=CouponTemplate.objects.get(name="held").pk, now=now)
    CouponTemplateFactory(name="gold only", tiers=[gold])
    CouponTemplateFactory(name="closed", claim_ends_at=now)
    CouponTemplateFactory(name="later", claim_starts_at=now + timedelta(hours=1))
    CouponTemplateFactory(name="inactive", is_active=False)
    CouponTemplateFactory(name="staff only", is_claimable=False)
    sold_out = CouponTemplateFactory(name="sold out", quota=1)
    coupon_claim(member_id=MemberFactory().pk, template_id=sold_out.pk, now=now)

    claimable = coupon_templates_claimable(member=member, now=now)

    assert [(item.template.name, item.remaining, item.claimed_count) for item in claimable] == [("open", 10, 0)]
    assert claimable[0].template.pk == open_offer.pk
